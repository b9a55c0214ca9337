/* SPDX-License-Identifier: Apache-2.0 */
/** @file test_native.c @brief The native (Instance HA payload) adapter, both shapes. */
#include "native.h"

#include <string.h>

#include "cmocka_includes.h"

static void test_flat_and_wrapped(void **state)
{
    struct iha_notification n;
    json_t *flat = json_loads("{\"hostname\":\"compute-01\",\"type\":\"COMPUTE_HOST\",\"payload\":"
                              "{\"event\":\"STOPPED\",\"cluster_status\":\"OFFLINE\","
                              "\"host_status\":\"NORMAL\"}}",
                              0, NULL);
    json_t *wrapped = json_loads(
        "{\"notification\":{\"hostname\":\"compute-02\",\"type\":\"COMPUTE_PROCESS\","
        "\"generated_time\":\"2026-11-25T14:40:13.123456\",\"payload\":{\"event\":\"STOPPED\","
        "\"process_name\":\"nova-compute\"}}}",
        0, NULL);

    (void)state;
    assert_int_equal(iha_native_parse(flat, &n, NULL), IHA_OK);
    assert_int_equal(n.type, IHA_NTYPE_COMPUTE_HOST);
    assert_string_equal(n.hostname, "compute-01");
    assert_string_equal(n.generated_time, "");
    assert_string_equal(json_string_value(json_object_get(n.payload, "host_status")), "NORMAL");
    iha_notification_clear(&n);
    assert_int_equal(iha_native_parse(wrapped, &n, NULL), IHA_OK);
    assert_int_equal(n.type, IHA_NTYPE_PROCESS);
    assert_string_equal(n.generated_time, "2026-11-25T14:40:13.123456");
    iha_notification_clear(&n);
    json_decref(flat);
    json_decref(wrapped);
}

static void expect_bad(const char *text, const char *field)
{
    struct iha_notification n;
    struct iha_err err = {0};
    json_t *j = json_loads(text, JSON_DECODE_ANY, NULL);

    assert_non_null(j);
    assert_int_equal(iha_native_parse(j, &n, &err), IHA_E_INVAL);
    assert_string_equal(err.field, field);
    assert_null(n.payload);
    json_decref(j);
}

static void test_refusals(void **state)
{
    (void)state;
    expect_bad("[]", "");
    expect_bad("{\"hostname\":\"c1\",\"type\":\"HOST\",\"payload\":{\"event\":\"STOPPED\"}}",
               "type");
    expect_bad("{\"hostname\":\"\",\"type\":\"VM\",\"payload\":{}}", "hostname");
    expect_bad("{\"hostname\":\"c1\",\"type\":\"COMPUTE_HOST\"}", "payload");
    expect_bad("{\"hostname\":\"c1\",\"type\":\"COMPUTE_HOST\",\"payload\":{\"event\":\"STOPPED\"},"
               "\"extra\":1}",
               "extra");
    expect_bad("{\"notification\":{\"hostname\":\"c1\",\"type\":\"COMPUTE_HOST\",\"payload\":"
               "{\"event\":\"STOPPED\"},\"generated_time\":\"yesterday\"}}",
               "notification.generated_time");
    expect_bad("{\"notification\":{\"hostname\":\"c1\",\"type\":\"COMPUTE_HOST\",\"payload\":"
               "{\"event\":\"DOWN\"}}}",
               "notification.payload.event");
    expect_bad("{\"notification\":{}, \"x\": 1}", "");
    expect_bad(
        "{\"hostname\":\"c 1\",\"type\":\"COMPUTE_HOST\",\"payload\":{\"event\":\"STOPPED\"}}",
        "hostname");
}

static void test_time_forms(void **state)
{
    static const char *const ok[] = {
        "2026-11-25T14:40:13", "2026-11-25T14:40:13Z", "2026-11-25T14:40:13+09:00",
        "2026-11-25 08:34:46", "2026-11-25",           NULL};
    struct iha_notification n;
    char text[256];

    (void)state;
    for (int i = 0; ok[i]; i++) {
        json_t *j;
        snprintf(text, sizeof(text),
                 "{\"hostname\":\"c1\",\"type\":\"COMPUTE_HOST\",\"payload\":{\"event\":"
                 "\"STOPPED\"},\"generated_time\":\"%s\"}",
                 ok[i]);
        j = json_loads(text, 0, NULL);
        assert_int_equal(iha_native_parse(j, &n, NULL), IHA_OK);
        assert_string_equal(n.generated_time, ok[i]);
        iha_notification_clear(&n);
        json_decref(j);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_flat_and_wrapped),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_time_forms),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
