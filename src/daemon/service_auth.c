/* SPDX-License-Identifier: Apache-2.0 */
/** @file service_auth.c @brief instance_ha.auth -> Keystone client -> token source, endpoint. */
#include "service_auth.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "clouds.h"
#include "keystone.h"
#include "log.h"
#include "metrics.h"

/* A value from instance_ha.auth wins over the cloud entry's. */
static const char *pick(const char *cfg_value, const char *cloud_value)
{
    return cfg_value ? cfg_value : cloud_value;
}

static enum iha_rc method_of_cloud(const struct iha_cloud *c, enum iha_keystone_method *m,
                                   struct iha_err *err)
{
    const char *t = c->auth_type;

    if (!t) {
        *m = c->application_credential_id || c->application_credential_name
                 ? IHA_KEYSTONE_APPLICATION_CREDENTIAL
                 : IHA_KEYSTONE_PASSWORD;
        return IHA_OK;
    }
    if (!strcasecmp(t, "password") || !strcasecmp(t, "v3password")) {
        *m = IHA_KEYSTONE_PASSWORD;
        return IHA_OK;
    }
    if (!strcasecmp(t, "v3applicationcredential") || !strcasecmp(t, "applicationcredential") ||
        !strcasecmp(t, "application_credential")) {
        *m = IHA_KEYSTONE_APPLICATION_CREDENTIAL;
        return IHA_OK;
    }
    iha_err_set(err, "auth_type",
                "cloud '%s' in %s: auth_type '%s' is not supported (use password or "
                "v3applicationcredential)",
                c->name, c->source, t);
    return IHA_E_CONFIG;
}

/* Counts one Keystone authentication; runs on the thread that authenticated. */
static void count_auth(void *cls, enum iha_rc rc)
{
    iha_metrics_add(cls, "iha_gateway_token_renewals_total", 1,
                    rc == IHA_OK ? "success" : "failure");
}

/*
 * The method, the TLS settings and a description of where the credentials come from
 * (@p origin, for messages), from the cloud entry when there is one.
 */
static enum iha_rc set_origin(const struct iha_config *cfg, const struct iha_cloud *cloud,
                              struct iha_keystone_config *kc, struct iha_tls_config *tls,
                              char *origin, size_t origin_size, struct iha_err *err)
{
    const struct iha_auth_config *a = &cfg->auth;
    enum iha_rc rc;
    int n;

    *tls = a->tls;
    if (!cloud) {
        kc->method = a->type == IHA_AUTH_PASSWORD ? IHA_KEYSTONE_PASSWORD
                                                  : IHA_KEYSTONE_APPLICATION_CREDENTIAL;
        n = snprintf(origin, origin_size, "%s", cfg->source ? cfg->source : "config");
        if (n < 0 || (size_t)n >= origin_size)
            snprintf(origin, origin_size, "config");
        return IHA_OK;
    }
    rc = method_of_cloud(cloud, &kc->method, err);
    if (rc != IHA_OK)
        return rc;
    n = snprintf(origin, origin_size, "cloud %s in %s%s%s", cloud->name, cloud->source,
                 cloud->secure_source ? " + " : "",
                 cloud->secure_source ? cloud->secure_source : "");
    if (n < 0 || (size_t)n >= origin_size)
        snprintf(origin, origin_size, "cloud %.200s", cloud->name);
    if (!tls->ca_file)
        tls->ca_file = cloud->cacert;
    if (!tls->cert_file)
        tls->cert_file = cloud->cert;
    if (!tls->key_file)
        tls->key_file = cloud->key;
    if (!cloud->verify)
        tls->insecure = true;
    return IHA_OK;
}

/* The credentials, each from instance_ha.auth or else from the cloud entry (borrowed). */
static void set_credentials(const struct iha_auth_config *a, const struct iha_cloud *cloud,
                            struct iha_keystone_config *kc)
{
#define C(field) (cloud ? cloud->field : NULL)
    kc->auth_url = pick(a->auth_url, C(auth_url));
    kc->username = pick(a->username, C(username));
    kc->user_id = pick(a->user_id, C(user_id));
    kc->user_domain_name = pick(a->user_domain_name, C(user_domain_name));
    kc->user_domain_id = pick(a->user_domain_id, C(user_domain_id));
    kc->password_file = a->password_file;
    kc->password = a->password_file ? NULL : pick(a->password, C(password));
    kc->project_name = pick(a->project_name, C(project_name));
    kc->project_id = pick(a->project_id, C(project_id));
    kc->project_domain_name = pick(a->project_domain_name, C(project_domain_name));
    kc->project_domain_id = pick(a->project_domain_id, C(project_domain_id));
    kc->application_credential_id =
        pick(a->application_credential_id, C(application_credential_id));
    kc->application_credential_name =
        pick(a->application_credential_name, C(application_credential_name));
    kc->application_credential_secret_file = a->application_credential_secret_file;
    kc->application_credential_secret =
        a->application_credential_secret_file
            ? NULL
            : pick(a->application_credential_secret, C(application_credential_secret));
    kc->region_name = pick(a->region_name, C(region_name));
    kc->interface = pick(a->interface, C(interface));
#undef C
}

/*
 * Without instance_ha.url the endpoint comes from the service catalog of the first token:
 * waits for it (bounded) and stores the URL in @p cfg.
 */
static enum iha_rc discover_url(struct iha_config *cfg, struct iha_keystone *ks,
                                const struct iha_keystone_config *kc, struct iha_err *err)
{
    char url[2048], detail[300];
    enum iha_rc rc;

    rc = iha_keystone_wait(ks, IHA_SERVICE_AUTH_DISCOVERY_WAIT_MS, detail, sizeof(detail));
    if (rc != IHA_OK) {
        iha_err_set(err, "instance_ha.url",
                    "instance_ha.url is not set and no token (so no service catalog) "
                    "could be obtained within %us: %s",
                    IHA_SERVICE_AUTH_DISCOVERY_WAIT_MS / 1000u, detail);
        return rc;
    }
    rc = iha_keystone_endpoint(ks, "instance-ha", url, sizeof(url), err);
    if (rc != IHA_OK)
        return rc;
    rc = iha_config_set_string(&cfg->url, url);
    if (rc != IHA_OK)
        return rc;
    IHA_LOG(IHA_LOG_INFO, "instance_ha.url discovered from the service catalog", "url", url,
            "interface", kc->interface ? kc->interface : "public", "region", kc->region_name);
    return IHA_OK;
}

enum iha_rc iha_service_auth_start(struct iha_config *cfg, bool url_given,
                                   struct iha_metrics *metrics, struct iha_token_source **out,
                                   struct iha_err *err)
{
    const struct iha_auth_config *a = &cfg->auth;
    struct iha_cloud *cloud = NULL;
    struct iha_keystone *ks = NULL;
    struct iha_keystone_config kc;
    struct iha_tls_config tls;
    struct iha_token_source *ts = NULL;
    char origin[1024], desc[512];
    enum iha_rc rc;

    *out = NULL;
    memset(&kc, 0, sizeof(kc));
    memset(&tls, 0, sizeof(tls));
    if (a->type == IHA_AUTH_STATIC)
        return IHA_E_INVAL;
    if (a->type == IHA_AUTH_CLOUD) {
        rc = iha_clouds_find(a->cloud, &cloud, err);
        if (rc != IHA_OK)
            return rc == IHA_E_NOMEM ? rc : IHA_E_CONFIG;
    }
    rc = set_origin(cfg, cloud, &kc, &tls, origin, sizeof(origin), err);
    if (rc != IHA_OK)
        goto cleanup;
    set_credentials(a, cloud, &kc);
    kc.tls = &tls;
    kc.connect_timeout_ms = cfg->connect_timeout_ms;
    kc.timeout_ms = cfg->timeout_ms;
    kc.origin = origin;
    kc.on_auth = metrics ? count_auth : NULL;
    kc.on_auth_cls = metrics;
    rc = iha_keystone_new(&kc, &ks, err);
    if (rc != IHA_OK) {
        if (rc == IHA_E_CONFIG) {
            char msg[sizeof(err->msg)], field[sizeof(err->field)];
            snprintf(msg, sizeof(msg), "%s", err->msg);
            snprintf(field, sizeof(field), "%s", err->field);
            iha_err_set(err, field, "instance_ha.auth (%.300s): %.180s", origin, msg);
        }
        goto cleanup;
    }
    rc = iha_keystone_start(ks);
    if (rc != IHA_OK) {
        iha_err_set(err, NULL, "cannot start the token renewal thread");
        goto cleanup;
    }
    if (!url_given && (rc = discover_url(cfg, ks, &kc, err)) != IHA_OK)
        goto cleanup;
    iha_keystone_describe(ks, desc, sizeof(desc));
    rc = iha_keystone_token_source_steal(ks, &ts);
    ks = NULL;
    if (rc != IHA_OK)
        goto cleanup;
    IHA_LOG(IHA_LOG_INFO, "service token from Keystone", "source", desc);
    *out = ts;
cleanup:
    iha_keystone_free(ks);
    iha_cloud_free(cloud);
    return rc;
}
