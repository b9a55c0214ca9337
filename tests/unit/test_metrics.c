/* SPDX-License-Identifier: Apache-2.0 */
/** @file test_metrics.c @brief The metrics registry and its text exposition. */
#include "alert.h"
#include "metrics.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmocka_includes.h"

static void test_counters_and_gauges(void **state)
{
    struct iha_metrics *m = iha_metrics_new();
    char *text;

    (void)state;
    assert_int_equal(iha_metrics_register(m, "iha_gateway_alerts_received_total",
                                          IHA_METRIC_COUNTER, "Alerts received.", "source,status",
                                          NULL, 0),
                     IHA_OK);
    assert_int_equal(iha_metrics_register(m, "iha_gateway_queue_depth", IHA_METRIC_GAUGE,
                                          "Notifications waiting.", "", NULL, 0),
                     IHA_OK);
    /* A second registration and bad names are refused. */
    assert_int_equal(
        iha_metrics_register(m, "iha_gateway_queue_depth", IHA_METRIC_GAUGE, "x", "", NULL, 0),
        IHA_E_INVAL);
    assert_int_equal(iha_metrics_register(m, "1bad", IHA_METRIC_GAUGE, "x", "", NULL, 0),
                     IHA_E_INVAL);
    assert_int_equal(iha_metrics_register(m, "ok_name", IHA_METRIC_GAUGE, "x", "a-b", NULL, 0),
                     IHA_E_INVAL);
    iha_metrics_add(m, "iha_gateway_alerts_received_total", 1, "alertmanager", "firing");
    iha_metrics_add(m, "iha_gateway_alerts_received_total", 2, "alertmanager", "firing");
    iha_metrics_add(m, "iha_gateway_alerts_received_total", 1, "alertmanager", "resolved");
    iha_metrics_add(m, "iha_gateway_alerts_received_total", -5, "alertmanager", "resolved");
    iha_metrics_set(m, "iha_gateway_queue_depth", 7);
    iha_metrics_add(m, "no_such_metric", 1);
    assert_true(
        iha_metrics_value(m, "iha_gateway_alerts_received_total", "alertmanager", "firing") == 3.0);
    assert_true(iha_metrics_value(m, "iha_gateway_alerts_received_total", "nagios", "firing") ==
                0.0);
    text = iha_metrics_render(m);
    assert_string_equal(
        text, "# HELP iha_gateway_alerts_received_total Alerts received.\n"
              "# TYPE iha_gateway_alerts_received_total counter\n"
              "iha_gateway_alerts_received_total{source=\"alertmanager\",status=\"firing\"} 3\n"
              "iha_gateway_alerts_received_total{source=\"alertmanager\",status=\"resolved\"} 1\n"
              "# HELP iha_gateway_queue_depth Notifications waiting.\n"
              "# TYPE iha_gateway_queue_depth gauge\n"
              "iha_gateway_queue_depth 7\n");
    free(text);
    iha_metrics_free(m);
}

static void test_histogram_and_escaping(void **state)
{
    static const double buckets[] = {0.1, 1, 10};
    struct iha_metrics *m = iha_metrics_new();
    char *text;

    (void)state;
    assert_int_equal(iha_metrics_register(m, "lat_seconds", IHA_METRIC_HISTOGRAM, "Latency.",
                                          "outcome", buckets, 3),
                     IHA_OK);
    assert_int_equal(iha_metrics_register(m, "c_total", IHA_METRIC_COUNTER, "C.", "rule", NULL, 0),
                     IHA_OK);
    iha_metrics_observe(m, "lat_seconds", 0.05, "delivered");
    iha_metrics_observe(m, "lat_seconds", 0.5, "delivered");
    iha_metrics_observe(m, "lat_seconds", 50, "delivered");
    iha_metrics_add(m, "c_total", 1, "a\"b\\c\nd");
    text = iha_metrics_render(m);
    assert_non_null(strstr(text, "lat_seconds_bucket{outcome=\"delivered\",le=\"0.1\"} 1\n"));
    assert_non_null(strstr(text, "lat_seconds_bucket{outcome=\"delivered\",le=\"1\"} 2\n"));
    assert_non_null(strstr(text, "lat_seconds_bucket{outcome=\"delivered\",le=\"10\"} 2\n"));
    assert_non_null(strstr(text, "lat_seconds_bucket{outcome=\"delivered\",le=\"+Inf\"} 3\n"));
    assert_non_null(strstr(text, "lat_seconds_sum{outcome=\"delivered\"} 50.55\n"));
    assert_non_null(strstr(text, "lat_seconds_count{outcome=\"delivered\"} 3\n"));
    assert_non_null(strstr(text, "c_total{rule=\"a\\\"b\\\\c\\nd\"} 1\n"));
    free(text);
    iha_metrics_free(m);
}

static void test_series_bound(void **state)
{
    struct iha_metrics *m = iha_metrics_new();
    char v[32], *text;
    size_t lines = 0;

    (void)state;
    assert_int_equal(iha_metrics_register(m, "x_total", IHA_METRIC_COUNTER, "X.", "k", NULL, 0),
                     IHA_OK);
    for (int i = 0; i < IHA_METRICS_MAX_SERIES + 100; i++) {
        snprintf(v, sizeof(v), "v%d", i);
        iha_metrics_add(m, "x_total", 1, v);
    }
    text = iha_metrics_render(m);
    for (char *p = text; (p = strstr(p, "x_total{")); p++)
        lines++;
    assert_int_equal(lines, IHA_METRICS_MAX_SERIES);
    assert_non_null(strstr(text, "x_total{k=\"other\"} 101\n"));
    free(text);
    iha_metrics_free(m);
}

static void test_gateway_families(void **state)
{
    struct iha_metrics *m = iha_metrics_new();
    char *text;

    (void)state;
    assert_int_equal(iha_metrics_register_gateway(m, "1.2.3"), IHA_OK);
    /* Twice is a bug: the names are taken. */
    assert_int_equal(iha_metrics_register_gateway(m, "1.2.3"), IHA_E_INVAL);
    iha_metrics_add(m, "iha_gateway_deliveries_total", 1, "delivered", "202");
    iha_metrics_observe(m, "iha_gateway_delivery_latency_seconds", 0.3);
    assert_true(iha_metrics_value(m, "iha_gateway_build_info", "1.2.3") == 1.0);
    assert_true(iha_metrics_value(m, "iha_gateway_config_last_reload_successful") == 1.0);
    text = iha_metrics_render(m);
    assert_non_null(text);
    assert_non_null(strstr(text, "iha_gateway_build_info{version=\"1.2.3\"} 1\n"));
    assert_non_null(strstr(text, "# TYPE iha_gateway_delivery_latency_seconds histogram\n"));
    assert_non_null(strstr(text, "iha_gateway_delivery_latency_seconds_bucket{le=\"0.5\"} 1\n"));
    assert_non_null(
        strstr(text, "iha_gateway_deliveries_total{outcome=\"delivered\",code=\"202\"} 1\n"));
    assert_non_null(strstr(text, "iha_gateway_config_reloads_total{result=\"failure\"} 0\n"));
    assert_non_null(strstr(text, "iha_gateway_token_renewals_total{result=\"success\"} 0\n"));
    assert_non_null(strstr(text, "iha_gateway_notifications_dead_lettered_total 0\n"));
    free(text);
    iha_metrics_free(m);
}

/* The dropped-alert labels are a fixed set, one name per kind. */
static void test_drop_names(void **state)
{
    (void)state;
    assert_string_equal(iha_drop_name(IHA_DROP_NO_RULE), "no_rule");
    assert_string_equal(iha_drop_name(IHA_DROP_RESOLVED), "resolved");
    assert_string_equal(iha_drop_name(IHA_DROP_EXTRACTION), "extraction_failed");
    assert_string_equal(iha_drop_name(IHA_DROP_INVALID), "invalid");
    assert_string_equal(iha_drop_name(IHA_DROP_OTHER), "other");
    assert_string_equal(iha_drop_name(IHA_DROP_MALFORMED), "malformed");
    assert_string_equal(iha_drop_name(IHA_DROP_OVER_LIMIT), "over_limit");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counters_and_gauges), cmocka_unit_test(test_histogram_and_escaping),
        cmocka_unit_test(test_series_bound),        cmocka_unit_test(test_gateway_families),
        cmocka_unit_test(test_drop_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
