/* SPDX-License-Identifier: Apache-2.0 */
/** @file test_alertmanager.c @brief The Alertmanager adapter on real captured bodies and broken
 * ones. */
#include "alertmanager.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmocka_includes.h"

static json_t *load_fixture(const char *name)
{
    char path[512];
    json_error_t jerr;
    json_t *j;

    snprintf(path, sizeof(path), "%s/alertmanager/%s", IHA_FIXTURES, name);
    j = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
    if (!j)
        fail_msg("%s: %s", path, jerr.text);
    return j;
}

static void test_single_host_down(void **state)
{
    json_t *body = load_fixture("001-am-plain.json");
    struct iha_alert *alerts;
    size_t n;
    struct iha_err err = {0};

    (void)state;
    assert_int_equal(iha_alertmanager_parse(body, &alerts, &n, &err), IHA_OK);
    assert_int_equal(n, 1);
    assert_int_equal(alerts[0].source, IHA_SOURCE_ALERTMANAGER);
    assert_int_equal(alerts[0].status, IHA_ALERT_FIRING);
    assert_string_equal(iha_alert_label(&alerts[0], "alertname"), "HostDown");
    assert_string_equal(iha_alert_label(&alerts[0], "instance"), "compute-1:9100");
    assert_string_equal(iha_alert_label(&alerts[0], "hostname"), "compute-1");
    assert_string_equal(iha_alert_label(&alerts[0], "missing"), "");
    assert_string_equal(iha_alert_annotation(&alerts[0], "summary"), "compute-1 is down");
    assert_string_equal(alerts[0].starts_at, "2026-11-25T14:41:05.427557815Z");
    assert_string_equal(alerts[0].ends_at, "0001-01-01T00:00:00Z");
    assert_string_equal(alerts[0].fingerprint, "8fbae207f6dc4421");
    iha_alertmanager_free(alerts, n);
    json_decref(body);
}

static void test_two_hosts_in_one_group(void **state)
{
    json_t *body = load_fixture("007-am-plain.json");
    struct iha_alert *alerts;
    size_t n;

    (void)state;
    assert_int_equal(iha_alertmanager_parse(body, &alerts, &n, NULL), IHA_OK);
    assert_int_equal(n, 2);
    assert_string_equal(iha_alert_label(&alerts[0], "hostname"), "compute-3");
    assert_string_equal(iha_alert_label(&alerts[1], "hostname"), "compute-4");
    assert_int_equal(alerts[0].n_annotations, 1);
    iha_alertmanager_free(alerts, n);
    json_decref(body);
}

/* Each alert is judged by its own status, not by the group's. */
static void test_mixed_status_and_unknown_fields(void **state)
{
    json_t *body = load_fixture("007-am-plain.json");
    json_t *second = json_array_get(json_object_get(body, "alerts"), 1);
    struct iha_alert *alerts;
    size_t n;

    (void)state;
    json_object_set_new(second, "status", json_string("resolved"));
    json_object_set_new(body, "notification_reason", json_string("some alerts resolved"));
    json_object_set_new(body, "routeLabels", json_pack("{s:s}", "team", "infra"));
    json_object_set_new(second, "somethingNew", json_true());
    assert_int_equal(iha_alertmanager_parse(body, &alerts, &n, NULL), IHA_OK);
    assert_int_equal(n, 2);
    assert_int_equal(alerts[0].status, IHA_ALERT_FIRING);
    assert_int_equal(alerts[1].status, IHA_ALERT_RESOLVED);
    iha_alertmanager_free(alerts, n);
    json_decref(body);
}

/* The whole body is refused: it is not Alertmanager's webhook. */
static void expect_error(json_t *body, enum iha_rc want, const char *field, const char *msg_part)
{
    size_t n = 99;
    struct iha_err err = {0};

    assert_int_equal(iha_alertmanager_open(body, &n, NULL, &err), want);
    assert_int_equal(n, 0);
    assert_string_equal(err.field, field);
    if (!strstr(err.msg, msg_part))
        fail_msg("message \"%s\" lacks \"%s\"", err.msg, msg_part);
    json_decref(body);
}

static json_t *alert_at(json_t *body, size_t i)
{
    return json_array_get(json_object_get(body, "alerts"), i);
}

/* What reading every alert of a body gives: the records read and the refusals. */
struct outcome {
    size_t n, n_read, n_refused;
    struct iha_alert *read; /* n_read records */
    size_t refused[8];      /* indexes of the first refused alerts */
    enum iha_rc refused_rc[8];
    struct iha_err refused_err[8];
    char refused_alertname[8][64];
};

static void read_all(const json_t *body, struct outcome *o)
{
    struct iha_err err = {0};

    memset(o, 0, sizeof(*o));
    assert_int_equal(iha_alertmanager_open(body, &o->n, NULL, &err), IHA_OK);
    o->read = calloc(o->n ? o->n : 1, sizeof(*o->read));
    assert_non_null(o->read);
    for (size_t i = 0; i < o->n; i++) {
        struct iha_alert a;
        enum iha_rc rc;

        iha_err_clear(&err);
        rc = iha_alertmanager_read(body, i, &a, &err);
        assert_int_not_equal(rc, IHA_E_NOMEM);
        if (rc == IHA_OK) {
            o->read[o->n_read++] = a; /* moves the record */
            continue;
        }
        if (o->n_refused < 8) {
            o->refused[o->n_refused] = i;
            o->refused_rc[o->n_refused] = rc;
            o->refused_err[o->n_refused] = err;
            snprintf(o->refused_alertname[o->n_refused], sizeof(o->refused_alertname[0]), "%s",
                     iha_alert_label(&a, "alertname"));
        }
        o->n_refused++;
        iha_alert_clear(&a);
    }
}

static void outcome_clear(struct outcome *o)
{
    for (size_t i = 0; i < o->n_read; i++)
        iha_alert_clear(&o->read[i]);
    free(o->read);
}

static void expect_refused(const struct outcome *o, size_t k, size_t idx, enum iha_rc rc,
                           const char *field, const char *msg_part)
{
    assert_true(k < o->n_refused);
    assert_int_equal(o->refused[k], idx);
    assert_int_equal(o->refused_rc[k], rc);
    assert_string_equal(o->refused_err[k].field, field);
    if (!strstr(o->refused_err[k].msg, msg_part))
        fail_msg("message \"%s\" lacks \"%s\"", o->refused_err[k].msg, msg_part);
}

static void test_broken_bodies(void **state)
{
    json_t *b;
    struct outcome o;

    (void)state;
    expect_error(json_loads("[{\"labels\":{}}]", 0, NULL), IHA_E_INVAL, "", "JSON array");
    expect_error(json_loads("\"x\"", JSON_DECODE_ANY, NULL), IHA_E_INVAL, "", "JSON object");
    b = load_fixture("001-am-plain.json");
    json_object_del(b, "version");
    expect_error(b, IHA_E_INVAL, "version", "missing \"version\"");
    b = load_fixture("001-am-plain.json");
    json_object_set_new(b, "version", json_string("3"));
    expect_error(b, IHA_E_INVAL, "version", "unsupported");
    b = load_fixture("001-am-plain.json");
    json_object_set_new(b, "alerts", json_object());
    expect_error(b, IHA_E_INVAL, "alerts", "list");

    /* A malformed alert is refused alone; its neighbours are read. */
    b = load_fixture("007-am-plain.json");
    json_object_set_new(alert_at(b, 1), "status", json_string("pending"));
    read_all(b, &o);
    assert_int_equal(o.n_read, 1);
    assert_string_equal(iha_alert_label(&o.read[0], "hostname"), "compute-3");
    expect_refused(&o, 0, 1, IHA_E_INVAL, "alerts[1].status", "firing");
    outcome_clear(&o);
    json_decref(b);

    b = load_fixture("007-am-plain.json");
    json_object_set_new(json_object_get(alert_at(b, 0), "labels"), "severity", json_integer(3));
    json_object_del(alert_at(b, 1), "labels");
    json_array_append_new(json_object_get(b, "alerts"), json_string("not an alert"));
    read_all(b, &o);
    assert_int_equal(o.n_read, 0);
    assert_int_equal(o.n_refused, 3);
    expect_refused(&o, 0, 0, IHA_E_INVAL, "alerts[0].labels.severity", "strings");
    expect_refused(&o, 1, 1, IHA_E_INVAL, "alerts[1].labels", "labels");
    expect_refused(&o, 2, 2, IHA_E_INVAL, "alerts[2]", "object");
    /* The report of a refused alert still names it. */
    assert_string_equal(o.refused_alertname[0], "HostDown");
    outcome_clear(&o);
    json_decref(b);
}

static char *long_value(size_t len)
{
    char *s = malloc(len + 1);

    assert_non_null(s);
    memset(s, 'x', len);
    s[len] = '\0';
    return s;
}

/* One over-long label costs its own alert only, and the refusal names the label. */
static void test_group_with_overlong_label(void **state)
{
    json_t *b = load_fixture("007-am-plain.json");
    char *big = long_value(IHA_ALERT_MAX_VALUE + 1);
    struct outcome o;

    (void)state;
    json_object_set_new(json_object_get(alert_at(b, 0), "labels"), "runbook", json_string(big));
    read_all(b, &o);
    assert_int_equal(o.n, 2);
    assert_int_equal(o.n_read, 1);
    assert_string_equal(iha_alert_label(&o.read[0], "alertname"), "HostDown");
    assert_string_equal(iha_alert_label(&o.read[0], "hostname"), "compute-4");
    assert_int_equal(o.n_refused, 1);
    expect_refused(&o, 0, 0, IHA_E_LIMIT, "alerts[0].labels.runbook", "4097 bytes");
    assert_string_equal(o.refused_alertname[0], "HostDown");
    outcome_clear(&o);
    /* Exactly at the limit is read. */
    big[IHA_ALERT_MAX_VALUE] = '\0';
    json_object_set_new(json_object_get(alert_at(b, 0), "labels"), "runbook", json_string(big));
    read_all(b, &o);
    assert_int_equal(o.n_read, 2);
    assert_int_equal(strlen(iha_alert_label(&o.read[0], "runbook")), IHA_ALERT_MAX_VALUE);
    outcome_clear(&o);
    free(big);
    json_decref(b);
}

/* Too many labels on one alert costs that alert only. */
static void test_group_with_too_many_labels(void **state)
{
    json_t *b = load_fixture("007-am-plain.json");
    json_t *labels = json_object_get(alert_at(b, 1), "labels");
    struct outcome o;
    char name[32];

    (void)state;
    for (int i = 0; json_object_size(labels) <= IHA_ALERT_MAX_LABELS; i++) {
        snprintf(name, sizeof(name), "l%d", i);
        json_object_set_new(labels, name, json_string("v"));
    }
    read_all(b, &o);
    assert_int_equal(o.n_read, 1);
    assert_string_equal(iha_alert_label(&o.read[0], "hostname"), "compute-3");
    expect_refused(&o, 0, 1, IHA_E_LIMIT, "alerts[1].labels", "129 labels");
    assert_string_equal(o.refused_alertname[0], "HostDown");
    outcome_clear(&o);
    json_decref(b);
}

/*
 * A group far larger than Alertmanager's usual: 1,500 alerts with a HostDown last and one
 * alert with an over-long label among them. Every alert but that one is read.
 */
static void test_large_group_keeps_host_down(void **state)
{
    json_t *b = load_fixture("005-am-plain.json"); /* NovaComputeDown compute-2 */
    json_t *host_down = load_fixture("001-am-plain.json");
    json_t *list = json_object_get(b, "alerts");
    char *big = long_value(IHA_ALERT_MAX_VALUE + 10);
    char fp[32];
    struct outcome o;

    (void)state;
    for (int i = 1; i < 1499; i++) {
        json_t *copy = json_deep_copy(json_array_get(list, 0));
        snprintf(fp, sizeof(fp), "c%d", i);
        json_object_set_new(json_object_get(copy, "labels"), "instance", json_string(fp));
        json_array_append_new(list, copy);
    }
    json_object_set_new(json_object_get(json_array_get(list, 700), "labels"), "description",
                        json_string(big));
    json_array_append(list, json_array_get(json_object_get(host_down, "alerts"), 0));
    read_all(b, &o);
    assert_int_equal(o.n, 1500);
    assert_int_equal(o.n_read, 1499);
    assert_int_equal(o.n_refused, 1);
    expect_refused(&o, 0, 700, IHA_E_LIMIT, "alerts[700].labels.description", "too long");
    assert_string_equal(o.refused_alertname[0], "NovaComputeDown");
    assert_string_equal(iha_alert_label(&o.read[1498], "alertname"), "HostDown");
    assert_string_equal(iha_alert_label(&o.read[1498], "hostname"), "compute-1");
    assert_int_equal(o.read[1498].status, IHA_ALERT_FIRING);
    outcome_clear(&o);
    free(big);
    json_decref(host_down);
    json_decref(b);
}

/* One long description must not cost the group its HostDown alert. */
static void test_oversized_annotation_is_truncated(void **state)
{
    json_t *b = load_fixture("007-am-plain.json");
    json_t *ann = json_object_get(alert_at(b, 1), "annotations");
    char *big = long_value(IHA_ALERT_MAX_VALUE + 99);
    struct outcome o;

    (void)state;
    json_object_set_new(ann, "description", json_string(big));
    read_all(b, &o);
    assert_int_equal(o.n_read, 2);
    assert_int_equal(strlen(iha_alert_annotation(&o.read[1], "description")), IHA_ALERT_MAX_VALUE);
    assert_string_equal(iha_alert_label(&o.read[1], "hostname"), "compute-4");
    outcome_clear(&o);
    free(big);
    json_decref(b);
}

/* test-rules' whole-body reader still fails on the first refused alert. */
static void test_parse_is_strict(void **state)
{
    json_t *b = load_fixture("007-am-plain.json");
    struct iha_alert *alerts = (struct iha_alert *)1;
    size_t n = 99;
    struct iha_err err = {0};

    (void)state;
    json_object_set_new(alert_at(b, 1), "status", json_string("pending"));
    assert_int_equal(iha_alertmanager_parse(b, &alerts, &n, &err), IHA_E_INVAL);
    assert_null(alerts);
    assert_int_equal(n, 0);
    assert_string_equal(err.field, "alerts[1].status");
    json_decref(b);
}

static void test_empty_alerts(void **state)
{
    json_t *b = load_fixture("001-am-plain.json");
    struct iha_alert *alerts;
    size_t n;

    (void)state;
    json_object_set_new(b, "alerts", json_array());
    assert_int_equal(iha_alertmanager_parse(b, &alerts, &n, NULL), IHA_OK);
    assert_int_equal(n, 0);
    assert_null(alerts);
    json_decref(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_single_host_down),
        cmocka_unit_test(test_two_hosts_in_one_group),
        cmocka_unit_test(test_mixed_status_and_unknown_fields),
        cmocka_unit_test(test_broken_bodies),
        cmocka_unit_test(test_group_with_overlong_label),
        cmocka_unit_test(test_group_with_too_many_labels),
        cmocka_unit_test(test_large_group_keeps_host_down),
        cmocka_unit_test(test_empty_alerts),
        cmocka_unit_test(test_oversized_annotation_is_truncated),
        cmocka_unit_test(test_parse_is_strict),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
