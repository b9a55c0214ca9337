/* SPDX-License-Identifier: Apache-2.0 */
/** @file test_dedupe.c @brief Duplicate window, stable generated_time, capacity. */
#include "dedupe.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "cmocka_includes.h"

#define T0 ((time_t)1795617613) /* 2026-11-25T14:40:13Z */
#define KEY "COMPUTE_HOST|compute-1|{\"event\":\"STOPPED\",\"host_status\":\"NORMAL\"}"

/* The monotonic clock, in ms, of the moment whose wall clock is @p t (no step in between). */
#define MS(t) ((uint64_t)(t)*1000u)

static enum iha_dedupe_verdict begin(struct iha_dedupe *d, const char *key, time_t now,
                                     char gt[IHA_TIME_LEN])
{
    enum iha_dedupe_verdict v = (enum iha_dedupe_verdict) - 1;

    assert_int_equal(iha_dedupe_begin(d, key, MS(now), now, gt, &v), IHA_OK);
    return v;
}

static void end(struct iha_dedupe *d, const char *key, time_t now, bool delivered)
{
    iha_dedupe_end(d, key, MS(now), delivered);
}

static void test_new_duplicate_new(void **state)
{
    struct iha_dedupe *d = iha_dedupe_new(180, 100);
    char gt[IHA_TIME_LEN] = "", expect[IHA_TIME_LEN];

    (void)state;
    assert_non_null(d);
    assert_int_equal(begin(d, KEY, T0, gt), IHA_DEDUPE_NEW);
    iha_time_format(T0, expect);
    assert_string_equal(gt, expect);
    assert_string_equal(gt, "2026-11-25T14:40:13Z");
    end(d, KEY, T0 + 1, true);

    gt[0] = '\0';
    assert_int_equal(begin(d, KEY, T0 + 100, gt), IHA_DEDUPE_DUPLICATE);
    assert_int_equal(begin(d, KEY, T0 + 180, gt), IHA_DEDUPE_DUPLICATE);
    /* A different key is independent. */
    gt[0] = '\0';
    assert_int_equal(begin(d, KEY "x", T0 + 100, gt), IHA_DEDUPE_NEW);

    /* The window counts from delivery (T0 + 1). */
    gt[0] = '\0';
    assert_int_equal(begin(d, KEY, T0 + 181, gt), IHA_DEDUPE_NEW);
    iha_time_format(T0 + 181, expect);
    assert_string_equal(gt, expect);
    iha_dedupe_free(d);
    iha_dedupe_free(NULL); /* NULL-safe like every _free; ASan would report otherwise */
}

static void test_failed_keeps_generated_time(void **state)
{
    struct iha_dedupe *d = iha_dedupe_new(180, 100);
    char gt[IHA_TIME_LEN] = "", first[IHA_TIME_LEN];

    (void)state;
    assert_int_equal(begin(d, KEY, T0, gt), IHA_DEDUPE_NEW);
    memcpy(first, gt, sizeof(first));
    end(d, KEY, T0 + 30, false);

    /* Hours later the retry still sends the first time, byte for byte. */
    gt[0] = '\0';
    assert_int_equal(begin(d, KEY, T0 + 3 * 3600, gt), IHA_DEDUPE_NEW);
    assert_string_equal(gt, first);
    end(d, KEY, T0 + 3 * 3600, false);

    /* After 24 h a failed key is forgotten: a fresh time. */
    gt[0] = '\0';
    assert_int_equal(begin(d, KEY, T0 + 3 * 3600 + 86400, gt), IHA_DEDUPE_NEW);
    assert_string_not_equal(gt, first);
    iha_dedupe_free(d);
}

static void test_provided_generated_time(void **state)
{
    struct iha_dedupe *d = iha_dedupe_new(180, 100);
    char gt[IHA_TIME_LEN] = "2026-11-25T10:00:00Z";

    (void)state;
    assert_int_equal(begin(d, KEY, T0, gt), IHA_DEDUPE_NEW);
    assert_string_equal(gt, "2026-11-25T10:00:00Z");
    end(d, KEY, T0, false);
    /* Remembered for a retry that does not bring its own. */
    gt[0] = '\0';
    assert_int_equal(begin(d, KEY, T0 + 10, gt), IHA_DEDUPE_NEW);
    assert_string_equal(gt, "2026-11-25T10:00:00Z");
    iha_dedupe_free(d);
}

static void test_inflight(void **state)
{
    struct iha_dedupe *d = iha_dedupe_new(180, 100);
    char gt[IHA_TIME_LEN] = "";

    (void)state;
    assert_int_equal(begin(d, KEY, T0, gt), IHA_DEDUPE_NEW);
    gt[0] = '\0';
    assert_int_equal(begin(d, KEY, T0 + 5, gt), IHA_DEDUPE_INFLIGHT);
    assert_int_equal(begin(d, KEY, T0 + 5000, gt), IHA_DEDUPE_INFLIGHT);
    end(d, KEY, T0 + 5001, true);
    assert_int_equal(begin(d, KEY, T0 + 5002, gt), IHA_DEDUPE_DUPLICATE);
    assert_int_equal(iha_dedupe_size(d), 1);
    /* Ending an unknown key is harmless. */
    end(d, "nope", T0, true);
    assert_int_equal(iha_dedupe_size(d), 1);
    iha_dedupe_free(d);
}

static void test_capacity(void **state)
{
    struct iha_dedupe *d = iha_dedupe_new(180, 4);
    char gt[IHA_TIME_LEN], key[32];
    enum iha_dedupe_verdict v;

    (void)state;
    for (int i = 0; i < 4; i++) {
        snprintf(key, sizeof(key), "k%d", i);
        gt[0] = '\0';
        assert_int_equal(begin(d, key, T0 + i, gt), IHA_DEDUPE_NEW);
    }
    assert_int_equal(iha_dedupe_size(d), 4);
    /* Full of in-flight entries. */
    gt[0] = '\0';
    assert_int_equal(iha_dedupe_begin(d, "k4", MS(T0 + 10), T0 + 10, gt, &v), IHA_E_LIMIT);

    /* k1 failed, k2 delivered: the delivered one goes first, then the failed one. */
    end(d, "k1", T0 + 11, false);
    end(d, "k2", T0 + 12, true);
    gt[0] = '\0';
    assert_int_equal(begin(d, "k4", T0 + 13, gt), IHA_DEDUPE_NEW);
    assert_int_equal(iha_dedupe_size(d), 4);
    gt[0] = '\0';
    assert_int_equal(begin(d, "k5", T0 + 14, gt), IHA_DEDUPE_NEW);
    assert_int_equal(iha_dedupe_size(d), 4);
    gt[0] = '\0';
    assert_int_equal(iha_dedupe_begin(d, "k6", MS(T0 + 15), T0 + 15, gt, &v), IHA_E_LIMIT);
    /* k2 was evicted, so it is new again instead of a duplicate. */
    end(d, "k0", T0 + 16, true);
    gt[0] = '\0';
    assert_int_equal(begin(d, "k2", T0 + 17, gt), IHA_DEDUPE_NEW);
    iha_dedupe_free(d);
}

static void test_expiry_is_incremental(void **state)
{
    struct iha_dedupe *d = iha_dedupe_new(60, 10000);
    char gt[IHA_TIME_LEN], key[32];

    (void)state;
    for (int i = 0; i < 1000; i++) {
        snprintf(key, sizeof(key), "key-%d", i);
        gt[0] = '\0';
        assert_int_equal(begin(d, key, T0, gt), IHA_DEDUPE_NEW);
        end(d, key, T0, true);
    }
    assert_int_equal(iha_dedupe_size(d), 1000);
    /* One call does bounded work: some, not all, expired entries go. */
    gt[0] = '\0';
    assert_int_equal(begin(d, "other", T0 + 61, gt), IHA_DEDUPE_NEW);
    assert_true(iha_dedupe_size(d) < 1000);
    assert_true(iha_dedupe_size(d) > 900);
    for (int i = 0; i < 200; i++) {
        snprintf(key, sizeof(key), "more-%d", i);
        gt[0] = '\0';
        assert_int_equal(begin(d, key, T0 + 62, gt), IHA_DEDUPE_NEW);
    }
    /* 1000 expired gone, "other" + 200 in flight left. */
    assert_int_equal(iha_dedupe_size(d), 201);
    iha_dedupe_free(d);
}

/*
 * The window runs on the monotonic clock: a wall clock stepped back an hour neither keeps
 * a key a duplicate past its window nor changes the window; it only dates generated_time.
 */
static void test_window_is_monotonic(void **state)
{
    struct iha_dedupe *d = iha_dedupe_new(180, 100);
    const uint64_t m0 = 5000; /* monotonic ms since boot: unrelated to the wall clock */
    char gt[IHA_TIME_LEN] = "", expect[IHA_TIME_LEN];
    enum iha_dedupe_verdict v;

    (void)state;
    assert_int_equal(iha_dedupe_begin(d, KEY, m0, T0, gt, &v), IHA_OK);
    assert_int_equal(v, IHA_DEDUPE_NEW);
    iha_dedupe_end(d, KEY, m0 + 1000, true);
    /* The wall clock is stepped back an hour; 100 s later it is still a duplicate. */
    gt[0] = '\0';
    assert_int_equal(iha_dedupe_begin(d, KEY, m0 + 101000, T0 - 3600 + 101, gt, &v), IHA_OK);
    assert_int_equal(v, IHA_DEDUPE_DUPLICATE);
    /* 180 s after the delivery the window is over, whatever the wall clock says. */
    gt[0] = '\0';
    assert_int_equal(iha_dedupe_begin(d, KEY, m0 + 181000, T0 - 3600 + 181, gt, &v), IHA_OK);
    assert_int_equal(v, IHA_DEDUPE_NEW);
    iha_time_format(T0 - 3600 + 181, expect);
    assert_string_equal(gt, expect);
    /* A wall clock stepped forward a day does not end a window early either. */
    iha_dedupe_end(d, KEY, m0 + 182000, true);
    gt[0] = '\0';
    assert_int_equal(iha_dedupe_begin(d, KEY, m0 + 183000, T0 + 86400, gt, &v), IHA_OK);
    assert_int_equal(v, IHA_DEDUPE_DUPLICATE);
    iha_dedupe_free(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_new_duplicate_new),
        cmocka_unit_test(test_failed_keeps_generated_time),
        cmocka_unit_test(test_provided_generated_time),
        cmocka_unit_test(test_inflight),
        cmocka_unit_test(test_capacity),
        cmocka_unit_test(test_expiry_is_incremental),
        cmocka_unit_test(test_window_is_monotonic),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
