/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file pipeline.h
 * @brief One request through the stages: adapter → mapping → dedupe → durable queue →
 *        answer; and every queued notification through delivery to its end.
 *
 * The answer follows the contract Alertmanager understands: 2xx once every derived
 * notification is durably queued (result "queued" with the gateway id and queue seq),
 * deduplicated or intentionally dropped; 503 when something could not be stored (queue
 * full, storage failing), so the sender retries; 4xx only for input that will never be
 * accepted. A notification equal to one whose batch is not durable yet is answered from
 * that batch's outcome ("deduplicated", or "retry" when the write failed); at most 16
 * requests wait per such notification, beyond that "retry" (busy).
 *
 * Native input (/v1/notifications) waits for the first delivery attempt, at most
 * @c native_wait_ms: a final first answer of Instance HA is passed through as it was
 * given (202 with the stored notification, 409, 400); otherwise the answer is 202 with
 * {"notification": {..., "status": "queued", "gateway_id", "queue_seq"}} — stored, the
 * queue keeps delivering, the sender must not retry.
 *
 * Each queued notification ends in exactly one of: DONE (Instance HA answered 202, 409
 * duplicate or 409 maintenance — the host is already being handled), DEAD (400/403 or
 * other final refusal, or not delivered within @c max_age; a line in deadletter.jsonl
 * with every attempt), DROPPED (by the operator).
 *
 * Evacuating notifications (COMPUTE_HOST STOPPED with host_status NORMAL) pass the safety
 * policy (policy.h) between the queue and delivery: they settle, may be held (a HOLD
 * record in the queue, so a restart keeps them held), cancelled when their host is back
 * (ended DROPPED, "flapped"), or released to delivery as the rate limit allows. A native
 * sender of one is answered 202 "queued" at once.
 */
#ifndef IHA_PIPELINE_H
#define IHA_PIPELINE_H

#include <jansson.h>

#include "dedupe.h"
#include "delivery.h"
#include "queue.h"
#include "mapping.h"
#include "rc.h"
#include "alert.h"

struct iha_pipeline;
struct iha_metrics;
struct iha_events;

/**
 * Receives the answer for one request: HTTP status and a JSON body (stolen).
 * Called exactly once per accepted request, from any of: the calling thread (before
 * iha_pipeline_handle() returns), the queue's committer (once the notifications are stored),
 * the delivery thread (a native sender's first attempt) or the thread that calls
 * iha_pipeline_stop(). It must not block.
 */
typedef void (*iha_reply_fn)(void *cls, unsigned status, json_t *body);

/**
 * The failure domain of @p host for the safety policy: its name into @p out and its
 * number of hosts into @p hosts (0: unknown). @return false when the host has none known.
 * Called from the queue's committer and the main thread; must not block for long.
 */
typedef bool (*iha_pipeline_domain_fn)(void *cls, const char *host, char *out, size_t size,
                                       unsigned *hosts);

struct iha_policy_config;

/** Stages the pipeline uses; all borrowed and must outlive it. */
struct iha_pipeline_stages {
    const struct iha_ruleset *rules;
    struct iha_dedupe *dedupe;
    struct iha_delivery *delivery;
    struct iha_queue *queue;       /**< required */
    unsigned native_wait_ms;       /**< bound on a native sender's wait; 0 = 10 s */
    unsigned long long max_age_ms; /**< retried this long after arrival; 0 = 6 h */
    struct iha_metrics *metrics;   /**< may be NULL: the iha_gateway_* families are counted */
    struct iha_events *events;     /**< may be NULL: one event per alert outcome and attempt */
    /**
     * The safety policy for evacuating notifications (copied); NULL: they go to delivery at
     * once (holds recovered from the queue still stay held until released).
     */
    const struct iha_policy_config *policy;
    const char *heartbeat_alertname; /**< firing alerts of this name are the heartbeat */
    iha_pipeline_domain_fn domain;   /**< may be NULL: no failure domains */
    void *domain_cls;
};

/** @return a new pipeline or NULL (also when the queue or delivery is missing). */
struct iha_pipeline *iha_pipeline_new(const struct iha_pipeline_stages *stages);

/**
 * Stops the safety policy's thread and stops handing queued notifications to delivery (they stay
 * queued for the next start) and answers every native sender still waiting for the first attempt of
 * its stored notification with 202 "queued" at once (and any stored later, too). Call when shutting
 * down, before iha_http_stop() (which answers what is still waiting 503) and before
 * iha_delivery_free(). Idempotent.
 */
void iha_pipeline_stop(struct iha_pipeline *p);

/** Frees @p p. Outstanding requests must have been answered. NULL-safe. */
void iha_pipeline_free(struct iha_pipeline *p);

/** Replaces the rule set (reload). @p rules is borrowed. Call from the ingest thread. */
void iha_pipeline_set_rules(struct iha_pipeline *p, const struct iha_ruleset *rules);

/**
 * Replaces the rule set from any thread (reload): @p rules is stolen; the ingest thread
 * adopts it at the start of its next request, so a request being mapped finishes with
 * the rules it started with, and the previous set is freed there if the pipeline owned
 * it (the initial, borrowed set is never freed). A set handed over but not adopted yet is
 * replaced (and freed) by a later call.
 */
void iha_pipeline_replace_rules_steal(struct iha_pipeline *p, struct iha_ruleset *rules);

/**
 * Handles one parsed request body from @p source.
 * @return IHA_OK: @p reply will be called exactly once. IHA_E_PARSE / IHA_E_INVAL: the
 *         body is not acceptable (@p err names the field; the caller answers 400 and
 *         @p reply is not called). IHA_E_NOMEM / IHA_E_LIMIT: answer 503.
 */
enum iha_rc iha_pipeline_handle(struct iha_pipeline *p, enum iha_source source, const json_t *body,
                                iha_reply_fn reply, void *cls, struct iha_err *err) IHA_MUST_CHECK;

/**
 * Hands every live queue entry (recovered at start) to delivery, with the age budget
 * left from its arrival time, and registers it in dedupe so repeats join it.
 * Call once after iha_pipeline_new(), before traffic. @return the number of entries.
 */
size_t iha_pipeline_resume(struct iha_pipeline *p);

/**
 * The queue's control callback (iha_queue_control_fn, @p cls is the pipeline):
 * "retry" ID (skip the backoff), "drop" ID (end it with a DROPPED marker and stop its
 * delivery), "requeue" ID (queue a dead-lettered notification again, with a new id and
 * generated_time). Runs on the queue's thread or the main thread.
 */
bool iha_pipeline_control(void *cls, const char *cmd, const char *id, char *answer, size_t size);

/**
 * @return a new object: the safety policy's state (policy.h iha_policy_status(), each
 *         notification with its "id") and "enabled"; NULL when out of memory.
 */
json_t *iha_pipeline_policy_status(struct iha_pipeline *p);

#endif
