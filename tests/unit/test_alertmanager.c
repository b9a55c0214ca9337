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

static void expect_error(json_t *body, enum iha_rc want, const char *field, const char *msg_part)
{
    struct iha_alert *alerts = (struct iha_alert *)1;
    size_t n = 99;
    struct iha_err err = {0};

    assert_int_equal(iha_alertmanager_parse(body, &alerts, &n, &err), want);
    assert_null(alerts);
    assert_int_equal(n, 0);
    assert_string_equal(err.field, field);
    if (!strstr(err.msg, msg_part))
        fail_msg("message \"%s\" lacks \"%s\"", err.msg, msg_part);
    json_decref(body);
}

static void test_broken_bodies(void **state)
{
    json_t *b;

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
    b = load_fixture("007-am-plain.json");
    json_object_set_new(json_array_get(json_object_get(b, "alerts"), 1), "status",
                        json_string("pending"));
    expect_error(b, IHA_E_INVAL, "alerts[1].status", "firing");
    b = load_fixture("001-am-plain.json");
    json_object_set_new(json_object_get(json_array_get(json_object_get(b, "alerts"), 0), "labels"),
                        "severity", json_integer(3));
    expect_error(b, IHA_E_INVAL, "alerts[0].labels.severity", "strings");
    b = load_fixture("001-am-plain.json");
    json_object_del(json_array_get(json_object_get(b, "alerts"), 0), "labels");
    expect_error(b, IHA_E_INVAL, "alerts[0].labels", "labels");
}

static void test_limits(void **state)
{
    json_t *b = load_fixture("001-am-plain.json");
    json_t *list = json_object_get(b, "alerts");
    json_t *labels;
    char name[32];

    (void)state;
    for (int i = 0; i < IHA_ALERTMANAGER_MAX_ALERTS; i++)
        json_array_append(list, json_array_get(list, 0));
    expect_error(b, IHA_E_LIMIT, "alerts", "limit");
    b = load_fixture("001-am-plain.json");
    labels = json_object_get(json_array_get(json_object_get(b, "alerts"), 0), "labels");
    for (int i = 0; i < IHA_ALERT_MAX_LABELS; i++) {
        snprintf(name, sizeof(name), "l%d", i);
        json_object_set_new(labels, name, json_string("v"));
    }
    {
        struct iha_alert *alerts;
        size_t n;
        struct iha_err err = {0};
        assert_int_equal(iha_alertmanager_parse(b, &alerts, &n, &err), IHA_E_LIMIT);
        assert_non_null(strstr(err.field, "alerts[0].labels."));
    }
    json_decref(b);
}

/* One long description must not cost the group its HostDown alert. */
static void test_oversized_annotation_is_truncated(void **state)
{
    json_t *b = load_fixture("007-am-plain.json");
    json_t *ann = json_object_get(json_array_get(json_object_get(b, "alerts"), 1), "annotations");
    char *big = malloc(IHA_ALERT_MAX_VALUE + 100);
    struct iha_alert *alerts;
    size_t n;

    (void)state;
    memset(big, 'x', IHA_ALERT_MAX_VALUE + 99);
    big[IHA_ALERT_MAX_VALUE + 99] = '\0';
    json_object_set_new(ann, "description", json_string(big));
    assert_int_equal(iha_alertmanager_parse(b, &alerts, &n, NULL), IHA_OK);
    assert_int_equal(n, 2);
    assert_int_equal(strlen(iha_alert_annotation(&alerts[1], "description")), IHA_ALERT_MAX_VALUE);
    assert_string_equal(iha_alert_label(&alerts[1], "hostname"), "compute-4");
    iha_alertmanager_free(alerts, n);
    /* A label of that size is still refused: labels choose the host. */
    json_object_set_new(json_object_get(json_array_get(json_object_get(b, "alerts"), 1), "labels"),
                        "hostname", json_string(big));
    expect_error(b, IHA_E_LIMIT, "alerts[1].labels.hostname", "too long");
    free(big);
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
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_empty_alerts),
        cmocka_unit_test(test_oversized_annotation_is_truncated),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
