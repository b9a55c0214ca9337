/* SPDX-License-Identifier: Apache-2.0 */
/** @file test_matcher.c @brief Unit tests for Alertmanager-style label matchers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "matcher.h"

/* Builds an alert from name/value pairs terminated by NULL. */
static void make_alert(struct iha_alert *a, ...)
{
    va_list ap;
    const char *n, *v;

    iha_alert_init(a, IHA_SOURCE_ALERTMANAGER);
    va_start(ap, a);
    while ((n = va_arg(ap, const char *)) != NULL) {
        v = va_arg(ap, const char *);
        assert_int_equal(iha_alert_set_label(a, n, v), IHA_OK);
    }
    va_end(ap);
}

/* @return whether the single matcher text @p text matches label @p name = @p value. */
static bool match1(const char *text, const char *name, const char *value)
{
    struct iha_matchers *m = iha_matchers_new();
    struct iha_alert a;
    struct iha_err err = {0};
    bool r;

    assert_non_null(m);
    if (iha_matchers_add(m, text, &err) != IHA_OK)
        fail_msg("add(%s): %s (col %u)", text, err.msg, err.col);
    make_alert(&a, name, value, NULL);
    r = iha_matchers_match(m, &a);
    iha_alert_clear(&a);
    iha_matchers_free(m);
    return r;
}

/* Adds @p text expecting @p rc; returns the error for inspection. */
static struct iha_err add_fail(const char *text, enum iha_rc want)
{
    struct iha_matchers *m = iha_matchers_new();
    struct iha_err err = {0};

    assert_non_null(m);
    if (iha_matchers_add(m, text, &err) != want)
        fail_msg("add(%s): expected %s, got msg \"%s\"", text, iha_rc_str(want), err.msg);
    assert_int_equal(iha_matchers_count(m), 0);
    iha_matchers_free(m);
    return err;
}

static void test_operators(void **state)
{
    (void)state;
    assert_true(match1("severity=\"critical\"", "severity", "critical"));
    assert_false(match1("severity=\"critical\"", "severity", "warning"));
    assert_true(match1("severity!=\"critical\"", "severity", "warning"));
    assert_false(match1("severity!=\"critical\"", "severity", "critical"));
    assert_true(match1("severity=~\"critical|page\"", "severity", "page"));
    assert_false(match1("severity=~\"critical|page\"", "severity", "warning"));
    assert_true(match1("severity!~\"critical|page\"", "severity", "warning"));
    assert_false(match1("severity!~\"critical|page\"", "severity", "critical"));
}

static void test_whitespace_and_unquoted(void **state)
{
    (void)state;
    assert_true(match1("  severity  =~  \"crit.*\"  ", "severity", "critical"));
    assert_true(match1("job = node exporter ", "job", "node exporter"));
    assert_false(match1("job = node exporter ", "job", "node exporter "));
    assert_true(match1("job=", "job", ""));
    assert_true(match1("job!~node.*", "job", "libvirt"));
}

static void test_quoting_escapes(void **state)
{
    (void)state;
    assert_true(match1("a=\"x\\\"y\\\\z\"", "a", "x\"y\\z"));
    assert_true(match1("a=\"line\\nnext\\ttab\"", "a", "line\nnext\ttab"));
    assert_true(match1("a=\"x,y}\"", "a", "x,y}"));
    /* \\d in the quoted text reaches PCRE2 as \d */
    assert_true(match1("a=~\"\\\\d+\"", "a", "123"));
    assert_false(match1("a=~\"\\\\d+\"", "a", "12a"));
    assert_true(match1("a=\"caf\xc3\xa9\"", "a", "caf\xc3\xa9"));
    assert_true(match1("a=~\"caf.\"", "a", "caf\xc3\xa9"));
}

static void test_lists(void **state)
{
    struct iha_matchers *m = iha_matchers_new();
    struct iha_alert a;
    struct iha_err err = {0};

    (void)state;
    assert_non_null(m);
    assert_int_equal(iha_matchers_add(m, "{a=\"1\", b=~\"2|3\",}", &err), IHA_OK);
    assert_int_equal(iha_matchers_count(m), 2);
    assert_int_equal(iha_matchers_add(m, " c != \"x\" ,d=~\"y|\" , ", &err), IHA_OK);
    assert_int_equal(iha_matchers_count(m), 4);
    assert_int_equal(iha_matchers_add(m, "e=1,f=2", &err), IHA_OK);
    assert_int_equal(iha_matchers_add(m, "{ }", &err), IHA_OK);
    assert_int_equal(iha_matchers_count(m), 6);

    make_alert(&a, "a", "1", "b", "3", "c", "z", "e", "1", "f", "2", NULL);
    assert_true(iha_matchers_match(m, &a));
    iha_alert_clear(&a);
    make_alert(&a, "a", "1", "b", "4", "c", "z", "e", "1", "f", "2", NULL);
    assert_false(iha_matchers_match(m, &a));
    iha_alert_clear(&a);
    make_alert(&a, "a", "1", "b", "2", "c", "x", "e", "1", "f", "2", NULL);
    assert_false(iha_matchers_match(m, &a));
    iha_alert_clear(&a);
    /* d missing equals "" which =~"y|" accepts */
    make_alert(&a, "a", "1", "b", "2", "c", "z", "d", "q", "e", "1", "f", "2", NULL);
    assert_false(iha_matchers_match(m, &a));
    iha_alert_clear(&a);
    iha_matchers_free(m);
}

static void test_empty_set_matches_all(void **state)
{
    struct iha_matchers *m = iha_matchers_new();
    struct iha_alert a;
    char buf[64] = "x";

    (void)state;
    assert_non_null(m);
    assert_int_equal(iha_matchers_count(m), 0);
    make_alert(&a, "a", "1", NULL);
    assert_true(iha_matchers_match(m, &a));
    assert_false(iha_matchers_explain(m, &a, buf, sizeof(buf)));
    assert_string_equal(buf, "");
    iha_alert_clear(&a);
    iha_matchers_free(m);
    iha_matchers_free(NULL);
}

static void test_missing_label_is_empty(void **state)
{
    (void)state;
    assert_true(match1("foo=\"\"", "other", "x"));
    assert_false(match1("foo!=\"\"", "other", "x"));
    assert_true(match1("foo!=\"bar\"", "other", "x"));
    assert_true(match1("foo=~\".*\"", "other", "x"));
    assert_false(match1("foo=~\".+\"", "other", "x"));
    assert_true(match1("foo!~\".+\"", "other", "x"));
    assert_false(match1("foo=\"\"", "foo", "x"));
}

static void test_anchoring(void **state)
{
    (void)state;
    assert_false(match1("s=~\"crit\"", "s", "critical"));
    assert_false(match1("s=~\"tical\"", "s", "critical"));
    assert_true(match1("s=~\"crit.*\"", "s", "critical"));
    assert_true(match1("s!~\"crit\"", "s", "critical"));
    /* the anchors apply to the whole alternation */
    assert_true(match1("s=~\"a|ab\"", "s", "ab"));
    assert_false(match1("s=~\"a|b\"", "s", "ab"));
    /* $ does not match before a trailing newline (Go semantics) */
    assert_false(match1("s=~\"foo\"", "s", "foo\n"));
    assert_false(match1("s=~\"foo$\"", "s", "foo\n"));
    assert_true(match1("s=~\"(?i)CRIT.*\"", "s", "critical"));
    /* \Q without \E cannot swallow the anchoring */
    assert_true(match1("s=~\"\\\\Qa.b\"", "s", "a.b"));
    assert_false(match1("s=~\"\\\\Qa.b\"", "s", "a.bc"));
    assert_false(match1("s=~\"\\\\Qa.b\"", "s", "axb"));
    /* `a)|(b` must not turn into an unanchored alternation */
    add_fail("s=~\"a)|(b\"", IHA_E_PARSE);
}

static void test_invalid_utf8_subject(void **state)
{
    (void)state;
    assert_false(match1("s=~\"bar\"", "s", "\xff\xfe"));
    assert_true(match1("s!~\"bar\"", "s", "\xff\xfe"));
    assert_true(match1("s=\"\xff\"", "s", "\xff"));
}

struct syntax_case {
    const char *text;
    unsigned col;
    const char *msg_part;
};

static void test_syntax_errors(void **state)
{
    static const struct syntax_case cases[] = {
        {"", 1, "expected a label name"},
        {"   ", 4, "expected a label name"},
        {"1abc=\"x\"", 1, "expected a label name"},
        {"foo-bar=\"x\"", 4, "expected an operator"},
        {"a", 2, "expected an operator"},
        {"a ~ \"x\"", 3, "expected an operator"},
        {"a=\"x", 3, "unterminated"},
        {"a=\"x\\", 3, "unterminated"},
        {"a=\"x\\d\"", 5, "unknown escape \\d"},
        {"a==\"x\"", 4, "unexpected '\"'"},
        {"a=\"x\" b=\"y\"", 7, "expected ',' or the end"},
        {"a=\"x\",,", 7, "expected a label name"},
        {",a=\"x\"", 1, "expected a label name"},
        {"{a=\"x\"", 7, "expected ',' or '}'"},
        {"{a=\"x\",", 8, "expected '}' to close the '{' at column 1"},
        {"{a=\"x\"} z", 9, "unexpected text after '}'"},
        {"a=\"x\"}", 6, "expected ',' or the end"},
        {"{a=\"1\",,}", 8, "expected a label name"},
        {"x=\"\xc3\xa9\" y", 7, "expected ',' or the end"},
    };
    struct iha_err err;

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        err = add_fail(cases[i].text, IHA_E_PARSE);
        if (err.col != cases[i].col || !strstr(err.msg, cases[i].msg_part))
            fail_msg("case \"%s\": got col %u msg \"%s\", want col %u \"%s\"", cases[i].text,
                     err.col, err.msg, cases[i].col, cases[i].msg_part);
    }
}

static void test_bad_regex_column(void **state)
{
    static const struct syntax_case cases[] = {
        /* PCRE2 reports the end of the pattern: the closing quote */
        {"job=~\"(abc\"", 11, "missing closing parenthesis"},
        {"job=~\"a)b\"", 8, "unmatched closing parenthesis"},
        {"job =~ \"x[b\"", 12, "missing terminating ]"},
        /* `\\d` is two text bytes for one regex byte: column 9 is the second '*' */
        {"x=~\"\\\\d**\"", 9, "quantifier does not follow"},
        {"x=~\"a{2,1}\"", 10, "numbers out of order"},
        /* é is one column */
        {"x=~\"\xc3\xa9(a\"", 8, "missing closing parenthesis"},
        {"x=~ab)", 6, "unmatched closing parenthesis"},
        {"{a=\"1\", b=~\"[\"}", 14, "missing terminating ]"},
    };
    struct iha_err err;

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        err = add_fail(cases[i].text, IHA_E_PARSE);
        if (err.col != cases[i].col || !strstr(err.msg, cases[i].msg_part) ||
            !strstr(err.msg, "invalid regex"))
            fail_msg("case \"%s\": got col %u msg \"%s\", want col %u \"%s\"", cases[i].text,
                     err.col, err.msg, cases[i].col, cases[i].msg_part);
    }
}

static void test_re2_incompatible_refused(void **state)
{
    static const struct syntax_case cases[] = {
        {"a=~\"(x)\\\\1\"", 8, "backreference"},
        {"a=~\"(?<n>x)\\\\k<n>\"", 12, "backreference"},
        {"a=~\"(?P<n>x)(?P=n)\"", 13, "backreference"},
        {"a=~\"foo(?=bar)\"", 8, "lookahead (?="},
        {"a=~\"foo(?!bar).*\"", 8, "negative lookahead (?!"},
        {"a=~\"(?<=a)b\"", 5, "lookbehind (?<="},
        {"a=~\"(?<!a)b\"", 5, "negative lookbehind (?<!"},
        {"a=~\"a++\"", 7, "possessive"},
        {"a=~\"(?>a)\"", 5, "group syntax"},
        {"a=~\"(?x)a b\"", 5, "group syntax"},
        {"a=~\"(*UTF)a\"", 5, "verb"},
        {"a!~\"x\\\\Ky\"", 6, "\\K"},
    };
    struct iha_err err;

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        err = add_fail(cases[i].text, IHA_E_PARSE);
        if (err.col != cases[i].col || !strstr(err.msg, cases[i].msg_part) ||
            !strstr(err.msg, "RE2"))
            fail_msg("case \"%s\": got col %u msg \"%s\", want col %u \"%s\"", cases[i].text,
                     err.col, err.msg, cases[i].col, cases[i].msg_part);
    }
    /* look-alikes that RE2 accepts stay accepted */
    assert_true(match1("a=~\"[(?=]+\"", "a", "(?="));
    assert_true(match1("a=~\"\\\\\\\\1\"", "a", "\\1"));
    assert_true(match1("a=~\"(?P<n>x)(?<m>y)\"", "a", "xy"));
    assert_true(match1("a=~\"(?i:X)(?s-m).\"", "a", "x\n"));
    assert_true(match1("a=~\"\\\\Q(?=\\\\E.\"", "a", "(?=z"));
    assert_true(match1("a=~\"[[:alpha:]]+\\\\+\"", "a", "ab+"));
    assert_true(match1("a=~\"[]]\"", "a", "]"));
}

static void test_limit_and_atomic_add(void **state)
{
    struct iha_matchers *m = iha_matchers_new();
    struct iha_err err = {0};
    char text[32];
    char big[20000];

    (void)state;
    assert_non_null(m);
    for (int i = 0; i < 62; i++) {
        snprintf(text, sizeof(text), "l%d=\"v\"", i);
        assert_int_equal(iha_matchers_add(m, text, &err), IHA_OK);
    }
    /* three more do not fit: nothing is added */
    assert_int_equal(iha_matchers_add(m, "x=1, y=2, z=3", &err), IHA_E_LIMIT);
    assert_int_equal(err.col, 11);
    assert_non_null(strstr(err.msg, "at most 64"));
    assert_int_equal(iha_matchers_count(m), 62);
    /* a later error also leaves the set unchanged */
    assert_int_equal(iha_matchers_add(m, "x=1, y=~\"(\"", &err), IHA_E_PARSE);
    assert_int_equal(iha_matchers_count(m), 62);
    assert_int_equal(iha_matchers_add(m, "x=1, y=2", &err), IHA_OK);
    assert_int_equal(iha_matchers_count(m), 64);
    assert_int_equal(iha_matchers_add(m, "z=3", &err), IHA_E_LIMIT);
    assert_int_equal(iha_matchers_count(m), 64);

    memset(big, 'a', sizeof(big) - 1);
    big[0] = 'x';
    big[1] = '=';
    big[sizeof(big) - 1] = '\0';
    assert_int_equal(iha_matchers_add(m, big, &err), IHA_E_LIMIT);
    assert_int_equal(iha_matchers_add(NULL, "a=1", &err), IHA_E_INVAL);
    assert_int_equal(iha_matchers_add(m, NULL, &err), IHA_E_INVAL);
    iha_matchers_free(m);
}

static void test_explain(void **state)
{
    struct iha_matchers *m = iha_matchers_new();
    struct iha_alert a;
    struct iha_err err = {0};
    char buf[128];
    char tiny[12];

    (void)state;
    assert_non_null(m);
    assert_int_equal(iha_matchers_add(m, "alertname=HostDown, severity=\"critical\"", &err),
                     IHA_OK);
    assert_int_equal(iha_matchers_add(m, "rack!~\"r[0-9]\"", &err), IHA_OK);

    make_alert(&a, "alertname", "HostDown", "severity", "warning", NULL);
    assert_false(iha_matchers_match(m, &a));
    assert_true(iha_matchers_explain(m, &a, buf, sizeof(buf)));
    assert_string_equal(buf, "severity=\"critical\" (got \"warning\")");
    iha_alert_clear(&a);

    make_alert(&a, "severity", "critical", NULL);
    assert_true(iha_matchers_explain(m, &a, buf, sizeof(buf)));
    assert_string_equal(buf, "alertname=\"HostDown\" (got \"\")");
    iha_alert_clear(&a);

    make_alert(&a, "alertname", "HostDown", "severity", "critical", "rack", "r7", NULL);
    assert_true(iha_matchers_explain(m, &a, buf, sizeof(buf)));
    assert_string_equal(buf, "rack!~\"r[0-9]\" (got \"r7\")");
    /* truncated output stays terminated and never splits an escape */
    assert_true(iha_matchers_explain(m, &a, tiny, sizeof(tiny)));
    assert_string_equal(tiny, "rack!~\"r[0-");
    iha_alert_clear(&a);

    make_alert(&a, "alertname", "HostDown", "severity", "critical", "rack", "\"q\"", NULL);
    assert_true(iha_matchers_match(m, &a));
    assert_false(iha_matchers_explain(m, &a, buf, sizeof(buf)));
    assert_string_equal(buf, "");
    iha_alert_clear(&a);
    iha_matchers_free(m);
}

static void test_format(void **state)
{
    struct iha_matchers *m = iha_matchers_new();
    struct iha_matchers *again = iha_matchers_new();
    struct iha_alert a;
    struct iha_err err = {0};
    char buf[128];
    char tiny[8];

    (void)state;
    assert_non_null(m);
    assert_non_null(again);
    assert_int_equal(iha_matchers_add(m,
                                      "{ a = \"x\\\"y\" , b=~\"\\\\d+\", c!~ foo bar,"
                                      " d != \"t\\tn\\n\", e=}",
                                      &err),
                     IHA_OK);
    assert_int_equal(iha_matchers_count(m), 5);
    iha_matchers_format(m, 0, buf, sizeof(buf));
    assert_string_equal(buf, "a=\"x\\\"y\"");
    iha_matchers_format(m, 1, buf, sizeof(buf));
    assert_string_equal(buf, "b=~\"\\\\d+\"");
    iha_matchers_format(m, 2, buf, sizeof(buf));
    assert_string_equal(buf, "c!~\"foo bar\"");
    iha_matchers_format(m, 3, buf, sizeof(buf));
    assert_string_equal(buf, "d!=\"t\\tn\\n\"");
    iha_matchers_format(m, 4, buf, sizeof(buf));
    assert_string_equal(buf, "e=\"\"");
    iha_matchers_format(m, 5, buf, sizeof(buf));
    assert_string_equal(buf, "");
    iha_matchers_format(m, 0, tiny, sizeof(tiny));
    assert_string_equal(tiny, "a=\"x\\\"y");

    /* the canonical form parses back to the same matcher */
    for (size_t i = 0; i < iha_matchers_count(m); i++) {
        iha_matchers_format(m, i, buf, sizeof(buf));
        assert_int_equal(iha_matchers_add(again, buf, &err), IHA_OK);
    }
    make_alert(&a, "a", "x\"y", "b", "42", "c", "foo", "d", "x", NULL);
    assert_true(iha_matchers_match(m, &a));
    assert_true(iha_matchers_match(again, &a));
    iha_alert_clear(&a);
    make_alert(&a, "a", "x\"y", "b", "42", "c", "foo bar", NULL);
    assert_false(iha_matchers_match(m, &a));
    assert_false(iha_matchers_match(again, &a));
    iha_alert_clear(&a);
    iha_matchers_free(again);
    iha_matchers_free(m);
}

struct thread_arg {
    const struct iha_matchers *m;
    int mismatches;
};

static void *match_thread(void *p)
{
    struct thread_arg *t = p;
    struct iha_alert yes, no;

    make_alert(&yes, "alertname", "HostDown", "instance", "compute-01:9100", NULL);
    make_alert(&no, "alertname", "HostDown", "instance", "controller-01:9100", NULL);
    for (int i = 0; i < 2000; i++) {
        if (!iha_matchers_match(t->m, &yes))
            t->mismatches++;
        if (iha_matchers_match(t->m, &no))
            t->mismatches++;
    }
    iha_alert_clear(&yes);
    iha_alert_clear(&no);
    return NULL;
}

static void test_concurrent_readers(void **state)
{
    struct iha_matchers *m = iha_matchers_new();
    struct iha_err err = {0};
    pthread_t th[4];
    struct thread_arg args[4];

    (void)state;
    assert_non_null(m);
    assert_int_equal(
        iha_matchers_add(m, "{alertname=~\"Host.*\", instance=~\"compute-\\\\d+(:\\\\d+)?\"}",
                         &err),
        IHA_OK);
    for (int i = 0; i < 4; i++) {
        args[i] = (struct thread_arg){.m = m, .mismatches = 0};
        assert_int_equal(pthread_create(&th[i], NULL, match_thread, &args[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        assert_int_equal(pthread_join(th[i], NULL), 0);
        assert_int_equal(args[i].mismatches, 0);
    }
    iha_matchers_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_operators),
        cmocka_unit_test(test_whitespace_and_unquoted),
        cmocka_unit_test(test_quoting_escapes),
        cmocka_unit_test(test_lists),
        cmocka_unit_test(test_empty_set_matches_all),
        cmocka_unit_test(test_missing_label_is_empty),
        cmocka_unit_test(test_anchoring),
        cmocka_unit_test(test_invalid_utf8_subject),
        cmocka_unit_test(test_syntax_errors),
        cmocka_unit_test(test_bad_regex_column),
        cmocka_unit_test(test_re2_incompatible_refused),
        cmocka_unit_test(test_limit_and_atomic_add),
        cmocka_unit_test(test_explain),
        cmocka_unit_test(test_format),
        cmocka_unit_test(test_concurrent_readers),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
