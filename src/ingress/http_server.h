/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file http_server.h
 * @brief Ingress: the libmicrohttpd daemon, its routes, bounded uploads, auth and replies.
 *
 * Routes:
 *   POST /api/v1/alertmanager               Alertmanager webhook v4      (auth)
 *   POST /api/v1/nagios                     iha-notify records, JSON or form-encoded (auth)
 *   POST /v1/notifications                  Instance HA payload           (auth)
 *   POST /v1/{project_id}/notifications     same, path used by OpenStack clients (auth)
 *   GET|HEAD /-/healthy                     200 "OK"
 *   GET|HEAD /-/ready                       200 "OK" when ready, 503 with the reason otherwise
 *   GET /metrics                            Prometheus text exposition (no auth)
 *   GET /                                   status page, HTML (?hostname= filter; no auth)
 *   GET /api/v1/status                      status JSON (secrets redacted; auth)
 *   GET /api/v1/events                      recent alert outcomes (?hostname=, ?limit=; auth)
 *   GET /api/v1/holds                       the safety policy: guard, what is held back (auth)
 *   POST /-/reload                          reload config, tokens and rules (auth)
 * Unknown path 404, wrong method 405 with Allow. A body over the limit is answered
 * 413 (never a dropped connection); malformed JSON 400 naming line/column/position;
 * a Content-Type other than application/json 415. Error bodies:
 * {"code": N, "error": "...", "detail": "...", "field": "..."}; on the /v1 routes
 * Instance HA's fault format {"badRequest": {"code": 400, "message": "..."}} so OpenStack
 * clients understand them.
 *
 * One internal polling thread (epoll); handlers never block: a request whose answer
 * waits for delivery is suspended and resumed when the reply arrives.
 */
#ifndef IHA_HTTP_SERVER_H
#define IHA_HTTP_SERVER_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "auth.h"
#include "pipeline.h"
#include "rc.h"
#include "alert.h"

struct iha_http;

/**
 * What the server calls for a parsed body; iha_pipeline_handle() has this shape.
 * The contract is that of iha_pipeline_handle(): on IHA_OK @p reply is called exactly
 * once, from any thread, possibly before the function returns.
 */
typedef enum iha_rc (*iha_ingest_fn)(void *cls, enum iha_source source, const json_t *body,
                                     iha_reply_fn reply, void *reply_cls, struct iha_err *err);

struct iha_metrics;
struct iha_events;

/**
 * The operability side of the server: what /metrics, /, /api/v1/status, /api/v1/events
 * and /-/reload read or call. Every member may be NULL; the callbacks run on the HTTP
 * thread with @c cls.
 */
struct iha_http_ops {
    struct iha_events *events; /**< borrowed: /api/v1/events and the status page */
    /** Refreshes gauges (queue depth, oldest age) right before /metrics is rendered. */
    void (*refresh)(void *cls);
    /** @return a new object for /api/v1/status (NULL: out of memory). */
    json_t *(*status)(void *cls);
    /**
     * Starts a reload of config, tokens and rules elsewhere (it must not block). On
     * IHA_OK @p reply is called exactly once, from any thread, possibly before the
     * function returns, with the answer (the POST /-/reload request stays suspended
     * until then); otherwise the reason is in @p err (IHA_E_LIMIT: busy, 503).
     */
    enum iha_rc (*reload)(void *cls, iha_reply_fn reply, void *reply_cls, struct iha_err *err);
    void *cls;
};

struct iha_http_config {
    const char *listen_address; /**< "HOST:PORT", "[V6]:PORT" or ":PORT" (all addresses) */
    size_t max_body;            /**< bytes */
    unsigned read_timeout_s;    /**< idle connection timeout */
    struct iha_auth *auth;      /**< borrowed */
    iha_ingest_fn ingest;
    void *ingest_cls;
    struct iha_metrics *metrics;    /**< borrowed, may be NULL: /metrics, requests counted */
    const struct iha_http_ops *ops; /**< copied, may be NULL */
    const struct iha_tls_listener_config *tls; /**< NULL: plain HTTP */
};

/**
 * Binds and starts serving. @return IHA_OK; IHA_E_INVAL (bad address, in @p err);
 * IHA_E_IO (cannot bind: address in use, in @p err).
 */
enum iha_rc iha_http_start(const struct iha_http_config *cfg, struct iha_http **out,
                           struct iha_err *err) IHA_MUST_CHECK;

/** Sets readiness for /-/ready; @p why is shown when not ready (copied). Thread-safe. */
void iha_http_set_ready(struct iha_http *h, bool ready, const char *why);

/**
 * Replaces the inbound authentication (reload): @p auth is stolen and adopted by the
 * HTTP thread at its next request; the previous one is freed there unless it was the
 * borrowed one from iha_http_start(). Thread-safe.
 */
void iha_http_set_auth_steal(struct iha_http *h, struct iha_auth *auth);

/** @return the port actually bound (useful with port 0). */
unsigned iha_http_port(const struct iha_http *h);

/** Stops accepting, waits for in-flight replies up to a bound, frees. NULL-safe. */
void iha_http_stop(struct iha_http *h);

/**
 * @return true when @p listen_address binds only a loopback address (127.0.0.0/8, ::1,
 *         localhost), as judged by iha_listen_addr_is_loopback(), the check the config
 *         loader (and so check-config) applies too.
 */
bool iha_http_is_loopback(const char *listen_address);

/**
 * @return true when the socket @p h listens on is bound to a loopback address: what
 *         web.auth.disabled requires, checked on the bound socket because a name may
 *         resolve differently between the configuration check and the bind.
 */
bool iha_http_bound_loopback(const struct iha_http *h);

#endif
