/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file pipeline_control.c
 * @brief Recovery at start (live queue entries back to delivery) and the operator's
 *        commands: queue retry and drop, dead-letter requeue through the pipeline.
 *
 * Separate from ingest: these run on the main or the queue's thread, read records back
 * from the queue and the dead-letter file, and never answer a sender.
 */
#include "pipeline_int.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>

#include "clock.h"
#include "dedupe.h"
#include "events.h"
#include "log.h"
#include "metrics.h"
#include "queue.h"

#define DEADLETTER_LINE_MAX (1024u * 1024u)

struct live_copy {
    uint64_t seq;
    json_t *record;
    enum iha_hold_reason held; /* the safety policy held it before the restart */
};

struct live_list {
    struct live_copy *v;
    size_t n, cap;
};

/* The reason a queue HOLD record names; an unknown one still holds (as the storm guard). */
static enum iha_hold_reason hold_reason_of(const json_t *hold)
{
    const char *r = json_string_value(json_object_get(hold, "reason"));

    if (!hold || !r || !r[0])
        return IHA_HOLD_NONE;
    for (int i = IHA_HOLD_STORM; i < IHA_HOLD_COUNT; i++)
        if (strcmp(r, iha_hold_reason_name((enum iha_hold_reason)i)) == 0)
            return (enum iha_hold_reason)i;
    return IHA_HOLD_STORM;
}

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
    l->v[l->n].held = hold_reason_of(it->hold);
    l->v[l->n].record = json_deep_copy(it->record);
    if (l->v[l->n].record)
        l->n++;
}

/*
 * Hands the live entry on (held again when it was held), registering its key in dedupe
 * first.
 */
static void resume_one(struct iha_pipeline *p, uint64_t seq, const json_t *rec,
                       enum iha_hold_reason hold)
{
    struct iha_notification n;
    char key[KEY_MAX], gt[IHA_TIME_LEN];
    enum iha_dedupe_verdict v;
    bool held;
    json_int_t received = json_integer_value(json_object_get(rec, "received_ms"));

    if (iha_pipeline_record_to_notification(rec, &n) != IHA_OK ||
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
    if (!received)
        received = (json_int_t)iha_clock_wall_ms();
    if (!iha_pipeline_policy_park(p, seq, key, &n, (long long)received, hold, true, &held))
        iha_pipeline_start_flight(p, seq, key, &n, (long long)received, NULL, NULL, &held);
    iha_pipeline_key_end(p, &held, key, false);
    iha_notification_clear(&n);
}

size_t iha_pipeline_resume(struct iha_pipeline *p)
{
    struct live_list l = {0};

    iha_queue_foreach(p->queue, collect, &l);
    for (size_t i = 0; i < l.n; i++) {
        resume_one(p, l.v[i].seq, l.v[i].record, l.v[i].held);
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
        if (strcmp(iha_pipeline_jstr(j, "requeued"), id) == 0) {
            *requeued = true;
        } else if (strcmp(iha_pipeline_jstr(j, "id"), id) == 0 &&
                   json_object_get(j, "notification")) {
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
    long long received_ms = (long long)iha_clock_wall_ms();
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
    if (iha_pipeline_record_to_notification(json_object_get(dl, "notification"), &n) != IHA_OK) {
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
    rec = iha_pipeline_record_new(&n, IHA_SOURCE_NATIVE, received_ms);
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
                               n.hostname, "payload", n.payload, "rule", n.rule, "result",
                               iha_result_name(IHA_RESULT_QUEUED), "queue_seq", (json_int_t)seq);
        if (ev)
            iha_events_add_steal(p->events, ev);
    }
    iha_pipeline_start_flight(p, seq, key, &n, received_ms, NULL, NULL, &held);
    note = json_pack("{s:s,s:s,s:I}", "requeued", id, "as", n.id, "at_ms",
                     (json_int_t)(long long)iha_clock_wall_ms());
    if (!note || iha_queue_deadletter_note(p->queue, note) != IHA_OK)
        snprintf(answer + strlen(answer), size - strlen(answer),
                 "; the requeue note could not be written");
out:
    iha_pipeline_key_end(p, &held, key, false);
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
    if (iha_pipeline_record_to_notification(it->record, &n) == IHA_OK &&
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
    if (strcmp(cmd, "hold-release") == 0)
        return iha_pipeline_policy_release(p, id, answer, size);
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
    if (iha_pipeline_record_to_notification(rec, &n) != IHA_OK ||
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
        /* With iha_pipeline_start_flight(): the job is either cancelled here or never started. */
        pthread_mutex_lock(&p->flight_lock);
        rc = iha_queue_complete(p->queue, seq, IHA_QREC_DROPPED, info);
        ok = rc == IHA_OK;
        /* Held back by the policy: not in delivery, nothing else to stop. */
        if (ok && !iha_pipeline_policy_forget(p, seq)) {
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
