/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file pipeline.c
 * @brief adapter → mapping → dedupe → durable queue → one answer per request; the queue's
 *        entries → delivery → completion markers and dead letters.
 */
#include "pipeline.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include "alertmanager.h"
#include "clock.h"
#include "events.h"
#include "log.h"
#include "metrics.h"
#include "nagios.h"
#include "native.h"
#include "redelivery.h"

#define KEY_MAX 4096
/* Requests that may wait for one notification being stored (HA pairs send twice). */
#define WAITERS_MAX 16
#define DEADLETTER_LINE_MAX (1024u * 1024u)

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
    bool key_held;              /* began the dedupe key (verdict new); see key_end() */
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
    bool key_held;                /* owns the dedupe key in flight; see key_end() */
    struct flight *nprev, *nnext; /* in p->natives while @c native waits; native_lock */
};

static long long wall_ms(void)
{
    struct timeval tv;

    gettimeofday(&tv, NULL);
    return (long long)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

/*
 * Ends the dedupe key @p key that its holder began (verdict new), exactly once: @p *held
 * says whether the holder still owns it. Each holder (a notification being stored, a
 * flight, a requeue) ends it with the outcome on its success path, and its free function
 * ends it as failed otherwise, so no failure path leaves a key "in flight" (which would
 * answer every equal notification "deduplicated" while nothing is queued for it).
 */
static void key_end(struct iha_pipeline *p, bool *held, const char *key, bool delivered)
{
    if (!*held)
        return;
    *held = false;
    iha_dedupe_end(p->dedupe, key, iha_clock_ms(), delivered);
}

struct iha_pipeline *iha_pipeline_new(const struct iha_pipeline_stages *stages)
{
    struct iha_pipeline *p;

    if (!stages->queue || !stages->delivery)
        return NULL;
    p = calloc(1, sizeof(*p));
    if (!p)
        return NULL;
    p->rules = stages->rules;
    p->dedupe = stages->dedupe;
    p->delivery = stages->delivery;
    p->queue = stages->queue;
    p->native_wait_ms = stages->native_wait_ms ? stages->native_wait_ms : 10000;
    p->max_age_ms = stages->max_age_ms ? stages->max_age_ms : 6ull * 3600 * 1000;
    p->metrics = stages->metrics;
    p->events = stages->events;
    p->redelivery = iha_redelivery_new(IHA_REDELIVERY_DEFAULT_MAX, IHA_REDELIVERY_DEFAULT_TTL_S);
    if (!p->redelivery) {
        free(p);
        return NULL;
    }
    pthread_mutex_init(&p->flight_lock, NULL);
    pthread_mutex_init(&p->rules_lock, NULL);
    pthread_mutex_init(&p->storing_lock, NULL);
    pthread_mutex_init(&p->native_lock, NULL);
    return p;
}

static void native_stop_all(struct iha_pipeline *p);

void iha_pipeline_stop(struct iha_pipeline *p)
{
    /* First: a flight linked after the drain below sees it and answers its sender itself. */
    pthread_mutex_lock(&p->flight_lock);
    p->stopping = true;
    pthread_mutex_unlock(&p->flight_lock);
    native_stop_all(p);
}

void iha_pipeline_free(struct iha_pipeline *p)
{
    if (p) {
        iha_redelivery_free(p->redelivery);
        pthread_mutex_destroy(&p->flight_lock);
        pthread_mutex_destroy(&p->storing_lock);
        pthread_mutex_destroy(&p->native_lock);
        iha_ruleset_free(p->owned_rules);
        iha_ruleset_free(p->next_rules);
        pthread_mutex_destroy(&p->rules_lock);
    }
    free(p);
}

void iha_pipeline_set_rules(struct iha_pipeline *p, const struct iha_ruleset *rules)
{
    p->rules = rules;
    iha_ruleset_free(p->owned_rules);
    p->owned_rules = NULL;
}

void iha_pipeline_replace_rules_steal(struct iha_pipeline *p, struct iha_ruleset *rules)
{
    struct iha_ruleset *old;

    pthread_mutex_lock(&p->rules_lock);
    old = p->next_rules;
    p->next_rules = rules;
    pthread_mutex_unlock(&p->rules_lock);
    iha_ruleset_free(old);
}

/* Ingest thread, before mapping: no request is mapping with the rules freed here. */
static void adopt_rules(struct iha_pipeline *p)
{
    struct iha_ruleset *next;

    pthread_mutex_lock(&p->rules_lock);
    next = p->next_rules;
    p->next_rules = NULL;
    pthread_mutex_unlock(&p->rules_lock);
    if (!next)
        return;
    iha_ruleset_free(p->owned_rules);
    p->owned_rules = next;
    p->rules = next;
}

/* ---- events (status page) ---- */

/* Adds the event for one alert outcome: a copy of the sender's result item. */
static void event_add(struct request *r, const json_t *item)
{
    json_t *ev;

    if (!r->p->events)
        return;
    pthread_mutex_lock(&r->lock);
    ev = json_deep_copy(item);
    pthread_mutex_unlock(&r->lock);
    if (!ev)
        return;
    json_object_set_new(ev, "source", json_string(iha_source_name(r->source)));
    if (!json_object_get(ev, "result"))
        json_object_set_new(ev, "result", json_string("storing"));
    iha_events_add_steal(r->p->events, ev);
}

/* Copies the decision taken before storing (dedupe, refusal) from @p item to its event. */
static void event_sync(struct request *r, const json_t *item)
{
    json_t *f = json_object();
    const char *id;

    if (!f)
        return;
    pthread_mutex_lock(&r->lock);
    id = json_string_value(json_object_get(item, "id"));
    json_object_set(f, "result", json_object_get(item, "result"));
    if (json_object_get(item, "detail"))
        json_object_set(f, "detail", json_object_get(item, "detail"));
    if (json_object_get(item, "result") &&
        strcmp(json_string_value(json_object_get(item, "result")), "deduplicated") == 0)
        json_object_set_new(f, "dedupe", json_string("duplicate"));
    iha_events_update(r->p->events, id, f);
    pthread_mutex_unlock(&r->lock);
    json_decref(f);
}

static void event_set(struct iha_pipeline *p, const char *id, const char *result, const char *k2,
                      json_t *v2)
{
    json_t *f = json_pack("{s:s}", "result", result);

    if (f && k2 && v2)
        json_object_set(f, k2, v2);
    json_decref(v2);
    if (f)
        iha_events_update(p->events, id, f);
    json_decref(f);
}

/*
 * The gateway id in the answer to a native sender, also when Instance HA's own answer
 * is passed through: in every object member of @p body ({"notification": {...}} or a
 * fault {"conflictingRequest": {...}}).
 */
static void tag_gateway_id(json_t *body, const char *id)
{
    const char *k;
    json_t *v;

    if (!json_is_object(body) || !id || !*id)
        return;
    json_object_foreach(body, k, v)
    {
        if (json_is_object(v) && !json_object_get(v, "gateway_id"))
            json_object_set_new(v, "gateway_id", json_string(id));
    }
}

static void request_free(struct request *r)
{
    if (!r)
        return;
    json_decref(r->results);
    json_decref(r->native_body);
    pthread_mutex_destroy(&r->lock);
    free(r);
}

static struct request *request_new(struct iha_pipeline *p, enum iha_source source,
                                   iha_reply_fn reply, void *cls)
{
    struct request *r = calloc(1, sizeof(*r));

    if (!r)
        return NULL;
    r->results = json_array();
    if (!r->results || pthread_mutex_init(&r->lock, NULL) != 0) {
        json_decref(r->results);
        free(r);
        return NULL;
    }
    r->p = p;
    r->source = source;
    r->reply = reply;
    r->reply_cls = cls;
    r->pending = 1;
    return r;
}

/*
 * The answer to Alertmanager (and Nagios): 503 when anything could not be stored (it
 * retries 5xx only), else 200. What was stored is the queue's to deliver.
 */
static void answer_alertmanager(struct request *r)
{
    size_t i, n_retry = 0, n_queued = 0, n_dropped = 0, n_dup = 0;
    json_t *item;
    unsigned status = 200;
    json_t *body;

    json_array_foreach(r->results, i, item)
    {
        const char *res = json_string_value(json_object_get(item, "result"));
        if (!res)
            continue;
        if (strcmp(res, "retry") == 0)
            n_retry++;
        else if (strcmp(res, "dropped") == 0)
            n_dropped++;
        else if (strcmp(res, "deduplicated") == 0)
            n_dup++;
        else
            n_queued++;
    }
    if (n_retry)
        status = 503;
    body = json_pack("{s:s,s:{s:I,s:I,s:I,s:I},s:O}", "status", n_retry ? "retry" : "success",
                     "counts", "queued", (json_int_t)n_queued, "deduplicated", (json_int_t)n_dup,
                     "dropped", (json_int_t)n_dropped, "retry", (json_int_t)n_retry, "results",
                     r->results);
    r->reply(r->reply_cls, body ? status : 503, body ? body : json_object());
}

static json_t *fault(const char *name, long code, const char *message)
{
    return json_pack("{s:{s:I,s:s}}", name, "code", (json_int_t)code, "message", message);
}

static void answer_native(struct request *r)
{
    json_t *body = r->native_body;
    long code = r->native_code ? r->native_code : 503;

    r->native_body = NULL;
    if (!body)
        body = fault("serviceUnavailable", 503, "the notification could not be stored; retry");
    r->reply(r->reply_cls, (unsigned)code, body ? body : json_object());
}

/* Drops one pending reference; the last one answers and frees the request. */
static void request_release(struct request *r)
{
    bool last;

    pthread_mutex_lock(&r->lock);
    last = --r->pending == 0;
    pthread_mutex_unlock(&r->lock);
    if (!last)
        return;
    if (r->source == IHA_SOURCE_NATIVE)
        answer_native(r);
    else
        answer_alertmanager(r);
    request_free(r);
}

static void set_str(json_t *o, const char *k, const char *v)
{
    if (v && *v)
        json_object_set_new(o, k, json_string(v));
}

static void set_result(json_t *item, const char *result, const char *detail)
{
    json_object_set_new(item, "result", json_string(result));
    set_str(item, "detail", detail);
}

/* ---- records in the queue ---- */

static json_t *record_new(const struct iha_notification *n, enum iha_source source,
                          long long received_ms)
{
    char at[IHA_TIME_LEN];

    iha_time_format((time_t)(received_ms / 1000), at);
    return json_pack("{s:s,s:s,s:s,s:s,s:O,s:s,s:s,s:I,s:s}", "id", n->id, "rule", n->rule, "type",
                     iha_ntype_name(n->type, IHA_DIALECT_MASAKARI), "hostname", n->hostname,
                     "payload", n->payload, "generated_time", n->generated_time, "received_at", at,
                     "received_ms", (json_int_t)received_ms, "source", iha_source_name(source));
}

static const char *jstr(const json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : "";
}

static enum iha_rc record_to_notification(const json_t *rec, struct iha_notification *n)
{
    iha_notification_init(n);
    if (iha_ntype_parse(jstr(rec, "type"), &n->type) != 0 ||
        !json_is_object(json_object_get(rec, "payload")))
        return IHA_E_PARSE;
    snprintf(n->hostname, sizeof(n->hostname), "%s", jstr(rec, "hostname"));
    snprintf(n->generated_time, sizeof(n->generated_time), "%s", jstr(rec, "generated_time"));
    snprintf(n->id, sizeof(n->id), "%s", jstr(rec, "id"));
    snprintf(n->rule, sizeof(n->rule), "%s", jstr(rec, "rule"));
    n->payload = json_deep_copy(json_object_get(rec, "payload"));
    return n->payload ? IHA_OK : IHA_E_NOMEM;
}

/* ---- delivery of queue entries ---- */

static json_t *queued_body(const struct iha_notification *n, uint64_t seq)
{
    return json_pack("{s:{s:s,s:s,s:s,s:O,s:s,s:s,s:I}}", "notification", "type",
                     iha_ntype_name(n->type, IHA_DIALECT_MASAKARI), "hostname", n->hostname,
                     "generated_time", n->generated_time, "payload", n->payload, "status", "queued",
                     "gateway_id", n->id, "queue_seq", (json_int_t)seq);
}

/*
 * Instance HA's 403: its policy (os_masakari_api:notifications:create, admin only) refuses
 * the gateway's service user. Unlike a 401 (re-authenticated and retried) this is final:
 * delivery stops and on_done() dead-letters the entry. 503 rather than Instance HA's 403:
 * the sender's request was fine, the gateway's own credentials are not.
 */
static json_t *forbidden_fault(const struct iha_notification *n, const char *detail)
{
    char msg[1024];

    snprintf(msg, sizeof(msg),
             "the gateway's service user is not allowed to create notifications: Instance HA "
             "answered 403 \"%s\"; the notification was dead-lettered (give the service user "
             "the admin role, then run: iha-gateway deadletter requeue %s)",
             detail, n->id);
    return fault("serviceUnavailable", 503, msg);
}

/*
 * The native sender's answer. A final first answer from Instance HA is passed through
 * (202 with its body, 409, 400); a 403 is answered 503 (forbidden_fault()); anything
 * else means the queue keeps trying, which is a 202 with the queued notification: the
 * sender must not retry what is stored.
 */
static void native_settle(struct request *r, json_t *item, const struct iha_notification *n,
                          uint64_t seq, const struct iha_delivery_result *res)
{
    json_t *body = NULL;
    long code = 202;

    switch (res->outcome) {
    case IHA_OUTCOME_DELIVERED:
    case IHA_OUTCOME_DUPLICATE:
    case IHA_OUTCOME_MAINTENANCE:
    case IHA_OUTCOME_REJECTED:
        if (res->cancelled || res->attempts == 0)
            break;
        code = res->http_code ? res->http_code : 502;
        if (res->response_body && *res->response_body)
            body = json_loads(res->response_body, 0, NULL);
        if (!body)
            body = fault(res->http_code < 300 ? "notification" : "badRequest", code, res->detail);
        break;
    case IHA_OUTCOME_AUTH_ERROR:
        if (res->cancelled || res->attempts == 0 || res->http_code != 403)
            break; /* a 401 is retried after a new token */
        code = 503;
        body = forbidden_fault(n, res->detail);
        break;
    case IHA_OUTCOME_RETRY:
        break;
    }
    if (!body) {
        code = 202;
        body = queued_body(n, seq);
    }
    tag_gateway_id(body, n->id);
    pthread_mutex_lock(&r->lock);
    json_decref(r->native_body);
    r->native_body = body;
    r->native_code = code;
    set_result(
        item, code == 202 && !res->notification_uuid[0] ? "queued" : iha_outcome_name(res->outcome),
        res->detail);
    pthread_mutex_unlock(&r->lock);
    request_release(r);
}

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
        native_settle(r, item, &f->n, f->seq, res);
}

/*
 * Answers every native sender still waiting for a first attempt: its notification is
 * stored and stays queued for the next start, so the truth is 202 "queued". Under
 * native_lock, which keeps each flight alive until its sender is answered.
 */
static void native_stop_all(struct iha_pipeline *p)
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
            native_settle(r, item, &f->n, f->seq, &res);
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
    key_end(f->p, &f->key_held, f->key, false);
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
        key_end(p, &f->key_held, f->key, false);
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
    key_end(p, &f->key_held, f->key, true);
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
        long long ms = wall_ms() - f->received_ms;
        iha_metrics_observe(p->metrics, "iha_gateway_delivery_latency_seconds",
                            ms > 0 ? (double)ms / 1000.0 : 0.0);
        if (marker == IHA_QREC_DEAD)
            iha_metrics_add(p->metrics, "iha_gateway_notifications_dead_lettered_total", 1);
    }
    if (marker == IHA_QREC_DEAD && p->events)
        event_set(p, f->n.id, "dead", "reason", json_string(reason));
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
static void start_flight(struct iha_pipeline *p, uint64_t seq, const char *key,
                         const struct iha_notification *n, long long received_ms,
                         struct request *native, json_t *item, bool *key_held)
{
    struct flight *f = calloc(1, sizeof(*f));
    long long age = wall_ms() - received_ms;
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
            native_settle(r, it, n, seq, &res);
    }
    flight_free(f);
}

/* ---- storing ---- */

/* The list of notifications being stored; callers hold p->storing_lock. */
static void storing_add(struct iha_pipeline *p, struct stored *st)
{
    st->prev = NULL;
    st->next = p->storing;
    if (p->storing)
        p->storing->prev = st;
    p->storing = st;
}

static struct stored *storing_find(struct iha_pipeline *p, const char *key)
{
    for (struct stored *st = p->storing; st; st = st->next)
        if (strcmp(st->key, key) == 0)
            return st;
    return NULL;
}

/*
 * Takes @p st off the list (ending its dedupe key when the push @p failed, under the
 * same lock so no duplicate joins a failed entry) and moves its waiters to @p out.
 * @return the number of waiters.
 */
static size_t storing_end(struct stored *st, bool failed, struct waiter out[WAITERS_MAX])
{
    struct iha_pipeline *p = st->p;
    size_t n;

    pthread_mutex_lock(&p->storing_lock);
    if (st->prev)
        st->prev->next = st->next;
    else if (p->storing == st)
        p->storing = st->next;
    if (st->next)
        st->next->prev = st->prev;
    st->prev = st->next = NULL;
    if (failed)
        key_end(p, &st->key_held, st->key, false);
    n = st->n_waiters;
    memcpy(out, st->waiters, n * sizeof(*out));
    st->n_waiters = 0;
    pthread_mutex_unlock(&p->storing_lock);
    return n;
}

/* Frees @p st, ending its dedupe key unless it was ended or handed to a flight. */
static void stored_free(struct stored *st)
{
    key_end(st->p, &st->key_held, st->key, false);
    iha_notification_clear(&st->n);
    free(st);
}

/* Records in @p item (and a native answer) that @p n duplicates a queued or delivered one. */
static void set_duplicate(struct request *r, json_t *item, const struct iha_notification *n,
                          const char *id, bool inflight)
{
    set_result(item, "deduplicated",
               inflight ? "an equal notification is queued for delivery"
                        : "equal notification delivered within the dedupe window");
    if (r->source == IHA_SOURCE_NATIVE) {
        char msg[384];
        snprintf(msg, sizeof(msg), "Notification received from host %s of type %s is duplicate.",
                 n->hostname, iha_ntype_name(n->type, IHA_DIALECT_MASAKARI));
        json_decref(r->native_body);
        r->native_body = fault("conflictingRequest", 409, msg);
        tag_gateway_id(r->native_body, id);
        r->native_code = 409;
    }
}

/*
 * Answers the duplicates that waited for @p n: "deduplicated" once it is stored
 * (@p rc IHA_OK), else "retry" with @p why — they were told nothing was stored.
 */
static void release_waiters(struct iha_pipeline *p, const struct iha_notification *n,
                            const struct waiter *w, size_t nw, enum iha_rc rc, const char *why)
{
    char detail[512];

    snprintf(detail, sizeof(detail), "an equal notification could not be stored: %s",
             why && *why ? why : iha_rc_str(rc));
    for (size_t i = 0; i < nw; i++) {
        struct request *r = w[i].req;

        pthread_mutex_lock(&r->lock);
        if (rc == IHA_OK) {
            set_duplicate(r, w[i].item, n, json_string_value(json_object_get(w[i].item, "id")),
                          true);
        } else {
            set_result(w[i].item, "retry", detail);
            if (r->source == IHA_SOURCE_NATIVE) {
                json_decref(r->native_body);
                r->native_body = fault("serviceUnavailable", 503, detail);
                tag_gateway_id(r->native_body, json_string_value(json_object_get(w[i].item, "id")));
                r->native_code = 503;
            }
        }
        pthread_mutex_unlock(&r->lock);
        if (rc == IHA_OK && p->metrics)
            iha_metrics_add(p->metrics, "iha_gateway_notifications_deduplicated_total", 1);
        event_sync(r, w[i].item);
        request_release(r);
    }
}

static void on_stored(void *cls, enum iha_rc rc, uint64_t seq, const char *why)
{
    struct stored *st = cls;
    struct request *r = st->req;
    struct iha_pipeline *p = st->p;
    struct waiter w[WAITERS_MAX];
    size_t nw = storing_end(st, rc != IHA_OK, w);
    char s[24];

    snprintf(s, sizeof(s), "%llu", (unsigned long long)seq);
    if (rc != IHA_OK) {
        if (r) {
            pthread_mutex_lock(&r->lock);
            set_result(st->item, "retry", why);
            if (r->source == IHA_SOURCE_NATIVE) {
                json_decref(r->native_body);
                r->native_body = fault("serviceUnavailable", 503, why);
                r->native_code = 503;
            }
            pthread_mutex_unlock(&r->lock);
            request_release(r);
        }
        release_waiters(p, &st->n, w, nw, rc, why);
        if (p->events)
            event_set(p, st->n.id, "retry", "detail", json_string(why ? why : ""));
        IHA_LOG(IHA_LOG_WARN, "notification not stored; the sender is answered 503", "id", st->n.id,
                "host", st->n.hostname, "detail", why);
        stored_free(st);
        return;
    }
    IHA_LOG(IHA_LOG_INFO, "notification queued", "id", st->n.id, "seq", s, "rule", st->n.rule,
            "host", st->n.hostname, "type", iha_ntype_name(st->n.type, IHA_DIALECT_MASAKARI),
            "generated_time", st->n.generated_time);
    if (r && p->metrics)
        iha_metrics_add(p->metrics, "iha_gateway_notifications_queued_total", 1);
    if (r && p->events) {
        json_t *f = json_pack("{s:s,s:s,s:I}", "result", "queued", "dedupe", "new", "queue_seq",
                              (json_int_t)seq);
        if (f)
            iha_events_update(p->events, st->n.id, f);
        json_decref(f);
    }
    if (r) {
        pthread_mutex_lock(&r->lock);
        set_result(st->item, "queued", "stored durably; delivery continues in the background");
        json_object_set_new(st->item, "queue_seq", json_integer((json_int_t)seq));
        pthread_mutex_unlock(&r->lock);
        if (r->source == IHA_SOURCE_NATIVE) {
            /* The flight answers it after the first attempt. */
            start_flight(p, seq, st->key, &st->n, st->received_ms, r, st->item, &st->key_held);
        } else {
            start_flight(p, seq, st->key, &st->n, st->received_ms, NULL, NULL, &st->key_held);
            request_release(r);
        }
    }
    release_waiters(p, &st->n, w, nw, IHA_OK, NULL);
    stored_free(st);
}

/*
 * Dedupe, then store. @return true when the queue owns the completion; false when
 * the outcome was decided here and recorded in @p item.
 */
static bool submit(struct request *r, struct iha_notification *n, json_t *item)
{
    struct iha_pipeline *p = r->p;
    struct stored *st = calloc(1, sizeof(*st)), *owner = NULL;
    struct waiter w[WAITERS_MAX];
    enum iha_dedupe_verdict verdict = IHA_DEDUPE_NEW;
    json_t *rec = NULL;
    uint64_t seq = 0;
    enum iha_rc rc;
    bool joined = false;
    const char *why;
    size_t nw;

    if (!st) {
        set_result(item, "retry", "out of memory");
        return false;
    }
    st->p = p;
    if (iha_notification_key(n, st->key, sizeof(st->key)) != IHA_OK) {
        set_result(item, "dropped", "notification too large");
        free(st);
        return false;
    }
    pthread_mutex_lock(&p->storing_lock);
    rc = iha_dedupe_begin(p->dedupe, st->key, iha_clock_ms(), time(NULL), n->generated_time,
                          &verdict);
    if (rc == IHA_OK && verdict == IHA_DEDUPE_NEW) {
        st->key_held = true;
        storing_add(p, st);
    } else if (rc == IHA_OK && verdict == IHA_DEDUPE_INFLIGHT) {
        /* Not durable yet: the answer waits for its storage, whatever that turns out. */
        owner = storing_find(p, st->key);
        if (owner && owner->n_waiters < WAITERS_MAX) {
            owner->waiters[owner->n_waiters].req = r;
            owner->waiters[owner->n_waiters].item = item;
            owner->n_waiters++;
            pthread_mutex_lock(&r->lock);
            r->pending++;
            pthread_mutex_unlock(&r->lock);
            joined = true;
        }
    }
    pthread_mutex_unlock(&p->storing_lock);
    if (rc != IHA_OK) {
        set_result(item, "retry", "dedupe table full of notifications in flight");
        free(st);
        return false;
    }
    if (verdict != IHA_DEDUPE_NEW) {
        bool inflight = verdict == IHA_DEDUPE_INFLIGHT;
        free(st);
        IHA_LOG(IHA_LOG_INFO,
                joined  ? "notification deduplicated; answered once the equal one is stored"
                : owner ? "notification not deduplicated: too many requests wait for the equal "
                          "one being stored; the sender is answered 503"
                        : "notification deduplicated",
                "id", n->id, "rule", n->rule, "host", n->hostname, "type",
                iha_ntype_name(n->type, IHA_DIALECT_MASAKARI), "state",
                inflight ? (owner ? "storing" : "queued") : "delivered");
        if (joined)
            return true;
        if (owner) {
            set_result(item, "retry",
                       "busy: too many requests wait for an equal notification being stored");
            return false;
        }
        if (p->metrics)
            iha_metrics_add(p->metrics, "iha_gateway_notifications_deduplicated_total", 1);
        set_duplicate(r, item, n, n->id, inflight);
        return false;
    }
    if (!n->generated_time[0])
        iha_time_format(time(NULL), n->generated_time);
    set_str(item, "generated_time", n->generated_time);
    st->req = r;
    st->item = item;
    st->received_ms = wall_ms();
    rc = iha_notification_copy(&st->n, n);
    if (rc == IHA_OK) {
        rec = record_new(n, r->source, st->received_ms);
        rc = rec ? IHA_OK : IHA_E_NOMEM;
    }
    if (rc == IHA_OK) {
        pthread_mutex_lock(&r->lock);
        r->pending++;
        pthread_mutex_unlock(&r->lock);
        rc = iha_queue_push(p->queue, rec, on_stored, st, &seq);
        if (rc != IHA_OK) {
            pthread_mutex_lock(&r->lock);
            r->pending--;
            pthread_mutex_unlock(&r->lock);
        }
    }
    json_decref(rec);
    if (rc == IHA_OK)
        return true;
    nw = storing_end(st, true, w);
    if (rc == IHA_E_INVAL) {
        why = "notification too large for the queue";
        set_result(item, "dropped", why);
    } else {
        why = rc == IHA_E_LIMIT ? "queue full (storage.max_entries or storage.max_bytes)"
                                : "out of memory";
        set_result(item, "retry", why);
        IHA_LOG(IHA_LOG_WARN, "notification not queued; the sender is answered 503", "id", n->id,
                "host", n->hostname, "reason", rc == IHA_E_LIMIT ? "queue full" : iha_rc_str(rc));
    }
    release_waiters(p, n, w, nw, rc, why);
    stored_free(st);
    return false;
}

static json_t *item_new(const struct iha_notification *n)
{
    json_t *item = json_object();

    if (!item)
        return NULL;
    set_str(item, "id", n->id);
    set_str(item, "rule", n->rule);
    set_str(item, "type", iha_ntype_name(n->type, IHA_DIALECT_MASAKARI));
    set_str(item, "hostname", n->hostname);
    if (n->payload)
        json_object_set(item, "payload", n->payload);
    return item;
}

/*
 * An alert the adapter could not read (malformed, a label over the limit) is dropped
 * alone, reported like a mapping drop: the answer, the log, the metric, the event.
 */
static void drop_unread(struct request *r, size_t i, const struct iha_alert *a, enum iha_rc rc,
                        const struct iha_err *aerr)
{
    char reason[sizeof(aerr->field) + sizeof(aerr->msg) + 2];
    json_t *item;

    if (rc == IHA_E_NOMEM) {
        item = json_pack("{s:I,s:s,s:s}", "alert", (json_int_t)i, "result", "retry", "detail",
                         "out of memory while reading the alert");
        if (item)
            json_array_append_new(r->results, item);
        return;
    }
    snprintf(reason, sizeof(reason), "%s: %s", aerr->field, aerr->msg);
    IHA_LOG(IHA_LOG_INFO, "alert dropped", "alert", iha_alert_label(a, "alertname"), "fingerprint",
            a->fingerprint, "field", aerr->field, "reason", reason);
    if (r->p->metrics)
        iha_metrics_add(r->p->metrics, "iha_gateway_alerts_dropped_total", 1,
                        iha_drop_name(rc == IHA_E_LIMIT ? IHA_DROP_OVER_LIMIT : IHA_DROP_MALFORMED),
                        "");
    item = json_pack("{s:I,s:s,s:s,s:s}", "alert", (json_int_t)i, "result", "dropped", "reason",
                     reason, "field", aerr->field);
    if (!item)
        return;
    set_str(item, "alertname", iha_alert_label(a, "alertname"));
    set_str(item, "fingerprint", a->fingerprint);
    pthread_mutex_lock(&r->lock);
    json_array_append_new(r->results, item);
    pthread_mutex_unlock(&r->lock);
    event_add(r, item);
}

static enum iha_rc handle_alerts(struct request *r, const json_t *body, struct iha_err *err)
{
    struct iha_alert *alerts = NULL, one;
    size_t n_alerts = 0, truncated = 0;
    bool am = r->source == IHA_SOURCE_ALERTMANAGER;
    enum iha_rc rc;

    /* Alertmanager's alerts are read one at a time: memory does not grow with the group. */
    if (am)
        rc = iha_alertmanager_open(body, &n_alerts, &truncated, err);
    else
        rc = iha_nagios_parse(body, &alerts, &n_alerts, err);
    /* Too many alerts or labels will never fit: a 4xx, not a 503 retried forever. */
    if (rc == IHA_E_LIMIT)
        rc = IHA_E_INVAL;
    if (rc != IHA_OK)
        return rc;
    if (truncated) {
        char count[24];

        /* They never reach the gateway: max_alerts is set below the group's size. */
        snprintf(count, sizeof(count), "%zu", truncated);
        IHA_LOG(IHA_LOG_WARN, "Alertmanager left alerts of this group out (max_alerts)",
                "truncated_alerts", count, "group_key",
                json_string_value(json_object_get(body, "groupKey")));
    }
    iha_alert_init(&one, IHA_SOURCE_ALERTMANAGER);
    for (size_t i = 0; i < n_alerts; i++) {
        struct iha_map_result mr = {0};
        const struct iha_alert *a = &one;

        if (am) {
            struct iha_err aerr = {0};

            iha_alert_clear(&one);
            rc = iha_alertmanager_read(body, i, &one, &aerr);
            if (rc != IHA_OK) {
                drop_unread(r, i, &one, rc, &aerr);
                continue;
            }
        } else {
            a = &alerts[i];
        }

        if (r->p->metrics)
            iha_metrics_add(r->p->metrics, "iha_gateway_alerts_received_total", 1,
                            iha_source_name(r->source), iha_alert_status_name(a->status));
        if (iha_mapping_apply(r->p->rules, a, &mr) != IHA_OK) {
            json_t *item = json_pack("{s:I,s:s,s:s}", "alert", (json_int_t)i, "result", "retry",
                                     "detail", "out of memory while mapping");
            if (item)
                json_array_append_new(r->results, item);
            continue;
        }
        for (size_t k = 0; k < mr.n; k++) {
            struct iha_map_outcome *o = &mr.items[k];
            json_t *item;

            if (o->dropped) {
                IHA_LOG(IHA_LOG_INFO, "alert dropped", "alert", iha_alert_name(a), "status",
                        iha_alert_status_name(a->status), "fingerprint", a->fingerprint, "rule",
                        o->rule, "reason", o->reason);
                item = json_pack("{s:s,s:s}", "result", "dropped", "reason", o->reason);
                if (item && o->rule[0])
                    set_str(item, "rule", o->rule);
                if (r->p->metrics)
                    iha_metrics_add(r->p->metrics, "iha_gateway_alerts_dropped_total", 1,
                                    iha_drop_name(o->why), o->rule);
            } else {
                item = item_new(&o->notif);
                if (r->p->metrics)
                    iha_metrics_add(r->p->metrics, "iha_gateway_alerts_mapped_total", 1,
                                    o->notif.rule[0] ? o->notif.rule : o->rule);
            }
            if (!item)
                continue;
            json_object_set_new(item, "alert", json_integer((json_int_t)i));
            set_str(item, "alertname", iha_alert_label(a, "alertname"));
            set_str(item, "status", iha_alert_status_name(a->status));
            set_str(item, "fingerprint", a->fingerprint);
            /* The results array holds the item before a completion can touch it. */
            pthread_mutex_lock(&r->lock);
            json_array_append_new(r->results, item);
            pthread_mutex_unlock(&r->lock);
            /* The event exists before the queue or delivery can update it. */
            event_add(r, item);
            if (!o->dropped && !submit(r, &o->notif, item))
                event_sync(r, item);
        }
        iha_map_result_clear(&mr);
    }
    iha_alert_clear(&one);
    iha_nagios_free(alerts, n_alerts);
    return IHA_OK;
}

static enum iha_rc handle_native(struct request *r, const json_t *body, struct iha_err *err)
{
    struct iha_notification n;
    json_t *item;
    enum iha_rc rc;

    rc = iha_native_parse(body, &n, err);
    if (rc != IHA_OK)
        return rc;
    iha_id_new(n.id);
    if (r->p->metrics)
        iha_metrics_add(r->p->metrics, "iha_gateway_alerts_received_total", 1, "native",
                        "notification");
    item = item_new(&n);
    if (!item || json_array_append_new(r->results, item) != 0) {
        iha_notification_clear(&n);
        return IHA_E_NOMEM;
    }
    event_add(r, item);
    if (!submit(r, &n, item)) {
        event_sync(r, item);
        if (!r->native_body) {
            /* Refused before storing (queue full, out of memory): the sender should retry. */
            r->native_code = 503;
            r->native_body = fault("serviceUnavailable", 503,
                                   json_string_value(json_object_get(item, "detail")));
            tag_gateway_id(r->native_body, n.id);
        }
    }
    iha_notification_clear(&n);
    return IHA_OK;
}

enum iha_rc iha_pipeline_handle(struct iha_pipeline *p, enum iha_source source, const json_t *body,
                                iha_reply_fn reply, void *cls, struct iha_err *err)
{
    struct request *r;
    enum iha_rc rc;
    enum iha_redelivery_outcome seen = IHA_REDELIVERY_NEW;

    /*
     * A re-sent Nagios record already answered 2xx gets that answer again, with no POST.
     * Its ttl is a window: monotonic seconds, so a stepped wall clock does not stretch it.
     */
    if (source == IHA_SOURCE_NAGIOS &&
        (rc = iha_redelivery_begin(p->redelivery, body, (time_t)(iha_clock_ms() / 1000u), &reply,
                                   &cls, &seen)) != IHA_OK)
        return rc;
    if (seen == IHA_REDELIVERY_REPLAYED)
        return IHA_OK;
    if (seen == IHA_REDELIVERY_DIFFERENT)
        IHA_LOG(IHA_LOG_WARN, "record id already answered for a different record; processing it",
                "record_id", json_string_value(json_object_get(body, "record_id")), "host",
                json_string_value(json_object_get(body, "hostname")));
    adopt_rules(p);
    r = request_new(p, source, reply, cls);
    if (!r) {
        iha_redelivery_cancel(reply, cls);
        return IHA_E_NOMEM;
    }
    if (source == IHA_SOURCE_NATIVE)
        rc = handle_native(r, body, err);
    else if (source == IHA_SOURCE_ALERTMANAGER || source == IHA_SOURCE_NAGIOS)
        rc = handle_alerts(r, body, err);
    else
        rc = IHA_E_INVAL;
    if (rc != IHA_OK) {
        /* Nothing was submitted: the request can go without an answer from us. */
        request_free(r);
        iha_redelivery_cancel(reply, cls);
        return rc;
    }
    request_release(r);
    return IHA_OK;
}

/* ---- recovery and control ---- */

struct live_copy {
    uint64_t seq;
    json_t *record;
};

struct live_list {
    struct live_copy *v;
    size_t n, cap;
};

static void collect(void *cls, const struct iha_queue_item *it)
{
    struct live_list *l = cls;

    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        struct live_copy *v = realloc(l->v, cap * sizeof(*v));
        if (!v)
            return;
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n].seq = it->seq;
    l->v[l->n].record = json_deep_copy(it->record);
    if (l->v[l->n].record)
        l->n++;
}

/* Hands the live entry to delivery, registering its key in dedupe first. */
static void resume_one(struct iha_pipeline *p, uint64_t seq, const json_t *rec)
{
    struct iha_notification n;
    char key[KEY_MAX], gt[IHA_TIME_LEN];
    enum iha_dedupe_verdict v;
    bool held;
    json_int_t received = json_integer_value(json_object_get(rec, "received_ms"));

    if (record_to_notification(rec, &n) != IHA_OK ||
        iha_notification_key(&n, key, sizeof(key)) != IHA_OK) {
        char s[24];
        snprintf(s, sizeof(s), "%llu", (unsigned long long)seq);
        IHA_LOG(IHA_LOG_ERROR, "queue: unreadable notification record; dead-lettering it", "seq",
                s);
        json_t *info = json_pack("{s:s}", "reason", "unreadable queue record");
        IHA_IGNORE(iha_queue_complete(p->queue, seq, IHA_QREC_DEAD, info),
                   "not ended: it stays live and is reported again at the next start");
        json_decref(info);
        iha_notification_clear(&n);
        return;
    }
    snprintf(gt, sizeof(gt), "%s", n.generated_time);
    /* Without a table entry (full) delivery goes on; repeats are then not joined to it. */
    held = iha_dedupe_begin(p->dedupe, key, iha_clock_ms(), time(NULL), gt, &v) == IHA_OK &&
           v == IHA_DEDUPE_NEW;
    start_flight(p, seq, key, &n, received ? (long long)received : wall_ms(), NULL, NULL, &held);
    key_end(p, &held, key, false);
    iha_notification_clear(&n);
}

size_t iha_pipeline_resume(struct iha_pipeline *p)
{
    struct live_list l = {0};

    iha_queue_foreach(p->queue, collect, &l);
    for (size_t i = 0; i < l.n; i++) {
        resume_one(p, l.v[i].seq, l.v[i].record);
        json_decref(l.v[i].record);
    }
    free(l.v);
    return l.n;
}

static void grab_record(void *cls, const struct iha_queue_item *it)
{
    json_t **out = cls;

    *out = json_deep_copy(it->record);
}

/* Finds the newest dead-letter line for @p id that has not been requeued. */
static json_t *find_deadletter(struct iha_pipeline *p, const char *id, bool *requeued)
{
    char path[4096], *line = NULL;
    size_t cap = 0;
    ssize_t len;
    json_t *found = NULL;
    FILE *f;

    *requeued = false;
    iha_queue_deadletter_path(iha_queue_dir(p->queue), path, sizeof(path));
    f = fopen(path, "re");
    if (!f)
        return NULL;
    while ((len = getline(&line, &cap, f)) > 0) {
        json_t *j;
        if ((size_t)len > DEADLETTER_LINE_MAX)
            continue;
        j = json_loadb(line, (size_t)len, 0, NULL);
        if (!j)
            continue;
        if (strcmp(jstr(j, "requeued"), id) == 0) {
            *requeued = true;
        } else if (strcmp(jstr(j, "id"), id) == 0 && json_object_get(j, "notification")) {
            json_decref(found);
            found = json_incref(j);
            *requeued = false;
        }
        json_decref(j);
    }
    free(line);
    fclose(f);
    return found;
}

/* The operator's answer when the requeued notification could not be stored. */
static const char *requeue_refusal(enum iha_rc rc)
{
    switch (rc) {
    case IHA_E_LIMIT:
        return "queue full (storage.max_entries or storage.max_bytes)";
    case IHA_E_INVAL:
        return "too large for the queue";
    case IHA_E_NOMEM:
        return "out of memory";
    default:
        return "it could not be stored";
    }
}

/*
 * Queues a dead-lettered notification again. The answer is written once the record is
 * durable (or has failed): "requeued" is only ever said of a stored notification.
 */
static bool control_requeue(struct iha_pipeline *p, const char *id, char *answer, size_t size)
{
    bool requeued, held = false, ok = false;
    json_t *dl = find_deadletter(p, id, &requeued), *rec = NULL, *note = NULL;
    struct iha_notification n;
    enum iha_dedupe_verdict v;
    char key[KEY_MAX] = "", why[256] = "";
    long long received_ms = wall_ms();
    uint64_t seq = 0;
    enum iha_rc rc;

    iha_notification_init(&n);
    if (!dl) {
        snprintf(answer, size, "no dead-lettered notification %s", id);
        goto out;
    }
    if (requeued) {
        snprintf(answer, size, "%s was requeued already", id);
        goto out;
    }
    if (record_to_notification(json_object_get(dl, "notification"), &n) != IHA_OK) {
        snprintf(answer, size, "the dead-letter record of %s is unreadable", id);
        goto out;
    }
    /* A new notification to Instance HA: fresh id and generated_time (24 h expiry). */
    iha_id_new(n.id);
    iha_time_format(time(NULL), n.generated_time);
    if (iha_notification_key(&n, key, sizeof(key)) != IHA_OK) {
        snprintf(answer, size, "%s not requeued: %s", id, requeue_refusal(IHA_E_INVAL));
        goto out;
    }
    /*
     * The operator's requeue goes ahead whatever the verdict (the dead letter itself is
     * remembered like a delivery); only a key begun here is ours to end.
     */
    held = iha_dedupe_begin(p->dedupe, key, iha_clock_ms(), time(NULL), n.generated_time, &v) ==
               IHA_OK &&
           v == IHA_DEDUPE_NEW;
    rec = record_new(&n, IHA_SOURCE_NATIVE, received_ms);
    if (rec)
        json_object_set_new(rec, "requeued_from", json_string(id));
    rc = rec ? iha_queue_push_durable(p->queue, rec, &seq, why, sizeof(why)) : IHA_E_NOMEM;
    if (rc != IHA_OK) {
        snprintf(answer, size, "%s not requeued: %s%s%s", id, requeue_refusal(rc),
                 why[0] ? ": " : "", why);
        IHA_LOG(IHA_LOG_ERROR, "requeue not stored", "id", id, "detail", answer);
        goto out;
    }
    ok = true;
    snprintf(answer, size, "%s requeued as %s (queue seq %llu)", id, n.id, (unsigned long long)seq);
    if (p->metrics)
        iha_metrics_add(p->metrics, "iha_gateway_notifications_queued_total", 1);
    if (p->events) {
        json_t *ev = json_pack("{s:s,s:s,s:s,s:s,s:O,s:s,s:s,s:I}", "source", "requeue", "id", n.id,
                               "type", iha_ntype_name(n.type, IHA_DIALECT_MASAKARI), "hostname",
                               n.hostname, "payload", n.payload, "rule", n.rule, "result", "queued",
                               "queue_seq", (json_int_t)seq);
        if (ev)
            iha_events_add_steal(p->events, ev);
    }
    start_flight(p, seq, key, &n, received_ms, NULL, NULL, &held);
    note = json_pack("{s:s,s:s,s:I}", "requeued", id, "as", n.id, "at_ms", (json_int_t)wall_ms());
    if (!note || iha_queue_deadletter_note(p->queue, note) != IHA_OK)
        snprintf(answer + strlen(answer), size - strlen(answer),
                 "; the requeue note could not be written");
out:
    key_end(p, &held, key, false);
    iha_notification_clear(&n);
    json_decref(note);
    json_decref(rec);
    json_decref(dl);
    return ok;
}

/* Does a live entry other than @c seq have the dedupe key @c key (so shares its job)? */
struct key_share {
    uint64_t seq;
    const char *key;
    bool shared;
};

static void find_key_share(void *cls, const struct iha_queue_item *it)
{
    struct key_share *ks = cls;
    struct iha_notification n;
    char key[KEY_MAX];

    if (ks->shared || it->seq == ks->seq)
        return;
    iha_notification_init(&n);
    if (record_to_notification(it->record, &n) == IHA_OK &&
        iha_notification_key(&n, key, sizeof(key)) == IHA_OK && strcmp(key, ks->key) == 0)
        ks->shared = true;
    iha_notification_clear(&n);
}

bool iha_pipeline_control(void *cls, const char *cmd, const char *id, char *answer, size_t size)
{
    struct iha_pipeline *p = cls;
    json_t *rec = NULL;
    struct iha_notification n;
    char key[KEY_MAX];
    uint64_t seq = 0;
    bool ok = false;
    enum iha_rc rc;

    if (strcmp(cmd, "requeue") == 0)
        return control_requeue(p, id, answer, size);
    if (strcmp(cmd, "retry") != 0 && strcmp(cmd, "drop") != 0) {
        snprintf(answer, size, "unknown command %s", cmd);
        return false;
    }
    rc = iha_queue_find(p->queue, id, &seq, grab_record, &rec);
    if (rc == IHA_E_LIMIT) {
        snprintf(answer, size, "%s (seq %llu) is not stored yet; retry the command in a moment", id,
                 (unsigned long long)seq);
        return false;
    }
    if (rc != IHA_OK || !rec) {
        snprintf(answer, size, "no queued notification %s", id);
        json_decref(rec);
        return false;
    }
    iha_notification_init(&n);
    if (record_to_notification(rec, &n) != IHA_OK ||
        iha_notification_key(&n, key, sizeof(key)) != IHA_OK) {
        snprintf(answer, size, "the record of %s is unreadable", id);
        goto out;
    }
    if (strcmp(cmd, "retry") == 0) {
        ok = iha_delivery_kick(p->delivery, key) == IHA_OK;
        snprintf(answer, size,
                 ok ? "%s (seq %llu) is being retried now"
                    : "%s (seq %llu) is not waiting for a retry; it is delivered "
                      "when the daemon starts",
                 n.id, (unsigned long long)seq);
        ok = true;
    } else {
        json_t *info = json_pack("{s:s}", "reason", "dropped by the operator");
        struct key_share ks = {.seq = seq, .key = key};
        /* With start_flight(): the job is either cancelled here or never started. */
        pthread_mutex_lock(&p->flight_lock);
        rc = iha_queue_complete(p->queue, seq, IHA_QREC_DROPPED, info);
        ok = rc == IHA_OK;
        if (ok) {
            /* Delivery jobs are per dedupe key: spare one another live entry shares. */
            iha_queue_foreach(p->queue, find_key_share, &ks);
            if (!ks.shared)
                IHA_IGNORE(iha_delivery_cancel(p->delivery, key),
                           "not found: not in delivery (yet), nothing to stop");
        }
        pthread_mutex_unlock(&p->flight_lock);
        json_decref(info);
        if (ok)
            IHA_LOG(IHA_LOG_WARN, "notification dropped by the operator", "id", n.id, "host",
                    n.hostname);
        snprintf(answer, size,
                 ok                  ? "%s (seq %llu) dropped"
                 : rc == IHA_E_LIMIT ? "%s (seq %llu) is not stored yet; retry the command in a "
                                       "moment"
                                     : "%s (seq %llu) could not be dropped",
                 n.id, (unsigned long long)seq);
    }
out:
    iha_notification_clear(&n);
    json_decref(rec);
    return ok;
}
