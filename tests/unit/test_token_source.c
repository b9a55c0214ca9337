/* SPDX-License-Identifier: Apache-2.0 */
/** @file test_token_source.c @brief Token from file (re-read on change) or env; headers per
 * dialect. */
#include "token_source.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cmocka_includes.h"
#include "test_util.h"

struct fx {
    char dir[64];
    char path[128];
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));

    if (!f)
        return -1;
    snprintf(f->dir, sizeof(f->dir), "/tmp/iha-secret-XXXXXX");
    if (!mkdtemp(f->dir)) {
        free(f);
        return -1;
    }
    snprintf(f->path, sizeof(f->path), "%s/token", f->dir);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;

    unlink(f->path);
    rmdir(f->dir);
    free(f);
    return 0;
}

/* Forces an mtime change even within the file system's timestamp granularity. */
static void bump_mtime(const char *path, time_t sec)
{
    struct timespec ts[2] = {{.tv_sec = sec, .tv_nsec = 0}, {.tv_sec = sec, .tv_nsec = 0}};

    assert_int_equal(utimensat(AT_FDCWD, path, ts, 0), 0);
}

static void test_file_reread(void **state)
{
    struct fx *f = *state;
    struct iha_token_source *ts = NULL;
    char h[256];

    test_write_file(f->path, "  gAAAAABtoken-one\n");
    assert_int_equal(iha_token_source_new(f->path, NULL, &ts), IHA_OK);
    assert_int_equal(iha_token_source_header(ts, "X-Auth-Token", h, sizeof(h)), IHA_OK);
    assert_string_equal(h, "X-Auth-Token: gAAAAABtoken-one");

    /* Same size, new content, new mtime. */
    test_write_file(f->path, "  gAAAAABtoken-two\n");
    bump_mtime(f->path, 1000000000);
    assert_int_equal(iha_token_source_header(ts, "X-Auth-Token", h, sizeof(h)), IHA_OK);
    assert_string_equal(h, "X-Auth-Token: gAAAAABtoken-two");

    /* Different size. */
    test_write_file(f->path, "longer-token-three\r\n\t");
    assert_int_equal(iha_token_source_header(ts, "X-Auth-Token", h, sizeof(h)), IHA_OK);
    assert_string_equal(h, "X-Auth-Token: longer-token-three");

    /* Emptied (being rewritten) or removed: the last good token is used. */
    test_write_file(f->path, "  \n");
    assert_int_equal(iha_token_source_header(ts, "X-Auth-Token", h, sizeof(h)), IHA_OK);
    assert_string_equal(h, "X-Auth-Token: longer-token-three");
    unlink(f->path);
    assert_int_equal(iha_token_source_header(ts, "X-Auth-Token", h, sizeof(h)), IHA_OK);
    assert_string_equal(h, "X-Auth-Token: longer-token-three");

    /* Back again. */
    test_write_file(f->path, "four");
    assert_int_equal(iha_token_source_header(ts, "X-Auth-Token", h, sizeof(h)), IHA_OK);
    assert_string_equal(h, "X-Auth-Token: four");
    iha_token_source_free(ts);
}

static void test_file_missing_and_bad(void **state)
{
    struct fx *f = *state;
    struct iha_token_source *ts = NULL;
    char h[256] = "untouched";
    char *big;

    assert_int_equal(iha_token_source_new(f->path, NULL, &ts), IHA_OK);
    assert_int_equal(iha_token_source_header(ts, "X-Auth-Token", h, sizeof(h)), IHA_E_IO);

    /* A header-splitting token is refused. */
    test_write_file(f->path, "abc\r\nX-Evil: 1\n");
    assert_int_equal(iha_token_source_header(ts, "X-Auth-Token", h, sizeof(h)), IHA_E_IO);

    /* Over 64 KiB is not a token file. */
    big = malloc(70000);
    assert_non_null(big);
    memset(big, 'a', 69999);
    big[69999] = '\0';
    test_write_file(f->path, big);
    free(big);
    assert_int_equal(iha_token_source_header(ts, "X-Auth-Token", h, sizeof(h)), IHA_E_IO);

    /* Too small an output buffer. */
    test_write_file(f->path, "0123456789");
    assert_int_equal(iha_token_source_header(ts, "X-Auth-Token", h, 10), IHA_E_LIMIT);
    assert_int_equal(iha_token_source_header(ts, "X-Auth-Token", h, sizeof(h)), IHA_OK);
    assert_string_equal(h, "X-Auth-Token: 0123456789");
    iha_token_source_free(ts);
}

static void test_env(void **state)
{
    struct iha_token_source *ts = NULL;
    char h[256], desc[128];

    (void)state;
    unsetenv("IHA_TEST_TOKEN");
    assert_int_equal(iha_token_source_new(NULL, "IHA_TEST_TOKEN", &ts), IHA_OK);
    assert_int_equal(iha_token_source_header(ts, "X-Auth-Token", h, sizeof(h)), IHA_E_NOTFOUND);
    iha_token_source_describe(ts, desc, sizeof(desc));
    assert_string_equal(desc, "env IHA_TEST_TOKEN (not set)");

    setenv("IHA_TEST_TOKEN", " env-secret-value ", 1);
    assert_int_equal(iha_token_source_header(ts, "X-Auth-Token", h, sizeof(h)), IHA_OK);
    assert_string_equal(h, "X-Auth-Token: env-secret-value");
    iha_token_source_describe(ts, desc, sizeof(desc));
    assert_string_equal(desc, "env IHA_TEST_TOKEN (set)");
    assert_null(strstr(desc, "env-secret-value"));
    unsetenv("IHA_TEST_TOKEN");
    iha_token_source_free(ts);
}

static void test_dialect_headers(void **state)
{
    struct fx *f = *state;
    struct iha_token_source *ts = NULL;
    char h[256], desc[256];

    test_write_file(f->path, "tok-123\n");
    assert_int_equal(iha_token_source_new(f->path, "IGNORED_WHEN_FILE", &ts), IHA_OK);
    assert_int_equal(iha_token_source_header(ts, "X-Auth-Token", h, sizeof(h)), IHA_OK);
    assert_string_equal(h, "X-Auth-Token: tok-123");
    assert_int_equal(iha_token_source_header(ts, "Authorization", h, sizeof(h)), IHA_OK);
    assert_string_equal(h, "Authorization: Bearer tok-123");

    iha_token_source_describe(ts, desc, sizeof(desc));
    assert_non_null(strstr(desc, f->path));
    assert_null(strstr(desc, "tok-123"));
    iha_token_source_free(ts);
}

static void test_none(void **state)
{
    struct iha_token_source *ts = NULL;
    char h[64], desc[64];

    (void)state;
    assert_int_equal(iha_token_source_new(NULL, NULL, &ts), IHA_OK);
    assert_int_equal(iha_token_source_header(ts, "X-Auth-Token", h, sizeof(h)), IHA_E_NOTFOUND);
    iha_token_source_describe(ts, desc, sizeof(desc));
    assert_string_equal(desc, "none");
    iha_token_source_free(ts);
    iha_token_source_free(NULL);
}

static void test_wipe(void **state)
{
    char buf[16];

    (void)state;
    memset(buf, 'x', sizeof(buf));
    iha_secret_wipe(buf, sizeof(buf));
    for (size_t i = 0; i < sizeof(buf); i++)
        assert_int_equal(buf[i], 0);
    iha_secret_wipe(NULL, 5);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_file_reread, setup, teardown),
        cmocka_unit_test_setup_teardown(test_file_missing_and_bad, setup, teardown),
        cmocka_unit_test(test_env),
        cmocka_unit_test_setup_teardown(test_dialect_headers, setup, teardown),
        cmocka_unit_test(test_none),
        cmocka_unit_test(test_wipe),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
