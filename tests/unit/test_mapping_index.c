/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file test_mapping_index.c
 * @brief The alertname prefilter of the rule set changes no result: randomized rule sets
 *        and alerts are mapped with and without it (and through explain) and compared.
 */
#include "mapping.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmocka_includes.h"

#define N_ALERTS 400

static const char *const names[] = {"HostDown", "NodeDown", "NovaComputeDown", "Other", ""};
#define N_NAMES (sizeof(names) / sizeof(names[0]))

/* A small deterministic generator, so a failure can be replayed from its seed. */
static unsigned next(unsigned *s)
{
    *s = *s * 1103515245u + 12345u;
    return (*s >> 16) & 0x7fff;
}

static const char *pick(unsigned *s, const char *const *from, size_t n)
{
    return from[next(s) % n];
}

/* Appends one random matcher line to @p buf. */
static void matcher(unsigned *s, char *buf, size_t size)
{
    static const char *const sev[] = {"critical", "warning", "page"};
    size_t len = strlen(buf);
    int w;

    switch (next(s) % 9) {
    case 0:
    case 1:
    case 2:
        w = snprintf(buf + len, size - len, "      - 'alertname = \"%s\"'\n", pick(s, names, 4));
        break;
    case 3:
        w = snprintf(buf + len, size - len, "      - 'alertname =~ \"%s|%s\"'\n", pick(s, names, 4),
                     pick(s, names, 4));
        break;
    case 4:
        w = snprintf(buf + len, size - len, "      - 'alertname =~ \"%s.*\"'\n",
                     next(s) % 2 ? "Host" : "No");
        break;
    case 5:
        w = snprintf(buf + len, size - len, "      - 'alertname != \"%s\"'\n", pick(s, names, 4));
        break;
    case 6:
        w = snprintf(buf + len, size - len, "      - 'severity = \"%s\"'\n", pick(s, sev, 3));
        break;
    case 7:
        w = snprintf(buf + len, size - len, "      - 'severity =~ \"crit.*|page\"'\n");
        break;
    default:
        w = snprintf(buf + len, size - len, "      - 'alertname =~ \"HostDown|\"'\n");
        break;
    }
    assert_true(w > 0 && (size_t)w < size - len);
}

/* A rule file of @p n random rules. @return malloc'd text. */
static char *random_rules(unsigned *s, size_t n)
{
    size_t size = n * 700 + 64;
    char *buf = malloc(size);

    assert_non_null(buf);
    snprintf(buf, size, "rules:\n");
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(buf), m = next(s) % 4;
        int w =
            snprintf(buf + len, size - len, "  - name: r%zu\n%s%s", i,
                     next(s) % 5 == 0 ? "    sources: [nagios]\n" : "", m ? "    matchers:\n" : "");

        assert_true(w > 0 && (size_t)w < size - len);
        for (size_t k = 0; k < m; k++)
            matcher(s, buf, size);
        len = strlen(buf);
        w = snprintf(buf + len, size - len,
                     "    type: PROCESS\n"
                     "    hostname: {source_labels: [instance], regex: '([^:]+)(?::\\d+)?'}\n"
                     "    firing: {payload: {event: STOPPED, process_name: p%zu}}\n"
                     "%s%s",
                     i,
                     next(s) % 3 == 0 ? "    resolved: {payload: {event: STARTED, "
                                        "process_name: x}}\n"
                                      : "",
                     next(s) % 4 == 0 ? "    continue: true\n" : "");
        assert_true(w > 0 && (size_t)w < size - len);
    }
    return buf;
}

static void random_alert(unsigned *s, struct iha_alert *a)
{
    static const char *const sev[] = {"critical", "warning", "page", ""};
    const char *name = pick(s, names, N_NAMES), *sv = pick(s, sev, 4);

    iha_alert_init(a, next(s) % 5 == 0 ? IHA_SOURCE_NAGIOS : IHA_SOURCE_ALERTMANAGER);
    a->status = next(s) % 4 == 0 ? IHA_ALERT_RESOLVED : IHA_ALERT_FIRING;
    if (*name)
        assert_int_equal(iha_alert_set_label(a, "alertname", name), IHA_OK);
    if (*sv)
        assert_int_equal(iha_alert_set_label(a, "severity", sv), IHA_OK);
    if (next(s) % 8)
        assert_int_equal(iha_alert_set_label(a, "instance", "compute-1:9100"), IHA_OK);
}

static void assert_same(const struct iha_map_result *x, const struct iha_map_result *y)
{
    assert_int_equal(x->n, y->n);
    for (size_t i = 0; i < x->n; i++) {
        const struct iha_map_outcome *p = &x->items[i], *q = &y->items[i];

        assert_int_equal(p->dropped, q->dropped);
        assert_string_equal(p->rule, q->rule);
        assert_string_equal(p->reason, q->reason);
        if (p->dropped)
            continue;
        assert_int_equal(p->notif.type, q->notif.type);
        assert_string_equal(p->notif.hostname, q->notif.hostname);
        assert_true(json_equal(p->notif.payload, q->notif.payload));
    }
}

static size_t run_seed(unsigned seed, size_t n_rules)
{
    unsigned s = seed;
    char *text = random_rules(&s, n_rules);
    struct iha_ruleset *rs = iha_ruleset_new();
    struct iha_diag *diag = iha_diag_new();
    size_t matched = 0;

    assert_non_null(rs);
    assert_non_null(diag);
    if (iha_ruleset_load(rs, "random.yml", text, strlen(text), diag) != IHA_OK) {
        for (size_t i = 0; i < iha_diag_count(diag); i++)
            fprintf(stderr, "%s\n", iha_diag_get(diag, i));
        fail_msg("seed %u: generated rules do not load", seed);
    }
    assert_int_equal(iha_ruleset_count(rs), n_rules);
    for (size_t i = 0; i < N_ALERTS; i++) {
        struct iha_alert a;
        struct iha_map_result with = {0}, without = {0}, traced = {0};
        json_t *trace = json_array();

        assert_non_null(trace);
        random_alert(&s, &a);
        iha_ruleset_set_index(rs, true);
        assert_int_equal(iha_mapping_apply(rs, &a, &with), IHA_OK);
        iha_ruleset_set_index(rs, false);
        assert_int_equal(iha_mapping_apply(rs, &a, &without), IHA_OK);
        assert_int_equal(iha_mapping_explain(rs, &a, &traced, trace), IHA_OK);
        assert_same(&with, &without);
        assert_same(&with, &traced);
        matched += with.items[0].rule[0] != '\0';
        iha_map_result_clear(&with);
        iha_map_result_clear(&without);
        iha_map_result_clear(&traced);
        json_decref(trace);
        iha_alert_clear(&a);
    }
    iha_diag_free(diag);
    iha_ruleset_free(rs);
    free(text);
    return matched;
}

static void test_randomized_equivalence(void **state)
{
    static const size_t sizes[] = {1, 5, 30, 200};
    size_t matched = 0;

    (void)state;
    for (unsigned seed = 1; seed <= 20; seed++)
        matched += run_seed(seed, sizes[seed % 4]);
    /* The comparison means something only if many alerts matched some rule. */
    assert_true(matched > 1000);
}

static void test_index_skips_keyed_rules(void **state)
{
    static const char text[] = "rules:\n"
                               "  - name: a\n"
                               "    matchers: ['alertname = \"A\"']\n"
                               "    type: VM\n"
                               "    hostname: h\n"
                               "  - name: ab\n"
                               "    matchers: ['alertname =~ \"A|B\"']\n"
                               "    type: VM\n"
                               "    hostname: h\n"
                               "  - name: wild\n"
                               "    matchers: ['alertname =~ \"A.*\"']\n"
                               "    type: VM\n"
                               "    hostname: h\n"
                               "  - name: none\n"
                               "    type: VM\n"
                               "    hostname: h\n";
    struct iha_ruleset *rs = iha_ruleset_new();
    struct iha_diag *diag = iha_diag_new();

    (void)state;
    assert_int_equal(iha_ruleset_load(rs, "r.yml", text, sizeof(text) - 1, diag), IHA_OK);
    /* `wild` (a regex with a wildcard) and `none` cannot be skipped; `a` and `ab` can. */
    assert_int_equal(iha_ruleset_unindexed_count(rs), 2);
    iha_diag_free(diag);
    iha_ruleset_free(rs);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_randomized_equivalence),
        cmocka_unit_test(test_index_skips_keyed_rules),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
