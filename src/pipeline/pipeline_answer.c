/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file pipeline_answer.c
 * @brief The answers to senders: a request suspended until its notifications are stored
 *        (or, native, have had a first attempt), rendered for Alertmanager and Nagios or in
 *        Instance HA's own words; and the status page's event for each outcome.
 *
 * Separate from ingest and storing: what a sender is told (status, counts, faults,
 * passed-through answers) is the contract with the sender, and reads best in one place;
 * the other parts only record outcomes in the request's items.
 */
#include "pipeline_int.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "events.h"

/* ---- events (status page) ---- */

/* Adds the event for one alert outcome: a copy of the sender's result item. */
void iha_pipeline_event_add(struct request *r, const json_t *item)
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
        json_object_set_new(ev, "result", json_string(iha_result_name(IHA_RESULT_STORING)));
    iha_events_add_steal(r->p->events, ev);
}

/* Copies the decision taken before storing (dedupe, refusal) from @p item to its event. */
void iha_pipeline_event_sync(struct request *r, const json_t *item)
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
    if (json_object_get(item, "result") && iha_result_of(item) == IHA_RESULT_DEDUPLICATED)
        json_object_set_new(f, "dedupe", json_string("duplicate"));
    iha_events_update(r->p->events, id, f);
    pthread_mutex_unlock(&r->lock);
    json_decref(f);
}

void iha_pipeline_event_set(struct iha_pipeline *p, const char *id, enum iha_result res,
                            const char *k2, json_t *v2)
{
    json_t *f = json_pack("{s:s}", "result", iha_result_name(res));

    if (f && k2 && v2)
        json_object_set(f, k2, v2);
    json_decref(v2);
    if (f)
        iha_events_update(p->events, id, f);
    json_decref(f);
}

/* ---- requests and their answers ---- */

/*
 * The gateway id in the answer to a native sender, also when Instance HA's own answer
 * is passed through: in every object member of @p body ({"notification": {...}} or a
 * fault {"conflictingRequest": {...}}).
 */
void iha_pipeline_tag_gateway_id(json_t *body, const char *id)
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

void iha_pipeline_request_free(struct request *r)
{
    if (!r)
        return;
    json_decref(r->results);
    json_decref(r->native_body);
    pthread_mutex_destroy(&r->lock);
    free(r);
}

struct request *iha_pipeline_request_new(struct iha_pipeline *p, enum iha_source source,
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
        if (!json_object_get(item, "result"))
            continue;
        switch (iha_result_of(item)) {
        case IHA_RESULT_RETRY:
            n_retry++;
            break;
        case IHA_RESULT_DROPPED:
            n_dropped++;
            break;
        case IHA_RESULT_DEDUPLICATED:
            n_dup++;
            break;
        default:
            n_queued++;
            break;
        }
    }
    if (n_retry)
        status = 503;
    body = json_pack("{s:s,s:{s:I,s:I,s:I,s:I},s:O}", "status", n_retry ? "retry" : "success",
                     "counts", "queued", (json_int_t)n_queued, "deduplicated", (json_int_t)n_dup,
                     "dropped", (json_int_t)n_dropped, "retry", (json_int_t)n_retry, "results",
                     r->results);
    r->reply(r->reply_cls, body ? status : 503, body ? body : json_object());
}

json_t *iha_pipeline_fault(const char *name, long code, const char *message)
{
    return json_pack("{s:{s:I,s:s}}", name, "code", (json_int_t)code, "message", message);
}

static void answer_native(struct request *r)
{
    json_t *body = r->native_body;
    long code = r->native_code ? r->native_code : 503;

    r->native_body = NULL;
    if (!body)
        body = iha_pipeline_fault("serviceUnavailable", 503,
                                  "the notification could not be stored; retry");
    r->reply(r->reply_cls, (unsigned)code, body ? body : json_object());
}

/* Drops one pending reference; the last one answers and frees the request. */
void iha_pipeline_request_release(struct request *r)
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
    iha_pipeline_request_free(r);
}

void iha_pipeline_set_str(json_t *o, const char *k, const char *v)
{
    if (v && *v)
        json_object_set_new(o, k, json_string(v));
}

static const char *const result_names[IHA_RESULT_COUNT] = {
    [IHA_RESULT_STORING] = "storing",
    [IHA_RESULT_QUEUED] = "queued",
    [IHA_RESULT_DEDUPLICATED] = "deduplicated",
    [IHA_RESULT_DROPPED] = "dropped",
    [IHA_RESULT_RETRY] = "retry",
    [IHA_RESULT_DEAD] = "dead",
    [IHA_RESULT_HELD] = "held",
    [IHA_RESULT_FLAPPED] = "flapped",
};

const char *iha_result_name(enum iha_result res)
{
    return (unsigned)res < IHA_RESULT_COUNT ? result_names[res] : "queued";
}

enum iha_result iha_result_of(const json_t *item)
{
    const char *s = json_string_value(json_object_get(item, "result"));

    for (int i = 0; s && i < IHA_RESULT_COUNT; i++)
        if (strcmp(s, result_names[i]) == 0)
            return (enum iha_result)i;
    return IHA_RESULT_QUEUED;
}

void iha_pipeline_set_result(json_t *item, enum iha_result res, const char *detail)
{
    json_object_set_new(item, "result", json_string(iha_result_name(res)));
    iha_pipeline_set_str(item, "detail", detail);
}

void iha_pipeline_result_append(struct request *r, json_t *item)
{
    pthread_mutex_lock(&r->lock);
    json_array_append_new(r->results, item);
    pthread_mutex_unlock(&r->lock);
}

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
    return iha_pipeline_fault("serviceUnavailable", 503, msg);
}

/*
 * The native sender's answer. A final first answer from Instance HA is passed through
 * (202 with its body, 409, 400); a 403 is answered 503 (forbidden_fault()); anything
 * else means the queue keeps trying, which is a 202 with the queued notification: the
 * sender must not retry what is stored.
 */
void iha_pipeline_native_settle(struct request *r, json_t *item, const struct iha_notification *n,
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
            body = iha_pipeline_fault(res->http_code < 300 ? "notification" : "badRequest", code,
                                      res->detail);
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
    iha_pipeline_tag_gateway_id(body, n->id);
    pthread_mutex_lock(&r->lock);
    json_decref(r->native_body);
    r->native_body = body;
    r->native_code = code;
    if (code == 202 && !res->notification_uuid[0]) {
        iha_pipeline_set_result(item, IHA_RESULT_QUEUED, res->detail);
    } else {
        /* Settled at Instance HA: the item says how, in the delivery outcome's own word. */
        json_object_set_new(item, "result", json_string(iha_outcome_name(res->outcome)));
        iha_pipeline_set_str(item, "detail", res->detail);
    }
    pthread_mutex_unlock(&r->lock);
    iha_pipeline_request_release(r);
}

/* Records in @p item (and a native answer) that @p n duplicates a queued or delivered one. */
void iha_pipeline_set_duplicate(struct request *r, json_t *item, const struct iha_notification *n,
                                const char *id, bool inflight)
{
    iha_pipeline_set_result(item, IHA_RESULT_DEDUPLICATED,
                            inflight ? "an equal notification is queued for delivery"
                                     : "equal notification delivered within the dedupe window");
    if (r->source == IHA_SOURCE_NATIVE) {
        char msg[384];
        snprintf(msg, sizeof(msg), "Notification received from host %s of type %s is duplicate.",
                 n->hostname, iha_ntype_name(n->type, IHA_DIALECT_MASAKARI));
        json_decref(r->native_body);
        r->native_body = iha_pipeline_fault("conflictingRequest", 409, msg);
        iha_pipeline_tag_gateway_id(r->native_body, id);
        r->native_code = 409;
    }
}
