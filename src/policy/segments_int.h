/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file segments_int.h
 * @brief Inside the segment client: the snapshot, the page parsers, the paging walk over
 *        a page getter, the client's state and its HTTP getter. Only src/policy/segments*.c
 *        and the unit test include it.
 */
#ifndef IHA_SEGMENTS_INT_H
#define IHA_SEGMENTS_INT_H

#include <curl/curl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "hashmap.h"
#include "segments.h"

#define SEG_PAGE_DEFAULT 1000u
#define SEG_BODY_MAX (8u * 1024u * 1024u) /* 1000 hosts of Masakari are ~700 KB */
#define SEG_SEGMENTS_MAX 10000u
#define SEG_HOSTS_MAX 200000u
#define SEG_MARKER_MAX 64u
#define SEG_HOSTNAME_MAX 255u

struct seg_entry {
    char *name;
    char uuid[IHA_SEGMENT_UUID_MAX + 1];
    unsigned hosts;
};

struct host_entry {
    struct iha_hnode node;
    size_t seg; /* index into the snapshot's segs */
    char name[];
};

/** One complete view of the segments; never changed once installed. */
struct iha_segments_snap {
    struct seg_entry *segs;
    size_t nsegs, segs_cap;
    struct host_entry **hosts; /* owned, in the order listed; duplicates are not mapped */
    size_t nhosts, hosts_cap;
    struct iha_hmap *map; /* hostname -> host_entry */
    size_t listed;        /* host items listed, duplicates included */
    uint64_t taken_ms;    /* monotonic, set when installed */
};

/** @return an empty snapshot or NULL (out of memory). */
struct iha_segments_snap *iha_segments_snap_new(void);

/** NULL-safe. */
void iha_segments_snap_free(struct iha_segments_snap *snap);

/** @return the host entry of @p hostname or NULL. Not thread-safe (the map counts probes). */
const struct host_entry *iha_segments_snap_find(struct iha_segments_snap *snap,
                                                const char *hostname);

/** What one page said about paging on. */
struct iha_segments_page {
    size_t items;                /* items on the page */
    char marker[SEG_MARKER_MAX]; /* the last item's "id" as text; "" when it had none */
};

/**
 * Reads one page of GET /v1/segments ({"segments": [{"uuid", "name", "id", ...}]}) and
 * appends its segments to @p snap. On an error nothing of the page is kept, @p err says
 * what is wrong and names the item ("segments[3].uuid").
 * @return IHA_OK; IHA_E_PARSE (not JSON, not a segment list); IHA_E_LIMIT (more than
 *         SEG_SEGMENTS_MAX segments); IHA_E_NOMEM.
 */
enum iha_rc iha_segments_parse_segments(struct iha_segments_snap *snap, const char *body,
                                        size_t len, struct iha_segments_page *page,
                                        struct iha_err *err) IHA_MUST_CHECK;

/**
 * Reads one page of GET /v1/segments/{uuid}/hosts ({"hosts": [{"name", "id", ...}]}) for
 * segment @p seg of @p snap: counts each host in the segment and maps each hostname not
 * mapped yet. On an error nothing of the page is kept.
 * @return as iha_segments_parse_segments() (IHA_E_LIMIT past SEG_HOSTS_MAX hosts).
 */
enum iha_rc iha_segments_parse_hosts(struct iha_segments_snap *snap, size_t seg, const char *body,
                                     size_t len, struct iha_segments_page *page,
                                     struct iha_err *err) IHA_MUST_CHECK;

/**
 * Gets @p path (e.g. "/v1/segments?limit=1000&marker=12", relative to the base URL) into
 * @p body, which is empty and capped at SEG_BODY_MAX. @return IHA_OK for a 200 answer,
 * else an error with @p err set (never containing a token).
 */
typedef enum iha_rc (*iha_segments_get_fn)(void *cls, const char *path, struct iha_buf *body,
                                           struct iha_err *err);

/**
 * Lists every segment and every segment's hosts through @p get, page by page: a page of
 * @p page_limit items is followed by one asking for the items after its last "id"; a
 * shorter page ends the list.
 * @param[out] out the new snapshot, on IHA_OK only
 * @return IHA_OK; the getter's error; IHA_E_PARSE (a page is not a list, a full page
 *         without an id to go on from, the same marker twice); IHA_E_LIMIT; IHA_E_NOMEM.
 *         @p err names the request that failed.
 */
enum iha_rc iha_segments_collect(iha_segments_get_fn get, void *cls, unsigned page_limit,
                                 struct iha_segments_snap **out,
                                 struct iha_err *err) IHA_MUST_CHECK;

/*
 * The client. Thread and lock map: the refresh thread runs refresh_main() and the getter
 * (the HTTP getter owns multi, easy and hdrbuf); every other thread only takes @c lock.
 * One lock, never held across the network or while freeing a snapshot.
 */
struct iha_segments {
    char *base_url; /* without trailing '/' */
    const char *auth_header;
    struct iha_token_source *token;
    const struct iha_tls_config *tls;
    long connect_ms, timeout_ms;
    uint64_t refresh_ms;
    unsigned page_limit;
    iha_segments_get_fn get;
    void *get_cls;

    /* the HTTP getter's, used by the refresh thread only */
    CURLM *multi;
    CURL *easy;
    char *hdrbuf;
    bool token_warned;
    atomic_bool stopping; /* read by the getter between polls; free() also wakes multi */

    pthread_t thread;
    bool thread_started;
    pthread_mutex_t lock;
    pthread_cond_t cond; /* CLOCK_MONOTONIC */

    /* under lock */
    struct iha_segments_snap *snap;
    bool stop, wake;
    unsigned long long started, done; /* refresh attempts begun and ended */
    enum iha_rc last_rc;
    unsigned failures; /* consecutive */
    uint64_t next_ms;
    char last_error[512];
    int64_t last_error_wall_ms, last_ok_wall_ms;
    uint64_t last_ok_ms;
    uint64_t rng;
};

/**
 * iha_segments_new() with another page getter (@p get, @p cls; the unit tests' canned
 * Instance HA). @p get NULL means the HTTP getter.
 */
enum iha_rc iha_segments_new_with(const struct iha_segments_config *cfg, iha_segments_get_fn get,
                                  void *cls, struct iha_segments **out,
                                  struct iha_err *err) IHA_MUST_CHECK;

/** Creates the HTTP getter's handles. @return IHA_OK, IHA_E_NOMEM, IHA_E_IO. */
enum iha_rc iha_segments_http_init(struct iha_segments *s) IHA_MUST_CHECK;

/** Releases what iha_segments_http_init() made. */
void iha_segments_http_free(struct iha_segments *s);

/** The HTTP getter (an iha_segments_get_fn; @p cls is the client). */
enum iha_rc iha_segments_http_get(void *cls, const char *path, struct iha_buf *body,
                                  struct iha_err *err) IHA_MUST_CHECK;

#endif
