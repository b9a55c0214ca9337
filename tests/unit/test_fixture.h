/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file test_fixture.h
 * @brief Loading the real sender data under tests/fixtures/ (IHA_FIXTURES, set by
 *        tests/CMakeLists.txt) instead of re-typing it in a test.
 *
 * Header-only; include after cmocka_includes.h.
 */
#ifndef IHA_TEST_FIXTURE_H
#define IHA_TEST_FIXTURE_H

#include <jansson.h>
#include <stdio.h>

/** @return the JSON of fixture @p rel (e.g. "alertmanager/001-am-plain.json"); fails the test when
 * unreadable. */
static inline json_t *test_fixture_json(const char *rel)
{
    char path[512];
    json_error_t e;
    json_t *j;

    assert_true((size_t)snprintf(path, sizeof(path), "%s/%s", IHA_FIXTURES, rel) < sizeof(path));
    j = json_load_file(path, 0, &e);
    if (!j)
        fail_msg("%s:%d: %s", path, e.line, e.text);
    return j;
}

#endif
