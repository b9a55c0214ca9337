/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file segments.h
 * @brief Each compute host's failure domain: the Instance HA failover segment it belongs
 *        to and how many hosts that segment has, read from the Instance HA API and kept
 *        fresh by a thread of its own.
 *
 * The storm guard (policy.h) asks what share of a failure domain has failed; the domain
 * of a host is its Instance HA (Masakari) failover segment. This client lists
 * GET /v1/segments and, for each segment, GET /v1/segments/{uuid}/hosts, following
 * Masakari's pagination (limit and marker, the marker being the last item's "id"), and
 * swaps the result in as one snapshot: hostname -> (segment name, segment uuid, number of
 * hosts listed in the segment, reserved and on-maintenance hosts included).
 *
 * The thread refreshes every @c refresh_ms. When a refresh fails (Instance HA down, an
 * answer that is not a segment or host list) the last good snapshot stays in force,
 * one log line says why (and a line again when the kind of failure changes or the
 * refresh recovers), and the thread retries with exponential backoff (1 s doubling, at most
 * @c refresh_ms and 60 s, with jitter). Lookups never wait for the network.
 *
 * Threads: iha_segments_new() starts the refresh thread; iha_segments_free() stops and
 * joins it (a transfer in flight is abandoned at once). Every other function may be
 * called from any thread at the same time; iha_segments_lookup(), iha_segments_status()
 * and iha_segments_refresh_now() never block on the network, so the HTTP thread may
 * call them; iha_segments_wait_ready() and iha_segments_refresh_wait() block.
 */
#ifndef IHA_SEGMENTS_H
#define IHA_SEGMENTS_H

#include <jansson.h>

#include "notification.h" /* enum iha_dialect */
#include "rc.h"
#include "tls.h"
#include "token_source.h"

/** Longest segment name kept, in bytes: Masakari allows 255 characters of UTF-8. */
#define IHA_SEGMENT_NAME_MAX 1020
/** Longest segment uuid kept, in bytes (Masakari's are 36). */
#define IHA_SEGMENT_UUID_MAX 63

struct iha_segments;

struct iha_segments_config {
    const char *url;          /**< Instance HA base URL, as instance_ha.url (copied); no userinfo */
    enum iha_dialect dialect; /**< the token header: X-Auth-Token or Authorization: Bearer */
    struct iha_token_source *token;   /**< borrowed, must outlive the client; NULL = none */
    const struct iha_tls_config *tls; /**< borrowed, must outlive the client; NULL = defaults */
    unsigned connect_timeout_ms;      /**< per request; 0 = 3 s */
    unsigned timeout_ms;              /**< per request, total; 0 = 10 s */
    unsigned refresh_ms;              /**< between good refreshes; 0 = 60 s */
    /**
     * Items asked for per page ("limit"); 0 = 1000. A page with fewer items ends a list,
     * so this must not exceed Instance HA's osapi_max_limit (1000 unless lowered there).
     */
    unsigned page_limit;
};

/** What iha_segments_lookup() answers: a copy, the caller's to keep. */
struct iha_segment_info {
    char name[IHA_SEGMENT_NAME_MAX + 1];
    char uuid[IHA_SEGMENT_UUID_MAX + 1];
    unsigned hosts;            /**< hosts listed in the segment (at least 1: this one) */
    unsigned long long age_ms; /**< how long ago the snapshot answering was taken */
};

/**
 * Creates the client and starts its refresh thread, which fetches the first snapshot at
 * once. @p cfg is copied (its borrowed pointers excepted).
 * @param[out] out the client, owned by the caller (iha_segments_free())
 * @param[out] err why it failed (may be NULL)
 * @return IHA_OK; IHA_E_CONFIG (no URL, credentials in the URL); IHA_E_NOMEM; IHA_E_IO
 *         (thread or libcurl handle). Call after curl_global_init().
 */
enum iha_rc iha_segments_new(const struct iha_segments_config *cfg, struct iha_segments **out,
                             struct iha_err *err) IHA_MUST_CHECK;

/** Stops the thread (abandoning a transfer in flight), joins it and frees. NULL-safe. */
void iha_segments_free(struct iha_segments *s);

/**
 * The segment of @p hostname (exact, case-sensitive match, as Instance HA compares host
 * names) in the newest snapshot.
 * @param[out] out filled on IHA_OK only
 * @return IHA_OK; IHA_E_NOTFOUND (no segment lists the host); IHA_E_UPSTREAM (no snapshot
 *         yet: no refresh has succeeded since the start); IHA_E_INVAL (NULL or empty
 *         @p hostname).
 */
enum iha_rc iha_segments_lookup(struct iha_segments *s, const char *hostname,
                                struct iha_segment_info *out) IHA_MUST_CHECK;

/** Wakes the thread to refresh now, skipping its wait or backoff. Does not block. */
void iha_segments_refresh_now(struct iha_segments *s);

/**
 * Like iha_segments_refresh_now(), then waits up to @p timeout_ms for a refresh that
 * began after the call to end. Blocks: not for the HTTP thread.
 * @return that refresh's result (IHA_OK, or why it failed: IHA_E_IO unreachable,
 *         IHA_E_AUTH 401/403, IHA_E_UPSTREAM other answers, IHA_E_PARSE, IHA_E_LIMIT);
 *         IHA_E_LIMIT also when it did not end in time or the client is stopping.
 */
enum iha_rc iha_segments_refresh_wait(struct iha_segments *s, unsigned timeout_ms) IHA_MUST_CHECK;

/**
 * Waits up to @p timeout_ms for the first snapshot. Blocks: not for the HTTP thread.
 * @return IHA_OK (a snapshot is in force); IHA_E_LIMIT (none yet).
 */
enum iha_rc iha_segments_wait_ready(struct iha_segments *s, unsigned timeout_ms) IHA_MUST_CHECK;

/**
 * @return a new object for the status page (NULL when out of memory): "ready", "segments",
 *         "hosts", "last_success" (RFC 3339 or null), "last_success_age_seconds",
 *         "last_error" (text or null; kept after a recovery), "last_error_at",
 *         "consecutive_failures", "refresh_seconds". No token, no URL credentials.
 */
json_t *iha_segments_status(struct iha_segments *s);

#endif
