/* SPDX-License-Identifier: Apache-2.0 */
/** @file test_strbuf.c @brief Unit tests for the bounded, all-or-nothing text writer. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "strbuf.h"

static void test_appends_and_terminates(void **state)
{
    char out[16];
    struct iha_strbuf b;

    (void)state;
    memset(out, 'X', sizeof(out));
    iha_strbuf_init(&b, out, sizeof(out));
    assert_string_equal(out, "");
    iha_strbuf_str(&b, "abc");
    iha_strbuf_put(&b, "defgh", 2);
    assert_string_equal(out, "abcde");
    assert_false(iha_strbuf_full(&b));
}

static void test_all_or_nothing(void **state)
{
    char out[6];
    struct iha_strbuf b;

    (void)state;
    iha_strbuf_init(&b, out, sizeof(out));
    iha_strbuf_str(&b, "abc");
    iha_strbuf_str(&b, "def"); /* 3 more would need 7 bytes with the NUL */
    assert_string_equal(out, "abc");
    assert_true(iha_strbuf_full(&b));
    iha_strbuf_str(&b, "d"); /* would fit, but the text must not skip a piece */
    assert_string_equal(out, "abc");

    /* exactly filling the buffer fits */
    iha_strbuf_init(&b, out, sizeof(out));
    iha_strbuf_str(&b, "abcde");
    assert_string_equal(out, "abcde");
    assert_false(iha_strbuf_full(&b));
    iha_strbuf_put(&b, "", 0); /* nothing always fits */
    assert_false(iha_strbuf_full(&b));
    iha_strbuf_put(&b, "f", 1);
    assert_true(iha_strbuf_full(&b));
    assert_string_equal(out, "abcde");
}

static void test_empty_and_null_buffers(void **state)
{
    char out[1] = {'X'};
    struct iha_strbuf b;

    (void)state;
    iha_strbuf_init(&b, out, 0);
    iha_strbuf_str(&b, "a");
    assert_int_equal(out[0], 'X');
    assert_true(iha_strbuf_full(&b));
    iha_strbuf_init(&b, NULL, 100);
    iha_strbuf_quoted(&b, "a");
    assert_true(iha_strbuf_full(&b));
    iha_strbuf_init(&b, out, sizeof(out));
    assert_int_equal(out[0], '\0');
    iha_strbuf_str(&b, "a");
    assert_int_equal(out[0], '\0');
}

static void test_quoted_escapes(void **state)
{
    char out[64];
    struct iha_strbuf b;

    (void)state;
    iha_strbuf_init(&b, out, sizeof(out));
    iha_strbuf_quoted(&b, "a\"b\\c\nd\te\x01\xc3\xa9");
    assert_string_equal(out, "\"a\\\"b\\\\c\\nd\\te\x01\xc3\xa9\"");
    iha_strbuf_init(&b, out, sizeof(out));
    iha_strbuf_quoted(&b, "");
    assert_string_equal(out, "\"\"");
}

static void test_quoted_never_cuts_an_escape(void **state)
{
    char out[5];
    struct iha_strbuf b;

    (void)state;
    /* `"a\"` would need 5 bytes and the NUL: the escape is dropped whole */
    iha_strbuf_init(&b, out, sizeof(out));
    iha_strbuf_quoted(&b, "ab\"c");
    assert_string_equal(out, "\"ab");
    assert_true(iha_strbuf_full(&b));
    /* the closing quote is dropped too once full */
    iha_strbuf_init(&b, out, sizeof(out));
    iha_strbuf_quoted(&b, "abc");
    assert_string_equal(out, "\"abc");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_appends_and_terminates),      cmocka_unit_test(test_all_or_nothing),
        cmocka_unit_test(test_empty_and_null_buffers),      cmocka_unit_test(test_quoted_escapes),
        cmocka_unit_test(test_quoted_never_cuts_an_escape),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
