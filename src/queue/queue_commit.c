/* SPDX-License-Identifier: Apache-2.0 */
/** @file queue_commit.c @brief Durable queue: the committer thread and group commit. */
/*
 * The one thread that writes segments: it takes each pending batch, writes and syncs it
 * once for all its pushes (group commit), tracks storage health and probes it, rotates
 * the active segment and runs the periodic work. Separate because it is the only code
 * that appends to segments and owns the thread's side of the lock protocol.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"
#include "queue_int.h"

#define TICK_MS 1000
#define PROBE_MIN_FREE (64u * 1024u) /* free bytes needed before a probe calls storage healthy */
#define CTL_SYNC_WAIT_MS 5000        /* a control answer waits this long for its marker */

static void set_health(struct iha_queue *q, bool ok, const char *why, bool *changed)
{
    *changed = q->healthy != ok;
    q->healthy = ok;
    snprintf(q->why, sizeof(q->why), "%s", ok ? "" : why);
}

/* ---- the active segment (committer thread, or open) ---- */

enum iha_rc iha_queue_open_active(struct iha_queue *q, struct iha_err *err)
{
    char path[DIRLEN + 64], qdir[DIRLEN + 16];
    struct seg *s = calloc(1, sizeof(*s)), **pp;
    int fd = -1;

    if (!s)
        return IHA_E_NOMEM;
    pthread_mutex_lock(&q->lock); /* pushes take sequence numbers meanwhile */
    s->base = q->next_seq;
    pthread_mutex_unlock(&q->lock);
    for (int i = 0; i < 1000 && fd < 0; i++) {
        iha_queue_seg_path(q, s->base, path, sizeof(path));
        fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0 && errno == EEXIST)
            s->base++;
        else if (fd < 0)
            break;
    }
    if (fd < 0) {
        iha_err_set(err, "storage.path", "cannot create segment %s: %s", path, strerror(errno));
        free(s);
        return IHA_E_IO;
    }
    iha_queue_path_of(q, "queue", qdir, sizeof(qdir));
    if (iha_queue_fsync_dir(qdir) != 0) {
        iha_err_set(err, "storage.path", "cannot sync %s: %s", qdir, strerror(errno));
        close(fd);
        unlink(path);
        free(s);
        return IHA_E_IO;
    }
    pthread_mutex_lock(&q->lock);
    if (q->next_seq < s->base)
        q->next_seq = s->base;
    for (pp = &q->segs; *pp; pp = &(*pp)->next)
        ;
    *pp = s;
    q->active = s;
    pthread_mutex_unlock(&q->lock);
    if (q->fd >= 0)
        close(q->fd);
    q->fd = fd;
    return IHA_OK;
}

/* Writes @p b to the active segment and syncs it; on failure cuts the segment back. */
bool iha_queue_append_sync(struct iha_queue *q, const struct iha_buf *b, int *err_no)
{
    off_t before = lseek(q->fd, 0, SEEK_END);

    if (b->len == 0)
        return true;
    if (iha_queue_write_all(q->fd, (const unsigned char *)b->p, b->len) && fdatasync(q->fd) == 0)
        return true;
    *err_no = errno;
    if (before < 0 || ftruncate(q->fd, before) != 0) {
        /* The segment may hold a torn record now: never append after it. */
        struct iha_err e;
        if (iha_queue_open_active(q, &e) != IHA_OK)
            IHA_LOG(IHA_LOG_ERROR, "queue: cannot start a new segment", "detail", e.msg);
    }
    return false;
}

static void rotate_if_full(struct iha_queue *q)
{
    struct iha_err e;

    if (q->active->size < q->segment_bytes)
        return;
    if (iha_queue_open_active(q, &e) != IHA_OK)
        IHA_LOG(IHA_LOG_WARN, "queue: cannot rotate the segment", "detail", e.msg);
}

/* ---- the committer ---- */

long long iha_queue_mono_ms(void)
{
    return (long long)iha_clock_ms();
}

/* A write while unhealthy, when nothing else is waiting: is storage usable again? */
static bool probe(struct iha_queue *q, int *err_no)
{
    struct statvfs sv;
    struct iha_buf b = {0};
    char dir[DIRLEN + 16];
    bool ok;

    iha_queue_path_of(q, "queue", dir, sizeof(dir));
    if (statvfs(dir, &sv) == 0 && (uint64_t)sv.f_bavail * sv.f_frsize < PROBE_MIN_FREE) {
        *err_no = ENOSPC;
        return false;
    }
    if (!iha_queue_buf_frame(&b, IHA_QREC_NOP, 0, NULL, 0))
        return false;
    ok = iha_queue_append_sync(q, &b, err_no);
    if (ok) {
        pthread_mutex_lock(&q->lock);
        q->active->size += b.len;
        q->disk_bytes += b.len;
        pthread_mutex_unlock(&q->lock);
    }
    iha_buf_free(&b);
    return ok;
}

/*
 * One batch: dead-letter lines, then enqueues and markers (attempts, end markers) with
 * one sync. Enqueues go first so that no marker ever precedes its own enqueue on disk.
 * @p ends is the number of end markers in @p marks.
 */
void iha_queue_commit_once(struct iha_queue *q, struct iha_buf *marks, struct iha_buf *enq,
                           struct iha_buf *dead, size_t ends, struct waiter *ws)
{
    int e = 0;
    bool ok, dead_ok, changed = false;
    char why[256] = "";
    iha_queue_health_fn hfn;
    void *cls;
    struct iha_buf both = {0};
    const struct iha_buf *out = enq->len ? enq : marks;

    ok = dead_ok = iha_queue_deadletter_write(q, dead, &e);
    if (ok && marks->len && enq->len) {
        /* one write and one sync for both */
        ok = iha_buf_put(&both, enq->p, enq->len) && iha_buf_put(&both, marks->p, marks->len);
        out = &both;
    }
    if (ok)
        ok = iha_queue_append_sync(q, out, &e);
    iha_buf_free(&both);
    if (!ok)
        snprintf(why, sizeof(why), "storage: cannot write to %.120s: %.80s", q->dir,
                 e ? strerror(e) : "out of memory");

    pthread_mutex_lock(&q->lock);
    if (ok) {
        uint64_t n = marks->len + enq->len;
        q->active->size += n;
        q->disk_bytes += n;
        q->ends_synced += ends;
        for (struct waiter *w = ws; w; w = w->next) {
            struct entry *en = iha_queue_lookup(q, w->seq);
            if (en && !en->seg)
                iha_queue_entry_move(en, q->active, en->bytes);
        }
    } else {
        /*
         * Markers are retried, ahead of newer ones; dead-letter lines only when they are
         * not written already (a second line would be a duplicate). The enqueues failed
         * (their senders get 503).
         */
        struct iha_buf m = *marks, dl = *dead;
        if (iha_buf_put(&m, q->marks.p, q->marks.len)) {
            iha_buf_free(&q->marks);
            q->marks = m;
            q->mark_ends += ends;
            memset(marks, 0, sizeof(*marks));
        }
        if (!dead_ok && iha_buf_put(&dl, q->dead.p, q->dead.len)) {
            iha_buf_free(&q->dead);
            q->dead = dl;
            memset(dead, 0, sizeof(*dead));
        }
        for (struct waiter *w = ws; w; w = w->next) {
            struct entry *en = iha_queue_lookup(q, w->seq);
            if (en) {
                iha_queue_entry_unlink(q, en);
                iha_queue_entry_free(en);
            }
        }
    }
    if (ok || enq->len || marks->len || dead->len || q->marks.len || q->dead.len)
        set_health(q, ok, why, &changed);
    hfn = q->cb.health;
    cls = q->cb.health_cls;
    pthread_cond_broadcast(&q->synced);
    pthread_mutex_unlock(&q->lock);

    if (changed) {
        if (ok)
            IHA_LOG(IHA_LOG_INFO, "queue: storage writable again; accepting notifications", "path",
                    q->dir);
        else
            IHA_LOG(IHA_LOG_ERROR, "queue: storage failed; answering 503 until it recovers", "path",
                    q->dir, "detail", why);
        if (hfn)
            hfn(cls, ok, why);
    }
    while (ws) {
        struct waiter *next = ws->next;
        ws->cb(ws->cls, ok ? IHA_OK : IHA_E_IO, ws->seq, why);
        free(ws);
        ws = next;
    }
}

/* Takes everything pending and commits it (committer thread, or close). */
void iha_queue_commit_pending(struct iha_queue *q)
{
    struct iha_buf marks, enq, dead;
    struct waiter *ws;
    size_t ends;

    pthread_mutex_lock(&q->lock);
    marks = q->marks;
    enq = q->enq;
    dead = q->dead;
    ws = q->waiters;
    ends = q->mark_ends;
    memset(&q->marks, 0, sizeof(q->marks));
    memset(&q->enq, 0, sizeof(q->enq));
    memset(&q->dead, 0, sizeof(q->dead));
    q->mark_ends = 0;
    q->waiters = NULL;
    q->wtail = &q->waiters;
    pthread_mutex_unlock(&q->lock);

    if (marks.len || enq.len || dead.len || ws) {
        iha_queue_commit_once(q, &marks, &enq, &dead, ends, ws);
        rotate_if_full(q);
    }
    iha_buf_free(&marks);
    iha_buf_free(&enq);
    iha_buf_free(&dead);
}

/*
 * Waits until every end marker queued before @p ticket is durable: commits now on the
 * committer thread, else waits for it (bounded). @return true when durable.
 */
bool iha_queue_wait_synced(struct iha_queue *q, uint64_t ticket)
{
    bool done;

    pthread_mutex_lock(&q->lock);
    done = q->ends_synced >= ticket;
    pthread_mutex_unlock(&q->lock);
    if (done || !q->started)
        return done;
    if (iha_queue_on_committer(q)) {
        iha_queue_commit_pending(q);
        pthread_mutex_lock(&q->lock);
        done = q->ends_synced >= ticket;
        pthread_mutex_unlock(&q->lock);
        return done;
    }
    {
        struct timespec ts = iha_clock_deadline(CTL_SYNC_WAIT_MS);
        pthread_mutex_lock(&q->lock);
        pthread_cond_signal(&q->cond);
        while (q->ends_synced < ticket && !q->stop &&
               pthread_cond_timedwait(&q->synced, &q->lock, &ts) == 0)
            ;
        done = q->ends_synced >= ticket;
        pthread_mutex_unlock(&q->lock);
    }
    return done;
}

bool iha_queue_on_committer(struct iha_queue *q)
{
    bool on;

    pthread_mutex_lock(&q->lock);
    on = q->committer_known && pthread_equal(pthread_self(), q->committer);
    pthread_mutex_unlock(&q->lock);
    return on;
}

void *iha_queue_committer(void *arg)
{
    struct iha_queue *q = arg;
    long long last_tick = 0;

    pthread_mutex_lock(&q->lock);
    q->committer = pthread_self();
    q->committer_known = true;
    pthread_mutex_unlock(&q->lock);
    for (;;) {
        bool stop, healthy;
        long long now;

        pthread_mutex_lock(&q->lock);
        /* While storage fails, pending markers are retried once a tick, not in a loop. */
        if (!q->stop && !q->enq.len && (!q->healthy || (!q->marks.len && !q->dead.len))) {
            struct timespec ts = iha_clock_deadline(1000);
            pthread_cond_timedwait(&q->cond, &q->lock, &ts);
        }
        stop = q->stop;
        healthy = q->healthy;
        pthread_mutex_unlock(&q->lock);

        iha_queue_commit_pending(q);
        if (stop)
            break;
        now = iha_queue_mono_ms();
        if (now - last_tick >= TICK_MS) {
            last_tick = now;
            if (!healthy) {
                int e = 0;
                bool changed = false;
                iha_queue_health_fn hfn;
                void *cls;
                bool ok = probe(q, &e);
                pthread_mutex_lock(&q->lock);
                if (ok)
                    set_health(q, true, "", &changed);
                hfn = q->cb.health;
                cls = q->cb.health_cls;
                pthread_mutex_unlock(&q->lock);
                if (changed) {
                    IHA_LOG(IHA_LOG_INFO, "queue: storage writable again; accepting notifications",
                            "path", q->dir);
                    if (hfn)
                        hfn(cls, true, "");
                }
            }
            rotate_if_full(q);
            iha_queue_compact(q);
            iha_queue_poll_control(q, true);
        }
    }
    return NULL;
}
