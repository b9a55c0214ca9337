/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file clock.h
 * @brief The monotonic millisecond clock and the jitter generator that timeouts,
 *        backoff and renewal schedules share.
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

#endif
