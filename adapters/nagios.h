/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file nagios.h
 * @brief Adapter: a Nagios / Icinga 2 / Naemon / Checkmk notification record (as POSTed
 *        by iha-notify to /api/v1/nagios) → common alert records.
 *
 * The record is a JSON object of strings (form-encoded bodies are turned into the same
 * object by the HTTP layer). It becomes one alert whose labels are the normalised macros:
 * hostname, host_state, state_type, notification_type, service_desc, service_state,
 * host_address, output, plus custom variables; Icinga 2's vocabulary is mapped to
 * Nagios' (FLAPPINGEND → FLAPPINGSTOP, Up/Down → UP/DOWN). A firing alert is any
 * notification type but RECOVERY, which is resolved.
 */
#ifndef IHA_NAGIOS_H
#define IHA_NAGIOS_H

#include <jansson.h>
#include <stddef.h>

#include "rc.h"
#include "record.h"

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
