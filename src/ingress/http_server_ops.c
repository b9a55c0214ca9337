/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file http_server_ops.c
 * @brief The operator's routes: health, readiness, metrics, the status page and its
 *        JSON, the event list.
 *
 * Answered on the HTTP thread from snapshots the daemon hands over; none of them touches
 * the pipeline's locks.
 */
#include "http_server_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "events.h"
#include "status_page.h"

/*
 * Events on the status page, and the default and maximum of /api/v1/events?limit=; the
 * maximum is what the daemon keeps (main.c), so a larger limit never costs more.
 */
#define PAGE_EVENTS 200
#define EVENTS_LIMIT_DEFAULT 100
#define EVENTS_LIMIT_MAX 1000

/* ---- MHD callbacks ----------------------------------------------------------------------- */

enum MHD_Result iha_http_answer_fixed(struct iha_http *h, struct MHD_Connection *c,
                                      const struct route *rt, const char *method, const char *url,
                                      long long t0)
{
    struct MHD_Response *resp;
    unsigned status = 200;
    enum MHD_Result ret;

    if (rt->kind == R_HEALTHY) {
        iha_http_log_request(h, c, method, url, 200, t0);
        return MHD_queue_response(c, 200, h->ok_response);
    }
    pthread_mutex_lock(&h->ready_lock);
    if (h->ready) {
        resp = h->ok_response;
    } else {
        resp = h->not_ready;
        status = 503;
    }
    ret = MHD_queue_response(c, status, resp);
    pthread_mutex_unlock(&h->ready_lock);
    iha_http_log_request(h, c, method, url, status, t0);
    return ret;
}

/* ---- operability routes ------------------------------------------------------------------ */

/* Queues @p text (malloc'ed, stolen) with @p content_type. */
static enum MHD_Result queue_text(struct MHD_Connection *c, unsigned status, char *text,
                                  const char *content_type)
{
    struct MHD_Response *resp;
    enum MHD_Result ret;

    if (!text)
        return iha_http_queue_json(c, 500, NULL, NULL, NULL);
    resp = MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        free(text);
        return MHD_NO;
    }
    if (MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type) != MHD_YES ||
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store") != MHD_YES) {
        MHD_destroy_response(resp);
        return MHD_NO;
    }
    ret = MHD_queue_response(c, status, resp);
    MHD_destroy_response(resp);
    return ret;
}

/* ?limit=N: digits only, 1..EVENTS_LIMIT_MAX; anything else is the default. */
static size_t events_limit(struct MHD_Connection *c)
{
    const char *s = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "limit");
    unsigned long long v;

    if (!s || !iha_http_parse_content_length(s, &v) || v == 0)
        return EVENTS_LIMIT_DEFAULT;
    return v > EVENTS_LIMIT_MAX ? EVENTS_LIMIT_MAX : (size_t)v;
}

static json_t *status_json(struct iha_http *h)
{
    return h->ops.status ? h->ops.status(h->ops.cls) : json_object();
}

enum MHD_Result iha_http_answer_ops(struct iha_http *h, struct MHD_Connection *c,
                                    const struct route *rt, const char *method, const char *url,
                                    long long t0)
{
    const char *host = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "hostname");
    char limit[24];
    size_t n;
    json_t *status, *events;
    char *text = NULL;

    switch (rt->kind) {
    case R_METRICS:
        if (h->ops.refresh)
            h->ops.refresh(h->ops.cls);
        if (h->metrics && h->verifier)
            iha_metrics_set(h->metrics, "iha_gateway_auth_basic_verifications_pending",
                            (double)iha_auth_verifier_pending(h->verifier));
        iha_http_log_request(h, c, method, url, 200, t0);
        /* Counted before rendering, so a scrape sees itself. */
        text = h->metrics ? iha_metrics_render(h->metrics) : strdup("");
        return queue_text(c, 200, text, "text/plain; version=0.0.4; charset=utf-8");
    case R_PAGE:
        status = status_json(h);
        events = iha_events_list(h->ops.events, host, PAGE_EVENTS);
        text = status && events ? iha_status_page_render(status, events, host) : NULL;
        json_decref(status);
        json_decref(events);
        iha_http_log_request(h, c, method, url, text ? 200 : 500, t0);
        return queue_text(c, 200, text, "text/html; charset=utf-8");
    case R_STATUS:
        iha_http_log_request(h, c, method, url, 200, t0);
        return iha_http_queue_json(c, 200, status_json(h), NULL, NULL);
    case R_HOLDS:
        /* The policy part of the status, so a script needs no more than it asks for. */
        status = status_json(h);
        events = json_incref(json_object_get(status, "policy"));
        json_decref(status);
        iha_http_log_request(h, c, method, url, 200, t0);
        return iha_http_queue_json(c, 200, events ? events : json_pack("{s:b}", "enabled", false),
                                   NULL, NULL);
    case R_EVENTS:
        iha_http_log_request(h, c, method, url, 200, t0);
        n = events_limit(c);
        /* Says how many were asked of the store, so a capped ?limit= is visible. */
        snprintf(limit, sizeof(limit), "%zu", n);
        return iha_http_queue_json(c, 200, iha_events_list(h->ops.events, host, n),
                                   "X-Events-Limit", limit);
    default:
        return iha_http_answer_fixed(h, c, rt, method, url, t0);
    }
}

struct MHD_Response *iha_http_make_not_ready(const char *why)
{
    json_t *body = iha_http_error_body(FMT_GATEWAY, 503, why && *why ? why : "not ready", "");
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    struct MHD_Response *resp;

    json_decref(body);
    if (!text)
        return NULL;
    resp = MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        free(text);
        return NULL;
    }
    if (MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json") !=
        MHD_YES) {
        MHD_destroy_response(resp);
        return NULL;
    }
    return resp;
}

void iha_http_set_ready(struct iha_http *h, bool ready, const char *why)
{
    struct MHD_Response *resp = NULL;
    struct MHD_Response *old = NULL;

    if (!h)
        return;
    if (!ready)
        resp = iha_http_make_not_ready(why);
    pthread_mutex_lock(&h->ready_lock);
    h->ready = ready;
    if (resp) {
        old = h->not_ready;
        h->not_ready = resp;
    }
    pthread_mutex_unlock(&h->ready_lock);
    /* MHD holds its own reference to a response still being sent. */
    if (old)
        MHD_destroy_response(old);
}
