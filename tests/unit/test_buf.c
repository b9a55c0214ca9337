/* SPDX-License-Identifier: Apache-2.0 */
/** @file test_buf.c @brief Unit tests for the growable, capped byte buffer. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "buf.h"

static void test_grows_and_terminates(void **state)
{
    struct iha_buf b = {0};
    char big[10000];
    char *s;

    (void)state;
    memset(big, 'x', sizeof(big));
    assert_true(iha_buf_str(&b, "abc"));
    assert_string_equal(b.p, "abc");
    assert_true(iha_buf_put(&b, big, sizeof(big)));
    assert_int_equal(b.len, 3 + sizeof(big));
    assert_int_equal(b.p[b.len], '\0');
    assert_false(iha_buf_failed(&b));
    s = iha_buf_steal(&b);
    assert_non_null(s);
    assert_int_equal(strlen(s), 3 + sizeof(big));
    assert_null(b.p);
    assert_int_equal(b.len, 0);
    free(s);
}

static void test_cap_is_all_or_nothing(void **state)
{
    struct iha_buf b;

    (void)state;
    iha_buf_init(&b, 2, 5);
    assert_true(iha_buf_str(&b, "abcd"));
    assert_false(iha_buf_str(&b, "ef")); /* 6 bytes would pass the cap of 5 */
    assert_string_equal(b.p, "abcd");
    assert_true(b.over);
    assert_true(iha_buf_failed(&b));
    assert_true(iha_buf_str(&b, "e")); /* exactly the cap */
    assert_string_equal(b.p, "abcde");
    assert_null(iha_buf_steal(&b)); /* a refused append drops the whole text */
    assert_null(b.p);
    assert_false(b.over);
}

static void test_room_then_wrote(void **state)
{
    struct iha_buf b = {0};
    char *at;

    (void)state;
    at = iha_buf_room(&b, 3);
    assert_non_null(at);
    memcpy(at, "xyz", 3);
    iha_buf_wrote(&b, 3);
    assert_string_equal(b.p, "xyz");
    iha_buf_free(&b);
    assert_null(b.p);
}

static void test_steal_of_nothing_is_empty_text(void **state)
{
    struct iha_buf b = {0};
    char *s;

    (void)state;
    assert_true(iha_buf_put(&b, NULL, 0));
    assert_null(b.p);
    s = iha_buf_steal(&b);
    assert_non_null(s);
    assert_string_equal(s, "");
    free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_grows_and_terminates),
        cmocka_unit_test(test_cap_is_all_or_nothing),
        cmocka_unit_test(test_room_then_wrote),
        cmocka_unit_test(test_steal_of_nothing_is_empty_text),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
