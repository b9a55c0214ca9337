/* SPDX-License-Identifier: Apache-2.0 */
/** @file delivery.c @brief One thread with a libcurl multi handle POSTs notifications and retries.
 *
 * This file holds the object's life (new, free), the submission side other threads call
 * (submit, cancel, kick) and the delivery thread's loop. The loop's parts live apart so
 * each can be read on its own: the indexes of pending jobs (delivery_jobs.c, on the heap
 * of delivery_heap.c), setting up one POST (delivery_request.c), and what follows an
 * answer (delivery_outcome.c).
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
#include <sys/random.h>

#include "clock.h"
#include "delivery_debug.h"
#include "delivery_int.h"
#include "hashmap.h"

#define POLL_MAX_MS 100
#define BACKOFF_MAX_MS 5000u
#define MAX_RUNNING 64 /* easy handles in flight; further due jobs wait their turn */
#define START_BATCH 16 /* jobs started per loop turn */
#define DEFAULT_CONNECT_TIMEOUT_MS 3000u
#define DEFAULT_TIMEOUT_MS 10000u
#define DEFAULT_MAX_JOBS 1024u
#define KEY_BUCKETS_MAX 65536u /* presized buckets of the key index; it grows beyond */
#define HOST_BUCKETS_MAX 4096u

static uint64_t now_ms(void)
{
    return iha_clock_ms();
}

static struct job *job_of_due(struct heap_item *it)
{
    return (struct job *)(void *)((char *)it - offsetof(struct job, due));
}

static struct waiter *waiter_of_notice(struct heap_item *it)
{
    return (struct waiter *)(void *)((char *)it - offsetof(struct waiter, notice));
}

/*
 * Lock held. Takes waiters whose notice time has come off the notice heap and collects
 * their jobs (at most START_BATCH distinct ones) into @p out.
 */
static size_t take_notices(struct iha_delivery *d, uint64_t now, struct job **out)
{
    size_t n = 0;
    struct heap_item *top;

    while ((top = iha_delivery_heap_top(&d->notices)) && top->at <= now) {
        struct job *j = waiter_of_notice(top)->job;
        bool have = false;
        for (size_t i = 0; i < n && !have; i++)
            have = out[i] == j;
        if (!have) {
            if (n == START_BATCH)
                break; /* the next turn comes at once: the top is due */
            out[n++] = j;
        }
        iha_delivery_heap_remove(&d->notices, top);
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
    top = iha_delivery_heap_top(&d->due);
    /* At MAX_RUNNING a finishing transfer wakes the poll, not the clock. */
    if (top && d->running < MAX_RUNNING && top->at < next)
        next = top->at;
    top = iha_delivery_heap_top(&d->notices);
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
               (top = iha_delivery_heap_top(&d->due)) && top->at <= now) {
            struct job *j = job_of_due(top);
            iha_delivery_heap_remove(&d->due, top);
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
                iha_delivery_call_attempt_cbs(d, notice[i], now);
        }
        for (size_t i = 0; i < ncancel; i++) {
            cancelled[i]->outcome = IHA_OUTCOME_RETRY;
            snprintf(cancelled[i]->detail, sizeof(cancelled[i]->detail), "cancelled");
            iha_delivery_complete_job(d, cancelled[i]);
        }
        for (size_t i = 0; i < nstart; i++) {
            if (!iha_delivery_start_attempt(d, start[i])) {
                start[i]->http_code = 0;
                start[i]->outcome = IHA_OUTCOME_RETRY;
                iha_delivery_after_attempt(d, start[i]);
            }
        }
        curl_multi_perform(d->multi, &running);
        iha_delivery_drain(d);
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

    d->url = iha_delivery_make_url(cfg->url);
    d->hdrbuf = malloc(TOKEN_HDR_MAX);
    d->keys = iha_hmap_new(&iha_delivery_job_key_ops,
                           d->max_jobs < KEY_BUCKETS_MAX ? d->max_jobs : KEY_BUCKETS_MAX);
    d->hosts = iha_hmap_new(&iha_delivery_host_ops,
                            d->max_jobs < HOST_BUCKETS_MAX ? d->max_jobs : HOST_BUCKETS_MAX);
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
    existing = iha_delivery_find_job(d, j->key, j->key_len);
    if (w->notice_ms && !iha_delivery_heap_reserve(&d->notices, d->notices.n + 1)) {
        rc = IHA_E_NOMEM;
    } else if (existing) {
        iha_delivery_link_waiter(d, existing, w);
        w = NULL;
        rc = IHA_OK;
    } else if (d->njobs >= d->max_jobs) {
        rc = IHA_E_LIMIT;
    } else if (!iha_delivery_heap_reserve(&d->due, d->njobs + 1) ||
               (j->ordered && !(h = iha_delivery_get_host(d, &j->n)))) {
        rc = IHA_E_NOMEM;
    } else {
        iha_delivery_link_job(d, j, h);
        iha_delivery_link_waiter(d, j, w);
        j = NULL;
        w = NULL;
        rc = IHA_OK;
    }
    pthread_mutex_unlock(&d->lock);
    if (rc == IHA_OK)
        curl_multi_wakeup(d->multi);
cleanup:
    json_decref(body);
    iha_delivery_job_free(j);
    free(w);
    return rc;
}

enum iha_rc iha_delivery_cancel(struct iha_delivery *d, const char *key)
{
    struct job *j;

    pthread_mutex_lock(&d->lock);
    j = iha_delivery_find_job(d, key, strlen(key));
    if (j) {
        j->cancel = true;
        if (j->state == JOB_DUE)
            iha_delivery_queue_cancel(d, j); /* a running one ends after its attempt */
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
    j = iha_delivery_find_job(d, key, strlen(key));
    if (j && j->state == JOB_DUE) {
        bool queued = j->due.idx != NOT_IN_HEAP;
        iha_delivery_heap_remove(&d->due, &j->due);
        j->due.at = 0;
        if (queued)
            iha_delivery_heap_push(&d->due, &j->due); /* its own slot: no allocation */
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
        iha_delivery_release_easy(d, j);
        j->outcome = IHA_OUTCOME_RETRY;
        j->cancel = true;
        snprintf(j->detail, sizeof(j->detail), "shutting down");
        iha_delivery_complete_job(d, j);
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
