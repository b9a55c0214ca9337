/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file run.c
 * @brief Running the gateway: start-up, the signal loop and shutdown.
 *
 * The default command of the iha-gateway binary (see cli_int.h).
 */
#include "cli_int.h"

#include <curl/curl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auth.h"
#include "config.h"
#include "dedupe.h"
#include "delivery.h"
#include "diag.h"
#include "events.h"
#include "http_server.h"
#include "log.h"
#include "mapping.h"
#include "metrics.h"
#include "pipeline.h"
#include "policy.h"
#include "policy_preview.h"
#include "segments.h"
#include "queue.h"
#include "reload.h"
#include "service_auth.h"
#include "tls_listener.h"
#include "token_source.h"

/* Storage health → /-/ready; set from the queue's thread. */
struct readiness {
    pthread_mutex_t lock;
    struct iha_http *http;
    bool bad;
    char why[256];
};

static void on_storage_health(void *cls, bool healthy, const char *why)
{
    struct readiness *r = cls;

    pthread_mutex_lock(&r->lock);
    r->bad = !healthy;
    snprintf(r->why, sizeof(r->why), "%s", why ? why : "");
    if (r->http)
        iha_http_set_ready(r->http, healthy, r->why);
    pthread_mutex_unlock(&r->lock);
}

/* Alert outcomes kept for the status page and /api/v1/events. */
#define EVENTS_KEPT 1000

/* A reload loads the configuration exactly as the start did: file or default, flags over it. */
static enum iha_rc reload_load(void *cls, struct iha_config **out, struct iha_diag *diag)
{
    return iha_cli_load_config(cls, out, diag);
}

static enum iha_rc ingest(void *cls, enum iha_source source, const json_t *body, iha_reply_fn reply,
                          void *reply_cls, struct iha_err *err)
{
    return iha_pipeline_handle(cls, source, body, reply, reply_cls, err);
}

/* The configured file, else the environment, else the conventional file if present. */
static const char *service_token_file(const struct iha_config *cfg)
{
    const char *env = getenv(IHA_SERVICE_TOKEN_ENV);

    if (cfg->token_file)
        return cfg->token_file;
    if (env && *env)
        return NULL;
    if (access(IHA_DEFAULT_SERVICE_TOKEN_FILE, R_OK) == 0)
        return IHA_DEFAULT_SERVICE_TOKEN_FILE;
    return NULL;
}

/* Everything the running gateway holds, from start to stop; owned by iha_cli_run(). */
struct daemon {
    const struct options *o;
    struct iha_diag *diag;
    struct iha_config *cfg;
    struct iha_ruleset *rs;
    struct iha_token_source *token;
    struct iha_dedupe *dedupe;
    struct iha_delivery *delivery;
    struct iha_queue *queue;
    struct iha_pipeline *pipeline;
    struct iha_segments *segments; /* the storm guard's failure domains; NULL: none */
    struct readiness ready;
    struct iha_auth *auth;
    struct iha_http *http;
    struct iha_metrics *metrics;
    struct iha_events *events;
    struct iha_reload *reload;
    struct iha_http_ops ops;
    struct iha_err err;
    sigset_t sigs;
    bool curl_ready;
};

/* The configuration and rules, logging, signals and libcurl: nothing runs yet. */
static enum iha_rc daemon_configure(struct daemon *d)
{
    if (!d->diag || !d->rs || !d->metrics || !d->events ||
        iha_metrics_register_gateway(d->metrics, IHA_VERSION) != IHA_OK) {
        fprintf(stderr, "iha-gateway: out of memory\n");
        return IHA_E_INVAL;
    }
    if (iha_cli_load_config(d->o, &d->cfg, d->diag) != IHA_OK ||
        iha_config_load_rules(d->cfg, d->rs, d->diag) != IHA_OK) {
        iha_cli_print_diag(d->diag);
        fprintf(stderr, "iha-gateway: configuration is invalid, not starting\n");
        return IHA_E_INVAL;
    }
    iha_log_setup(d->cfg->log_level, d->cfg->log_format);
    for (size_t i = 0; i < iha_diag_count(d->diag); i++)
        IHA_LOG(IHA_LOG_WARN, "config warning", "detail", iha_diag_get(d->diag, i));
    if (d->cfg->auth_disabled && !iha_http_is_loopback(d->cfg->listen_address)) {
        IHA_LOG(IHA_LOG_ERROR, "web.auth.disabled is allowed only on a loopback listen address",
                "listen_address", d->cfg->listen_address);
        return IHA_E_INVAL;
    }

    /* Signals are taken by sigwait() in this thread only; every thread inherits the mask. */
    sigemptyset(&d->sigs);
    sigaddset(&d->sigs, SIGTERM);
    sigaddset(&d->sigs, SIGINT);
    sigaddset(&d->sigs, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &d->sigs, NULL);
    signal(SIGPIPE, SIG_IGN);
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        IHA_LOG(IHA_LOG_ERROR, "libcurl initialisation failed");
        return IHA_E_INVAL;
    }
    d->curl_ready = true;

    return IHA_OK;
}

/* The service token, the dedupe window and the durable queue (recovered). */
static enum iha_rc daemon_open_storage(struct daemon *d)
{
    if (d->cfg->auth.type == IHA_AUTH_STATIC) {
        if (iha_token_source_new(service_token_file(d->cfg), IHA_SERVICE_TOKEN_ENV, &d->token) !=
            IHA_OK)
            return IHA_E_INVAL;
    } else if (iha_service_auth_start(d->cfg, d->cfg->url_set || d->o->url, d->metrics, &d->token,
                                      &d->err) != IHA_OK) {
        IHA_LOG(IHA_LOG_ERROR, "cannot set up the Keystone service token", "detail", d->err.msg);
        return IHA_E_INVAL;
    }
    if (d->cfg->tls.insecure)
        IHA_LOG(IHA_LOG_WARN, "instance_ha.tls.insecure: the Instance HA server's certificate is "
                              "NOT verified; use this only in a lab");
    d->dedupe = iha_dedupe_new(d->cfg->dedupe_window_s, d->cfg->dedupe_max_entries);
    if (!d->dedupe)
        return IHA_E_INVAL;
    {
        struct iha_queue_config qc = {
            .dir = d->cfg->storage_path,
            .max_bytes = d->cfg->storage_max_bytes,
            .max_entries = d->cfg->storage_max_entries,
            .segment_bytes = d->cfg->storage_segment_bytes,
        };
        struct iha_queue_stats qs;
        char live[24], corrupt[24], bytes[24];
        if (iha_queue_open(&qc, &d->queue, &d->err) != IHA_OK) {
            IHA_LOG(IHA_LOG_ERROR, "cannot open the durable queue", "path", d->cfg->storage_path,
                    "detail", d->err.msg);
            return IHA_E_INVAL;
        }
        qs = iha_queue_stats(d->queue);
        snprintf(live, sizeof(live), "%zu", qs.live);
        snprintf(corrupt, sizeof(corrupt), "%zu", qs.corrupt);
        snprintf(bytes, sizeof(bytes), "%llu", (unsigned long long)qs.skipped_bytes);
        IHA_LOG(qs.corrupt ? IHA_LOG_WARN : IHA_LOG_INFO, "queue recovered", "path",
                d->cfg->storage_path, "pending", live, "damaged_regions", corrupt, "skipped_bytes",
                bytes);
    }
    return IHA_OK;
}

/* The pipeline's failure domain of a host: its Instance HA segment (committer thread). */
static bool segment_of(void *cls, const char *host, char *out, size_t size, unsigned *hosts)
{
    struct iha_segment_info si;

    if (iha_segments_lookup(cls, host, &si) != IHA_OK)
        return false;
    snprintf(out, size, "%s", si.name);
    *hosts = si.hosts;
    return true;
}

/*
 * The storm guard's failure domains: Instance HA's segments, read with the service token.
 * Not waited for: until the first answer the guard counts hosts only.
 */
static enum iha_rc daemon_start_segments(struct daemon *d)
{
    const struct iha_config *c = d->cfg;
    struct iha_segments_config sc = {
        .url = c->url,
        .dialect = c->dialect,
        .token = d->token,
        .tls = &c->tls,
        .connect_timeout_ms = c->connect_timeout_ms,
        .timeout_ms = c->timeout_ms,
    };
    struct iha_err err = {0};

    if (!c->policy_enabled || !c->policy_failure_domain ||
        strcmp(c->policy_failure_domain, "segment") != 0)
        return IHA_OK;
    if (iha_segments_new(&sc, &d->segments, &err) != IHA_OK) {
        IHA_LOG(IHA_LOG_ERROR, "cannot start reading Instance HA segments", "detail", err.msg);
        return IHA_E_INVAL;
    }
    return IHA_OK;
}

/*
 * Delivery, the pipeline and reload; then the commands left while the daemon was down,
 * before anything recovered is delivered.
 */
static enum iha_rc daemon_start_stages(struct daemon *d)
{
    if (daemon_start_segments(d) != IHA_OK)
        return IHA_E_INVAL;
    {
        struct iha_delivery_config dc = {
            .url = d->cfg->url,
            .dialect = d->cfg->dialect,
            .token = d->token,
            .connect_timeout_ms = d->cfg->connect_timeout_ms,
            .timeout_ms = d->cfg->timeout_ms,
            .retry_for_ms = d->cfg->storage_max_age_ms,
            .max_backoff_ms = d->cfg->storage_max_backoff_ms,
            .max_jobs = d->cfg->storage_max_entries + 64,
            .tls = &d->cfg->tls,
        };
        if (iha_delivery_new(&dc, &d->delivery) != IHA_OK) {
            IHA_LOG(IHA_LOG_ERROR, "cannot start the delivery thread");
            return IHA_E_INVAL;
        }
    }
    {
        const struct iha_config *c = d->cfg;
        struct iha_policy_config pc = iha_policy_config_of(c);
        struct iha_pipeline_stages st = {
            .rules = d->rs,
            .dedupe = d->dedupe,
            .delivery = d->delivery,
            .queue = d->queue,
            .native_wait_ms = d->cfg->connect_timeout_ms + d->cfg->timeout_ms,
            .max_age_ms = d->cfg->storage_max_age_ms,
            .metrics = d->metrics,
            .events = d->events,
            .policy = c->policy_enabled ? &pc : NULL,
            .heartbeat_alertname = c->policy_heartbeat_alertname,
            .domain = d->segments ? segment_of : NULL,
            .domain_cls = d->segments,
        };
        d->pipeline = iha_pipeline_new(&st);
        if (!d->pipeline)
            return IHA_E_INVAL;
    }
    {
        struct iha_reload_config rc = {
            .load = reload_load,
            .load_cls = (void *)d->o,
            .running = d->cfg,
            .rules = d->rs,
            .pipeline = d->pipeline,
            .metrics = d->metrics,
            .queue = d->queue,
            .token = d->token,
        };
        d->reload = iha_reload_new(&rc);
        if (!d->reload)
            return IHA_E_INVAL;
        iha_reload_http_ops(d->reload, d->events, &d->ops);
    }
    /* Commands left while the daemon was down run before anything is delivered. */
    {
        const struct iha_queue_callbacks cbs = {
            .control = iha_pipeline_control,
            .control_cls = d->pipeline,
            .health = on_storage_health,
            .health_cls = &d->ready,
        };
        iha_queue_set_callbacks(d->queue, &cbs);
    }
    iha_queue_run_control(d->queue);
    iha_pipeline_resume(d->pipeline);
    return IHA_OK;
}

/* The listener's client certificate mode for web.tls_server_config.client_auth_type. */
static enum iha_client_auth client_cert_mode(enum iha_web_client_auth cat)
{
    switch (cat) {
    case IHA_WEB_CLIENT_AUTH_VERIFY_IF_GIVEN:
        return IHA_CLIENT_CERT_IF_GIVEN;
    case IHA_WEB_CLIENT_AUTH_REQUIRE:
        return IHA_CLIENT_CERT_REQUIRE;
    case IHA_WEB_CLIENT_AUTH_UNSET:
    case IHA_WEB_CLIENT_AUTH_NONE:
        break;
    }
    return IHA_CLIENT_CERT_NONE;
}

/* Inbound authentication and the HTTP server; from here senders are answered. */
static enum iha_rc daemon_listen(struct daemon *d)
{
    char desc[256], port[16], nrules[16];

    if (iha_auth_new(d->cfg->auth_disabled, d->cfg->bearer_tokens_file, d->cfg->basic_users,
                     d->cfg->n_basic_users, &d->auth) != IHA_OK)
        return IHA_E_INVAL;
    {
        struct iha_tls_listener_config tls = {
            .cert_file = d->cfg->web_tls.cert_file,
            .key_file = d->cfg->web_tls.key_file,
            .client_ca_file = d->cfg->web_tls.client_ca_file,
            .client_auth = client_cert_mode(d->cfg->web_tls.client_auth_type),
            .tls13_only = d->cfg->web_tls.min_version == IHA_WEB_TLS_MIN_TLS13,
        };
        struct iha_http_config hc = {
            .listen_address = d->cfg->listen_address,
            .max_body = d->cfg->max_request_bytes,
            .read_timeout_s = d->cfg->read_timeout_s,
            .auth = d->auth,
            .ingest = ingest,
            .ingest_cls = d->pipeline,
            .metrics = d->metrics,
            .ops = &d->ops,
            .tls = tls.cert_file ? &tls : NULL,
        };
        if (iha_http_start(&hc, &d->http, &d->err) != IHA_OK) {
            IHA_LOG(IHA_LOG_ERROR, "cannot listen", "listen_address", d->cfg->listen_address,
                    "detail", d->err.msg);
            return IHA_E_INVAL;
        }
        if (d->cfg->auth_disabled && !iha_http_bound_loopback(d->http)) {
            IHA_LOG(IHA_LOG_ERROR, "web.auth.disabled is allowed only on a loopback listen address",
                    "listen_address", d->cfg->listen_address, "detail",
                    "the listening socket is bound to a non-loopback address");
            return IHA_E_INVAL;
        }
    }
    pthread_mutex_lock(&d->ready.lock);
    d->ready.http = d->http;
    iha_reload_set_http(d->reload, d->http);
    iha_http_set_ready(d->http, !d->ready.bad, d->ready.why);
    pthread_mutex_unlock(&d->ready.lock);
    iha_token_source_describe(d->token, desc, sizeof(desc));
    snprintf(port, sizeof(port), "%u", iha_http_port(d->http));
    snprintf(nrules, sizeof(nrules), "%zu", iha_ruleset_count(d->rs));
    IHA_LOG(IHA_LOG_INFO, "iha-gateway started", "version", IHA_VERSION, "config", d->cfg->source,
            "listen_address", d->cfg->listen_address, "port", port, "instance_ha_url", d->cfg->url,
            "dialect", iha_dialect_name(d->cfg->dialect), "rules", nrules, "storage_path",
            d->cfg->storage_path, "service_token", desc, "inbound_auth",
            d->cfg->auth_disabled ? "disabled" : "enabled");

    return IHA_OK;
}

/* Waits for SIGTERM or SIGINT; a SIGHUP only asks for a reload. @return the signal. */
static int daemon_wait(struct daemon *d)
{
    int sig = 0;

    for (;;) {
        if (sigwait(&d->sigs, &sig) != 0)
            continue;
        if (sig == SIGHUP) {
            /* Only asks: the reload thread does the work, so SIGTERM is never kept waiting. */
            IHA_LOG(IHA_LOG_INFO, "SIGHUP received: reloading the configuration");
            if (iha_reload_request(d->reload, IHA_RELOAD_SIGHUP, NULL, NULL, &d->err) != IHA_OK)
                IHA_LOG(IHA_LOG_ERROR, "cannot start a reload", "detail", d->err.msg);
            continue;
        }
        break;
    }
    return sig;
}

/* Stops in order and frees; safe after a start that failed at any step. */
static void daemon_stop(struct daemon *d)
{
    /* Stop accepting and answer what is in flight; then delivery; then the queue. */
    if (d->queue)
        iha_queue_set_callbacks(d->queue, NULL);
    pthread_mutex_lock(&d->ready.lock);
    d->ready.http = NULL;
    pthread_mutex_unlock(&d->ready.lock);
    /* A reload in progress finishes before the server and the pipeline it feeds go. */
    iha_reload_stop(d->reload);
    if (d->reload)
        iha_reload_set_http(d->reload, NULL);
    /* Stored native notifications are answered 202 "queued" before the server's 503s. */
    if (d->pipeline)
        iha_pipeline_stop(d->pipeline);
    iha_http_stop(d->http);
    iha_delivery_free(d->delivery);
    iha_queue_close(d->queue);
    iha_pipeline_free(d->pipeline);
    iha_segments_free(d->segments);
    iha_reload_free(d->reload);
    iha_events_free(d->events);
    iha_auth_free(d->auth);
    iha_dedupe_free(d->dedupe);
    /* Stops the Keystone renewal thread, which counts in metrics. */
    iha_token_source_free(d->token);
    iha_metrics_free(d->metrics);
    iha_ruleset_free(d->rs);
    iha_config_free(d->cfg);
    iha_diag_free(d->diag);
    if (d->curl_ready)
        curl_global_cleanup();
}

int iha_cli_run(const struct options *o)
{
    struct daemon d = {
        .o = o,
        .diag = iha_diag_new(),
        .rs = iha_ruleset_new(),
        .ready = {.lock = PTHREAD_MUTEX_INITIALIZER},
        .metrics = iha_metrics_new(),
        .events = iha_events_new(EVENTS_KEPT),
    };
    int status = 1, sig;

    if (daemon_configure(&d) == IHA_OK && daemon_open_storage(&d) == IHA_OK &&
        daemon_start_stages(&d) == IHA_OK && daemon_listen(&d) == IHA_OK) {
        sig = daemon_wait(&d);
        IHA_LOG(IHA_LOG_INFO, "shutting down", "signal", sig == SIGINT ? "SIGINT" : "SIGTERM");
        iha_http_set_ready(d.http, false, "shutting down");
        status = 0;
    }
    daemon_stop(&d);
    return status;
}
