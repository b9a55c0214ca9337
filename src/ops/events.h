/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file events.h
 * @brief The last N alerts the gateway handled, with what became of them, for the
 *        status page and /api/v1/events.
 *
 * An event is one alert outcome: the alert (source, alertname, status, labels), the rule
 * that matched or why none did, the notification produced, the dedupe decision, and
 * every delivery attempt with Instance HA's answer. Events are JSON objects; the ring
 * keeps the newest @c capacity of them. Thread-safe.
 */
#ifndef IHA_EVENTS_H
#define IHA_EVENTS_H

#include <jansson.h>
#include <stddef.h>

#include "rc.h"

struct iha_events;

/** @return a ring holding at most @p capacity events, or NULL. */
struct iha_events *iha_events_new(size_t capacity);

/** Frees @p ev. NULL-safe. */
void iha_events_free(struct iha_events *ev);

/**
 * Appends @p event (stolen). If it has a string "id" (the notification id), later
 * attempts and results can be attached to it. The oldest event is dropped when full.
 * A "time" (RFC 3339) is added when missing.
 */
void iha_events_add_steal(struct iha_events *ev, json_t *event);

/**
 * Appends @p attempt (stolen) to the "attempts" list of the newest event whose id is
 * @p id, and sets that event's "result" to @p result when non-NULL. Unknown ids are
 * ignored (the event may have been evicted).
 */
void iha_events_attempt_steal(struct iha_events *ev, const char *id, json_t *attempt,
                              const char *result);

/**
 * Sets every member of @p fields (borrowed; values are copied) on the newest event whose
 * id is @p id, e.g. the queue sequence once the notification is stored, or the final
 * result. Unknown ids are ignored. NULL-safe in @p ev.
 */
void iha_events_update(struct iha_events *ev, const char *id, const json_t *fields);

/**
 * @return a new JSON array of copies of the events, newest first, at most @p limit,
 *         only those whose "hostname" equals @p hostname when it is non-NULL and non-empty.
 */
json_t *iha_events_list(struct iha_events *ev, const char *hostname, size_t limit);

#endif
