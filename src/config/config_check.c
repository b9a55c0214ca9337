/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file config_check.c
 * @brief The checks that need more than one field: web authentication, storage, timeouts
 *        and what each instance_ha.auth type requires.
 *
 * Separate from the per-value parsing: these run once every value parsed cleanly and judge
 * the combination (a disabled authentication on a public address, Keystone settings with a
 * static token), which is where a configuration that parses still must be refused.
 */
#include "config_int.h"

#include <string.h>

#include "listen_addr.h"

static const char *const interface_names[] = {"public", "internal", "admin", NULL};

const struct iha_ynode *iha_config_get_path(const struct iha_ynode *root, const char *a,
                                            const char *b, const char *c)
{
    const struct iha_ynode *n = iha_ynode_get(root, a);

    if (n && b)
        n = iha_ynode_get(n, b);
    if (n && c)
        n = iha_ynode_get(n, c);
    return n;
}

/* Reports @p key of instance_ha.auth as required for the configured type. */
static void auth_needs(struct cloader *ld, const struct iha_ynode *root, const char *what)
{
    const struct iha_ynode *at = iha_config_get_path(root, "instance_ha", "auth", NULL);

    iha_config_error(ld, at, "instance_ha.auth: type %s needs %s",
                     iha_config_auth_type_names[ld->cfg->auth.type], what);
}

/* instance_ha.auth: what each type needs, and nothing that another type would use. */
static void check_auth(struct cloader *ld, const struct iha_ynode *root)
{
    const struct iha_auth_config *a = &ld->cfg->auth;
    const struct iha_ynode *at = iha_config_get_path(root, "instance_ha", "auth", NULL);

    if (a->interface) {
        size_t i;
        for (i = 0; interface_names[i]; i++)
            if (strcmp(a->interface, interface_names[i]) == 0)
                break;
        if (!interface_names[i])
            iha_config_bad_enum(ld, iha_ynode_get(at, "interface"), "instance_ha.auth.interface",
                                interface_names, "public, internal or admin");
    }
    if (a->password && a->password_file)
        iha_config_error(ld, iha_ynode_get(at, "password"),
                         "instance_ha.auth: set password or password_file, not both");
    if (a->application_credential_secret && a->application_credential_secret_file)
        iha_config_error(ld, iha_ynode_get(at, "application_credential_secret"),
                         "instance_ha.auth: set application_credential_secret or "
                         "application_credential_secret_file, not both");
    switch (a->type) {
    case IHA_AUTH_STATIC:
        if (a->auth_url || a->cloud || a->username || a->user_id || a->application_credential_id ||
            a->application_credential_name)
            iha_config_error(
                ld, at,
                "instance_ha.auth: Keystone settings are present but type is static (the "
                "default); set type: password, application_credential or cloud");
        break;
    case IHA_AUTH_PASSWORD:
        if (!a->auth_url)
            auth_needs(ld, root, "auth_url");
        if (!a->username && !a->user_id)
            auth_needs(ld, root, "username or user_id");
        if (!a->password && !a->password_file)
            auth_needs(ld, root, "password_file (or password)");
        if (!a->project_name && !a->project_id)
            auth_needs(ld, root,
                       "project_name or project_id (Instance HA needs a project-scoped token "
                       "with the admin role)");
        break;
    case IHA_AUTH_APPCRED:
        if (!a->auth_url)
            auth_needs(ld, root, "auth_url");
        if (!a->application_credential_id &&
            !(a->application_credential_name && (a->username || a->user_id)))
            auth_needs(ld, root,
                       "application_credential_id, or application_credential_name with "
                       "username or user_id");
        if (!a->application_credential_secret && !a->application_credential_secret_file)
            auth_needs(ld, root,
                       "application_credential_secret_file (or application_credential_secret)");
        if (a->project_name || a->project_id)
            iha_config_error(ld, at,
                             "instance_ha.auth: an application credential is already scoped to its "
                             "project; remove project_name/project_id");
        break;
    case IHA_AUTH_CLOUD:
        if (!a->cloud)
            auth_needs(ld, root, "cloud (the name of an entry in clouds.yaml)");
        break;
    }
    if (a->type != IHA_AUTH_STATIC && ld->cfg->token_file)
        iha_config_error(ld, iha_config_get_path(root, "instance_ha", "token_file", NULL),
                         "instance_ha.token_file: only used with instance_ha.auth.type static");
}

/* Whether @p cat has the listener verify client certificates (so it needs a CA). */
static bool verifies_client(enum iha_web_client_auth cat)
{
    switch (cat) {
    case IHA_WEB_CLIENT_AUTH_VERIFY_IF_GIVEN:
    case IHA_WEB_CLIENT_AUTH_REQUIRE:
        return true;
    case IHA_WEB_CLIENT_AUTH_UNSET:
    case IHA_WEB_CLIENT_AUTH_NONE:
        break;
    }
    return false;
}

/*
 * web.tls_server_config: the pairs that belong together (the values themselves were
 * checked when they were read).
 */
static void check_web_tls(struct cloader *ld, const struct iha_ynode *root)
{
    const struct iha_config *cfg = ld->cfg;
    enum iha_web_client_auth cat = cfg->web_tls.client_auth_type;
    bool verify = verifies_client(cat);

    if (!cfg->web_tls.cert_file != !cfg->web_tls.key_file)
        iha_config_error(ld, iha_config_get_path(root, "web", "tls_server_config", NULL),
                         "web.tls_server_config: cert_file and key_file go together");
    if (!cfg->web_tls.cert_file &&
        (cfg->web_tls.client_ca_file || cat != IHA_WEB_CLIENT_AUTH_UNSET ||
         cfg->web_tls.min_version != IHA_WEB_TLS_MIN_UNSET))
        iha_config_error(ld, iha_config_get_path(root, "web", "tls_server_config", NULL),
                         "web.tls_server_config: set cert_file and key_file to serve TLS");
    if (verify && !cfg->web_tls.client_ca_file)
        iha_config_error(ld,
                         iha_config_get_path(root, "web", "tls_server_config", "client_auth_type"),
                         "web.tls_server_config.client_auth_type: %s needs client_ca_file",
                         iha_config_client_auth_names[cat - IHA_WEB_CLIENT_AUTH_NONE]);
    if (cfg->web_tls.client_ca_file && !verify)
        iha_config_error(ld,
                         iha_config_get_path(root, "web", "tls_server_config", "client_ca_file"),
                         "web.tls_server_config.client_ca_file: only used with client_auth_type "
                         "VerifyClientCertIfGiven or RequireAndVerifyClientCert");
}

/* Checks that need more than one field. */
static const char *const failure_domain_names[] = {"segment", "none", NULL};

/* policy: a storm guard that can never trip, and settings that defeat their purpose. */
static void check_policy(struct cloader *ld, const struct iha_ynode *root)
{
    const struct iha_config *cfg = ld->cfg;
    const struct iha_ynode *storm = iha_config_get_path(root, "policy", "storm", NULL);
    const char *fd = cfg->policy_failure_domain ? cfg->policy_failure_domain : "none";
    size_t i;

    for (i = 0; failure_domain_names[i]; i++)
        if (strcmp(fd, failure_domain_names[i]) == 0)
            break;
    if (!failure_domain_names[i])
        iha_config_bad_enum(ld, iha_ynode_get(storm, "failure_domain"),
                            "policy.storm.failure_domain", failure_domain_names, "segment or none");
    if (!cfg->policy_enabled)
        return;
    if (cfg->policy_max_hosts == 0 &&
        (cfg->policy_domain_percent == 0 || cfg->policy_domain_percent == 100 ||
         strcmp(fd, "none") == 0))
        iha_config_error(ld, storm ? storm : iha_config_get_path(root, "policy", NULL, NULL),
                         "policy.storm: the storm guard can never trip (max_hosts is 0 and no "
                         "domain share applies); set max_hosts, or policy.enabled: false to "
                         "turn the policy off");
    else if (cfg->policy_domain_percent == 100)
        iha_config_warn(
            ld, iha_ynode_get(storm, "domain_percent"),
            "policy.storm.domain_percent: 100 can never be exceeded; only max_hosts trips "
            "the guard");
    if (cfg->policy_max_hosts > 0 && cfg->policy_domain_percent > 0 &&
        cfg->policy_domain_min_hosts > cfg->policy_max_hosts)
        iha_config_warn(
            ld, iha_ynode_get(storm, "domain_min_hosts"),
            "policy.storm.domain_min_hosts: %u is more than max_hosts (%u), so a domain's "
            "share never trips the guard first",
            cfg->policy_domain_min_hosts, cfg->policy_max_hosts);
    if (cfg->policy_settle_ms >= 30000)
        iha_config_warn(
            ld, iha_config_get_path(root, "policy", "settle", NULL),
            "policy.settle: %us delays every evacuation that long; a true single failure "
            "then takes more than 30 s to reach Instance HA",
            cfg->policy_settle_ms / 1000);
}

void iha_config_check_cross(struct cloader *ld, const struct iha_ynode *root)
{
    const struct iha_config *cfg = ld->cfg;

    check_web_tls(ld, root);
    if (cfg->auth_disabled && !iha_listen_addr_is_loopback(cfg->listen_address))
        iha_config_error(
            ld, iha_config_get_path(root, "web", "auth", "disabled"),
            "web.auth.disabled: only allowed when web.listen_address is a loopback address "
            "(it is '%s'); anyone who can reach the port could trigger evacuations",
            cfg->listen_address);
    if (!cfg->auth_disabled && !cfg->bearer_tokens_file && cfg->n_basic_users == 0)
        iha_config_error(
            ld, iha_config_get_path(root, "web", "auth", NULL),
            "web.auth: neither bearer_tokens_file nor basic_auth_users is set, so every "
            "request would be refused");
    if (!cfg->storage_path || !cfg->storage_path[0])
        iha_config_error(ld, iha_config_get_path(root, "storage", "path", NULL),
                         "storage.path: the data directory of the durable queue must be set");
    if (cfg->storage_max_age_ms > 23u * 3600u * 1000u)
        iha_config_error(ld, iha_config_get_path(root, "storage", "max_age", NULL),
                         "storage.max_age: must stay well inside Instance HA's 24 h expiry of "
                         "notifications (at most 23h)");
    if (cfg->connect_timeout_ms > cfg->timeout_ms)
        iha_config_error(ld, iha_config_get_path(root, "instance_ha", "connect_timeout", NULL),
                         "instance_ha.connect_timeout: longer than instance_ha.timeout (%ums)",
                         cfg->timeout_ms);
    check_auth(ld, root);
    check_policy(ld, root);
}
