/* SPDX-License-Identifier: Apache-2.0 */
/** @file test_log.c @brief Log lines stay parseable whatever a sender put in them. */
#include "log.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmocka_includes.h"

/* Runs one iha_log_write with stderr redirected and returns what it wrote. */
static char *capture(const char *key, const char *value)
{
    int fds[2], saved;
    static char out[8192];
    ssize_t n;

    assert_int_equal(pipe(fds), 0);
    saved = dup(STDERR_FILENO);
    dup2(fds[1], STDERR_FILENO);
    IHA_LOG(IHA_LOG_WARN, "request rejected", key, value, "after", "x");
    dup2(saved, STDERR_FILENO);
    close(saved);
    close(fds[1]);
    n = read(fds[0], out, sizeof(out) - 1);
    close(fds[0]);
    assert_true(n > 0);
    out[n] = '\0';
    return out;
}

static void test_json_lines_parse(void **state)
{
    char *big = malloc(10000);
    json_t *j;
    json_error_t jerr;
    char *line;

    (void)state;
    iha_log_setup(IHA_LOG_DEBUG, IHA_LOG_JSON);
    line = capture("url", "/\xff\xfe\"abc\\\n\x01 caf\xc3\xa9");
    j = json_loads(line, 0, &jerr);
    if (!j)
        fail_msg("not JSON: %s (%s)", line, jerr.text);
    assert_string_equal(json_string_value(json_object_get(j, "url")),
                        "/\xef\xbf\xbd\xef\xbf\xbd\"abc\\\n\x01 caf\xc3\xa9");
    assert_string_equal(json_string_value(json_object_get(j, "level")), "warn");
    json_decref(j);

    /* A value longer than a line is cut at a character boundary and the line still closes. */
    memset(big, 'a', 9998);
    memcpy(big + 4050, "\xc3\xa9\xc3\xa9\xc3\xa9\"\"\"", 9);
    big[9998] = '\0';
    line = capture("big", big);
    assert_true(strlen(line) <= 4096);
    assert_int_equal(line[strlen(line) - 1], '\n');
    j = json_loads(line, 0, &jerr);
    if (!j)
        fail_msg("cut line is not JSON (%s)", jerr.text);
    assert_null(json_object_get(j, "after"));
    json_decref(j);
    free(big);
}

static void test_logfmt_quotes(void **state)
{
    char *line;

    (void)state;
    iha_log_setup(IHA_LOG_INFO, IHA_LOG_LOGFMT);
    line = capture("detail", "Host with name \"x\" could not be found.");
    assert_non_null(strstr(line, "level=warn msg=\"request rejected\" detail=\"Host with name "
                                 "\\\"x\\\" could not be found.\" after=x\n"));
    iha_log_setup(IHA_LOG_ERROR, IHA_LOG_LOGFMT);
    assert_false(iha_log_enabled(IHA_LOG_WARN));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_lines_parse),
        cmocka_unit_test(test_logfmt_quotes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
