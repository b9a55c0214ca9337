/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file delivery_debug.h
 * @brief Bookkeeping counters of the delivery thread, for tests and benchmarks only:
 *        they show that a turn of the loop and a submission cost the same with an
 *        empty backlog and with a large one. Not part of the daemon's contract.
 */
#ifndef IHA_DELIVERY_DEBUG_H
#define IHA_DELIVERY_DEBUG_H

#include <stddef.h>

#include "delivery.h"

struct iha_delivery_debug {
    unsigned long long turns;  /**< turns of the delivery loop so far */
    unsigned long long probes; /**< index entries examined or moved so far (all indexes) */
    size_t jobs;               /**< as iha_delivery_pending() */
    size_t due;                /**< jobs that may start when their time comes */
    size_t blocked;            /**< ordered jobs waiting for an earlier one of their host */
    size_t hosts;              /**< hostnames with ordered jobs */
    size_t notices;            /**< waiters whose notice is still to come */
};

/** Copies the counters of @p d into @p out. Callable from any thread. */
void iha_delivery_debug_stats(struct iha_delivery *d, struct iha_delivery_debug *out);

#endif
