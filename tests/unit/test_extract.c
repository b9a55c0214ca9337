/* SPDX-License-Identifier: Apache-2.0 */
/** @file test_extract.c @brief Unit tests for relabel-style extraction. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "extract.h"

/* Builds an alert from name/value pairs terminated by NULL; "annotations.X" sets an annotation. */
static void make_alert(struct iha_alert *a, ...)
{
    va_list ap;
    const char *n, *v;

    iha_alert_init(a, IHA_SOURCE_ALERTMANAGER);
    va_start(ap, a);
    while ((n = va_arg(ap, const char *)) != NULL) {
        v = va_arg(ap, const char *);
        if (strncmp(n, "annotations.", 12) == 0)
            assert_int_equal(iha_alert_set_annotation(a, n + 12, v), IHA_OK);
        else
            assert_int_equal(iha_alert_set_label(a, n, v), IHA_OK);
    }
    va_end(ap);
}

static struct iha_extract *must_new(const char *const *src, size_t n, const char *sep,
                                    const char *re, const char *repl)
{
    struct iha_extract_spec spec = {.source_labels = src,
                                    .n_source_labels = n,
                                    .separator = sep,
                                    .regex = re,
                                    .replacement = repl};
    struct iha_extract *x = NULL;
    struct iha_err err = {0};

    if (iha_extract_new(&spec, &x, &err) != IHA_OK)
        fail_msg("extract_new(%s, %s): %s [%s col %u]", re ? re : "-", repl ? repl : "-", err.msg,
                 err.field, err.col);
    assert_non_null(x);
    return x;
}

static struct iha_err must_fail(const char *re, const char *repl, enum iha_rc want)
{
    static const char *const src[] = {"instance"};
    struct iha_extract_spec spec = {
        .source_labels = src, .n_source_labels = 1, .regex = re, .replacement = repl};
    struct iha_extract *x = (struct iha_extract *)&spec; /* must be reset to NULL */
    struct iha_err err = {0};

    assert_int_equal(iha_extract_new(&spec, &x, &err), want);
    assert_null(x);
    return err;
}

static void test_hostname_from_instance(void **state)
{
    static const char *const src[] = {"instance"};
    struct iha_extract *x = must_new(src, 1, NULL, "([^:]+)(?::\\d+)?", NULL);
    struct iha_alert a;
    char out[64];

    (void)state;
    make_alert(&a, "instance", "compute-01:9100", NULL);
    assert_int_equal(iha_extract_apply(x, &a, out, sizeof(out)), IHA_OK);
    assert_string_equal(out, "compute-01");
    iha_alert_clear(&a);
    make_alert(&a, "instance", "compute-02", NULL);
    assert_int_equal(iha_extract_apply(x, &a, out, sizeof(out)), IHA_OK);
    assert_string_equal(out, "compute-02");
    iha_alert_clear(&a);
    assert_false(iha_extract_is_literal(x));
    iha_extract_free(x);
}

static void test_alternation_unset_group_is_empty(void **state)
{
    static const char *const src[] = {"instance", "hostname"};
    struct iha_extract *x =
        must_new(src, 2, NULL, "([^;:]+)(?::\\d+)?;.*|;([^:]+)(?::\\d+)?", "$1$2");
    struct iha_alert a;
    char out[64];

    (void)state;
    /* layout 1: host in instance, hostname empty or present */
    make_alert(&a, "instance", "compute-01:9100", NULL);
    assert_int_equal(iha_extract_apply(x, &a, out, sizeof(out)), IHA_OK);
    assert_string_equal(out, "compute-01");
    iha_alert_clear(&a);
    make_alert(&a, "instance", "compute-03:9100", "hostname", "ignored", NULL);
    assert_int_equal(iha_extract_apply(x, &a, out, sizeof(out)), IHA_OK);
    assert_string_equal(out, "compute-03");
    iha_alert_clear(&a);
    /* layout 2: no instance, host in hostname */
    make_alert(&a, "hostname", "compute-02:9100", NULL);
    assert_int_equal(iha_extract_apply(x, &a, out, sizeof(out)), IHA_OK);
    assert_string_equal(out, "compute-02");
    iha_alert_clear(&a);
    make_alert(&a, "hostname", "compute-04", NULL);
    assert_int_equal(iha_extract_apply(x, &a, out, sizeof(out)), IHA_OK);
    assert_string_equal(out, "compute-04");
    iha_alert_clear(&a);
    /* neither */
    make_alert(&a, "job", "node", NULL);
    snprintf(out, sizeof(out), "stale");
    assert_int_equal(iha_extract_apply(x, &a, out, sizeof(out)), IHA_E_NOTFOUND);
    assert_string_equal(out, "");
    iha_alert_clear(&a);
    iha_extract_free(x);
}

static void test_named_groups_and_dollars(void **state)
{
    static const char *const src[] = {"instance"};
    struct iha_extract *x;
    struct iha_alert a;
    char out[64];

    (void)state;
    make_alert(&a, "instance", "compute-01.example.org:9100", NULL);

    x = must_new(src, 1, NULL, "(?P<host>[^.]+)\\.(?<domain>[^:]+):(\\d+)", "${host}");
    assert_int_equal(iha_extract_apply(x, &a, out, sizeof(out)), IHA_OK);
    assert_string_equal(out, "compute-01");
    iha_extract_free(x);

    x = must_new(src, 1, NULL, "(?P<host>[^.]+)\\.(?<domain>[^:]+):(\\d+)",
                 "$host at $domain port ${3}0 $$ $$1 cost$ $-");
    assert_int_equal(iha_extract_apply(x, &a, out, sizeof(out)), IHA_OK);
    assert_string_equal(out, "compute-01 at example.org port 91000 $ $1 cost$ $-");
    iha_extract_free(x);

    x = must_new(src, 1, NULL, "([a-z]+)-(\\d+).*", "$0|${2}_$1");
    assert_int_equal(iha_extract_apply(x, &a, out, sizeof(out)), IHA_OK);
    assert_string_equal(out, "compute-01.example.org:9100|01_compute");
    iha_extract_free(x);
    iha_alert_clear(&a);
}

static void test_defaults(void **state)
{
    static const char *const src[] = {"a", "b", "c"};
    struct iha_extract *x = must_new(src, 3, NULL, NULL, NULL);
    struct iha_alert a;
    char out[64];

    (void)state;
    make_alert(&a, "a", "x", "c", "z", NULL);
    assert_int_equal(iha_extract_apply(x, &a, out, sizeof(out)), IHA_OK);
    assert_string_equal(out, "x;;z");
    iha_extract_describe(x, out, sizeof(out));
    assert_string_equal(out, "[a;b;c] =~ \"(.*)\" -> \"$1\"");
    iha_alert_clear(&a);
    iha_extract_free(x);
}

static void test_separator_and_annotation_source(void **state)
{
    static const char *const src[] = {"annotations.host", "region"};
    struct iha_extract *x = must_new(src, 2, "/", "(.+)/(.+)", "$2-$1");
    struct iha_alert a;
    char out[96];

    (void)state;
    make_alert(&a, "annotations.host", "compute-07", "region", "eu", "host", "label-not-used",
               NULL);
    assert_int_equal(iha_extract_apply(x, &a, out, sizeof(out)), IHA_OK);
    assert_string_equal(out, "eu-compute-07");
    iha_extract_describe(x, out, sizeof(out));
    assert_string_equal(out,
                        "[annotations.host;region] separator \"/\" =~ \"(.+)/(.+)\" -> \"$2-$1\"");
    iha_alert_clear(&a);
    iha_extract_free(x);
}

static void test_literal(void **state)
{
    struct iha_extract *x = NULL;
    struct iha_alert a;
    char out[32];
    char tiny[4];

    (void)state;
    assert_int_equal(iha_extract_new_literal("nova \"x\"", &x), IHA_OK);
    assert_non_null(x);
    assert_true(iha_extract_is_literal(x));
    make_alert(&a, "instance", "whatever", NULL);
    assert_int_equal(iha_extract_apply(x, &a, out, sizeof(out)), IHA_OK);
    assert_string_equal(out, "nova \"x\"");
    assert_int_equal(iha_extract_apply(x, &a, tiny, sizeof(tiny)), IHA_E_LIMIT);
    assert_string_equal(tiny, "");
    iha_extract_describe(x, out, sizeof(out));
    assert_string_equal(out, "literal \"nova \\\"x\\\"\"");
    iha_alert_clear(&a);
    iha_extract_free(x);
    iha_extract_free(NULL);
    assert_int_equal(iha_extract_new_literal(NULL, &x), IHA_E_INVAL);
    assert_null(x);
}

static void test_no_match_is_notfound_and_anchored(void **state)
{
    static const char *const src[] = {"instance"};
    struct iha_extract *x = must_new(src, 1, NULL, "comp", "$0");
    struct iha_alert a;
    char out[32] = "stale";

    (void)state;
    make_alert(&a, "instance", "compute-01", NULL);
    assert_int_equal(iha_extract_apply(x, &a, out, sizeof(out)), IHA_E_NOTFOUND);
    assert_string_equal(out, "");
    iha_alert_clear(&a);
    make_alert(&a, "instance", "comp", NULL);
    assert_int_equal(iha_extract_apply(x, &a, out, sizeof(out)), IHA_OK);
    assert_string_equal(out, "comp");
    iha_alert_clear(&a);
    iha_extract_free(x);
}

static void test_output_limit(void **state)
{
    static const char *const src[] = {"instance"};
    struct iha_extract *x = must_new(src, 1, NULL, "([^:]+)(?::\\d+)?", "host-$1");
    struct iha_alert a;
    char out[16];
    char big[3000];

    (void)state;
    make_alert(&a, "instance", "compute-01:9100", NULL);
    /* "host-compute-01" needs 15 bytes plus the NUL */
    assert_int_equal(iha_extract_apply(x, &a, out, 15), IHA_E_LIMIT);
    assert_string_equal(out, "");
    assert_int_equal(iha_extract_apply(x, &a, out, 16), IHA_OK);
    assert_string_equal(out, "host-compute-01");
    assert_int_equal(iha_extract_apply(x, &a, out, 0), IHA_E_LIMIT);
    iha_alert_clear(&a);

    /* joined values larger than the stack buffer */
    memset(big, 'h', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    make_alert(&a, "instance", big, NULL);
    {
        char wide[3100];

        assert_int_equal(iha_extract_apply(x, &a, wide, sizeof(wide)), IHA_OK);
        assert_int_equal(strlen(wide), 5 + sizeof(big) - 1);
        assert_memory_equal(wide, "host-hhh", 8);
    }
    iha_alert_clear(&a);
    iha_extract_free(x);
}

struct ref_case {
    const char *regex;
    const char *replacement;
    unsigned col;
    const char *msg_part;
};

static void test_invalid_references_refused(void **state)
{
    static const struct ref_case cases[] = {
        {"([^:]+)", "$2", 1, "group 2 but the regex has only 1 group"},
        {"([^:]+)", "host-${3}", 6, "group 3"},
        {"[^:]+", "$1", 1, "only 0 group"},
        {"([^:]+)", "$1x", 1, "write ${1}x"},
        {"([^:]+)", "a$1_suffix", 2, "write ${1}_suffix"},
        {"([^:]+)", "$host", 1, "group \"host\", which the regex does not have"},
        {"(?P<host>[^:]+)", "${hots}", 1, "\"hots\""},
        {"([^:]+)", "${1", 1, "malformed ${...}"},
        {"([^:]+)", "x${}", 2, "malformed ${...}"},
        {"([^:]+)", "${1-2}", 1, "malformed ${...}"},
        {"([^:]+)", "$99999999999999999999", 1, "only 1 group"},
        {"(a)", "\xc3\xa9$7", 2, "group 7"},
    };
    struct iha_err err;

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        err = must_fail(cases[i].regex, cases[i].replacement, IHA_E_PARSE);
        if (strcmp(err.field, "replacement") != 0 || err.col != cases[i].col ||
            !strstr(err.msg, cases[i].msg_part))
            fail_msg("case %s -> %s: got [%s col %u] \"%s\"", cases[i].regex, cases[i].replacement,
                     err.field, err.col, err.msg);
    }
}

static void test_bad_regex_and_spec(void **state)
{
    static const char *const bad_src[] = {"not-a-label"};
    static const char *const empty_ann[] = {"annotations."};
    struct iha_extract_spec spec = {0};
    struct iha_extract *x = NULL;
    struct iha_err err;

    (void)state;
    err = must_fail("([^:]+", NULL, IHA_E_PARSE);
    assert_string_equal(err.field, "regex");
    assert_int_equal(err.col, 7);
    assert_non_null(strstr(err.msg, "missing closing parenthesis"));
    err = must_fail("ab)c", NULL, IHA_E_PARSE);
    assert_string_equal(err.field, "regex");
    assert_int_equal(err.col, 3);
    err = must_fail("\xc3\xa9\xc3\xa9[", NULL, IHA_E_PARSE);
    assert_int_equal(err.col, 4);

    memset(&err, 0, sizeof(err));
    assert_int_equal(iha_extract_new(&spec, &x, &err), IHA_E_INVAL);
    assert_null(x);
    assert_string_equal(err.field, "source_labels");
    spec.source_labels = bad_src;
    spec.n_source_labels = 1;
    assert_int_equal(iha_extract_new(&spec, &x, &err), IHA_E_INVAL);
    assert_non_null(strstr(err.msg, "not-a-label"));
    spec.source_labels = empty_ann;
    assert_int_equal(iha_extract_new(&spec, &x, &err), IHA_E_INVAL);
    assert_int_equal(iha_extract_new(NULL, &x, &err), IHA_E_INVAL);
    assert_null(x);
}

static void test_re2_unportable_regex_refused(void **state)
{
    struct iha_err err;

    (void)state;
    /* a lookahead: fine for PCRE2, but Alertmanager's RE2 does not have it */
    err = must_fail("([^.]+)(?=\\.example\\.com)", NULL, IHA_E_PARSE);
    assert_string_equal(err.field, "regex");
    assert_int_equal(err.col, 8);
    assert_non_null(strstr(err.msg, "lookahead (?="));
    assert_non_null(strstr(err.msg, "RE2"));
    /* the column counts UTF-8 characters */
    err = must_fail("\xc3\xa9(\\w+)\\1", NULL, IHA_E_PARSE);
    assert_string_equal(err.field, "regex");
    assert_int_equal(err.col, 7);
    assert_non_null(strstr(err.msg, "backreference"));
    /* a possessive quantifier points at its '+' */
    err = must_fail("(\\w++)", NULL, IHA_E_PARSE);
    assert_int_equal(err.col, 5);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hostname_from_instance),
        cmocka_unit_test(test_alternation_unset_group_is_empty),
        cmocka_unit_test(test_named_groups_and_dollars),
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_separator_and_annotation_source),
        cmocka_unit_test(test_literal),
        cmocka_unit_test(test_no_match_is_notfound_and_anchored),
        cmocka_unit_test(test_output_limit),
        cmocka_unit_test(test_invalid_references_refused),
        cmocka_unit_test(test_bad_regex_and_spec),
        cmocka_unit_test(test_re2_unportable_regex_refused),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
