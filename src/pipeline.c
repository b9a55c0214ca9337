/* SPDX-License-Identifier: Apache-2.0 */
/** @file pipeline.c @brief adapter → mapping → dedupe → delivery → one answer per request. */
#include "pipeline.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "alertmanager.h"
#include "log.h"
#include "nagios.h"
#include "native.h"

#define KEY_MAX 4096

struct iha_pipeline {
    const struct iha_ruleset *rules;
    struct iha_dedupe *dedupe;
    struct iha_delivery *delivery;
};

/*
 * One request in flight. It is answered when the last of its notifications
 * completes; @c pending starts at 1 so that completions racing with the
 * submission loop cannot answer before every notification was submitted.
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

/* What the delivery thread needs to record one completion. */
struct waiter {
    struct request *req;
    json_t *item; /* borrowed from req->results */
    char key[KEY_MAX];
    struct iha_notification n;
};

struct iha_pipeline *iha_pipeline_new(const struct iha_pipeline_stages *stages)
{
    struct iha_pipeline *p = calloc(1, sizeof(*p));

    if (!p)
        return NULL;
    p->rules = stages->rules;
    p->dedupe = stages->dedupe;
    p->delivery = stages->delivery;
    return p;
}

void iha_pipeline_free(struct iha_pipeline *p)
{
    free(p);
}

void iha_pipeline_set_rules(struct iha_pipeline *p, const struct iha_ruleset *rules)
{
    p->rules = rules;
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

/* Results that mean "send this again later" for the sender. */
static bool result_is_transient(const char *result)
{
    return strcmp(result, "retry") == 0 || strcmp(result, "auth_error") == 0;
}

static bool result_is_final_failure(const char *result)
{
    return strcmp(result, "rejected") == 0;
}

/*
 * The answer to Alertmanager: 503 when anything can still succeed (it retries
 * 5xx only), 422 when something was refused for good, else 200.
 */
static void answer_alertmanager(struct request *r)
{
    size_t i, n_transient = 0, n_final = 0, n_sent = 0, n_dropped = 0, n_dup = 0, n_maint = 0;
    json_t *item;
    unsigned status = 200;
    const char *summary = "success";
    json_t *body;

    json_array_foreach(r->results, i, item)
    {
        const char *res = json_string_value(json_object_get(item, "result"));
        if (!res)
            continue;
        if (result_is_transient(res))
            n_transient++;
        else if (result_is_final_failure(res))
            n_final++;
        else if (strcmp(res, "dropped") == 0)
            n_dropped++;
        else if (strcmp(res, "deduplicated") == 0 || strcmp(res, "duplicate") == 0)
            n_dup++;
        else if (strcmp(res, "maintenance") == 0)
            n_maint++;
        else
            n_sent++;
    }
    if (n_transient) {
        status = 503;
        summary = "retry";
    } else if (n_final) {
        status = 422;
        summary = "rejected";
    }
    body =
        json_pack("{s:s,s:{s:I,s:I,s:I,s:I,s:I,s:I},s:O}", "status", summary, "counts", "delivered",
                  (json_int_t)n_sent, "deduplicated", (json_int_t)n_dup, "maintenance",
                  (json_int_t)n_maint, "dropped", (json_int_t)n_dropped, "rejected",
                  (json_int_t)n_final, "retry", (json_int_t)n_transient, "results", r->results);
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
        body = fault("serviceUnavailable", 503, "Instance HA could not be reached; retry later");
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

/* Instance HA's answer passed through to a native sender. */
static void native_from_result(struct request *r, const struct iha_notification *n,
                               const struct iha_delivery_result *res)
{
    json_t *body = NULL;
    char msg[640];

    switch (res->outcome) {
    case IHA_OUTCOME_DELIVERED:
    case IHA_OUTCOME_DUPLICATE:
    case IHA_OUTCOME_MAINTENANCE:
    case IHA_OUTCOME_REJECTED:
        r->native_code = res->http_code ? res->http_code : 502;
        if (res->response_body && *res->response_body)
            body = json_loads(res->response_body, 0, NULL);
        if (!body)
            body = fault(res->http_code < 300 ? "notification" : "badRequest", r->native_code,
                         res->detail);
        break;
    case IHA_OUTCOME_AUTH_ERROR:
        /* The gateway's own service token was refused: not the sender's fault. */
        r->native_code = 503;
        snprintf(msg, sizeof(msg),
                 "Instance HA refused the gateway's service token (HTTP %ld): %s; retry later",
                 res->http_code, res->detail);
        body = fault("serviceUnavailable", 503, msg);
        break;
    case IHA_OUTCOME_RETRY:
        r->native_code = 503;
        snprintf(msg, sizeof(msg), "Instance HA unavailable after %u attempts: %s; retry later",
                 res->attempts, res->detail);
        body = fault("serviceUnavailable", 503, msg);
        break;
    }
    (void)n;
    json_decref(r->native_body);
    r->native_body = body;
}

static void on_delivered(void *cls, const struct iha_delivery_result *res)
{
    struct waiter *w = cls;
    struct request *r = w->req;
    bool done = iha_outcome_is_delivered(res->outcome) || res->outcome == IHA_OUTCOME_MAINTENANCE ||
                res->outcome == IHA_OUTCOME_REJECTED;
    char code[16];
    enum iha_log_level lvl =
        done && res->outcome != IHA_OUTCOME_REJECTED ? IHA_LOG_INFO : IHA_LOG_WARN;

    /* Final refusals are remembered like deliveries so sender repeats do not hammer Instance HA. */
    iha_dedupe_end(r->p->dedupe, w->key, time(NULL), done);
    snprintf(code, sizeof(code), "%ld", res->http_code);
    IHA_LOG(lvl, "notification outcome", "id", w->n.id, "rule", w->n.rule, "host", w->n.hostname,
            "type", iha_ntype_name(w->n.type, IHA_DIALECT_MASAKARI), "outcome",
            iha_outcome_name(res->outcome), "http_code", code, "detail", res->detail,
            "notification_uuid", res->notification_uuid);
    pthread_mutex_lock(&r->lock);
    json_object_set_new(w->item, "result", json_string(iha_outcome_name(res->outcome)));
    json_object_set_new(w->item, "http_code", json_integer(res->http_code));
    json_object_set_new(w->item, "attempts", json_integer(res->attempts));
    set_str(w->item, "detail", res->detail);
    set_str(w->item, "notification_uuid", res->notification_uuid);
    if (r->source == IHA_SOURCE_NATIVE)
        native_from_result(r, &w->n, res);
    pthread_mutex_unlock(&r->lock);
    iha_notification_clear(&w->n);
    free(w);
    request_release(r);
}

/*
 * Dedupe, then hand to delivery. @return true when delivery owns the completion;
 * false when the outcome was decided here and recorded in @p item.
 */
static bool submit(struct request *r, struct iha_notification *n, json_t *item)
{
    struct waiter *w = calloc(1, sizeof(*w));
    enum iha_dedupe_verdict verdict;
    enum iha_rc rc;

    if (!w) {
        json_object_set_new(item, "result", json_string("retry"));
        set_str(item, "detail", "out of memory");
        return false;
    }
    if (iha_notification_key(n, w->key, sizeof(w->key)) != IHA_OK) {
        json_object_set_new(item, "result", json_string("dropped"));
        set_str(item, "detail", "notification too large");
        free(w);
        return false;
    }
    rc = iha_dedupe_begin(r->p->dedupe, w->key, time(NULL), n->generated_time, &verdict);
    if (rc != IHA_OK) {
        json_object_set_new(item, "result", json_string("retry"));
        set_str(item, "detail", "dedupe table full of notifications in flight");
        free(w);
        return false;
    }
    if (verdict == IHA_DEDUPE_DUPLICATE) {
        IHA_LOG(IHA_LOG_INFO, "notification deduplicated", "id", n->id, "rule", n->rule, "host",
                n->hostname, "type", iha_ntype_name(n->type, IHA_DIALECT_MASAKARI));
        json_object_set_new(item, "result", json_string("deduplicated"));
        set_str(item, "detail", "equal notification delivered within the dedupe window");
        if (r->source == IHA_SOURCE_NATIVE) {
            char msg[384];
            snprintf(msg, sizeof(msg),
                     "Notification received from host %s of type %s is duplicate.", n->hostname,
                     iha_ntype_name(n->type, IHA_DIALECT_MASAKARI));
            json_decref(r->native_body);
            r->native_body = fault("conflictingRequest", 409, msg);
            r->native_code = 409;
        }
        free(w);
        return false;
    }
    if (!n->generated_time[0])
        iha_time_format(time(NULL), n->generated_time);
    set_str(item, "generated_time", n->generated_time);
    w->req = r;
    w->item = item;
    if (iha_notification_copy(&w->n, n) != IHA_OK) {
        rc = IHA_E_NOMEM;
        goto fail;
    }
    pthread_mutex_lock(&r->lock);
    r->pending++;
    pthread_mutex_unlock(&r->lock);
    rc = iha_delivery_submit(r->p->delivery, n, w->key, on_delivered, w);
    if (rc == IHA_OK)
        return true;
    pthread_mutex_lock(&r->lock);
    r->pending--;
    pthread_mutex_unlock(&r->lock);
fail:
    iha_dedupe_end(r->p->dedupe, w->key, time(NULL), false);
    json_object_set_new(item, "result", json_string("retry"));
    set_str(item, "detail", rc == IHA_E_LIMIT ? "delivery queue full" : "out of memory");
    iha_notification_clear(&w->n);
    free(w);
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

static enum iha_rc handle_alerts(struct request *r, const json_t *body, struct iha_err *err)
{
    struct iha_alert *alerts = NULL;
    size_t n_alerts = 0;
    enum iha_rc rc;

    if (r->source == IHA_SOURCE_NAGIOS)
        rc = iha_nagios_parse(body, &alerts, &n_alerts, err);
    else
        rc = iha_alertmanager_parse(body, &alerts, &n_alerts, err);
    /* Too many alerts or labels will never fit: a 4xx, not a 503 retried forever. */
    if (rc == IHA_E_LIMIT)
        rc = IHA_E_INVAL;
    if (rc != IHA_OK)
        return rc;
    for (size_t i = 0; i < n_alerts; i++) {
        struct iha_map_result mr = {0};
        const struct iha_alert *a = &alerts[i];

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
            } else {
                item = item_new(&o->notif);
            }
            if (!item)
                continue;
            json_object_set_new(item, "alert", json_integer((json_int_t)i));
            set_str(item, "alertname", iha_alert_label(a, "alertname"));
            set_str(item, "status", iha_alert_status_name(a->status));
            set_str(item, "fingerprint", a->fingerprint);
            json_array_append_new(r->results, item);
            if (!o->dropped)
                (void)submit(r, &o->notif, item);
        }
        iha_map_result_clear(&mr);
    }
    if (r->source == IHA_SOURCE_NAGIOS)
        iha_nagios_free(alerts, n_alerts);
    else
        iha_alertmanager_free(alerts, n_alerts);
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
    item = item_new(&n);
    if (!item || json_array_append_new(r->results, item) != 0) {
        iha_notification_clear(&n);
        return IHA_E_NOMEM;
    }
    if (!submit(r, &n, item) && !r->native_body) {
        /* Refused before delivery (queue full, out of memory): the sender should retry. */
        r->native_code = 503;
        r->native_body =
            fault("serviceUnavailable", 503, json_string_value(json_object_get(item, "detail")));
    }
    iha_notification_clear(&n);
    return IHA_OK;
}

enum iha_rc iha_pipeline_handle(struct iha_pipeline *p, enum iha_source source, const json_t *body,
                                iha_reply_fn reply, void *cls, struct iha_err *err)
{
    struct request *r = request_new(p, source, reply, cls);
    enum iha_rc rc;

    if (!r)
        return IHA_E_NOMEM;
    if (source == IHA_SOURCE_NATIVE)
        rc = handle_native(r, body, err);
    else if (source == IHA_SOURCE_ALERTMANAGER || source == IHA_SOURCE_NAGIOS)
        rc = handle_alerts(r, body, err);
    else
        rc = IHA_E_INVAL;
    if (rc != IHA_OK) {
        /* Nothing was submitted: the request can go without an answer from us. */
        request_free(r);
        return rc;
    }
    request_release(r);
    return IHA_OK;
}
