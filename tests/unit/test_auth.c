/* SPDX-License-Identifier: Apache-2.0 */
/** @file test_auth.c @brief Bearer token file, basic auth and the verification cache. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "test_util.h"
#include "test_gate.h"

#include <crypt.h>
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "auth.h"
#include "auth_verifier.h"
#include "log.h"

/* Link seam (-Wl,--wrap=crypt_r): counts the expensive hash computations. */
char *__real_crypt_r(const char *phrase, const char *setting, struct crypt_data *data);
char *__wrap_crypt_r(const char *phrase, const char *setting, struct crypt_data *data);

static int crypt_calls;
/* While gate_closed, a hash waits: the test decides when the verifier thread moves on. */
static pthread_mutex_t gate_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_cond = PTHREAD_COND_INITIALIZER;
static bool gate_closed;
static int gate_waiting;

char *__wrap_crypt_r(const char *phrase, const char *setting, struct crypt_data *data)
{
    pthread_mutex_lock(&gate_lock);
    crypt_calls++;
    gate_waiting++;
    pthread_cond_broadcast(&gate_cond);
    while (gate_closed)
        pthread_cond_wait(&gate_cond, &gate_lock);
    gate_waiting--;
    pthread_mutex_unlock(&gate_lock);
    return __real_crypt_r(phrase, setting, data);
}

static void gate_set(bool closed)
{
    pthread_mutex_lock(&gate_lock);
    gate_closed = closed;
    pthread_cond_broadcast(&gate_cond);
    pthread_mutex_unlock(&gate_lock);
}

/* Waits until a hash is held at the closed gate. */
static void gate_wait_held(void)
{
    pthread_mutex_lock(&gate_lock);
    while (gate_waiting == 0)
        pthread_cond_wait(&gate_cond, &gate_lock);
    pthread_mutex_unlock(&gate_lock);
}

static int crypt_count(void)
{
    int n;

    pthread_mutex_lock(&gate_lock);
    n = crypt_calls;
    pthread_mutex_unlock(&gate_lock);
    return n;
}

/* iha_auth_check() with any verification run at once, as the verifier would. */
static enum iha_auth_result check(struct iha_auth *a, const char *hdr, char *why, size_t size)
{
    struct iha_auth_job *job = NULL;
    enum iha_auth_result res = iha_auth_check(a, hdr, &job, why, size);
    bool accepted;

    if (res != IHA_AUTH_VERIFY) {
        assert_null(job);
        return res;
    }
    assert_non_null(job);
    iha_auth_job_run(job);
    res = iha_auth_job_finish(a, job, &accepted, why, size);
    iha_auth_job_free(job);
    return res;
}

struct ts {
    char dir[64];
    char tokens[128];
    char hash[128];
    char hash2[128];
};

static void make_hash(const char *prefix, const char *pw, char *out, size_t size)
{
    const char *salt = crypt_gensalt(prefix, 4, NULL, 0);
    const char *h;

    assert_non_null(salt);
    h = crypt(pw, salt);
    assert_non_null(h);
    assert_int_equal(h[0], '$');
    snprintf(out, size, "%s", h);
}

static void basic_header(const char *user_pass, char *out, size_t size)
{
    char enc[256];

    test_base64(user_pass, enc, sizeof(enc));
    assert_true((size_t)snprintf(out, size, "Basic %s", enc) < size);
}

static int setup(void **state)
{
    struct ts *t = calloc(1, sizeof(*t));

    assert_non_null(t);
    snprintf(t->dir, sizeof(t->dir), "/tmp/iha-auth-XXXXXX");
    assert_non_null(mkdtemp(t->dir));
    snprintf(t->tokens, sizeof(t->tokens), "%s/tokens", t->dir);
    make_hash("$2b$", "pw-one", t->hash, sizeof(t->hash));
    make_hash("$2y$", "pw:two", t->hash2, sizeof(t->hash2));
    crypt_calls = 0;
    *state = t;
    return 0;
}

static int teardown(void **state)
{
    struct ts *t = *state;
    char tmp[160];

    unlink(t->tokens);
    snprintf(tmp, sizeof(tmp), "%s.tmp", t->tokens);
    unlink(tmp);
    rmdir(t->dir);
    free(t);
    return 0;
}

static void test_equal(void **state)
{
    (void)state;
    assert_true(iha_auth_equal("abc", 3, "abc", 3));
    assert_false(iha_auth_equal("abc", 3, "abd", 3));
    assert_false(iha_auth_equal("abc", 3, "abcd", 4));
    assert_false(iha_auth_equal("abcd", 4, "abc", 3));
    assert_false(iha_auth_equal("", 0, "a", 1));
    assert_true(iha_auth_equal("", 0, "", 0));
    assert_true(iha_auth_equal("a\0b", 3, "a\0b", 3));
    assert_false(iha_auth_equal("a\0b", 3, "a\0c", 3));
}

static void test_disabled_and_unconfigured(void **state)
{
    struct iha_auth *a;
    char why[128];

    (void)state;
    assert_int_equal(iha_auth_new(true, NULL, NULL, 0, &a), IHA_OK);
    assert_int_equal(check(a, NULL, why, sizeof(why)), IHA_AUTH_OK);
    assert_int_equal(check(a, "Bearer x", why, sizeof(why)), IHA_AUTH_OK);
    iha_auth_free(a);

    assert_int_equal(iha_auth_new(false, NULL, NULL, 0, &a), IHA_OK);
    assert_int_equal(check(a, NULL, why, sizeof(why)), IHA_AUTH_MISSING);
    assert_int_equal(check(a, "Bearer x", why, sizeof(why)), IHA_AUTH_MISSING);
    assert_true(why[0] != '\0');
    iha_auth_free(a);
    iha_auth_free(NULL);
}

static void test_bearer(void **state)
{
    struct ts *t = *state;
    struct iha_auth *a;
    char why[128];

    test_replace_file(t->tokens,
                      "# comment line\n\n  first-token \r\nsecond-token\n\t# indented comment\n");
    assert_int_equal(iha_auth_new(false, t->tokens, NULL, 0, &a), IHA_OK);
    assert_int_equal(check(a, "Bearer first-token", why, sizeof(why)), IHA_AUTH_OK);
    assert_int_equal(check(a, "Bearer second-token", why, sizeof(why)), IHA_AUTH_OK);
    assert_int_equal(check(a, "bearer   second-token  ", why, sizeof(why)), IHA_AUTH_OK);
    assert_int_equal(check(a, NULL, why, sizeof(why)), IHA_AUTH_MISSING);
    assert_int_equal(check(a, "", why, sizeof(why)), IHA_AUTH_MISSING);

    assert_int_equal(check(a, "Bearer first-toke", why, sizeof(why)), IHA_AUTH_INVALID);
    assert_null(strstr(why, "first-toke"));
    assert_int_equal(check(a, "Bearer first-tokenX", why, sizeof(why)), IHA_AUTH_INVALID);
    assert_int_equal(check(a, "Bearer # comment line", why, sizeof(why)), IHA_AUTH_INVALID);
    assert_int_equal(check(a, "Bearer", why, sizeof(why)), IHA_AUTH_INVALID);
    assert_int_equal(check(a, "Bearer ", why, sizeof(why)), IHA_AUTH_INVALID);
    assert_int_equal(check(a, "Bearerfirst-token", why, sizeof(why)), IHA_AUTH_INVALID);
    assert_int_equal(check(a, "Digest first-token", why, sizeof(why)), IHA_AUTH_INVALID);
    assert_null(strstr(why, "first-token"));
    /* No basic users configured. */
    assert_int_equal(check(a, "Basic Zm9vOmJhcg==", why, sizeof(why)), IHA_AUTH_INVALID);
    iha_auth_free(a);
}

static void test_token_file_lifecycle(void **state)
{
    struct ts *t = *state;
    struct iha_auth *a;
    char why[128];

    /* The file may appear after start. */
    assert_int_equal(iha_auth_new(false, t->tokens, NULL, 0, &a), IHA_OK);
    assert_int_equal(check(a, "Bearer later", why, sizeof(why)), IHA_AUTH_INVALID);
    /* The file is looked at once a second (wall clock, not injectable): poll, bounded. */
    test_replace_file(t->tokens, "later\n");
    assert_eventually(check(a, "Bearer later", why, sizeof(why)) == IHA_AUTH_OK);

    /* Rotation: the old token stops working, the new one works. */
    test_replace_file(t->tokens, "rotated\n");
    assert_eventually(check(a, "Bearer rotated", why, sizeof(why)) == IHA_AUTH_OK);
    assert_int_equal(check(a, "Bearer later", why, sizeof(why)), IHA_AUTH_INVALID);

    /* Removing the file revokes everything. */
    assert_int_equal(unlink(t->tokens), 0);
    assert_eventually(check(a, "Bearer rotated", why, sizeof(why)) == IHA_AUTH_INVALID);
    iha_auth_free(a);
}

static void test_basic(void **state)
{
    struct ts *t = *state;
    struct iha_basic_user users[] = {{(char *)"am", t->hash}, {(char *)"nagios", t->hash2}};
    struct iha_auth *a;
    char why[128], hdr[256];

    assert_int_equal(iha_auth_new(false, NULL, users, 2, &a), IHA_OK);

    basic_header("am:pw-one", hdr, sizeof(hdr));
    assert_int_equal(check(a, hdr, why, sizeof(why)), IHA_AUTH_OK);
    assert_int_equal(crypt_calls, 1);
    /* Cached: the hash is not computed again. */
    assert_int_equal(check(a, hdr, why, sizeof(why)), IHA_AUTH_OK);
    assert_int_equal(crypt_calls, 1);

    /* A password with a colon; the $2y$ prefix. */
    basic_header("nagios:pw:two", hdr, sizeof(hdr));
    assert_int_equal(check(a, hdr, why, sizeof(why)), IHA_AUTH_OK);
    assert_int_equal(crypt_calls, 2);

    basic_header("am:pw-two", hdr, sizeof(hdr));
    assert_int_equal(check(a, hdr, why, sizeof(why)), IHA_AUTH_INVALID);
    assert_null(strstr(why, "pw-two"));
    assert_int_equal(crypt_calls, 3);
    /* A refused credential is remembered too, so a misconfigured sender costs one hash. */
    assert_int_equal(check(a, hdr, why, sizeof(why)), IHA_AUTH_INVALID);
    assert_int_equal(crypt_calls, 3);

    /* Unknown user: same cost as a wrong password. */
    basic_header("eve:pw-one", hdr, sizeof(hdr));
    assert_int_equal(check(a, hdr, why, sizeof(why)), IHA_AUTH_INVALID);
    assert_int_equal(crypt_calls, 4);

    /* Another user's password does not open this user. */
    basic_header("am:pw:two", hdr, sizeof(hdr));
    assert_int_equal(check(a, hdr, why, sizeof(why)), IHA_AUTH_INVALID);
    assert_int_equal(crypt_calls, 5);

    /* Malformed: no colon, bad base64, trailing garbage after padding. */
    basic_header("ampw-one", hdr, sizeof(hdr));
    assert_int_equal(check(a, hdr, why, sizeof(why)), IHA_AUTH_INVALID);
    assert_int_equal(check(a, "Basic !!!!", why, sizeof(why)), IHA_AUTH_INVALID);
    assert_int_equal(check(a, "Basic YW06cHctb25l=x", why, sizeof(why)), IHA_AUTH_INVALID);
    assert_int_equal(check(a, "Basic ", why, sizeof(why)), IHA_AUTH_INVALID);
    /* The credential is still cached and valid after all the failures. */
    basic_header("am:pw-one", hdr, sizeof(hdr));
    assert_int_equal(check(a, hdr, why, sizeof(why)), IHA_AUTH_OK);
    /* Unpadded base64 is accepted. */
    assert_int_equal(check(a, "basic YW06cHctb25l", why, sizeof(why)), IHA_AUTH_OK);
    /* Bearer with only basic users configured. */
    assert_int_equal(check(a, "Bearer pw-one", why, sizeof(why)), IHA_AUTH_INVALID);
    iha_auth_free(a);
}

static void test_cache_eviction(void **state)
{
    struct ts *t = *state;
    struct iha_basic_user users[] = {{(char *)"am", t->hash}};
    struct iha_auth *a;
    char why[128], hdr[256], up[64];

    assert_int_equal(iha_auth_new(false, NULL, users, 1, &a), IHA_OK);
    basic_header("am:pw-one", hdr, sizeof(hdr));
    assert_int_equal(check(a, hdr, why, sizeof(why)), IHA_AUTH_OK);
    /* Many different wrong passwords do not push the good credential out. */
    for (int i = 0; i < 40; i++) {
        snprintf(up, sizeof(up), "am:wrong-%d", i);
        basic_header(up, hdr, sizeof(hdr));
        assert_int_equal(check(a, hdr, why, sizeof(why)), IHA_AUTH_INVALID);
    }
    crypt_calls = 0;
    basic_header("am:pw-one", hdr, sizeof(hdr));
    assert_int_equal(check(a, hdr, why, sizeof(why)), IHA_AUTH_OK);
    assert_int_equal(crypt_calls, 0);
    iha_auth_free(a);
}

static void test_both_methods(void **state)
{
    struct ts *t = *state;
    struct iha_basic_user users[] = {{(char *)"am", t->hash}};
    struct iha_auth *a;
    char why[128], hdr[256];

    test_replace_file(t->tokens, "tok\n");
    assert_int_equal(iha_auth_new(false, t->tokens, users, 1, &a), IHA_OK);
    assert_int_equal(check(a, "Bearer tok", why, sizeof(why)), IHA_AUTH_OK);
    basic_header("am:pw-one", hdr, sizeof(hdr));
    assert_int_equal(check(a, hdr, why, sizeof(why)), IHA_AUTH_OK);
    assert_int_equal(check(a, NULL, why, sizeof(why)), IHA_AUTH_MISSING);
    iha_auth_free(a);
}

/* Jobs handed back by the verifier, for the tests below. */
struct returned {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int n;
    struct iha_auth_job *jobs[32];
};

static void on_done(void *cls, struct iha_auth_job *job)
{
    struct returned *r = cls;

    pthread_mutex_lock(&r->lock);
    r->jobs[r->n++] = job;
    pthread_cond_broadcast(&r->cond);
    pthread_mutex_unlock(&r->lock);
}

static void returned_wait(struct returned *r, int n)
{
    pthread_mutex_lock(&r->lock);
    while (r->n < n)
        pthread_cond_wait(&r->cond, &r->lock);
    pthread_mutex_unlock(&r->lock);
}

/* A new credential that must be hashed: the job for it. */
static struct iha_auth_job *job_for(struct iha_auth *a, const char *user_pass)
{
    struct iha_auth_job *job = NULL;
    char why[128], hdr[256];

    basic_header(user_pass, hdr, sizeof(hdr));
    assert_int_equal(iha_auth_check(a, hdr, &job, why, sizeof(why)), IHA_AUTH_VERIFY);
    assert_non_null(job);
    return job;
}

/*
 * Past a client's budget a correct credential is busy (503 with Retry-After), never
 * invalid; another client's credential is still taken while the first one floods.
 */
static void test_verifier_budget_per_client(void **state)
{
    struct ts *t = *state;
    struct iha_basic_user users[] = {{(char *)"am", t->hash}};
    struct returned ret = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};
    struct iha_auth_verifier *v;
    struct iha_auth_job *job, *held;
    struct iha_auth *a;
    char why[128], up[64];
    bool accepted;
    int queued = 0;

    assert_int_equal(iha_auth_new(false, NULL, users, 1, &a), IHA_OK);
    assert_int_equal(iha_auth_verifier_new(&v), IHA_OK);
    gate_set(true);
    /* The flooder: wrong passwords until the verifier refuses more from it. */
    for (int i = 0; i < 2 * IHA_AUTH_VERIFIER_BURST; i++) {
        snprintf(up, sizeof(up), "am:wrong-%d", i);
        job = job_for(a, up);
        if (iha_auth_verifier_submit(v, "192.0.2.1", job, on_done, &ret) != IHA_OK) {
            iha_auth_job_free(job);
            break;
        }
        queued++;
    }
    assert_int_equal(queued, IHA_AUTH_VERIFIER_PER_CLIENT);
    gate_wait_held();
    /* A correct credential from the flooding client is busy now... */
    held = job_for(a, "am:pw-one");
    assert_int_equal(iha_auth_verifier_submit(v, "192.0.2.1", held, on_done, &ret), IHA_E_LIMIT);
    /* ...and taken from another client. */
    assert_int_equal(iha_auth_verifier_submit(v, "192.0.2.2", held, on_done, &ret), IHA_OK);
    assert_int_equal(iha_auth_verifier_pending(v), (size_t)queued + 1);
    gate_set(false);
    returned_wait(&ret, queued + 1);
    for (int i = 0; i < ret.n; i++) {
        enum iha_auth_result res = iha_auth_job_finish(a, ret.jobs[i], &accepted, why, sizeof(why));
        assert_int_equal(res, ret.jobs[i] == held ? IHA_AUTH_OK : IHA_AUTH_INVALID);
        assert_int_equal(accepted, ret.jobs[i] == held);
        iha_auth_job_free(ret.jobs[i]);
    }
    assert_int_equal(ret.jobs[ret.n - 1] == held, true); /* queued after the flood, run last */
    iha_auth_verifier_free(v);
    iha_auth_free(a);
}

/*
 * Submits a correct credential as a new client; @return whether it was taken (counted in
 * @p queued).
 */
static bool submit_as(struct iha_auth_verifier *v, struct iha_auth *a, struct returned *ret,
                      int *queued, char *client, size_t size)
{
    struct iha_auth_job *job = job_for(a, "am:pw-one");

    snprintf(client, size, "c%d", *queued);
    if (iha_auth_verifier_submit(v, client, job, on_done, ret) != IHA_OK) {
        iha_auth_job_free(job);
        return false;
    }
    (*queued)++;
    return true;
}

static void *stop_thread(void *v)
{
    iha_auth_verifier_stop(v);
    return NULL;
}

/*
 * Stopping lets the running hash finish and hands queued jobs back unrun; settling one
 * of those says busy (the sender retries), never invalid.
 */
static void test_verifier_stop_hands_back(void **state)
{
    struct ts *t = *state;
    struct iha_basic_user users[] = {{(char *)"am", t->hash}};
    struct returned ret = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};
    struct iha_auth_verifier *v;
    struct iha_auth_job *job;
    struct iha_auth *a;
    pthread_t stopper;
    char why[128], client[16];
    bool accepted = true, refused;
    int n_busy = 0, n_ok = 0, queued = 1;

    assert_int_equal(iha_auth_new(false, NULL, users, 1, &a), IHA_OK);
    assert_int_equal(iha_auth_verifier_new(&v), IHA_OK);
    gate_set(true);
    assert_int_equal(iha_auth_verifier_submit(v, "a", job_for(a, "am:pw-one"), on_done, &ret),
                     IHA_OK);
    gate_wait_held();
    assert_int_equal(pthread_create(&stopper, NULL, stop_thread, v), 0);
    /*
     * Queues until the stop is seen (refused); the hash at the gate is still running. The
     * poll ends on what the verifier answers; its pace only spreads the queue's room over
     * the bound, so that a stopping thread slow to get its turn does not fill the queue.
     */
    TEST_POLL_UNTIL(refused, !submit_as(v, a, &ret, &queued, client, sizeof(client)), TEST_WAIT_MS,
                    TEST_WAIT_MS / IHA_AUTH_VERIFIER_QUEUE);
    assert_true(refused);
    assert_true(queued < IHA_AUTH_VERIFIER_QUEUE - 1);
    gate_set(false);
    assert_int_equal(pthread_join(stopper, NULL), 0);
    assert_int_equal(ret.n, queued);
    for (int i = 0; i < ret.n; i++) {
        enum iha_auth_result res = iha_auth_job_finish(a, ret.jobs[i], &accepted, why, sizeof(why));
        assert_true(res == IHA_AUTH_OK || res == IHA_AUTH_BUSY);
        n_busy += res == IHA_AUTH_BUSY;
        n_ok += res == IHA_AUTH_OK;
        iha_auth_job_free(ret.jobs[i]);
    }
    assert_int_equal(n_ok, 1);
    assert_int_equal(n_busy, queued - 1);
    job = job_for(a, "am:not-seen-yet");
    assert_int_equal(iha_auth_verifier_submit(v, "a", job, on_done, &ret), IHA_E_LIMIT);
    iha_auth_job_free(job);
    iha_auth_verifier_free(v);
    iha_auth_free(a);
}

/*
 * A reload keeps what the running configuration verified, for users whose hash is
 * unchanged: no new hash. A removed user, or one whose hash changed, is checked anew.
 */
static void test_reload_keeps_verified(void **state)
{
    struct ts *t = *state;
    char hash3[128];
    struct iha_basic_user before[] = {
        {(char *)"am", t->hash}, {(char *)"nagios", t->hash2}, {(char *)"old", t->hash}};
    struct iha_basic_user after[] = {{(char *)"am", t->hash}, {(char *)"nagios", hash3}};
    struct iha_auth *a1, *a2;
    char why[128], hdr[256];

    make_hash("$2b$", "pw:two", hash3, sizeof(hash3)); /* same password, new salt */
    assert_int_equal(iha_auth_new(false, NULL, before, 3, &a1), IHA_OK);
    basic_header("am:pw-one", hdr, sizeof(hdr));
    assert_int_equal(check(a1, hdr, why, sizeof(why)), IHA_AUTH_OK);
    basic_header("nagios:pw:two", hdr, sizeof(hdr));
    assert_int_equal(check(a1, hdr, why, sizeof(why)), IHA_AUTH_OK);
    basic_header("old:pw-one", hdr, sizeof(hdr));
    assert_int_equal(check(a1, hdr, why, sizeof(why)), IHA_AUTH_OK);
    assert_int_equal(crypt_count(), 3);

    assert_int_equal(iha_auth_new(false, NULL, after, 2, &a2), IHA_OK);
    iha_auth_adopt_cache(a2, a1);
    iha_auth_free(a1);
    basic_header("am:pw-one", hdr, sizeof(hdr));
    assert_int_equal(check(a2, hdr, why, sizeof(why)), IHA_AUTH_OK);
    assert_int_equal(crypt_count(), 3); /* from the cache */
    basic_header("old:pw-one", hdr, sizeof(hdr));
    assert_int_equal(check(a2, hdr, why, sizeof(why)), IHA_AUTH_INVALID);
    assert_int_equal(crypt_count(), 4); /* removed: not from the cache */
    basic_header("nagios:pw:two", hdr, sizeof(hdr));
    assert_int_equal(check(a2, hdr, why, sizeof(why)), IHA_AUTH_OK);
    assert_int_equal(crypt_count(), 5); /* its hash changed: checked against the new one */
    iha_auth_free(a2);
}

/* A verdict reached against a configuration a reload replaced meanwhile is not used. */
static void test_finish_after_reload(void **state)
{
    struct ts *t = *state;
    struct iha_basic_user before[] = {{(char *)"am", t->hash}};
    struct iha_basic_user after[] = {{(char *)"am", t->hash2}};
    struct iha_auth *a1, *a2;
    struct iha_auth_job *job;
    char why[128], hdr[256];
    bool accepted;

    assert_int_equal(iha_auth_new(false, NULL, before, 1, &a1), IHA_OK);
    job = job_for(a1, "am:pw-one");
    iha_auth_job_run(job);
    assert_int_equal(iha_auth_new(false, NULL, after, 1, &a2), IHA_OK);
    iha_auth_adopt_cache(a2, a1);
    iha_auth_free(a1);
    assert_int_equal(iha_auth_job_finish(a2, job, &accepted, why, sizeof(why)), IHA_AUTH_BUSY);
    assert_true(accepted);
    iha_auth_job_free(job);
    /* Not remembered either way: the retry is checked against the new hash. */
    basic_header("am:pw-one", hdr, sizeof(hdr));
    assert_int_equal(check(a2, hdr, why, sizeof(why)), IHA_AUTH_INVALID);
    iha_auth_free(a2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_equal),
        cmocka_unit_test(test_disabled_and_unconfigured),
        cmocka_unit_test_setup_teardown(test_bearer, setup, teardown),
        cmocka_unit_test_setup_teardown(test_token_file_lifecycle, setup, teardown),
        cmocka_unit_test_setup_teardown(test_basic, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cache_eviction, setup, teardown),
        cmocka_unit_test_setup_teardown(test_both_methods, setup, teardown),
        cmocka_unit_test_setup_teardown(test_verifier_budget_per_client, setup, teardown),
        cmocka_unit_test_setup_teardown(test_verifier_stop_hands_back, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reload_keeps_verified, setup, teardown),
        cmocka_unit_test_setup_teardown(test_finish_after_reload, setup, teardown),
    };

    iha_log_setup(IHA_LOG_ERROR, IHA_LOG_LOGFMT);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
