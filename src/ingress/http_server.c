/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file http_server.c
 * @brief A request from libmicrohttpd's first call through its headers,
 *        authentication and bounded body to ingest, and its end.
 *
 * The other parts, one job each, share the server's state through http_server_int.h.
 */
#include "http_server_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "form.h"

/* ---- request context --------------------------------------------------------------------- */

static void req_destroy(struct req *r)
{
    iha_auth_job_free(r->auth_job);
    iha_buf_free(&r->body);
    json_decref(r->json);
    json_decref(r->reply_body);
    pthread_mutex_destroy(&r->lock);
    free(r);
}

/* Drops one reference; called with r->lock held, returns with it released. */
void iha_http_req_unref_unlock(struct req *r)
{
    bool last = --r->refs == 0;

    pthread_mutex_unlock(&r->lock);
    if (last)
        req_destroy(r);
}

static enum MHD_Result run_ingest(struct iha_http *h, struct req *r, const char *method,
                                  const char *url)
{
    const struct route *rt = r->route;
    json_error_t jerr;
    struct iha_err err;
    char detail[sizeof(jerr.text) + 96];
    enum iha_rc rc;
    unsigned status;

    if (r->too_large) {
        snprintf(detail, sizeof(detail), "request body exceeds %zu bytes", h->max_body);
        return iha_http_reject(h, r->conn, method, url, rt->format, 413, detail, "");
    }
    /* A keep-alive connection may still send while we stop; MHD cannot stop with it suspended. */
    if (atomic_load(&h->stopping))
        return iha_http_reject(h, r->conn, method, url, rt->format, 503,
                               "the gateway is shutting down", "");
    if (rt->kind == R_RELOAD) {
        r->json = json_null(); /* the body, if any, is not read */
    } else if (r->form) {
        iha_err_clear(&err);
        if (iha_form_decode(r->body.p ? r->body.p : "", r->body.len, &r->json, &err) != IHA_OK)
            return iha_http_reject(h, r->conn, method, url, rt->format, 400, err.msg, err.field);
    } else {
        r->json =
            json_loadb(r->body.p ? r->body.p : "", r->body.len, JSON_REJECT_DUPLICATES, &jerr);
        if (!r->json) {
            snprintf(detail, sizeof(detail), "invalid JSON at line %d column %d (position %d): %s",
                     jerr.line, jerr.column, jerr.position, jerr.text);
            return iha_http_reject(h, r->conn, method, url, rt->format, 400, detail, "");
        }
    }
    if (!r->json)
        return iha_http_reject(h, r->conn, method, url, rt->format, 503,
                               "out of memory; retry later", "");
    iha_buf_free(&r->body);

    /*
     * The pending list and the reply's reference exist before the reply can arrive.
     * stopping is read again under the list's lock: iha_http_stop() sets it before its
     * abandon_pending() takes that lock, so a request either joins the list in time to be
     * answered 503 there, or sees stopping here; none is left suspended at MHD_stop_daemon().
     */
    pthread_mutex_lock(&r->lock);
    pthread_mutex_lock(&h->lock);
    if (atomic_load(&h->stopping)) {
        pthread_mutex_unlock(&h->lock);
        pthread_mutex_unlock(&r->lock);
        return iha_http_reject(h, r->conn, method, url, rt->format, 503,
                               "the gateway is shutting down", "");
    }
    r->refs++;
    r->ingested = true;
    r->next = h->pending;
    if (h->pending)
        h->pending->prev = r;
    h->pending = r;
    h->n_pending++;
    pthread_mutex_unlock(&h->lock);
    pthread_mutex_unlock(&r->lock);

    iha_err_clear(&err);
    if (rt->kind != R_RELOAD)
        rc = h->ingest(h->ingest_cls, rt->source, r->json, iha_http_on_reply, r, &err);
    else if (h->ops.reload)
        rc = h->ops.reload(h->ops.cls, iha_http_on_reply, r, &err);
    else
        rc = IHA_E_CONFIG; /* 500: this server was started without reload */
    if (rc == IHA_OK)
        return iha_http_answer_or_suspend(r, method, url);

    pthread_mutex_lock(&r->lock);
    if (!r->abandoned) {
        pthread_mutex_lock(&h->lock);
        iha_http_pending_unlink(h, r);
        pthread_mutex_unlock(&h->lock);
    }
    r->refs--; /* MHD still holds one */
    pthread_mutex_unlock(&r->lock);
    switch (rc) {
    case IHA_E_PARSE:
    case IHA_E_INVAL:
        status = 400;
        break;
    case IHA_E_NOMEM:
    case IHA_E_LIMIT:
        status = 503;
        break;
    default:
        status = 500;
        break;
    }
    return iha_http_reject(h, r->conn, method, url, rt->format, status,
                           err.msg[0] ? err.msg : iha_rc_str(rc), err.field);
}

/* HTTP thread: takes over an authentication handed over by a reload. */
static void adopt_auth(struct iha_http *h)
{
    struct iha_auth *next, *old = NULL;

    pthread_mutex_lock(&h->ready_lock);
    next = h->auth_next;
    h->auth_next = NULL;
    pthread_mutex_unlock(&h->ready_lock);
    if (!next)
        return;
    /* What the running configuration verified stays verified if its user is unchanged. */
    iha_auth_adopt_cache(next, h->auth);
    if (h->auth_owned)
        old = h->auth;
    h->auth = next;
    h->auth_owned = true;
    iha_auth_free(old);
}

void iha_http_set_auth_steal(struct iha_http *h, struct iha_auth *auth)
{
    struct iha_auth *old;

    if (!h) {
        iha_auth_free(auth);
        return;
    }
    pthread_mutex_lock(&h->ready_lock);
    old = h->auth_next;
    h->auth_next = auth;
    pthread_mutex_unlock(&h->ready_lock);
    iha_auth_free(old);
}

/* The request context, attached to the connection (iha_http_on_completed() drops MHD's reference).
 */
static struct req *req_new(struct iha_http *h, struct MHD_Connection *c, const struct route *rt,
                           long long t0, void **con_cls)
{
    struct req *r = calloc(1, sizeof(*r));

    if (!r)
        return NULL;
    if (pthread_mutex_init(&r->lock, NULL) != 0) {
        free(r);
        return NULL;
    }
    r->h = h;
    r->conn = c;
    r->route = rt;
    r->t0_ms = t0;
    iha_buf_init(&r->body, 0, h->max_body);
    r->refs = 1;
    atomic_fetch_add(&h->n_inflight, 1);
    *con_cls = r;
    return r;
}

/*
 * The sender's client certificate and credential, for a route that needs them. False when
 * the request is refused here (*ret is the answer); *job is a basic credential the verifier
 * must still check.
 */
static bool authenticate(struct iha_http *h, struct MHD_Connection *c, const struct route *rt,
                         const char *method, const char *url, struct iha_auth_job **job,
                         enum MHD_Result *ret)
{
    const union MHD_ConnectionInfo *ti;
    const char *value;
    enum iha_auth_result res;
    char why[128] = "";

    if (!rt->auth)
        return true;
    if (h->tls) {
        ti = MHD_get_connection_info(c, MHD_CONNECTION_INFO_GNUTLS_SESSION);
        if (!ti || !iha_tls_listener_check_client(h->tls, ti->tls_session, why, sizeof(why))) {
            *ret = iha_http_reject(h, c, method, url, rt->format, 401, ti ? why : "no TLS session",
                                   "");
            return false;
        }
    }
    value = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    res = iha_auth_check(h->auth, value, job, why, sizeof(why));
    if (res == IHA_AUTH_BUSY) {
        *ret = iha_http_reject_busy(h, c, method, url, rt->format, why);
        return false;
    }
    if (res != IHA_AUTH_OK && res != IHA_AUTH_VERIFY) {
        *ret = iha_http_reject(h, c, method, url, rt->format, 401,
                               why[0] ? why : "authentication required", "");
        return false;
    }
    return true;
}

static enum MHD_Result first_call(struct iha_http *h, struct MHD_Connection *c, const char *url,
                                  const char *method, void **con_cls)
{
    long long t0 = iha_http_now_ms();
    const struct route *rt;
    unsigned mbit = iha_http_method_bit(method);
    char allow[32];
    char detail[160];
    const char *value;
    unsigned long long clen = 0;
    bool have_clen = false;
    bool form;
    struct req *r = NULL;
    struct iha_auth_job *job = NULL;
    enum MHD_Result ret;

    if (strlen(url) > URL_MAX)
        return iha_http_reject(h, c, method, "(long URL)", FMT_GATEWAY, 404, "no such route", "");
    adopt_auth(h);
    rt = iha_http_route_find(url);
    if (!rt)
        return iha_http_reject(h, c, method, url, iha_http_format_for_url(url), 404,
                               "no such route", "");
    if (!(rt->methods & mbit)) {
        iha_http_allow_value(rt->methods, allow, sizeof(allow));
        snprintf(detail, sizeof(detail), "method %s not allowed, use %s", method, allow);
        iha_http_log_reject(h, c, method, url, 405, detail);
        return iha_http_queue_json(c, 405, iha_http_error_body(rt->format, 405, detail, ""),
                                   MHD_HTTP_HEADER_ALLOW, allow);
    }
    if (rt->kind == R_HEALTHY || rt->kind == R_READY)
        return iha_http_answer_fixed(h, c, rt, method, url, t0);
    if (atomic_load(&h->stopping))
        return iha_http_reject(h, c, method, url, rt->format, 503, "the gateway is shutting down",
                               "");

    if (!authenticate(h, c, rt, method, url, &job, &ret))
        return ret;
    /* A password still being checked keeps the request untrusted until it settles. */
    if (!job)
        iha_conn_guard_trust(h->guard, iha_http_conn_slot(c));
    if (job) {
        /* Its password is checked while the body arrives; the last call settles it. */
        r = req_new(h, c, rt, t0, con_cls);
        if (!r) {
            iha_auth_job_free(job);
            return MHD_NO;
        }
        if (!iha_http_verify_submit(h, c, r, job))
            return iha_http_reject_busy(
                h, c, method, url, rt->format,
                "too many new basic credentials from this client; retry later");
    }
    /* A reload is suspended like an ingest until the reload thread answers it. */
    if (rt->kind != R_INGEST && rt->kind != R_RELOAD)
        return r ? MHD_YES : iha_http_answer_ops(h, c, rt, method, url, t0);
    value = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
    form = rt->source == IHA_SOURCE_NAGIOS && iha_http_form_type(value);
    if (!form && !iha_http_content_type_ok(value) && rt->kind != R_RELOAD)
        return iha_http_reject(h, c, method, url, rt->format, 415,
                               "Content-Type must be application/json", "");
    value = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_TRANSFER_ENCODING);
    if (!value) {
        value = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (value) {
            if (!iha_http_parse_content_length(value, &clen))
                return iha_http_reject(h, c, method, url, rt->format, 400,
                                       "malformed Content-Length", "");
            have_clen = true;
        }
    }
    if (have_clen && clen > h->max_body) {
        snprintf(detail, sizeof(detail), "request body exceeds %zu bytes", h->max_body);
        return iha_http_reject(h, c, method, url, rt->format, 413, detail, "");
    }

    if (!r)
        r = req_new(h, c, rt, t0, con_cls);
    if (!r)
        return MHD_NO;
    r->form = form;
    /* Content-Length is only the sender's promise: the first allocation is at most 64 KiB. */
    if (have_clen && clen > 0)
        iha_buf_init(&r->body, (clen < 65536 ? (size_t)clen : 65536) + 1, h->max_body);
    return MHD_YES;
}

/*
 * Appends up to the cap; beyond it the request is only marked and the rest discarded. A body
 * that cannot be held for want of memory is answered 413 too: retrying the same will not help.
 */
static void upload(struct req *r, const char *data, size_t size)
{
    if (r->too_large)
        return;
    if (!iha_buf_put(&r->body, data, size)) {
        r->too_large = true;
        iha_buf_free(&r->body);
    }
}

enum MHD_Result iha_http_on_access(void *cls, struct MHD_Connection *c, const char *url,
                                   const char *method, const char *version, const char *upload_data,
                                   size_t *upload_data_size, void **con_cls)
{
    struct iha_http *h = cls;
    struct req *r = *con_cls;

    (void)version;
    if (!r)
        return first_call(h, c, url, method, con_cls);
    if (*upload_data_size) {
        if (!r->ingested)
            upload(r, upload_data, *upload_data_size);
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (r->auth_waiting) {
        enum MHD_Result ret;
        if (!iha_http_verify_settle(h, r, method, url, &ret))
            return ret;
        iha_conn_guard_trust(h->guard, iha_http_conn_slot(c));
        if (r->route->kind != R_INGEST && r->route->kind != R_RELOAD)
            return iha_http_answer_ops(h, c, r->route, method, url, r->t0_ms);
    }
    if (r->ingested)
        return iha_http_answer_or_suspend(r, method, url);
    return run_ingest(h, r, method, url);
}

void iha_http_on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                           enum MHD_RequestTerminationCode toe)
{
    struct iha_http *h = cls;
    struct req *r = *con_cls;

    (void)toe;
    /* A kept-alive connection's next request starts untrusted, with a deadline of its own. */
    iha_conn_guard_rearm(h->guard, iha_http_conn_slot(c), (uint64_t)iha_http_now_ms());
    if (!r)
        return;
    *con_cls = NULL;
    atomic_fetch_sub(&h->n_inflight, 1);
    pthread_mutex_lock(&r->lock);
    iha_http_req_unref_unlock(r);
}
