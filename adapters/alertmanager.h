/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file alertmanager.h
 * @brief Adapter: Alertmanager webhook payload (version 4) → common alert records.
 */
#ifndef IHA_ALERTMANAGER_H
#define IHA_ALERTMANAGER_H

#include <jansson.h>
#include <stddef.h>

#include "rc.h"
#include "record.h"

/** Upper bound on alerts per request (Alertmanager's max_alerts is usually far lower). */
#define IHA_ALERTMANAGER_MAX_ALERTS 1000

/**
 * Parses a webhook body. Each alert keeps its own status (a "firing" group may carry
 * resolved alerts). Unknown fields are ignored; `version` must be "4" and `alerts` a
 * list; a raw Prometheus alert array (no `version`) is refused with a message saying the
 * gateway expects Alertmanager's webhook.
 * @param[out] alerts array of @p *n records (owned; free with iha_alertmanager_free())
 * @return IHA_OK; IHA_E_INVAL with @p err naming the field ("alerts[2].status");
 *         IHA_E_LIMIT past IHA_ALERTMANAGER_MAX_ALERTS or label bounds; IHA_E_NOMEM.
 */
enum iha_rc iha_alertmanager_parse(const json_t *body, struct iha_alert **alerts, size_t *n,
                                   struct iha_err *err) IHA_MUST_CHECK;

/** Frees what iha_alertmanager_parse() returned. NULL-safe. */
void iha_alertmanager_free(struct iha_alert *alerts, size_t n);

#endif
