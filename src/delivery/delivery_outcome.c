/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file delivery_outcome.c
 * @brief What follows an attempt: the answer is classified and logged, then the job is
 *        retried after a backoff, retried once for a renewed token, or completed and its
 *        waiters called.
 *
 * Separate from the request set-up and from the loop: this is where a notification is
 * declared delivered, refused or given up, so it deserves to be read on its own.
 */
#include "delivery_int.h"

#include <curl/curl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "log.h"

#define BACKOFF_FIRST_MS 500u

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

void iha_delivery_complete_job(struct iha_delivery *d, struct job *j)
{
    struct iha_delivery_result res;
    struct waiter *w;

    fill_result(j, &res);

    pthread_mutex_lock(&d->lock);
    res.cancelled = j->cancel;
    iha_delivery_unlink_job(d, j);
    w = j->waiters;
    j->waiters = NULL;
    pthread_mutex_unlock(&d->lock);

    while (w) {
        struct waiter *next = w->next;
        w->cb(w->cls, &res);
        free(w);
        w = next;
    }
    iha_delivery_job_free(j);
}

void iha_delivery_call_attempt_cbs(struct iha_delivery *d, struct job *j, uint64_t notice_now)
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
            iha_delivery_heap_remove(&d->notices, &w->notice);
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

void iha_delivery_after_attempt(struct iha_delivery *d, struct job *j)
{
    uint64_t now = iha_clock_ms();
    bool retry = j->outcome == IHA_OUTCOME_RETRY, cancel;

    if (j->attempts > 0)
        iha_delivery_call_attempt_cbs(d, j, 0);
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
            iha_delivery_make_due(d, j, now + delay);
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
        iha_delivery_make_due(d, j, now);
        return;
    } else {
        log_attempt(d, j, false);
    }
    iha_delivery_complete_job(d, j);
}

static void finish_attempt(struct iha_delivery *d, struct job *j, CURLcode res)
{
    long code = 0;

    curl_easy_getinfo(j->easy, CURLINFO_RESPONSE_CODE, &code);
    /* An answer too large to keep is still an answer; any other failure is transport. */
    if (res != CURLE_OK && !(res == CURLE_WRITE_ERROR && j->resp_over))
        code = 0;
    iha_delivery_release_easy(d, j);
    j->http_code = code;
    j->outcome = iha_classify(code, j->resp, j->resp_len, j->detail, sizeof(j->detail));
    if (code == 0)
        snprintf(j->detail, sizeof(j->detail), "%s",
                 j->errbuf[0] ? j->errbuf : curl_easy_strerror(res));
    iha_delivery_after_attempt(d, j);
}

void iha_delivery_drain(struct iha_delivery *d)
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
