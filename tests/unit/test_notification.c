/* SPDX-License-Identifier: Apache-2.0 */
/** @file test_notification.c @brief Schema validation, outbound bodies per dialect, dedupe key. */
#include "notification.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmocka_includes.h"

static void make(struct iha_notification *n, enum iha_ntype t, const char *host,
                 const char *payload)
{
    iha_notification_init(n);
    n->type = t;
    snprintf(n->hostname, sizeof(n->hostname), "%s", host);
    n->payload = json_loads(payload, 0, NULL);
    assert_non_null(n->payload);
}

static void expect_invalid(enum iha_ntype t, const char *host, const char *payload,
                           const char *field)
{
    struct iha_notification n;
    struct iha_err err = {0};

    make(&n, t, host, payload);
    assert_int_equal(iha_notification_validate(&n, &err), IHA_E_INVAL);
    assert_string_equal(err.field, field);
    iha_notification_clear(&n);
}

static void expect_valid(enum iha_ntype t, const char *host, const char *payload)
{
    struct iha_notification n;
    struct iha_err err = {0};

    make(&n, t, host, payload);
    assert_int_equal(iha_notification_validate(&n, &err), IHA_OK);
    iha_notification_clear(&n);
}

static void test_validate(void **state)
{
    (void)state;
    expect_valid(
        IHA_NTYPE_COMPUTE_HOST, "compute-01",
        "{\"event\":\"STOPPED\",\"host_status\":\"NORMAL\",\"cluster_status\":\"OFFLINE\"}");
    expect_valid(IHA_NTYPE_COMPUTE_HOST, "a.b_c-1", "{\"event\":\"STARTED\"}");
    expect_valid(IHA_NTYPE_PROCESS, "c1",
                 "{\"event\":\"STOPPED\",\"process_name\":\"nova-compute\"}");
    expect_valid(
        IHA_NTYPE_VM, "c1",
        "{\"event\":\"LIFECYCLE\",\"instance_uuid\":\"6b594c62-73c2-4fd5-af8a-185e1ffe7a8b\","
        "\"vir_domain_event\":\"STOPPED_FAILED\"}");
    expect_invalid(IHA_NTYPE_COMPUTE_HOST, "", "{\"event\":\"STOPPED\"}", "hostname");
    expect_invalid(IHA_NTYPE_COMPUTE_HOST, "compute 1", "{\"event\":\"STOPPED\"}", "hostname");
    expect_invalid(IHA_NTYPE_COMPUTE_HOST, "c1", "{\"event\":\"DOWN\"}", "payload.event");
    expect_invalid(IHA_NTYPE_COMPUTE_HOST, "c1", "{\"event\":\"STOPPED\",\"reason\":\"x\"}",
                   "payload.reason");
    expect_invalid(IHA_NTYPE_COMPUTE_HOST, "c1", "{\"host_status\":\"NORMAL\"}", "payload.event");
    expect_invalid(IHA_NTYPE_COMPUTE_HOST, "c1",
                   "{\"event\":\"STOPPED\",\"host_status\":\"normal\"}", "payload.host_status");
    expect_invalid(IHA_NTYPE_PROCESS, "c1", "{\"event\":\"stopped\",\"process_name\":\"n\"}",
                   "payload.event");
    expect_invalid(IHA_NTYPE_PROCESS, "c1", "{\"event\":\"STOPPED\"}", "payload.process_name");
    expect_invalid(
        IHA_NTYPE_VM, "c1",
        "{\"event\":\"LIFECYCLE\",\"instance_uuid\":\"nope\",\"vir_domain_event\":\"X\"}",
        "payload.instance_uuid");
    expect_invalid(IHA_NTYPE_COMPUTE_HOST, "c1", "{\"event\":1}", "payload.event");
}

static void test_type_names(void **state)
{
    enum iha_ntype t;

    (void)state;
    assert_int_equal(iha_ntype_parse("COMPUTE_INSTANCE", &t), 0);
    assert_int_equal(t, IHA_NTYPE_VM);
    assert_int_equal(iha_ntype_parse("PROCESS", &t), 0);
    assert_int_equal(t, IHA_NTYPE_PROCESS);
    assert_int_equal(iha_ntype_parse("HOST", &t), -1);
    assert_int_equal(iha_ntype_parse("compute_host", &t), -1);
    assert_string_equal(iha_ntype_name(IHA_NTYPE_VM, IHA_DIALECT_MASAKARI), "VM");
    assert_string_equal(iha_ntype_name(IHA_NTYPE_VM, IHA_DIALECT_XLOUD), "COMPUTE_INSTANCE");
    assert_string_equal(iha_ntype_name(IHA_NTYPE_PROCESS, IHA_DIALECT_XLOUD), "COMPUTE_PROCESS");
}

static void test_bodies(void **state)
{
    struct iha_notification n;
    json_t *b;
    char *s;

    (void)state;
    make(&n, IHA_NTYPE_PROCESS, "compute-2",
         "{\"process_name\":\"nova-compute\",\"event\":\"STOPPED\"}");
    snprintf(n.generated_time, sizeof(n.generated_time), "2026-11-25T14:40:13Z");
    b = iha_notification_body(&n, IHA_DIALECT_MASAKARI);
    s = json_dumps(b, JSON_COMPACT | JSON_SORT_KEYS);
    assert_string_equal(s, "{\"notification\":{\"generated_time\":\"2026-11-25T14:40:13Z\","
                           "\"hostname\":\"compute-2\",\"payload\":{\"event\":\"STOPPED\","
                           "\"process_name\":\"nova-compute\"},\"type\":\"PROCESS\"}}");
    free(s);
    json_decref(b);
    b = iha_notification_body(&n, IHA_DIALECT_XLOUD);
    s = json_dumps(b, JSON_COMPACT | JSON_SORT_KEYS);
    assert_string_equal(s,
                        "{\"generated_time\":\"2026-11-25T14:40:13Z\",\"hostname\":\"compute-2\","
                        "\"payload\":{\"event\":\"STOPPED\",\"process_name\":\"nova-compute\"},"
                        "\"type\":\"COMPUTE_PROCESS\"}");
    free(s);
    json_decref(b);
    iha_notification_clear(&n);
}

static void test_key(void **state)
{
    struct iha_notification a, b;
    char ka[512], kb[512], small[8];

    (void)state;
    make(&a, IHA_NTYPE_COMPUTE_HOST, "c1", "{\"event\":\"STOPPED\",\"host_status\":\"NORMAL\"}");
    make(&b, IHA_NTYPE_COMPUTE_HOST, "c1", "{\"host_status\":\"NORMAL\",\"event\":\"STOPPED\"}");
    assert_int_equal(iha_notification_key(&a, ka, sizeof(ka)), IHA_OK);
    assert_int_equal(iha_notification_key(&b, kb, sizeof(kb)), IHA_OK);
    /* Key order does not matter, as in Masakari's payload comparison. */
    assert_string_equal(ka, kb);
    json_object_set_new(b.payload, "host_status", json_string("UNKNOWN"));
    assert_int_equal(iha_notification_key(&b, kb, sizeof(kb)), IHA_OK);
    assert_string_not_equal(ka, kb);
    assert_int_equal(iha_notification_key(&a, small, sizeof(small)), IHA_E_LIMIT);
    iha_notification_clear(&a);
    iha_notification_clear(&b);
}

static void test_time_and_id(void **state)
{
    char t[IHA_TIME_LEN], id1[IHA_ID_LEN], id2[IHA_ID_LEN];

    (void)state;
    iha_time_format(1795617731, t);
    assert_string_equal(t, "2026-11-25T14:42:11Z");
    iha_id_new(id1);
    iha_id_new(id2);
    assert_int_equal(strlen(id1), 16);
    assert_string_not_equal(id1, id2);
}

/* Only a COMPUTE_HOST STOPPED with host_status NORMAL evacuates (masakari-api.md §6). */
static void test_evacuates(void **state)
{
    static const struct {
        enum iha_ntype t;
        const char *payload;
        bool evacuates, back;
    } cases[] = {
        {IHA_NTYPE_COMPUTE_HOST,
         "{\"event\":\"STOPPED\",\"host_status\":\"NORMAL\",\"cluster_status\":\"OFFLINE\"}", true,
         false},
        {IHA_NTYPE_COMPUTE_HOST, "{\"event\":\"STOPPED\",\"host_status\":\"UNKNOWN\"}", false,
         false},
        {IHA_NTYPE_COMPUTE_HOST, "{\"event\":\"STOPPED\"}", false, false},
        {IHA_NTYPE_COMPUTE_HOST, "{\"event\":\"STARTED\",\"host_status\":\"NORMAL\"}", false, true},
        {IHA_NTYPE_PROCESS, "{\"event\":\"STOPPED\",\"process_name\":\"nova-compute\"}", false,
         false},
        {IHA_NTYPE_VM, "{\"event\":\"LIFECYCLE\",\"host_status\":\"NORMAL\"}", false, false},
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct iha_notification n;

        make(&n, cases[i].t, "compute-1", cases[i].payload);
        assert_int_equal(iha_notification_evacuates(&n), cases[i].evacuates);
        assert_int_equal(iha_notification_host_back(&n), cases[i].back);
        iha_notification_clear(&n);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_validate),    cmocka_unit_test(test_type_names),
        cmocka_unit_test(test_bodies),      cmocka_unit_test(test_key),
        cmocka_unit_test(test_time_and_id), cmocka_unit_test(test_evacuates),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
