/* SPDX-License-Identifier: Apache-2.0 */
/** @file test_classify.c @brief Real Instance HA answers (masakari-api.md §4) and their outcomes.
 */
#include "classify.h"

#include <stdio.h>
#include <string.h>

#include "cmocka_includes.h"

struct answer {
    long code;
    const char *body;
    enum iha_outcome outcome;
    const char *detail; /* expected detail, or NULL to skip */
};

static const struct answer answers[] = {
    {202,
     "{\"notification\": {\"id\": 1, \"notification_uuid\": "
     "\"6b594c62-73c2-4fd5-af8a-185e1ffe7a8b\", \"generated_time\": "
     "\"2026-11-25T14:40:13.000000\", \"source_host_uuid\": "
     "\"5cd9fca9-7473-4ba7-882a-25cc757de7d4\", \"type\": \"COMPUTE_HOST\", \"payload\": "
     "{\"event\": \"STOPPED\", \"host_status\": \"NORMAL\", \"cluster_status\": \"OFFLINE\"}, "
     "\"status\": \"new\", \"created_at\": \"2026-11-25T14:40:13.000000\", \"updated_at\": null, "
     "\"deleted_at\": null, \"deleted\": false}}",
     IHA_OUTCOME_DELIVERED, "HTTP 202"},
    {409,
     "{\"conflictingRequest\": {\"code\": 409, \"message\": \"Notification received from host "
     "compute-1 of type COMPUTE_HOST is duplicate.\"}}",
     IHA_OUTCOME_DUPLICATE,
     "Notification received from host compute-1 of type COMPUTE_HOST is duplicate."},
    {409,
     "{\"conflictingRequest\": {\"code\": 409, \"message\": \"Notification received from host "
     "compute-2 of type 'COMPUTE_HOST' is ignored as the host is already under maintenance.\"}}",
     IHA_OUTCOME_MAINTENANCE,
     "Notification received from host compute-2 of type 'COMPUTE_HOST' is ignored as the host is "
     "already under maintenance."},
    {409,
     "{\"conflictingRequest\": {\"code\": 409, \"message\": \"Host 5cd9 can't be updated as it "
     "is in-use to process notifications.\"}}",
     IHA_OUTCOME_REJECTED, NULL},
    {400,
     "{\"badRequest\": {\"code\": 400, \"message\": \"Host with name no-such-host could not be "
     "found.\"}}",
     IHA_OUTCOME_REJECTED, "Host with name no-such-host could not be found."},
    {400,
     "{\"badRequest\": {\"code\": 400, \"message\": \"Invalid input for field/attribute type. "
     "Value: HOST. 'HOST' is not one of ('COMPUTE_HOST', 'VM', 'PROCESS')\"}}",
     IHA_OUTCOME_REJECTED,
     "Invalid input for field/attribute type. Value: HOST. 'HOST' is not one of ('COMPUTE_HOST', "
     "'VM', 'PROCESS')"},
    {401,
     "{\"error\": {\"code\": 401, \"title\": \"Unauthorized\", \"message\": \"The request you "
     "have made requires authentication.\"}}",
     IHA_OUTCOME_AUTH_ERROR, "The request you have made requires authentication."},
    {403,
     "{\"forbidden\": {\"code\": 403, \"message\": \"Policy doesn't allow "
     "os_masakari_api:notifications:create to be performed.\"}}",
     IHA_OUTCOME_AUTH_ERROR,
     "Policy doesn't allow os_masakari_api:notifications:create to be performed."},
    {500,
     "{\"masakariFault\": {\"code\": 500, \"message\": \"Unexpected API Error. Please report "
     "this at https://bugs.launchpad.net/masakari/ and attach the Masakari API log if "
     "possible.\\n<class 'ValueError'>\"}}",
     IHA_OUTCOME_RETRY,
     "Unexpected API Error. Please report this at https://bugs.launchpad.net/masakari/ and attach "
     "the Masakari API log if possible. <class 'ValueError'>"},
    {503,
     "<html>\n <head>\n  <title>503 Service Unavailable</title>\n </head>\n <body>\n  <h1>503 "
     "Service Unavailable</h1>\n  The Keystone service is temporarily unavailable.<br /><br "
     "/>\n\n\n\n </body>\n</html>",
     IHA_OUTCOME_RETRY, "HTTP 503"},
    {0, NULL, IHA_OUTCOME_RETRY, "transport error"},
    {404, "404 Not Found\n\nThe resource could not be found.\n\n   ", IHA_OUTCOME_REJECTED,
     "HTTP 404"},
    {405, "", IHA_OUTCOME_REJECTED, "HTTP 405"},
    {406,
     "{\"HTTPNotAcceptable\": {\"code\": 406, \"message\": \"Version 1.5 is not supported by "
     "the API. Minimum is 1.0 and maximum is 1.2.\"}}",
     IHA_OUTCOME_REJECTED, NULL},
    {408, NULL, IHA_OUTCOME_RETRY, "HTTP 408"},
    {413, NULL, IHA_OUTCOME_REJECTED, "HTTP 413"},
    {415, NULL, IHA_OUTCOME_REJECTED, "HTTP 415"},
    {429, NULL, IHA_OUTCOME_RETRY, "HTTP 429"},
    {502, "Bad Gateway", IHA_OUTCOME_RETRY, "HTTP 502"},
    {504, NULL, IHA_OUTCOME_RETRY, "HTTP 504"},
    {200, "{}", IHA_OUTCOME_DELIVERED, NULL},
    {301, "<a href=\"https://x/\">moved</a>", IHA_OUTCOME_REJECTED, NULL},
    {302, NULL, IHA_OUTCOME_REJECTED, NULL},
    {100, NULL, IHA_OUTCOME_REJECTED, NULL},
    {999, NULL, IHA_OUTCOME_REJECTED, NULL},
    {-1, NULL, IHA_OUTCOME_REJECTED, NULL},
};

static void test_real_answers(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(answers) / sizeof(answers[0]); i++) {
        const struct answer *a = &answers[i];
        char detail[512];
        enum iha_outcome o;

        memset(detail, 'x', sizeof(detail));
        o = iha_classify(a->code, a->body, a->body ? strlen(a->body) : 0, detail, sizeof(detail));
        if (o != a->outcome)
            fail_msg("answer %zu (HTTP %ld): outcome %s, expected %s", i, a->code,
                     iha_outcome_name(o), iha_outcome_name(a->outcome));
        assert_non_null(memchr(detail, '\0', sizeof(detail)));
        assert_true(strlen(detail) > 0);
        if (a->detail)
            assert_string_equal(detail, a->detail);
    }
}

static void test_redirect_detail(void **state)
{
    char detail[128];

    (void)state;
    assert_int_equal(iha_classify(307, NULL, 0, detail, sizeof(detail)), IHA_OUTCOME_REJECTED);
    assert_non_null(strstr(detail, "307"));
    assert_non_null(strstr(detail, "redirect not followed"));
}

/* The two 409s are told apart even when the body is not the JSON we expect. */
static void test_409_plain_text(void **state)
{
    static const char dup[] = "Notification received from host c1 of type VM is duplicate.";
    static const char mnt[] = "host is already under maintenance.";
    char detail[64];

    (void)state;
    assert_int_equal(iha_classify(409, dup, strlen(dup), detail, sizeof(detail)),
                     IHA_OUTCOME_DUPLICATE);
    assert_string_equal(detail, "HTTP 409");
    assert_int_equal(iha_classify(409, mnt, strlen(mnt), detail, sizeof(detail)),
                     IHA_OUTCOME_MAINTENANCE);
    assert_int_equal(iha_classify(409, NULL, 0, detail, sizeof(detail)), IHA_OUTCOME_REJECTED);
}

static void test_truncation(void **state)
{
    static const char body[] = "{\"badRequest\": {\"code\": 400, \"message\": \"\xc3\xa9\xc3\xa9"
                               "\xc3\xa9 long message\"}}";
    char detail[4];
    char tiny[1];

    (void)state;
    /* "éé" is 4 bytes; 3 fit, which would cut the second é: keep only the first. */
    assert_int_equal(iha_classify(400, body, strlen(body), detail, sizeof(detail)),
                     IHA_OUTCOME_REJECTED);
    assert_string_equal(detail, "\xc3\xa9");
    assert_int_equal(iha_classify(400, body, strlen(body), tiny, sizeof(tiny)),
                     IHA_OUTCOME_REJECTED);
    assert_int_equal(tiny[0], '\0');
    assert_int_equal(iha_classify(202, body, strlen(body), NULL, 0), IHA_OUTCOME_DELIVERED);
}

static void test_garbage(void **state)
{
    static const char *const bodies[] = {
        "{",
        "{\"badRequest\": 5}",
        "{\"badRequest\": {\"message\": 7}}",
        "[1,2,3]",
        "\"string\"",
        "{\"a\": {\"message\": null}}",
        "null",
        "{\"badRequest\": {\"code\": 400, \"message\": \"x\"}} trailing",
        "\xff\xfe\x00\x01",
    };
    char detail[64];
    char big[70000];

    (void)state;
    for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
        assert_int_equal(iha_classify(400, bodies[i], strlen(bodies[i]) + (i == 8 ? 2 : 0), detail,
                                      sizeof(detail)),
                         IHA_OUTCOME_REJECTED);
        assert_string_equal(detail, "HTTP 400");
    }
    /* Not NUL-terminated: the length is honoured. */
    {
        static const char b[] = "{\"e\": {\"message\": \"ok\"}}XXXX";
        assert_int_equal(iha_classify(400, b, strlen(b) - 4, detail, sizeof(detail)),
                         IHA_OUTCOME_REJECTED);
        assert_string_equal(detail, "ok");
    }
    /* Deep nesting and an oversized body. */
    memset(big, '[', sizeof(big));
    assert_int_equal(iha_classify(500, big, sizeof(big), detail, sizeof(detail)),
                     IHA_OUTCOME_RETRY);
    assert_string_equal(detail, "HTTP 500");
    assert_int_equal(iha_classify(500, big, 5000, detail, sizeof(detail)), IHA_OUTCOME_RETRY);
}

static void test_names(void **state)
{
    (void)state;
    assert_string_equal(iha_outcome_name(IHA_OUTCOME_DELIVERED), "delivered");
    assert_string_equal(iha_outcome_name(IHA_OUTCOME_DUPLICATE), "duplicate");
    assert_string_equal(iha_outcome_name(IHA_OUTCOME_MAINTENANCE), "maintenance");
    assert_string_equal(iha_outcome_name(IHA_OUTCOME_REJECTED), "rejected");
    assert_string_equal(iha_outcome_name(IHA_OUTCOME_AUTH_ERROR), "auth_error");
    assert_string_equal(iha_outcome_name(IHA_OUTCOME_RETRY), "retry");
    assert_true(iha_outcome_is_delivered(IHA_OUTCOME_DELIVERED));
    assert_true(iha_outcome_is_delivered(IHA_OUTCOME_DUPLICATE));
    assert_false(iha_outcome_is_delivered(IHA_OUTCOME_MAINTENANCE));
    assert_false(iha_outcome_is_delivered(IHA_OUTCOME_REJECTED));
    assert_false(iha_outcome_is_delivered(IHA_OUTCOME_AUTH_ERROR));
    assert_false(iha_outcome_is_delivered(IHA_OUTCOME_RETRY));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_real_answers),   cmocka_unit_test(test_redirect_detail),
        cmocka_unit_test(test_409_plain_text), cmocka_unit_test(test_truncation),
        cmocka_unit_test(test_garbage),        cmocka_unit_test(test_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
