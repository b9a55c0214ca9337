/* SPDX-License-Identifier: Apache-2.0 */
/** @file test_auth.c @brief Bearer token file, basic auth and the verification cache. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "test_util.h"

#include <crypt.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "auth.h"
#include "log.h"

/* Link seam (-Wl,--wrap=crypt_r): counts the expensive hash computations. */
char *__real_crypt_r(const char *phrase, const char *setting, struct crypt_data *data);
char *__wrap_crypt_r(const char *phrase, const char *setting, struct crypt_data *data);

static int crypt_calls;

char *__wrap_crypt_r(const char *phrase, const char *setting, struct crypt_data *data)
{
    crypt_calls++;
    return __real_crypt_r(phrase, setting, data);
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
    assert_int_equal(iha_auth_check(a, NULL, why, sizeof(why)), IHA_AUTH_OK);
    assert_int_equal(iha_auth_check(a, "Bearer x", why, sizeof(why)), IHA_AUTH_OK);
    iha_auth_free(a);

    assert_int_equal(iha_auth_new(false, NULL, NULL, 0, &a), IHA_OK);
    assert_int_equal(iha_auth_check(a, NULL, why, sizeof(why)), IHA_AUTH_MISSING);
    assert_int_equal(iha_auth_check(a, "Bearer x", why, sizeof(why)), IHA_AUTH_MISSING);
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
    assert_int_equal(iha_auth_check(a, "Bearer first-token", why, sizeof(why)), IHA_AUTH_OK);
    assert_int_equal(iha_auth_check(a, "Bearer second-token", why, sizeof(why)), IHA_AUTH_OK);
    assert_int_equal(iha_auth_check(a, "bearer   second-token  ", why, sizeof(why)), IHA_AUTH_OK);
    assert_int_equal(iha_auth_check(a, NULL, why, sizeof(why)), IHA_AUTH_MISSING);
    assert_int_equal(iha_auth_check(a, "", why, sizeof(why)), IHA_AUTH_MISSING);

    assert_int_equal(iha_auth_check(a, "Bearer first-toke", why, sizeof(why)), IHA_AUTH_INVALID);
    assert_null(strstr(why, "first-toke"));
    assert_int_equal(iha_auth_check(a, "Bearer first-tokenX", why, sizeof(why)), IHA_AUTH_INVALID);
    assert_int_equal(iha_auth_check(a, "Bearer # comment line", why, sizeof(why)),
                     IHA_AUTH_INVALID);
    assert_int_equal(iha_auth_check(a, "Bearer", why, sizeof(why)), IHA_AUTH_INVALID);
    assert_int_equal(iha_auth_check(a, "Bearer ", why, sizeof(why)), IHA_AUTH_INVALID);
    assert_int_equal(iha_auth_check(a, "Bearerfirst-token", why, sizeof(why)), IHA_AUTH_INVALID);
    assert_int_equal(iha_auth_check(a, "Digest first-token", why, sizeof(why)), IHA_AUTH_INVALID);
    assert_null(strstr(why, "first-token"));
    /* No basic users configured. */
    assert_int_equal(iha_auth_check(a, "Basic Zm9vOmJhcg==", why, sizeof(why)), IHA_AUTH_INVALID);
    iha_auth_free(a);
}

static void test_token_file_lifecycle(void **state)
{
    struct ts *t = *state;
    struct iha_auth *a;
    char why[128];

    /* The file may appear after start. */
    assert_int_equal(iha_auth_new(false, t->tokens, NULL, 0, &a), IHA_OK);
    assert_int_equal(iha_auth_check(a, "Bearer later", why, sizeof(why)), IHA_AUTH_INVALID);
    test_replace_file(t->tokens, "later\n");
    test_sleep_ms(1100);
    assert_int_equal(iha_auth_check(a, "Bearer later", why, sizeof(why)), IHA_AUTH_OK);

    /* Rotation: the old token stops working, the new one works. */
    test_replace_file(t->tokens, "rotated\n");
    test_sleep_ms(1100);
    assert_int_equal(iha_auth_check(a, "Bearer later", why, sizeof(why)), IHA_AUTH_INVALID);
    assert_int_equal(iha_auth_check(a, "Bearer rotated", why, sizeof(why)), IHA_AUTH_OK);

    /* Removing the file revokes everything. */
    assert_int_equal(unlink(t->tokens), 0);
    test_sleep_ms(1100);
    assert_int_equal(iha_auth_check(a, "Bearer rotated", why, sizeof(why)), IHA_AUTH_INVALID);
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
    assert_int_equal(iha_auth_check(a, hdr, why, sizeof(why)), IHA_AUTH_OK);
    assert_int_equal(crypt_calls, 1);
    /* Cached: the hash is not computed again. */
    assert_int_equal(iha_auth_check(a, hdr, why, sizeof(why)), IHA_AUTH_OK);
    assert_int_equal(crypt_calls, 1);

    /* A password with a colon; the $2y$ prefix. */
    basic_header("nagios:pw:two", hdr, sizeof(hdr));
    assert_int_equal(iha_auth_check(a, hdr, why, sizeof(why)), IHA_AUTH_OK);
    assert_int_equal(crypt_calls, 2);

    basic_header("am:pw-two", hdr, sizeof(hdr));
    assert_int_equal(iha_auth_check(a, hdr, why, sizeof(why)), IHA_AUTH_INVALID);
    assert_null(strstr(why, "pw-two"));
    assert_int_equal(crypt_calls, 3);
    /* A refused credential is remembered too, so a misconfigured sender costs one hash. */
    assert_int_equal(iha_auth_check(a, hdr, why, sizeof(why)), IHA_AUTH_INVALID);
    assert_int_equal(crypt_calls, 3);

    /* Unknown user: same cost as a wrong password. */
    basic_header("eve:pw-one", hdr, sizeof(hdr));
    assert_int_equal(iha_auth_check(a, hdr, why, sizeof(why)), IHA_AUTH_INVALID);
    assert_int_equal(crypt_calls, 4);

    /* At most four new credentials are hashed per second; the fifth waits its turn. */
    basic_header("am:pw:two", hdr, sizeof(hdr));
    assert_int_equal(iha_auth_check(a, hdr, why, sizeof(why)), IHA_AUTH_INVALID);
    assert_int_equal(crypt_calls, 4);
    assert_non_null(strstr(why, "too many"));
    sleep(1);
    /* Another user's password does not open this user. */
    assert_int_equal(iha_auth_check(a, hdr, why, sizeof(why)), IHA_AUTH_INVALID);
    assert_int_equal(crypt_calls, 5);

    /* Malformed: no colon, bad base64, trailing garbage after padding. */
    basic_header("ampw-one", hdr, sizeof(hdr));
    assert_int_equal(iha_auth_check(a, hdr, why, sizeof(why)), IHA_AUTH_INVALID);
    assert_int_equal(iha_auth_check(a, "Basic !!!!", why, sizeof(why)), IHA_AUTH_INVALID);
    assert_int_equal(iha_auth_check(a, "Basic YW06cHctb25l=x", why, sizeof(why)), IHA_AUTH_INVALID);
    assert_int_equal(iha_auth_check(a, "Basic ", why, sizeof(why)), IHA_AUTH_INVALID);
    /* The credential is still cached and valid after all the failures. */
    basic_header("am:pw-one", hdr, sizeof(hdr));
    assert_int_equal(iha_auth_check(a, hdr, why, sizeof(why)), IHA_AUTH_OK);
    /* Unpadded base64 is accepted. */
    assert_int_equal(iha_auth_check(a, "basic YW06cHctb25l", why, sizeof(why)), IHA_AUTH_OK);
    /* Bearer with only basic users configured. */
    assert_int_equal(iha_auth_check(a, "Bearer pw-one", why, sizeof(why)), IHA_AUTH_INVALID);
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
    assert_int_equal(iha_auth_check(a, hdr, why, sizeof(why)), IHA_AUTH_OK);
    /* Many different wrong passwords do not push the good credential out. */
    for (int i = 0; i < 40; i++) {
        snprintf(up, sizeof(up), "am:wrong-%d", i);
        basic_header(up, hdr, sizeof(hdr));
        assert_int_equal(iha_auth_check(a, hdr, why, sizeof(why)), IHA_AUTH_INVALID);
    }
    crypt_calls = 0;
    basic_header("am:pw-one", hdr, sizeof(hdr));
    assert_int_equal(iha_auth_check(a, hdr, why, sizeof(why)), IHA_AUTH_OK);
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
    assert_int_equal(iha_auth_check(a, "Bearer tok", why, sizeof(why)), IHA_AUTH_OK);
    basic_header("am:pw-one", hdr, sizeof(hdr));
    assert_int_equal(iha_auth_check(a, hdr, why, sizeof(why)), IHA_AUTH_OK);
    assert_int_equal(iha_auth_check(a, NULL, why, sizeof(why)), IHA_AUTH_MISSING);
    iha_auth_free(a);
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
    };

    iha_log_setup(IHA_LOG_ERROR, IHA_LOG_LOGFMT);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
