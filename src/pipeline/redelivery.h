/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file redelivery.h
 * @brief Remembers the answers given to spooled records so a re-sent record is answered
 *        again without a second notification to Instance HA.
 *
 * iha-notify gives every notification a record id and may send the same record again: after
 * its own timeout while the gateway was still delivering, or from its spool long after the
 * dedupe window (180 s) has passed. Once the gateway answered a record 2xx, it keeps that
 * answer (status and body) for @c ttl seconds from the request's arrival (24 h by default: Instance
 * HA expires notifications after 24 h anyway), and a request carrying the same record (same id
 * and the same content, compared whole) gets the same answer, with "replayed": true added, and
 * no delivery. A record with other content under a remembered id is processed like a new one:
 * the id is a hash of some fields, and answering a different event from memory would lose it.
 * Answers other than 2xx are not kept: a retry of those must run the pipeline again.
 *
 * Bounded: at most @c max_entries answers; when full, the oldest is forgotten (all entries
 * share one ttl, so the oldest is also the first to expire). In memory only: after a restart
 * the dedupe window and Instance HA's own duplicate check are what remains. Thread-safe (one
 * mutex): lookups run on the ingest thread; answers arrive from whichever thread answers the
 * request (see iha_reply_fn in pipeline.h: the committer, the delivery thread or main).
 */
#ifndef IHA_REDELIVERY_H
#define IHA_REDELIVERY_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "rc.h"

/** Record ids longer than this are not remembered (iha-notify sends 32 hex characters). */
#define IHA_REDELIVERY_ID_MAX 128
#define IHA_REDELIVERY_DEFAULT_TTL_S (24u * 3600u)
#define IHA_REDELIVERY_DEFAULT_MAX 10000u

/** Same shape as iha_reply_fn (pipeline.h), repeated here to keep this module standalone. */
typedef void (*iha_redelivery_reply_fn)(void *cls, unsigned status, json_t *body);

struct iha_redelivery;

/** What iha_redelivery_begin() did with a record. */
enum iha_redelivery_outcome {
    IHA_REDELIVERY_NEW,      /**< not remembered (or no usable id): process it */
    IHA_REDELIVERY_REPLAYED, /**< the same record was answered: answer given again, stop */
    IHA_REDELIVERY_DIFFERENT /**< id remembered for other content: process it, worth a warning */
};

/** @return a new table or NULL (out of memory, or @p max_entries 0). */
struct iha_redelivery *iha_redelivery_new(size_t max_entries, unsigned ttl_s);

/** Frees @p rd. Every wrapped reply must have been called or cancelled. NULL-safe. */
void iha_redelivery_free(struct iha_redelivery *rd);

/**
 * Looks up the "record_id" string member of @p body (a Nagios record).
 * - A remembered, unexpired answer to an equal record: @p *reply is called with a copy of it
 *   (status kept, "replayed": true added) before this returns and @p *outcome is
 *   IHA_REDELIVERY_REPLAYED; the caller must not process the request.
 * - The id remembered for a record with other content: handled as below, @p *outcome is
 *   IHA_REDELIVERY_DIFFERENT; a later 2xx answer replaces the remembered one.
 * - Otherwise @p *reply and @p *cls are replaced by a wrapper that remembers a 2xx answer
 *   under the record id and then calls the original reply. The caller passes the new pair
 *   on; when it ends up not calling the reply (the request was refused), it must call
 *   iha_redelivery_cancel() with the pair.
 * - A body without a usable record id is left alone (@p *reply and @p *cls unchanged).
 * @return IHA_OK; IHA_E_NOMEM (nothing changed, nothing called).
 */
enum iha_rc iha_redelivery_begin(struct iha_redelivery *rd, const json_t *body, time_t now,
                                 iha_redelivery_reply_fn *reply, void **cls,
                                 enum iha_redelivery_outcome *outcome) IHA_MUST_CHECK;

/** Releases a wrapper from iha_redelivery_begin() that will never be called. A pair that is
 *  not a wrapper is ignored. */
void iha_redelivery_cancel(iha_redelivery_reply_fn reply, void *cls);

/** @return the number of answers remembered (expired ones included until evicted). */
size_t iha_redelivery_size(struct iha_redelivery *rd);

#endif
