/* SPDX-License-Identifier: Apache-2.0 */
/** @file test_queue.c @brief Durable queue: framing, checksum, recovery, compaction, limits. */
#include "cmocka_includes.h"
#include "test_gate.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "queue.h"

/*
 * fdatasync is wrapped at link time: a test can hold the committer inside a sync (a
 * slow disk) or make syncs fail (EIO) to exercise the storage-failure paths.
 */
int __real_fdatasync(int fd);
int __wrap_fdatasync(int fd);

static struct {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool gate_closed; /* syncs wait until it opens */
    unsigned entered; /* syncs started */
    int fail_in;      /* > 0: the fail_in-th sync from now fails */
    bool fail_all;
} fs = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, false, 0, 0, false};

int __wrap_fdatasync(int fd)
{
    bool fail;

    pthread_mutex_lock(&fs.lock);
    fs.entered++;
    pthread_cond_broadcast(&fs.cond);
    while (fs.gate_closed)
        pthread_cond_wait(&fs.cond, &fs.lock);
    fail = fs.fail_all || (fs.fail_in > 0 && --fs.fail_in == 0);
    pthread_mutex_unlock(&fs.lock);
    if (fail) {
        errno = EIO;
        return -1;
    }
    return __real_fdatasync(fd);
}

static void gate(bool closed)
{
    pthread_mutex_lock(&fs.lock);
    fs.gate_closed = closed;
    pthread_cond_broadcast(&fs.cond);
    pthread_mutex_unlock(&fs.lock);
}

static void wait_entered(unsigned n)
{
    pthread_mutex_lock(&fs.lock);
    while (fs.entered < n)
        pthread_cond_wait(&fs.cond, &fs.lock);
    pthread_mutex_unlock(&fs.lock);
}

static void fail_syncs(int fail_in, bool fail_all)
{
    pthread_mutex_lock(&fs.lock);
    fs.fail_in = fail_in;
    fs.fail_all = fail_all;
    fs.entered = 0;
    fs.gate_closed = false; /* a failed test may have left it closed */
    pthread_cond_broadcast(&fs.cond);
    pthread_mutex_unlock(&fs.lock);
}

struct waitset {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    unsigned done, failed;
};

static struct waitset ws = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0};

static void on_done(void *cls, enum iha_rc rc, uint64_t seq, const char *why)
{
    (void)cls;
    (void)seq;
    (void)why;
    pthread_mutex_lock(&ws.lock);
    if (rc == IHA_OK)
        ws.done++;
    else
        ws.failed++;
    pthread_cond_broadcast(&ws.cond);
    pthread_mutex_unlock(&ws.lock);
}

static void wait_done(unsigned n)
{
    pthread_mutex_lock(&ws.lock);
    while (ws.done + ws.failed < n)
        pthread_cond_wait(&ws.cond, &ws.lock);
    pthread_mutex_unlock(&ws.lock);
}

static void reset_waits(void)
{
    pthread_mutex_lock(&ws.lock);
    ws.done = ws.failed = 0;
    pthread_mutex_unlock(&ws.lock);
}

static char *make_dir(void)
{
    char tmpl[] = "/tmp/iha-test-queue.XXXXXX";
    char *d = mkdtemp(tmpl);

    assert_non_null(d);
    return strdup(d);
}

static void remove_tree(const char *dir)
{
    char cmd[512];

    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

static struct iha_queue *open_q(const char *dir, size_t max_entries, uint64_t max_bytes,
                                uint64_t seg_bytes)
{
    struct iha_queue_config c = {
        .dir = dir, .max_entries = max_entries, .max_bytes = max_bytes, .segment_bytes = seg_bytes};
    struct iha_queue *q = NULL;
    struct iha_err err = {0};

    assert_int_equal(iha_queue_open(&c, &q, &err), IHA_OK);
    return q;
}

static uint64_t push_one(struct iha_queue *q, const char *id)
{
    json_t *rec = json_pack("{s:s,s:s,s:s,s:{s:s}}", "id", id, "type", "COMPUTE_HOST", "hostname",
                            "compute-1", "payload", "event", "STOPPED");
    uint64_t seq = 0;

    assert_int_equal(iha_queue_push(q, rec, on_done, NULL, &seq), IHA_OK);
    json_decref(rec);
    return seq;
}

/* Paths of the segment files of @p dir, sorted; returns the count. */
static size_t segments(const char *dir, char out[][512], size_t max)
{
    char qdir[200];
    DIR *d;
    struct dirent *de;
    size_t n = 0;

    snprintf(qdir, sizeof(qdir), "%s/queue", dir);
    d = opendir(qdir);
    assert_non_null(d);
    while ((de = readdir(d)) && n < max) {
        if (strstr(de->d_name, ".seg"))
            snprintf(out[n++], 512, "%s/%.64s", qdir, de->d_name);
    }
    closedir(d);
    for (size_t i = 0; i < n; i++)
        for (size_t j = i + 1; j < n; j++)
            if (strcmp(out[j], out[i]) < 0) {
                char t[512];
                memcpy(t, out[i], 512);
                memcpy(out[i], out[j], 512);
                memcpy(out[j], t, 512);
            }
    return n;
}

static off_t file_size(const char *path)
{
    struct stat st;

    assert_int_equal(stat(path, &st), 0);
    return st.st_size;
}

/* The largest segment: the one written by the previous open. */
static void biggest_segment(const char *dir, char *out)
{
    char segs[16][512];
    size_t n = segments(dir, segs, 16);
    off_t best = -1;

    for (size_t i = 0; i < n; i++)
        if (file_size(segs[i]) > best) {
            best = file_size(segs[i]);
            memcpy(out, segs[i], sizeof(segs[i]));
        }
}

static void test_crc32c_vector(void **state)
{
    (void)state;
    /* The standard check value of CRC-32C. */
    assert_int_equal(iha_crc32c(0, "123456789", 9), 0xE3069283u);
    assert_int_equal(iha_crc32c(iha_crc32c(0, "1234", 4), "56789", 5), 0xE3069283u);
}

static void test_frame_roundtrip(void **state)
{
    unsigned char buf[IHA_QUEUE_HDR + 64];
    struct iha_qrecord r;
    size_t n, used = 0;

    (void)state;
    n = iha_queue_frame(IHA_QREC_ENQUEUE, 42, "{\"a\":1}", 7, buf);
    assert_int_equal(n, IHA_QUEUE_HDR + 7);
    assert_memory_equal(buf, "IHQ1", 4);
    assert_int_equal(iha_queue_parse(buf, n, &r, &used), IHA_OK);
    assert_int_equal(used, n);
    assert_int_equal(r.type, IHA_QREC_ENQUEUE);
    assert_int_equal(r.seq, 42);
    assert_int_equal(r.len, 7);
    assert_memory_equal(r.payload, "{\"a\":1}", 7);
    /* empty payload (markers may have none) */
    n = iha_queue_frame(IHA_QREC_DONE, 7, NULL, 0, buf);
    assert_int_equal(iha_queue_parse(buf, n, &r, &used), IHA_OK);
    assert_int_equal(r.type, IHA_QREC_DONE);
    /* too large */
    assert_int_equal(iha_queue_frame(IHA_QREC_ENQUEUE, 1, buf, IHA_QUEUE_RECORD_MAX + 1, buf), 0);
}

static void test_frame_checksum(void **state)
{
    unsigned char buf[IHA_QUEUE_HDR + 64], copy[sizeof(buf)];
    struct iha_qrecord r;
    size_t n, used;

    (void)state;
    n = iha_queue_frame(IHA_QREC_ENQUEUE, 9, "hello world", 11, buf);
    /* every single-bit flip after the magic is caught */
    for (size_t i = 4; i < n; i++) {
        for (int bit = 0; bit < 8; bit++) {
            memcpy(copy, buf, n);
            copy[i] ^= (unsigned char)(1u << bit);
            assert_int_not_equal(iha_queue_parse(copy, n, &r, &used), IHA_OK);
        }
    }
    /* bad magic */
    memcpy(copy, buf, n);
    copy[0] = 'X';
    assert_int_equal(iha_queue_parse(copy, n, &r, &used), IHA_E_PARSE);
    /* truncated: not an error of the data, just not all there */
    assert_int_equal(iha_queue_parse(buf, n - 1, &r, &used), IHA_E_NOTFOUND);
    assert_int_equal(iha_queue_parse(buf, 10, &r, &used), IHA_E_NOTFOUND);
}

static void test_push_reopen_complete(void **state)
{
    char *dir = make_dir(), dl[600];
    struct iha_queue *q;
    uint64_t a, b, c, d;
    json_t *info;
    FILE *f;
    char line[4096];

    (void)state;
    reset_waits();
    q = open_q(dir, 0, 0, 0);
    a = push_one(q, "aaaa");
    b = push_one(q, "bbbb");
    c = push_one(q, "cccc");
    d = push_one(q, "dddd");
    wait_done(4);
    assert_int_equal(ws.done, 4);
    assert_true(a < b && b < c && c < d);
    info = json_pack("{s:s}", "outcome", "delivered");
    assert_int_equal(iha_queue_complete(q, a, IHA_QREC_DONE, info), IHA_OK);
    assert_int_equal(iha_queue_complete(q, a, IHA_QREC_DONE, info), IHA_E_NOTFOUND);
    json_decref(info);
    info = json_pack("{s:s,s:i}", "reason", "unknown host", "http_code", 400);
    assert_int_equal(iha_queue_complete(q, b, IHA_QREC_DEAD, info), IHA_OK);
    json_decref(info);
    assert_int_equal(iha_queue_complete(q, c, IHA_QREC_DROPPED, NULL), IHA_OK);
    assert_int_equal(iha_queue_stats(q).live, 1);
    iha_queue_close(q);

    q = open_q(dir, 0, 0, 0);
    assert_int_equal(iha_queue_stats(q).live, 1);
    assert_int_equal(iha_queue_stats(q).corrupt, 0);
    assert_int_equal(iha_queue_find(q, "dddd", NULL, NULL, NULL), IHA_OK);
    assert_int_equal(iha_queue_find(q, "aaaa", NULL, NULL, NULL), IHA_E_NOTFOUND);
    /* new pushes continue the sequence */
    reset_waits();
    assert_true(push_one(q, "eeee") > d);
    wait_done(1);
    iha_queue_close(q);

    iha_queue_deadletter_path(dir, dl, sizeof(dl));
    f = fopen(dl, "r");
    assert_non_null(f);
    assert_non_null(fgets(line, sizeof(line), f));
    assert_non_null(strstr(line, "\"id\":\"bbbb\""));
    assert_non_null(strstr(line, "unknown host"));
    assert_non_null(strstr(line, "\"notification\""));
    assert_null(fgets(line, sizeof(line), f));
    fclose(f);
    remove_tree(dir);
    free(dir);
}

static void test_torn_tail(void **state)
{
    char *dir = make_dir(), seg[512];
    struct iha_queue *q;
    struct iha_queue_stats s;

    (void)state;
    reset_waits();
    q = open_q(dir, 0, 0, 0);
    push_one(q, "t1");
    push_one(q, "t2");
    push_one(q, "t3");
    wait_done(3);
    iha_queue_close(q);
    biggest_segment(dir, seg);
    /* a crash in the middle of the last record */
    assert_int_equal(truncate(seg, file_size(seg) - 5), 0);

    q = open_q(dir, 0, 0, 0);
    s = iha_queue_stats(q);
    assert_int_equal(s.live, 2);
    assert_int_equal(s.corrupt, 1);
    assert_true(s.skipped_bytes > 0);
    assert_int_equal(iha_queue_find(q, "t1", NULL, NULL, NULL), IHA_OK);
    assert_int_equal(iha_queue_find(q, "t2", NULL, NULL, NULL), IHA_OK);
    assert_int_equal(iha_queue_find(q, "t3", NULL, NULL, NULL), IHA_E_NOTFOUND);
    iha_queue_close(q);
    remove_tree(dir);
    free(dir);
}

static void test_corrupt_middle(void **state)
{
    char *dir = make_dir(), seg[512];
    struct iha_queue *q;
    struct iha_queue_stats s;
    int fd;
    off_t size;
    unsigned char byte;

    (void)state;
    reset_waits();
    q = open_q(dir, 0, 0, 0);
    push_one(q, "m1");
    wait_done(1);
    push_one(q, "m2");
    wait_done(2);
    push_one(q, "m3");
    wait_done(3);
    iha_queue_close(q);
    biggest_segment(dir, seg);
    size = file_size(seg);
    /* three records of equal size: flip a payload byte of the middle one */
    fd = open(seg, O_RDWR);
    assert_true(fd >= 0);
    assert_int_equal(pread(fd, &byte, 1, size / 2), 1);
    byte ^= 0x55;
    assert_int_equal(pwrite(fd, &byte, 1, size / 2), 1);
    close(fd);

    q = open_q(dir, 0, 0, 0);
    s = iha_queue_stats(q);
    assert_int_equal(s.corrupt, 1);
    assert_int_equal(s.live, 2);
    assert_int_equal(iha_queue_find(q, "m1", NULL, NULL, NULL), IHA_OK);
    assert_int_equal(iha_queue_find(q, "m2", NULL, NULL, NULL), IHA_E_NOTFOUND);
    assert_int_equal(iha_queue_find(q, "m3", NULL, NULL, NULL), IHA_OK);
    iha_queue_close(q);
    remove_tree(dir);
    free(dir);
}

static void test_compaction(void **state)
{
    char *dir = make_dir(), segs[64][512];
    struct iha_queue *q;
    uint64_t seqs[40];
    size_t before, after;
    char id[16];

    (void)state;
    reset_waits();
    /* 256-byte segments: a few records each */
    q = open_q(dir, 0, 0, 256);
    for (int i = 0; i < 40; i++) {
        snprintf(id, sizeof(id), "c%02d", i);
        seqs[i] = push_one(q, id);
        wait_done((unsigned)i + 1);
    }
    /* Rotations happen on the committer's tick. */
    assert_eventually(segments(dir, segs, 64) >= 3);
    before = segments(dir, segs, 64);
    for (int i = 0; i < 40; i++)
        if (i != 3)
            assert_int_equal(iha_queue_complete(q, seqs[i], IHA_QREC_DONE, NULL), IHA_OK);
    /* Two ticks: rotate, then compact. */
    assert_eventually(segments(dir, segs, 64) < before && segments(dir, segs, 64) <= 3);
    after = segments(dir, segs, 64);
    assert_true(after < before);
    assert_true(after <= 3);
    iha_queue_close(q);

    q = open_q(dir, 0, 0, 256);
    assert_int_equal(iha_queue_stats(q).live, 1);
    assert_int_equal(iha_queue_stats(q).corrupt, 0);
    assert_int_equal(iha_queue_find(q, "c03", NULL, NULL, NULL), IHA_OK);
    iha_queue_close(q);
    remove_tree(dir);
    free(dir);
}

static void visit_hold(void *cls, const struct iha_queue_item *it)
{
    const char **reason = cls;

    *reason = it->hold ? json_string_value(json_object_get(it->hold, "reason")) : "";
}

/* The reason @p id is held for after a reopen ("" when not held). */
static void expect_hold(struct iha_queue *q, const char *id, const char *want)
{
    const char *reason = NULL;

    assert_int_equal(iha_queue_find(q, id, NULL, visit_hold, &reason), IHA_OK);
    assert_non_null(reason);
    assert_string_equal(reason, want);
}

/* A hold outlives restarts and compaction; a release (or a new hold) replaces it. */
static void test_hold_survives_reopen_and_compaction(void **state)
{
    char *dir = make_dir(), segs[64][512], id[16], first[512];
    struct iha_queue *q;
    uint64_t a, b, seqs[30];
    json_t *storm = json_pack("{s:s,s:s}", "reason", "storm", "at", "2026-12-05T18:00:00Z");
    json_t *bad = json_pack("{s:s}", "reason", "");
    size_t before;

    (void)state;
    reset_waits();
    q = open_q(dir, 0, 0, 256);
    a = push_one(q, "held");
    b = push_one(q, "free");
    wait_done(2);
    assert_int_equal(iha_queue_hold(q, a, storm), IHA_OK);
    assert_int_equal(iha_queue_hold(q, b, storm), IHA_OK);
    assert_int_equal(iha_queue_hold(q, b, NULL), IHA_OK);
    assert_int_equal(iha_queue_hold(q, b, bad), IHA_E_INVAL);
    assert_int_equal(iha_queue_hold(q, 999, storm), IHA_E_NOTFOUND);
    expect_hold(q, "held", "storm");
    expect_hold(q, "free", "");
    iha_queue_close(q);
    assert_true(segments(dir, segs, 64) >= 1);
    snprintf(first, sizeof(first), "%s", segs[0]); /* the oldest: it holds both records */

    q = open_q(dir, 0, 0, 256);
    expect_hold(q, "held", "storm");
    expect_hold(q, "free", "");
    /* Enough traffic that the segments holding both are compacted away. */
    reset_waits();
    for (int i = 0; i < 30; i++) {
        snprintf(id, sizeof(id), "x%02d", i);
        seqs[i] = push_one(q, id);
        wait_done((unsigned)i + 1);
    }
    assert_eventually(segments(dir, segs, 64) >= 3);
    before = segments(dir, segs, 64);
    for (int i = 0; i < 30; i++)
        assert_int_equal(iha_queue_complete(q, seqs[i], IHA_QREC_DONE, NULL), IHA_OK);
    assert_eventually(segments(dir, segs, 64) < before);
    iha_queue_close(q);
    /* The segment that held both records is gone: what follows reads the copies. */
    for (size_t i = 0, n = segments(dir, segs, 64); i < n; i++)
        assert_string_not_equal(segs[i], first);

    q = open_q(dir, 0, 0, 256);
    assert_int_equal(iha_queue_stats(q).live, 2);
    assert_int_equal(iha_queue_stats(q).corrupt, 0);
    expect_hold(q, "held", "storm");
    expect_hold(q, "free", "");
    assert_int_equal(iha_queue_hold(q, a, NULL), IHA_OK);
    iha_queue_close(q);
    q = open_q(dir, 0, 0, 256);
    expect_hold(q, "held", "");
    iha_queue_close(q);
    json_decref(storm);
    json_decref(bad);
    remove_tree(dir);
    free(dir);
}

static void test_full(void **state)
{
    char *dir = make_dir();
    struct iha_queue *q;
    json_t *rec = json_pack("{s:s}", "id", "x");
    uint64_t seq;

    (void)state;
    reset_waits();
    q = open_q(dir, 2, 0, 0);
    push_one(q, "f1");
    push_one(q, "f2");
    assert_int_equal(iha_queue_push(q, rec, on_done, NULL, &seq), IHA_E_LIMIT);
    wait_done(2);
    assert_int_equal(iha_queue_complete(q, 1, IHA_QREC_DONE, NULL) == IHA_OK ||
                         iha_queue_complete(q, 2, IHA_QREC_DONE, NULL) == IHA_OK,
                     1);
    reset_waits();
    assert_int_equal(iha_queue_push(q, rec, on_done, NULL, &seq), IHA_OK);
    wait_done(1);
    iha_queue_close(q);
    remove_tree(dir);

    /* byte bound */
    q = open_q(dir, 0, 600, 0);
    reset_waits();
    for (int i = 0; i < 50; i++) {
        enum iha_rc rc = iha_queue_push(q, rec, on_done, NULL, &seq);
        if (rc != IHA_OK) {
            assert_int_equal(rc, IHA_E_LIMIT);
            assert_true(i > 3);
            break;
        }
        assert_true(i < 49);
    }
    iha_queue_close(q);
    json_decref(rec);
    remove_tree(dir);
    free(dir);
}

static void test_lock(void **state)
{
    char *dir = make_dir();
    struct iha_queue *q = open_q(dir, 0, 0, 0), *q2 = NULL;
    struct iha_queue_config c = {.dir = dir};
    struct iha_err err = {0};

    (void)state;
    assert_true(iha_queue_daemon_running(dir));
    assert_int_equal(iha_queue_open(&c, &q2, &err), IHA_E_AUTH);
    assert_non_null(strstr(err.msg, "in use"));
    /* read-only inspection works while it runs */
    c.read_only = true;
    assert_int_equal(iha_queue_open(&c, &q2, &err), IHA_OK);
    iha_queue_close(q2);
    iha_queue_close(q);
    assert_false(iha_queue_daemon_running(dir));
    remove_tree(dir);
    free(dir);
}

static char seen_cmd[32], seen_id[32];

static bool control(void *cls, const char *cmd, const char *id, char *answer, size_t size)
{
    (void)cls;
    snprintf(seen_cmd, sizeof(seen_cmd), "%s", cmd);
    snprintf(seen_id, sizeof(seen_id), "%s", id);
    snprintf(answer, size, "done");
    return true;
}

static void test_control(void **state)
{
    char *dir = make_dir(), answer[512];
    struct iha_queue *q = open_q(dir, 0, 0, 0);

    (void)state;
    /* the daemon (this queue) does not poll yet: the command waits */
    assert_int_equal(iha_queue_send_control(dir, "drop", "abcd", 0, answer, sizeof(answer)), 2);
    iha_queue_set_callbacks(q, &(struct iha_queue_callbacks){.control = control});
    iha_queue_run_control(q);
    assert_string_equal(seen_cmd, "drop");
    assert_string_equal(seen_id, "abcd");
    /* with the committer polling, the answer comes back */
    assert_int_equal(iha_queue_send_control(dir, "retry", "ef01", 5000, answer, sizeof(answer)), 0);
    assert_string_equal(answer, "done");
    assert_string_equal(seen_cmd, "retry");
    iha_queue_close(q);
    remove_tree(dir);
    free(dir);
}

/* Writes records (type, seq, payload) as segment @p base of @p dir. */
struct rec_spec {
    enum iha_qrec type;
    uint64_t seq;
    const char *payload;
};

static void write_segment(const char *dir, uint64_t base, const struct rec_spec *r, size_t n)
{
    char path[512];
    unsigned char buf[IHA_QUEUE_HDR + 512];
    FILE *f;

    snprintf(path, sizeof(path), "%s/queue", dir);
    mkdir(path, 0700);
    snprintf(path, sizeof(path), "%s/queue/%020llu.seg", dir, (unsigned long long)base);
    f = fopen(path, "wb");
    assert_non_null(f);
    for (size_t i = 0; i < n; i++) {
        size_t len = r[i].payload ? strlen(r[i].payload) : 0;
        size_t used = iha_queue_frame(r[i].type, r[i].seq, r[i].payload, len, buf);
        assert_int_equal(fwrite(buf, 1, used, f), used);
    }
    assert_int_equal(fclose(f), 0);
}

static struct iha_queue *open_ro(const char *dir)
{
    struct iha_queue_config c = {.dir = dir, .read_only = true};
    struct iha_queue *q = NULL;
    struct iha_err err = {0};

    assert_int_equal(iha_queue_open(&c, &q, &err), IHA_OK);
    return q;
}

struct seen {
    unsigned n_attempts;
    size_t kept;
};

static void see(void *cls, const struct iha_queue_item *it)
{
    struct seen *s = cls;

    s->n_attempts = it->n_attempts;
    s->kept = json_array_size(it->attempts);
}

/*
 * Defect 1: compaction deleted a segment holding only the DROPPED marker of a
 * notification whose ENQUEUE lives in an older, kept segment; the next start revived it.
 */
static void test_compact_keeps_markers(void **state)
{
    char *dir = make_dir();
    struct iha_queue *q;
    uint64_t a;

    (void)state;
    reset_waits();
    q = open_q(dir, 0, 0, 0);
    a = push_one(q, "A");
    push_one(q, "B");
    push_one(q, "C");
    wait_done(3);
    iha_queue_close(q);
    q = open_q(dir, 0, 0, 0);
    assert_int_equal(iha_queue_complete(q, a, IHA_QREC_DROPPED, NULL), IHA_OK);
    iha_queue_close(q);
    q = open_q(dir, 0, 0, 0); /* compacts at open */
    assert_int_equal(iha_queue_find(q, "A", NULL, NULL, NULL), IHA_E_NOTFOUND);
    iha_queue_close(q);
    q = open_q(dir, 0, 0, 0);
    assert_int_equal(iha_queue_find(q, "A", NULL, NULL, NULL), IHA_E_NOTFOUND);
    assert_int_equal(iha_queue_stats(q).live, 2);
    iha_queue_close(q);
    remove_tree(dir);
    free(dir);
}

/* Defect 1 (recovery): an ended sequence number stays ended whatever the record order. */
static void test_recovery_tombstones(void **state)
{
    char *dir = make_dir();
    struct iha_queue *q;
    const struct rec_spec s1[] = {
        {IHA_QREC_DROPPED, 5, "{}"},
        {IHA_QREC_DONE, 7, "{}"}, /* marker before its enqueue in the same segment */
        {IHA_QREC_ENQUEUE, 7, "{\"id\":\"T7\"}"},
    };
    const struct rec_spec s2[] = {
        {IHA_QREC_ENQUEUE, 5, "{\"id\":\"T5\"}"}, /* after its marker, in a later segment */
        {IHA_QREC_ENQUEUE, 6, "{\"id\":\"T6\"}"},
        {IHA_QREC_ATTEMPT, 5, "{\"attempt\":1}"},
    };

    (void)state;
    write_segment(dir, 1, s1, 3);
    write_segment(dir, 2, s2, 3);
    q = open_ro(dir);
    assert_int_equal(iha_queue_stats(q).live, 1);
    assert_int_equal(iha_queue_stats(q).corrupt, 0);
    assert_int_equal(iha_queue_find(q, "T6", NULL, NULL, NULL), IHA_OK);
    assert_int_equal(iha_queue_find(q, "T5", NULL, NULL, NULL), IHA_E_NOTFOUND);
    assert_int_equal(iha_queue_find(q, "T7", NULL, NULL, NULL), IHA_E_NOTFOUND);
    iha_queue_close(q);
    remove_tree(dir);
    free(dir);
}

/*
 * A compaction copy torn after its ENQUEUE (the HOLD that follows it lost, the original
 * segment still there): the entry stays held as the original recorded it.
 */
static void test_torn_copy_keeps_the_hold(void **state)
{
    char *dir = make_dir();
    struct iha_queue *q;
    const struct rec_spec s1[] = {
        {IHA_QREC_ENQUEUE, 3, "{\"id\":\"H3\"}"},
        {IHA_QREC_HOLD, 3, "{\"reason\":\"storm\"}"},
    };
    const struct rec_spec s2[] = {
        {IHA_QREC_ENQUEUE, 3, "{\"id\":\"H3\"}"}, /* the copy; its HOLD never made it */
    };

    (void)state;
    write_segment(dir, 1, s1, 2);
    write_segment(dir, 2, s2, 1);
    q = open_ro(dir);
    assert_int_equal(iha_queue_stats(q).live, 1);
    expect_hold(q, "H3", "storm");
    iha_queue_close(q);
    remove_tree(dir);
    free(dir);
}

/*
 * Defect 2: a marker for an entry whose ENQUEUE is still in the pending batch was written
 * before it (revived at the next start). Such a completion is refused until it is stored.
 */
static void test_complete_before_stored(void **state)
{
    char *dir = make_dir();
    struct iha_queue *q;
    uint64_t s2, seq = 0;

    (void)state;
    reset_waits();
    fail_syncs(0, false);
    q = open_q(dir, 0, 0, 0);
    gate(true);
    push_one(q, "X1");
    wait_entered(1); /* the committer is inside X1's sync */
    s2 = push_one(q, "X2");
    assert_int_equal(iha_queue_complete(q, s2, IHA_QREC_DROPPED, NULL), IHA_E_LIMIT);
    assert_int_equal(iha_queue_find(q, "X2", &seq, NULL, NULL), IHA_E_LIMIT);
    assert_int_equal(seq, s2);
    assert_false(iha_queue_live(q, s2));
    gate(false);
    wait_done(2);
    assert_int_equal(ws.done, 2);
    assert_true(iha_queue_live(q, s2));
    assert_int_equal(iha_queue_complete(q, s2, IHA_QREC_DROPPED, NULL), IHA_OK);
    assert_false(iha_queue_live(q, s2));
    iha_queue_close(q);
    q = open_q(dir, 0, 0, 0);
    assert_int_equal(iha_queue_find(q, "X2", NULL, NULL, NULL), IHA_E_NOTFOUND);
    assert_int_equal(iha_queue_find(q, "X1", NULL, NULL, NULL), IHA_OK);
    assert_int_equal(iha_queue_stats(q).live, 1);
    iha_queue_close(q);
    remove_tree(dir);
    free(dir);
}

static size_t count_lines(const char *path, const char *needle)
{
    FILE *f = fopen(path, "r");
    char line[8192];
    size_t n = 0;

    if (!f)
        return 0;
    while (fgets(line, sizeof(line), f))
        if (strstr(line, needle))
            n++;
    fclose(f);
    return n;
}

static void wait_health(struct iha_queue *q, bool healthy)
{
    assert_eventually(iha_queue_unhealthy(q, NULL, 0) == !healthy);
}

/*
 * Defect 3: the dead-letter line is synced, then the marker's write fails; the retry
 * must write the marker only, not the line again.
 */
static void test_deadletter_once_after_failed_marker(void **state)
{
    char *dir = make_dir(), dl[600];
    struct iha_queue *q;
    uint64_t s;
    json_t *info = json_pack("{s:s}", "reason", "test");

    (void)state;
    reset_waits();
    fail_syncs(0, false);
    q = open_q(dir, 0, 0, 0);
    s = push_one(q, "D1");
    wait_done(1);
    fail_syncs(2, false); /* 1st: deadletter.jsonl (ok); 2nd: the segment (EIO) */
    assert_int_equal(iha_queue_complete(q, s, IHA_QREC_DEAD, info), IHA_OK);
    wait_entered(3);      /* the line, the failed marker, its retry */
    wait_health(q, true); /* the retry succeeded */
    iha_queue_close(q);
    iha_queue_deadletter_path(dir, dl, sizeof(dl));
    assert_int_equal(count_lines(dl, "\"id\":\"D1\""), 1);
    q = open_q(dir, 0, 0, 0);
    assert_int_equal(iha_queue_stats(q).live, 0);
    iha_queue_close(q);
    json_decref(info);
    remove_tree(dir);
    free(dir);
}

/* Names and sizes of the segments of @p dir, as one string. */
static void segment_listing(const char *dir, char *out, size_t size)
{
    char segs[64][512];
    size_t n = segments(dir, segs, 64), used = 0;

    out[0] = '\0';
    for (size_t i = 0; i < n && used < size; i++) {
        int w = snprintf(out + used, size - used, "%s=%lld;", strrchr(segs[i], '/') + 1,
                         (long long)file_size(segs[i]));
        assert_true(w > 0);
        used += (size_t)w;
    }
}

static void note_attempts(struct iha_queue *q, uint64_t seq, int n)
{
    for (int a = 1; a <= n; a++) {
        json_t *at = json_pack("{s:s,s:i,s:i,s:s,s:s}", "at", "2026-11-25T17:00:00Z", "attempt", a,
                               "http_code", 500, "outcome", "retry", "detail",
                               "Unexpected API Error. Please report this at "
                               "https://bugs.launchpad.net/masakari/ and attach the log.");
        iha_queue_note_attempt(q, seq, at);
        json_decref(at);
    }
}

/*
 * Defect 4: live entries with attempt histories were copied forward every tick (only
 * their ENQUEUE counted as live), rewriting the live set forever with no traffic.
 */
static void test_idle_compaction_fixed_point(void **state)
{
    char *dir = make_dir(), before[8192], after[8192], id[16];
    struct iha_queue *q;
    uint64_t seqs[10];
    struct seen sn = {0};

    (void)state;
    reset_waits();
    fail_syncs(0, false);
    q = open_q(dir, 0, 0, 4096);
    for (int i = 0; i < 10; i++) {
        snprintf(id, sizeof(id), "E%d", i);
        seqs[i] = push_one(q, id);
    }
    wait_done(10);
    for (int i = 0; i < 10; i++)
        note_attempts(q, seqs[i], 40);
    /* an ended one leaves garbage behind, so compaction has something to do */
    assert_int_equal(iha_queue_complete(q, seqs[9], IHA_QREC_DONE, NULL), IHA_OK);
    /*
     * The elapsed ticks are what is under test: with no traffic, ticks must leave the
     * segments alone. The committer ticks once a second on its own clock, which the
     * queue gives tests no way to step, so real seconds pass: first the rotate and
     * compaction the completion above causes, then three idle ticks.
     */
    sleep(4);
    segment_listing(dir, before, sizeof(before));
    sleep(3);
    segment_listing(dir, after, sizeof(after));
    assert_string_equal(before, after);
    iha_queue_close(q);
    q = open_q(dir, 0, 0, 4096);
    assert_int_equal(iha_queue_stats(q).live, 9);
    assert_int_equal(iha_queue_find(q, "E3", NULL, see, &sn), IHA_OK);
    assert_int_equal(sn.kept, 32);
    iha_queue_close(q);
    remove_tree(dir);
    free(dir);
}

static bool ctl_drop(void *cls, const char *cmd, const char *id, char *answer, size_t size)
{
    struct iha_queue *q = cls;
    uint64_t seq = 0;

    (void)cmd;
    if (iha_queue_find(q, id, &seq, NULL, NULL) != IHA_OK ||
        iha_queue_complete(q, seq, IHA_QREC_DROPPED, NULL) != IHA_OK) {
        snprintf(answer, size, "no %s", id);
        return false;
    }
    snprintf(answer, size, "dropped");
    return true;
}

/* The first *.done answer in the control directory, or false when there is none yet. */
static bool read_done_now(const char *dir, char *out, size_t size)
{
    char cdir[512], path[1024];

    snprintf(cdir, sizeof(cdir), "%s/control", dir);
    {
        DIR *d = opendir(cdir);
        struct dirent *de;
        bool found = false;
        while (d && (de = readdir(d))) {
            size_t l = strlen(de->d_name);
            if (l > 5 && strcmp(de->d_name + l - 5, ".done") == 0) {
                FILE *f;
                snprintf(path, sizeof(path), "%s/%.200s", cdir, de->d_name);
                f = fopen(path, "r");
                if (f) {
                    found = fgets(out, (int)size, f) != NULL;
                    fclose(f);
                }
                break;
            }
        }
        if (d)
            closedir(d);
        return found;
    }
}

/* The first *.done answer in the control directory, waiting up to TEST_WAIT_MS. */
static bool read_done(const char *dir, char *out, size_t size)
{
    bool found;

    TEST_POLL_UNTIL(found, read_done_now(dir, out, size), TEST_WAIT_MS, TEST_POLL_MS);
    return found;
}

/* Defect 5: `queue drop` was answered before its marker was durable. */
static void test_drop_answered_after_sync(void **state)
{
    char *dir = make_dir(), answer[512], done[1024];
    struct iha_queue *q;

    (void)state;
    reset_waits();
    fail_syncs(0, false);
    q = open_q(dir, 0, 0, 0);
    push_one(q, "P1");
    wait_done(1);
    iha_queue_set_callbacks(q,
                            &(struct iha_queue_callbacks){.control = ctl_drop, .control_cls = q});
    gate(true); /* the disk does not finish a sync */
    assert_int_equal(iha_queue_send_control(dir, "drop", "P1", 2500, answer, sizeof(answer)), 2);
    gate(false);
    assert_true(read_done(dir, done, sizeof(done)));
    assert_non_null(strstr(done, "\"ok\":true"));
    assert_non_null(strstr(done, "dropped"));
    iha_queue_close(q);
    q = open_q(dir, 0, 0, 0);
    assert_int_equal(iha_queue_find(q, "P1", NULL, NULL, NULL), IHA_E_NOTFOUND);
    iha_queue_close(q);
    remove_tree(dir);
    free(dir);
}

/* Defect 7: while storage fails, attempt records do not pile up in memory. */
static void test_attempts_not_pending_while_unhealthy(void **state)
{
    char *dir = make_dir();
    struct iha_queue *q;
    uint64_t s;
    struct seen sn = {0};

    (void)state;
    reset_waits();
    fail_syncs(0, false);
    q = open_q(dir, 0, 0, 0);
    s = push_one(q, "U1");
    wait_done(1);
    fail_syncs(0, true);
    note_attempts(q, s, 1);
    wait_health(q, false);
    note_attempts(q, s, 200);
    assert_int_equal(iha_queue_find(q, "U1", NULL, see, &sn), IHA_OK);
    assert_int_equal(sn.n_attempts, 201); /* kept in memory for the dead-letter record */
    fail_syncs(0, false);
    wait_health(q, true);
    iha_queue_close(q);
    q = open_q(dir, 0, 0, 0);
    assert_int_equal(iha_queue_find(q, "U1", NULL, see, &sn), IHA_OK);
    assert_int_equal(sn.n_attempts, 1); /* only the one pending when storage failed */
    iha_queue_close(q);
    remove_tree(dir);
    free(dir);
}

/* Defect 8: a crash between a compaction copy and the deletion of the original. */
static void test_copy_crash_no_duplicate_attempts(void **state)
{
    char *dir = make_dir();
    struct iha_queue *q;
    struct seen sn = {0};
    const struct rec_spec orig[] = {
        {IHA_QREC_ENQUEUE, 1, "{\"id\":\"K1\"}"},
        {IHA_QREC_ATTEMPT, 1, "{\"attempt\":1}"},
        {IHA_QREC_ATTEMPT, 1, "{\"attempt\":2}"},
    };
    const struct rec_spec copy[] = {
        {IHA_QREC_ENQUEUE, 1, "{\"id\":\"K1\"}"},
        {IHA_QREC_ATTEMPT, 1, "{\"attempt\":1}"},
        {IHA_QREC_ATTEMPT, 1, "{\"attempt\":2}"},
        {IHA_QREC_ATTEMPT, 1, "{\"attempt\":3}"}, /* after the copy */
    };

    (void)state;
    write_segment(dir, 1, orig, 3);
    write_segment(dir, 2, copy, 4);
    q = open_ro(dir);
    assert_int_equal(iha_queue_find(q, "K1", NULL, see, &sn), IHA_OK);
    assert_int_equal(sn.n_attempts, 3);
    assert_int_equal(sn.kept, 3);
    iha_queue_close(q);
    remove_tree(dir);
    free(dir);
}

/* Opens @p dir for writing; expects a refusal whose message contains every string of @p want. */
static void expect_refused(const char *dir, const char *const *want, size_t n)
{
    struct iha_queue_config c = {.dir = dir};
    struct iha_queue *q = NULL;
    struct iha_err err = {0};

    assert_int_not_equal(iha_queue_open(&c, &q, &err), IHA_OK);
    assert_null(q);
    for (size_t i = 0; i < n; i++) {
        if (!strstr(err.msg, want[i]))
            fail_msg("\"%s\" not in \"%s\"", want[i], err.msg);
    }
}

/* A world-writable data directory (or control/ in it) lets any local user queue commands. */
static void test_loose_dir_refused(void **state)
{
    char *dir = make_dir(), sub[600];

    (void)state;
    assert_int_equal(chmod(dir, 0777), 0);
    expect_refused(dir, (const char *const[]){dir, "0777", "chmod 0700"}, 3);
    assert_int_equal(chmod(dir, 0700), 0);
    iha_queue_close(open_q(dir, 0, 0, 0));
    snprintf(sub, sizeof(sub), "%s/control", dir);
    assert_int_equal(chmod(sub, 0777), 0);
    expect_refused(dir, (const char *const[]){sub, "0777", "chmod 0700"}, 3);
    remove_tree(dir);
    free(dir);
}

/* A directory owned by another (non-root) user is refused. Needs root to chown. */
static void test_foreign_dir_refused(void **state)
{
    char *dir = make_dir();

    (void)state;
    if (geteuid() != 0) {
        free(dir);
        skip();
    }
    assert_int_equal(chown(dir, 65534, 65534), 0);
    expect_refused(dir, (const char *const[]){dir, "uid 65534"}, 2);
    remove_tree(dir);
    free(dir);
}

/* deadletter.jsonl replaced by a symlink: the link is not followed, the target untouched. */
static void test_deadletter_symlink(void **state)
{
    char *dir = make_dir(), *other = make_dir(), dl[600], target[600], buf[64] = "";
    struct iha_queue *q = open_q(dir, 0, 0, 0);
    json_t *line = json_pack("{s:s}", "id", "x");
    FILE *f;

    (void)state;
    snprintf(target, sizeof(target), "%s/victim", other);
    f = fopen(target, "w");
    assert_non_null(f);
    fputs("precious\n", f);
    assert_int_equal(fclose(f), 0);
    iha_queue_deadletter_path(dir, dl, sizeof(dl));
    assert_int_equal(symlink(target, dl), 0);
    assert_int_not_equal(iha_queue_deadletter_note(q, line), IHA_OK);
    iha_queue_close(q);
    f = fopen(target, "r");
    assert_non_null(f);
    assert_non_null(fgets(buf, sizeof(buf), f));
    assert_null(fgets(buf + strlen(buf), (int)(sizeof(buf) - strlen(buf)), f));
    fclose(f);
    assert_string_equal(buf, "precious\n");
    /* at the next start the link is named and refused */
    expect_refused(dir, (const char *const[]){dl, "symlink"}, 2);
    json_decref(line);
    remove_tree(dir);
    remove_tree(other);
    free(dir);
    free(other);
}

static void put_cmd(const char *dir, const char *name, const char *text)
{
    char path[600];
    FILE *f;

    snprintf(path, sizeof(path), "%s/control/%s", dir, name);
    f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    assert_int_equal(fclose(f), 0);
}

/* A control file not written by the gateway's user (or root) is ignored and removed. */
static void test_foreign_control_ignored(void **state)
{
    char *dir = make_dir(), *other = make_dir(), path[600], target[600];
    struct iha_queue *q;

    (void)state;
    if (geteuid() != 0) {
        free(dir);
        free(other);
        skip();
    }
    q = open_q(dir, 0, 0, 0);
    seen_cmd[0] = seen_id[0] = '\0';
    put_cmd(dir, "1-evil.cmd", "{\"cmd\":\"drop\",\"id\":\"evil\"}");
    snprintf(path, sizeof(path), "%s/control/1-evil.cmd", dir);
    assert_int_equal(chown(path, 65534, 65534), 0);
    /* a symlink to a command file is not followed either */
    snprintf(target, sizeof(target), "%s/cmd", other);
    {
        FILE *f = fopen(target, "w");
        assert_non_null(f);
        fputs("{\"cmd\":\"drop\",\"id\":\"linked\"}", f);
        assert_int_equal(fclose(f), 0);
    }
    snprintf(path, sizeof(path), "%s/control/2-link.cmd", dir);
    assert_int_equal(symlink(target, path), 0);
    iha_queue_set_callbacks(q, &(struct iha_queue_callbacks){.control = control});
    iha_queue_run_control(q);
    assert_string_equal(seen_cmd, "");
    assert_string_equal(seen_id, "");
    snprintf(path, sizeof(path), "%s/control/1-evil.cmd", dir);
    assert_int_not_equal(access(path, F_OK), 0);
    snprintf(path, sizeof(path), "%s/control/1-evil.done", dir);
    assert_int_not_equal(access(path, F_OK), 0);
    /* our own commands still run */
    put_cmd(dir, "3-ok.cmd", "{\"cmd\":\"retry\",\"id\":\"good\"}");
    iha_queue_run_control(q);
    assert_string_equal(seen_id, "good");
    iha_queue_close(q);
    remove_tree(dir);
    remove_tree(other);
    free(dir);
    free(other);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crc32c_vector),
        cmocka_unit_test(test_frame_roundtrip),
        cmocka_unit_test(test_frame_checksum),
        cmocka_unit_test(test_push_reopen_complete),
        cmocka_unit_test(test_torn_tail),
        cmocka_unit_test(test_corrupt_middle),
        cmocka_unit_test(test_compaction),
        cmocka_unit_test(test_hold_survives_reopen_and_compaction),
        cmocka_unit_test(test_torn_copy_keeps_the_hold),
        cmocka_unit_test(test_full),
        cmocka_unit_test(test_lock),
        cmocka_unit_test(test_control),
        cmocka_unit_test(test_compact_keeps_markers),
        cmocka_unit_test(test_recovery_tombstones),
        cmocka_unit_test(test_complete_before_stored),
        cmocka_unit_test(test_deadletter_once_after_failed_marker),
        cmocka_unit_test(test_idle_compaction_fixed_point),
        cmocka_unit_test(test_drop_answered_after_sync),
        cmocka_unit_test(test_attempts_not_pending_while_unhealthy),
        cmocka_unit_test(test_copy_crash_no_duplicate_attempts),
        cmocka_unit_test(test_loose_dir_refused),
        cmocka_unit_test(test_foreign_dir_refused),
        cmocka_unit_test(test_deadletter_symlink),
        cmocka_unit_test(test_foreign_control_ignored),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
