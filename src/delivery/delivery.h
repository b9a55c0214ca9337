/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file delivery.h
 * @brief Sends notifications to the Instance HA API from one thread that owns a
 *        libcurl multi handle, retrying what can succeed later.
 *
 * Callers submit a notification with a completion callback; the delivery thread
 * POSTs it (connection reuse, connect and total timeouts, capped response size),
 * classifies the answer (classify.h) and retries IHA_OUTCOME_RETRY answers with
 * exponential backoff and jitter (0.5 s doubling to at most 5 s) until @c retry_for_ms
 * after the first attempt; a 401 is retried once immediately (the token file may have
 * been renewed). Submissions with the same key while one is in flight join it: one
 * POST, every waiter gets the result. The body and generated_time are identical on
 * every attempt.
 *
 * The durable queue (queue.h) submits with iha_delivery_submit_opts(): a retry budget
 * counted from the submission (the notification's remaining age), retries of 401, a
 * callback after every attempt, and per-host ordering: a job for a hostname starts only
 * when every earlier ordered job for that hostname has completed.
 */
#ifndef IHA_DELIVERY_H
#define IHA_DELIVERY_H

#include <stddef.h>

#include "classify.h"
#include "notification.h"
#include "rc.h"
#include "token_source.h"
#include "tls.h"

struct iha_delivery;

struct iha_delivery_config {
    const char *url; /**< base URL, e.g. "http://127.0.0.1:15868" (copied) */
    enum iha_dialect dialect;
    struct iha_token_source *token;   /**< borrowed; must outlive the delivery */
    unsigned connect_timeout_ms;      /**< per attempt */
    unsigned timeout_ms;              /**< per attempt, total */
    unsigned retry_for_ms;            /**< retry budget from the first attempt */
    unsigned max_backoff_ms;          /**< cap of the backoff between attempts; 0 = 5 s */
    size_t max_jobs;                  /**< in flight + waiting; beyond it submit fails */
    const struct iha_tls_config *tls; /**< borrowed, must outlive the delivery; NULL = defaults */
};

/** Passed to the completion callback; valid only during the call. */
struct iha_delivery_result {
    enum iha_outcome outcome;
    long http_code; /**< last answer's status, 0 for a transport error */
    unsigned attempts;
    char detail[512];           /**< Instance HA's message or the transport error */
    char notification_uuid[64]; /**< from a 202 body, else "" */
    const char *response_body;  /**< last response body (NUL-terminated, may be "") */
    bool cancelled; /**< shutdown or iha_delivery_cancel(): it did not end at Instance HA */
};

/**
 * Called once per submission, from the delivery thread (or from iha_delivery_free()
 * with IHA_OUTCOME_RETRY "shutting down"). Must not block for long.
 */
typedef void (*iha_delivery_cb)(void *cls, const struct iha_delivery_result *res);

/**
 * Called after every attempt of a job (and once with attempts 0 when
 * iha_delivery_opts.notice_after_ms passed without one), from the delivery thread.
 */
typedef void (*iha_delivery_attempt_cb)(void *cls, const struct iha_delivery_result *res);

/** Per-submission options of iha_delivery_submit_opts(). */
struct iha_delivery_opts {
    unsigned long long retry_for_ms;    /**< budget counted from the submission */
    bool per_host_order;                /**< wait for earlier ordered jobs of the same hostname */
    bool retry_unauthorized;            /**< a 401 is retried with backoff rather than final */
    iha_delivery_attempt_cb on_attempt; /**< may be NULL; gets the submission's @c cls */
    unsigned notice_after_ms;           /**< 0 = no notice */
};

/** Starts the delivery thread. @return IHA_OK, IHA_E_NOMEM, IHA_E_IO (thread or curl). */
enum iha_rc iha_delivery_new(const struct iha_delivery_config *cfg,
                             struct iha_delivery **out) IHA_MUST_CHECK;

/**
 * Queues @p n (deep-copied) for delivery. @p key is the dedupe key (copied).
 * @return IHA_OK (the callback will run exactly once), IHA_E_LIMIT (too many jobs; no
 *         callback), IHA_E_NOMEM. Callable from any thread.
 */
enum iha_rc iha_delivery_submit(struct iha_delivery *d, const struct iha_notification *n,
                                const char *key, iha_delivery_cb cb, void *cls) IHA_MUST_CHECK;

/**
 * Like iha_delivery_submit() with @p opts (copied). A submission joining an existing
 * job with the same key keeps that job's budget and order but gets its own attempt
 * callbacks. Callable from any thread.
 */
enum iha_rc iha_delivery_submit_opts(struct iha_delivery *d, const struct iha_notification *n,
                                     const char *key, const struct iha_delivery_opts *opts,
                                     iha_delivery_cb cb, void *cls) IHA_MUST_CHECK;

/**
 * Ends the job with @p key: its waiters are called with @c cancelled set (at once if it
 * is waiting, after the running attempt otherwise). @return IHA_OK or IHA_E_NOTFOUND.
 */
enum iha_rc iha_delivery_cancel(struct iha_delivery *d, const char *key) IHA_MUST_CHECK;

/** Makes the job with @p key due now (skips its backoff). @return IHA_OK or IHA_E_NOTFOUND. */
enum iha_rc iha_delivery_kick(struct iha_delivery *d, const char *key) IHA_MUST_CHECK;

/** @return jobs in flight or waiting. */
size_t iha_delivery_pending(struct iha_delivery *d);

/** Stops the thread, completes every outstanding job with RETRY, frees. NULL-safe. */
void iha_delivery_free(struct iha_delivery *d);

#endif
