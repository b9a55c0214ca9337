/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file pipeline_store.c
 * @brief Storing: the record written to the queue, a notification between its push
 *        and its durability, and the duplicates that wait for that storage's outcome.
 *
 * Separate from ingest and delivery: the dedupe verdict, the list of notifications being
 * stored and their waiters share one lock and one invariant (no duplicate joins a push
 * that failed), which is easier to check with nothing else around it.
 */
#include "pipeline_int.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "dedupe.h"
#include "events.h"
#include "log.h"
#include "metrics.h"
#include "queue.h"

json_t *iha_pipeline_record_new(const struct iha_notification *n, enum iha_source source,
                                long long received_ms)
{
    char at[IHA_TIME_LEN];

    iha_time_format((time_t)(received_ms / 1000), at);
    return json_pack("{s:s,s:s,s:s,s:s,s:O,s:s,s:s,s:I,s:s}", "id", n->id, "rule", n->rule, "type",
                     iha_ntype_name(n->type, IHA_DIALECT_MASAKARI), "hostname", n->hostname,
                     "payload", n->payload, "generated_time", n->generated_time, "received_at", at,
                     "received_ms", (json_int_t)received_ms, "source", iha_source_name(source));
}

const char *iha_pipeline_jstr(const json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : "";
}

enum iha_rc iha_pipeline_record_to_notification(const json_t *rec, struct iha_notification *n)
{
    iha_notification_init(n);
    if (iha_ntype_parse(iha_pipeline_jstr(rec, "type"), &n->type) != 0 ||
        !json_is_object(json_object_get(rec, "payload")))
        return IHA_E_PARSE;
    snprintf(n->hostname, sizeof(n->hostname), "%s", iha_pipeline_jstr(rec, "hostname"));
    snprintf(n->generated_time, sizeof(n->generated_time), "%s",
             iha_pipeline_jstr(rec, "generated_time"));
    snprintf(n->id, sizeof(n->id), "%s", iha_pipeline_jstr(rec, "id"));
    snprintf(n->rule, sizeof(n->rule), "%s", iha_pipeline_jstr(rec, "rule"));
    n->payload = json_deep_copy(json_object_get(rec, "payload"));
    return n->payload ? IHA_OK : IHA_E_NOMEM;
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
        iha_pipeline_key_end(p, &st->key_held, st->key, false);
    n = st->n_waiters;
    memcpy(out, st->waiters, n * sizeof(*out));
    st->n_waiters = 0;
    pthread_mutex_unlock(&p->storing_lock);
    return n;
}

/* Frees @p st, ending its dedupe key unless it was ended or handed to a flight. */
static void stored_free(struct stored *st)
{
    iha_pipeline_key_end(st->p, &st->key_held, st->key, false);
    iha_notification_clear(&st->n);
    free(st);
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
            iha_pipeline_set_duplicate(r, w[i].item, n,
                                       json_string_value(json_object_get(w[i].item, "id")), true);
        } else {
            iha_pipeline_set_result(w[i].item, IHA_RESULT_RETRY, detail);
            if (r->source == IHA_SOURCE_NATIVE) {
                json_decref(r->native_body);
                r->native_body = iha_pipeline_fault("serviceUnavailable", 503, detail);
                iha_pipeline_tag_gateway_id(r->native_body,
                                            json_string_value(json_object_get(w[i].item, "id")));
                r->native_code = 503;
            }
        }
        pthread_mutex_unlock(&r->lock);
        if (rc == IHA_OK && p->metrics)
            iha_metrics_add(p->metrics, "iha_gateway_notifications_deduplicated_total", 1);
        iha_pipeline_event_sync(r, w[i].item);
        iha_pipeline_request_release(r);
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
            iha_pipeline_set_result(st->item, IHA_RESULT_RETRY, why);
            if (r->source == IHA_SOURCE_NATIVE) {
                json_decref(r->native_body);
                r->native_body = iha_pipeline_fault("serviceUnavailable", 503, why);
                r->native_code = 503;
            }
            pthread_mutex_unlock(&r->lock);
            iha_pipeline_request_release(r);
        }
        release_waiters(p, &st->n, w, nw, rc, why);
        if (p->events)
            iha_pipeline_event_set(p, st->n.id, IHA_RESULT_RETRY, "detail",
                                   json_string(why ? why : ""));
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
        json_t *f = json_pack("{s:s,s:s,s:I}", "result", iha_result_name(IHA_RESULT_QUEUED),
                              "dedupe", "new", "queue_seq", (json_int_t)seq);
        if (f)
            iha_events_update(p->events, st->n.id, f);
        json_decref(f);
    }
    if (r) {
        pthread_mutex_lock(&r->lock);
        iha_pipeline_set_result(st->item, IHA_RESULT_QUEUED,
                                "stored durably; delivery continues in the background");
        json_object_set_new(st->item, "queue_seq", json_integer((json_int_t)seq));
        pthread_mutex_unlock(&r->lock);
        if (r->source == IHA_SOURCE_NATIVE) {
            /* The flight answers it after the first attempt. */
            iha_pipeline_start_flight(p, seq, st->key, &st->n, st->received_ms, r, st->item,
                                      &st->key_held);
        } else {
            iha_pipeline_start_flight(p, seq, st->key, &st->n, st->received_ms, NULL, NULL,
                                      &st->key_held);
            iha_pipeline_request_release(r);
        }
    }
    release_waiters(p, &st->n, w, nw, IHA_OK, NULL);
    stored_free(st);
}

/*
 * The dedupe verdict for @p st's key, taken under storing_lock: a new key is claimed and
 * @p st listed as being stored; a key being stored takes @p r as a waiter while there is
 * room (@p *joined). @p *owner_out is set to the entry being stored, if any. On a new key
 * the dedupe table may fill in @p n's generated_time.
 */
static enum iha_rc dedupe_or_join(struct request *r, struct iha_notification *n, json_t *item,
                                  struct stored *st, enum iha_dedupe_verdict *verdict,
                                  struct stored **owner_out, bool *joined)
{
    struct iha_pipeline *p = r->p;
    struct stored *owner = NULL;
    enum iha_rc rc;

    pthread_mutex_lock(&p->storing_lock);
    rc = iha_dedupe_begin(p->dedupe, st->key, iha_clock_ms(), time(NULL), n->generated_time,
                          verdict);
    if (rc == IHA_OK && *verdict == IHA_DEDUPE_NEW) {
        st->key_held = true;
        storing_add(p, st);
    } else if (rc == IHA_OK && *verdict == IHA_DEDUPE_INFLIGHT) {
        /* Not durable yet: the answer waits for its storage, whatever that turns out. */
        owner = storing_find(p, st->key);
        if (owner && owner->n_waiters < WAITERS_MAX) {
            owner->waiters[owner->n_waiters].req = r;
            owner->waiters[owner->n_waiters].item = item;
            owner->n_waiters++;
            pthread_mutex_lock(&r->lock);
            r->pending++;
            pthread_mutex_unlock(&r->lock);
            *joined = true;
        }
    }
    pthread_mutex_unlock(&p->storing_lock);
    *owner_out = owner;
    return rc;
}

/*
 * The outcome of a notification whose key is not new: joined to the equal one being
 * stored (@return true: answered when that storage ends), busy when too many requests
 * wait for it (@p owner: one is being stored), else deduplicated against a queued or
 * delivered one.
 */
static bool answer_repeat(struct request *r, const struct iha_notification *n, json_t *item,
                          enum iha_dedupe_verdict verdict, bool owner, bool joined)
{
    struct iha_pipeline *p = r->p;
    bool inflight = verdict == IHA_DEDUPE_INFLIGHT;

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
        iha_pipeline_set_result(
            item, IHA_RESULT_RETRY,
            "busy: too many requests wait for an equal notification being stored");
        return false;
    }
    if (p->metrics)
        iha_metrics_add(p->metrics, "iha_gateway_notifications_deduplicated_total", 1);
    iha_pipeline_set_duplicate(r, item, n, n->id, inflight);
    return false;
}

/*
 * Pushes @p n, its key claimed by @p st (listed as being stored), to the queue.
 * @return true when the queue owns the completion (on_stored()); false when the push was
 * refused: @p item says why, and the requests that joined meanwhile are answered.
 */
static bool store_new(struct request *r, struct iha_notification *n, json_t *item,
                      struct stored *st)
{
    struct iha_pipeline *p = r->p;
    struct waiter w[WAITERS_MAX];
    json_t *rec = NULL;
    uint64_t seq = 0;
    enum iha_rc rc;
    const char *why;
    size_t nw;

    if (!n->generated_time[0])
        iha_time_format(time(NULL), n->generated_time);
    iha_pipeline_set_str(item, "generated_time", n->generated_time);
    st->req = r;
    st->item = item;
    st->received_ms = (long long)iha_clock_wall_ms();
    rc = iha_notification_copy(&st->n, n);
    if (rc == IHA_OK) {
        rec = iha_pipeline_record_new(n, r->source, st->received_ms);
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
        iha_pipeline_set_result(item, IHA_RESULT_DROPPED, why);
    } else {
        why = rc == IHA_E_LIMIT ? "queue full (storage.max_entries or storage.max_bytes)"
                                : "out of memory";
        iha_pipeline_set_result(item, IHA_RESULT_RETRY, why);
        IHA_LOG(IHA_LOG_WARN, "notification not queued; the sender is answered 503", "id", n->id,
                "host", n->hostname, "reason", rc == IHA_E_LIMIT ? "queue full" : iha_rc_str(rc));
    }
    release_waiters(p, n, w, nw, rc, why);
    stored_free(st);
    return false;
}

/*
 * Dedupe, then store. @return true when the queue owns the completion; false when
 * the outcome was decided here and recorded in @p item.
 */
bool iha_pipeline_submit(struct request *r, struct iha_notification *n, json_t *item)
{
    struct stored *st = calloc(1, sizeof(*st)), *owner = NULL;
    enum iha_dedupe_verdict verdict = IHA_DEDUPE_NEW;
    enum iha_rc rc;
    bool joined = false;

    if (!st) {
        iha_pipeline_set_result(item, IHA_RESULT_RETRY, "out of memory");
        return false;
    }
    st->p = r->p;
    if (iha_notification_key(n, st->key, sizeof(st->key)) != IHA_OK) {
        iha_pipeline_set_result(item, IHA_RESULT_DROPPED, "notification too large");
        free(st);
        return false;
    }
    rc = dedupe_or_join(r, n, item, st, &verdict, &owner, &joined);
    if (rc != IHA_OK) {
        iha_pipeline_set_result(item, IHA_RESULT_RETRY,
                                "dedupe table full of notifications in flight");
        free(st);
        return false;
    }
    if (verdict != IHA_DEDUPE_NEW) {
        free(st);
        return answer_repeat(r, n, item, verdict, owner != NULL, joined);
    }
    return store_new(r, n, item, st);
}
