/* SPDX-License-Identifier: Apache-2.0 */
/** @file test_lint.c @brief Rule lints: names, levels, and no warning on the shipped rules. */
#include "lint.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmocka_includes.h"

static size_t lint_text(const char *text, unsigned mask, bool fatal, struct iha_diag *diag)
{
    struct iha_ruleset *rs = iha_ruleset_new();
    size_t n;

    assert_non_null(rs);
    assert_int_equal(iha_ruleset_load(rs, "r.yml", text, strlen(text), diag), IHA_OK);
    n = iha_lint_ruleset(rs, mask, fatal, diag);
    iha_ruleset_free(rs);
    return n;
}

static void test_parse(void **state)
{
    unsigned m = 0;

    (void)state;
    assert_int_equal(iha_lint_parse("all", &m), 0);
    assert_int_equal(m, IHA_LINT_ALL);
    assert_int_equal(iha_lint_parse("none", &m), 0);
    assert_int_equal(m, 0);
    assert_int_equal(iha_lint_parse("shadowed,evacuation", &m), 0);
    assert_int_equal(m, IHA_LINT_SHADOWED | IHA_LINT_EVACUATION);
    m = 7;
    assert_int_equal(iha_lint_parse("shadowed,evacuaton", &m), -1);
    assert_int_equal(m, 7);
    assert_int_equal(iha_lint_parse("", &m), -1);
}

static const char evac[] = "rules:\n"
                           "  - name: any-host-down\n"
                           "    matchers: ['alertname = \"HostDown\"']\n"
                           "    type: COMPUTE_HOST\n"
                           "    hostname: {source_labels: [instance], regex: '([^:]+)'}\n"
                           "    firing: {payload: {event: STOPPED, host_status: NORMAL}}\n";

static void test_levels_and_mask(void **state)
{
    struct iha_diag *d = iha_diag_new();

    (void)state;
    assert_int_equal(lint_text(evac, IHA_LINT_ALL, false, d), 1);
    assert_int_equal(iha_diag_errors(d), 0);
    assert_int_equal(iha_diag_level_of(d, 0), IHA_DIAG_WARNING);
    assert_non_null(strstr(iha_diag_get(d, 0), "r.yml:2:5: warning: rule 'any-host-down'"));
    assert_non_null(strstr(iha_diag_get(d, 0), "(lint: evacuation)"));
    iha_diag_free(d);

    d = iha_diag_new();
    assert_int_equal(lint_text(evac, IHA_LINT_ALL, true, d), 1);
    assert_int_equal(iha_diag_errors(d), 1);
    iha_diag_free(d);

    d = iha_diag_new();
    assert_int_equal(lint_text(evac, IHA_LINT_ALL & ~IHA_LINT_EVACUATION, false, d), 0);
    assert_int_equal(iha_diag_count(d), 0);
    iha_diag_free(d);
}

/* UNKNOWN does not evacuate, and a pinned severity makes NORMAL acceptable. */
static void test_evacuation_negatives(void **state)
{
    static const char ok[] =
        "rules:\n"
        "  - name: unknown\n"
        "    matchers: ['alertname =~ \"Host.*\"']\n"
        "    type: COMPUTE_HOST\n"
        "    hostname: {source_labels: [instance], regex: '([^:]+)'}\n"
        "    firing: {payload: {event: STOPPED, host_status: UNKNOWN}}\n"
        "  - name: pinned\n"
        "    matchers: '{alertname=\"HostDown\", severity=~\"critical|page\"}'\n"
        "    type: COMPUTE_HOST\n"
        "    hostname: {source_labels: [instance], regex: '([^:]+)'}\n"
        "    firing: {payload: {event: STOPPED, host_status: NORMAL}}\n"
        "  - name: nagios\n"
        "    sources: [nagios]\n"
        "    matchers: [notification_type=PROBLEM, host_state=DOWN]\n"
        "    type: COMPUTE_HOST\n"
        "    hostname: {source_labels: [hostname]}\n"
        "    firing: {payload: {event: STOPPED, host_status: NORMAL}}\n";
    static const char bad_regex[] =
        "rules:\n"
        "  - name: empty-allowed\n"
        "    matchers: [alertname=HostDown, 'severity=~\"critical|\"']\n"
        "    type: COMPUTE_HOST\n"
        "    hostname: {source_labels: [instance], regex: '([^:]+)'}\n"
        "    firing: {payload: {event: STOPPED, host_status: NORMAL}}\n";
    struct iha_diag *d = iha_diag_new();

    (void)state;
    assert_int_equal(lint_text(ok, IHA_LINT_ALL, false, d), 0);
    iha_diag_free(d);
    d = iha_diag_new();
    assert_int_equal(lint_text(bad_regex, IHA_LINT_EVACUATION, false, d), 1);
    iha_diag_free(d);
}

static void test_shipped_rules_are_clean(void **state)
{
    DIR *dir = opendir(IHA_MAPPINGS);
    struct iha_ruleset *rs = iha_ruleset_new();
    struct iha_diag *d = iha_diag_new();
    struct dirent *e;
    size_t files = 0;

    (void)state;
    assert_non_null(dir);
    while ((e = readdir(dir)) != NULL) {
        char path[1024];
        size_t len = strlen(e->d_name);

        if (len < 5 || strcmp(e->d_name + len - 4, ".yml") != 0)
            continue;
        snprintf(path, sizeof(path), "%s/%s", IHA_MAPPINGS, e->d_name);
        assert_int_equal(iha_ruleset_load_file(rs, path, d), IHA_OK);
        files++;
    }
    closedir(dir);
    assert_true(files >= 4);
    if (iha_lint_ruleset(rs, IHA_LINT_ALL, false, d) != 0) {
        for (size_t i = 0; i < iha_diag_count(d); i++)
            fprintf(stderr, "%s\n", iha_diag_get(d, i));
        fail_msg("the shipped rules have lint findings");
    }
    iha_diag_free(d);
    iha_ruleset_free(rs);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_levels_and_mask),
        cmocka_unit_test(test_evacuation_negatives),
        cmocka_unit_test(test_shipped_rules_are_clean),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
