/* SPDX-License-Identifier: Apache-2.0 */
/** @file queue.c @brief Durable queue: checksummed segments, group commit, recovery, compaction. */
#include "queue.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"

#define MAGIC 0x31514849u /* "IHQ1" little-endian */
#define DEFAULT_MAX_BYTES (256ull * 1024 * 1024)
#define DEFAULT_MAX_ENTRIES 10000u
#define DEFAULT_SEGMENT_BYTES (4ull * 1024 * 1024)
#define ATTEMPTS_KEPT 32u
#define TICK_MS 1000
#define PROBE_MIN_FREE (64u * 1024u) /* free bytes needed before a probe calls storage healthy */
#define CLOSE_FLUSH_TRIES 3
#define DIRLEN 3072
#define CTL_MAX 64 /* control commands handled per poll */
#define CTL_BYTES 4096
#define CTL_SYNC_WAIT_MS 5000 /* a control answer waits this long for its marker */

/* ---- CRC-32C and framing ---- */

static uint32_t crc_table[256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static void crc_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = (c & 1u) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
        crc_table[i] = c;
    }
}

uint32_t iha_crc32c(uint32_t crc, const void *buf, size_t len)
{
    const unsigned char *p = buf;

    pthread_once(&crc_once, crc_init);
    crc = ~crc;
    while (len--)
        crc = crc_table[(crc ^ *p++) & 0xFFu] ^ (crc >> 8);
    return ~crc;
}

static void put32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static void put64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static uint32_t get32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get64(const unsigned char *p)
{
    return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32;
}

size_t iha_queue_frame(enum iha_qrec type, uint64_t seq, const void *payload, size_t len,
                       unsigned char *out)
{
    if (len > IHA_QUEUE_RECORD_MAX)
        return 0;
    put32(out, MAGIC);
    put32(out + 8, (uint32_t)len);
    out[12] = (unsigned char)type;
    out[13] = out[14] = out[15] = 0;
    put64(out + 16, seq);
    if (len)
        memcpy(out + IHA_QUEUE_HDR, payload, len);
    put32(out + 4, iha_crc32c(0, out + 8, IHA_QUEUE_HDR - 8 + len));
    return IHA_QUEUE_HDR + len;
}

enum iha_rc iha_queue_parse(const unsigned char *buf, size_t len, struct iha_qrecord *rec,
                            size_t *used)
{
    uint32_t plen;

    if (len < IHA_QUEUE_HDR)
        return len >= 4 && get32(buf) != MAGIC ? IHA_E_PARSE : IHA_E_NOTFOUND;
    if (get32(buf) != MAGIC || buf[13] || buf[14] || buf[15] || buf[12] < IHA_QREC_ENQUEUE ||
        buf[12] > IHA_QREC_NOP)
        return IHA_E_PARSE;
    plen = get32(buf + 8);
    if (plen > IHA_QUEUE_RECORD_MAX)
        return IHA_E_PARSE;
    if (len - IHA_QUEUE_HDR < plen)
        return IHA_E_NOTFOUND;
    if (iha_crc32c(0, buf + 8, IHA_QUEUE_HDR - 8 + plen) != get32(buf + 4))
        return IHA_E_PARSE;
    rec->type = (enum iha_qrec)buf[12];
    rec->seq = get64(buf + 16);
    rec->payload = buf + IHA_QUEUE_HDR;
    rec->len = plen;
    *used = IHA_QUEUE_HDR + plen;
    return IHA_OK;
}

/* ---- state ---- */

struct buf {
    unsigned char *p;
    size_t len, cap;
};

struct seg {
    uint64_t base;
    uint64_t size;
    size_t live;
    uint64_t live_bytes;
    struct seg *next;
};

struct entry {
    uint64_t seq;
    json_t *record;
    json_t *attempts;
    unsigned n_attempts;
    struct seg *seg; /* NULL until durable */
    /*
     * What copying it forward would write: its ENQUEUE record plus its kept ATTEMPT
     * records, counted as live bytes of @c seg (wherever the attempts physically are:
     * compaction goes oldest first, so by the time a later segment is considered the
     * attempts it holds for entries enqueued earlier have been superseded by a copy).
     */
    size_t bytes;
    struct entry *hnext, *prev, *next;
};

/* Sequence numbers seen ended during recovery (open addressing, seq + 1; 0 = empty). */
struct tombs {
    uint64_t *v;
    size_t cap, n;
};

struct waiter {
    iha_queue_done_fn cb;
    void *cls;
    uint64_t seq;
    struct waiter *next;
};

struct iha_queue {
    char dir[DIRLEN];
    uint64_t max_bytes;
    size_t max_entries;
    uint64_t segment_bytes;
    bool read_only;
    int lock_fd;

    pthread_mutex_t lock;
    pthread_cond_t cond;
    /* guarded by lock */
    struct buf enq, marks, dead;
    size_t mark_ends;     /* end markers in marks */
    uint64_t ends_queued; /* end markers handed to the committer, ever */
    uint64_t ends_synced; /* of those, durable (markers stay in order) */
    pthread_cond_t synced;
    struct tombs tombs; /* recovery only */
    struct waiter *waiters, **wtail;
    struct entry **table;
    size_t mask;
    struct entry *head, *tail;
    size_t live;
    uint64_t next_seq;
    struct seg *segs, *active;
    uint64_t disk_bytes;
    bool stop;
    bool healthy;
    char why[256];
    struct iha_queue_callbacks cb;
    struct iha_queue_stats stats;

    pthread_mutex_t ctl_lock; /* control directory polling */
    /* committer thread only */
    int fd;
    pthread_t thread;
    bool started;
};

static void path_of(const struct iha_queue *q, const char *sub, char *out, size_t size)
{
    int n = snprintf(out, size, "%s/%s", q->dir, sub);
    if (n < 0 || (size_t)n >= size)
        out[0] = '\0';
}

static void seg_path(const struct iha_queue *q, uint64_t base, char *out, size_t size)
{
    int n = snprintf(out, size, "%s/queue/%020llu.seg", q->dir, (unsigned long long)base);
    if (n < 0 || (size_t)n >= size)
        out[0] = '\0';
}

static bool buf_reserve(struct buf *b, size_t more)
{
    size_t cap = b->cap ? b->cap : 4096;
    unsigned char *p;

    if (b->len + more <= b->cap)
        return true;
    while (cap < b->len + more)
        cap *= 2;
    p = realloc(b->p, cap);
    if (!p)
        return false;
    b->p = p;
    b->cap = cap;
    return true;
}

static bool buf_append(struct buf *b, const void *data, size_t len)
{
    if (len == 0)
        return true;
    if (!buf_reserve(b, len))
        return false;
    memcpy(b->p + b->len, data, len);
    b->len += len;
    return true;
}

/* Frames a record onto @p b. */
static bool buf_frame(struct buf *b, enum iha_qrec type, uint64_t seq, const char *payload,
                      size_t len)
{
    if (len > IHA_QUEUE_RECORD_MAX || !buf_reserve(b, IHA_QUEUE_HDR + len))
        return false;
    b->len += iha_queue_frame(type, seq, payload, len, b->p + b->len);
    return true;
}

static void buf_free(struct buf *b)
{
    free(b->p);
    memset(b, 0, sizeof(*b));
}

static struct entry *lookup(struct iha_queue *q, uint64_t seq)
{
    for (struct entry *e = q->table[seq & q->mask]; e; e = e->hnext)
        if (e->seq == seq)
            return e;
    return NULL;
}

static void entry_insert(struct iha_queue *q, struct entry *e)
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

static void entry_unlink(struct iha_queue *q, struct entry *e)
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

static void entry_free(struct entry *e)
{
    if (!e)
        return;
    json_decref(e->record);
    json_decref(e->attempts);
    free(e);
}

static void entry_move(struct entry *e, struct seg *to, size_t bytes)
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
static size_t framed_size(const json_t *j)
{
    char *text = json_dumps(j, JSON_COMPACT);
    size_t n = IHA_QUEUE_HDR + (text ? strlen(text) : 0);

    free(text);
    return n;
}

/* Adds @p a (copied) to the kept attempts; its live bytes follow (record of @p size). */
static void add_attempt(struct entry *e, const json_t *a, size_t size)
{
    json_t *c = json_deep_copy(a);
    size_t gone = 0;

    if (!c)
        return;
    if (json_array_size(e->attempts) >= ATTEMPTS_KEPT) {
        gone = framed_size(json_array_get(e->attempts, 0));
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

static void set_health(struct iha_queue *q, bool ok, const char *why, bool *changed)
{
    *changed = q->healthy != ok;
    q->healthy = ok;
    snprintf(q->why, sizeof(q->why), "%s", ok ? "" : why);
}

static int fsync_dir(const char *path)
{
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int rc;

    if (fd < 0)
        return -1;
    rc = fsync(fd);
    close(fd);
    return rc;
}

static bool write_all(int fd, const unsigned char *p, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return false;
        }
        if (n == 0) {
            errno = EIO;
            return false;
        }
        p += n;
        len -= (size_t)n;
    }
    return true;
}

/* ---- recovery ---- */

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* A file owned by someone else than the gateway's user or root is not ours to trust. */
static bool trusted_uid(uid_t uid)
{
    return uid == geteuid() || uid == 0;
}

/*
 * Reads a regular file of the data directory; a symlink is not followed. @p owner (may
 * be NULL) receives the file's owner.
 */
static unsigned char *read_file(const char *path, size_t *len, uid_t *owner)
{
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    struct stat st;
    unsigned char *p = NULL;
    size_t got = 0;

    *len = 0;
    if (fd < 0)
        return NULL;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || !(p = malloc((size_t)st.st_size + 1)))
        goto out;
    if (owner)
        *owner = st.st_uid;
    while (got < (size_t)st.st_size) {
        ssize_t n = read(fd, p + got, (size_t)st.st_size - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
    }
out:
    close(fd);
    *len = got;
    return p;
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
    struct entry *e = lookup(q, r->seq);
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
            entry_move(e, s, used);
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
        entry_insert(q, e);
        entry_move(e, s, used);
        break;
    case IHA_QREC_ATTEMPT:
        if (e && (j = json_loadb((const char *)r->payload, r->len, 0, NULL))) {
            add_attempt(e, j, used);
            json_decref(j);
        }
        break;
    case IHA_QREC_DONE:
    case IHA_QREC_DEAD:
    case IHA_QREC_DROPPED:
        if (!tomb_test(&q->tombs, r->seq, true))
            IHA_LOG(IHA_LOG_WARN, "queue: out of memory remembering ended notifications");
        if (e) {
            entry_unlink(q, e);
            entry_free(e);
        }
        break;
    default:
        break;
    }
}

static void scan_segment(struct iha_queue *q, struct seg *s, const char *path)
{
    size_t len = 0, off = 0;
    unsigned char *data = read_file(path, &len, NULL);

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

static enum iha_rc recover(struct iha_queue *q, struct iha_err *err)
{
    char qdir[DIRLEN + 16], path[DIRLEN + 64];
    DIR *d;
    struct dirent *de;
    uint64_t *bases = NULL;
    size_t n = 0, cap = 0;
    struct seg **tail = &q->segs;

    path_of(q, "queue", qdir, sizeof(qdir));
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
        seg_path(q, s->base, path, sizeof(path));
        scan_segment(q, s, path);
        q->disk_bytes += s->size;
        q->stats.segments++;
    }
    free(bases);
    free(q->tombs.v);
    memset(&q->tombs, 0, sizeof(q->tombs));
    return IHA_OK;
}

/* ---- the active segment (committer thread, or open) ---- */

static enum iha_rc open_active(struct iha_queue *q, struct iha_err *err)
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
        seg_path(q, s->base, path, sizeof(path));
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
    path_of(q, "queue", qdir, sizeof(qdir));
    if (fsync_dir(qdir) != 0) {
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
static bool append_sync(struct iha_queue *q, const struct buf *b, int *err_no)
{
    off_t before = lseek(q->fd, 0, SEEK_END);

    if (b->len == 0)
        return true;
    if (write_all(q->fd, b->p, b->len) && fdatasync(q->fd) == 0)
        return true;
    *err_no = errno;
    if (before < 0 || ftruncate(q->fd, before) != 0) {
        /* The segment may hold a torn record now: never append after it. */
        struct iha_err e;
        if (open_active(q, &e) != IHA_OK)
            IHA_LOG(IHA_LOG_ERROR, "queue: cannot start a new segment", "detail", e.msg);
    }
    return false;
}

static void rotate_if_full(struct iha_queue *q)
{
    struct iha_err e;

    if (q->active->size < q->segment_bytes)
        return;
    if (open_active(q, &e) != IHA_OK)
        IHA_LOG(IHA_LOG_WARN, "queue: cannot rotate the segment", "detail", e.msg);
}

/*
 * The oldest segment, when compacting it is worth it: some run of the oldest segments
 * (starting with it) holds at most half live bytes, so copying their live records forward
 * costs no more than the space it frees. Only ever the oldest: a later segment may hold
 * the end markers of notifications enqueued in an earlier one, and deleting it while the
 * earlier one is kept would bring those notifications back at the next start. Copies
 * count as fully live, so with no traffic this reaches a fixed point. Called under lock.
 */
static struct seg *compact_pick(struct iha_queue *q)
{
    uint64_t live = 0, size = 0;

    for (struct seg *s = q->segs; s && s != q->active; s = s->next) {
        live += s->live_bytes;
        size += s->size;
        if (live * 2 <= size)
            return q->segs;
    }
    return NULL;
}

/* Deletes old segments oldest first, copying their live records forward. */
static void compact(struct iha_queue *q)
{
    char path[DIRLEN + 64], qdir[DIRLEN + 16];

    path_of(q, "queue", qdir, sizeof(qdir));
    for (;;) {
        struct seg *s;
        struct buf copy = {0};
        int e = 0;

        pthread_mutex_lock(&q->lock);
        s = compact_pick(q);
        if (!s) {
            pthread_mutex_unlock(&q->lock);
            break;
        }
        if (s->live > 0) {
            bool ok = true;
            for (struct entry *en = q->head; en && ok; en = en->next) {
                char *text;
                if (en->seg != s)
                    continue;
                text = json_dumps(en->record, JSON_COMPACT);
                ok = text && buf_frame(&copy, IHA_QREC_ENQUEUE, en->seq, text, strlen(text));
                free(text);
                for (size_t i = 0; ok && i < json_array_size(en->attempts); i++) {
                    text = json_dumps(json_array_get(en->attempts, i), JSON_COMPACT);
                    ok = text && buf_frame(&copy, IHA_QREC_ATTEMPT, en->seq, text, strlen(text));
                    free(text);
                }
            }
            pthread_mutex_unlock(&q->lock);
            if (!ok || !append_sync(q, &copy, &e)) {
                buf_free(&copy);
                break; /* try again on a later pass */
            }
            pthread_mutex_lock(&q->lock);
            q->active->size += copy.len;
            q->disk_bytes += copy.len;
            for (struct entry *en = q->head; en; en = en->next) {
                /* What the copy holds for it (attempts noted since then are in marks). */
                size_t used;
                if (en->seg != s)
                    continue;
                used = framed_size(en->record);
                for (size_t i = 0; i < json_array_size(en->attempts); i++)
                    used += framed_size(json_array_get(en->attempts, i));
                entry_move(en, q->active, used);
            }
            buf_free(&copy);
        }
        pthread_mutex_unlock(&q->lock);
        /* Nothing refers to it now; only this thread changes the list of segments. */
        seg_path(q, s->base, path, sizeof(path));
        if (unlink(path) != 0 && errno != ENOENT) {
            /* Kept in the list: nothing newer may go while it could be read again. */
            IHA_LOG(IHA_LOG_WARN, "queue: cannot delete a completed segment", "segment", path,
                    "detail", strerror(errno));
            break;
        }
        /* Each deletion durable before the next: a newer one may hold this one's markers. */
        (void)fsync_dir(qdir);
        pthread_mutex_lock(&q->lock);
        q->segs = s->next;
        q->disk_bytes -= s->size;
        pthread_mutex_unlock(&q->lock);
        free(s);
    }
}

/* ---- dead letters ---- */

void iha_queue_deadletter_path(const char *dir, char *out, size_t size)
{
    int n = snprintf(out, size, "%s/deadletter.jsonl", dir);
    if (n < 0 || (size_t)n >= size)
        out[0] = '\0';
}

static bool write_deadletters(struct iha_queue *q, const struct buf *b, int *err_no)
{
    char path[DIRLEN + 32];
    int fd;
    bool ok;

    if (b->len == 0)
        return true;
    iha_queue_deadletter_path(q->dir, path, sizeof(path));
    /* O_NOFOLLOW: a symlink planted here must not redirect the append elsewhere */
    fd = open(path, O_RDWR | O_CREAT | O_APPEND | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) {
        *err_no = errno;
        return false;
    }
    {
        struct stat st;
        off_t before = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) ? st.st_size : -1;
        char last = '\n';

        if (before < 0) {
            *err_no = EINVAL;
            close(fd);
            return false;
        }
        /* a torn line left by a crash or a failed cut must not swallow the next one */
        if (before > 0 && pread(fd, &last, 1, before - 1) == 1 && last != '\n')
            ok = write_all(fd, (const unsigned char *)"\n", 1);
        else
            ok = true;
        ok = ok && write_all(fd, b->p, b->len) && fdatasync(fd) == 0;
        if (!ok) {
            *err_no = errno;
            IHA_IGNORE(ftruncate(fd, before),
                       "if the cut fails the partial line stays: readers skip lines that do not "
                       "parse, and the next write starts on a new line");
        }
    }
    close(fd);
    return ok;
}

enum iha_rc iha_queue_deadletter_note(struct iha_queue *q, const json_t *line)
{
    struct buf b = {0};
    char *text = json_dumps(line, JSON_COMPACT);
    int e = 0;
    enum iha_rc rc = IHA_E_NOMEM;

    if (text && buf_append(&b, text, strlen(text)) && buf_append(&b, "\n", 1))
        rc = write_deadletters(q, &b, &e) ? IHA_OK : IHA_E_IO;
    free(text);
    buf_free(&b);
    return rc;
}

/* ---- control directory ---- */

static const char *owner_s(uid_t uid, char *buf, size_t size)
{
    snprintf(buf, size, "%u", (unsigned)uid);
    return buf;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void write_answer(const char *path, bool ok, const char *answer)
{
    char tmp[DIRLEN + 400];
    json_t *j = json_pack("{s:b,s:s}", "ok", ok, "answer", answer);
    char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
    int fd, n;

    json_decref(j);
    n = snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    if (!text || n < 0 || (size_t)n >= sizeof(tmp)) {
        free(text);
        return;
    }
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd >= 0) {
        bool w = write_all(fd, (const unsigned char *)text, strlen(text));
        close(fd);
        if (!w || rename(tmp, path) != 0)
            unlink(tmp);
    }
    free(text);
}

static bool wait_synced(struct iha_queue *q, uint64_t ticket);

/*
 * Runs the pending control commands. An answer is written only once the end markers the
 * command queued are durable. @p committer: called from the committer's tick, which
 * skips a round while iha_queue_run_control() holds the directory (it waits for this
 * thread to sync its markers).
 */
static void poll_control(struct iha_queue *q, bool committer)
{
    char cdir[DIRLEN + 16];
    char *names[CTL_MAX];
    size_t n = 0;
    DIR *d;
    struct dirent *de;
    iha_queue_control_fn fn;
    void *cls;

    pthread_mutex_lock(&q->lock);
    fn = q->cb.control;
    cls = q->cb.control_cls;
    pthread_mutex_unlock(&q->lock);
    if (!fn)
        return;
    path_of(q, "control", cdir, sizeof(cdir));
    if (committer) {
        if (pthread_mutex_trylock(&q->ctl_lock) != 0)
            return;
    } else {
        pthread_mutex_lock(&q->ctl_lock);
    }
    d = opendir(cdir);
    while (d && (de = readdir(d)) && n < CTL_MAX) {
        size_t l = strlen(de->d_name);
        if (l > 4 && de->d_name[0] != '.' && strcmp(de->d_name + l - 4, ".cmd") == 0 &&
            (names[n] = strdup(de->d_name)))
            n++;
    }
    if (d)
        closedir(d);
    if (n)
        qsort(names, n, sizeof(names[0]), cmp_str);
    for (size_t i = 0; i < n; i++) {
        char path[DIRLEN + 300], done[DIRLEN + 300], answer[512] = "";
        size_t len = 0;
        unsigned char *text;
        json_t *j;
        bool ok = false;
        int a, b;
        uid_t owner = 0;
        char own[24];

        a = snprintf(path, sizeof(path), "%s/%s", cdir, names[i]);
        b = snprintf(done, sizeof(done), "%s/%.*s.done", cdir, (int)(strlen(names[i]) - 4),
                     names[i]);
        if (a < 0 || (size_t)a >= sizeof(path) || b < 0 || (size_t)b >= sizeof(done))
            continue;
        text = read_file(path, &len, &owner);
        if (text && !trusted_uid(owner)) {
            /* only the gateway's user (or root, via the CLI) may command it */
            IHA_LOG(IHA_LOG_WARN,
                    "queue: ignoring a control file not written by the gateway's user", "file",
                    path, "owner_uid", owner_s(owner, own, sizeof(own)));
            free(text);
            unlink(path);
            continue;
        }
        j = text && len < CTL_BYTES ? json_loadb((const char *)text, len, 0, NULL) : NULL;
        free(text);
        if (json_is_string(json_object_get(j, "cmd")) && json_is_string(json_object_get(j, "id"))) {
            uint64_t ticket;
            ok = fn(cls, json_string_value(json_object_get(j, "cmd")),
                    json_string_value(json_object_get(j, "id")), answer, sizeof(answer));
            pthread_mutex_lock(&q->lock);
            ticket = q->ends_queued;
            pthread_mutex_unlock(&q->lock);
            if (!wait_synced(q, ticket)) {
                size_t l = strlen(answer);
                char why[256];
                (void)iha_queue_unhealthy(q, why, sizeof(why));
                snprintf(answer + l, sizeof(answer) - l,
                         "; but its end marker is not on disk yet (%.200s): it is retried, and a "
                         "restart before then brings the notification back",
                         why[0] ? why : "storage is slow");
                ok = false;
            }
        } else {
            snprintf(answer, sizeof(answer), "malformed command file %s", names[i]);
        }
        json_decref(j);
        write_answer(done, ok, answer);
        unlink(path);
        IHA_LOG(ok ? IHA_LOG_INFO : IHA_LOG_WARN, "queue: control command", "file", names[i],
                "result", answer);
    }
    pthread_mutex_unlock(&q->ctl_lock);
    for (size_t i = 0; i < n; i++)
        free(names[i]);
}

void iha_queue_run_control(struct iha_queue *q)
{
    poll_control(q, false);
}

/* ---- the committer ---- */

static long long mono_ms(void)
{
    return (long long)iha_clock_ms();
}

/* A write while unhealthy, when nothing else is waiting: is storage usable again? */
static bool probe(struct iha_queue *q, int *err_no)
{
    struct statvfs sv;
    struct buf b = {0};
    char dir[DIRLEN + 16];
    bool ok;

    path_of(q, "queue", dir, sizeof(dir));
    if (statvfs(dir, &sv) == 0 && (uint64_t)sv.f_bavail * sv.f_frsize < PROBE_MIN_FREE) {
        *err_no = ENOSPC;
        return false;
    }
    if (!buf_frame(&b, IHA_QREC_NOP, 0, NULL, 0))
        return false;
    ok = append_sync(q, &b, err_no);
    if (ok) {
        pthread_mutex_lock(&q->lock);
        q->active->size += b.len;
        q->disk_bytes += b.len;
        pthread_mutex_unlock(&q->lock);
    }
    buf_free(&b);
    return ok;
}

/*
 * One batch: dead-letter lines, then enqueues and markers (attempts, end markers) with
 * one sync. Enqueues go first so that no marker ever precedes its own enqueue on disk.
 * @p ends is the number of end markers in @p marks.
 */
static void commit_once(struct iha_queue *q, struct buf *marks, struct buf *enq, struct buf *dead,
                        size_t ends, struct waiter *ws)
{
    int e = 0;
    bool ok, dead_ok, changed = false;
    char why[256] = "";
    iha_queue_health_fn hfn;
    void *cls;
    struct buf both = {0};
    const struct buf *out = enq->len ? enq : marks;

    ok = dead_ok = write_deadletters(q, dead, &e);
    if (ok && marks->len && enq->len) {
        /* one write and one sync for both */
        ok = buf_append(&both, enq->p, enq->len) && buf_append(&both, marks->p, marks->len);
        out = &both;
    }
    if (ok)
        ok = append_sync(q, out, &e);
    buf_free(&both);
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
            struct entry *en = lookup(q, w->seq);
            if (en && !en->seg)
                entry_move(en, q->active, en->bytes);
        }
    } else {
        /*
         * Markers are retried, ahead of newer ones; dead-letter lines only when they are
         * not written already (a second line would be a duplicate). The enqueues failed
         * (their senders get 503).
         */
        struct buf m = *marks, dl = *dead;
        if (buf_append(&m, q->marks.p, q->marks.len)) {
            buf_free(&q->marks);
            q->marks = m;
            q->mark_ends += ends;
            memset(marks, 0, sizeof(*marks));
        }
        if (!dead_ok && buf_append(&dl, q->dead.p, q->dead.len)) {
            buf_free(&q->dead);
            q->dead = dl;
            memset(dead, 0, sizeof(*dead));
        }
        for (struct waiter *w = ws; w; w = w->next) {
            struct entry *en = lookup(q, w->seq);
            if (en) {
                entry_unlink(q, en);
                entry_free(en);
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
static void commit_pending(struct iha_queue *q)
{
    struct buf marks, enq, dead;
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
        commit_once(q, &marks, &enq, &dead, ends, ws);
        rotate_if_full(q);
    }
    buf_free(&marks);
    buf_free(&enq);
    buf_free(&dead);
}

/*
 * Waits until every end marker queued before @p ticket is durable: commits now on the
 * committer thread, else waits for it (bounded). @return true when durable.
 */
static bool wait_synced(struct iha_queue *q, uint64_t ticket)
{
    bool done;

    pthread_mutex_lock(&q->lock);
    done = q->ends_synced >= ticket;
    pthread_mutex_unlock(&q->lock);
    if (done || !q->started)
        return done;
    if (pthread_equal(pthread_self(), q->thread)) {
        commit_pending(q);
        pthread_mutex_lock(&q->lock);
        done = q->ends_synced >= ticket;
        pthread_mutex_unlock(&q->lock);
        return done;
    }
    {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += CTL_SYNC_WAIT_MS / 1000;
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

static void *committer(void *arg)
{
    struct iha_queue *q = arg;
    long long last_tick = 0;

    for (;;) {
        bool stop, healthy;
        long long now;

        pthread_mutex_lock(&q->lock);
        /* While storage fails, pending markers are retried once a tick, not in a loop. */
        if (!q->stop && !q->enq.len && (!q->healthy || (!q->marks.len && !q->dead.len))) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_sec += 1;
            pthread_cond_timedwait(&q->cond, &q->lock, &ts);
        }
        stop = q->stop;
        healthy = q->healthy;
        pthread_mutex_unlock(&q->lock);

        commit_pending(q);
        if (stop)
            break;
        now = mono_ms();
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
            compact(q);
            poll_control(q, true);
        }
    }
    return NULL;
}

/* ---- public ---- */

static int mkdir_p(const char *path)
{
    char tmp[DIRLEN];
    size_t len = strlen(path);

    if (len == 0 || len >= sizeof(tmp))
        return -1;
    memcpy(tmp, path, len + 1);
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(tmp, 0755) != 0 && errno != EEXIST)
            return -1;
        *p = '/';
    }
    if (mkdir(tmp, 0700) != 0 && errno != EEXIST)
        return -1;
    return 0;
}

/* @return whether @p gid is the gateway's group (e.g. a Kubernetes fsGroup). */
static bool own_group(gid_t gid)
{
    gid_t groups[64];
    int n = getgroups(64, groups);

    if (gid == getegid())
        return true;
    for (int i = 0; i < n; i++) {
        if (groups[i] == gid)
            return true;
    }
    return false;
}

/*
 * Refuses a directory another local user controls: owned by someone else than the
 * gateway's user or root, or writable by others (world, or a group that is not ours).
 * Refused rather than tightened: files may already have been planted, and the operator
 * should look. @p nofollow: the path must not be a symlink (subdirectories).
 */
static enum iha_rc check_dir(const char *path, bool nofollow, struct iha_err *err)
{
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC | (nofollow ? O_NOFOLLOW : 0));
    struct stat st;

    if (fd < 0 || fstat(fd, &st) != 0) {
        iha_err_set(err, "storage.path", "cannot open directory %s: %s%s", path, strerror(errno),
                    errno == ELOOP || errno == ENOTDIR ? " (it must be a directory, not a symlink)"
                                                       : "");
        if (fd >= 0)
            close(fd);
        return IHA_E_IO;
    }
    close(fd);
    if (!trusted_uid(st.st_uid)) {
        iha_err_set(err, "storage.path",
                    "%s is owned by uid %u, not by the gateway's user (uid %u) or root: that user "
                    "could change the queue; chown %u %s && chmod 0700 %s, or choose another "
                    "directory",
                    path, (unsigned)st.st_uid, (unsigned)geteuid(), (unsigned)geteuid(), path,
                    path);
        return IHA_E_AUTH;
    }
    if ((st.st_mode & S_IWOTH) || ((st.st_mode & S_IWGRP) && !own_group(st.st_gid))) {
        iha_err_set(err, "storage.path",
                    "%s has mode %04o: other local users could queue control commands or replace "
                    "files in it; check its contents, then chmod 0700 %s",
                    path, (unsigned)(st.st_mode & 07777), path);
        return IHA_E_AUTH;
    }
    return IHA_OK;
}

/* Refuses a deadletter.jsonl that is not a regular file (a symlink planted there). */
static enum iha_rc check_deadletter(const char *dir, struct iha_err *err)
{
    char path[DIRLEN + 32];
    struct stat st;

    iha_queue_deadletter_path(dir, path, sizeof(path));
    if (lstat(path, &st) != 0)
        return errno == ENOENT ? IHA_OK : IHA_E_IO;
    if (S_ISREG(st.st_mode) && trusted_uid(st.st_uid))
        return IHA_OK;
    iha_err_set(err, "storage.path",
                "%s is %s (owner uid %u): refusing to write dead letters through it; remove it "
                "(rm %s) and check the directory",
                path, S_ISLNK(st.st_mode) ? "a symlink" : "not a regular file of ours",
                (unsigned)st.st_uid, path);
    return IHA_E_AUTH;
}

static void queue_destroy(struct iha_queue *q)
{
    struct entry *e = q->head;
    struct seg *s = q->segs;

    while (e) {
        struct entry *n = e->next;
        entry_free(e);
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
    buf_free(&q->enq);
    buf_free(&q->marks);
    buf_free(&q->dead);
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
    char path[DIRLEN + 16];
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
        if (mkdir_p(q->dir) != 0) {
            iha_err_set(err, "storage.path", "cannot create %s: %s", q->dir, strerror(errno));
            queue_destroy(q);
            return IHA_E_IO;
        }
        /* before anything is created in it */
        rc = check_dir(q->dir, false, err);
        if (rc != IHA_OK) {
            queue_destroy(q);
            return rc;
        }
        path_of(q, "queue", path, sizeof(path));
        if (mkdir(path, 0700) != 0 && errno != EEXIST) {
            iha_err_set(err, "storage.path", "cannot create %s: %s", path, strerror(errno));
            queue_destroy(q);
            return IHA_E_IO;
        }
        path_of(q, "control", path, sizeof(path));
        if (mkdir(path, 0700) != 0 && errno != EEXIST) {
            iha_err_set(err, "storage.path", "cannot create %s: %s", path, strerror(errno));
            queue_destroy(q);
            return IHA_E_IO;
        }
        path_of(q, "queue", path, sizeof(path));
        rc = check_dir(path, true, err);
        path_of(q, "control", path, sizeof(path));
        if (rc == IHA_OK)
            rc = check_dir(path, true, err);
        if (rc == IHA_OK)
            rc = check_deadletter(q->dir, err);
        if (rc != IHA_OK) {
            queue_destroy(q);
            return rc;
        }
        path_of(q, "lock", path, sizeof(path));
        q->lock_fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (q->lock_fd < 0) {
            iha_err_set(err, "storage.path", "cannot open %s: %s", path, strerror(errno));
            queue_destroy(q);
            return IHA_E_IO;
        }
        if (flock(q->lock_fd, LOCK_EX | LOCK_NB) != 0) {
            iha_err_set(err, "storage.path", "%s is in use by another iha-gateway (lock %s)",
                        q->dir, path);
            queue_destroy(q);
            return IHA_E_AUTH;
        }
    }
    rc = recover(q, err);
    if (rc != IHA_OK) {
        queue_destroy(q);
        return rc;
    }
    q->stats.live = q->live;
    q->stats.disk_bytes = q->disk_bytes;
    if (!q->read_only) {
        rc = open_active(q, err);
        if (rc != IHA_OK) {
            queue_destroy(q);
            return rc;
        }
        compact(q);
        if (pthread_create(&q->thread, NULL, committer, q) != 0) {
            iha_err_set(err, NULL, "cannot start the queue thread");
            queue_destroy(q);
            return IHA_E_IO;
        }
        q->started = true;
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
            struct buf m = q->marks, e = {0}, d = q->dead;
            size_t ends = q->mark_ends;
            memset(&q->marks, 0, sizeof(q->marks));
            memset(&q->dead, 0, sizeof(q->dead));
            q->mark_ends = 0;
            commit_once(q, &m, &e, &d, ends, NULL);
            buf_free(&m);
            buf_free(&d);
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
        if (buf_frame(&q->enq, IHA_QREC_ENQUEUE, e->seq, text, len)) {
            q->next_seq++;
            entry_insert(q, e);
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
    entry_free(e);
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
    if (pthread_equal(pthread_self(), q->thread))
        commit_pending(q);
    pthread_mutex_lock(&q->lock);
    pthread_cond_signal(&q->cond);
    while (!d.done)
        pthread_cond_wait(&q->synced, &q->lock);
    rc = d.rc;
    pthread_mutex_unlock(&q->lock);
    return rc;
}

static json_t *deadletter_line(const struct entry *e, const json_t *info)
{
    json_t *line = info ? json_deep_copy(info) : json_object();
    char now[40];
    struct tm tm;
    time_t t = time(NULL);

    if (!line)
        return NULL;
    gmtime_r(&t, &tm);
    strftime(now, sizeof(now), "%Y-%m-%dT%H:%M:%SZ", &tm);
    json_object_set_new(line, "dead_lettered_at", json_string(now));
    json_object_set_new(line, "seq", json_integer((json_int_t)e->seq));
    if (json_object_get(e->record, "id"))
        json_object_set(line, "id", json_object_get(e->record, "id"));
    json_object_set(line, "notification", e->record);
    json_object_set(line, "attempts", e->attempts);
    json_object_set_new(line, "attempts_total", json_integer(e->n_attempts));
    return line;
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
    e = lookup(q, seq);
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
        line = deadletter_line(e, info);
        dl = line ? json_dumps(line, JSON_COMPACT) : NULL;
        if (!dl || !buf_append(&q->dead, dl, strlen(dl)) || !buf_append(&q->dead, "\n", 1)) {
            q->dead.len = dead_len;
            goto unlock;
        }
    }
    if (!buf_frame(&q->marks, type, seq, text, strlen(text))) {
        q->dead.len = dead_len; /* no marker, no line */
        goto unlock;
    }
    q->mark_ends++;
    q->ends_queued++;
    entry_unlink(q, e);
    entry_free(e);
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
    e = lookup(q, seq);
    if (e) {
        add_attempt(e, attempt, IHA_QUEUE_HDR + strlen(text));
        /*
         * Rides with the next batch; not worth a sync of its own. While storage fails,
         * only end markers wait in memory: attempts are informational (kept in memory
         * for the dead-letter record), so pending markers cannot grow without bound.
         */
        if (q->healthy)
            (void)buf_frame(&q->marks, IHA_QREC_ATTEMPT, seq, text, strlen(text));
    }
    pthread_mutex_unlock(&q->lock);
    free(text);
}

void iha_queue_foreach(struct iha_queue *q, iha_queue_visit_fn fn, void *cls)
{
    pthread_mutex_lock(&q->lock);
    for (struct entry *e = q->head; e; e = e->next) {
        struct iha_queue_item it = {e->seq, e->record, e->attempts, e->n_attempts};
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
            struct iha_queue_item it = {e->seq, e->record, e->attempts, e->n_attempts};
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
    e = lookup(q, seq);
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

/* ---- CLI side ---- */

bool iha_queue_daemon_running(const char *dir)
{
    char path[DIRLEN + 16];
    int fd, n = snprintf(path, sizeof(path), "%s/lock", dir);
    bool running = false;

    if (n < 0 || (size_t)n >= sizeof(path))
        return false;
    fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return false;
    if (flock(fd, LOCK_SH | LOCK_NB) != 0)
        running = errno == EWOULDBLOCK;
    close(fd);
    return running;
}

int iha_queue_send_control(const char *dir, const char *cmd, const char *id, unsigned wait_ms,
                           char *answer, size_t answer_size)
{
    char cdir[DIRLEN + 16], name[128], tmp[DIRLEN + 200], path[DIRLEN + 200], done[DIRLEN + 200];
    struct timespec ts;
    json_t *j = json_pack("{s:s,s:s}", "cmd", cmd, "id", id);
    char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
    int fd, status = 3;
    bool running;
    long long end;

    json_decref(j);
    answer[0] = '\0';
    snprintf(cdir, sizeof(cdir), "%s/control", dir);
    if (!text || (mkdir(cdir, 0700) != 0 && errno != EEXIST)) {
        snprintf(answer, answer_size, "cannot use %s: %s", cdir, strerror(errno));
        free(text);
        return 3;
    }
    clock_gettime(CLOCK_REALTIME, &ts);
    snprintf(name, sizeof(name), "%013lld-%d-%06ld",
             (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000, (int)getpid(),
             ts.tv_nsec / 1000 % 1000000);
    snprintf(tmp, sizeof(tmp), "%s/.%s.tmp", cdir, name);
    snprintf(path, sizeof(path), "%s/%s.cmd", cdir, name);
    snprintf(done, sizeof(done), "%s/%s.done", cdir, name);
    fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd >= 0 && geteuid() == 0) {
        /* root's 0600 file would be unreadable by a daemon running as its service user */
        struct stat st;
        if (stat(cdir, &st) == 0 && st.st_uid != 0 && fchown(fd, st.st_uid, st.st_gid) != 0) {
            close(fd);
            fd = -1;
        }
    }
    if (fd < 0 || !write_all(fd, (const unsigned char *)text, strlen(text)) || fsync(fd) != 0 ||
        rename(tmp, path) != 0) {
        snprintf(answer, answer_size, "cannot write %s: %s", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        unlink(tmp);
        free(text);
        return 3;
    }
    close(fd);
    free(text);
    (void)fsync_dir(cdir);
    running = iha_queue_daemon_running(dir);
    end = mono_ms() + wait_ms;
    while (running && mono_ms() < end) {
        size_t len = 0;
        unsigned char *d = read_file(done, &len, NULL);
        if (d) {
            json_t *a = json_loadb((const char *)d, len, 0, NULL);
            free(d);
            unlink(done);
            snprintf(answer, answer_size, "%s",
                     json_string_value(json_object_get(a, "answer"))
                         ? json_string_value(json_object_get(a, "answer"))
                         : "");
            status = json_is_true(json_object_get(a, "ok")) ? 0 : 1;
            json_decref(a);
            return status;
        }
        usleep(50 * 1000);
    }
    snprintf(answer, answer_size, "%s; the command is kept in %s and runs when the daemon reads it",
             running ? "the daemon did not answer in time"
                     : "no daemon is running on this "
                       "directory",
             path);
    return 2;
}
