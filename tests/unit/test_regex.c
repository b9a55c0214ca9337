/* SPDX-License-Identifier: Apache-2.0 */
/** @file test_regex.c @brief Unit tests for anchored, RE2-portable regexes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <string.h>

#include "regexp.h"

static struct iha_regex *must_compile(const char *pattern)
{
    struct iha_regex *re = NULL;
    struct iha_err err = {0};

    if (iha_regex_compile(pattern, strlen(pattern), &re, &err, NULL) != IHA_OK)
        fail_msg("compile(%s): %s (col %u)", pattern, err.msg, err.col);
    assert_non_null(re);
    return re;
}

static enum iha_rc test_str(const struct iha_regex *re, const char *s)
{
    return iha_regex_test(re, s, strlen(s));
}

static void test_anchored_both_ends(void **state)
{
    struct iha_regex *re = must_compile("b|c");

    (void)state;
    assert_int_equal(test_str(re, "b"), IHA_OK);
    assert_int_equal(test_str(re, "c"), IHA_OK);
    assert_int_equal(test_str(re, "abc"), IHA_E_NOTFOUND);
    assert_int_equal(test_str(re, "bc"), IHA_E_NOTFOUND);
    assert_int_equal(test_str(re, "cb"), IHA_E_NOTFOUND);
    assert_int_equal(test_str(re, ""), IHA_E_NOTFOUND);
    iha_regex_free(re);

    /* `$` is the end of the text only, as in Go: not before a final newline. */
    re = must_compile("a$");
    assert_int_equal(test_str(re, "a"), IHA_OK);
    assert_int_equal(test_str(re, "a\n"), IHA_E_NOTFOUND);
    iha_regex_free(re);

    /* A pattern cannot escape the anchoring by closing a pasted-on group. */
    {
        struct iha_regex *bad = NULL;
        struct iha_err err = {0};

        assert_int_equal(iha_regex_compile("a)|(b", 5, &bad, &err, NULL), IHA_E_PARSE);
        assert_null(bad);
        assert_int_equal(err.col, 2);
    }

    /* Only @p len bytes are the pattern. */
    re = NULL;
    assert_int_equal(iha_regex_compile("ab|zz", 2, &re, NULL, NULL), IHA_OK);
    assert_int_equal(test_str(re, "ab"), IHA_OK);
    assert_int_equal(test_str(re, "zz"), IHA_E_NOTFOUND);
    iha_regex_free(re);
}

static void test_invalid_utf8_subject_does_not_match(void **state)
{
    struct iha_regex *re = must_compile(".*");

    (void)state;
    assert_int_equal(test_str(re, "h\xc3\xa9"), IHA_OK);
    assert_int_equal(test_str(re, "h\xc3"), IHA_E_NOTFOUND);
    iha_regex_free(re);
}

static void test_groups_and_offsets(void **state)
{
    struct iha_regex *re = must_compile("([^:]+)(?::(\\d+))?|:(?P<alt>x)");
    struct iha_regex_md *md;
    const size_t *ov;
    uint32_t set = 99;

    (void)state;
    assert_int_equal(iha_regex_groups(re), 3);
    assert_int_equal(iha_regex_group_number(re, "alt"), 3);
    assert_int_equal(iha_regex_group_number(re, "nope"), -1);
    md = iha_regex_md_acquire(iha_regex_groups(re) + 1);
    assert_non_null(md);
    assert_int_equal(iha_regex_match(re, "host-1:9100", 11, md, &set), IHA_OK);
    assert_int_equal(set, 3);
    ov = iha_regex_md_ovector(md);
    assert_int_equal(ov[2], 0);
    assert_int_equal(ov[3], 6);
    assert_int_equal(ov[4], 7);
    assert_int_equal(ov[5], 11);
    assert_int_equal(iha_regex_match(re, "host-2", 6, md, &set), IHA_OK);
    assert_int_equal(set, 2);
    /* a group before the last one set that took no part is unset */
    assert_int_equal(iha_regex_match(re, ":x", 2, md, &set), IHA_OK);
    assert_int_equal(set, 4);
    ov = iha_regex_md_ovector(md);
    assert_int_equal(ov[2], IHA_REGEX_UNSET);
    assert_int_equal(ov[3], IHA_REGEX_UNSET);
    assert_int_equal(ov[6], 1);
    assert_int_equal(ov[7], 2);
    assert_int_equal(iha_regex_match(re, ":1", 2, md, &set), IHA_E_NOTFOUND);
    assert_int_equal(set, 0);
    iha_regex_md_release(md);
    iha_regex_free(re);
}

static void test_md_grows_and_is_kept(void **state)
{
    struct iha_regex_md *a, *b, *c;

    (void)state;
    a = iha_regex_md_acquire(1);
    assert_non_null(a);
    iha_regex_md_release(a);
    b = iha_regex_md_acquire(2);
    assert_ptr_equal(a, b); /* small requests reuse the thread's block */
    iha_regex_md_release(b);
    c = iha_regex_md_acquire(100);
    assert_non_null(c);
    iha_regex_md_release(c);
    iha_regex_md_release(NULL);
}

static void *thread_match(void *arg)
{
    const struct iha_regex *re = arg;

    for (int i = 0; i < 200; i++)
        if (test_str(re, "compute-07") != IHA_OK || test_str(re, "x") != IHA_E_NOTFOUND)
            return (void *)1;
    return NULL;
}

static void test_threads_share_a_regex(void **state)
{
    struct iha_regex *re = must_compile("compute-\\d+");
    pthread_t t[4];
    void *res;

    (void)state;
    for (size_t i = 0; i < 4; i++)
        assert_int_equal(pthread_create(&t[i], NULL, thread_match, re), 0);
    for (size_t i = 0; i < 4; i++) {
        assert_int_equal(pthread_join(t[i], &res), 0);
        assert_null(res);
    }
    iha_regex_free(re);
}

static void test_match_limit(void **state)
{
    struct iha_regex *re = must_compile("(a|aa)*[bc]");
    char s[200];

    (void)state;
    memset(s, 'a', sizeof(s) - 1);
    s[sizeof(s) - 1] = '\0';
    assert_int_equal(test_str(re, s), IHA_E_LIMIT);
    iha_regex_free(re);
}

static void test_re2_refusals_with_columns(void **state)
{
    static const struct {
        const char *pattern;
        unsigned col;
        const char *msg_part;
    } cases[] = {
        {"(a)\\1", 4, "backreference (\\1 .. \\9)"},
        {"(?P<h>a)\\k<h>", 9, "backreference (\\g or \\k)"},
        {"(?P<h>a)(?P=h)", 9, "backreference (?P="},
        {"foo(?=bar)", 4, "lookahead (?="},
        {"foo(?!bar).*", 4, "negative lookahead (?!"},
        {"(?<=a)b", 1, "lookbehind (?<="},
        {"(?<!a)b", 1, "negative lookbehind (?<!"},
        {"ab\\Kc", 3, "match start reset \\K"},
        {"a(*SKIP)b", 2, "backtracking control verb"},
        {"(?>a+)b", 1, "group syntax"},
        {"(a(?R)?)", 3, "group syntax"},
        {"(?(1)a|b)", 1, "group syntax"},
        {"(?P>x)", 1, "recursion (?P>"},
        {"a++", 3, "possessive quantifier"},
        {"x?+", 3, "possessive quantifier"},
        {"(?x)a b", 1, "group syntax"},
        /* columns count UTF-8 characters: é is one column */
        {"\xc3\xa9\xc3\xa9(?=x)", 3, "lookahead"},
    };
    struct iha_regex *re;
    struct iha_err err;
    size_t at;

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        memset(&err, 0, sizeof(err));
        re = (struct iha_regex *)&err; /* must be reset to NULL */
        at = 9999;
        assert_int_equal(
            iha_regex_compile(cases[i].pattern, strlen(cases[i].pattern), &re, &err, &at),
            IHA_E_PARSE);
        assert_null(re);
        if (err.col != cases[i].col || !strstr(err.msg, cases[i].msg_part) ||
            !strstr(err.msg, "RE2"))
            fail_msg("case \"%s\": got col %u msg \"%s\", want col %u \"%s\"", cases[i].pattern,
                     err.col, err.msg, cases[i].col, cases[i].msg_part);
        assert_true(at <= strlen(cases[i].pattern));
        assert_int_equal(iha_regex_column_of(cases[i].pattern, at), err.col);
        assert_string_equal(err.field, ""); /* the caller names the field */
    }
}

static void test_re2_lookalikes_accepted(void **state)
{
    static const char *const ok[] = {
        "(?:a|b)",   "(?P<name>a)", "(?<name>a)",   "(?i)abc",     "(?i:abc)",
        "(?s-m)a.b", "(?U)a+",      "[(?=]x",       "[]?+]",       "[^]\\1]",
        "\\Q(?=\\E", "a\\+\\+",     "[[:alpha:]]+", "\\d+\\.\\d+",
    };
    struct iha_regex *re;
    struct iha_err err;

    (void)state;
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        re = NULL;
        memset(&err, 0, sizeof(err));
        if (iha_regex_compile(ok[i], strlen(ok[i]), &re, &err, NULL) != IHA_OK)
            fail_msg("\"%s\" refused: %s (col %u)", ok[i], err.msg, err.col);
        iha_regex_free(re);
    }
}

static void test_pcre2_errors_with_columns(void **state)
{
    struct iha_regex *re = NULL;
    struct iha_err err = {0};
    size_t at = 0;

    (void)state;
    assert_int_equal(iha_regex_compile("([^:]+", 6, &re, &err, &at), IHA_E_PARSE);
    assert_null(re);
    assert_int_equal(at, 6);
    assert_int_equal(err.col, 7);
    assert_non_null(strstr(err.msg, "invalid regex: missing closing parenthesis"));
    memset(&err, 0, sizeof(err));
    assert_int_equal(iha_regex_compile("\xc3\xa9\xc3\xa9[", 5, &re, &err, &at), IHA_E_PARSE);
    assert_int_equal(at, 5);
    assert_int_equal(err.col, 4);
    /* err and at are optional */
    assert_int_equal(iha_regex_compile("(", 1, &re, NULL, NULL), IHA_E_PARSE);
    assert_int_equal(iha_regex_compile("(?=a)", 5, &re, NULL, NULL), IHA_E_PARSE);
    assert_int_equal(iha_regex_compile(NULL, 0, &re, NULL, NULL), IHA_E_INVAL);
    assert_null(re);
    assert_int_equal(iha_regex_compile("a", 1, NULL, NULL, NULL), IHA_E_INVAL);
}

static void test_column_of_utf8(void **state)
{
    (void)state;
    assert_int_equal(iha_regex_column_of("abc", 0), 1);
    assert_int_equal(iha_regex_column_of("abc", 2), 3);
    /* é (2 bytes), 日 (3 bytes), 😀 (4 bytes) are one column each */
    assert_int_equal(iha_regex_column_of("\xc3\xa9x", 2), 2);
    assert_int_equal(iha_regex_column_of("\xe6\x97\xa5x", 3), 2);
    assert_int_equal(iha_regex_column_of("\xf0\x9f\x98\x80x", 4), 2);
    assert_int_equal(iha_regex_column_of("\xc3\xa9\xe6\x97\xa5\xf0\x9f\x98\x80x", 9), 4);
    /* an offset inside a character counts the character it is in */
    assert_int_equal(iha_regex_column_of("\xc3\xa9x", 1), 2);
    /* counting stops at the NUL */
    assert_int_equal(iha_regex_column_of("ab", 10), 3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_anchored_both_ends),
        cmocka_unit_test(test_invalid_utf8_subject_does_not_match),
        cmocka_unit_test(test_groups_and_offsets),
        cmocka_unit_test(test_md_grows_and_is_kept),
        cmocka_unit_test(test_threads_share_a_regex),
        cmocka_unit_test(test_match_limit),
        cmocka_unit_test(test_re2_refusals_with_columns),
        cmocka_unit_test(test_re2_lookalikes_accepted),
        cmocka_unit_test(test_pcre2_errors_with_columns),
        cmocka_unit_test(test_column_of_utf8),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
