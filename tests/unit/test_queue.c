/* SPDX-License-Identifier: Apache-2.0 */
/** @file test_queue.c @brief Durable queue: framing, checksum, recovery, compaction, limits. */
#include "cmocka_includes.h"

#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "queue.h"

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
            snprintf(out, 512, "%s", segs[i]);
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
    sleep(2); /* rotations happen on the committer's tick */
    before = segments(dir, segs, 64);
    assert_true(before >= 3);
    for (int i = 0; i < 40; i++)
        if (i != 3)
            assert_int_equal(iha_queue_complete(q, seqs[i], IHA_QREC_DONE, NULL), IHA_OK);
    sleep(3); /* two ticks: rotate, then compact */
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
    iha_queue_set_callbacks(q, control, NULL, NULL);
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crc32c_vector),  cmocka_unit_test(test_frame_roundtrip),
        cmocka_unit_test(test_frame_checksum), cmocka_unit_test(test_push_reopen_complete),
        cmocka_unit_test(test_torn_tail),      cmocka_unit_test(test_corrupt_middle),
        cmocka_unit_test(test_compaction),     cmocka_unit_test(test_full),
        cmocka_unit_test(test_lock),           cmocka_unit_test(test_control),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
