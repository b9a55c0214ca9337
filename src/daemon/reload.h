/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file reload.h
 * @brief The live configuration of a running gateway: reload (SIGHUP, POST /-/reload),
 *        and what /api/v1/status and the queue gauges of /metrics report about it.
 *
 * A reload reads the config file again (with the command-line flags applied over it),
 * the inbound tokens and users, and every rule file, and builds a complete new rule set
 * and inbound authentication. Only when all of that succeeded are they handed over: the
 * rules to the pipeline and the authentication to the HTTP server, which both adopt them
 * on the HTTP thread at its next request, so a request being mapped finishes with the old
 * rules and nothing in flight is lost. log.level and log.format apply at once. A config
 * that fails leaves the previous one in force and says why (log line, the metric
 * iha_gateway_config_last_reload_successful 0, the answer to POST /-/reload).
 *
 * Applied live: web.auth.* (disabled, bearer_tokens_file, basic_auth_users),
 * mapping.rule_files (and the rule files' contents), log.level, log.format. Every other
 * key of the file (web.listen_address, web.max_request_bytes, web.read_timeout, all of
 * instance_ha.* including tls.* and auth.*, dedupe.*, storage.*, and any key added later)
 * needs a restart: when it differs from the running value it is named, by its full key,
 * in the answer, the log and /api/v1/status (reload.restart_required). The whole config
 * is compared key by key (iha_config_diff()), not a chosen list.
 *
 * Reloads run on the reloader's own thread, one at a time; SIGHUP and POST /-/reload only
 * ask for one (iha_reload_request()), so neither the signal loop nor the HTTP thread
 * waits for YAML, globs or regex compilation. The thread and lock map is in reload.c.
 */
#ifndef IHA_RELOAD_H
#define IHA_RELOAD_H

#include <jansson.h>
#include <stddef.h>

#include "config.h"
#include "pipeline.h"
#include "rc.h"

/** Requests for a reload waiting at most (POST /-/reload beyond it: 503). */
#define IHA_RELOAD_MAX_WAITING 64u

/** Who asked for a reload (bits: requests waiting together share one reload). */
enum iha_reload_trigger {
    IHA_RELOAD_SIGHUP = 1u,
    IHA_RELOAD_HTTP = 2u,
};

struct iha_reload;
struct iha_pipeline;
struct iha_metrics;
struct iha_queue;
struct iha_http;
struct iha_token_source;
struct iha_ruleset;

/** Loads the configuration as at start (file or default, flags applied). */
typedef enum iha_rc (*iha_reload_load_fn)(void *cls, struct iha_config **out,
                                          struct iha_diag *diag);

/** What a reload works on; everything borrowed, and must outlive the reloader. */
struct iha_reload_config {
    iha_reload_load_fn load;
    void *load_cls;
    const struct iha_config *running; /**< the config the daemon started with */
    const struct iha_ruleset *rules;  /**< the rules it started with (names for status) */
    struct iha_pipeline *pipeline;    /**< gets the new rules */
    struct iha_metrics *metrics;      /**< may be NULL */
    struct iha_queue *queue;          /**< may be NULL: status and gauges without it */
    struct iha_token_source *token;   /**< may be NULL: described, never printed */
};

/**
 * Starts the reload thread (with every signal blocked).
 * @return a reloader or NULL (out of memory, no thread).
 */
struct iha_reload *iha_reload_new(const struct iha_reload_config *cfg);

/**
 * Sets the HTTP server that gets new inbound authentication (NULL to detach). Thread-safe;
 * once it returned NULL'ed, no reload touches the previous server any more.
 */
void iha_reload_set_http(struct iha_reload *r, struct iha_http *h);

/**
 * Reloads now, on the calling thread, and waits for it. @p trigger goes to the log.
 * Reloads are serialised; any thread but the HTTP thread may call.
 * @return IHA_OK (@p detail names the settings that still need a restart, or is empty);
 *         otherwise the error code with the reason in @p detail, and nothing changed.
 */
enum iha_rc iha_reload_run(struct iha_reload *r, const char *trigger, char *detail,
                           size_t detail_size);

/**
 * Asks the reload thread for a reload and returns at once; any thread. A request made
 * while a reload runs gets the next one; requests waiting together share it.
 * @param reply NULL (SIGHUP: the log and status say how it went), or called exactly once
 *        from the reload thread, or from iha_reload_stop(), with the HTTP status (200;
 *        500 refused config; 503 shutting down) and the answer (stolen), e.g.
 *        {"status": "success", "detail": "...", "restart_required": ["instance_ha.tls.ca_file"],
 *        "applied": ["log.level"]} or {"status": "error", "error": "failed to reload config: ..."}
 * @return IHA_OK; IHA_E_LIMIT (stopping, or IHA_RELOAD_MAX_WAITING requests wait; in
 *         @p err); IHA_E_NOMEM. @p reply is not called unless IHA_OK.
 */
enum iha_rc iha_reload_request(struct iha_reload *r, enum iha_reload_trigger trigger,
                               iha_reply_fn reply, void *reply_cls,
                               struct iha_err *err) IHA_MUST_CHECK;

/**
 * Stops the reload thread: waits for a reload in progress, answers the requests still
 * waiting with 503 and refuses new ones. Call before what the reloader borrows (pipeline,
 * HTTP server) goes away. NULL-safe; idempotent.
 */
void iha_reload_stop(struct iha_reload *r);

/**
 * @return a new object for /api/v1/status: version, started, instance_ha {url, dialect,
 *         token (a description, never the token)}, config (secrets as "<secret>"), rules
 *         (names), queue, token, reload {last_successful, last_time, last_error, reloads,
 *         restart_required, applied}. NULL when out of memory. Thread-safe.
 */
json_t *iha_reload_status(struct iha_reload *r);

/** Sets iha_gateway_queue_depth and iha_gateway_queue_oldest_age_seconds from the queue. */
void iha_reload_refresh(struct iha_reload *r);

struct iha_http_ops;
struct iha_events;

/**
 * Fills @p out with the HTTP server's operability callbacks bound to @p r: refresh
 * (queue gauges), status, reload (trigger "POST /-/reload"); @p events for the events
 * routes and the status page.
 */
void iha_reload_http_ops(struct iha_reload *r, struct iha_events *events, struct iha_http_ops *out);

/** Stops (iha_reload_stop()) and frees @p r (not what it borrows). NULL-safe. */
void iha_reload_free(struct iha_reload *r);

/**
 * @return @p cfg as JSON, with every secret (passwords, application credential secrets,
 *         basic auth hashes) as "<secret>" and file names of secrets kept; NULL when out
 *         of memory.
 */
json_t *iha_config_to_json_redacted(const struct iha_config *cfg);

#endif
