/* SPDX-License-Identifier: Apache-2.0 */
/** @file config.c @brief Gateway configuration: the descriptor table, defaults and loading.
 *
 * This file holds the table that describes every key, the configuration's life (defaults,
 * freeing) and the loading of a file or text. The jobs done with the table live apart so
 * each can be read on its own: turning YAML sections into fields (config_parse.c), the
 * checks across fields (config_check.c), comparing two configurations for a reload
 * (config_diff.c); loading the mapping rules a configuration names is in config_rules.c.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "config_int.h"
#include "yaml_tree.h"

#define EMBEDDED_SOURCE "<embedded default>"

#define FIELD(k, t, member, fl)                                                                    \
    {                                                                                              \
        k, t, offsetof(struct iha_config, member), fl, NULL                                        \
    }
#define SECTION(k, s)                                                                              \
    {                                                                                              \
        k, F_SECTION, 0, 0, s                                                                      \
    }

static const struct field auth_fields[] = {
    FIELD("disabled", F_BOOL, auth_disabled, 0),
    FIELD("bearer_tokens_file", F_PATH, bearer_tokens_file, 0),
    FIELD("basic_auth_users", F_USERS, basic_users, 0),
    {NULL, F_SECTION, 0, 0, NULL},
};

static const struct field web_tls_fields[] = {
    FIELD("cert_file", F_PATH, web_tls.cert_file, 0),
    FIELD("key_file", F_PATH, web_tls.key_file, 0),
    FIELD("client_ca_file", F_PATH, web_tls.client_ca_file, 0),
    FIELD("client_auth_type", F_CLICERT, web_tls.client_auth_type, 0),
    FIELD("min_version", F_TLS_MIN, web_tls.min_version, 0),
    {NULL, F_SECTION, 0, 0, NULL},
};

static const struct field web_fields[] = {
    FIELD("listen_address", F_ADDR, listen_address, 0),
    FIELD("max_request_bytes", F_SIZE, max_request_bytes, NONZERO),
    FIELD("read_timeout", F_DUR_S, read_timeout_s, NONZERO),
    SECTION("auth", auth_fields),
    SECTION("tls_server_config", web_tls_fields),
    {NULL, F_SECTION, 0, 0, NULL},
};

static const struct field iha_tls_fields[] = {
    FIELD("ca_file", F_PATH, tls.ca_file, 0),
    FIELD("cert_file", F_PATH, tls.cert_file, 0),
    FIELD("key_file", F_PATH, tls.key_file, 0),
    FIELD("insecure", F_BOOL, tls.insecure, 0),
    {NULL, F_SECTION, 0, 0, NULL},
};

static const struct field ks_tls_fields[] = {
    FIELD("ca_file", F_PATH, auth.tls.ca_file, 0),
    FIELD("cert_file", F_PATH, auth.tls.cert_file, 0),
    FIELD("key_file", F_PATH, auth.tls.key_file, 0),
    FIELD("insecure", F_BOOL, auth.tls.insecure, 0),
    {NULL, F_SECTION, 0, 0, NULL},
};

static const struct field ks_auth_fields[] = {
    FIELD("type", F_AUTH, auth.type, 0),
    FIELD("auth_url", F_URL, auth.auth_url, 0),
    FIELD("username", F_STR, auth.username, 0),
    FIELD("user_id", F_STR, auth.user_id, 0),
    FIELD("user_domain_name", F_STR, auth.user_domain_name, 0),
    FIELD("user_domain_id", F_STR, auth.user_domain_id, 0),
    FIELD("password", F_SECRET, auth.password, 0),
    FIELD("password_file", F_PATH, auth.password_file, 0),
    FIELD("project_name", F_STR, auth.project_name, 0),
    FIELD("project_id", F_STR, auth.project_id, 0),
    FIELD("project_domain_name", F_STR, auth.project_domain_name, 0),
    FIELD("project_domain_id", F_STR, auth.project_domain_id, 0),
    FIELD("application_credential_id", F_STR, auth.application_credential_id, 0),
    FIELD("application_credential_name", F_STR, auth.application_credential_name, 0),
    FIELD("application_credential_secret", F_SECRET, auth.application_credential_secret, 0),
    FIELD("application_credential_secret_file", F_PATH, auth.application_credential_secret_file, 0),
    FIELD("cloud", F_STR, auth.cloud, 0),
    FIELD("region_name", F_STR, auth.region_name, 0),
    FIELD("interface", F_STR, auth.interface, 0),
    SECTION("tls", ks_tls_fields),
    {NULL, F_SECTION, 0, 0, NULL},
};

static const struct field iha_fields[] = {
    FIELD("url", F_URL, url, 0),
    FIELD("dialect", F_DIALECT, dialect, 0),
    FIELD("token_file", F_PATH, token_file, 0),
    FIELD("connect_timeout", F_DUR_MS, connect_timeout_ms, NONZERO),
    FIELD("timeout", F_DUR_MS, timeout_ms, NONZERO),
    FIELD("retry_for", F_DUR_MS, retry_for_ms, 0),
    SECTION("tls", iha_tls_fields),
    SECTION("auth", ks_auth_fields),
    {NULL, F_SECTION, 0, 0, NULL},
};

static const struct field dedupe_fields[] = {
    FIELD("window", F_DUR_S, dedupe_window_s, NONZERO),
    FIELD("max_entries", F_COUNT, dedupe_max_entries, NONZERO),
    {NULL, F_SECTION, 0, 0, NULL},
};

static const struct field mapping_fields[] = {
    FIELD("rule_files", F_GLOBS, rule_files, 0),
    {NULL, F_SECTION, 0, 0, NULL},
};

static const struct field storage_fields[] = {
    FIELD("path", F_PATH, storage_path, 0),
    FIELD("max_bytes", F_SIZE, storage_max_bytes, NONZERO),
    FIELD("max_entries", F_COUNT, storage_max_entries, NONZERO),
    FIELD("segment_bytes", F_SIZE, storage_segment_bytes, NONZERO),
    FIELD("max_age", F_DUR_MS, storage_max_age_ms, NONZERO),
    FIELD("max_backoff", F_DUR_MS, storage_max_backoff_ms, NONZERO),
    {NULL, F_SECTION, 0, 0, NULL},
};

static const struct field storm_fields[] = {
    FIELD("window", F_DUR_MS, policy_window_ms, NONZERO),
    FIELD("max_hosts", F_UINT, policy_max_hosts, 0),
    FIELD("domain_percent", F_PERCENT, policy_domain_percent, 0),
    FIELD("domain_min_hosts", F_UINT, policy_domain_min_hosts, NONZERO),
    FIELD("failure_domain", F_STR, policy_failure_domain, 0),
    FIELD("auto_release", F_DUR_MS, policy_auto_release_ms, 0),
    {NULL, F_SECTION, 0, 0, NULL},
};

static const struct field flapping_fields[] = {
    FIELD("count", F_UINT, policy_flap_count, 0),
    FIELD("window", F_DUR_MS, policy_flap_window_ms, NONZERO),
    FIELD("settle", F_DUR_MS, policy_flap_settle_ms, NONZERO),
    {NULL, F_SECTION, 0, 0, NULL},
};

static const struct field rate_fields[] = {
    FIELD("burst", F_UINT, policy_rate_burst, 0),
    FIELD("interval", F_DUR_MS, policy_rate_interval_ms, NONZERO),
    {NULL, F_SECTION, 0, 0, NULL},
};

static const struct field heartbeat_fields[] = {
    FIELD("alertname", F_STR, policy_heartbeat_alertname, 0),
    FIELD("missing_after", F_DUR_MS, policy_heartbeat_after_ms, 0),
    {NULL, F_SECTION, 0, 0, NULL},
};

static const struct field policy_fields[] = {
    FIELD("enabled", F_BOOL, policy_enabled, 0),
    FIELD("settle", F_DUR_MS, policy_settle_ms, 0),
    SECTION("storm", storm_fields),
    SECTION("flapping", flapping_fields),
    SECTION("rate_limit", rate_fields),
    SECTION("heartbeat", heartbeat_fields),
    {NULL, F_SECTION, 0, 0, NULL},
};

static const struct field log_fields[] = {
    FIELD("level", F_LEVEL, log_level, 0),
    FIELD("format", F_FORMAT, log_format, 0),
    {NULL, F_SECTION, 0, 0, NULL},
};

const struct field iha_config_top_fields[] = {
    SECTION("web", web_fields),       SECTION("instance_ha", iha_fields),
    SECTION("dedupe", dedupe_fields), SECTION("mapping", mapping_fields),
    SECTION("log", log_fields),       SECTION("storage", storage_fields),
    SECTION("policy", policy_fields), {NULL, F_SECTION, 0, 0, NULL},
};

/* ---- defaults and freeing ---------------------------------------------- */

void iha_config_free_users(struct iha_basic_user *u, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(u[i].name);
        free(u[i].hash);
    }
    free(u);
}

void iha_config_free_strings(char **s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(s[i]);
    free(s);
}

static void free_secret_str(char *s)
{
    if (s) {
        explicit_bzero(s, strlen(s));
        free(s);
    }
}

static void free_tls(struct iha_tls_config *t)
{
    free(t->ca_file);
    free(t->cert_file);
    free(t->key_file);
}

static void free_auth(struct iha_auth_config *a)
{
    free(a->auth_url);
    free(a->username);
    free(a->user_id);
    free(a->user_domain_name);
    free(a->user_domain_id);
    free_secret_str(a->password);
    free(a->password_file);
    free(a->project_name);
    free(a->project_id);
    free(a->project_domain_name);
    free(a->project_domain_id);
    free(a->application_credential_id);
    free(a->application_credential_name);
    free_secret_str(a->application_credential_secret);
    free(a->application_credential_secret_file);
    free(a->cloud);
    free(a->region_name);
    free(a->interface);
    free_tls(&a->tls);
}

void iha_config_free(struct iha_config *cfg)
{
    if (!cfg)
        return;
    free(cfg->source);
    free(cfg->listen_address);
    free(cfg->bearer_tokens_file);
    iha_config_free_users(cfg->basic_users, cfg->n_basic_users);
    free(cfg->web_tls.cert_file);
    free(cfg->web_tls.key_file);
    free(cfg->web_tls.client_ca_file);
    free(cfg->url);
    free(cfg->token_file);
    free_tls(&cfg->tls);
    free_auth(&cfg->auth);
    free(cfg->storage_path);
    free(cfg->policy_failure_domain);
    free(cfg->policy_heartbeat_alertname);
    iha_config_free_strings(cfg->rule_files, cfg->n_rule_files);
    free(cfg);
}

enum iha_rc iha_config_set_string(char **field, const char *value)
{
    char *copy = NULL;

    if (value) {
        copy = strdup(value);
        if (!copy)
            return IHA_E_NOMEM;
    }
    free(*field);
    *field = copy;
    return IHA_OK;
}

enum iha_rc iha_config_default(struct iha_config **out)
{
    struct iha_config *cfg = calloc(1, sizeof(*cfg));
    enum iha_rc rc = IHA_E_NOMEM;

    *out = NULL;
    if (!cfg)
        return IHA_E_NOMEM;
    if (iha_config_set_string(&cfg->source, EMBEDDED_SOURCE) != IHA_OK ||
        iha_config_set_string(&cfg->listen_address, IHA_DEFAULT_LISTEN) != IHA_OK ||
        iha_config_set_string(&cfg->bearer_tokens_file, IHA_DEFAULT_INBOUND_TOKENS) != IHA_OK ||
        iha_config_set_string(&cfg->url, IHA_DEFAULT_URL) != IHA_OK ||
        iha_config_set_string(&cfg->storage_path, IHA_DEFAULT_STORAGE_PATH) != IHA_OK ||
        iha_config_set_string(&cfg->policy_failure_domain, "segment") != IHA_OK ||
        iha_config_set_string(&cfg->policy_heartbeat_alertname, "Watchdog") != IHA_OK)
        goto cleanup;
    cfg->storage_max_bytes = 256u * 1024 * 1024;
    cfg->storage_max_entries = 10000;
    cfg->storage_segment_bytes = 4u * 1024 * 1024;
    cfg->storage_max_age_ms = 6u * 3600u * 1000u;
    cfg->storage_max_backoff_ms = 60000;
    cfg->max_request_bytes = 8 * 1024 * 1024;
    cfg->read_timeout_s = 30;
    cfg->auth_disabled = false;
    cfg->dialect = IHA_DIALECT_MASAKARI;
    cfg->token_file = NULL;
    cfg->connect_timeout_ms = 3000;
    cfg->timeout_ms = 10000;
    cfg->retry_for_ms = 20000;
    cfg->dedupe_window_s = 180;
    cfg->dedupe_max_entries = 100000;
    cfg->log_level = IHA_LOG_INFO;
    cfg->log_format = IHA_LOG_LOGFMT;
    /* Kubernetes' node lifecycle controller: 55 % of a zone (at least 3), 0.1 node/s. */
    cfg->policy_enabled = true;
    cfg->policy_settle_ms = 10000;
    cfg->policy_window_ms = 5u * 60u * 1000u;
    cfg->policy_max_hosts = 5;
    cfg->policy_domain_percent = 55;
    cfg->policy_domain_min_hosts = 3;
    cfg->policy_flap_count = 3;
    cfg->policy_flap_window_ms = 10u * 60u * 1000u;
    cfg->policy_flap_settle_ms = 2u * 60u * 1000u;
    cfg->policy_rate_burst = 3;
    cfg->policy_rate_interval_ms = 10000;
    *out = cfg;
    cfg = NULL;
    rc = IHA_OK;

cleanup:
    iha_config_free(cfg);
    return rc;
}

static enum iha_rc load_root(const char *name, const struct iha_ynode *root,
                             struct iha_config **out, struct iha_diag *diag)
{
    struct cloader ld;
    enum iha_rc rc;

    memset(&ld, 0, sizeof(ld));
    ld.diag = diag;
    rc = iha_config_default(&ld.cfg);
    if (rc != IHA_OK)
        return rc;
    rc = iha_config_set_string(&ld.cfg->source, name);
    if (rc != IHA_OK)
        goto cleanup;
    iha_config_load_section(&ld, root, iha_config_top_fields, "");
    ld.cfg->url_set = iha_config_get_path(root, "instance_ha", "url", NULL) != NULL;
    if (!ld.nomem && !ld.errors)
        iha_config_check_cross(&ld, root);
    if (ld.nomem)
        rc = IHA_E_NOMEM;
    else if (ld.errors)
        rc = IHA_E_CONFIG;
    if (rc == IHA_OK) {
        *out = ld.cfg;
        ld.cfg = NULL;
    }

cleanup:
    iha_config_free(ld.cfg);
    return rc;
}

enum iha_rc iha_config_load(const char *name, const char *text, size_t len, struct iha_config **out,
                            struct iha_diag *diag)
{
    struct iha_ynode *root = NULL;
    enum iha_rc rc;

    *out = NULL;
    rc = iha_ytree_parse(name, text, len, &root, diag);
    if (rc == IHA_E_PARSE || rc == IHA_E_LIMIT)
        return IHA_E_CONFIG;
    if (rc != IHA_OK)
        return rc;
    rc = load_root(name, root, out, diag);
    iha_ynode_free(root);
    return rc;
}

enum iha_rc iha_config_load_file(const char *path, struct iha_config **out, struct iha_diag *diag)
{
    struct iha_ynode *root = NULL;
    enum iha_rc rc;

    *out = NULL;
    rc = iha_ytree_parse_file(path, &root, diag);
    if (rc == IHA_E_PARSE || rc == IHA_E_LIMIT)
        return IHA_E_CONFIG;
    if (rc != IHA_OK)
        return rc;
    rc = load_root(path, root, out, diag);
    iha_ynode_free(root);
    return rc;
}
