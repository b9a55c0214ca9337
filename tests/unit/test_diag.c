/* SPDX-License-Identifier: Apache-2.0 */
/** @file test_diag.c @brief Positioned diagnostics render as FILE:LINE:COL. */
#include "diag.h"

#include "cmocka_includes.h"

static void test_render(void **state)
{
    struct iha_diag *d = iha_diag_new();
    struct iha_err err = {0};

    (void)state;
    iha_diag_add(d, IHA_DIAG_ERROR, "rules.yml", 3, 7, "unknown key \"%s\"", "matcher");
    iha_diag_add(d, IHA_DIAG_WARNING, "rules.yml", 9, 1, "shadowed");
    iha_err_set_at(&err, "gw.yml", 2, 5, "bad duration");
    iha_diag_add_err(d, &err);
    iha_diag_add(d, IHA_DIAG_ERROR, NULL, 0, 0, "no file");
    assert_int_equal(iha_diag_errors(d), 3);
    assert_int_equal(iha_diag_count(d), 4);
    assert_string_equal(iha_diag_get(d, 0), "rules.yml:3:7: error: unknown key \"matcher\"");
    assert_string_equal(iha_diag_get(d, 1), "rules.yml:9:1: warning: shadowed");
    assert_int_equal(iha_diag_level_of(d, 1), IHA_DIAG_WARNING);
    assert_string_equal(iha_diag_get(d, 2), "gw.yml:2:5: error: bad duration");
    assert_string_equal(iha_diag_get(d, 3), "error: no file");
    assert_string_equal(iha_diag_get(d, 99), "");
    iha_diag_free(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_render)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
