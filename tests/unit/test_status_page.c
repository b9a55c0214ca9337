/* SPDX-License-Identifier: Apache-2.0 */
/** @file test_status_page.c @brief The HTML status page renders events and escapes everything. */
#include "status_page.h"

#include <stdlib.h>
#include <string.h>

#include "cmocka_includes.h"

static void test_render(void **state)
{
    json_t *status = json_loads(
        "{\"version\":\"0.1.0\",\"started\":\"2026-11-25T16:00:00Z\",\"instance_ha\":{\"url\":"
        "\"http://127.0.0.1:15868\",\"dialect\":\"masakari\",\"token\":\"env IHA_SERVICE_TOKEN "
        "(set)\"},\"rules\":[\"node-down\",\"<script>\"],\"config\":{\"web\":{\"auth\":"
        "{\"basic_auth_users\":{\"am\":\"<secret>\"}}}},\"queue\":{\"depth\":0}}",
        0, NULL);
    json_t *events = json_loads(
        "[{\"id\":\"abc\",\"hostname\":\"compute-1\",\"type\":\"COMPUTE_HOST\",\"payload\":"
        "{\"event\":\"STOPPED\"},\"result\":\"delivered\",\"source\":\"alertmanager\","
        "\"alertname\":\"HostDown\",\"rule\":\"node-down\",\"attempts\":[{\"http_code\":202,"
        "\"outcome\":\"delivered\",\"notification_uuid\":\"6b594c62-73c2\"}]},"
        "{\"result\":\"dropped\",\"reason\":\"no rule matched <b>x</b>\",\"alertname\":"
        "\"Foo&Bar\"}]",
        0, NULL);
    char *page;

    (void)state;
    assert_non_null(status);
    assert_non_null(events);
    page = iha_status_page_render(status, events, "comp\"ute");
    assert_non_null(page);
    assert_non_null(strstr(page, "<tr class=\"event\" data-id=\"abc\" data-result=\"delivered\" "
                                 "data-hostname=\"compute-1\">"));
    assert_non_null(strstr(page, "6b594c62-73c2"));
    assert_non_null(strstr(page, "HTTP 202"));
    assert_non_null(strstr(page, "no rule matched &lt;b&gt;x&lt;/b&gt;"));
    assert_non_null(strstr(page, "Foo&amp;Bar"));
    assert_non_null(strstr(page, "<li>&lt;script&gt;</li>"));
    assert_non_null(strstr(page, "value=\"comp&quot;ute\""));
    assert_non_null(strstr(page, "&lt;secret&gt;"));
    assert_null(strstr(page, "<script>"));
    assert_null(strstr(page, "<b>x</b>"));
    free(page);
    json_decref(events);
    events = json_array();
    page = iha_status_page_render(status, events, NULL);
    assert_non_null(strstr(page, "no alerts yet"));
    free(page);
    json_decref(events);
    json_decref(status);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_render)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
