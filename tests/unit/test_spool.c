/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file test_spool.c
 * @brief iha-notify's spool: durable write, oldest-first flush, corrupt and rejected files
 *        moved aside, the lock, HTTP classification and exit codes.
 */
#include "spool.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cmocka_includes.h"

struct fixture {
    char dir[256];
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));

    if (!f)
        return -1;
    snprintf(f->dir, sizeof(f->dir), "%s/iha-spool-test.XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(f->dir))
        return -1;
    *state = f;
    return 0;
}

static void rm_tree(const char *path)
{
    DIR *d = opendir(path);
    struct dirent *e;
    char p[512];

    if (!d) {
        unlink(path);
        return;
    }
    while ((e = readdir(d)) != NULL) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        snprintf(p, sizeof(p), "%s/%s", path, e->d_name);
        rm_tree(p);
    }
    closedir(d);
    rmdir(path);
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    rm_tree(f->dir);
    free(f);
    return 0;
}

/* The send function's script: verdicts to return in order, and what it saw. */
struct script {
    enum iha_spool_verdict verdicts[16];
    size_t n, calls;
    char seen[16][64];
};

static enum iha_spool_verdict scripted(void *cls, const json_t *record, long long deadline_ms)
{
    struct script *s = cls;
    const char *id = json_string_value(json_object_get(record, "record_id"));

    (void)deadline_ms;
    assert_true(s->calls < 16);
    snprintf(s->seen[s->calls], sizeof(s->seen[0]), "%s", id ? id : "");
    return s->calls < s->n ? s->verdicts[s->calls++] : (s->calls++, IHA_SPOOL_DELIVERED);
}

static json_t *record(const char *id)
{
    return json_pack("{s:s,s:s,s:s}", "hostname", "compute-1", "notification_type", "PROBLEM",
                     "record_id", id);
}

static void write_record(struct iha_spool *s, const char *id)
{
    json_t *r = record(id);
    struct iha_err err = {0};

    assert_int_equal(iha_spool_write(s, r, &err), IHA_OK);
    json_decref(r);
}

static size_t count_in(const char *dir, const char *sub)
{
    char p[512];
    DIR *d;
    struct dirent *e;
    size_t n = 0;

    snprintf(p, sizeof(p), "%s/%s", dir, sub);
    d = opendir(p);
    if (!d)
        return 0;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n;
}

static void test_write_is_complete_and_private(void **state)
{
    struct fixture *f = *state;
    struct iha_spool *s = NULL;
    struct iha_err err = {0};
    char sub[300], path[600];
    DIR *d;
    struct dirent *e;
    json_t *back;
    struct stat st;

    snprintf(sub, sizeof(sub), "%s/spool", f->dir);
    /* The last component is created. */
    assert_int_equal(iha_spool_open(sub, &s, &err), IHA_OK);
    assert_int_equal(stat(sub, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0750);
    write_record(s, "0123456789abcdef0123456789abcdef");
    assert_int_equal(iha_spool_count(s), 1);
    d = opendir(sub);
    assert_non_null(d);
    path[0] = '\0';
    while ((e = readdir(d)) != NULL) {
        /* No temporary file is left behind. */
        assert_true(strncmp(e->d_name, ".tmp-", 5) != 0);
        if (strstr(e->d_name, ".json"))
            snprintf(path, sizeof(path), "%s/%s", sub, e->d_name);
    }
    closedir(d);
    assert_non_null(strstr(path, "-0123456789abcdef0123456789abcdef-"));
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0640);
    back = json_load_file(path, 0, NULL);
    assert_non_null(back);
    assert_string_equal(json_string_value(json_object_get(back, "hostname")), "compute-1");
    json_decref(back);
    iha_spool_close(s);

    /* A path whose parent is missing is an error, not a crash. */
    snprintf(sub, sizeof(sub), "%s/missing/spool", f->dir);
    assert_int_equal(iha_spool_open(sub, &s, &err), IHA_E_IO);
    assert_null(s);
    assert_non_null(strstr(err.msg, "cannot create"));
}

static void test_flush_oldest_first(void **state)
{
    struct fixture *f = *state;
    struct iha_spool *s = NULL;
    struct iha_err err = {0};
    struct script sc = {0};
    struct iha_spool_stats st;

    assert_int_equal(iha_spool_open(f->dir, &s, &err), IHA_OK);
    write_record(s, "aaa3");
    write_record(s, "aaa1");
    write_record(s, "aaa2");
    /* Without the lock: refused. */
    assert_int_equal(iha_spool_flush(s, scripted, &sc, iha_spool_now_ms() + 5000, &st, &err),
                     IHA_E_INVAL);
    assert_int_equal(iha_spool_lock(s, 0), IHA_OK);
    assert_int_equal(iha_spool_flush(s, scripted, &sc, iha_spool_now_ms() + 5000, &st, &err),
                     IHA_OK);
    /* In the order written, not by id. */
    assert_int_equal(sc.calls, 3);
    assert_string_equal(sc.seen[0], "aaa3");
    assert_string_equal(sc.seen[1], "aaa1");
    assert_string_equal(sc.seen[2], "aaa2");
    assert_int_equal(st.delivered, 3);
    assert_int_equal(st.left, 0);
    assert_false(st.stopped);
    assert_int_equal(iha_spool_count(s), 0);
    iha_spool_close(s);
}

static void test_retry_stops_and_keeps_order(void **state)
{
    struct fixture *f = *state;
    struct iha_spool *s = NULL;
    struct iha_err err = {0};
    struct script sc = {{IHA_SPOOL_DELIVERED, IHA_SPOOL_RETRY}, 2, 0, {{0}}};
    struct iha_spool_stats st;

    assert_int_equal(iha_spool_open(f->dir, &s, &err), IHA_OK);
    write_record(s, "r1");
    write_record(s, "r2");
    write_record(s, "r3");
    assert_int_equal(iha_spool_lock(s, 0), IHA_OK);
    assert_int_equal(iha_spool_flush(s, scripted, &sc, iha_spool_now_ms() + 5000, &st, &err),
                     IHA_OK);
    assert_int_equal(sc.calls, 2);
    assert_true(st.stopped);
    assert_int_equal(st.delivered, 1);
    assert_int_equal(st.left, 2);
    assert_int_equal(iha_spool_count(s), 2);
    /* Next flush starts again at r2: nothing was skipped. */
    memset(&sc, 0, sizeof(sc));
    assert_int_equal(iha_spool_flush(s, scripted, &sc, iha_spool_now_ms() + 5000, &st, &err),
                     IHA_OK);
    assert_string_equal(sc.seen[0], "r2");
    assert_string_equal(sc.seen[1], "r3");
    assert_int_equal(iha_spool_count(s), 0);
    /* A deadline already passed sends nothing. */
    write_record(s, "r4");
    memset(&sc, 0, sizeof(sc));
    assert_int_equal(iha_spool_flush(s, scripted, &sc, iha_spool_now_ms() - 1, &st, &err), IHA_OK);
    assert_int_equal(sc.calls, 0);
    assert_true(st.stopped);
    assert_int_equal(st.left, 1);
    iha_spool_close(s);
}

static void put_file(const char *dir, const char *name, const char *content)
{
    char p[512];
    FILE *fp;

    snprintf(p, sizeof(p), "%s/%s", dir, name);
    fp = fopen(p, "w");
    assert_non_null(fp);
    fputs(content, fp);
    fclose(fp);
}

static void test_corrupt_and_rejected_moved_aside(void **state)
{
    struct fixture *f = *state;
    struct iha_spool *s = NULL;
    struct iha_err err = {0};
    struct script sc = {{IHA_SPOOL_REJECTED, IHA_SPOOL_DELIVERED}, 2, 0, {{0}}};
    struct iha_spool_stats st;

    assert_int_equal(iha_spool_open(f->dir, &s, &err), IHA_OK);
    /* Older than anything written now, so they come first. */
    put_file(f->dir, "00000000000000000001-bad-1.json", "{\"hostname\": \"x\", trunc");
    put_file(f->dir, "00000000000000000002-bad-2.json", "[1,2]");
    put_file(f->dir, "00000000000000000003-bad-3.json", "{\"hostname\":\"x\"}");
    put_file(f->dir, "00000000000000000004-empty-4.json", "");
    put_file(f->dir, "README", "not a record name: ignored");
    put_file(f->dir, ".tmp-00000000000000000005-x-5.json", "being written");
    write_record(s, "rejected-one");
    write_record(s, "good-one");
    assert_int_equal(iha_spool_count(s), 6);
    assert_int_equal(iha_spool_lock(s, 0), IHA_OK);
    assert_int_equal(iha_spool_flush(s, scripted, &sc, iha_spool_now_ms() + 5000, &st, &err),
                     IHA_OK);
    assert_int_equal(st.corrupt, 4);
    assert_int_equal(st.rejected, 1);
    assert_int_equal(st.delivered, 1);
    assert_int_equal(st.left, 0);
    assert_int_equal(sc.calls, 2);
    assert_string_equal(sc.seen[0], "rejected-one");
    assert_int_equal(count_in(f->dir, "corrupt"), 4);
    assert_int_equal(count_in(f->dir, "rejected"), 1);
    assert_int_equal(iha_spool_count(s), 0);
    /* The fresh temporary file and the foreign file are left alone. */
    assert_int_equal(count_in(f->dir, ""), 3); /* README, corrupt/, rejected/ */
    iha_spool_close(s);
}

static void test_lock_excludes_other_processes(void **state)
{
    struct fixture *f = *state;
    struct iha_spool *s = NULL;
    struct iha_err err = {0};
    int ready[2], done[2];
    pid_t pid;
    char c;
    int status;

    assert_int_equal(pipe(ready), 0);
    assert_int_equal(pipe(done), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct iha_spool *cs = NULL;
        int rc = iha_spool_open(f->dir, &cs, NULL) == IHA_OK && iha_spool_lock(cs, 0) == IHA_OK;
        if (write(ready[1], "x", 1) != 1)
            _exit(3);
        if (read(done[0], &c, 1) != 1)
            _exit(3);
        iha_spool_close(cs);
        _exit(rc ? 0 : 1);
    }
    assert_int_equal(read(ready[0], &c, 1), 1);
    assert_int_equal(iha_spool_open(f->dir, &s, &err), IHA_OK);
    /* Held by the child: a bounded wait, then "busy". */
    assert_int_equal(iha_spool_lock(s, 150), IHA_E_LIMIT);
    assert_int_equal(write(done[1], "x", 1), 1);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    assert_int_equal(iha_spool_lock(s, 1000), IHA_OK);
    iha_spool_close(s);
    close(ready[0]);
    close(ready[1]);
    close(done[0]);
    close(done[1]);
}

/* Opens @p dir; expects a refusal whose message contains every string of @p want. */
static void expect_refused(const char *dir, const char *const *want, size_t n)
{
    struct iha_spool *s = NULL;
    struct iha_err err = {0};

    assert_int_not_equal(iha_spool_open(dir, &s, &err), IHA_OK);
    assert_null(s);
    for (size_t i = 0; i < n; i++) {
        if (!strstr(err.msg, want[i]))
            fail_msg("\"%s\" not in \"%s\"", want[i], err.msg);
    }
}

/* A spool other local users can write lets them inject or swap records: refused. */
static void test_loose_spool_refused(void **state)
{
    struct fixture *f = *state;
    struct iha_spool *s = NULL;
    struct iha_err err = {0};

    assert_int_equal(chmod(f->dir, 0777), 0);
    expect_refused(f->dir, (const char *const[]){f->dir, "0777", "chmod 0700"}, 3);
    assert_int_equal(chmod(f->dir, 0770), 0);
    expect_refused(f->dir, (const char *const[]){f->dir, "0770", "chmod 0700"}, 3);
    assert_int_equal(chmod(f->dir, 0757), 0);
    expect_refused(f->dir, (const char *const[]){f->dir, "0757"}, 2);
    /* Nothing was created in it while it was refused. */
    assert_int_equal(count_in(f->dir, ""), 0);
    assert_int_equal(access(f->dir, F_OK), 0);
    {
        char lock[300];
        snprintf(lock, sizeof(lock), "%s/.lock", f->dir);
        assert_int_not_equal(access(lock, F_OK), 0);
    }
    /* Readable by others is fine: they cannot change anything. */
    assert_int_equal(chmod(f->dir, 0755), 0);
    assert_int_equal(iha_spool_open(f->dir, &s, &err), IHA_OK);
    iha_spool_close(s);
}

/* Owned by another user (not root): refused. Owned by the effective user: accepted. */
static void test_spool_owner(void **state)
{
    struct fixture *f = *state;
    pid_t pid;
    int status;

    if (geteuid() != 0)
        skip();
    assert_int_equal(chown(f->dir, 65534, 65534), 0);
    expect_refused(f->dir, (const char *const[]){f->dir, "uid 65534", "chmod 0700"}, 3);
    /* The same directory is fine for its owner, as for the nagios user with its spool. */
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct iha_spool *s = NULL;
        json_t *r = record("as-owner");
        int ok;
        if (setgid(65534) != 0 || setuid(65534) != 0)
            _exit(3);
        ok = iha_spool_open(f->dir, &s, NULL) == IHA_OK && iha_spool_write(s, r, NULL) == IHA_OK;
        iha_spool_close(s);
        json_decref(r);
        _exit(ok ? 0 : 1);
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    assert_int_equal(count_in(f->dir, ""), 1);
}

/* A .lock symlink is not followed: its target is neither created nor locked. */
static void test_lock_symlink_refused(void **state)
{
    struct fixture *f = *state;
    struct iha_spool *s = NULL;
    struct iha_err err = {0};
    char link[300], target[300];

    snprintf(link, sizeof(link), "%s/.lock", f->dir);
    snprintf(target, sizeof(target), "%s-victim", f->dir);
    assert_int_equal(symlink(target, link), 0);
    assert_int_equal(iha_spool_open(f->dir, &s, &err), IHA_OK);
    assert_int_equal(iha_spool_lock(s, 0), IHA_E_IO);
    iha_spool_close(s);
    assert_int_not_equal(access(target, F_OK), 0);
}

/*
 * A record name that is a symlink (to a valid record elsewhere) or a FIFO is not read:
 * it is moved to corrupt/ and the flush goes on. Runs in a child so that a flush blocked
 * on the FIFO fails, not hangs.
 */
static void test_record_links_and_fifos(void **state)
{
    struct fixture *f = *state;
    char other[300], target[400], p[600];
    pid_t pid;
    int status;

    snprintf(other, sizeof(other), "%s-other", f->dir);
    assert_int_equal(mkdir(other, 0700), 0);
    snprintf(target, sizeof(target), "%s/elsewhere.json", other);
    put_file(other, "elsewhere.json",
             "{\"hostname\":\"compute-1\",\"notification_type\":\"PROBLEM\",\"record_id\":"
             "\"planted\"}");
    snprintf(p, sizeof(p), "%s/00000000000000000001-link-1.json", f->dir);
    assert_int_equal(symlink(target, p), 0);
    snprintf(p, sizeof(p), "%s/00000000000000000002-fifo-2.json", f->dir);
    assert_int_equal(mkfifo(p, 0600), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct iha_spool *s = NULL;
        struct script sc = {0};
        struct iha_spool_stats st;
        int ok;
        alarm(5);
        ok = iha_spool_open(f->dir, &s, NULL) == IHA_OK;
        if (ok)
            write_record(s, "good-one");
        ok = ok && iha_spool_lock(s, 0) == IHA_OK &&
             iha_spool_flush(s, scripted, &sc, iha_spool_now_ms() + 5000, &st, NULL) == IHA_OK &&
             sc.calls == 1 && strcmp(sc.seen[0], "good-one") == 0 && st.corrupt == 2 &&
             st.delivered == 1;
        iha_spool_close(s);
        _exit(ok ? 0 : 1);
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    if (WIFSIGNALED(status))
        fail_msg("the flush was killed by signal %d (blocked on the FIFO?)", WTERMSIG(status));
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    assert_int_equal(count_in(f->dir, "corrupt"), 2);
    /* The link's target is where it was, unchanged. */
    assert_int_equal(count_in(other, ""), 1);
    rm_tree(other);
}

/* corrupt/ replaced by a symlink to another directory: nothing is moved through it. */
static void test_corrupt_dir_symlink(void **state)
{
    struct fixture *f = *state;
    char other[300], p[600];

    snprintf(other, sizeof(other), "%s-other", f->dir);
    assert_int_equal(mkdir(other, 0700), 0);
    snprintf(p, sizeof(p), "%s/corrupt", f->dir);
    assert_int_equal(symlink(other, p), 0);
    put_file(f->dir, "00000000000000000003-bad-3.json", "not json");
    {
        struct iha_spool *s = NULL;
        struct iha_err err = {0};
        struct script sc = {0};
        struct iha_spool_stats st;
        assert_int_equal(iha_spool_open(f->dir, &s, &err), IHA_OK);
        assert_int_equal(iha_spool_lock(s, 0), IHA_OK);
        assert_int_equal(iha_spool_flush(s, scripted, &sc, iha_spool_now_ms() + 5000, &st, &err),
                         IHA_OK);
        iha_spool_close(s);
    }
    assert_int_equal(count_in(other, ""), 0);
    unlink(p);
    rm_tree(other);
}

static void test_classify_and_exit_codes(void **state)
{
    (void)state;
    assert_int_equal(iha_spool_classify(200), IHA_SPOOL_DELIVERED);
    assert_int_equal(iha_spool_classify(202), IHA_SPOOL_DELIVERED);
    assert_int_equal(iha_spool_classify(0), IHA_SPOOL_RETRY);
    assert_int_equal(iha_spool_classify(503), IHA_SPOOL_RETRY);
    assert_int_equal(iha_spool_classify(500), IHA_SPOOL_RETRY);
    assert_int_equal(iha_spool_classify(401), IHA_SPOOL_RETRY);
    assert_int_equal(iha_spool_classify(403), IHA_SPOOL_RETRY);
    assert_int_equal(iha_spool_classify(429), IHA_SPOOL_RETRY);
    assert_int_equal(iha_spool_classify(400), IHA_SPOOL_REJECTED);
    assert_int_equal(iha_spool_classify(413), IHA_SPOOL_REJECTED);
    assert_int_equal(iha_spool_classify(415), IHA_SPOOL_REJECTED);
    assert_int_equal(iha_spool_classify(422), IHA_SPOOL_REJECTED);
    assert_int_equal(iha_spool_classify(301), IHA_SPOOL_RETRY);

    assert_int_equal(iha_notify_exit_code(IHA_SPOOL_DELIVERED, false), 0);
    assert_int_equal(iha_notify_exit_code(IHA_SPOOL_RETRY, true), 0);
    assert_int_equal(iha_notify_exit_code(IHA_SPOOL_RETRY, false), 1);
    assert_int_equal(iha_notify_exit_code(IHA_SPOOL_REJECTED, false), 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_write_is_complete_and_private, setup, teardown),
        cmocka_unit_test_setup_teardown(test_flush_oldest_first, setup, teardown),
        cmocka_unit_test_setup_teardown(test_retry_stops_and_keeps_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_corrupt_and_rejected_moved_aside, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lock_excludes_other_processes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_loose_spool_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_spool_owner, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lock_symlink_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_record_links_and_fifos, setup, teardown),
        cmocka_unit_test_setup_teardown(test_corrupt_dir_symlink, setup, teardown),
        cmocka_unit_test(test_classify_and_exit_codes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
