/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file alertmanager.h
 * @brief Adapter: Alertmanager webhook payload (version 4) → common alert records.
 *
 * A webhook carries one Alertmanager group. Alertmanager never retries a 4xx, so only a
 * body that is not a webhook at all fails as a whole (iha_alertmanager_open()); each
 * alert is then read on its own (iha_alertmanager_read()), and one that cannot be read
 * (malformed, a label over IHA_ALERT_MAX_VALUE bytes, more than IHA_ALERT_MAX_LABELS
 * labels) is dropped alone while the rest of its group is mapped. There is no bound on
 * the number of alerts besides the request body limit: alerts are read one at a time
 * into one record, so memory does not grow with the group.
 */
#ifndef IHA_ALERTMANAGER_H
#define IHA_ALERTMANAGER_H

#include <jansson.h>
#include <stddef.h>

#include "rc.h"
#include "alert.h"

/**
 * Checks the envelope of a webhook body: an object with `version` "4" and an `alerts`
 * list. Unknown fields are ignored; a raw Prometheus alert array (no `version`) is
 * refused with a message saying the gateway expects Alertmanager's webhook. The alerts
 * themselves are not looked at.
 * @param[out] n the number of alerts in the list
 * @param[out] truncated Alertmanager's `truncatedAlerts` (alerts it left out because of
 *             `max_alerts`), 0 when absent; may be NULL
 * @return IHA_OK; IHA_E_INVAL with @p err naming the field ("version", "alerts"): the
 *         whole body is refused.
 */
enum iha_rc iha_alertmanager_open(const json_t *body, size_t *n, size_t *truncated,
                                  struct iha_err *err) IHA_MUST_CHECK;

/**
 * Reads alert @p i (< the count from iha_alertmanager_open()) into @p a. The alert keeps
 * its own status (a "firing" group may carry resolved alerts). An oversized annotation
 * is cut at IHA_ALERT_MAX_VALUE bytes (or skipped past IHA_ALERT_MAX_LABELS); labels
 * choose the host of an evacuation and are never altered.
 * @param[out] a initialised here; clear it with iha_alert_clear() whatever the result.
 *             On IHA_E_INVAL / IHA_E_LIMIT it still carries what could be read (the
 *             `alertname` label when usable, `fingerprint`), for the drop's report.
 * @return IHA_OK; IHA_E_INVAL (the alert is malformed: not an object, bad `status`,
 *         missing `labels`, a non-string value) or IHA_E_LIMIT (a label over
 *         IHA_ALERT_MAX_VALUE bytes, more than IHA_ALERT_MAX_LABELS labels), both with
 *         @p err naming the field ("alerts[2].labels.runbook"): drop this alert and go on
 *         with the next; IHA_E_NOMEM.
 */
enum iha_rc iha_alertmanager_read(const json_t *body, size_t i, struct iha_alert *a,
                                  struct iha_err *err) IHA_MUST_CHECK;

/**
 * Reads a whole body, for tools that build their own input (`test-rules`): the first
 * alert iha_alertmanager_read() refuses fails the call. The daemon and `map` read alert
 * by alert instead.
 * @param[out] alerts array of @p *n records (owned; free with iha_alertmanager_free())
 * @return IHA_OK; the errors of iha_alertmanager_open() and iha_alertmanager_read().
 */
enum iha_rc iha_alertmanager_parse(const json_t *body, struct iha_alert **alerts, size_t *n,
                                   struct iha_err *err) IHA_MUST_CHECK;

/** Frees what iha_alertmanager_parse() returned. NULL-safe. */
void iha_alertmanager_free(struct iha_alert *alerts, size_t n);

#endif
