/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file native.h
 * @brief Adapter: the Instance HA payload itself, flat or wrapped in "notification".
 *
 * Accepts {"hostname", "type", "payload"[, "generated_time"]} and
 * {"notification": {...}}; the type may be spelled in either dialect. Native input
 * bypasses the mapping rules but is validated against the Instance HA schema.
 */
#ifndef IHA_NATIVE_H
#define IHA_NATIVE_H

#include <jansson.h>

#include "notification.h"
#include "rc.h"

/**
 * @param[out] out initialised notification (payload owned by @p out); generated_time is
 *             copied when given (validated as RFC 3339 / ISO 8601), else left "".
 * @return IHA_OK; IHA_E_INVAL with @p err naming the field (unknown top-level keys are
 *         refused as Instance HA refuses them).
 */
enum iha_rc iha_native_parse(const json_t *body, struct iha_notification *out,
                             struct iha_err *err) IHA_MUST_CHECK;

#endif
