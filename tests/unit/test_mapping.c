/* SPDX-License-Identifier: Apache-2.0 */
/** @file test_mapping.c @brief Mapping rules: load-time validation and alert evaluation. */
#include "mapping.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmocka_includes.h"
#include "test_fixture.h"

struct ctx {
    struct iha_ruleset *rs;
    struct iha_diag *diag;
    struct iha_alert alert;
    struct iha_map_result res;
};

static int setup(void **state)
{
    struct ctx *c = calloc(1, sizeof(*c));

    assert_non_null(c);
    c->rs = iha_ruleset_new();
    c->diag = iha_diag_new();
    assert_non_null(c->rs);
    assert_non_null(c->diag);
    iha_alert_init(&c->alert, IHA_SOURCE_ALERTMANAGER);
    *state = c;
    return 0;
}

static int teardown(void **state)
{
    struct ctx *c = *state;

    iha_map_result_clear(&c->res);
    iha_alert_clear(&c->alert);
    iha_ruleset_free(c->rs);
    iha_diag_free(c->diag);
    free(c);
    return 0;
}

static enum iha_rc load(struct ctx *c, const char *text)
{
    return iha_ruleset_load(c->rs, "r.yml", text, strlen(text), c->diag);
}

static void dump_diag(const struct ctx *c)
{
    for (size_t i = 0; i < iha_diag_count(c->diag); i++)
        fprintf(stderr, "  diag[%zu] %s\n", i, iha_diag_get(c->diag, i));
}

/* Asserts the diag holds exactly the given messages, in order. */
static void expect_diag(const struct ctx *c, ...)
{
    va_list ap;
    const char *want;
    size_t i = 0;

    va_start(ap, c);
    while ((want = va_arg(ap, const char *)) != NULL) {
        if (i >= iha_diag_count(c->diag) || strcmp(iha_diag_get(c->diag, i), want) != 0) {
            dump_diag(c);
            fprintf(stderr, "  wanted[%zu] %s\n", i, want);
            fail();
        }
        i++;
    }
    va_end(ap);
    if (i != iha_diag_count(c->diag)) {
        dump_diag(c);
        fail_msg("expected %zu diagnostics, got %zu", i, iha_diag_count(c->diag));
    }
}

/* Resets the alert to @p status with labels given as name, value pairs ending in NULL. */
static void set_alert(struct ctx *c, enum iha_source src, enum iha_alert_status status, ...)
{
    va_list ap;
    const char *name;

    iha_alert_clear(&c->alert);
    iha_alert_init(&c->alert, src);
    c->alert.status = status;
    va_start(ap, status);
    while ((name = va_arg(ap, const char *)) != NULL) {
        const char *value = va_arg(ap, const char *);

        assert_int_equal(iha_alert_set_label(&c->alert, name, value), IHA_OK);
    }
    va_end(ap);
}

static void map(struct ctx *c)
{
    iha_map_result_clear(&c->res);
    assert_int_equal(iha_mapping_apply(c->rs, &c->alert, &c->res), IHA_OK);
    assert_true(c->res.n >= 1);
}

static const char *payload_str(const struct iha_map_outcome *o, const char *key)
{
    return json_string_value(json_object_get(o->notif.payload, key));
}

static const char *RULES_TWO =
    "rules:\n"
    "  - name: host-down\n"
    "    matchers: ['alertname = \"HostDown\"', 'severity = \"critical\"']\n"
    "    type: COMPUTE_HOST\n"
    "    hostname:\n"
    "      source_labels: [instance]\n"
    "      regex: '([^:]+)(?::\\d+)?'\n"
    "    firing:\n"
    "      payload:\n"
    "        event: STOPPED\n"
    "        host_status: NORMAL\n"
    "        cluster_status: OFFLINE\n"
    "  - name: any-host\n"
    "    matchers: 'alertname =~ \"Host.*\"'\n"
    "    type: PROCESS\n"
    "    hostname: fixed-host\n"
    "    firing:\n"
    "      payload: {event: STOPPED, process_name: nova-compute}\n";

/* ---- loading ------------------------------------------------------------ */

static void test_load_ok(void **state)
{
    struct ctx *c = *state;

    assert_int_equal(load(c, RULES_TWO), IHA_OK);
    expect_diag(c, NULL);
    assert_int_equal(iha_ruleset_count(c->rs), 2);
    assert_string_equal(iha_ruleset_rule_name(c->rs, 0), "host-down");
    assert_string_equal(iha_ruleset_rule_name(c->rs, 1), "any-host");
    assert_null(iha_ruleset_rule_name(c->rs, 2));
}

static void test_unknown_keys(void **state)
{
    struct ctx *c = *state;

    assert_int_equal(load(c, "rule:\n"
                             "  - x\n"
                             "rules:\n"
                             "  - nmae: a\n"
                             "    name: a\n"
                             "    type: VM\n"
                             "    hostname: {source_lables: [x], regx: y}\n"
                             "    matcher: []\n"
                             "    severity: critical\n"
                             "    firing: {paylod: {}}\n"),
                     IHA_E_CONFIG);
    expect_diag(c, "r.yml:1:1: error: top level: unknown key 'rule' (did you mean 'rules'?)",
                "r.yml:4:5: error: rule: unknown key 'nmae' (did you mean 'name'?)",
                "r.yml:8:5: error: rule: unknown key 'matcher' (did you mean 'matchers'?)",
                "r.yml:9:5: error: rule: unknown key 'severity'",
                "r.yml:7:16: error: hostname: unknown key 'source_lables' (did you mean "
                "'source_labels'?)",
                "r.yml:7:36: error: hostname: unknown key 'regx' (did you mean 'regex'?)",
                "r.yml:7:15: error: hostname: missing 'source_labels'",
                "r.yml:10:14: error: firing: unknown key 'paylod' (did you mean 'payload'?)", NULL);
    assert_int_equal(iha_ruleset_count(c->rs), 0);
}

static void test_wrong_kinds(void **state)
{
    struct ctx *c = *state;

    assert_int_equal(load(c, "rules:\n"
                             "  - name: a\n"
                             "    sources: alertmanager\n"
                             "    matchers: {alertname: x}\n"
                             "    type: [VM]\n"
                             "    hostname: [x]\n"
                             "    continue: maybe\n"
                             "  - just-a-string\n"),
                     IHA_E_CONFIG);
    expect_diag(c, "r.yml:3:14: error: sources: expected a list, got a string",
                "r.yml:4:15: error: matchers: expected a list, got a mapping",
                "r.yml:5:11: error: type: expected a string, got a list",
                "r.yml:6:15: error: hostname: expected a string or an extraction mapping, got a "
                "list",
                "r.yml:7:15: error: continue: expected true or false, got 'maybe'",
                "r.yml:8:5: error: rules: expected a mapping (one rule), got a string", NULL);
}

static void test_top_level_kinds(void **state)
{
    struct ctx *c = *state;

    assert_int_equal(load(c, "- a\n"), IHA_E_CONFIG);
    assert_int_equal(load(c, "rules: {a: b}\n"), IHA_E_CONFIG);
    assert_int_equal(load(c, "other: 1\n"), IHA_E_CONFIG);
    expect_diag(c, "r.yml:1:1: error: expected a mapping with 'rules', got a list",
                "r.yml:1:8: error: rules: expected a list, got a mapping",
                "r.yml:1:1: error: top level: unknown key 'other'",
                "r.yml:1:1: error: missing 'rules'", NULL);
    /* An empty list is a valid (empty) rule file. */
    assert_int_equal(load(c, "rules: []\n"), IHA_OK);
    assert_int_equal(iha_ruleset_count(c->rs), 0);
}

static void test_parse_error(void **state)
{
    struct ctx *c = *state;

    assert_int_equal(load(c, "rules:\n  - name: a\n    type: &t VM\n"), IHA_E_CONFIG);
    expect_diag(c, "r.yml:3:11: error: anchors are not supported", NULL);
}

static void test_bad_matcher_column(void **state)
{
    struct ctx *c = *state;

    /* Plain scalar on one line: the column points inside the matcher text. */
    assert_int_equal(load(c, "rules:\n"
                             "  - name: a\n"
                             "    matchers:\n"
                             "      - severity ~= critical\n"
                             "      - 'job=~\"(node\"'\n"
                             "      - \"sev\\u0065rity ~= critical\"\n"
                             "    type: VM\n"
                             "    hostname: h\n"),
                     IHA_E_CONFIG);
    expect_diag(c,
                /* "severity ~= critical" starts at column 9; the bad operator at offset 10. */
                "r.yml:4:18: error: matchers: invalid matcher: expected an operator (=, !=, =~, "
                "!~) after label name \"severity\" (label names are [a-zA-Z_][a-zA-Z0-9_]*)",
                /* Quoted without escapes: the text starts at column 10; the regex ends at 21. */
                "r.yml:5:21: error: matchers: invalid matcher: invalid regex: missing closing "
                "parenthesis",
                /* An escape in the source: only the node's own position is reliable. */
                "r.yml:6:9: error: matchers: invalid matcher: expected an operator (=, !=, =~, "
                "!~) after label name \"severity\" (label names are [a-zA-Z_][a-zA-Z0-9_]*)",
                NULL);
}

static void test_regex_error(void **state)
{
    struct ctx *c = *state;

    assert_int_equal(load(c, "rules:\n"
                             "  - name: a\n"
                             "    type: VM\n"
                             "    hostname:\n"
                             "      source_labels: [instance]\n"
                             "      regex: '([^:]+'\n"
                             "    firing:\n"
                             "      payload:\n"
                             "        instance_uuid: {source_labels: [], regex: x}\n"),
                     IHA_E_CONFIG);
    /* PCRE2 reports the missing ')' at the end of the pattern (the closing quote). */
    assert_int_equal(iha_diag_errors(c->diag), 2);
    assert_string_equal(iha_diag_get(c->diag, 0),
                        "r.yml:6:21: error: hostname.regex: invalid regex: missing closing "
                        "parenthesis");
    assert_string_equal(iha_diag_get(c->diag, 1),
                        "r.yml:9:40: error: firing.payload.instance_uuid.source_labels: must "
                        "name at least one label");
}

static void test_type_enum(void **state)
{
    struct ctx *c = *state;

    assert_int_equal(load(c, "rules:\n"
                             "  - name: a\n"
                             "    type: COMPUTE_HOTS\n"
                             "    hostname: h\n"
                             "  - name: b\n"
                             "    type: SERVER\n"
                             "    hostname: h\n"),
                     IHA_E_CONFIG);
    expect_diag(c,
                "r.yml:3:11: error: type: unknown type 'COMPUTE_HOTS' (did you mean "
                "'COMPUTE_HOST'?); expected COMPUTE_HOST, VM or PROCESS (or COMPUTE_INSTANCE, "
                "COMPUTE_PROCESS)",
                "r.yml:6:11: error: type: unknown type 'SERVER'; expected COMPUTE_HOST, VM or "
                "PROCESS (or COMPUTE_INSTANCE, COMPUTE_PROCESS)",
                NULL);
}

static void test_type_dialect_spellings(void **state)
{
    struct ctx *c = *state;

    assert_int_equal(load(c, "rules:\n"
                             "  - name: p\n"
                             "    matchers: ['alertname=\"P\"']\n"
                             "    type: COMPUTE_PROCESS\n"
                             "    hostname: h1\n"
                             "    firing: {payload: {event: STOPPED, process_name: x}}\n"
                             "  - name: v\n"
                             "    matchers: ['alertname=\"V\"']\n"
                             "    type: COMPUTE_INSTANCE\n"
                             "    hostname: h2\n"
                             "    firing:\n"
                             "      payload:\n"
                             "        event: LIFECYCLE\n"
                             "        vir_domain_event: STOPPED_FAILED\n"
                             "        instance_uuid: {source_labels: [uuid]}\n"),
                     IHA_OK);
    set_alert(c, IHA_SOURCE_ALERTMANAGER, IHA_ALERT_FIRING, "alertname", "P", NULL);
    map(c);
    assert_false(c->res.items[0].dropped);
    assert_int_equal(c->res.items[0].notif.type, IHA_NTYPE_PROCESS);
    set_alert(c, IHA_SOURCE_ALERTMANAGER, IHA_ALERT_FIRING, "alertname", "V", "uuid",
              "6a1b2c3d-0000-4000-8000-1234567890ab", NULL);
    map(c);
    assert_false(c->res.items[0].dropped);
    assert_int_equal(c->res.items[0].notif.type, IHA_NTYPE_VM);
    assert_string_equal(payload_str(&c->res.items[0], "instance_uuid"),
                        "6a1b2c3d-0000-4000-8000-1234567890ab");
}

static void test_payload_values(void **state)
{
    struct ctx *c = *state;

    assert_int_equal(load(c, "rules:\n"
                             "  - name: a\n"
                             "    type: COMPUTE_HOST\n"
                             "    hostname: h\n"
                             "    firing:\n"
                             "      payload:\n"
                             "        event: [STOPPED]\n"
                             "        host_status:\n"
                             "    resolved: [x]\n"),
                     IHA_E_CONFIG);
    expect_diag(c,
                "r.yml:7:16: error: firing.payload.event: expected a string or an extraction "
                "mapping, got a list",
                "r.yml:8:21: error: firing.payload.host_status: expected a string or an "
                "extraction mapping, got null",
                "r.yml:9:15: error: resolved: expected a mapping with 'payload', got a list", NULL);
}

static void test_literal_payload_schema(void **state)
{
    struct ctx *c = *state;

    assert_int_equal(load(c, "rules:\n"
                             "  - name: a\n"
                             "    type: COMPUTE_HOST\n"
                             "    hostname: {source_labels: [instance]}\n"
                             "    firing:\n"
                             "      payload:\n"
                             "        event: STOPPED\n"
                             "        host_status: BROKEN\n"
                             "  - name: b\n"
                             "    type: PROCESS\n"
                             "    hostname: h\n"
                             "    firing:\n"
                             "      payload: {event: STOPPED}\n"
                             "    resolved:\n"
                             "      payload: {event: STARTED, process_name: p, reason: x}\n"),
                     IHA_E_CONFIG);
    expect_diag(c,
                "r.yml:8:22: error: firing: not a valid COMPUTE_HOST notification: \"BROKEN\" "
                "is not a valid host_status for type COMPUTE_HOST",
                "r.yml:13:16: error: firing: not a valid PROCESS notification: "
                "payload.process_name is required for type PROCESS",
                "r.yml:15:58: error: resolved: not a valid PROCESS notification: payload key "
                "\"reason\" is not allowed for type PROCESS",
                NULL);
}

static void test_sources(void **state)
{
    struct ctx *c = *state;

    assert_int_equal(load(c, "rules:\n"
                             "  - name: a\n"
                             "    sources: [nagois, prometheus, ~]\n"
                             "    type: VM\n"
                             "    hostname: h\n"
                             "  - name: b\n"
                             "    sources: []\n"
                             "    type: VM\n"
                             "    hostname: h\n"),
                     IHA_E_CONFIG);
    expect_diag(c,
                "r.yml:3:15: error: sources: unknown source 'nagois' (did you mean 'nagios'?); "
                "expected alertmanager, nagios or native",
                "r.yml:3:23: error: sources: unknown source 'prometheus'; expected alertmanager, "
                "nagios or native",
                "r.yml:3:35: error: sources: expected a string, got null",
                "r.yml:7:14: error: sources: an empty list would never match; omit it for all "
                "sources",
                NULL);
}

static void test_missing_required(void **state)
{
    struct ctx *c = *state;

    assert_int_equal(
        load(c, "rules:\n  - matchers: []\n  - name: ''\n    type: VM\n    hostname: h\n"),
        IHA_E_CONFIG);
    expect_diag(c, "r.yml:2:5: error: rule: missing 'name'",
                "r.yml:2:5: error: rule: missing 'type'",
                "r.yml:2:5: error: rule: missing 'hostname'",
                "r.yml:3:11: error: name: must not be empty", NULL);
}

static void test_duplicate_names(void **state)
{
    struct ctx *c = *state;
    const char *one = "rules:\n  - name: a\n    type: VM\n    hostname: h\n";

    assert_int_equal(iha_ruleset_load(c->rs, "one.yml", one, strlen(one), c->diag), IHA_OK);
    assert_int_equal(load(c, "rules:\n"
                             "  - name: b\n"
                             "    type: VM\n"
                             "    hostname: h\n"
                             "  - name: b\n"
                             "    type: VM\n"
                             "    hostname: h\n"
                             "  - name: a\n"
                             "    type: VM\n"
                             "    hostname: h\n"),
                     IHA_E_CONFIG);
    expect_diag(c, "r.yml:5:11: error: duplicate rule name 'b' (first defined at r.yml:2:5)",
                "r.yml:8:11: error: duplicate rule name 'a' (first defined at one.yml:2:5)", NULL);
    /* The file with errors added nothing; the first file's rule stays. */
    assert_int_equal(iha_ruleset_count(c->rs), 1);
    assert_string_equal(iha_ruleset_rule_name(c->rs, 0), "a");
}

static void test_load_file_missing(void **state)
{
    struct ctx *c = *state;

    assert_int_equal(iha_ruleset_load_file(c->rs, "/nonexistent/r.yml", c->diag), IHA_E_IO);
    expect_diag(c, "/nonexistent/r.yml: error: cannot open: No such file or directory", NULL);
}

/* ---- evaluation ---------------------------------------------------------- */

static void test_first_match_wins(void **state)
{
    struct ctx *c = *state;
    const struct iha_map_outcome *o;

    assert_int_equal(load(c, RULES_TWO), IHA_OK);
    set_alert(c, IHA_SOURCE_ALERTMANAGER, IHA_ALERT_FIRING, "alertname", "HostDown", "severity",
              "critical", "instance", "compute-1:9100", NULL);
    map(c);
    assert_int_equal(c->res.n, 1);
    o = &c->res.items[0];
    assert_false(o->dropped);
    assert_string_equal(o->rule, "host-down");
    assert_string_equal(o->notif.rule, "host-down");
    assert_int_equal(o->notif.type, IHA_NTYPE_COMPUTE_HOST);
    assert_string_equal(o->notif.hostname, "compute-1");
    assert_string_equal(payload_str(o, "event"), "STOPPED");
    assert_string_equal(payload_str(o, "host_status"), "NORMAL");
    assert_string_equal(payload_str(o, "cluster_status"), "OFFLINE");
    assert_int_equal(json_object_size(o->notif.payload), 3);
    assert_string_equal(o->notif.generated_time, "");
    assert_int_equal(strlen(o->notif.id), 16);

    /* severity differs: the second rule takes it. */
    set_alert(c, IHA_SOURCE_ALERTMANAGER, IHA_ALERT_FIRING, "alertname", "HostDown", "severity",
              "warning", "instance", "compute-1:9100", NULL);
    map(c);
    assert_int_equal(c->res.n, 1);
    assert_string_equal(c->res.items[0].rule, "any-host");
    assert_int_equal(c->res.items[0].notif.type, IHA_NTYPE_PROCESS);
    assert_string_equal(c->res.items[0].notif.hostname, "fixed-host");
}

static void test_continue(void **state)
{
    struct ctx *c = *state;
    char ids[2][IHA_ID_LEN];

    assert_int_equal(load(c, "rules:\n"
                             "  - name: first\n"
                             "    type: PROCESS\n"
                             "    hostname: {source_labels: [host]}\n"
                             "    firing: {payload: {event: STOPPED, process_name: a}}\n"
                             "    continue: true\n"
                             "  - name: second\n"
                             "    type: PROCESS\n"
                             "    hostname: {source_labels: [host]}\n"
                             "    firing: {payload: {event: STOPPED, process_name: b}}\n"
                             "  - name: never\n"
                             "    type: PROCESS\n"
                             "    hostname: h\n"
                             "    firing: {payload: {event: STOPPED, process_name: c}}\n"),
                     IHA_OK);
    set_alert(c, IHA_SOURCE_NAGIOS, IHA_ALERT_FIRING, "host", "compute-9", NULL);
    map(c);
    assert_int_equal(c->res.n, 2);
    assert_string_equal(c->res.items[0].rule, "first");
    assert_string_equal(payload_str(&c->res.items[0], "process_name"), "a");
    assert_string_equal(c->res.items[1].rule, "second");
    assert_string_equal(payload_str(&c->res.items[1], "process_name"), "b");
    assert_string_equal(c->res.items[1].notif.hostname, "compute-9");
    memcpy(ids[0], c->res.items[0].notif.id, IHA_ID_LEN);
    memcpy(ids[1], c->res.items[1].notif.id, IHA_ID_LEN);
    assert_string_not_equal(ids[0], ids[1]);
}

static void test_resolved_default_drop(void **state)
{
    struct ctx *c = *state;

    assert_int_equal(load(c, RULES_TWO), IHA_OK);
    set_alert(c, IHA_SOURCE_ALERTMANAGER, IHA_ALERT_RESOLVED, "alertname", "HostDown", "severity",
              "critical", "instance", "compute-1:9100", NULL);
    map(c);
    assert_int_equal(c->res.n, 1);
    assert_true(c->res.items[0].dropped);
    assert_string_equal(c->res.items[0].rule, "host-down");
    assert_string_equal(c->res.items[0].reason, "rule host-down sends nothing for resolved alerts");
    assert_int_equal(c->res.items[0].why, IHA_DROP_RESOLVED);
    assert_null(c->res.items[0].notif.payload);
    /* The safety policy learns which host is back. */
    assert_string_equal(c->res.items[0].resolved_host, "compute-1");
    set_alert(c, IHA_SOURCE_ALERTMANAGER, IHA_ALERT_FIRING, "alertname", "HostDown", "severity",
              "critical", "instance", "compute-1:9100", NULL);
    map(c);
    assert_string_equal(c->res.items[0].resolved_host, "");
}

static void test_resolved_payload(void **state)
{
    struct ctx *c = *state;

    assert_int_equal(load(c, "rules:\n"
                             "  - name: p\n"
                             "    type: PROCESS\n"
                             "    hostname: h\n"
                             "    firing:\n"
                             "      payload: null\n"
                             "    resolved:\n"
                             "      payload: {event: STARTED, process_name: nova-compute}\n"),
                     IHA_OK);
    set_alert(c, IHA_SOURCE_NATIVE, IHA_ALERT_RESOLVED, NULL);
    map(c);
    assert_false(c->res.items[0].dropped);
    assert_string_equal(payload_str(&c->res.items[0], "event"), "STARTED");
    set_alert(c, IHA_SOURCE_NATIVE, IHA_ALERT_FIRING, NULL);
    map(c);
    assert_true(c->res.items[0].dropped);
    assert_string_equal(c->res.items[0].reason, "rule p sends nothing for firing alerts");
    assert_int_equal(c->res.items[0].why, IHA_DROP_OTHER);
}

static void test_extraction_failure_drop(void **state)
{
    struct ctx *c = *state;
    const char *r;

    assert_int_equal(load(c, RULES_TWO), IHA_OK);
    /* "(?::\d+)?" cannot take "compute-1:abc": the hostname regex does not match. */
    set_alert(c, IHA_SOURCE_ALERTMANAGER, IHA_ALERT_FIRING, "alertname", "HostDown", "severity",
              "critical", "instance", "compute-1:abc", NULL);
    map(c);
    assert_int_equal(c->res.n, 1);
    assert_true(c->res.items[0].dropped);
    assert_string_equal(c->res.items[0].rule, "host-down");
    r = c->res.items[0].reason;
    assert_true(strncmp(r, "rule host-down: hostname: extraction did not match (", 52) == 0);
    assert_int_equal(c->res.items[0].why, IHA_DROP_EXTRACTION);
}

static void test_payload_extraction_failure_drop(void **state)
{
    struct ctx *c = *state;

    assert_int_equal(load(c, "rules:\n"
                             "  - name: vm\n"
                             "    type: VM\n"
                             "    hostname: h\n"
                             "    firing:\n"
                             "      payload:\n"
                             "        event: LIFECYCLE\n"
                             "        vir_domain_event: STOPPED_FAILED\n"
                             "        instance_uuid: {source_labels: [uuid], regex: '(.+)'}\n"),
                     IHA_OK);
    set_alert(c, IHA_SOURCE_ALERTMANAGER, IHA_ALERT_FIRING, "alertname", "X", NULL);
    map(c);
    assert_true(c->res.items[0].dropped);
    assert_true(strncmp(c->res.items[0].reason,
                        "rule vm: payload.instance_uuid: extraction did not match (", 57) == 0);
    assert_int_equal(c->res.items[0].why, IHA_DROP_EXTRACTION);
}

static void test_invalid_output_drop(void **state)
{
    struct ctx *c = *state;

    assert_int_equal(load(c, "rules:\n"
                             "  - name: from-label\n"
                             "    type: COMPUTE_HOST\n"
                             "    hostname: {source_labels: [host]}\n"
                             "    firing:\n"
                             "      payload:\n"
                             "        event: STOPPED\n"
                             "        host_status: {source_labels: [status]}\n"),
                     IHA_OK);
    set_alert(c, IHA_SOURCE_NATIVE, IHA_ALERT_FIRING, "host", "compute-1", "status", "BOGUS", NULL);
    map(c);
    assert_true(c->res.items[0].dropped);
    assert_string_equal(c->res.items[0].reason,
                        "rule from-label: invalid notification: payload.host_status: \"BOGUS\" is "
                        "not a valid host_status for type COMPUTE_HOST");
    assert_int_equal(c->res.items[0].why, IHA_DROP_INVALID);
    assert_null(c->res.items[0].notif.payload);

    /* A host name Instance HA cannot store. */
    set_alert(c, IHA_SOURCE_NATIVE, IHA_ALERT_FIRING, "host", "compute 1", "status", "NORMAL",
              NULL);
    map(c);
    assert_true(c->res.items[0].dropped);
    assert_true(strncmp(c->res.items[0].reason,
                        "rule from-label: invalid notification: hostname: ", 49) == 0);
}

static void test_no_rule_drop(void **state)
{
    struct ctx *c = *state;

    assert_int_equal(load(c, RULES_TWO), IHA_OK);
    set_alert(c, IHA_SOURCE_ALERTMANAGER, IHA_ALERT_FIRING, "alertname", "DiskFull", NULL);
    map(c);
    assert_int_equal(c->res.n, 1);
    assert_true(c->res.items[0].dropped);
    assert_string_equal(c->res.items[0].rule, "");
    assert_string_equal(c->res.items[0].reason, "no rule matched");
    assert_int_equal(c->res.items[0].why, IHA_DROP_NO_RULE);

    /* An empty rule set drops everything the same way. */
    iha_ruleset_free(c->rs);
    c->rs = iha_ruleset_new();
    map(c);
    assert_string_equal(c->res.items[0].reason, "no rule matched");
    assert_int_equal(c->res.items[0].why, IHA_DROP_NO_RULE);
}

static void test_sources_filter(void **state)
{
    struct ctx *c = *state;

    assert_int_equal(load(c, "rules:\n"
                             "  - name: nagios-only\n"
                             "    sources: [nagios]\n"
                             "    type: PROCESS\n"
                             "    hostname: h\n"
                             "    firing: {payload: {event: STOPPED, process_name: p}}\n"),
                     IHA_OK);
    set_alert(c, IHA_SOURCE_ALERTMANAGER, IHA_ALERT_FIRING, NULL);
    map(c);
    assert_string_equal(c->res.items[0].reason, "no rule matched");
    assert_int_equal(c->res.items[0].why, IHA_DROP_NO_RULE);
    set_alert(c, IHA_SOURCE_NAGIOS, IHA_ALERT_FIRING, NULL);
    map(c);
    assert_false(c->res.items[0].dropped);
    assert_string_equal(c->res.items[0].rule, "nagios-only");
}

static void test_explain(void **state)
{
    struct ctx *c = *state;
    json_t *trace = json_array();
    json_t *s0, *s1;

    assert_non_null(trace);
    assert_int_equal(load(c, RULES_TWO), IHA_OK);
    set_alert(c, IHA_SOURCE_ALERTMANAGER, IHA_ALERT_FIRING, "alertname", "HostDown", "severity",
              "warning", "instance", "compute-1:9100", NULL);
    iha_map_result_clear(&c->res);
    assert_int_equal(iha_mapping_explain(c->rs, &c->alert, &c->res, trace), IHA_OK);
    assert_int_equal(json_array_size(trace), 2);
    s0 = json_array_get(trace, 0);
    s1 = json_array_get(trace, 1);
    assert_string_equal(json_string_value(json_object_get(s0, "rule")), "host-down");
    assert_true(json_is_false(json_object_get(s0, "matched")));
    assert_string_equal(json_string_value(json_object_get(s0, "failed_matcher")),
                        "severity=\"critical\" (got \"warning\")");
    assert_string_equal(json_string_value(json_object_get(s1, "rule")), "any-host");
    assert_true(json_is_true(json_object_get(s1, "matched")));
    assert_string_equal(json_string_value(json_object_get(s1, "hostname")), "fixed-host");
    assert_string_equal(json_string_value(json_object_get(s1, "result")), "notification");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(s1, "payload"), "process_name")),
        "nova-compute");
    assert_null(json_object_get(s1, "reason"));
    assert_string_equal(c->res.items[0].rule, "any-host");

    /* A drop shows its reason. */
    json_array_clear(trace);
    set_alert(c, IHA_SOURCE_ALERTMANAGER, IHA_ALERT_RESOLVED, "alertname", "HostDown", "severity",
              "critical", NULL);
    iha_map_result_clear(&c->res);
    assert_int_equal(iha_mapping_explain(c->rs, &c->alert, &c->res, trace), IHA_OK);
    assert_int_equal(json_array_size(trace), 1);
    s0 = json_array_get(trace, 0);
    assert_string_equal(json_string_value(json_object_get(s0, "result")), "dropped");
    assert_string_equal(json_string_value(json_object_get(s0, "reason")),
                        "rule host-down sends nothing for resolved alerts");

    /* A NULL trace behaves like apply. */
    iha_map_result_clear(&c->res);
    assert_int_equal(iha_mapping_explain(c->rs, &c->alert, &c->res, NULL), IHA_OK);
    assert_true(c->res.items[0].dropped);
    json_decref(trace);
}

/* ---- the shipped rules --------------------------------------------------- */

static void load_shipped(struct ctx *c)
{
    static const char *const files[] = {"blackbox-icmp.yml", "libvirt.yml", "node-exporter.yml",
                                        "nova-compute.yml"};
    char path[512];

    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        snprintf(path, sizeof(path), "%s/%s", IHA_MAPPINGS, files[i]);
        if (iha_ruleset_load_file(c->rs, path, c->diag) != IHA_OK) {
            dump_diag(c);
            fail_msg("%s does not load", path);
        }
    }
    expect_diag(c, NULL);
    assert_int_equal(iha_ruleset_count(c->rs), 4);
}

static void expect_notif(const struct ctx *c, size_t i, const char *rule, enum iha_ntype t,
                         const char *host)
{
    const struct iha_map_outcome *o = &c->res.items[i];

    if (o->dropped)
        fail_msg("dropped: %s", o->reason);
    assert_string_equal(o->rule, rule);
    assert_int_equal(o->notif.type, t);
    assert_string_equal(o->notif.hostname, host);
}

/*
 * Resets the alert to alert @p i of the Alertmanager webhook body @p body: its status and
 * labels as the sender wrote them.
 */
static void set_alert_from(struct ctx *c, json_t *body, size_t i)
{
    json_t *a = json_array_get(json_object_get(body, "alerts"), i);
    json_t *labels = json_object_get(a, "labels"), *v;
    const char *status = json_string_value(json_object_get(a, "status")), *name;

    assert_non_null(labels);
    assert_non_null(status);
    iha_alert_clear(&c->alert);
    iha_alert_init(&c->alert, IHA_SOURCE_ALERTMANAGER);
    assert_true(strcmp(status, "firing") == 0 || strcmp(status, "resolved") == 0);
    c->alert.status = strcmp(status, "firing") == 0 ? IHA_ALERT_FIRING : IHA_ALERT_RESOLVED;
    json_object_foreach(labels, name, v)
    {
        assert_non_null(json_string_value(v));
        assert_int_equal(iha_alert_set_label(&c->alert, name, json_string_value(v)), IHA_OK);
    }
}

/* Resets the alert to the only alert of the Alertmanager fixture @p rel. */
static void set_alert_fixture(struct ctx *c, const char *rel)
{
    json_t *body = test_fixture_json(rel);

    assert_int_equal(json_array_size(json_object_get(body, "alerts")), 1);
    set_alert_from(c, body, 0);
    json_decref(body);
}

static void test_shipped_fixture_001(void **state)
{
    struct ctx *c = *state;

    load_shipped(c);
    set_alert_fixture(c, "alertmanager/001-am-plain.json");
    map(c);
    assert_int_equal(c->res.n, 1);
    expect_notif(c, 0, "node-down", IHA_NTYPE_COMPUTE_HOST, "compute-1");
    assert_string_equal(payload_str(&c->res.items[0], "event"), "STOPPED");
    assert_string_equal(payload_str(&c->res.items[0], "host_status"), "NORMAL");
    assert_string_equal(payload_str(&c->res.items[0], "cluster_status"), "OFFLINE");

    /* Without the hostname label the port is cut from instance. */
    set_alert(c, IHA_SOURCE_ALERTMANAGER, IHA_ALERT_FIRING, "alertname", "NodeDown", "instance",
              "compute-5:9100", "severity", "page", NULL);
    map(c);
    expect_notif(c, 0, "node-down", IHA_NTYPE_COMPUTE_HOST, "compute-5");

    /* Resolved: nothing. */
    c->alert.status = IHA_ALERT_RESOLVED;
    map(c);
    assert_true(c->res.items[0].dropped);
    assert_string_equal(c->res.items[0].reason, "rule node-down sends nothing for resolved alerts");

    /* A warning is not evacuation material. */
    set_alert(c, IHA_SOURCE_ALERTMANAGER, IHA_ALERT_FIRING, "alertname", "HostDown", "instance",
              "compute-5:9100", "severity", "warning", NULL);
    map(c);
    assert_string_equal(c->res.items[0].reason, "no rule matched");
    assert_int_equal(c->res.items[0].why, IHA_DROP_NO_RULE);
}

static void test_shipped_fixture_004(void **state)
{
    struct ctx *c = *state;

    load_shipped(c);
    set_alert_fixture(c, "alertmanager/004-am-bearer.json");
    map(c);
    assert_int_equal(c->res.n, 1);
    expect_notif(c, 0, "nova-compute-down", IHA_NTYPE_PROCESS, "compute-2");
    assert_string_equal(payload_str(&c->res.items[0], "event"), "STOPPED");
    assert_string_equal(payload_str(&c->res.items[0], "process_name"), "nova-compute");
    assert_int_equal(json_object_size(c->res.items[0].notif.payload), 2);
}

/* Two alerts whose instance is a rack: the hostname label names each host. */
static void test_shipped_fixture_007(void **state)
{
    struct ctx *c = *state;
    static const char *const hosts[] = {"compute-3", "compute-4"};
    json_t *body = test_fixture_json("alertmanager/007-am-plain.json");

    load_shipped(c);
    assert_int_equal(json_array_size(json_object_get(body, "alerts")), 2);
    for (size_t i = 0; i < 2; i++) {
        set_alert_from(c, body, i);
        map(c);
        expect_notif(c, 0, "node-down", IHA_NTYPE_COMPUTE_HOST, hosts[i]);
    }
    json_decref(body);
}

static void test_shipped_icmp_and_libvirt(void **state)
{
    struct ctx *c = *state;

    load_shipped(c);
    set_alert(c, IHA_SOURCE_ALERTMANAGER, IHA_ALERT_FIRING, "alertname", "HostUnreachable",
              "instance", "compute-7", "severity", "critical", NULL);
    map(c);
    expect_notif(c, 0, "icmp-unreachable", IHA_NTYPE_COMPUTE_HOST, "compute-7");
    assert_string_equal(payload_str(&c->res.items[0], "host_status"), "UNKNOWN");

    set_alert(c, IHA_SOURCE_ALERTMANAGER, IHA_ALERT_FIRING, "alertname", "IcmpProbeFailed",
              "instance", "10.0.0.7", "severity", "critical", NULL);
    map(c);
    expect_notif(c, 0, "icmp-unreachable", IHA_NTYPE_COMPUTE_HOST, "10.0.0.7");

    set_alert(c, IHA_SOURCE_ALERTMANAGER, IHA_ALERT_FIRING, "alertname", "LibvirtDomainCrashed",
              "instance", "compute-8:9177", "domain_uuid", "0e6b4c2a-8f0d-4a8e-9b1e-3c2d1a0f9e8d",
              NULL);
    map(c);
    expect_notif(c, 0, "libvirt-domain-crashed", IHA_NTYPE_VM, "compute-8");
    assert_string_equal(payload_str(&c->res.items[0], "instance_uuid"),
                        "0e6b4c2a-8f0d-4a8e-9b1e-3c2d1a0f9e8d");
    assert_string_equal(payload_str(&c->res.items[0], "event"), "LIFECYCLE");
    assert_string_equal(payload_str(&c->res.items[0], "vir_domain_event"), "STOPPED_FAILED");

    /* No UUID at all: dropped, naming the field. */
    set_alert(c, IHA_SOURCE_ALERTMANAGER, IHA_ALERT_FIRING, "alertname", "LibvirtDomainCrashed",
              "instance", "compute-8:9177", NULL);
    map(c);
    assert_true(c->res.items[0].dropped);
    assert_true(strncmp(c->res.items[0].reason,
                        "rule libvirt-domain-crashed: payload.instance_uuid: extraction did not "
                        "match",
                        74) == 0);

    /* Shipped rules only listen to Alertmanager. */
    set_alert(c, IHA_SOURCE_NAGIOS, IHA_ALERT_FIRING, "alertname", "HostDown", "instance",
              "compute-5:9100", "severity", "critical", NULL);
    map(c);
    assert_string_equal(c->res.items[0].reason, "no rule matched");
    assert_int_equal(c->res.items[0].why, IHA_DROP_NO_RULE);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_load_ok),
        T(test_unknown_keys),
        T(test_wrong_kinds),
        T(test_top_level_kinds),
        T(test_parse_error),
        T(test_bad_matcher_column),
        T(test_regex_error),
        T(test_type_enum),
        T(test_type_dialect_spellings),
        T(test_payload_values),
        T(test_literal_payload_schema),
        T(test_sources),
        T(test_missing_required),
        T(test_duplicate_names),
        T(test_load_file_missing),
        T(test_first_match_wins),
        T(test_continue),
        T(test_resolved_default_drop),
        T(test_resolved_payload),
        T(test_extraction_failure_drop),
        T(test_payload_extraction_failure_drop),
        T(test_invalid_output_drop),
        T(test_no_rule_drop),
        T(test_sources_filter),
        T(test_explain),
        T(test_shipped_fixture_001),
        T(test_shipped_fixture_004),
        T(test_shipped_fixture_007),
        T(test_shipped_icmp_and_libvirt),
    };
#undef T

    return cmocka_run_group_tests(tests, NULL, NULL);
}
