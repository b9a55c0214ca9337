/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file test_gate.h
 * @brief Waiting for another thread in a test without guessing how long it takes: a gate
 *        a fake peer or callback holds at until the test opens it, and a bounded poll.
 *
 * A fixed sleep followed by an assertion fails on a loaded machine (sanitizers, parallel
 * ctest) and wastes time on an idle one; these wait for the observable state instead,
 * and give up after a bound long enough for a loaded machine so that a hang fails the
 * test rather than the ctest timeout. Header-only, like test_util.h; include after
 * cmocka_includes.h.
 *
 * The functions a held thread calls (test_gate_pass(), test_gate_signal()) never assert,
 * so they are safe on the libmicrohttpd or delivery threads.
 */
#ifndef IHA_TEST_GATE_H
#define IHA_TEST_GATE_H

#include <pthread.h>
#include <stdbool.h>
#include <time.h>

#include "test_util.h"

/** The bound of every wait: a loaded TSan run stays well inside it, a hang does not. */
#define TEST_WAIT_MS 10000u
/** How often a bounded poll looks again. */
#define TEST_POLL_MS 5u

/** @return CLOCK_MONOTONIC in milliseconds. */
static inline unsigned long long test_now_ms(void)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return (unsigned long long)t.tv_sec * 1000ull + (unsigned long long)t.tv_nsec / 1000000ull;
}

/**
 * Evaluates @p expr every @p every_ms until it is true or about @p timeout_ms passed;
 * @p ok (a bool) says which. @p expr may have side effects: it runs at least once. The
 * bound counts pauses rather than reading a clock, because some tests wrap clock_gettime
 * to step time (the pauses themselves can only make the bound longer).
 */
#define TEST_POLL_UNTIL(ok, expr, timeout_ms, every_ms)                                            \
    do {                                                                                           \
        unsigned test_poll_left_ = (timeout_ms) / (every_ms);                                      \
        while (!((ok) = (expr)) && test_poll_left_-- > 0)                                          \
            test_sleep_ms(every_ms);                                                               \
    } while (0)

/** Fails the test unless @p expr becomes true within TEST_WAIT_MS (polled every 5 ms). */
#define assert_eventually(expr)                                                                    \
    do {                                                                                           \
        bool test_ev_ok_;                                                                          \
        TEST_POLL_UNTIL(test_ev_ok_, (expr), TEST_WAIT_MS, TEST_POLL_MS);                          \
        if (!test_ev_ok_)                                                                          \
            fail_msg("not true within %u ms: %s", TEST_WAIT_MS, #expr);                            \
    } while (0)

/** Arrivals counted, and a door that stays shut until the test opens it. */
struct test_gate {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    unsigned arrived; /**< test_gate_pass() and test_gate_signal() calls so far */
    bool open;
};

#define TEST_GATE_INIT                                                                             \
    {                                                                                              \
        PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, false                              \
    }

static inline void test_gate_init(struct test_gate *g)
{
    pthread_mutex_init(&g->lock, NULL);
    pthread_cond_init(&g->cond, NULL);
    g->arrived = 0;
    g->open = false;
}

static inline void test_gate_destroy(struct test_gate *g)
{
    pthread_mutex_destroy(&g->lock);
    pthread_cond_destroy(&g->cond);
}

/** @p ts = now + @p ms on CLOCK_REALTIME (the clock of a default condition variable). */
static inline void test_deadline(struct timespec *ts, unsigned ms)
{
    clock_gettime(CLOCK_REALTIME, ts);
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

/** Counts one arrival without waiting (a callback saying "it happened"). Any thread. */
static inline void test_gate_signal(struct test_gate *g)
{
    pthread_mutex_lock(&g->lock);
    g->arrived++;
    pthread_cond_broadcast(&g->cond);
    pthread_mutex_unlock(&g->lock);
}

/**
 * Counts one arrival and waits until the gate is open, at most 3 * TEST_WAIT_MS, so that
 * a test that failed before opening it cannot hang its peer for ever. Any thread.
 * @return true when opened, false when the bound ran out.
 */
static inline bool test_gate_pass(struct test_gate *g)
{
    struct timespec until;
    bool opened;

    test_deadline(&until, 3 * TEST_WAIT_MS);
    pthread_mutex_lock(&g->lock);
    g->arrived++;
    pthread_cond_broadcast(&g->cond);
    while (!g->open && pthread_cond_timedwait(&g->cond, &g->lock, &until) == 0)
        ;
    opened = g->open;
    pthread_mutex_unlock(&g->lock);
    return opened;
}

/** @return true once at least @p n arrived, false when TEST_WAIT_MS passed first. */
static inline bool test_gate_wait(struct test_gate *g, unsigned n)
{
    struct timespec until;
    bool ok;

    test_deadline(&until, TEST_WAIT_MS);
    pthread_mutex_lock(&g->lock);
    while (g->arrived < n && pthread_cond_timedwait(&g->cond, &g->lock, &until) == 0)
        ;
    ok = g->arrived >= n;
    pthread_mutex_unlock(&g->lock);
    return ok;
}

/** @return the arrivals so far. */
static inline unsigned test_gate_arrivals(struct test_gate *g)
{
    unsigned n;

    pthread_mutex_lock(&g->lock);
    n = g->arrived;
    pthread_mutex_unlock(&g->lock);
    return n;
}

/** Opens the gate: every holder goes on, later arrivals pass at once. Idempotent. */
static inline void test_gate_open(struct test_gate *g)
{
    pthread_mutex_lock(&g->lock);
    g->open = true;
    pthread_cond_broadcast(&g->cond);
    pthread_mutex_unlock(&g->lock);
}

#endif
