/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file clock.h
 * @brief The clocks every module reads: monotonic milliseconds for windows and timeouts,
 *        the wall clock for timestamps people and peers see, absolute deadlines for timed
 *        waits, and the jitter generator that backoff and renewal schedules share.
 *
 * Header-only: both are a few instructions and are called on hot paths.
 */
#ifndef IHA_CLOCK_H
#define IHA_CLOCK_H

#include <stdint.h>
#include <time.h>

/** @return milliseconds of CLOCK_MONOTONIC (never jumps with the wall clock). Thread-safe. */
static inline uint64_t iha_clock_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/**
 * @return milliseconds since the Unix epoch (CLOCK_REALTIME). For timestamps and ages
 *         shown to people and peers only: it jumps when the wall clock is set, so windows
 *         and timeouts use iha_clock_ms(). Thread-safe.
 */
static inline int64_t iha_clock_wall_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/**
 * @return the instant @p at_ms of iha_clock_ms() as the absolute deadline
 *         pthread_cond_timedwait() takes with a condition variable on CLOCK_MONOTONIC
 *         (pthread_condattr_setclock()), so a wall clock step never stretches a wait.
 */
static inline struct timespec iha_clock_mono_at(uint64_t at_ms)
{
    struct timespec ts;

    ts.tv_sec = (time_t)(at_ms / 1000u);
    ts.tv_nsec = (long)(at_ms % 1000u) * 1000000L;
    return ts;
}

/**
 * @return the CLOCK_REALTIME time @p ms from now: the absolute deadline
 *         pthread_cond_timedwait() takes with a default condition variable. Thread-safe.
 */
static inline struct timespec iha_clock_deadline(unsigned ms)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += (time_t)(ms / 1000u);
    ts.tv_nsec += (long)(ms % 1000u) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    return ts;
}

/**
 * Advances the xorshift64* state @p s (must be non-zero) and returns the next value.
 * For jitter only: it spreads retries apart, it is not a secret.
 */
static inline uint64_t iha_jitter_next(uint64_t *s)
{
    uint64_t x = *s;

    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545F4914F6CDD1DULL;
}

/**
 * The wait before retry number @p failures (1 = after the first failure) of a peer that
 * failed: 1 s doubling up to @p cap_ms, each +-20 % from @p rnd (iha_jitter_next()).
 */
static inline uint64_t iha_backoff_ms(unsigned failures, uint64_t cap_ms, uint64_t rnd)
{
    uint64_t base = 1000u;

    for (unsigned i = 1; i < failures && base < cap_ms; i++)
        base *= 2;
    if (base > cap_ms)
        base = cap_ms;
    return base * 8 / 10 + rnd % (base * 4 / 10 + 1);
}

#endif
