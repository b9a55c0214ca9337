/* SPDX-License-Identifier: Apache-2.0 */
/** @file queue_recover.c @brief Durable queue: recovery, reading every segment at open. */
/*
 * Recovery runs once, at open, before the committer starts: it rebuilds the index of
 * live notifications from the segments, skipping torn or corrupt records. Separate
 * because its rules (ended stays ended, resynchronising on damage) are its own.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "queue_int.h"

/* ---- recovery ---- */

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static void report_corrupt(struct iha_queue *q, const char *path, size_t off, size_t skipped,
                           bool tail)
{
    char o[32], s[32];

    q->stats.corrupt++;
    q->stats.skipped_bytes += skipped;
    snprintf(o, sizeof(o), "%zu", off);
    snprintf(s, sizeof(s), "%zu", skipped);
    IHA_LOG(IHA_LOG_WARN,
            tail ? "queue: torn or corrupt record at the end of a segment skipped"
                 : "queue: corrupt record skipped",
            "segment", path, "offset", o, "bytes", s);
}

static bool tomb_grow(struct tombs *t)
{
    size_t cap = t->cap ? t->cap * 2 : 1024;
    uint64_t *v = calloc(cap, sizeof(*v));

    if (!v)
        return false;
    for (size_t i = 0; i < t->cap; i++) {
        size_t k;
        if (!t->v[i])
            continue;
        for (k = (size_t)(t->v[i] * 0x9E3779B97F4A7C15ull) & (cap - 1); v[k];
             k = (k + 1) & (cap - 1))
            ;
        v[k] = t->v[i];
    }
    free(t->v);
    t->v = v;
    t->cap = cap;
    return true;
}

/* @return true when @p seq ended; with @p add, remembers it (false only on no memory). */
static bool tomb_test(struct tombs *t, uint64_t seq, bool add)
{
    uint64_t key = seq + 1;
    size_t k;

    if (add && (t->n + 1) * 2 > t->cap && !tomb_grow(t))
        return false;
    if (!t->cap)
        return false;
    for (k = (size_t)(key * 0x9E3779B97F4A7C15ull) & (t->cap - 1); t->v[k];
         k = (k + 1) & (t->cap - 1))
        if (t->v[k] == key)
            return true;
    if (add) {
        t->v[k] = key;
        t->n++;
    }
    return add;
}

static void apply_record(struct iha_queue *q, struct seg *s, const struct iha_qrecord *r,
                         size_t used)
{
    struct entry *e = iha_queue_lookup(q, r->seq);
    json_t *j;

    if (r->seq >= q->next_seq)
        q->next_seq = r->seq + 1;
    switch (r->type) {
    case IHA_QREC_ENQUEUE:
        /* An ended notification never comes back, whatever the order of the records. */
        if (tomb_test(&q->tombs, r->seq, false))
            return;
        if (e) {
            /*
             * A compaction copy: the entry lives in the later segment now, and the copy
             * carries its kept attempts again. Start them over so that a crash between a
             * copy and the deletion of the original does not list attempts twice.
             */
            json_array_clear(e->attempts);
            e->n_attempts = 0;
            /*
             * The hold stays: a copy torn right after its ENQUEUE must not lose the hold
             * the original recorded. A release is a record of its own, so this is safe.
             */
            iha_queue_entry_move(e, s, used + (e->hold ? iha_queue_framed_size(e->hold) : 0));
            return;
        }
        j = json_loadb((const char *)r->payload, r->len, 0, NULL);
        if (!json_is_object(j) || !(e = calloc(1, sizeof(*e)))) {
            json_decref(j);
            q->stats.corrupt++;
            return;
        }
        e->seq = r->seq;
        e->record = j;
        e->attempts = json_array();
        iha_queue_entry_insert(q, e);
        iha_queue_entry_move(e, s, used);
        break;
    case IHA_QREC_ATTEMPT:
        if (e && (j = json_loadb((const char *)r->payload, r->len, 0, NULL))) {
            iha_queue_add_attempt(e, j, used);
            json_decref(j);
        }
        break;
    case IHA_QREC_HOLD:
        if (e && (j = json_loadb((const char *)r->payload, r->len, 0, NULL))) {
            iha_queue_set_hold(e, j);
            json_decref(j);
        }
        break;
    case IHA_QREC_DONE:
    case IHA_QREC_DEAD:
    case IHA_QREC_DROPPED:
        if (!tomb_test(&q->tombs, r->seq, true))
            IHA_LOG(IHA_LOG_WARN, "queue: out of memory remembering ended notifications");
        if (e) {
            iha_queue_entry_unlink(q, e);
            iha_queue_entry_free(e);
        }
        break;
    default:
        break;
    }
}

static void scan_segment(struct iha_queue *q, struct seg *s, const char *path)
{
    size_t len = 0, off = 0;
    unsigned char *data = iha_queue_read_file(path, &len, NULL);

    s->size = len;
    while (data && off < len) {
        struct iha_qrecord r;
        size_t used = 0, bad;
        enum iha_rc rc = iha_queue_parse(data + off, len - off, &r, &used);

        if (rc == IHA_OK) {
            q->stats.records++;
            apply_record(q, s, &r, used);
            off += used;
            continue;
        }
        /* Resynchronise on the next valid record; what lies between is lost. */
        bad = off;
        for (off = off + 1; off < len; off++) {
            if (iha_queue_parse(data + off, len - off, &r, &used) == IHA_OK)
                break;
        }
        report_corrupt(q, path, bad, off - bad, off >= len);
    }
    free(data);
}

enum iha_rc iha_queue_recover(struct iha_queue *q, struct iha_err *err)
{
    char qdir[DIRLEN + 16], path[DIRLEN + 64];
    DIR *d;
    struct dirent *de;
    uint64_t *bases = NULL;
    size_t n = 0, cap = 0;
    struct seg **tail = &q->segs;

    iha_queue_path_of(q, "queue", qdir, sizeof(qdir));
    d = opendir(qdir);
    if (!d) {
        if (errno == ENOENT)
            return IHA_OK;
        iha_err_set(err, "storage.path", "cannot read %s: %s", qdir, strerror(errno));
        return IHA_E_IO;
    }
    while ((de = readdir(d))) {
        char *end;
        unsigned long long b;
        size_t l = strlen(de->d_name);

        if (l != 24 || strcmp(de->d_name + 20, ".seg") != 0)
            continue;
        errno = 0;
        b = strtoull(de->d_name, &end, 10);
        if (errno || end != de->d_name + 20)
            continue;
        if (n == cap) {
            uint64_t *nb = realloc(bases, (cap ? cap * 2 : 16) * sizeof(*bases));
            if (!nb) {
                closedir(d);
                free(bases);
                return IHA_E_NOMEM;
            }
            bases = nb;
            cap = cap ? cap * 2 : 16;
        }
        bases[n++] = b;
    }
    closedir(d);
    if (n)
        qsort(bases, n, sizeof(*bases), cmp_u64);
    for (size_t i = 0; i < n; i++) {
        struct seg *s = calloc(1, sizeof(*s));
        if (!s) {
            free(bases);
            return IHA_E_NOMEM;
        }
        s->base = bases[i];
        *tail = s;
        tail = &s->next;
        if (s->base >= q->next_seq)
            q->next_seq = s->base;
        iha_queue_seg_path(q, s->base, path, sizeof(path));
        scan_segment(q, s, path);
        q->disk_bytes += s->size;
        q->stats.segments++;
    }
    free(bases);
    free(q->tombs.v);
    memset(&q->tombs, 0, sizeof(q->tombs));
    return IHA_OK;
}
