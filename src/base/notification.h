/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file notification.h
 * @brief The Instance HA notification: validation against the API schema, the
 *        outbound body per dialect, and the dedupe key.
 */
#ifndef IHA_NOTIFICATION_H
#define IHA_NOTIFICATION_H

#include <jansson.h>
#include <stdbool.h>
#include <time.h>

#include "rc.h"

/** Notification types; the names differ per dialect (see iha_ntype_name()). */
enum iha_ntype { IHA_NTYPE_COMPUTE_HOST, IHA_NTYPE_VM, IHA_NTYPE_PROCESS };

/**
 * Target dialects. Masakari: {"notification": {...}}, VM/PROCESS, X-Auth-Token.
 * Xloud: flat body, COMPUTE_INSTANCE/COMPUTE_PROCESS, Authorization: Bearer.
 */
enum iha_dialect { IHA_DIALECT_MASAKARI, IHA_DIALECT_XLOUD };

#define IHA_HOSTNAME_MAX 255
#define IHA_TIME_LEN 32
#define IHA_ID_LEN 24

/** Plain data. Strings are fixed buffers; @c payload is an owned JSON object of strings. */
struct iha_notification {
    enum iha_ntype type;
    char hostname[IHA_HOSTNAME_MAX + 1];
    json_t *payload;                   /**< owned; object whose values are strings */
    char generated_time[IHA_TIME_LEN]; /**< RFC 3339 UTC ("2026-11-25T14:40:13Z") */
    char id[IHA_ID_LEN];               /**< the gateway's id, in every log line about it */
    char rule[128];                    /**< the rule that produced it ("" for native input) */
};

/** @return 0 and sets @p out for any spelling: COMPUTE_HOST, VM, COMPUTE_INSTANCE, PROCESS,
 * COMPUTE_PROCESS. */
int iha_ntype_parse(const char *s, enum iha_ntype *out);

/** @return the type's name in @p dialect. */
const char *iha_ntype_name(enum iha_ntype t, enum iha_dialect dialect);

/** @return 0 and sets @p out for "masakari" or "xloud"; -1 otherwise. */
int iha_dialect_parse(const char *s, enum iha_dialect *out);

/** @return "masakari" or "xloud". */
const char *iha_dialect_name(enum iha_dialect d);

/** Zeroes @p n. */
void iha_notification_init(struct iha_notification *n);

/** Releases the payload and zeroes @p n. NULL-safe. */
void iha_notification_clear(struct iha_notification *n);

/** Deep copy of @p src into @p dst (which must be cleared or initialised). */
enum iha_rc iha_notification_copy(struct iha_notification *dst,
                                  const struct iha_notification *src) IHA_MUST_CHECK;

/**
 * Checks @p n against the Instance HA schema: hostname `^[a-zA-Z0-9-._]*$` 1..255,
 * payload keys `^[a-zA-Z0-9-_:. ]{1,255}$` with string values of at most 255 bytes,
 * and the per-type payload (COMPUTE_HOST: event STARTED|STOPPED required, host_status
 * NORMAL|UNKNOWN, cluster_status ONLINE|OFFLINE, nothing else; PROCESS: event
 * STARTED|STOPPED and process_name required, nothing else; VM: instance_uuid,
 * vir_domain_event and event required).
 * @return IHA_OK, or IHA_E_INVAL with @p err naming the field.
 */
enum iha_rc iha_notification_validate(const struct iha_notification *n,
                                      struct iha_err *err) IHA_MUST_CHECK;

/** Formats @p t as RFC 3339 UTC with a Z suffix into @p out (IHA_TIME_LEN bytes). */
void iha_time_format(time_t t, char out[IHA_TIME_LEN]);

/**
 * @return true when Instance HA evacuates the host on @p n: COMPUTE_HOST with event
 *         STOPPED and host_status NORMAL (its engine ignores any other host_status).
 */
bool iha_notification_evacuates(const struct iha_notification *n);

/** @return true when @p n says its host is up again: COMPUTE_HOST with event STARTED. */
bool iha_notification_host_back(const struct iha_notification *n);

/** Fills @p out with a fresh random id (16 hex characters). */
void iha_id_new(char out[IHA_ID_LEN]);

/**
 * @return the outbound body for @p dialect (new reference), or NULL when out of memory.
 * Masakari: {"notification": {"type", "hostname", "generated_time", "payload"}}.
 * Xloud: {"hostname", "type", "generated_time", "payload"}.
 */
json_t *iha_notification_body(const struct iha_notification *n, enum iha_dialect dialect);

/**
 * @return the JSON shown to users (map output, replies, status): type (Masakari name),
 *         hostname, payload, generated_time, id, rule. New reference or NULL.
 */
json_t *iha_notification_to_json(const struct iha_notification *n);

/**
 * Writes the dedupe key of @p n: type, hostname and the payload with sorted keys.
 * Two notifications are equal for dedupe exactly when their keys are equal (the rule
 * Masakari applies). @return IHA_OK or IHA_E_LIMIT when @p size is too small.
 */
enum iha_rc iha_notification_key(const struct iha_notification *n, char *out,
                                 size_t size) IHA_MUST_CHECK;

#endif
