/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file pipeline_int.h
 * @brief Private to src/pipeline: the pipeline object, a request waiting for its answer,
 *        a notification being stored, a flight in delivery, and the functions the
 *        pipeline files share. Never included from outside the folder.
 *
 * The files, one job each: pipeline.c (the object's life and ingest: record → adapter →
 * rules → dedupe → queue), pipeline_answer.c (the answers to senders and the status
 * page's events), pipeline_store.c (queue records, storing, duplicates waiting for an
 * equal notification being stored), pipeline_flight.c (a queue entry through delivery
 * to its end marker), pipeline_control.c (recovery at start, the operator's commands).
 */
#ifndef IHA_PIPELINE_INT_H
#define IHA_PIPELINE_INT_H

#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "delivery.h"
#include "notification.h"
#include "pipeline.h"
#include "policy.h"
#include "rc.h"
#include "alert.h"

#define KEY_MAX 4096
/* Requests that may wait for one notification being stored (HA pairs send twice). */
#define WAITERS_MAX 16

struct iha_pipeline {
    const struct iha_ruleset *rules;
    struct iha_dedupe *dedupe;
    struct iha_delivery *delivery;
    struct iha_queue *queue;
    unsigned native_wait_ms;
    unsigned long long max_age_ms;
    struct iha_redelivery *redelivery; /* Nagios record ids answered 2xx */
    struct iha_metrics *metrics;       /* may be NULL */
    struct iha_events *events;         /* may be NULL */
    struct iha_ruleset *owned_rules;   /* == rules after a reload; ingest thread only */
    pthread_mutex_t rules_lock;        /* next_rules */
    struct iha_ruleset *next_rules;    /* handed over by a reload, adopted by ingest */
    pthread_mutex_t flight_lock;       /* hand-offs to delivery vs iha_pipeline_stop() */
    bool stopping;                     /* guarded by flight_lock */
    /*
     * Flights whose native sender waits for the first attempt, so that a stop answers
     * them "queued" (they are stored) before the HTTP server answers what is left 503.
     */
    pthread_mutex_t native_lock;
    struct flight *natives;
    /*
     * Notifications pushed but not durable yet. A dedupe verdict "in flight" and the
     * lookup here happen under storing_lock, as do the removal and the dedupe end of a
     * failed push, so a duplicate never sees an entry that failed as stored.
     */
    pthread_mutex_t storing_lock;
    struct stored *storing;
    /* The safety policy and its thread (pipeline_policy.c); policy_lock is a leaf. */
    pthread_mutex_t policy_lock;
    pthread_cond_t policy_cond;
    struct iha_policy
        *policy;         /* set at start, freed by iha_pipeline_free(); use under policy_lock */
    bool policy_enabled; /* new evacuations are admitted (else only recovered holds) */
    pthread_t policy_thread;
    bool policy_started;
    bool policy_stop, policy_kick;     /* under policy_lock */
    struct parked *parked;             /* under policy_lock */
    struct decision *decisions;        /* under policy_lock: not carried out yet */
    size_t n_decisions, cap_decisions; /* under policy_lock */
    char heartbeat_alertname[128];
    iha_pipeline_domain_fn domain;
    void *domain_cls;
};

/*
 * One request in flight. It is answered when the last of its notifications is
 * stored (or, for native input, has had its first attempt or waited long enough);
 * @c pending starts at 1 so that completions racing with the loop over the
 * notifications cannot answer before every notification was handled.
 */
struct request {
    pthread_mutex_t lock;
    struct iha_pipeline *p;
    enum iha_source source;
    iha_reply_fn reply;
    void *reply_cls;
    size_t pending;
    json_t *results; /* one object per derived notification or drop */
    /* native only: the single outcome, answered in Instance HA's own words */
    long native_code;
    json_t *native_body;
};

/* A duplicate's request, answered when the equal notification's storage ends. */
struct waiter {
    struct request *req; /* holds one pending reference */
    json_t *item;        /* borrowed from req->results */
};

/* One notification between the queue push and its durability. */
struct stored {
    struct iha_pipeline *p;
    struct request *req; /* NULL for a requeue from the CLI */
    json_t *item;        /* borrowed from req->results */
    char key[KEY_MAX];
    struct iha_notification n;
    long long received_ms;
    struct stored *prev, *next; /* in p->storing, guarded by p->storing_lock */
    bool key_held;              /* began the dedupe key (verdict new); see iha_pipeline_key_end() */
    size_t n_waiters;
    struct waiter waiters[WAITERS_MAX];
};

/* One live queue entry handed to delivery. */
struct flight {
    struct iha_pipeline *p;
    uint64_t seq;
    char key[KEY_MAX];
    struct iha_notification n;
    struct request *native; /* a native sender waiting for the first attempt, else NULL */
    json_t *native_item;
    long long received_ms;        /* first sight, for the latency histogram */
    bool key_held;                /* owns the dedupe key in flight; see iha_pipeline_key_end() */
    struct flight *nprev, *nnext; /* in p->natives while @c native waits; native_lock */
};

/* ---- pipeline.c ---- */

/** Ends the dedupe key @p key once, if @p *held; the ownership rule is at its definition. */
void iha_pipeline_key_end(struct iha_pipeline *p, bool *held, const char *key, bool delivered);

/* ---- pipeline_answer.c ---- */

/** A new request answered through @p reply once its pending references are released. */
struct request *iha_pipeline_request_new(struct iha_pipeline *p, enum iha_source source,
                                         iha_reply_fn reply, void *cls);
/** Frees @p r without answering (nothing was submitted). NULL-safe. */
void iha_pipeline_request_free(struct request *r);
/** Drops one pending reference; the last one answers and frees the request. */
void iha_pipeline_request_release(struct request *r);

/*
 * What became of one derived notification or drop: the "result" of its answer item and of
 * its event. A native sender's item may also carry a delivery outcome's name (delivered,
 * rejected, ...) once the first attempt settles; for counting, that is "queued".
 */
enum iha_result {
    IHA_RESULT_STORING, /* events page only: not yet durable */
    IHA_RESULT_QUEUED,
    IHA_RESULT_DEDUPLICATED,
    IHA_RESULT_DROPPED,
    IHA_RESULT_RETRY,
    IHA_RESULT_DEAD,    /* events page only: dead-lettered */
    IHA_RESULT_HELD,    /* events page only: held by the safety policy */
    IHA_RESULT_FLAPPED, /* events page only: its host was back before it was sent */
    IHA_RESULT_COUNT
};

/** @return the answer's word for @p res. */
const char *iha_result_name(enum iha_result res);
/** @return the result @p item records; a delivery outcome, or none, counts as queued. */
enum iha_result iha_result_of(const json_t *item);

/** Sets @p k to @p v in @p o when @p v is not empty. */
void iha_pipeline_set_str(json_t *o, const char *k, const char *v);
/** Sets an item's "result" and, when not empty, its "detail". */
void iha_pipeline_set_result(json_t *item, enum iha_result res, const char *detail);
/** Appends @p item (stolen) to the answer's results under the request's lock. */
void iha_pipeline_result_append(struct request *r, json_t *item);
/** An Instance HA fault body {@p name: {"code", "message"}}. */
json_t *iha_pipeline_fault(const char *name, long code, const char *message);
/** Adds "gateway_id" @p id to every object member of a native answer @p body. */
void iha_pipeline_tag_gateway_id(json_t *body, const char *id);

/** Settles a native sender's answer from the first attempt @p res, then releases @p r. */
void iha_pipeline_native_settle(struct request *r, json_t *item, const struct iha_notification *n,
                                uint64_t seq, const struct iha_delivery_result *res);
/** Records in @p item (and a native answer) that @p n duplicates a queued or delivered one. */
void iha_pipeline_set_duplicate(struct request *r, json_t *item, const struct iha_notification *n,
                                const char *id, bool inflight);

/** The status page's event for one alert outcome: a copy of the sender's result item. */
void iha_pipeline_event_add(struct request *r, const json_t *item);
/** Copies the decision taken before storing (dedupe, refusal) from @p item to its event. */
void iha_pipeline_event_sync(struct request *r, const json_t *item);
/** Sets the event @p id's result, and @p k2 to @p v2 (stolen) when both are given. */
void iha_pipeline_event_set(struct iha_pipeline *p, const char *id, enum iha_result res,
                            const char *k2, json_t *v2);

/* ---- pipeline_store.c ---- */

/** The queue record of @p n (what is stored, and what recovery and requeue read back). */
json_t *iha_pipeline_record_new(const struct iha_notification *n, enum iha_source source,
                                long long received_ms);
/** Reads a queue record back into @p n (initialised here; clear it in every case). */
enum iha_rc iha_pipeline_record_to_notification(const json_t *rec, struct iha_notification *n);
/** The string member @p k of @p o, "" when absent. */
const char *iha_pipeline_jstr(const json_t *o, const char *k);

/**
 * Dedupe, then store. @return true when the queue owns the completion; false when the
 * outcome was decided here and recorded in @p item.
 */
bool iha_pipeline_submit(struct request *r, struct iha_notification *n, json_t *item);

/* ---- pipeline_flight.c ---- */

/**
 * Hands the live entry @p seq on: to the safety policy when it evacuates, else to delivery;
 * see its definition for @p native and @p key_held.
 */
void iha_pipeline_start_flight(struct iha_pipeline *p, uint64_t seq, const char *key,
                               const struct iha_notification *n, long long received_ms,
                               struct request *native, json_t *item, bool *key_held);
/** Hands the live entry @p seq to delivery now, past the policy; as iha_pipeline_start_flight(). */
void iha_pipeline_start_delivery(struct iha_pipeline *p, uint64_t seq, const char *key,
                                 const struct iha_notification *n, long long received_ms,
                                 struct request *native, json_t *item, bool *key_held);
/** Answers every native sender still waiting for a first attempt: 202 "queued". */
void iha_pipeline_native_stop_all(struct iha_pipeline *p);

/* ---- pipeline_policy.c ---- */

/** Creates the policy (always: recovered holds need it) and starts its thread. */
enum iha_rc iha_pipeline_policy_start(struct iha_pipeline *p,
                                      const struct iha_pipeline_stages *stages) IHA_MUST_CHECK;
/**
 * Stops the thread (idempotent). The policy stays: the queue's committer may still park
 * a notification until the queue is closed; nothing is carried out any more.
 */
void iha_pipeline_policy_stop(struct iha_pipeline *p);
/** Stops the thread and frees the policy; what is parked stays live in the queue. */
void iha_pipeline_policy_free(struct iha_pipeline *p);
/**
 * Parks the stored evacuating notification @p seq with the policy (held again for
 * @p held when it was held before a restart; @p recovered: read back from the queue at
 * start), taking over @p key_held.
 * @return false when @p n does not go through the policy (the caller delivers it).
 */
bool iha_pipeline_policy_park(struct iha_pipeline *p, uint64_t seq, const char *key,
                              const struct iha_notification *n, long long received_ms,
                              enum iha_hold_reason held, bool recovered, bool *key_held);
/** The failure of @p host is over: its parked notifications are cancelled. */
void iha_pipeline_policy_resolve(struct iha_pipeline *p, const char *host);
/** @p a is the monitoring's heartbeat when it is the configured firing alert. */
void iha_pipeline_policy_heartbeat(struct iha_pipeline *p, const struct iha_alert *a);
/** Forgets the parked @p seq (dropped by the operator). @return whether it was parked. */
bool iha_pipeline_policy_forget(struct iha_pipeline *p, uint64_t seq);
/** The operator releases the held notification @p id (id or seq), or "--all". */
bool iha_pipeline_policy_release(struct iha_pipeline *p, const char *id, char *answer, size_t size);

#endif
