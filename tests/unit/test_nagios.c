/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file test_nagios.c
 * @brief The Nagios adapter (labels, vocabulary, refusals), the form decoder of
 *        POST /api/v1/nagios, and the answers remembered per record id.
 */
#include "nagios.h"

#include <string.h>

#include "cmocka_includes.h"
#include "form.h"
#include "redelivery.h"

/* What iha-notify sends for fixture 01 (host compute-1 DOWN, HARD, PROBLEM). */
static const char *const host_problem =
    "{\"hostname\":\"compute-1\",\"host_state\":\"DOWN\",\"state_type\":\"HARD\","
    "\"notification_type\":\"PROBLEM\",\"output\":\"CRITICAL: CRITICAL - simulated host down\","
    "\"host_address\":\"127.0.0.1\",\"attempt\":\"1\",\"problem_id\":\"1\","
    "\"state_change\":\"1795617731\",\"time\":\"1795617731\",\"dialect\":\"nagios\","
    "\"_HOSTMASAKARI_SEGMENT\":\"seg1\",\"record_id\":\"0123456789abcdef0123456789abcdef\"}";

static struct iha_alert *parse_ok(const char *text)
{
    struct iha_alert *a = NULL;
    size_t n = 0;
    struct iha_err err = {0};
    json_t *j = json_loads(text, 0, NULL);

    assert_non_null(j);
    assert_int_equal(iha_nagios_parse(j, &a, &n, &err), IHA_OK);
    assert_int_equal(n, 1);
    json_decref(j);
    return a;
}

static void test_host_problem(void **state)
{
    struct iha_alert *a = parse_ok(host_problem);

    (void)state;
    assert_int_equal(a->source, IHA_SOURCE_NAGIOS);
    assert_int_equal(a->status, IHA_ALERT_FIRING);
    assert_string_equal(iha_alert_label(a, "hostname"), "compute-1");
    assert_string_equal(iha_alert_label(a, "host_state"), "DOWN");
    assert_string_equal(iha_alert_label(a, "state_type"), "HARD");
    assert_string_equal(iha_alert_label(a, "notification_type"), "PROBLEM");
    assert_string_equal(iha_alert_label(a, "host_address"), "127.0.0.1");
    assert_string_equal(iha_alert_label(a, "attempt"), "1");
    assert_string_equal(iha_alert_label(a, "problem_id"), "1");
    assert_string_equal(iha_alert_label(a, "host_masakari_segment"), "seg1");
    assert_string_equal(iha_alert_label(a, "what"), "HOST");
    assert_string_equal(iha_alert_label(a, "dialect"), "nagios");
    assert_string_equal(iha_alert_label(a, "record_id"), "0123456789abcdef0123456789abcdef");
    assert_string_equal(a->fingerprint, "0123456789abcdef0123456789abcdef");
    assert_string_equal(iha_alert_label(a, "service_desc"), "");
    iha_nagios_free(a, 1);
}

static void test_recovery_is_resolved(void **state)
{
    struct iha_alert *a = parse_ok("{\"hostname\":\"compute-1\",\"host_state\":\"UP\","
                                   "\"notification_type\":\"RECOVERY\"}");

    (void)state;
    assert_int_equal(a->status, IHA_ALERT_RESOLVED);
    assert_string_equal(iha_alert_label(a, "dialect"), "nagios");
    iha_nagios_free(a, 1);
    /* Every other type is firing: the rules decide what it means. */
    a = parse_ok("{\"hostname\":\"h\",\"notification_type\":\"ACKNOWLEDGEMENT\"}");
    assert_int_equal(a->status, IHA_ALERT_FIRING);
    iha_nagios_free(a, 1);
}

static void expect_label(const char *text, const char *label, const char *want)
{
    struct iha_alert *a = parse_ok(text);

    assert_string_equal(iha_alert_label(a, label), want);
    iha_nagios_free(a, 1);
}

static void test_icinga2_vocabulary(void **state)
{
    (void)state;
    expect_label(
        "{\"hostname\":\"h\",\"notification_type\":\"FLAPPINGEND\",\"dialect\":\"icinga2\"}",
        "notification_type", "FLAPPINGSTOP");
    expect_label("{\"hostname\":\"h\",\"notification_type\":\"DowntimeRemoved\"}",
                 "notification_type", "DOWNTIMECANCELLED");
    expect_label("{\"hostname\":\"h\",\"notification_type\":\"Problem\",\"host_state\":\"Down\"}",
                 "host_state", "DOWN");
    expect_label("{\"hostname\":\"h\",\"notification_type\":\"Problem\",\"host_state\":\"Up\"}",
                 "notification_type", "PROBLEM");
    expect_label("{\"hostname\":\"h\",\"notification_type\":\"PROBLEM\",\"state_type\":\"1\"}",
                 "state_type", "HARD");
    expect_label("{\"hostname\":\"h\",\"notification_type\":\"PROBLEM\",\"state_type\":\"Soft\"}",
                 "state_type", "SOFT");
    expect_label("{\"hostname\":\"h\",\"notification_type\":\"PROBLEM\",\"dialect\":\"Icinga2\"}",
                 "dialect", "icinga2");
}

static void test_checkmk_vocabulary(void **state)
{
    (void)state;
    expect_label("{\"hostname\":\"h\",\"notification_type\":\"PROBLEM\",\"what\":\"SERVICE\","
                 "\"service_desc\":\"nova-compute\",\"service_state\":\"CRIT\"}",
                 "service_state", "CRITICAL");
    expect_label(
        "{\"hostname\":\"h\",\"notification_type\":\"PROBLEM\",\"host_state\":\"UNREACH\"}",
        "host_state", "UNREACHABLE");
    expect_label("{\"hostname\":\"h\",\"notification_type\":\"PROBLEM\",\"host_state\":\"1\"}",
                 "host_state", "DOWN");
    expect_label("{\"hostname\":\"h\",\"notification_type\":\"PROBLEM\",\"service_state\":\"2\","
                 "\"service_desc\":\"x\"}",
                 "what", "SERVICE");
    expect_label("{\"hostname\":\"h\",\"notification_type\":\"PROBLEM\",\"what\":\"service\"}",
                 "what", "SERVICE");
}

static void test_custom_variables(void **state)
{
    (void)state;
    expect_label("{\"hostname\":\"h\",\"notification_type\":\"P\",\"_SERVICEOWNER\":\"ops\"}",
                 "service_owner", "ops");
    expect_label("{\"hostname\":\"h\",\"notification_type\":\"P\",\"_CONTACTPAGER\":\"1\"}",
                 "contact_pager", "1");
    expect_label("{\"hostname\":\"h\",\"notification_type\":\"P\",\"_RACK\":\"r1\"}", "var_rack",
                 "r1");
    expect_label("{\"hostname\":\"h\",\"notification_type\":\"P\",\"_HOSTA-B\":\"x\"}", "host_a_b",
                 "x");
    expect_label("{\"hostname\":\"h\",\"notification_type\":\"P\",\"masakari_segment\":\"s\"}",
                 "masakari_segment", "s");
}

static void expect_bad(const char *text, enum iha_rc want, const char *field)
{
    struct iha_alert *a = (struct iha_alert *)1;
    size_t n = 7;
    struct iha_err err = {0};
    json_t *j = json_loads(text, JSON_DECODE_ANY, NULL);

    assert_non_null(j);
    assert_int_equal(iha_nagios_parse(j, &a, &n, &err), want);
    assert_null(a);
    assert_int_equal(n, 0);
    assert_string_equal(err.field, field);
    json_decref(j);
}

static void test_refusals(void **state)
{
    char big[IHA_ALERT_MAX_VALUE + 64];

    (void)state;
    expect_bad("[]", IHA_E_INVAL, "");
    expect_bad("{\"notification_type\":\"PROBLEM\"}", IHA_E_INVAL, "hostname");
    expect_bad("{\"hostname\":\"\",\"notification_type\":\"PROBLEM\"}", IHA_E_INVAL, "hostname");
    expect_bad("{\"hostname\":\"h\"}", IHA_E_INVAL, "notification_type");
    expect_bad("{\"hostname\":\"h\",\"notification_type\":1}", IHA_E_INVAL, "notification_type");
    expect_bad("{\"hostname\":\"h\",\"notification_type\":\"P\",\"HOSTNAME\":\"x\"}", IHA_E_INVAL,
               "HOSTNAME");
    expect_bad("{\"hostname\":\"h\",\"notification_type\":\"P\",\"_\":\"x\"}", IHA_E_INVAL, "_");
    expect_bad("{\"hostname\":\"h\",\"notification_type\":\"P\",\"dialect\":\"zabbix\"}",
               IHA_E_INVAL, "dialect");
    expect_bad("{\"hostname\":\"h\",\"notification_type\":\"P\",\"what\":\"VM\"}", IHA_E_INVAL,
               "what");
    snprintf(big, sizeof(big),
             "{\"hostname\":\"h\",\"notification_type\":\"P\",\"output\":\"%0*d\"}",
             IHA_ALERT_MAX_VALUE + 1, 0);
    expect_bad(big, IHA_E_LIMIT, "output");
}

/* ---- form bodies ----------------------------------------------------------------------- */

static void test_form_decode(void **state)
{
    static const char body[] = "hostname=compute-1&notification_type=PROBLEM&output=CRITICAL+-+"
                               "host%20down%3A%2F&&empty=&flag";
    json_t *j = NULL;
    struct iha_err err = {0};

    (void)state;
    assert_int_equal(iha_form_decode(body, sizeof(body) - 1, &j, &err), IHA_OK);
    assert_int_equal(json_object_size(j), 5);
    assert_string_equal(json_string_value(json_object_get(j, "hostname")), "compute-1");
    assert_string_equal(json_string_value(json_object_get(j, "output")), "CRITICAL - host down:/");
    assert_string_equal(json_string_value(json_object_get(j, "empty")), "");
    assert_string_equal(json_string_value(json_object_get(j, "flag")), "");
    json_decref(j);
    /* Not NUL-terminated: the length bounds the read. */
    assert_int_equal(iha_form_decode("a=1&b=2", 3, &j, &err), IHA_OK);
    assert_int_equal(json_object_size(j), 1);
    json_decref(j);
    assert_int_equal(iha_form_decode("", 0, &j, &err), IHA_OK);
    assert_int_equal(json_object_size(j), 0);
    json_decref(j);
}

static void expect_form_bad(const char *body, enum iha_rc want, const char *field)
{
    json_t *j = (json_t *)1;
    struct iha_err err = {0};

    assert_int_equal(iha_form_decode(body, strlen(body), &j, &err), want);
    assert_null(j);
    assert_string_equal(err.field, field);
}

static void test_form_refusals(void **state)
{
    char many[IHA_FORM_MAX_FIELDS * 8 + 16];
    size_t o = 0;

    (void)state;
    expect_form_bad("hostname=a&hostname=b", IHA_E_INVAL, "hostname");
    expect_form_bad("a%3D=1&a%3d=2", IHA_E_INVAL, "a=");
    expect_form_bad("a=%2", IHA_E_PARSE, "");
    expect_form_bad("a=%zz", IHA_E_PARSE, "");
    expect_form_bad("a=%00", IHA_E_PARSE, "");
    expect_form_bad("=1", IHA_E_PARSE, "");
    expect_form_bad("a=%ff", IHA_E_PARSE, "");
    for (int i = 0; i <= IHA_FORM_MAX_FIELDS; i++)
        o += (size_t)snprintf(many + o, sizeof(many) - o, "k%d=1&", i);
    expect_form_bad(many, IHA_E_LIMIT, "");
}

/* ---- remembered answers ---------------------------------------------------------------- */

struct sink {
    unsigned calls;
    unsigned status;
    json_t *body;
};

static void sink_reply(void *cls, unsigned status, json_t *body)
{
    struct sink *s = cls;

    s->calls++;
    s->status = status;
    json_decref(s->body);
    s->body = body;
}

static void test_redelivery(void **state)
{
    struct iha_redelivery *rd = iha_redelivery_new(2, 100);
    json_t *rec = json_loads(host_problem, 0, NULL);
    json_t *other = json_pack("{s:s}", "record_id", "other");
    json_t *none = json_pack("{s:s}", "hostname", "h");
    struct sink sink = {0};
    iha_redelivery_reply_fn reply = sink_reply;
    void *cls = &sink;
    enum iha_redelivery_outcome replayed = IHA_REDELIVERY_REPLAYED;

    (void)state;
    assert_non_null(rd);
    /* Unknown id: wrapped; a 503 answer is passed on and not remembered. */
    assert_int_equal(iha_redelivery_begin(rd, rec, 1000, &reply, &cls, &replayed), IHA_OK);
    assert_int_not_equal(replayed, IHA_REDELIVERY_REPLAYED);
    assert_ptr_not_equal(cls, &sink);
    reply(cls, 503, json_pack("{s:s}", "status", "retry"));
    assert_int_equal(sink.calls, 1);
    assert_int_equal(sink.status, 503);
    assert_int_equal(iha_redelivery_size(rd), 0);

    /* The retry succeeds: 200 remembered. */
    reply = sink_reply;
    cls = &sink;
    assert_int_equal(iha_redelivery_begin(rd, rec, 1001, &reply, &cls, &replayed), IHA_OK);
    assert_int_not_equal(replayed, IHA_REDELIVERY_REPLAYED);
    reply(cls, 200, json_pack("{s:s,s:{s:i}}", "status", "success", "counts", "delivered", 1));
    assert_int_equal(sink.calls, 2);
    assert_int_equal(iha_redelivery_size(rd), 1);

    /* A re-send within the ttl: the same answer, marked, nothing else to do. */
    reply = sink_reply;
    cls = &sink;
    assert_int_equal(iha_redelivery_begin(rd, rec, 1050, &reply, &cls, &replayed), IHA_OK);
    assert_int_equal(replayed, IHA_REDELIVERY_REPLAYED);
    assert_int_equal(sink.calls, 3);
    assert_int_equal(sink.status, 200);
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(sink.body, "counts"), "delivered")), 1);
    assert_true(json_is_true(json_object_get(sink.body, "replayed")));

    /* After the ttl it is forgotten: processed again (and cancelled here). */
    reply = sink_reply;
    cls = &sink;
    assert_int_equal(iha_redelivery_begin(rd, rec, 1101, &reply, &cls, &replayed), IHA_OK);
    assert_int_not_equal(replayed, IHA_REDELIVERY_REPLAYED);
    iha_redelivery_cancel(reply, cls);

    /* No record id: untouched. */
    reply = sink_reply;
    cls = &sink;
    assert_int_equal(iha_redelivery_begin(rd, none, 1000, &reply, &cls, &replayed), IHA_OK);
    assert_ptr_equal(cls, &sink);
    iha_redelivery_cancel(reply, cls); /* not a wrapper: ignored */

    /* Bounded: two more answers evict the first. */
    for (int i = 0; i < 2; i++) {
        reply = sink_reply;
        cls = &sink;
        assert_int_equal(iha_redelivery_begin(rd, other, 1002, &reply, &cls, &replayed), IHA_OK);
        if (replayed != IHA_REDELIVERY_REPLAYED)
            reply(cls, 202, json_object());
    }
    reply = sink_reply;
    cls = &sink;
    assert_int_equal(iha_redelivery_begin(rd, rec, 1003, &reply, &cls, &replayed), IHA_OK);
    assert_int_equal(
        replayed,
        IHA_REDELIVERY_REPLAYED); /* "other" was replayed the second time: only one slot taken */
    reply = sink_reply;
    cls = &sink;
    json_object_set_new(other, "record_id", json_string("third"));
    assert_int_equal(iha_redelivery_begin(rd, other, 1004, &reply, &cls, &replayed), IHA_OK);
    reply(cls, 200, json_object());
    reply = sink_reply;
    cls = &sink;
    assert_int_equal(iha_redelivery_begin(rd, rec, 1005, &reply, &cls, &replayed), IHA_OK);
    assert_int_not_equal(replayed, IHA_REDELIVERY_REPLAYED);
    iha_redelivery_cancel(reply, cls);
    assert_int_equal(iha_redelivery_size(rd), 2);

    json_decref(sink.body);
    json_decref(rec);
    json_decref(other);
    json_decref(none);
    iha_redelivery_free(rd);
}

/* A different record under a remembered id is processed, never answered from memory. */
static void test_redelivery_compares_whole_record(void **state)
{
    struct iha_redelivery *rd = iha_redelivery_new(4, 100);
    json_t *soft = json_loads(host_problem, 0, NULL);
    json_t *hard;
    struct sink sink = {0};
    iha_redelivery_reply_fn reply = sink_reply;
    void *cls = &sink;
    enum iha_redelivery_outcome replayed = IHA_REDELIVERY_REPLAYED;

    (void)state;
    assert_non_null(rd);
    json_object_set_new(soft, "state_type", json_string("SOFT"));
    json_object_set_new(soft, "attempt", json_string("1"));
    hard = json_deep_copy(soft);
    json_object_set_new(hard, "state_type", json_string("HARD"));
    json_object_set_new(hard, "attempt", json_string("3"));

    assert_int_equal(iha_redelivery_begin(rd, soft, 1000, &reply, &cls, &replayed), IHA_OK);
    assert_int_not_equal(replayed, IHA_REDELIVERY_REPLAYED);
    reply(cls, 200, json_pack("{s:s}", "status", "dropped"));

    /* Same id, other content (the HARD record of the same problem): not replayed. */
    reply = sink_reply;
    cls = &sink;
    assert_int_equal(iha_redelivery_begin(rd, hard, 1001, &reply, &cls, &replayed), IHA_OK);
    assert_int_equal(replayed, IHA_REDELIVERY_DIFFERENT);
    assert_ptr_not_equal(cls, &sink);
    assert_int_equal(sink.calls, 1);
    reply(cls, 200, json_pack("{s:s}", "status", "success"));

    /* Each record replays its own answer. */
    reply = sink_reply;
    cls = &sink;
    assert_int_equal(iha_redelivery_begin(rd, hard, 1002, &reply, &cls, &replayed), IHA_OK);
    assert_int_equal(replayed, IHA_REDELIVERY_REPLAYED);
    assert_string_equal(json_string_value(json_object_get(sink.body, "status")), "success");
    reply = sink_reply;
    cls = &sink;
    assert_int_equal(iha_redelivery_begin(rd, soft, 1003, &reply, &cls, &replayed), IHA_OK);
    assert_int_equal(replayed, IHA_REDELIVERY_REPLAYED);
    assert_string_equal(json_string_value(json_object_get(sink.body, "status")), "dropped");

    json_decref(sink.body);
    json_decref(soft);
    json_decref(hard);
    iha_redelivery_free(rd);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_host_problem),
        cmocka_unit_test(test_recovery_is_resolved),
        cmocka_unit_test(test_icinga2_vocabulary),
        cmocka_unit_test(test_checkmk_vocabulary),
        cmocka_unit_test(test_custom_variables),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_form_decode),
        cmocka_unit_test(test_form_refusals),
        cmocka_unit_test(test_redelivery),
        cmocka_unit_test(test_redelivery_compares_whole_record),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
