/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file pipeline_flight.c
 * @brief A stored notification through delivery: the flight, the native sender that
 *        waits for its first attempt, and the end marker, dead letter, metrics and log
 *        line when delivery ends.
 *
 * Separate from storing: this runs on the delivery thread, after the sender may long
 * have been answered, and owns the queue entry's end; the stop path that answers
 * waiting native senders lives here too, with the list it drains.
 */
#include "pipeline_int.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "clock.h"
#include "events.h"
#include "log.h"
#include "metrics.h"
#include "queue.h"

/* Under p->native_lock. */
static void native_unlink(struct iha_pipeline *p, struct flight *f)
{
    if (f->nprev)
        f->nprev->nnext = f->nnext;
    else if (p->natives == f)
        p->natives = f->nnext;
    if (f->nnext)
        f->nnext->nprev = f->nprev;
    f->nprev = f->nnext = NULL;
}

/* Takes the native sender waiting for @p f, if it was not answered yet (exactly once). */
static struct request *native_take(struct flight *f, json_t **item)
{
    struct iha_pipeline *p = f->p;
    struct request *r;

    pthread_mutex_lock(&p->native_lock);
    r = f->native;
    *item = f->native_item;
    f->native = NULL;
    f->native_item = NULL;
    native_unlink(p, f);
    pthread_mutex_unlock(&p->native_lock);
    return r;
}

static void native_answer(struct flight *f, const struct iha_delivery_result *res)
{
    json_t *item;
    struct request *r = native_take(f, &item);

    if (r)
        iha_pipeline_native_settle(r, item, &f->n, f->seq, res);
}

/*
 * Answers every native sender still waiting for a first attempt: its notification is
 * stored and stays queued for the next start, so the truth is 202 "queued". Under
 * native_lock, which keeps each flight alive until its sender is answered.
 */
void iha_pipeline_native_stop_all(struct iha_pipeline *p)
{
    struct iha_delivery_result res = {.outcome = IHA_OUTCOME_RETRY};

    snprintf(res.detail, sizeof(res.detail),
             "stored; the gateway is stopping and delivers it when it starts again");
    pthread_mutex_lock(&p->native_lock);
    while (p->natives) {
        struct flight *f = p->natives;
        struct request *r = f->native;
        json_t *item = f->native_item;

        f->native = NULL;
        f->native_item = NULL;
        native_unlink(p, f);
        if (r)
            iha_pipeline_native_settle(r, item, &f->n, f->seq, &res);
    }
    pthread_mutex_unlock(&p->native_lock);
}

static void on_attempt(void *cls, const struct iha_delivery_result *res)
{
    struct flight *f = cls;

    if (res->attempts > 0) {
        char at[IHA_TIME_LEN], code[16];
        json_t *a;

        iha_time_format(time(NULL), at);
        a = json_pack("{s:s,s:I,s:I,s:s,s:s}", "at", at, "attempt", (json_int_t)res->attempts,
                      "http_code", (json_int_t)res->http_code, "outcome",
                      iha_outcome_name(res->outcome), "detail", res->detail);
        if (a)
            iha_queue_note_attempt(f->p->queue, f->seq, a);
        json_decref(a);
        snprintf(code, sizeof(code), "%ld", res->http_code);
        if (f->p->metrics)
            iha_metrics_add(f->p->metrics, "iha_gateway_deliveries_total", 1,
                            iha_outcome_name(res->outcome), code);
        if (f->p->events) {
            a = json_pack("{s:s,s:I,s:I,s:s,s:s,s:s}", "time", at, "attempt",
                          (json_int_t)res->attempts, "http_code", (json_int_t)res->http_code,
                          "outcome", iha_outcome_name(res->outcome), "detail", res->detail,
                          "notification_uuid", res->notification_uuid);
            iha_events_attempt_steal(f->p->events, f->n.id, a, iha_outcome_name(res->outcome));
        }
    }
    native_answer(f, res);
}

static void flight_free(struct flight *f)
{
    if (!f)
        return;
    iha_pipeline_key_end(f->p, &f->key_held, f->key, false);
    iha_notification_clear(&f->n);
    free(f);
}

static void on_done(void *cls, const struct iha_delivery_result *res)
{
    struct flight *f = cls;
    struct iha_pipeline *p = f->p;
    char code[16], seq[24];
    enum iha_qrec marker = IHA_QREC_DONE;
    const char *reason = NULL;
    json_t *info;
    enum iha_rc rc;

    native_answer(f, res);
    snprintf(code, sizeof(code), "%ld", res->http_code);
    snprintf(seq, sizeof(seq), "%llu", (unsigned long long)f->seq);
    if (res->cancelled) {
        /* Shutdown: it stays in the queue for the next start. Drop: already marked. */
        iha_pipeline_key_end(p, &f->key_held, f->key, false);
        IHA_LOG(IHA_LOG_INFO, "notification left in the queue", "id", f->n.id, "seq", seq, "host",
                f->n.hostname, "detail", res->detail);
        flight_free(f);
        return;
    }
    switch (res->outcome) {
    case IHA_OUTCOME_DELIVERED:
    case IHA_OUTCOME_DUPLICATE:
    case IHA_OUTCOME_MAINTENANCE:
        break;
    case IHA_OUTCOME_REJECTED:
        marker = IHA_QREC_DEAD;
        reason = "Instance HA refused the notification for good";
        break;
    case IHA_OUTCOME_AUTH_ERROR:
        marker = IHA_QREC_DEAD;
        reason = "Instance HA refused the gateway's service token or role";
        break;
    case IHA_OUTCOME_RETRY:
        marker = IHA_QREC_DEAD;
        reason = "not delivered within storage.max_age";
        break;
    }
    /* Final refusals are remembered like deliveries so repeats do not hammer Instance HA. */
    iha_pipeline_key_end(p, &f->key_held, f->key, true);
    info = json_pack("{s:s,s:I,s:s,s:I}", "outcome", iha_outcome_name(res->outcome), "http_code",
                     (json_int_t)res->http_code, "detail", res->detail, "attempts_made",
                     (json_int_t)res->attempts);
    if (info && reason)
        json_object_set_new(info, "reason", json_string(reason));
    if (info && res->notification_uuid[0])
        json_object_set_new(info, "notification_uuid", json_string(res->notification_uuid));
    rc = iha_queue_complete(p->queue, f->seq, marker, info);
    json_decref(info);
    if (p->metrics) {
        long long ms = (long long)iha_clock_wall_ms() - f->received_ms;
        iha_metrics_observe(p->metrics, "iha_gateway_delivery_latency_seconds",
                            ms > 0 ? (double)ms / 1000.0 : 0.0);
        if (marker == IHA_QREC_DEAD)
            iha_metrics_add(p->metrics, "iha_gateway_notifications_dead_lettered_total", 1);
    }
    if (marker == IHA_QREC_DEAD && p->events)
        iha_pipeline_event_set(p, f->n.id, IHA_RESULT_DEAD, "reason", json_string(reason));
    if (rc != IHA_OK && rc != IHA_E_NOTFOUND)
        IHA_LOG(IHA_LOG_ERROR,
                "queue: cannot record the end of a notification; it will be "
                "delivered again after a restart (Instance HA answers 409 duplicate)",
                "id", f->n.id, "seq", seq, "reason", iha_rc_str(rc));
    IHA_LOG(marker == IHA_QREC_DONE ? IHA_LOG_INFO : IHA_LOG_ERROR,
            marker == IHA_QREC_DONE ? "notification outcome" : "notification dead-lettered", "id",
            f->n.id, "seq", seq, "rule", f->n.rule, "host", f->n.hostname, "type",
            iha_ntype_name(f->n.type, IHA_DIALECT_MASAKARI), "outcome",
            iha_outcome_name(res->outcome), "http_code", code, "detail", res->detail,
            "notification_uuid", res->notification_uuid, "reason", reason);
    flight_free(f);
}

/*
 * Hands the live entry @p seq to delivery; @p native (with @p item) is answered after
 * the first attempt. @p received_ms sets the remaining age budget. The flight takes over
 * the caller's claim on @p key when @p *key_held (and clears it): it ends the key when
 * delivery ends, or at once when delivery cannot start.
 */
void iha_pipeline_start_delivery(struct iha_pipeline *p, uint64_t seq, const char *key,
                                 const struct iha_notification *n, long long received_ms,
                                 struct request *native, json_t *item, bool *key_held)
{
    struct flight *f = calloc(1, sizeof(*f));
    long long age = (long long)iha_clock_wall_ms() - received_ms;
    struct iha_delivery_opts o = {
        .per_host_order = true,
        .retry_unauthorized = true,
        .on_attempt = on_attempt,
        .notice_after_ms = native ? p->native_wait_ms : 0,
    };
    char s[24];
    enum iha_rc rc = IHA_E_NOMEM;

    o.retry_for_ms = age < 0 ? p->max_age_ms
                     : (unsigned long long)age >= p->max_age_ms
                         ? 0
                         : p->max_age_ms - (unsigned long long)age;
    if (f) {
        f->p = p;
        f->seq = seq;
        snprintf(f->key, sizeof(f->key), "%s", key);
        f->native = native;
        f->native_item = item;
        f->received_ms = received_ms;
        f->key_held = *key_held;
        *key_held = false;
        rc = iha_notification_copy(&f->n, n);
    }
    if (rc == IHA_OK && native) {
        /* Before the stopping check: either iha_pipeline_stop() answers it or it sees stopping. */
        pthread_mutex_lock(&p->native_lock);
        f->nnext = p->natives;
        if (p->natives)
            p->natives->nprev = f;
        p->natives = f;
        pthread_mutex_unlock(&p->native_lock);
    }
    if (rc == IHA_OK) {
        /* Under flight_lock: a `queue drop` either sees this job or keeps it from starting. */
        pthread_mutex_lock(&p->flight_lock);
        rc = p->stopping ? IHA_E_LIMIT
             : !iha_queue_live(p->queue, seq)
                 ? IHA_E_NOTFOUND
                 : iha_delivery_submit_opts(p->delivery, n, key, &o, on_done, f);
        pthread_mutex_unlock(&p->flight_lock);
    }
    if (rc == IHA_OK)
        return;
    /* It stays in the queue; the next start delivers it. */
    snprintf(s, sizeof(s), "%llu", (unsigned long long)seq);
    if (rc == IHA_E_NOTFOUND)
        IHA_LOG(IHA_LOG_INFO, "queued notification ended before its delivery started", "id", n->id,
                "seq", s);
    else
        IHA_LOG(IHA_LOG_ERROR, "cannot hand a queued notification to delivery; it stays queued",
                "id", n->id, "seq", s, "reason", iha_rc_str(rc));
    if (native) {
        struct iha_delivery_result res = {.outcome = IHA_OUTCOME_RETRY};
        json_t *it = item;
        struct request *r = f ? native_take(f, &it) : native;
        snprintf(res.detail, sizeof(res.detail), "queued");
        if (r)
            iha_pipeline_native_settle(r, it, n, seq, &res);
    }
    flight_free(f);
}

/*
 * Hands the live entry @p seq on: an evacuating notification to the safety policy (its
 * native sender is answered "queued" at once: the policy may take minutes), anything
 * else to delivery (iha_pipeline_start_delivery()).
 */
void iha_pipeline_start_flight(struct iha_pipeline *p, uint64_t seq, const char *key,
                               const struct iha_notification *n, long long received_ms,
                               struct request *native, json_t *item, bool *key_held)
{
    struct iha_delivery_result res = {.outcome = IHA_OUTCOME_RETRY};

    if (!iha_pipeline_policy_park(p, seq, key, n, received_ms, IHA_HOLD_NONE, false, key_held)) {
        iha_pipeline_start_delivery(p, seq, key, n, received_ms, native, item, key_held);
        return;
    }
    if (native) {
        snprintf(res.detail, sizeof(res.detail),
                 "stored; it evacuates a host, so the safety policy sends it after its settle "
                 "time");
        iha_pipeline_native_settle(native, item, n, seq, &res);
    }
}
