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
 * iha_gateway_config_last_reload_successful 0, the answer to POST /-/reload). Settings
 * that need a restart (web.listen_address, storage.*, instance_ha.*, dedupe.*,
 * web.max_request_bytes, web.read_timeout) are reported when they differ.
 */
#ifndef IHA_RELOAD_H
#define IHA_RELOAD_H

#include <jansson.h>
#include <stddef.h>

#include "config.h"
#include "rc.h"

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

/** @return a reloader or NULL (out of memory). */
struct iha_reload *iha_reload_new(const struct iha_reload_config *cfg);

/** Sets the HTTP server that gets new inbound authentication (NULL to detach). Thread-safe. */
void iha_reload_set_http(struct iha_reload *r, struct iha_http *h);

/**
 * Reloads. @p trigger ("SIGHUP", "POST /-/reload") goes to the log. Reloads are
 * serialised; any thread may call.
 * @return IHA_OK (@p detail names the settings that still need a restart, or is empty);
 *         otherwise the error code with the reason in @p detail, and nothing changed.
 */
enum iha_rc iha_reload_run(struct iha_reload *r, const char *trigger, char *detail,
                           size_t detail_size);

/**
 * @return a new object for /api/v1/status: version, started, instance_ha {url, dialect,
 *         token (a description, never the token)}, config (secrets as "<secret>"), rules
 *         (names), queue, token, reload. NULL when out of memory. Thread-safe.
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

/** Frees @p r (not what it borrows). NULL-safe. */
void iha_reload_free(struct iha_reload *r);

/**
 * @return @p cfg as JSON, with every secret (passwords, application credential secrets,
 *         basic auth hashes) as "<secret>" and file names of secrets kept; NULL when out
 *         of memory.
 */
json_t *iha_config_to_json_redacted(const struct iha_config *cfg);

#endif
