/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file auth_verifier.h
 * @brief Runs password verifications (iha_auth_job) on a thread of their own, fairly.
 *
 * A bcrypt hash takes from milliseconds to seconds by its cost; on the HTTP thread it
 * would hold every other request, and a sender cycling wrong passwords could hold
 * them all. Here one thread computes the hashes, one at a time (so they never take
 * more than one core), from a bounded queue. Each client address has a budget of new
 * credentials (a token bucket) and a cap on queued ones, so one client spending its
 * budget does not spend anyone else's. A job that cannot be queued is "busy": the
 * sender is answered 503 with Retry-After, never 401.
 *
 * Threads: submit from any thread (the HTTP thread in practice); the done callback
 * runs on the verifier thread with no lock of this module held, or, for jobs still
 * queued at iha_auth_verifier_stop(), on the thread that stops it.
 */
#ifndef IHA_AUTH_VERIFIER_H
#define IHA_AUTH_VERIFIER_H

#include <stddef.h>

#include "auth.h"
#include "rc.h"

struct iha_auth_verifier;

/** Hands @p job back (run, or not run at shutdown); the callee owns it again. */
typedef void (*iha_auth_done_fn)(void *cls, struct iha_auth_job *job);

/** Budget of new credentials per client address: a burst, then this many per second. */
#define IHA_AUTH_VERIFIER_BURST 8
#define IHA_AUTH_VERIFIER_RATE 2
/** Jobs queued or running, in all and per client address. */
#define IHA_AUTH_VERIFIER_QUEUE 64
#define IHA_AUTH_VERIFIER_PER_CLIENT 4

/** Starts the thread. */
enum iha_rc iha_auth_verifier_new(struct iha_auth_verifier **out) IHA_MUST_CHECK;

/**
 * Queues @p job for @p client (an address; "" when unknown, which shares one budget).
 * @return IHA_OK (the job is taken; @p done will get it back), or IHA_E_LIMIT when
 *         the client's budget or the queue is full (the job stays the caller's)
 */
enum iha_rc iha_auth_verifier_submit(struct iha_auth_verifier *v, const char *client,
                                     struct iha_auth_job *job, iha_auth_done_fn done,
                                     void *cls) IHA_MUST_CHECK;

/** Jobs queued or running now (for the metrics). */
size_t iha_auth_verifier_pending(struct iha_auth_verifier *v);

/**
 * Stops the thread after the hash it is computing, then hands every job still queued
 * back unrun (their requests get 503). Submits after it are busy. Idempotent; the
 * verifier stays valid for concurrent submits until iha_auth_verifier_free().
 */
void iha_auth_verifier_stop(struct iha_auth_verifier *v);

/** Stops (if not yet done) and frees. NULL-safe. */
void iha_auth_verifier_free(struct iha_auth_verifier *v);

#endif
