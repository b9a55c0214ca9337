/* SPDX-License-Identifier: Apache-2.0 */
/** @file queue.c @brief Durable queue core: open, close, push, complete, the live entries. */
/*
 * The core: what callers do with the queue, and the in-memory index of live
 * notifications that every other part updates. The record format, the data directory,
 * recovery, the committer, compaction, dead letters and the control directory each have
 * their own queue_*.c file, sharing state through queue_int.h.
 */
#include "queue.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "queue_int.h"

#define DEFAULT_MAX_BYTES (256ull * 1024 * 1024)
#define DEFAULT_MAX_ENTRIES 10000u
#define DEFAULT_SEGMENT_BYTES (4ull * 1024 * 1024)
#define ATTEMPTS_KEPT 32u
#define CLOSE_FLUSH_TRIES 3

/* ---- the index of live entries ---- */

struct entry *iha_queue_lookup(struct iha_queue *q, uint64_t seq)
{
    for (struct entry *e = q->table[seq & q->mask]; e; e = e->hnext)
        if (e->seq == seq)
            return e;
    return NULL;
}

void iha_queue_entry_insert(struct iha_queue *q, struct entry *e)
{
    struct entry *after = q->tail;

    e->hnext = q->table[e->seq & q->mask];
    q->table[e->seq & q->mask] = e;
    /* Sequence order; recovery copies may arrive out of order. */
    while (after && after->seq > e->seq)
        after = after->prev;
    e->prev = after;
    e->next = after ? after->next : q->head;
    if (e->next)
        e->next->prev = e;
    else
        q->tail = e;
    if (after)
        after->next = e;
    else
        q->head = e;
    q->live++;
}

void iha_queue_entry_unlink(struct iha_queue *q, struct entry *e)
{
    struct entry **pp = &q->table[e->seq & q->mask];

    while (*pp && *pp != e)
        pp = &(*pp)->hnext;
    if (*pp)
        *pp = e->hnext;
    if (e->prev)
        e->prev->next = e->next;
    else
        q->head = e->next;
    if (e->next)
        e->next->prev = e->prev;
    else
        q->tail = e->prev;
    if (e->seg) {
        e->seg->live--;
        e->seg->live_bytes -= e->bytes;
    }
    q->live--;
}

void iha_queue_entry_free(struct entry *e)
{
    if (!e)
        return;
    json_decref(e->record);
    json_decref(e->attempts);
    json_decref(e->hold);
    free(e);
}

void iha_queue_entry_move(struct entry *e, struct seg *to, size_t bytes)
{
    if (e->seg) {
        e->seg->live--;
        e->seg->live_bytes -= e->bytes;
    }
    e->seg = to;
    e->bytes = bytes;
    to->live++;
    to->live_bytes += bytes;
}

/* Bytes of the record a copy would write for @p j. */
size_t iha_queue_framed_size(const json_t *j)
{
    char *text = json_dumps(j, JSON_COMPACT);
    size_t n = IHA_QUEUE_HDR + (text ? strlen(text) : 0);

    free(text);
    return n;
}

/* Adds @p a (copied) to the kept attempts; its live bytes follow (record of @p size). */
void iha_queue_add_attempt(struct entry *e, const json_t *a, size_t size)
{
    json_t *c = json_deep_copy(a);
    size_t gone = 0;

    if (!c)
        return;
    if (json_array_size(e->attempts) >= ATTEMPTS_KEPT) {
        gone = iha_queue_framed_size(json_array_get(e->attempts, 0));
        json_array_remove(e->attempts, 0);
    }
    json_array_append_new(e->attempts, c);
    e->n_attempts++;
    /* seg->live_bytes is always the sum of its entries' bytes */
    if (gone > e->bytes + size)
        gone = e->bytes + size;
    if (e->seg)
        e->seg->live_bytes = e->seg->live_bytes + size - gone;
    e->bytes = e->bytes + size - gone;
}

static bool hold_reason_set(const json_t *hold)
{
    const char *r = json_string_value(json_object_get(hold, "reason"));

    return r && r[0];
}

void iha_queue_set_hold(struct entry *e, const json_t *hold)
{
    size_t before = e->hold ? iha_queue_framed_size(e->hold) : 0, after = 0;

    json_decref(e->hold);
    e->hold = hold_reason_set(hold) ? json_deep_copy(hold) : NULL;
    if (e->hold)
        after = iha_queue_framed_size(e->hold);
    /* seg->live_bytes is always the sum of its entries' bytes */
    if (before > e->bytes)
        before = e->bytes;
    if (e->seg)
        e->seg->live_bytes = e->seg->live_bytes + after - before;
    e->bytes = e->bytes + after - before;
}

size_t iha_queue_entry_copy_size(const struct entry *e)
{
    size_t used = iha_queue_framed_size(e->record);

    for (size_t i = 0; i < json_array_size(e->attempts); i++)
        used += iha_queue_framed_size(json_array_get(e->attempts, i));
    if (e->hold)
        used += iha_queue_framed_size(e->hold);
    return used;
}

/* ---- public ---- */

static void queue_destroy(struct iha_queue *q)
{
    struct entry *e = q->head;
    struct seg *s = q->segs;

    while (e) {
        struct entry *n = e->next;
        iha_queue_entry_free(e);
        e = n;
    }
    while (s) {
        struct seg *n = s->next;
        free(s);
        s = n;
    }
    while (q->waiters) {
        struct waiter *w = q->waiters;
        q->waiters = w->next;
        free(w);
    }
    iha_buf_free(&q->enq);
    iha_buf_free(&q->marks);
    iha_buf_free(&q->dead);
    free(q->tombs.v);
    free(q->table);
    if (q->fd >= 0)
        close(q->fd);
    if (q->lock_fd >= 0)
        close(q->lock_fd); /* releases the flock */
    pthread_mutex_destroy(&q->ctl_lock);
    pthread_cond_destroy(&q->synced);
    pthread_cond_destroy(&q->cond);
    pthread_mutex_destroy(&q->lock);
    free(q);
}

enum iha_rc iha_queue_open(const struct iha_queue_config *cfg, struct iha_queue **out,
                           struct iha_err *err)
{
    struct iha_queue *q;
    enum iha_rc rc;
    size_t buckets = 1024;
    int n;

    *out = NULL;
    if (!cfg || !cfg->dir || !*cfg->dir || strlen(cfg->dir) >= DIRLEN - 64) {
        iha_err_set(err, "storage.path", "missing or too long");
        return IHA_E_INVAL;
    }
    q = calloc(1, sizeof(*q));
    if (!q)
        return IHA_E_NOMEM;
    q->fd = q->lock_fd = -1;
    pthread_mutex_init(&q->lock, NULL);
    pthread_mutex_init(&q->ctl_lock, NULL);
    pthread_cond_init(&q->cond, NULL);
    pthread_cond_init(&q->synced, NULL);
    n = snprintf(q->dir, sizeof(q->dir), "%s", cfg->dir);
    while (n > 1 && q->dir[n - 1] == '/')
        q->dir[--n] = '\0';
    q->max_bytes = cfg->max_bytes ? cfg->max_bytes : DEFAULT_MAX_BYTES;
    q->max_entries = cfg->max_entries ? cfg->max_entries : DEFAULT_MAX_ENTRIES;
    q->segment_bytes = cfg->segment_bytes ? cfg->segment_bytes : DEFAULT_SEGMENT_BYTES;
    q->read_only = cfg->read_only;
    q->healthy = true;
    q->wtail = &q->waiters;
    while (buckets < q->max_entries && buckets < (1u << 20))
        buckets *= 2;
    q->table = calloc(buckets, sizeof(*q->table));
    q->mask = buckets - 1;
    if (!q->table) {
        queue_destroy(q);
        return IHA_E_NOMEM;
    }
    if (!q->read_only) {
        rc = iha_queue_storage_prepare(q, err);
        if (rc != IHA_OK) {
            queue_destroy(q);
            return rc;
        }
    }
    rc = iha_queue_recover(q, err);
    if (rc != IHA_OK) {
        queue_destroy(q);
        return rc;
    }
    q->stats.live = q->live;
    q->stats.disk_bytes = q->disk_bytes;
    if (!q->read_only) {
        rc = iha_queue_open_active(q, err);
        if (rc != IHA_OK) {
            queue_destroy(q);
            return rc;
        }
        iha_queue_compact(q);
        /* Set before the thread exists: pthread_create() orders it for the committer. */
        q->started = true;
        if (pthread_create(&q->thread, NULL, iha_queue_committer, q) != 0) {
            q->started = false;
            iha_err_set(err, NULL, "cannot start the queue thread");
            queue_destroy(q);
            return IHA_E_IO;
        }
    }
    *out = q;
    return IHA_OK;
}

void iha_queue_set_callbacks(struct iha_queue *q, const struct iha_queue_callbacks *cbs)
{
    static const struct iha_queue_callbacks none = {0};

    pthread_mutex_lock(&q->lock);
    q->cb = cbs ? *cbs : none;
    pthread_mutex_unlock(&q->lock);
}

void iha_queue_close(struct iha_queue *q)
{
    if (!q)
        return;
    if (q->started) {
        pthread_mutex_lock(&q->lock);
        q->stop = true;
        memset(&q->cb, 0, sizeof(q->cb));
        pthread_cond_signal(&q->cond);
        pthread_mutex_unlock(&q->lock);
        pthread_join(q->thread, NULL);
        /* Markers that failed in the last batch: a few more tries, then redelivery covers it. */
        for (int i = 0; i < CLOSE_FLUSH_TRIES && (q->marks.len || q->dead.len); i++) {
            struct iha_buf m = q->marks, e = {0}, d = q->dead;
            size_t ends = q->mark_ends;
            memset(&q->marks, 0, sizeof(q->marks));
            memset(&q->dead, 0, sizeof(q->dead));
            q->mark_ends = 0;
            iha_queue_commit_once(q, &m, &e, &d, ends, NULL);
            iha_buf_free(&m);
            iha_buf_free(&d);
        }
    }
    queue_destroy(q);
}

struct iha_queue_stats iha_queue_stats(struct iha_queue *q)
{
    struct iha_queue_stats s;

    pthread_mutex_lock(&q->lock);
    s = q->stats;
    s.live = q->live;
    s.disk_bytes = q->disk_bytes;
    pthread_mutex_unlock(&q->lock);
    return s;
}

/* @p durable: refused once the queue is closing (the committer's last batch may be gone). */
static enum iha_rc push(struct iha_queue *q, const json_t *record, iha_queue_done_fn cb, void *cls,
                        uint64_t *seq, bool durable)
{
    char *text = NULL;
    size_t len;
    struct entry *e = NULL;
    struct waiter *w = NULL;
    enum iha_rc rc = IHA_E_NOMEM;

    if (q->read_only || !json_is_object(record) || !cb)
        return IHA_E_INVAL;
    text = json_dumps(record, JSON_COMPACT);
    e = calloc(1, sizeof(*e));
    w = calloc(1, sizeof(*w));
    if (!text || !e || !w || !(e->record = json_deep_copy(record)) || !(e->attempts = json_array()))
        goto cleanup;
    len = strlen(text);
    if (len > IHA_QUEUE_RECORD_MAX) {
        rc = IHA_E_INVAL;
        goto cleanup;
    }
    pthread_mutex_lock(&q->lock);
    if (durable && q->stop) {
        rc = IHA_E_IO;
    } else if (q->live >= q->max_entries ||
               q->disk_bytes + q->enq.len + q->marks.len + IHA_QUEUE_HDR + len > q->max_bytes) {
        rc = IHA_E_LIMIT;
    } else {
        e->seq = q->next_seq;
        e->bytes = IHA_QUEUE_HDR + len;
        if (iha_queue_buf_frame(&q->enq, IHA_QREC_ENQUEUE, e->seq, text, len)) {
            q->next_seq++;
            iha_queue_entry_insert(q, e);
            w->cb = cb;
            w->cls = cls;
            w->seq = e->seq;
            *q->wtail = w;
            q->wtail = &w->next;
            *seq = e->seq;
            e = NULL;
            w = NULL;
            rc = IHA_OK;
            pthread_cond_signal(&q->cond);
        }
    }
    pthread_mutex_unlock(&q->lock);
cleanup:
    free(text);
    iha_queue_entry_free(e);
    free(w);
    return rc;
}

enum iha_rc iha_queue_push(struct iha_queue *q, const json_t *record, iha_queue_done_fn cb,
                           void *cls, uint64_t *seq)
{
    return push(q, record, cb, cls, seq, false);
}

/* One iha_queue_push_durable() waiting for its batch; guarded by the queue's lock. */
struct durable {
    struct iha_queue *q;
    bool done;
    enum iha_rc rc;
    char *why;
    size_t why_size;
};

static void on_durable(void *cls, enum iha_rc rc, uint64_t seq, const char *why)
{
    struct durable *d = cls;

    (void)seq;
    pthread_mutex_lock(&d->q->lock);
    d->rc = rc;
    if (rc != IHA_OK)
        snprintf(d->why, d->why_size, "%s", why && *why ? why : iha_rc_str(rc));
    d->done = true;
    pthread_cond_broadcast(&d->q->synced);
    pthread_mutex_unlock(&d->q->lock);
}

enum iha_rc iha_queue_push_durable(struct iha_queue *q, const json_t *record, uint64_t *seq,
                                   char *why, size_t why_size)
{
    struct durable d = {.q = q, .why = why, .why_size = why_size};
    enum iha_rc rc;

    if (why_size)
        why[0] = '\0';
    if (!q->started)
        return IHA_E_INVAL;
    rc = push(q, record, on_durable, &d, seq, true);
    if (rc == IHA_E_IO)
        snprintf(why, why_size, "the queue is closing");
    if (rc != IHA_OK)
        return rc;
    /* Pushed before any stop: the committer's next (or last) batch calls on_durable(). */
    if (iha_queue_on_committer(q))
        iha_queue_commit_pending(q);
    pthread_mutex_lock(&q->lock);
    pthread_cond_signal(&q->cond);
    while (!d.done)
        pthread_cond_wait(&q->synced, &q->lock);
    rc = d.rc;
    pthread_mutex_unlock(&q->lock);
    return rc;
}

enum iha_rc iha_queue_complete(struct iha_queue *q, uint64_t seq, enum iha_qrec type,
                               const json_t *info)
{
    char *text = NULL, *dl = NULL;
    struct entry *e;
    json_t *line = NULL;
    enum iha_rc rc = IHA_E_NOMEM;
    size_t dead_len;

    if (type != IHA_QREC_DONE && type != IHA_QREC_DEAD && type != IHA_QREC_DROPPED)
        return IHA_E_INVAL;
    text = info ? json_dumps(info, JSON_COMPACT) : strdup("{}");
    if (!text)
        return IHA_E_NOMEM;
    pthread_mutex_lock(&q->lock);
    e = iha_queue_lookup(q, seq);
    if (!e) {
        rc = IHA_E_NOTFOUND;
        goto unlock;
    }
    if (!e->seg) {
        /* Not durable yet: its marker could not follow its enqueue. */
        rc = IHA_E_LIMIT;
        goto unlock;
    }
    dead_len = q->dead.len;
    if (type == IHA_QREC_DEAD) {
        line = iha_queue_deadletter_line(e, info);
        dl = line ? json_dumps(line, JSON_COMPACT) : NULL;
        if (!dl || !iha_buf_put(&q->dead, dl, strlen(dl)) || !iha_buf_put(&q->dead, "\n", 1)) {
            q->dead.len = dead_len;
            goto unlock;
        }
    }
    if (!iha_queue_buf_frame(&q->marks, type, seq, text, strlen(text))) {
        q->dead.len = dead_len; /* no marker, no line */
        goto unlock;
    }
    q->mark_ends++;
    q->ends_queued++;
    iha_queue_entry_unlink(q, e);
    iha_queue_entry_free(e);
    rc = IHA_OK;
    pthread_cond_signal(&q->cond);
unlock:
    pthread_mutex_unlock(&q->lock);
    json_decref(line);
    free(dl);
    free(text);
    return rc;
}

void iha_queue_note_attempt(struct iha_queue *q, uint64_t seq, const json_t *attempt)
{
    char *text = json_dumps(attempt, JSON_COMPACT);
    struct entry *e;

    if (!text)
        return;
    pthread_mutex_lock(&q->lock);
    e = iha_queue_lookup(q, seq);
    if (e) {
        iha_queue_add_attempt(e, attempt, IHA_QUEUE_HDR + strlen(text));
        /*
         * Rides with the next batch; not worth a sync of its own. While storage fails,
         * only end markers wait in memory: attempts are informational (kept in memory
         * for the dead-letter record), so pending markers cannot grow without bound.
         */
        if (q->healthy)
            (void)iha_queue_buf_frame(&q->marks, IHA_QREC_ATTEMPT, seq, text, strlen(text));
    }
    pthread_mutex_unlock(&q->lock);
    free(text);
}

enum iha_rc iha_queue_hold(struct iha_queue *q, uint64_t seq, const json_t *hold)
{
    static const char *const none = "{\"reason\":\"\"}";
    char *text = NULL;
    struct entry *e;
    enum iha_rc rc = IHA_OK;

    if (hold && !hold_reason_set(hold))
        return IHA_E_INVAL;
    if (hold && !(text = json_dumps(hold, JSON_COMPACT)))
        return IHA_E_NOMEM;
    pthread_mutex_lock(&q->lock);
    e = q->read_only ? NULL : iha_queue_lookup(q, seq);
    if (!e)
        rc = IHA_E_NOTFOUND;
    else if (!iha_queue_buf_frame(&q->marks, IHA_QREC_HOLD, seq, text ? text : none,
                                  strlen(text ? text : none)))
        rc = IHA_E_NOMEM;
    else
        iha_queue_set_hold(e, hold);
    if (rc == IHA_OK)
        pthread_cond_signal(&q->cond);
    pthread_mutex_unlock(&q->lock);
    free(text);
    return rc;
}

void iha_queue_foreach(struct iha_queue *q, iha_queue_visit_fn fn, void *cls)
{
    pthread_mutex_lock(&q->lock);
    for (struct entry *e = q->head; e; e = e->next) {
        struct iha_queue_item it = {e->seq, e->record, e->attempts, e->n_attempts, e->hold};
        fn(cls, &it);
    }
    pthread_mutex_unlock(&q->lock);
}

enum iha_rc iha_queue_find(struct iha_queue *q, const char *id, uint64_t *seq,
                           iha_queue_visit_fn fn, void *cls)
{
    enum iha_rc rc = IHA_E_NOTFOUND;
    char *end;
    unsigned long long num;

    errno = 0;
    num = strtoull(id, &end, 10);
    pthread_mutex_lock(&q->lock);
    for (struct entry *e = q->head; e; e = e->next) {
        const char *eid = json_string_value(json_object_get(e->record, "id"));
        if ((eid && strcmp(eid, id) == 0) || (!errno && *id && !*end && e->seq == num)) {
            struct iha_queue_item it = {e->seq, e->record, e->attempts, e->n_attempts, e->hold};
            if (seq)
                *seq = e->seq;
            if (!e->seg) {
                rc = IHA_E_LIMIT; /* not stored yet */
                break;
            }
            if (fn)
                fn(cls, &it);
            rc = IHA_OK;
            break;
        }
    }
    pthread_mutex_unlock(&q->lock);
    return rc;
}

bool iha_queue_live(struct iha_queue *q, uint64_t seq)
{
    struct entry *e;
    bool live;

    pthread_mutex_lock(&q->lock);
    e = iha_queue_lookup(q, seq);
    live = e && e->seg;
    pthread_mutex_unlock(&q->lock);
    return live;
}

const char *iha_queue_dir(const struct iha_queue *q)
{
    return q->dir;
}

bool iha_queue_unhealthy(struct iha_queue *q, char *why, size_t why_size)
{
    bool bad;

    pthread_mutex_lock(&q->lock);
    bad = !q->healthy;
    if (why && why_size)
        snprintf(why, why_size, "%s", q->why);
    pthread_mutex_unlock(&q->lock);
    return bad;
}
