/* SPDX-License-Identifier: Apache-2.0 */
/** @file reload.c @brief Reload of config, tokens and rules; status of the running gateway. */
#include "reload.h"

#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auth.h"
#include "clock.h"
#include "http_server.h"
#include "log.h"
#include "mapping.h"
#include "metrics.h"
#include "notification.h"
#include "pipeline.h"
#include "queue.h"
#include "token_source.h"

#define SECRET "<secret>"
#define DIAG_SHOWN 3

/*
 * Threads and locks.
 *
 *   main thread     sigwait(): SIGHUP -> iha_reload_request() (never waits for a reload)
 *   HTTP thread     POST /-/reload -> ops_reload() -> iha_reload_request() with the
 *                   connection suspended; /api/v1/status, /metrics -> status, refresh
 *   reload thread   worker(): runs every requested reload and answers its requests
 *   any thread      iha_reload_run() (tests, callers that want to wait)
 *
 *   run_lock   held for a whole reload (load, globs, rules, auth, hand-over): one at a time;
 *              inside it the pipeline's rules lock and the metrics lock, each briefly
 *   lock       the state shown by status; taken inside run_lock; inside it only the HTTP
 *              server's own lock (iha_http_set_auth_steal), so that iha_reload_set_http(NULL)
 *              returning means no reload touches that server any more
 *   wlock      the waiting requests and the worker's flags; a leaf: nothing is called and
 *              no other lock is taken while it is held
 *
 * Replies to POST /-/reload are called with no lock of ours held. Requests that arrive
 * while a reload runs wait for the next one (the file may have changed after it was read);
 * all requests waiting when a reload starts share it.
 */
struct waiter {
    iha_reply_fn reply;
    void *cls;
    struct waiter *next;
};

struct iha_reload {
    struct iha_reload_config c;
    pthread_mutex_t run_lock; /* one reload at a time */
    pthread_mutex_t lock;     /* everything below, up to wlock */
    struct iha_http *http;
    struct iha_config *current; /* the last config loaded by a reload (NULL: c.running) */
    json_t *rule_names;
    json_t *restart_required; /* settings that differ from the running ones */
    json_t *applied;          /* settings the last reload changed live */
    time_t started;
    time_t last_time;
    bool last_ok;
    char last_error[512];
    unsigned long reloads;
    pthread_mutex_t wlock; /* the fields below */
    pthread_cond_t wcond;
    struct waiter *waiters;
    size_t n_waiters;
    unsigned triggers; /* IHA_RELOAD_* bits of the requests not yet started */
    bool stopping;
    bool thread_started;
    pthread_t thread;
};

static double now_s(void)
{
    return (double)iha_clock_wall_ms() / 1000.0;
}

static json_t *names_of(const struct iha_ruleset *rs)
{
    json_t *a = json_array();

    for (size_t i = 0; a && rs && i < iha_ruleset_count(rs); i++)
        json_array_append_new(a, json_string(iha_ruleset_rule_name(rs, i)));
    return a;
}

static void *worker(void *cls);

struct iha_reload *iha_reload_new(const struct iha_reload_config *cfg)
{
    struct iha_reload *r = calloc(1, sizeof(*r));
    sigset_t all, old;

    if (!r)
        return NULL;
    r->c = *cfg;
    r->rule_names = names_of(cfg->rules);
    r->restart_required = json_array();
    r->applied = json_array();
    pthread_mutex_init(&r->run_lock, NULL);
    pthread_mutex_init(&r->lock, NULL);
    pthread_mutex_init(&r->wlock, NULL);
    pthread_cond_init(&r->wcond, NULL);
    if (!r->rule_names || !r->restart_required || !r->applied) {
        iha_reload_free(r);
        return NULL;
    }
    r->started = time(NULL);
    r->last_time = r->started;
    r->last_ok = true;
    /* Signals stay with the thread that sigwait()s for them. */
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    r->thread_started = pthread_create(&r->thread, NULL, worker, r) == 0;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (!r->thread_started) {
        iha_reload_free(r);
        return NULL;
    }
    if (r->c.metrics)
        iha_metrics_set(r->c.metrics, "iha_gateway_config_last_reload_success_timestamp_seconds",
                        now_s());
    return r;
}

void iha_reload_set_http(struct iha_reload *r, struct iha_http *h)
{
    pthread_mutex_lock(&r->lock);
    r->http = h;
    pthread_mutex_unlock(&r->lock);
}

void iha_reload_stop(struct iha_reload *r)
{
    bool join;

    if (!r)
        return;
    pthread_mutex_lock(&r->wlock);
    r->stopping = true;
    join = r->thread_started;
    r->thread_started = false;
    pthread_cond_broadcast(&r->wcond);
    pthread_mutex_unlock(&r->wlock);
    if (join)
        pthread_join(r->thread, NULL);
}

void iha_reload_free(struct iha_reload *r)
{
    if (!r)
        return;
    iha_reload_stop(r);
    iha_config_free(r->current);
    json_decref(r->rule_names);
    json_decref(r->restart_required);
    json_decref(r->applied);
    pthread_mutex_destroy(&r->run_lock);
    pthread_mutex_destroy(&r->lock);
    pthread_mutex_destroy(&r->wlock);
    pthread_cond_destroy(&r->wcond);
    free(r);
}

/* ---- redacted config ---- */

static const char *level_name(enum iha_log_level l)
{
    switch (l) {
    case IHA_LOG_DEBUG:
        return "debug";
    case IHA_LOG_INFO:
        return "info";
    case IHA_LOG_WARN:
        return "warn";
    case IHA_LOG_ERROR:
        return "error";
    }
    return "info";
}

static const char *auth_type_name(enum iha_auth_type t)
{
    switch (t) {
    case IHA_AUTH_STATIC:
        return "static";
    case IHA_AUTH_PASSWORD:
        return "password";
    case IHA_AUTH_APPCRED:
        return "application_credential";
    case IHA_AUTH_CLOUD:
        return "cloud";
    }
    return "static";
}

/* Sets @p k to @p v when it is set (NULL stays out). */
static void put_str(json_t *o, const char *k, const char *v)
{
    if (o && v)
        json_object_set_new(o, k, json_string(v));
}

/* A secret: shown as "<secret>" when set, never its value. */
static void put_secret(json_t *o, const char *k, const char *v)
{
    if (o && v && *v)
        json_object_set_new(o, k, json_string(SECRET));
}

static json_t *tls_json(const struct iha_tls_config *t)
{
    json_t *o = json_object();

    put_str(o, "ca_file", t->ca_file);
    put_str(o, "cert_file", t->cert_file);
    put_str(o, "key_file", t->key_file);
    if (o)
        json_object_set_new(o, "insecure", json_boolean(t->insecure));
    return o;
}

static json_t *auth_json(const struct iha_auth_config *a)
{
    json_t *o = json_object();

    put_str(o, "type", auth_type_name(a->type));
    put_str(o, "auth_url", a->auth_url);
    put_str(o, "username", a->username);
    put_str(o, "user_id", a->user_id);
    put_str(o, "user_domain_name", a->user_domain_name);
    put_str(o, "user_domain_id", a->user_domain_id);
    put_secret(o, "password", a->password);
    put_str(o, "password_file", a->password_file);
    put_str(o, "project_name", a->project_name);
    put_str(o, "project_id", a->project_id);
    put_str(o, "project_domain_name", a->project_domain_name);
    put_str(o, "project_domain_id", a->project_domain_id);
    put_str(o, "application_credential_id", a->application_credential_id);
    put_str(o, "application_credential_name", a->application_credential_name);
    put_secret(o, "application_credential_secret", a->application_credential_secret);
    put_str(o, "application_credential_secret_file", a->application_credential_secret_file);
    put_str(o, "cloud", a->cloud);
    put_str(o, "region_name", a->region_name);
    put_str(o, "interface", a->interface);
    if (o)
        json_object_set_new(o, "tls", tls_json(&a->tls));
    return o;
}

static json_t *policy_json(const struct iha_config *c)
{
    return json_pack(
        "{s:b,s:I,s:{s:I,s:I,s:I,s:I,s:s?,s:I},s:{s:I,s:I,s:I},s:{s:I,s:I},"
        "s:{s:s?,s:I}}",
        "enabled", c->policy_enabled, "settle_ms", (json_int_t)c->policy_settle_ms, "storm",
        "window_ms", (json_int_t)c->policy_window_ms, "max_hosts", (json_int_t)c->policy_max_hosts,
        "domain_percent", (json_int_t)c->policy_domain_percent, "domain_min_hosts",
        (json_int_t)c->policy_domain_min_hosts, "failure_domain", c->policy_failure_domain,
        "auto_release_ms", (json_int_t)c->policy_auto_release_ms, "flapping", "count",
        (json_int_t)c->policy_flap_count, "window_ms", (json_int_t)c->policy_flap_window_ms,
        "settle_ms", (json_int_t)c->policy_flap_settle_ms, "rate_limit", "burst",
        (json_int_t)c->policy_rate_burst, "interval_ms", (json_int_t)c->policy_rate_interval_ms,
        "heartbeat", "alertname", c->policy_heartbeat_alertname, "missing_after_ms",
        (json_int_t)c->policy_heartbeat_after_ms);
}

json_t *iha_config_to_json_redacted(const struct iha_config *cfg)
{
    json_t *users = json_object(), *globs = json_array(), *o;

    for (size_t i = 0; users && i < cfg->n_basic_users; i++)
        json_object_set_new(users, cfg->basic_users[i].name, json_string(SECRET));
    for (size_t i = 0; globs && i < cfg->n_rule_files; i++)
        json_array_append_new(globs, json_string(cfg->rule_files[i]));
    o = json_pack(
        "{s:s?,s:{s:s?,s:I,s:I,s:{s:b,s:s?,s:o}},"
        "s:{s:s?,s:s,s:s?,s:I,s:I,s:I,s:o,s:o},"
        "s:{s:I,s:I},s:{s:o},"
        "s:{s:s?,s:I,s:I,s:I,s:I,s:I},s:{s:s,s:s}}",
        "source", cfg->source, "web", "listen_address", cfg->listen_address, "max_request_bytes",
        (json_int_t)cfg->max_request_bytes, "read_timeout_seconds", (json_int_t)cfg->read_timeout_s,
        "auth", "disabled", cfg->auth_disabled, "bearer_tokens_file", cfg->bearer_tokens_file,
        "basic_auth_users", users ? users : json_null(), "instance_ha", "url", cfg->url, "dialect",
        iha_dialect_name(cfg->dialect), "token_file", cfg->token_file, "connect_timeout_ms",
        (json_int_t)cfg->connect_timeout_ms, "timeout_ms", (json_int_t)cfg->timeout_ms,
        "retry_for_ms", (json_int_t)cfg->retry_for_ms, "tls", tls_json(&cfg->tls), "auth",
        auth_json(&cfg->auth), "dedupe", "window_seconds", (json_int_t)cfg->dedupe_window_s,
        "max_entries", (json_int_t)cfg->dedupe_max_entries, "mapping", "rule_files",
        globs ? globs : json_null(), "storage", "path", cfg->storage_path, "max_bytes",
        (json_int_t)cfg->storage_max_bytes, "max_entries", (json_int_t)cfg->storage_max_entries,
        "segment_bytes", (json_int_t)cfg->storage_segment_bytes, "max_age_ms",
        (json_int_t)cfg->storage_max_age_ms, "max_backoff_ms",
        (json_int_t)cfg->storage_max_backoff_ms, "log", "level", level_name(cfg->log_level),
        "format", cfg->log_format == IHA_LOG_JSON ? "json" : "logfmt");
    if (o)
        json_object_set_new(o, "policy", policy_json(cfg));
    return o;
}

/* ---- reload ---- */

/*
 * The keys a reload puts into force. Every other key of the file needs a restart and is
 * named when it changes, so a key added to the loader later is never silently ignored.
 * instance_ha.* (URL, dialect, timeouts, tls, auth) stays with restart: delivery and the
 * Keystone token source borrow those settings for their whole life and have no safe swap.
 */
static const char *const live_keys[] = {
    "web.auth.disabled",
    "web.auth.bearer_tokens_file",
    "web.auth.basic_auth_users",
    "mapping.rule_files",
    "log.level",
    "log.format",
    NULL,
};

static bool is_live(const char *key)
{
    for (size_t i = 0; live_keys[i]; i++)
        if (strcmp(live_keys[i], key) == 0)
            return true;
    return false;
}

struct changes {
    const struct iha_config *a, *b;
    json_t *list;
    bool live; /* collect the live keys (else those needing a restart) */
    bool nomem;
};

static void on_changed(void *cls, const char *key)
{
    struct changes *ch = cls;

    if (is_live(key) != ch->live)
        return;
    /* Left out of the file in both, the URL is the one found in the catalog at start. */
    if (strcmp(key, "instance_ha.url") == 0 && !ch->a->url_set && !ch->b->url_set)
        return;
    if (json_array_append_new(ch->list, json_string(key)) != 0)
        ch->nomem = true;
}

/* Appends to @p out the keys of @p from and @p to that differ and are (not) @p live. */
static enum iha_rc changed_keys(const struct iha_config *from, const struct iha_config *to,
                                bool live, json_t *out)
{
    struct changes ch = {.a = from, .b = to, .list = out, .live = live};

    iha_config_diff(from, to, on_changed, &ch);
    return ch.nomem ? IHA_E_NOMEM : IHA_OK;
}

/* The strings of @p a joined by ", " (malloc'ed); NULL when empty or out of memory. */
static char *joined(const json_t *a)
{
    size_t n = 0, used = 0, i;
    json_t *v;
    char *s;

    json_array_foreach(a, i, v) n += strlen(json_string_value(v)) + 2;
    if (n == 0)
        return NULL;
    s = malloc(n + 1);
    if (!s)
        return NULL;
    json_array_foreach(a, i, v)
    {
        size_t l = strlen(json_string_value(v));

        if (used) {
            memcpy(s + used, ", ", 2);
            used += 2;
        }
        memcpy(s + used, json_string_value(v), l);
        used += l;
    }
    s[used] = '\0';
    return s;
}

/* The first few errors of @p d in @p out, joined by "; ". */
static void diag_summary(const struct iha_diag *d, enum iha_rc rc, char *out, size_t size)
{
    size_t n = iha_diag_count(d), used = 0;

    out[0] = '\0';
    for (size_t i = 0; i < n && i < DIAG_SHOWN && used < size; i++) {
        int w = snprintf(out + used, size - used, "%s%s", i ? "; " : "", iha_diag_get(d, i));
        if (w < 0)
            break;
        used += (size_t)w;
    }
    if (used >= size)
        return; /* truncated: the log has the whole list */
    if (n > DIAG_SHOWN)
        snprintf(out + used, size - used, " (and %zu more)", n - DIAG_SHOWN);
    else if (n == 0)
        snprintf(out, size, "%s", iha_rc_str(rc));
}

static void failed(struct iha_reload *r, const char *trigger, const char *why, char *detail,
                   size_t size)
{
    snprintf(detail, size, "%s", why);
    IHA_LOG(IHA_LOG_ERROR, "configuration reload failed; the previous configuration stays in force",
            "trigger", trigger, "detail", why);
    pthread_mutex_lock(&r->lock);
    r->last_ok = false;
    r->last_time = time(NULL);
    snprintf(r->last_error, sizeof(r->last_error), "%s", why);
    r->reloads++;
    pthread_mutex_unlock(&r->lock);
    if (r->c.metrics) {
        iha_metrics_set(r->c.metrics, "iha_gateway_config_last_reload_successful", 0);
        iha_metrics_add(r->c.metrics, "iha_gateway_config_reloads_total", 1, "failure");
    }
}

/*
 * Records a reload that took effect: @p cfg, the rule @p names and the lists of settings
 * that need a restart or were applied become the status page's (all stolen).
 */
static void succeeded(struct iha_reload *r, struct iha_config *cfg, json_t *names, json_t *restart,
                      json_t *applied)
{
    pthread_mutex_lock(&r->lock);
    iha_config_free(r->current);
    r->current = cfg;
    json_decref(r->rule_names);
    r->rule_names = names;
    json_decref(r->restart_required);
    r->restart_required = restart;
    json_decref(r->applied);
    r->applied = applied;
    r->last_ok = true;
    r->last_time = time(NULL);
    r->last_error[0] = '\0';
    r->reloads++;
    pthread_mutex_unlock(&r->lock);
    if (r->c.metrics) {
        iha_metrics_set(r->c.metrics, "iha_gateway_config_last_reload_successful", 1);
        iha_metrics_set(r->c.metrics, "iha_gateway_config_last_reload_success_timestamp_seconds",
                        now_s());
        iha_metrics_add(r->c.metrics, "iha_gateway_config_reloads_total", 1, "success");
    }
}

/* iha_reload_run(); with @p answer, also the body of the answer to POST /-/reload. */
static enum iha_rc run_reload(struct iha_reload *r, const char *trigger, char *detail,
                              size_t detail_size, json_t **answer)
{
    struct iha_diag *diag = iha_diag_new();
    struct iha_config *cfg = NULL;
    const struct iha_config *prev;
    struct iha_ruleset *rs = iha_ruleset_new();
    struct iha_auth *auth = NULL;
    json_t *names = NULL, *restart = json_array(), *applied = json_array();
    char why[512], nrules[24], *list = NULL, *live = NULL;
    enum iha_rc rc = IHA_E_NOMEM;

    pthread_mutex_lock(&r->run_lock);
    detail[0] = '\0';
    if (answer)
        *answer = NULL;
    if (!diag || !rs || !restart || !applied) {
        failed(r, trigger, "out of memory", detail, detail_size);
        goto cleanup;
    }
    rc = r->c.load(r->c.load_cls, &cfg, diag);
    if (rc == IHA_OK)
        rc = iha_config_load_rules(cfg, rs, diag);
    if (rc != IHA_OK) {
        for (size_t i = 0; i < iha_diag_count(diag); i++)
            IHA_LOG(IHA_LOG_ERROR, "reload: config error", "detail", iha_diag_get(diag, i));
        diag_summary(diag, rc, why, sizeof(why));
        failed(r, trigger, why, detail, detail_size);
        goto cleanup;
    }
    if (cfg->auth_disabled && !iha_http_is_loopback(r->c.running->listen_address)) {
        rc = IHA_E_CONFIG;
        failed(r, trigger, "web.auth.disabled is allowed only on a loopback listen address", detail,
               detail_size);
        goto cleanup;
    }
    rc = iha_auth_new(cfg->auth_disabled, cfg->bearer_tokens_file, cfg->basic_users,
                      cfg->n_basic_users, &auth);
    names = rc == IHA_OK ? names_of(rs) : NULL;
    if (rc != IHA_OK || !names) {
        rc = rc != IHA_OK ? rc : IHA_E_NOMEM;
        snprintf(why, sizeof(why), "inbound authentication: %s", iha_rc_str(rc));
        failed(r, trigger, why, detail, detail_size);
        goto cleanup;
    }
    /* run_lock is held: r->current changes only under it. */
    prev = r->current ? r->current : r->c.running;
    rc = changed_keys(r->c.running, cfg, false, restart);
    if (rc == IHA_OK)
        rc = changed_keys(prev, cfg, true, applied);
    if (rc != IHA_OK) {
        failed(r, trigger, "out of memory", detail, detail_size);
        goto cleanup;
    }

    /* Everything is built: hand it over. Nothing below can fail. */
    snprintf(nrules, sizeof(nrules), "%zu", iha_ruleset_count(rs));
    iha_pipeline_replace_rules_steal(r->c.pipeline, rs);
    rs = NULL;
    pthread_mutex_lock(&r->lock);
    /* Under the lock, so that the server is not stopped and freed meanwhile. */
    iha_http_set_auth_steal(r->http, auth);
    pthread_mutex_unlock(&r->lock);
    auth = NULL;
    iha_log_setup(cfg->log_level, cfg->log_format);
    list = joined(restart);
    live = joined(applied);
    if (json_array_size(restart) > 0)
        snprintf(detail, detail_size, "reloaded; these settings differ and need a restart: %s",
                 list ? list : "(out of memory)");
    if (answer)
        *answer = json_pack("{s:s,s:s,s:O,s:O}", "status", "success", "detail", detail,
                            "restart_required", restart, "applied", applied);
    succeeded(r, cfg, names, restart, applied);
    cfg = NULL;
    names = restart = applied = NULL;
    IHA_LOG(IHA_LOG_INFO, "configuration reloaded", "trigger", trigger, "rules", nrules, "applied",
            live, "restart_required", list);
    if (list)
        IHA_LOG(IHA_LOG_WARN, "changed settings need a restart to apply", "settings", list);
    rc = IHA_OK;
cleanup:
    if (answer && rc != IHA_OK) {
        snprintf(why, sizeof(why), "failed to reload config: %s", detail);
        *answer = json_pack("{s:s,s:s}", "status", "error", "error", why);
    }
    free(list);
    free(live);
    json_decref(names);
    json_decref(restart);
    json_decref(applied);
    iha_auth_free(auth);
    iha_ruleset_free(rs);
    iha_config_free(cfg);
    iha_diag_free(diag);
    pthread_mutex_unlock(&r->run_lock);
    return rc;
}

enum iha_rc iha_reload_run(struct iha_reload *r, const char *trigger, char *detail,
                           size_t detail_size)
{
    return run_reload(r, trigger, detail, detail_size, NULL);
}

static const char *trigger_name(unsigned triggers)
{
    switch (triggers) {
    case IHA_RELOAD_SIGHUP:
        return "SIGHUP";
    case IHA_RELOAD_HTTP:
        return "POST /-/reload";
    default:
        return "SIGHUP, POST /-/reload";
    }
}

/* Answers and frees every request of @p w, each with its own copy of @p body. */
static void answer_all(struct waiter *w, unsigned status, const json_t *body)
{
    while (w) {
        struct waiter *next = w->next;

        w->reply(w->cls, status, body ? json_deep_copy(body) : NULL);
        free(w);
        w = next;
    }
}

/* The reload thread: one reload for all requests waiting when it starts. */
static void *worker(void *cls)
{
    struct iha_reload *r = cls;
    struct waiter *w;
    json_t *body;
    char detail[512];

    pthread_mutex_lock(&r->wlock);
    for (;;) {
        unsigned triggers;
        enum iha_rc rc;

        while (!r->stopping && !r->triggers)
            pthread_cond_wait(&r->wcond, &r->wlock);
        if (r->stopping)
            break;
        w = r->waiters;
        r->waiters = NULL;
        r->n_waiters = 0;
        triggers = r->triggers;
        r->triggers = 0;
        pthread_mutex_unlock(&r->wlock);
        rc = run_reload(r, trigger_name(triggers), detail, sizeof(detail), &body);
        answer_all(w, rc == IHA_OK ? 200 : 500, body);
        json_decref(body);
        pthread_mutex_lock(&r->wlock);
    }
    w = r->waiters;
    r->waiters = NULL;
    r->n_waiters = 0;
    pthread_mutex_unlock(&r->wlock);
    body = json_pack("{s:s,s:s}", "status", "error", "error", "the gateway is shutting down");
    answer_all(w, 503, body);
    json_decref(body);
    return NULL;
}

enum iha_rc iha_reload_request(struct iha_reload *r, enum iha_reload_trigger trigger,
                               iha_reply_fn reply, void *reply_cls, struct iha_err *err)
{
    struct waiter *w = NULL;
    enum iha_rc rc = IHA_OK;

    if (reply) {
        w = calloc(1, sizeof(*w));
        if (!w) {
            iha_err_set(err, NULL, "out of memory");
            return IHA_E_NOMEM;
        }
        w->reply = reply;
        w->cls = reply_cls;
    }
    pthread_mutex_lock(&r->wlock);
    if (r->stopping) {
        iha_err_set(err, NULL, "the gateway is shutting down");
        rc = IHA_E_LIMIT;
    } else if (w && r->n_waiters >= IHA_RELOAD_MAX_WAITING) {
        iha_err_set(err, NULL, "%u reload requests are already waiting",
                    (unsigned)IHA_RELOAD_MAX_WAITING);
        rc = IHA_E_LIMIT;
    } else {
        if (w) {
            w->next = r->waiters;
            r->waiters = w;
            r->n_waiters++;
            w = NULL;
        }
        r->triggers |= (unsigned)trigger;
        pthread_cond_signal(&r->wcond);
    }
    pthread_mutex_unlock(&r->wlock);
    free(w);
    return rc;
}

/* ---- status ---- */

struct oldest {
    long long min_ms;
};

static void visit_oldest(void *cls, const struct iha_queue_item *it)
{
    struct oldest *o = cls;
    json_int_t ms = json_integer_value(json_object_get(it->record, "received_ms"));

    if (ms > 0 && (o->min_ms == 0 || ms < o->min_ms))
        o->min_ms = ms;
}

/* Depth and age of the oldest entry in seconds (0 when empty). */
static void queue_numbers(struct iha_queue *q, size_t *depth, double *oldest_s)
{
    struct oldest o = {0};
    long long now_ms;

    *depth = 0;
    *oldest_s = 0;
    if (!q)
        return;
    *depth = iha_queue_stats(q).live;
    iha_queue_foreach(q, visit_oldest, &o);
    now_ms = iha_clock_wall_ms();
    if (o.min_ms && now_ms > o.min_ms)
        *oldest_s = (double)(now_ms - o.min_ms) / 1000.0;
}

void iha_reload_refresh(struct iha_reload *r)
{
    size_t depth;
    double age;

    if (!r || !r->c.metrics)
        return;
    queue_numbers(r->c.queue, &depth, &age);
    iha_metrics_set(r->c.metrics, "iha_gateway_queue_depth", (double)depth);
    iha_metrics_set(r->c.metrics, "iha_gateway_queue_oldest_age_seconds", age);
}

json_t *iha_reload_status(struct iha_reload *r)
{
    const struct iha_config *cfg;
    char token[256], started[IHA_TIME_LEN], last[IHA_TIME_LEN], problem[256];
    struct iha_queue_stats qs = {0};
    size_t depth;
    double age;
    bool unhealthy = false;
    json_t *o = NULL, *queue;

    iha_token_source_describe(r->c.token, token, sizeof(token));
    queue_numbers(r->c.queue, &depth, &age);
    problem[0] = '\0';
    if (r->c.queue) {
        qs = iha_queue_stats(r->c.queue);
        unhealthy = iha_queue_unhealthy(r->c.queue, problem, sizeof(problem));
    }
    queue = json_pack("{s:s?,s:I,s:f,s:I,s:b,s:s}", "path",
                      r->c.queue ? iha_queue_dir(r->c.queue) : NULL, "depth", (json_int_t)depth,
                      "oldest_age_seconds", age, "disk_bytes", (json_int_t)qs.disk_bytes, "healthy",
                      !unhealthy, "problem", problem);
    pthread_mutex_lock(&r->lock);
    cfg = r->current ? r->current : r->c.running;
    iha_time_format(r->started, started);
    iha_time_format(r->last_time, last);
    o = json_pack("{s:s,s:s,s:I,s:{s:s?,s:s,s:s},s:o,s:O,s:o,s:{s:s},"
                  "s:{s:b,s:s,s:s,s:I,s:O,s:O}}",
                  "version", IHA_VERSION, "started", started, "uptime_seconds",
                  (json_int_t)(time(NULL) - r->started), "instance_ha", "url", r->c.running->url,
                  "dialect", iha_dialect_name(r->c.running->dialect), "token", token, "config",
                  iha_config_to_json_redacted(cfg), "rules", r->rule_names, "queue",
                  queue ? queue : json_null(), "token", "description", token, "reload",
                  "last_successful", r->last_ok, "last_time", last, "last_error", r->last_error,
                  "reloads", (json_int_t)r->reloads, "restart_required", r->restart_required,
                  "applied", r->applied);
    pthread_mutex_unlock(&r->lock);
    if (o && r->c.pipeline)
        json_object_set_new(o, "policy", iha_pipeline_policy_status(r->c.pipeline));
    return o;
}

/* ---- HTTP callbacks ---- */

static void ops_refresh(void *cls)
{
    iha_reload_refresh(cls);
}

static json_t *ops_status(void *cls)
{
    return iha_reload_status(cls);
}

static enum iha_rc ops_reload(void *cls, iha_reply_fn reply, void *reply_cls, struct iha_err *err)
{
    return iha_reload_request(cls, IHA_RELOAD_HTTP, reply, reply_cls, err);
}

void iha_reload_http_ops(struct iha_reload *r, struct iha_events *events, struct iha_http_ops *out)
{
    memset(out, 0, sizeof(*out));
    out->events = events;
    out->refresh = ops_refresh;
    out->status = ops_status;
    out->reload = ops_reload;
    out->cls = r;
}
