/* SPDX-License-Identifier: Apache-2.0 */
/** @file test_events.c @brief The ring of recent alert outcomes. */
#include "events.h"

#include <string.h>

#include "cmocka_includes.h"

static json_t *event(const char *id, const char *host)
{
    return json_pack("{s:s,s:s,s:s}", "id", id, "hostname", host, "result", "queued");
}

static void test_ring_order_and_bound(void **state)
{
    struct iha_events *ev = iha_events_new(3);
    json_t *list;

    (void)state;
    iha_events_add_steal(ev, event("a", "c1"));
    iha_events_add_steal(ev, event("b", "c2"));
    iha_events_add_steal(ev, event("c", "c1"));
    iha_events_add_steal(ev, event("d", "c2"));
    list = iha_events_list(ev, NULL, 10);
    assert_int_equal(json_array_size(list), 3);
    assert_string_equal(json_string_value(json_object_get(json_array_get(list, 0), "id")), "d");
    assert_string_equal(json_string_value(json_object_get(json_array_get(list, 2), "id")), "b");
    assert_non_null(json_object_get(json_array_get(list, 0), "time"));
    json_decref(list);
    list = iha_events_list(ev, "c1", 10);
    assert_int_equal(json_array_size(list), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(list, 0), "id")), "c");
    json_decref(list);
    list = iha_events_list(ev, "", 2);
    assert_int_equal(json_array_size(list), 2);
    json_decref(list);
    iha_events_free(ev);
}

static void test_attempts(void **state)
{
    struct iha_events *ev = iha_events_new(4);
    json_t *list, *e;

    (void)state;
    iha_events_add_steal(ev, event("n1", "c1"));
    iha_events_attempt_steal(ev, "n1", json_pack("{s:i,s:s}", "http_code", 500, "outcome", "retry"),
                             NULL);
    iha_events_attempt_steal(ev, "n1",
                             json_pack("{s:i,s:s,s:s}", "http_code", 202, "outcome", "delivered",
                                       "notification_uuid", "u-1"),
                             "delivered");
    iha_events_attempt_steal(ev, "gone", json_pack("{s:i}", "http_code", 1), "x");
    list = iha_events_list(ev, NULL, 10);
    e = json_array_get(list, 0);
    assert_string_equal(json_string_value(json_object_get(e, "result")), "delivered");
    assert_int_equal(json_array_size(json_object_get(e, "attempts")), 2);
    assert_string_equal(
        json_string_value(json_object_get(json_array_get(json_object_get(e, "attempts"), 1),
                                          "notification_uuid")),
        "u-1");
    json_decref(list);
    iha_events_free(ev);
}

static void test_update(void **state)
{
    struct iha_events *ev = iha_events_new(4);
    json_t *list, *e, *f = json_pack("{s:s,s:i}", "result", "dead", "queue_seq", 42);

    (void)state;
    iha_events_add_steal(ev, event("n1", "c1"));
    iha_events_add_steal(ev, event("n2", "c2"));
    iha_events_update(ev, "n1", f);
    iha_events_update(ev, "gone", f);
    iha_events_update(NULL, "n1", f);
    json_decref(f);
    list = iha_events_list(ev, NULL, 10);
    e = json_array_get(list, 1);
    assert_string_equal(json_string_value(json_object_get(e, "id")), "n1");
    assert_string_equal(json_string_value(json_object_get(e, "result")), "dead");
    assert_int_equal(json_integer_value(json_object_get(e, "queue_seq")), 42);
    assert_string_equal(json_string_value(json_object_get(json_array_get(list, 0), "result")),
                        "queued");
    assert_null(json_object_get(json_array_get(list, 0), "queue_seq"));
    json_decref(list);
    iha_events_free(ev);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ring_order_and_bound),
        cmocka_unit_test(test_attempts),
        cmocka_unit_test(test_update),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
