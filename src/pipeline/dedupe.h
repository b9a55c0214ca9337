/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file dedupe.h
 * @brief Suppresses notifications equal (type, hostname, payload) to one delivered
 *        within a window, and keeps generated_time stable across retries.
 *
 * Each key moves through: unknown → in flight (iha_dedupe_begin) → delivered or
 * failed (iha_dedupe_end). A key delivered less than @c window seconds ago is a
 * duplicate. Windows and expiry run on the monotonic clock (iha_clock_ms()): a wall
 * clock stepped back or forward neither extends nor shortens them; the wall clock only
 * gives generated_time. A key whose last attempt failed keeps its generated_time, so the next
 * attempt sends a byte-identical body and Masakari answers 409 duplicate if an
 * ambiguous failure had in fact stored it. Entries expire after max(window, 24 h)
 * for failed keys (Instance HA expires notifications after 24 h anyway); the table
 * holds at most @c max_entries, evicting the oldest expired or, if none, the oldest
 * delivered entry. Thread-safe (one mutex).
 */
#ifndef IHA_DEDUPE_H
#define IHA_DEDUPE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "notification.h"
#include "rc.h"

struct iha_dedupe;

enum iha_dedupe_verdict {
    IHA_DEDUPE_NEW,       /**< send it; generated_time was set */
    IHA_DEDUPE_DUPLICATE, /**< delivered within the window: do not send */
    IHA_DEDUPE_INFLIGHT,  /**< an equal notification is being delivered right now */
};

/** @return a new table or NULL. @p window_s is the duplicate window in seconds. */
struct iha_dedupe *iha_dedupe_new(unsigned window_s, size_t max_entries);

/** Frees @p d. NULL-safe. */
void iha_dedupe_free(struct iha_dedupe *d);

/**
 * Decides what to do with the notification whose key is @p key at monotonic time @p now
 * (milliseconds, iha_clock_ms()). On IHA_DEDUPE_NEW the key is marked in flight and
 * @p generated_time receives the time to send: the one remembered from an earlier
 * failed attempt, else the wall clock @p wall formatted as RFC 3339 — unless @p generated_time
 * already holds a non-empty value (native input that brings its own), which is then kept and
 * remembered.
 * @return IHA_OK, or IHA_E_LIMIT when the table is full of in-flight entries.
 */
enum iha_rc iha_dedupe_begin(struct iha_dedupe *d, const char *key, uint64_t now, time_t wall,
                             char generated_time[IHA_TIME_LEN],
                             enum iha_dedupe_verdict *verdict) IHA_MUST_CHECK;

/**
 * Records the end of delivery of @p key: @p delivered true starts the duplicate
 * window at @p now (monotonic milliseconds); false keeps generated_time for the next
 * attempt.
 */
void iha_dedupe_end(struct iha_dedupe *d, const char *key, uint64_t now, bool delivered);

/** @return the number of entries held. */
size_t iha_dedupe_size(struct iha_dedupe *d);

#endif
