/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file nagios.h
 * @brief Adapter: a Nagios / Icinga 2 / Naemon / Checkmk notification record (as POSTed
 *        by iha-notify to /api/v1/nagios) → common alert records.
 *
 * The record is a JSON object of strings (form-encoded bodies are turned into the same
 * object by the HTTP layer). It becomes one alert whose labels are the normalised macros:
 * hostname, host_state, state_type, notification_type, what (HOST/SERVICE, derived from
 * service_desc when absent), service_desc, service_state, host_address, output, attempt,
 * problem_id, record_id (also the alert's fingerprint), dialect (nagios, icinga2, naemon,
 * checkmk; default nagios), any other lowercase key as is, and custom variables:
 * `_HOSTMASAKARI_SEGMENT` → host_masakari_segment, `_SERVICEX` → service_x,
 * `_CONTACTX` → contact_x, other `_X` → var_x. Icinga 2's and Checkmk's vocabulary is
 * mapped to Nagios' (FLAPPINGEND → FLAPPINGSTOP, DOWNTIMEREMOVED → DOWNTIMECANCELLED,
 * Up/Down → UP/DOWN, Soft/Hard and 0/1 → SOFT/HARD, UNREACH → UNREACHABLE, CRIT → CRITICAL,
 * numeric state ids → names). A firing alert is any notification type but RECOVERY, which
 * is resolved. Other keys (uppercase, punctuation) are refused, naming the key.
 */
#ifndef IHA_NAGIOS_H
#define IHA_NAGIOS_H

#include <jansson.h>
#include <stddef.h>

#include "rc.h"
#include "alert.h"

/**
 * Parses one record.
 * @param[out] alerts array of @p *n records (owned; free with iha_nagios_free())
 * @return IHA_OK; IHA_E_INVAL with @p err naming the field; IHA_E_LIMIT; IHA_E_NOMEM.
 */
enum iha_rc iha_nagios_parse(const json_t *body, struct iha_alert **alerts, size_t *n,
                             struct iha_err *err) IHA_MUST_CHECK;

/** Frees what iha_nagios_parse() returned. NULL-safe. */
void iha_nagios_free(struct iha_alert *alerts, size_t n);

#endif
