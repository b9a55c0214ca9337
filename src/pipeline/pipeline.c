/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file pipeline.c
 * @brief adapter → mapping → dedupe → durable queue → one answer per request; the queue's
 *        entries → delivery → completion markers and dead letters.
 *
 * This file holds the object's life (new, stop, free, rules) and ingest: one request's
 * record → adapter → rules → dedupe → queue. The rest lives apart so each job reads on
 * its own: the answers to senders (pipeline_answer.c), storing and the duplicates that
 * wait for it (pipeline_store.c), delivery of queue entries (pipeline_flight.c), and
 * recovery and the operator's commands (pipeline_control.c).
 */
#include "pipeline.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "alertmanager.h"
#include "clock.h"
#include "events.h"
#include "log.h"
#include "metrics.h"
#include "nagios.h"
#include "native.h"
#include "pipeline_int.h"
#include "redelivery.h"

/*
 * Ends the dedupe key @p key that its holder began (verdict new), exactly once: @p *held
 * says whether the holder still owns it. Each holder (a notification being stored, a
 * flight, a requeue) ends it with the outcome on its success path, and its free function
 * ends it as failed otherwise, so no failure path leaves a key "in flight" (which would
 * answer every equal notification "deduplicated" while nothing is queued for it).
 */
void iha_pipeline_key_end(struct iha_pipeline *p, bool *held, const char *key, bool delivered)
{
    if (!*held)
        return;
    *held = false;
    iha_dedupe_end(p->dedupe, key, iha_clock_ms(), delivered);
}

struct iha_pipeline *iha_pipeline_new(const struct iha_pipeline_stages *stages)
{
    struct iha_pipeline *p;
    pthread_condattr_t ca;

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
    pthread_mutex_init(&p->policy_lock, NULL);
    /* policy_cond waits on CLOCK_MONOTONIC: a wall clock step must not stall the policy. */
    if (pthread_condattr_init(&ca) != 0 || pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) != 0 ||
        pthread_cond_init(&p->policy_cond, &ca) != 0) {
        pthread_condattr_destroy(&ca);
        pthread_mutex_destroy(&p->policy_lock);
        pthread_mutex_destroy(&p->flight_lock);
        pthread_mutex_destroy(&p->rules_lock);
        pthread_mutex_destroy(&p->storing_lock);
        pthread_mutex_destroy(&p->native_lock);
        iha_redelivery_free(p->redelivery);
        free(p);
        return NULL;
    }
    pthread_condattr_destroy(&ca);
    if (iha_pipeline_policy_start(p, stages) != IHA_OK) {
        IHA_LOG(IHA_LOG_ERROR, "cannot start the safety policy");
        iha_pipeline_free(p);
        return NULL;
    }
    return p;
}

void iha_pipeline_stop(struct iha_pipeline *p)
{
    /* First: a flight linked after the drain below sees it and answers its sender itself. */
    pthread_mutex_lock(&p->flight_lock);
    p->stopping = true;
    pthread_mutex_unlock(&p->flight_lock);
    iha_pipeline_policy_stop(p);
    iha_pipeline_native_stop_all(p);
}

void iha_pipeline_free(struct iha_pipeline *p)
{
    if (p) {
        iha_pipeline_policy_free(p);
        pthread_mutex_destroy(&p->policy_lock);
        pthread_cond_destroy(&p->policy_cond);
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

static json_t *item_new(const struct iha_notification *n)
{
    json_t *item = json_object();

    if (!item)
        return NULL;
    iha_pipeline_set_str(item, "id", n->id);
    iha_pipeline_set_str(item, "rule", n->rule);
    iha_pipeline_set_str(item, "type", iha_ntype_name(n->type, IHA_DIALECT_MASAKARI));
    iha_pipeline_set_str(item, "hostname", n->hostname);
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
        item = json_pack("{s:I,s:s,s:s}", "alert", (json_int_t)i, "result",
                         iha_result_name(IHA_RESULT_RETRY), "detail",
                         "out of memory while reading the alert");
        if (item)
            iha_pipeline_result_append(r, item);
        return;
    }
    snprintf(reason, sizeof(reason), "%s: %s", aerr->field, aerr->msg);
    IHA_LOG(IHA_LOG_INFO, "alert dropped", "alert", iha_alert_label(a, "alertname"), "fingerprint",
            a->fingerprint, "field", aerr->field, "reason", reason);
    if (r->p->metrics)
        iha_metrics_add(r->p->metrics, "iha_gateway_alerts_dropped_total", 1,
                        iha_drop_name(rc == IHA_E_LIMIT ? IHA_DROP_OVER_LIMIT : IHA_DROP_MALFORMED),
                        "");
    item = json_pack("{s:I,s:s,s:s,s:s}", "alert", (json_int_t)i, "result",
                     iha_result_name(IHA_RESULT_DROPPED), "reason", reason, "field", aerr->field);
    if (!item)
        return;
    iha_pipeline_set_str(item, "alertname", iha_alert_label(a, "alertname"));
    iha_pipeline_set_str(item, "fingerprint", a->fingerprint);
    iha_pipeline_result_append(r, item);
    iha_pipeline_event_add(r, item);
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
        iha_pipeline_policy_heartbeat(r->p, a);
        if (iha_mapping_apply(r->p->rules, a, &mr) != IHA_OK) {
            json_t *item = json_pack("{s:I,s:s,s:s}", "alert", (json_int_t)i, "result",
                                     iha_result_name(IHA_RESULT_RETRY), "detail",
                                     "out of memory while mapping");
            if (item)
                iha_pipeline_result_append(r, item);
            continue;
        }
        for (size_t k = 0; k < mr.n; k++) {
            struct iha_map_outcome *o = &mr.items[k];
            json_t *item;

            if (o->dropped && o->resolved_host[0])
                iha_pipeline_policy_resolve(r->p, o->resolved_host);
            else if (!o->dropped && iha_notification_host_back(&o->notif))
                iha_pipeline_policy_resolve(r->p, o->notif.hostname);
            if (o->dropped) {
                IHA_LOG(IHA_LOG_INFO, "alert dropped", "alert", iha_alert_name(a), "status",
                        iha_alert_status_name(a->status), "fingerprint", a->fingerprint, "rule",
                        o->rule, "reason", o->reason);
                item = json_pack("{s:s,s:s}", "result", iha_result_name(IHA_RESULT_DROPPED),
                                 "reason", o->reason);
                if (item && o->rule[0])
                    iha_pipeline_set_str(item, "rule", o->rule);
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
            iha_pipeline_set_str(item, "alertname", iha_alert_label(a, "alertname"));
            iha_pipeline_set_str(item, "status", iha_alert_status_name(a->status));
            iha_pipeline_set_str(item, "fingerprint", a->fingerprint);
            /* The results array holds the item before a completion can touch it. */
            iha_pipeline_result_append(r, item);
            /* The event exists before the queue or delivery can update it. */
            iha_pipeline_event_add(r, item);
            if (!o->dropped && !iha_pipeline_submit(r, &o->notif, item))
                iha_pipeline_event_sync(r, item);
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
    /* A host reported back (masakari-monitors' STARTED) cancels its pending evacuation. */
    if (iha_notification_host_back(&n))
        iha_pipeline_policy_resolve(r->p, n.hostname);
    item = item_new(&n);
    if (!item || json_array_append_new(r->results, item) != 0) {
        iha_notification_clear(&n);
        return IHA_E_NOMEM;
    }
    iha_pipeline_event_add(r, item);
    if (!iha_pipeline_submit(r, &n, item)) {
        iha_pipeline_event_sync(r, item);
        if (!r->native_body) {
            /* Refused before storing (queue full, out of memory): the sender should retry. */
            r->native_code = 503;
            r->native_body = iha_pipeline_fault("serviceUnavailable", 503,
                                                json_string_value(json_object_get(item, "detail")));
            iha_pipeline_tag_gateway_id(r->native_body, n.id);
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
    r = iha_pipeline_request_new(p, source, reply, cls);
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
        iha_pipeline_request_free(r);
        iha_redelivery_cancel(reply, cls);
        return rc;
    }
    iha_pipeline_request_release(r);
    return IHA_OK;
}
