/* SPDX-License-Identifier: Apache-2.0 */
/** @file delivery.c @brief One thread with a libcurl multi handle POSTs notifications and retries.
 */
#include "delivery.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>

#include "clock.h"
#include "http_header.h"
#include "delivery_debug.h"
#include "hashmap.h"
#include "log.h"

#ifndef IHA_VERSION
#define IHA_VERSION "0"
#endif

#define RESP_MAX (64u * 1024u)            /* response bytes kept; more aborts the transfer */
#define TOKEN_HDR_MAX (64u * 1024u + 64u) /* a 64 KiB token file plus the header name */
#define POLL_MAX_MS 100
#define BACKOFF_FIRST_MS 500u
#define BACKOFF_MAX_MS 5000u
#define MAX_RUNNING 64 /* easy handles in flight; further due jobs wait their turn */
#define START_BATCH 16 /* jobs started per loop turn */
#define IDLE_MAX 16    /* easy handles kept for reuse */
#define DEFAULT_CONNECT_TIMEOUT_MS 3000u
#define DEFAULT_TIMEOUT_MS 10000u
#define DEFAULT_MAX_JOBS 1024u
#define KEY_BUCKETS_MAX 65536u /* presized buckets of the key index; it grows beyond */
#define HOST_BUCKETS_MAX 4096u
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

static uint64_t now_ms(void)
{
    return iha_clock_ms();
}

/* 0.5 s doubling to the cap (5 s by default), each +-20 %. */
static uint64_t backoff_ms(struct iha_delivery *d, unsigned attempts)
{
    uint64_t base = BACKOFF_FIRST_MS;

    for (unsigned i = 1; i < attempts && base < d->max_backoff_ms; i++)
        base *= 2;
    if (base > d->max_backoff_ms)
        base = d->max_backoff_ms;
    /* base * [0.8, 1.2] */
    return base * 8 / 10 + iha_jitter_next(&d->rng) % (base * 4 / 10 + 1);
}

/* ---- heap ---- */

static bool heap_before(const struct heap_item *x, const struct heap_item *y)
{
    return x->at < y->at || (x->at == y->at && x->seq < y->seq);
}

static void heap_place(struct heap *h, size_t i, struct heap_item *it)
{
    h->a[i] = it;
    it->idx = i;
}

static void sift_up(struct heap *h, size_t i)
{
    struct heap_item *it = h->a[i];

    while (i > 0) {
        size_t parent = (i - 1) / 2;
        h->probes++;
        if (!heap_before(it, h->a[parent]))
            break;
        heap_place(h, i, h->a[parent]);
        i = parent;
    }
    heap_place(h, i, it);
}

static void sift_down(struct heap *h, size_t i)
{
    struct heap_item *it = h->a[i];

    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= h->n)
            break;
        if (c + 1 < h->n && heap_before(h->a[c + 1], h->a[c]))
            c++;
        h->probes++;
        if (!heap_before(h->a[c], it))
            break;
        heap_place(h, i, h->a[c]);
        i = c;
    }
    heap_place(h, i, it);
}

/* Makes room for @p n entries (geometric growth). @return false when out of memory. */
static bool heap_reserve(struct heap *h, size_t n)
{
    size_t cap = h->cap ? h->cap : 64;
    struct heap_item **a;

    if (n <= h->cap)
        return true;
    while (cap < n) {
        if (cap > SIZE_MAX / 2 / sizeof(*a))
            return false;
        cap *= 2;
    }
    a = realloc(h->a, cap * sizeof(*a));
    if (!a)
        return false;
    h->a = a;
    h->cap = cap;
    return true;
}

/* The caller reserved the room. */
static void heap_push(struct heap *h, struct heap_item *it)
{
    h->a[h->n] = it;
    it->idx = h->n++;
    sift_up(h, it->idx);
}

/* Takes @p it out of @p h if it is in it. */
static void heap_remove(struct heap *h, struct heap_item *it)
{
    size_t i = it->idx;
    struct heap_item *last;

    if (i == NOT_IN_HEAP)
        return;
    it->idx = NOT_IN_HEAP;
    last = h->a[--h->n];
    if (i == h->n)
        return;
    heap_place(h, i, last);
    if (i > 0 && heap_before(last, h->a[(i - 1) / 2]))
        sift_up(h, i);
    else
        sift_down(h, i);
}

static struct heap_item *heap_top(const struct heap *h)
{
    return h->n ? h->a[0] : NULL;
}

/* ---- jobs ---- */

static struct job *job_of_key(struct iha_hnode *n)
{
    return (struct job *)(void *)((char *)n - offsetof(struct job, by_key));
}

static struct job *job_of_due(struct heap_item *it)
{
    return (struct job *)(void *)((char *)it - offsetof(struct job, due));
}

static struct waiter *waiter_of_notice(struct heap_item *it)
{
    return (struct waiter *)(void *)((char *)it - offsetof(struct waiter, notice));
}

static struct host *host_of(struct iha_hnode *n)
{
    return (struct host *)(void *)((char *)n - offsetof(struct host, node));
}

static bool job_key_eq(const struct iha_hnode *node, const void *key, size_t len)
{
    const struct job *j = job_of_key((struct iha_hnode *)(uintptr_t)node);

    return j->key_len == len && memcmp(j->key, key, len) == 0;
}

static bool host_eq(const struct iha_hnode *node, const void *key, size_t len)
{
    const struct host *h = host_of((struct iha_hnode *)(uintptr_t)node);

    return h->len == len && memcmp(h->name, key, len) == 0;
}

static const struct iha_hmap_ops job_key_ops = {.eq = job_key_eq};
static const struct iha_hmap_ops host_ops = {.eq = host_eq};

static void job_free(struct job *j)
{
    struct waiter *w;

    if (!j)
        return;
    while ((w = j->waiters)) {
        j->waiters = w->next;
        free(w);
    }
    iha_notification_clear(&j->n);
    free(j->body);
    free(j->key);
    free(j->resp);
    free(j);
}

/* Lock held. */
static struct job *find_job(struct iha_delivery *d, const char *key, size_t len)
{
    struct iha_hnode *n = iha_hmap_find(d->keys, key, len);

    return n ? job_of_key(n) : NULL;
}

/* Lock held. Hands @p j, cancelled while due, to the thread, which completes it. */
static void queue_cancel(struct iha_delivery *d, struct job *j)
{
    if (j->cancel_queued)
        return;
    heap_remove(&d->due, &j->due);
    j->cancel_queued = true;
    j->cancel_next = NULL;
    if (d->cancel_tail)
        d->cancel_tail->cancel_next = j;
    else
        d->cancel_head = j;
    d->cancel_tail = j;
}

/* Lock held. Puts @p j where the thread finds it when it is due and may run. */
static void schedule(struct iha_delivery *d, struct job *j)
{
    if (j->state != JOB_DUE || j->blocked || j->due.idx != NOT_IN_HEAP)
        return;
    if (j->cancel)
        queue_cancel(d, j);
    else
        heap_push(&d->due, &j->due); /* room reserved at submission */
}

/* Makes @p j due at @p at (after its backoff) once an attempt is over. Takes the lock. */
static void make_due(struct iha_delivery *d, struct job *j, uint64_t at)
{
    pthread_mutex_lock(&d->lock);
    j->state = JOB_DUE;
    j->due.at = at;
    schedule(d, j);
    pthread_mutex_unlock(&d->lock);
}

/*
 * Lock held. @return the entry of @p n's hostname: the existing one, or a new one not
 * linked yet (iha_delivery_submit_opts() links it with the first job). NULL: no memory.
 */
static struct host *get_host(struct iha_delivery *d, const struct iha_notification *n)
{
    size_t len = strlen(n->hostname);
    struct iha_hnode *node = iha_hmap_find(d->hosts, n->hostname, len);
    struct host *h;

    if (node)
        return host_of(node);
    h = calloc(1, sizeof(*h) + len + 1);
    if (!h)
        return NULL;
    memcpy(h->name, n->hostname, len + 1);
    h->len = len;
    return h;
}

/* Lock held. Links @p j into every index; @p h is its host entry for an ordered job. */
static void link_job(struct iha_delivery *d, struct job *j, struct host *h)
{
    j->due.seq = d->seq++;
    iha_hmap_insert(d->keys, &j->by_key, j->key, j->key_len);
    j->prev = d->tail;
    if (d->tail)
        d->tail->next = j;
    else
        d->head = j;
    d->tail = j;
    d->njobs++;
    if (h) {
        if (!h->head)
            iha_hmap_insert(d->hosts, &h->node, h->name, h->len);
        j->host = h;
        j->host_prev = h->tail;
        if (h->tail)
            h->tail->host_next = j;
        else
            h->head = j;
        h->tail = j;
        j->blocked = h->head != j;
        if (j->blocked)
            d->nblocked++;
    }
    schedule(d, j);
}

/* Lock held. Adds @p w to @p j's waiters; room in the notice heap was reserved. */
static void link_waiter(struct iha_delivery *d, struct job *j, struct waiter *w)
{
    w->job = j;
    *j->waiters_tail = w;
    j->waiters_tail = &w->next;
    if (w->notice_ms) {
        w->notice.at = w->notice_ms;
        w->notice.seq = d->seq++;
        heap_push(&d->notices, &w->notice);
    }
}

/* Lock held. The next ordered job of @p j's hostname may start once @p j is gone. */
static void unlink_host(struct iha_delivery *d, struct job *j)
{
    struct host *h = j->host;

    if (j->host_prev)
        j->host_prev->host_next = j->host_next;
    else
        h->head = j->host_next;
    if (j->host_next)
        j->host_next->host_prev = j->host_prev;
    else
        h->tail = j->host_prev;
    j->host = NULL;
    j->host_prev = j->host_next = NULL;
    if (j->blocked) {
        d->nblocked--;
    } else if (h->head) {
        h->head->blocked = false;
        d->nblocked--;
        schedule(d, h->head);
    }
    if (!h->head) {
        iha_hmap_remove(d->hosts, &h->node);
        free(h);
    }
}

/* Lock held. */
static void unlink_job(struct iha_delivery *d, struct job *j)
{
    iha_hmap_remove(d->keys, &j->by_key);
    heap_remove(&d->due, &j->due);
    for (struct waiter *w = j->waiters; w; w = w->next)
        heap_remove(&d->notices, &w->notice);
    if (j->host)
        unlink_host(d, j);
    if (j->prev)
        j->prev->next = j->next;
    else
        d->head = j->next;
    if (j->next)
        j->next->prev = j->prev;
    else
        d->tail = j->prev;
    j->prev = j->next = NULL;
    d->njobs--;
}

static void wipe_headers(struct curl_slist *h)
{
    for (; h; h = h->next)
        iha_secret_wipe(h->data, strlen(h->data));
}

/* Takes the easy handle off the multi handle and keeps it for reuse (connection reuse). */
static void release_easy(struct iha_delivery *d, struct job *j)
{
    if (j->easy) {
        curl_multi_remove_handle(d->multi, j->easy);
        if (d->nidle < IDLE_MAX)
            d->idle[d->nidle++] = j->easy;
        else
            curl_easy_cleanup(j->easy);
        j->easy = NULL;
        d->running--;
    }
    wipe_headers(j->headers);
    curl_slist_free_all(j->headers);
    j->headers = NULL;
}

static void copy_uuid(const struct job *j, char *out, size_t size)
{
    json_t *root, *n, *u;

    out[0] = '\0';
    if (!j->resp || j->resp_len == 0)
        return;
    root = json_loadb(j->resp, j->resp_len, 0, NULL);
    n = json_object_get(root, "notification");
    u = json_object_get(json_is_object(n) ? n : root, "notification_uuid");
    if (json_is_string(u))
        snprintf(out, size, "%s", json_string_value(u));
    json_decref(root);
}

static void fill_result(const struct job *j, struct iha_delivery_result *res)
{
    memset(res, 0, sizeof(*res));
    res->outcome = j->outcome;
    res->http_code = j->http_code;
    res->attempts = j->attempts;
    snprintf(res->detail, sizeof(res->detail), "%s", j->detail);
    if (j->http_code >= 200 && j->http_code < 300)
        copy_uuid(j, res->notification_uuid, sizeof(res->notification_uuid));
    res->response_body = j->resp ? j->resp : "";
}

/*
 * Removes @p j from the queue and calls every waiter with the job's last result.
 * Callbacks run without the lock, so they may submit again.
 */
static void complete_job(struct iha_delivery *d, struct job *j)
{
    struct iha_delivery_result res;
    struct waiter *w;

    fill_result(j, &res);

    pthread_mutex_lock(&d->lock);
    res.cancelled = j->cancel;
    unlink_job(d, j);
    w = j->waiters;
    j->waiters = NULL;
    pthread_mutex_unlock(&d->lock);

    while (w) {
        struct waiter *next = w->next;
        w->cb(w->cls, &res);
        free(w);
        w = next;
    }
    job_free(j);
}

/*
 * Calls the attempt callbacks of @p j's waiters (all, or only those whose notice is
 * due when @p notice_now is non-zero) without holding the lock, in batches. Waiters are
 * freed only by complete_job() on this thread, so the cursor stays valid while the
 * lock is released; waiters joining meanwhile are appended behind it.
 */
static void call_attempt_cbs(struct iha_delivery *d, struct job *j, uint64_t notice_now)
{
    struct {
        iha_delivery_attempt_cb cb;
        void *cls;
    } calls[32];
    struct iha_delivery_result res;
    struct waiter *w;
    bool filled = false, blocked, cancelled;

    pthread_mutex_lock(&d->lock);
    w = j->waiters;
    for (;;) {
        size_t n = 0;
        for (; w && n < sizeof(calls) / sizeof(calls[0]); w = w->next) {
            if (!w->on_attempt)
                continue;
            if (notice_now && (!w->notice_ms || w->notice_ms > notice_now))
                continue;
            w->notice_ms = 0;
            heap_remove(&d->notices, &w->notice);
            calls[n].cb = w->on_attempt;
            calls[n].cls = w->cls;
            n++;
        }
        blocked = j->blocked;
        cancelled = j->cancel;
        pthread_mutex_unlock(&d->lock);
        if (!n)
            return;
        if (!filled) {
            fill_result(j, &res);
            res.cancelled = cancelled;
            if (notice_now) {
                res.attempts = 0;
                res.outcome = IHA_OUTCOME_RETRY;
                res.http_code = 0;
                snprintf(res.detail, sizeof(res.detail), "%s",
                         blocked ? "waiting for an earlier notification for the same host"
                                 : "first attempt still running");
            }
            filled = true;
        }
        for (size_t i = 0; i < n; i++)
            calls[i].cb(calls[i].cls, &res);
        if (!w)
            return;
        pthread_mutex_lock(&d->lock);
    }
}

/* ---- curl callbacks ---- */

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *ud)
{
    struct job *j = ud;
    size_t n = size * nmemb;

    if (n > RESP_MAX - j->resp_len) {
        j->resp_over = true;
        return 0; /* abort: no Instance HA answer is this large */
    }
    if (!j->resp && !(j->resp = malloc(RESP_MAX + 1)))
        return 0;
    memcpy(j->resp + j->resp_len, ptr, n);
    j->resp_len += n;
    j->resp[j->resp_len] = '\0';
    return n;
}

static size_t on_header(char *ptr, size_t size, size_t nmemb, void *ud)
{
    struct job *j = ud;
    size_t n = size * nmemb, a, b, o = 0;

    if (iha_http_header_is_status(ptr, n)) {
        j->request_id[0] = '\0'; /* a new response (after 100 Continue) */
        return n;
    }
    if (!iha_http_header_value(ptr, n, "x-openstack-request-id:", &a, &b))
        return n;
    for (size_t i = a; i < b && o + 1 < sizeof(j->request_id); i++) {
        unsigned char c = (unsigned char)ptr[i];
        j->request_id[o++] = (c < 0x20 || c >= 0x7F) ? '?' : (char)c;
    }
    j->request_id[o] = '\0';
    return n;
}

/* ---- attempts ---- */

/* @p again: the attempt will be repeated, so a failure is only a warning. */
static void log_attempt(const struct iha_delivery *d, const struct job *j, bool again)
{
    char attempt[16], code[16];
    enum iha_log_level lvl;

    switch (j->outcome) {
    case IHA_OUTCOME_DELIVERED:
    case IHA_OUTCOME_DUPLICATE:
    case IHA_OUTCOME_MAINTENANCE:
        lvl = IHA_LOG_INFO;
        break;
    case IHA_OUTCOME_RETRY:
        lvl = IHA_LOG_WARN;
        break;
    case IHA_OUTCOME_REJECTED:
    case IHA_OUTCOME_AUTH_ERROR:
    default:
        lvl = IHA_LOG_ERROR;
        break;
    }
    if (!iha_log_enabled(lvl))
        return;
    snprintf(attempt, sizeof(attempt), "%u", j->attempts);
    snprintf(code, sizeof(code), "%ld", j->http_code);
    IHA_LOG(lvl, "delivery attempt", "id", j->n.id, "host", j->n.hostname, "type",
            iha_ntype_name(j->n.type, d->dialect), "attempt", attempt, "http_code", code, "outcome",
            iha_outcome_name(j->outcome), "detail", j->detail, "request_id",
            j->request_id[0] ? j->request_id : NULL);
}

static void add_token(struct iha_delivery *d, struct curl_slist **h, bool *ok)
{
    enum iha_rc rc;
    struct curl_slist *n;

    if (!d->token) {
        rc = IHA_E_NOTFOUND;
    } else {
        rc = iha_token_source_header(d->token, d->auth_header, d->hdrbuf, TOKEN_HDR_MAX);
    }
    if (rc == IHA_OK) {
        n = curl_slist_append(*h, d->hdrbuf);
        iha_secret_wipe(d->hdrbuf, strlen(d->hdrbuf));
        if (!n) {
            *ok = false;
            return;
        }
        *h = n;
        d->token_warned = false;
        return;
    }
    if (!d->token_warned) {
        char desc[300];
        iha_token_source_describe(d->token, desc, sizeof(desc));
        IHA_LOG(IHA_LOG_WARN, "no service token available; sending without one", "source", desc,
                "reason", iha_rc_str(rc));
        d->token_warned = true;
    }
}

#define SETOPT(opt, val)                                                                           \
    do {                                                                                           \
        if (cc == CURLE_OK)                                                                        \
            cc = curl_easy_setopt(e, opt, val);                                                    \
    } while (0)

/* Starts one POST for @p j. @return false when it could not be started (detail set). */
static bool start_attempt(struct iha_delivery *d, struct job *j)
{
    struct curl_slist *h = NULL, *n;
    bool ok = true;
    CURLcode cc = CURLE_OK;
    CURL *e;

    j->resp_len = 0;
    j->resp_over = false;
    j->request_id[0] = '\0';
    j->errbuf[0] = '\0';
    if (j->resp)
        j->resp[0] = '\0';
    j->attempts++;
    if (j->attempts == 1)
        j->first_ms = now_ms();

    if (d->nidle > 0) {
        e = d->idle[--d->nidle];
        curl_easy_reset(e);
    } else {
        e = curl_easy_init();
    }
    if (!e) {
        snprintf(j->detail, sizeof(j->detail), "cannot create a curl handle");
        return false;
    }

    static const char *const fixed[] = {"Content-Type: application/json",
                                        "Accept: application/json", "Expect:"};
    for (size_t i = 0; ok && i < sizeof(fixed) / sizeof(fixed[0]); i++) {
        n = curl_slist_append(h, fixed[i]);
        if (n)
            h = n;
        else
            ok = false;
    }
    if (ok)
        add_token(d, &h, &ok);
    if (!ok) {
        snprintf(j->detail, sizeof(j->detail), "out of memory building headers");
        goto fail;
    }

    SETOPT(CURLOPT_URL, d->url);
    SETOPT(CURLOPT_PRIVATE, (void *)j);
    SETOPT(CURLOPT_NOSIGNAL, 1L);
    SETOPT(CURLOPT_PROTOCOLS_STR, "http,https");
    SETOPT(CURLOPT_FOLLOWLOCATION, 0L);
    SETOPT(CURLOPT_CONNECTTIMEOUT_MS, d->connect_timeout_ms);
    SETOPT(CURLOPT_TIMEOUT_MS, d->timeout_ms);
    SETOPT(CURLOPT_TCP_KEEPALIVE, 1L);
    SETOPT(CURLOPT_MAXAGE_CONN, 60L);
    SETOPT(CURLOPT_USERAGENT, "iha-gateway/" IHA_VERSION);
    SETOPT(CURLOPT_HTTPHEADER, h);
    SETOPT(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)j->body_len);
    SETOPT(CURLOPT_POSTFIELDS, j->body);
    SETOPT(CURLOPT_WRITEFUNCTION, on_body);
    SETOPT(CURLOPT_WRITEDATA, (void *)j);
    SETOPT(CURLOPT_HEADERFUNCTION, on_header);
    SETOPT(CURLOPT_HEADERDATA, (void *)j);
    SETOPT(CURLOPT_ERRORBUFFER, j->errbuf);
    if (cc != CURLE_OK) {
        snprintf(j->detail, sizeof(j->detail), "curl option: %s", curl_easy_strerror(cc));
        goto fail;
    }
    /* Reused handles were reset above, so the TLS options are set on every attempt. */
    if (iha_tls_apply(e, d->tls) != IHA_OK) {
        snprintf(j->detail, sizeof(j->detail), "the TLS options of instance_ha.tls are refused");
        goto fail;
    }
    if (curl_multi_add_handle(d->multi, e) != CURLM_OK) {
        snprintf(j->detail, sizeof(j->detail), "cannot add the curl handle");
        goto fail;
    }
    j->easy = e;
    j->headers = h;
    d->running++;
    return true;
fail:
    wipe_headers(h);
    curl_slist_free_all(h);
    curl_easy_cleanup(e);
    return false;
}

/* Decides what follows an attempt whose outcome, code and detail are set in @p j. */
static void after_attempt(struct iha_delivery *d, struct job *j)
{
    uint64_t now = now_ms();
    bool retry = j->outcome == IHA_OUTCOME_RETRY, cancel;

    if (j->attempts > 0)
        call_attempt_cbs(d, j, 0);
    if (j->outcome == IHA_OUTCOME_AUTH_ERROR && j->http_code == 401 && j->auth_retried &&
        j->retry_unauthorized)
        retry = true; /* the operator may still renew the token */
    pthread_mutex_lock(&d->lock);
    cancel = j->cancel;
    pthread_mutex_unlock(&d->lock);
    if (cancel && !iha_outcome_is_delivered(j->outcome)) {
        log_attempt(d, j, false);
        snprintf(j->detail, sizeof(j->detail), "cancelled");
    } else if (retry) {
        uint64_t delay = backoff_ms(d, j->attempts);
        uint64_t deadline = j->deadline_ms ? j->deadline_ms : j->first_ms + d->retry_for_ms;
        if (now + delay <= deadline) {
            log_attempt(d, j, true);
            make_due(d, j, now + delay);
            return;
        }
        log_attempt(d, j, false);
        IHA_LOG(IHA_LOG_ERROR, "delivery retry budget exhausted", "id", j->n.id, "host",
                j->n.hostname, "detail", j->detail);
    } else if (j->outcome == IHA_OUTCOME_AUTH_ERROR && j->http_code == 401 && !j->auth_retried) {
        /* The token file may have been renewed since this attempt started. */
        log_attempt(d, j, true);
        iha_token_source_invalidate(d->token); /* Keystone: one shared re-authentication */
        j->auth_retried = true;
        make_due(d, j, now);
        return;
    } else {
        log_attempt(d, j, false);
    }
    complete_job(d, j);
}

static void finish_attempt(struct iha_delivery *d, struct job *j, CURLcode res)
{
    long code = 0;

    curl_easy_getinfo(j->easy, CURLINFO_RESPONSE_CODE, &code);
    /* An answer too large to keep is still an answer; any other failure is transport. */
    if (res != CURLE_OK && !(res == CURLE_WRITE_ERROR && j->resp_over))
        code = 0;
    release_easy(d, j);
    j->http_code = code;
    j->outcome = iha_classify(code, j->resp, j->resp_len, j->detail, sizeof(j->detail));
    if (code == 0)
        snprintf(j->detail, sizeof(j->detail), "%s",
                 j->errbuf[0] ? j->errbuf : curl_easy_strerror(res));
    after_attempt(d, j);
}

static void drain(struct iha_delivery *d)
{
    CURLMsg *m;
    int left;

    while ((m = curl_multi_info_read(d->multi, &left))) {
        char *priv = NULL;
        if (m->msg != CURLMSG_DONE)
            continue;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, &priv);
        if (priv)
            finish_attempt(d, (struct job *)(void *)priv, m->data.result);
    }
}

/*
 * Lock held. Takes waiters whose notice time has come off the notice heap and collects
 * their jobs (at most START_BATCH distinct ones) into @p out.
 */
static size_t take_notices(struct iha_delivery *d, uint64_t now, struct job **out)
{
    size_t n = 0;
    struct heap_item *top;

    while ((top = heap_top(&d->notices)) && top->at <= now) {
        struct job *j = waiter_of_notice(top)->job;
        bool have = false;
        for (size_t i = 0; i < n && !have; i++)
            have = out[i] == j;
        if (!have) {
            if (n == START_BATCH)
                break; /* the next turn comes at once: the top is due */
            out[n++] = j;
        }
        heap_remove(&d->notices, top);
        d->probes++;
    }
    return n;
}

/* @return how long the loop may sleep: until the earliest due job, notice or cancel. */
static int poll_timeout(struct iha_delivery *d)
{
    uint64_t now = now_ms(), next = UINT64_MAX;
    struct heap_item *top;

    pthread_mutex_lock(&d->lock);
    if (d->cancel_head)
        next = now;
    top = heap_top(&d->due);
    /* At MAX_RUNNING a finishing transfer wakes the poll, not the clock. */
    if (top && d->running < MAX_RUNNING && top->at < next)
        next = top->at;
    top = heap_top(&d->notices);
    if (top && top->at < next)
        next = top->at;
    pthread_mutex_unlock(&d->lock);
    if (next <= now)
        return 0;
    return next - now < POLL_MAX_MS ? (int)(next - now) : POLL_MAX_MS;
}

static void *thread_main(void *arg)
{
    struct iha_delivery *d = arg;

    for (;;) {
        struct job *start[START_BATCH], *cancelled[START_BATCH], *notice[START_BATCH];
        size_t nstart = 0, ncancel = 0, nnotice;
        uint64_t now = now_ms();
        struct heap_item *top;
        int running = 0;

        pthread_mutex_lock(&d->lock);
        if (d->stop) {
            pthread_mutex_unlock(&d->lock);
            break;
        }
        d->turns++;
        nnotice = take_notices(d, now, notice);
        while (ncancel < START_BATCH && d->cancel_head) {
            struct job *j = d->cancel_head;
            d->cancel_head = j->cancel_next;
            if (!d->cancel_head)
                d->cancel_tail = NULL;
            j->cancel_next = NULL;
            j->state = JOB_RUNNING; /* taken: completed below */
            cancelled[ncancel++] = j;
            d->probes++;
        }
        while (nstart < START_BATCH && d->running + nstart < MAX_RUNNING &&
               (top = heap_top(&d->due)) && top->at <= now) {
            struct job *j = job_of_due(top);
            heap_remove(&d->due, top);
            j->state = JOB_RUNNING;
            start[nstart++] = j;
            d->probes++;
        }
        pthread_mutex_unlock(&d->lock);

        for (size_t i = 0; i < nnotice; i++) {
            bool taken = false;
            for (size_t k = 0; k < ncancel; k++)
                taken = taken || cancelled[k] == notice[i];
            if (!taken)
                call_attempt_cbs(d, notice[i], now);
        }
        for (size_t i = 0; i < ncancel; i++) {
            cancelled[i]->outcome = IHA_OUTCOME_RETRY;
            snprintf(cancelled[i]->detail, sizeof(cancelled[i]->detail), "cancelled");
            complete_job(d, cancelled[i]);
        }
        for (size_t i = 0; i < nstart; i++) {
            if (!start_attempt(d, start[i])) {
                start[i]->http_code = 0;
                start[i]->outcome = IHA_OUTCOME_RETRY;
                after_attempt(d, start[i]);
            }
        }
        curl_multi_perform(d->multi, &running);
        drain(d);
        curl_multi_poll(d->multi, NULL, 0, poll_timeout(d), NULL);
    }
    return NULL;
}

/* ---- public ---- */

static void delivery_destroy(struct iha_delivery *d)
{
    for (size_t i = 0; i < d->nidle; i++)
        curl_easy_cleanup(d->idle[i]);
    if (d->multi)
        curl_multi_cleanup(d->multi);
    if (d->hdrbuf) {
        iha_secret_wipe(d->hdrbuf, TOKEN_HDR_MAX);
        free(d->hdrbuf);
    }
    free(d->url);
    iha_hmap_free(d->keys);
    iha_hmap_free(d->hosts);
    free(d->due.a);
    free(d->notices.a);
    pthread_mutex_destroy(&d->lock);
    free(d);
}

static char *make_url(const char *base)
{
    static const char path[] = "/v1/notifications";
    size_t len = strlen(base);
    char *url;

    while (len > 0 && base[len - 1] == '/')
        len--;
    url = malloc(len + sizeof(path));
    if (!url)
        return NULL;
    memcpy(url, base, len);
    memcpy(url + len, path, sizeof(path));
    return url;
}

enum iha_rc iha_delivery_new(const struct iha_delivery_config *cfg, struct iha_delivery **out)
{
    struct iha_delivery *d;
    uint64_t seed = 0;

    *out = NULL;
    if (!cfg || !cfg->url)
        return IHA_E_INVAL;
    d = calloc(1, sizeof(*d));
    if (!d)
        return IHA_E_NOMEM;
    if (pthread_mutex_init(&d->lock, NULL) != 0) {
        free(d);
        return IHA_E_NOMEM;
    }
    d->dialect = cfg->dialect;
    d->token = cfg->token;
    d->tls = cfg->tls;
    d->auth_header = cfg->dialect == IHA_DIALECT_XLOUD ? "Authorization" : "X-Auth-Token";
    d->connect_timeout_ms =
        (long)(cfg->connect_timeout_ms ? cfg->connect_timeout_ms : DEFAULT_CONNECT_TIMEOUT_MS);
    d->timeout_ms = (long)(cfg->timeout_ms ? cfg->timeout_ms : DEFAULT_TIMEOUT_MS);
    d->retry_for_ms = cfg->retry_for_ms;
    d->max_backoff_ms = cfg->max_backoff_ms ? cfg->max_backoff_ms : BACKOFF_MAX_MS;
    d->max_jobs = cfg->max_jobs ? cfg->max_jobs : DEFAULT_MAX_JOBS;
    if (getrandom(&seed, sizeof(seed), GRND_NONBLOCK) != (ssize_t)sizeof(seed) || seed == 0)
        seed = now_ms() ^ (uint64_t)(uintptr_t)d ^ 0x9E3779B97F4A7C15ULL;
    d->rng = seed;

    d->url = make_url(cfg->url);
    d->hdrbuf = malloc(TOKEN_HDR_MAX);
    d->keys =
        iha_hmap_new(&job_key_ops, d->max_jobs < KEY_BUCKETS_MAX ? d->max_jobs : KEY_BUCKETS_MAX);
    d->hosts =
        iha_hmap_new(&host_ops, d->max_jobs < HOST_BUCKETS_MAX ? d->max_jobs : HOST_BUCKETS_MAX);
    if (!d->url || !d->hdrbuf || !d->keys || !d->hosts) {
        delivery_destroy(d);
        return IHA_E_NOMEM;
    }
    d->multi = curl_multi_init();
    if (!d->multi) {
        delivery_destroy(d);
        return IHA_E_IO;
    }
    curl_multi_setopt(d->multi, CURLMOPT_MAX_HOST_CONNECTIONS, 8L);
    if (pthread_create(&d->thread, NULL, thread_main, d) != 0) {
        delivery_destroy(d);
        return IHA_E_IO;
    }
    d->thread_started = true;
    *out = d;
    return IHA_OK;
}

enum iha_rc iha_delivery_submit(struct iha_delivery *d, const struct iha_notification *n,
                                const char *key, iha_delivery_cb cb, void *cls)
{
    return iha_delivery_submit_opts(d, n, key, NULL, cb, cls);
}

enum iha_rc iha_delivery_submit_opts(struct iha_delivery *d, const struct iha_notification *n,
                                     const char *key, const struct iha_delivery_opts *opts,
                                     iha_delivery_cb cb, void *cls)
{
    enum iha_rc rc = IHA_E_NOMEM;
    struct waiter *w = calloc(1, sizeof(*w));
    struct job *j = calloc(1, sizeof(*j)), *existing;
    struct host *h = NULL;
    json_t *body = NULL;

    if (!d || !n || !key || !cb) {
        rc = IHA_E_INVAL;
        goto cleanup;
    }
    if (!w || !j)
        goto cleanup;
    w->notice.idx = NOT_IN_HEAP;
    j->due.idx = NOT_IN_HEAP;
    w->cb = cb;
    w->cls = cls;
    if (opts) {
        uint64_t now = now_ms();
        w->on_attempt = opts->on_attempt;
        if (opts->on_attempt && opts->notice_after_ms)
            w->notice_ms = now + opts->notice_after_ms;
        j->ordered = opts->per_host_order;
        j->retry_unauthorized = opts->retry_unauthorized;
        j->deadline_ms = now + opts->retry_for_ms;
    }
    iha_notification_init(&j->n);
    if (!(j->key = strdup(key)))
        goto cleanup;
    j->key_len = strlen(key);
    rc = iha_notification_copy(&j->n, n);
    if (rc != IHA_OK)
        goto cleanup;
    rc = IHA_E_NOMEM;
    body = iha_notification_body(n, d->dialect);
    if (!body || !(j->body = json_dumps(body, JSON_COMPACT)))
        goto cleanup;
    j->body_len = strlen(j->body);
    j->state = JOB_DUE;
    j->outcome = IHA_OUTCOME_RETRY;

    j->waiters_tail = &j->waiters;

    /* Everything that can fail comes before the first link, so a failure changes nothing. */
    pthread_mutex_lock(&d->lock);
    existing = find_job(d, j->key, j->key_len);
    if (w->notice_ms && !heap_reserve(&d->notices, d->notices.n + 1)) {
        rc = IHA_E_NOMEM;
    } else if (existing) {
        link_waiter(d, existing, w);
        w = NULL;
        rc = IHA_OK;
    } else if (d->njobs >= d->max_jobs) {
        rc = IHA_E_LIMIT;
    } else if (!heap_reserve(&d->due, d->njobs + 1) || (j->ordered && !(h = get_host(d, &j->n)))) {
        rc = IHA_E_NOMEM;
    } else {
        link_job(d, j, h);
        link_waiter(d, j, w);
        j = NULL;
        w = NULL;
        rc = IHA_OK;
    }
    pthread_mutex_unlock(&d->lock);
    if (rc == IHA_OK)
        curl_multi_wakeup(d->multi);
cleanup:
    json_decref(body);
    job_free(j);
    free(w);
    return rc;
}

enum iha_rc iha_delivery_cancel(struct iha_delivery *d, const char *key)
{
    struct job *j;

    pthread_mutex_lock(&d->lock);
    j = find_job(d, key, strlen(key));
    if (j) {
        j->cancel = true;
        if (j->state == JOB_DUE)
            queue_cancel(d, j); /* a running one ends after its attempt */
    }
    pthread_mutex_unlock(&d->lock);
    if (j)
        curl_multi_wakeup(d->multi);
    return j ? IHA_OK : IHA_E_NOTFOUND;
}

enum iha_rc iha_delivery_kick(struct iha_delivery *d, const char *key)
{
    struct job *j;

    pthread_mutex_lock(&d->lock);
    j = find_job(d, key, strlen(key));
    if (j && j->state == JOB_DUE) {
        bool queued = j->due.idx != NOT_IN_HEAP;
        heap_remove(&d->due, &j->due);
        j->due.at = 0;
        if (queued)
            heap_push(&d->due, &j->due); /* its own slot: no allocation */
    }
    pthread_mutex_unlock(&d->lock);
    if (j)
        curl_multi_wakeup(d->multi);
    return j ? IHA_OK : IHA_E_NOTFOUND;
}

size_t iha_delivery_pending(struct iha_delivery *d)
{
    size_t n;

    pthread_mutex_lock(&d->lock);
    n = d->njobs;
    pthread_mutex_unlock(&d->lock);
    return n;
}

void iha_delivery_free(struct iha_delivery *d)
{
    if (!d)
        return;
    if (d->thread_started) {
        pthread_mutex_lock(&d->lock);
        d->stop = true;
        pthread_mutex_unlock(&d->lock);
        curl_multi_wakeup(d->multi);
        pthread_join(d->thread, NULL);
    }
    /* The thread is gone: everything it owned is ours now. */
    d->cancel_head = d->cancel_tail = NULL;
    while (d->head) {
        struct job *j = d->head;
        release_easy(d, j);
        j->outcome = IHA_OUTCOME_RETRY;
        j->cancel = true;
        snprintf(j->detail, sizeof(j->detail), "shutting down");
        complete_job(d, j);
    }
    delivery_destroy(d);
}

void iha_delivery_debug_stats(struct iha_delivery *d, struct iha_delivery_debug *out)
{
    pthread_mutex_lock(&d->lock);
    out->turns = d->turns;
    out->probes = d->probes + d->due.probes + d->notices.probes + iha_hmap_probes(d->keys) +
                  iha_hmap_probes(d->hosts);
    out->jobs = d->njobs;
    out->due = d->due.n;
    out->blocked = d->nblocked;
    out->hosts = iha_hmap_count(d->hosts);
    out->notices = d->notices.n;
    pthread_mutex_unlock(&d->lock);
}
