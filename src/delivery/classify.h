/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file classify.h
 * @brief What an Instance HA answer means for the notification and for the sender.
 */
#ifndef IHA_CLASSIFY_H
#define IHA_CLASSIFY_H

#include <stdbool.h>
#include <stddef.h>

/** Delivery outcomes; names are used in logs, replies and metrics. */
enum iha_outcome {
    IHA_OUTCOME_DELIVERED,   /**< 202: stored */
    IHA_OUTCOME_DUPLICATE,   /**< 409 "is duplicate.": stored earlier, counts as delivered */
    IHA_OUTCOME_MAINTENANCE, /**< 409 "under maintenance": final, ignored by Instance HA */
    IHA_OUTCOME_REJECTED,    /**< other 4xx (400 unknown host, schema): final */
    IHA_OUTCOME_AUTH_ERROR,  /**< 401/403: final until the operator fixes the token or role */
    IHA_OUTCOME_RETRY,       /**< 5xx, transport error, timeout: try again */
};

/** @return "delivered", "duplicate", "maintenance", "rejected", "auth_error", "retry". */
const char *iha_outcome_name(enum iha_outcome o);

/** @return true for outcomes after which the notification is in Instance HA. */
bool iha_outcome_is_delivered(enum iha_outcome o);

/**
 * Classifies one answer. @p http_code 0 means a transport error (no answer).
 * @p body may be NULL. The message of a Masakari error body
 * (`{"<fault>": {"code": N, "message": "..."}}`, or Keystone's `{"error": {...}}`) is
 * copied into @p detail (truncated, NUL-terminated); otherwise a short text.
 */
enum iha_outcome iha_classify(long http_code, const char *body, size_t len, char *detail,
                              size_t detail_size);

#endif
