/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file delivery_int.h
 * @brief Private to src/delivery: the delivery object, its jobs and indexes, and the
 *        functions the delivery files share. Never included from outside the folder.
 *
 * Threads and locks: iha_delivery.lock guards the job list and every index (keys,
 * hosts, due, notices, cancel list); any thread may take it, and no other lock is
 * taken while it is held. The delivery thread alone owns the multi handle, the easy
 * handles and the per-attempt fields of a job (iha_delivery_free() inherits them after
 * the join). Waiters' callbacks run without the lock, on the delivery thread (or in
 * iha_delivery_free()).
 */
#ifndef IHA_DELIVERY_INT_H
#define IHA_DELIVERY_INT_H

#include <curl/curl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "delivery.h"
#include "hashmap.h"

#define RESP_MAX (64u * 1024u)            /* response bytes kept; more aborts the transfer */
#define TOKEN_HDR_MAX (64u * 1024u + 64u) /* a 64 KiB token file plus the header name */
#define IDLE_MAX 16                       /* easy handles kept for reuse */
#define NOT_IN_HEAP SIZE_MAX

/*
 * An entry of a binary min-heap ordered by (at, seq), embedded in what it orders, so a
 * push never allocates (capacity is reserved at submission) and removal is O(log n).
 */
struct heap_item {
    uint64_t at;
    uint64_t seq; /* ties: earlier submission first */
    size_t idx;   /* position in the heap array, NOT_IN_HEAP when not in it */
};

struct heap {
    struct heap_item **a;
    size_t n, cap;
    unsigned long long probes; /* sift steps, for iha_delivery_debug_stats() */
};

/* Guarded by iha_delivery.lock. */
struct waiter {
    struct waiter *next;
    struct job *job; /* the job it waits for, once linked */
    iha_delivery_cb cb;
    void *cls;
    iha_delivery_attempt_cb on_attempt;
    uint64_t notice_ms;      /* 0 = none or already given */
    struct heap_item notice; /* in iha_delivery.notices until the notice time is reached */
};

enum job_state { JOB_DUE, JOB_RUNNING };

/* The ordered jobs of one hostname, oldest first; only the first may run. */
struct host {
    struct iha_hnode node; /* in iha_delivery.hosts */
    struct job *head, *tail;
    size_t len;
    char name[];
};

struct job {
    /* Guarded by iha_delivery.lock. */
    struct job *prev, *next;           /* every job in submission order (for shutdown) */
    struct iha_hnode by_key;           /* in iha_delivery.keys */
    struct host *host;                 /* ordered jobs only */
    struct job *host_prev, *host_next; /* in host's list */
    struct job *cancel_next;           /* in iha_delivery.cancel_head while cancel_queued */
    struct heap_item due;              /* in iha_delivery.due while it may start at due.at */
    struct waiter *waiters, **waiters_tail;
    char *key;
    size_t key_len;
    bool ordered;         /* per-host order: waits while an earlier ordered job has its host */
    bool blocked;         /* ordered and an earlier ordered job for the hostname is pending */
    bool cancel;          /* iha_delivery_cancel() */
    bool cancel_queued;   /* cancelled while due: the thread completes it */
    uint64_t deadline_ms; /* 0 = first_ms + retry_for_ms */
    bool retry_unauthorized;
    enum job_state state; /* RUNNING from when the thread takes it until it is due again */
    /* Immutable after submit. */
    struct iha_notification n;
    char *body; /* identical on every attempt, so generated_time is too */
    size_t body_len;
    /* Owned by the delivery thread (or by iha_delivery_free() after the join). */
    uint64_t first_ms;
    unsigned attempts;
    bool auth_retried;
    CURL *easy;
    struct curl_slist *headers;
    char *resp; /* RESP_MAX + 1 bytes once allocated */
    size_t resp_len;
    bool resp_over;
    char request_id[128];
    char errbuf[CURL_ERROR_SIZE];
    long http_code;
    enum iha_outcome outcome;
    char detail[512];
};

struct iha_delivery {
    const struct iha_tls_config *tls; /* borrowed: instance_ha.tls */
    pthread_mutex_t lock;
    /* Guarded by lock: every index is O(1) or O(log n), so no step scans the backlog. */
    struct job *head, *tail; /* submission order */
    size_t njobs;
    bool stop;
    struct iha_hmap *keys;   /* job by dedupe key (joining) */
    struct iha_hmap *hosts;  /* struct host by hostname (per-host order) */
    struct heap due;         /* jobs that may start, by due time then submission */
    struct heap notices;     /* waiters by notice time */
    struct job *cancel_head; /* cancelled while due, oldest first */
    struct job *cancel_tail;
    uint64_t seq; /* submissions and waiters so far: heap tie-breaker */
    size_t nblocked;
    unsigned long long turns;  /* iha_delivery_debug_stats() */
    unsigned long long probes; /* jobs and waiters taken by the loop */

    /* Fixed at creation. */
    char *url;
    enum iha_dialect dialect;
    struct iha_token_source *token;
    const char *auth_header;
    long connect_timeout_ms;
    long timeout_ms;
    uint64_t retry_for_ms;
    uint64_t max_backoff_ms;
    size_t max_jobs;

    /* Owned by the delivery thread. */
    CURLM *multi;
    pthread_t thread;
    bool thread_started;
    size_t running;
    CURL *idle[IDLE_MAX];
    size_t nidle;
    char *hdrbuf;
    bool token_warned;
    uint64_t rng;
};

/* ---- delivery_heap.c: the (at, seq) min-heap ---- */

/** Makes room for @p n entries (geometric growth). @return false when out of memory. */
bool iha_delivery_heap_reserve(struct heap *h, size_t n);

/** Adds @p it; the caller reserved the room. */
void iha_delivery_heap_push(struct heap *h, struct heap_item *it);

/** Takes @p it out of @p h if it is in it. */
void iha_delivery_heap_remove(struct heap *h, struct heap_item *it);

/** @return the earliest entry, or NULL when @p h is empty. */
struct heap_item *iha_delivery_heap_top(const struct heap *h);

/* ---- delivery_jobs.c: the pending jobs and their indexes ---- */

/** How iha_delivery.keys compares a job with a dedupe key. */
extern const struct iha_hmap_ops iha_delivery_job_key_ops;

/** How iha_delivery.hosts compares a host entry with a hostname. */
extern const struct iha_hmap_ops iha_delivery_host_ops;

/** Frees @p j, its waiters and its buffers (it is linked nowhere). NULL-safe. */
void iha_delivery_job_free(struct job *j);

/** Lock held. @return the pending job with the dedupe key @p key, or NULL. */
struct job *iha_delivery_find_job(struct iha_delivery *d, const char *key, size_t len);

/** Lock held. Hands @p j, cancelled while due, to the thread, which completes it. */
void iha_delivery_queue_cancel(struct iha_delivery *d, struct job *j);

/** Makes @p j due at @p at (after its backoff) once an attempt is over. Takes the lock. */
void iha_delivery_make_due(struct iha_delivery *d, struct job *j, uint64_t at);

/**
 * Lock held. @return the entry of @p n's hostname: the existing one, or a new one not
 * linked yet (iha_delivery_submit_opts() links it with the first job). NULL: no memory.
 */
struct host *iha_delivery_get_host(struct iha_delivery *d, const struct iha_notification *n);

/** Lock held. Links @p j into every index; @p h is its host entry for an ordered job. */
void iha_delivery_link_job(struct iha_delivery *d, struct job *j, struct host *h);

/** Lock held. Adds @p w to @p j's waiters; room in the notice heap was reserved. */
void iha_delivery_link_waiter(struct iha_delivery *d, struct job *j, struct waiter *w);

/** Lock held. Takes @p j out of every index; the next ordered job of its host may start. */
void iha_delivery_unlink_job(struct iha_delivery *d, struct job *j);

/* ---- delivery_request.c: one POST on an easy handle (delivery thread) ---- */

/** @return "<base>/v1/notifications" as a new string, or NULL (out of memory). */
char *iha_delivery_make_url(const char *base);

/** Starts one POST for @p j. @return false when it could not be started (detail set). */
bool iha_delivery_start_attempt(struct iha_delivery *d, struct job *j);

/** Takes the easy handle off the multi handle and keeps it for reuse (connection reuse). */
void iha_delivery_release_easy(struct iha_delivery *d, struct job *j);

/* ---- delivery_outcome.c: what follows an attempt (delivery thread) ---- */

/** Classifies every finished transfer and decides what follows it. */
void iha_delivery_drain(struct iha_delivery *d);

/** Decides what follows an attempt whose outcome, code and detail are set in @p j. */
void iha_delivery_after_attempt(struct iha_delivery *d, struct job *j);

/**
 * Removes @p j from the queue and calls every waiter with the job's last result.
 * Callbacks run without the lock, so they may submit again.
 */
void iha_delivery_complete_job(struct iha_delivery *d, struct job *j);

/**
 * Calls the attempt callbacks of @p j's waiters (all, or only those whose notice is
 * due when @p notice_now is non-zero) without holding the lock, in batches. Waiters are
 * freed only by iha_delivery_complete_job() on this thread, so the cursor stays valid
 * while the lock is released; waiters joining meanwhile are appended behind it.
 */
void iha_delivery_call_attempt_cbs(struct iha_delivery *d, struct job *j, uint64_t notice_now);

#endif
