/* SPDX-License-Identifier: Apache-2.0 */
/** @file keystone.c @brief Keystone v3 tokens: the client's life and its face to delivery.
 *
 * This file holds what the configuration becomes (validation, copies, free), the
 * description for logs and the status page, and the token-source adapter delivery calls.
 * The other jobs live apart: the request body and the secret it carries
 * (keystone_request.c), the HTTP exchange and the reading of Keystone's answer
 * (keystone_auth.c), when to authenticate and who waits for it (keystone_renew.c), and
 * the service catalog (keystone_catalog.c).
 */
#include "keystone.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "clock.h"
#include "keystone_int.h"
#include "log.h"
#include "url.h"

#define URL_MAX 2048u
#define DEFAULT_CONNECT_MS 3000u
#define DEFAULT_TIMEOUT_MS 10000u

static uint64_t now_ms(void)
{
    return iha_clock_ms();
}

/* ---- lifetime --------------------------------------------------------------------- */

static void free_str(char *s)
{
    free(s);
}

void iha_keystone_free_secret(char *s)
{
    if (s) {
        iha_secret_wipe(s, strlen(s));
        free(s);
    }
}

void iha_keystone_drop_token(struct iha_keystone *ks)
{
    iha_keystone_free_secret(ks->token);
    ks->token = NULL;
    ks->token_len = 0;
}

void iha_keystone_free(struct iha_keystone *ks)
{
    if (!ks)
        return;
    if (ks->thread_started) {
        pthread_mutex_lock(&ks->lock);
        ks->stop = true;
        pthread_cond_broadcast(&ks->cond);
        pthread_mutex_unlock(&ks->lock);
        pthread_join(ks->thread, NULL);
    }
    iha_keystone_drop_token(ks);
    json_decref(ks->catalog);
    if (ks->easy)
        curl_easy_cleanup(ks->easy);
    free_str(ks->tokens_url);
    free_str(ks->auth_url);
    free_str(ks->username);
    free_str(ks->user_id);
    free_str(ks->user_domain_name);
    free_str(ks->user_domain_id);
    iha_keystone_free_secret(ks->password);
    free_str(ks->password_file);
    free_str(ks->project_name);
    free_str(ks->project_id);
    free_str(ks->project_domain_name);
    free_str(ks->project_domain_id);
    free_str(ks->app_id);
    free_str(ks->app_name);
    iha_keystone_free_secret(ks->app_secret);
    free_str(ks->app_secret_file);
    free_str(ks->region_name);
    free_str(ks->interface);
    free_str(ks->origin);
    free_str(ks->tls.ca_file);
    free_str(ks->tls.cert_file);
    free_str(ks->tls.key_file);
    pthread_cond_destroy(&ks->cond);
    pthread_mutex_destroy(&ks->lock);
    free(ks);
}

static bool copy(char **slot, const char *v)
{
    if (!v || !*v)
        return true;
    *slot = strdup(v);
    return *slot != NULL;
}

/* The checks that need no allocation; @return IHA_OK or IHA_E_CONFIG with @p err set. */
static enum iha_rc check_config(const struct iha_keystone_config *cfg, struct iha_err *err)
{
    if (!cfg->auth_url || !*cfg->auth_url) {
        iha_err_set(err, "auth_url", "auth_url is required for Keystone authentication");
        return IHA_E_CONFIG;
    }
    if (strncmp(cfg->auth_url, "http://", 7) != 0 && strncmp(cfg->auth_url, "https://", 8) != 0) {
        iha_err_set(err, "auth_url", "auth_url must start with http:// or https://");
        return IHA_E_CONFIG;
    }
    if (iha_url_has_userinfo(cfg->auth_url)) {
        iha_err_set(err, "auth_url", "auth_url: %s", IHA_URL_CREDENTIALS_HINT);
        return IHA_E_CONFIG;
    }
    if (cfg->method == IHA_KEYSTONE_PASSWORD) {
        if (!cfg->username && !cfg->user_id) {
            iha_err_set(err, "username", "password authentication needs username or user_id");
            return IHA_E_CONFIG;
        }
        if (!cfg->password && !cfg->password_file) {
            iha_err_set(err, "password",
                        "password authentication needs password or "
                        "password_file");
            return IHA_E_CONFIG;
        }
        if (!cfg->project_name && !cfg->project_id) {
            iha_err_set(err, "project_name",
                        "password authentication needs project_name or project_id (an unscoped "
                        "token carries no role, and Instance HA needs the admin role)");
            return IHA_E_CONFIG;
        }
    } else {
        if (!cfg->application_credential_id &&
            !(cfg->application_credential_name && (cfg->username || cfg->user_id))) {
            iha_err_set(err, "application_credential_id",
                        "application credential authentication needs application_credential_id, "
                        "or application_credential_name with username or user_id");
            return IHA_E_CONFIG;
        }
        if (!cfg->application_credential_secret && !cfg->application_credential_secret_file) {
            iha_err_set(err, "application_credential_secret",
                        "application credential authentication needs "
                        "application_credential_secret or application_credential_secret_file");
            return IHA_E_CONFIG;
        }
    }
    return IHA_OK;
}

/* Copies what @p ks keeps of @p cfg, with @p url its tokens URL. @return false: no memory. */
static bool copy_config(struct iha_keystone *ks, const struct iha_keystone_config *cfg,
                        const char *url)
{
    bool ok = true;

    ks->method = cfg->method;
    ok &= copy(&ks->tokens_url, url);
    ok &= copy(&ks->auth_url, cfg->auth_url);
    ok &= copy(&ks->username, cfg->username);
    ok &= copy(&ks->user_id, cfg->user_id);
    ok &= copy(&ks->user_domain_name, cfg->user_domain_name);
    ok &= copy(&ks->user_domain_id, cfg->user_domain_id);
    ok &= copy(&ks->password, cfg->password);
    ok &= copy(&ks->password_file, cfg->password_file);
    ok &= copy(&ks->project_name, cfg->project_name);
    ok &= copy(&ks->project_id, cfg->project_id);
    ok &= copy(&ks->project_domain_name, cfg->project_domain_name);
    ok &= copy(&ks->project_domain_id, cfg->project_domain_id);
    ok &= copy(&ks->app_id, cfg->application_credential_id);
    ok &= copy(&ks->app_name, cfg->application_credential_name);
    ok &= copy(&ks->app_secret, cfg->application_credential_secret);
    ok &= copy(&ks->app_secret_file, cfg->application_credential_secret_file);
    ok &= copy(&ks->region_name, cfg->region_name);
    ok &= copy(&ks->interface, cfg->interface ? cfg->interface : "public");
    ok &= copy(&ks->origin, cfg->origin);
    if (cfg->tls) {
        ok &= copy(&ks->tls.ca_file, cfg->tls->ca_file);
        ok &= copy(&ks->tls.cert_file, cfg->tls->cert_file);
        ok &= copy(&ks->tls.key_file, cfg->tls->key_file);
        ks->tls.insecure = cfg->tls->insecure;
    }
    return ok;
}

enum iha_rc iha_keystone_new(const struct iha_keystone_config *cfg, struct iha_keystone **out,
                             struct iha_err *err)
{
    struct iha_keystone *ks;
    pthread_condattr_t ca;
    char url[URL_MAX];
    enum iha_rc rc;
    bool ok;
    uint64_t seed = 0;

    *out = NULL;
    rc = check_config(cfg, err);
    if (rc != IHA_OK)
        return rc;
    if (iha_keystone_tokens_url(cfg->auth_url, url, sizeof(url)) != IHA_OK) {
        iha_err_set(err, "auth_url", "auth_url is too long");
        return IHA_E_CONFIG;
    }
    ks = calloc(1, sizeof(*ks));
    if (!ks)
        return IHA_E_NOMEM;
    if (pthread_mutex_init(&ks->lock, NULL) != 0) {
        free(ks);
        return IHA_E_NOMEM;
    }
    if (pthread_condattr_init(&ca) != 0 || pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) != 0 ||
        pthread_cond_init(&ks->cond, &ca) != 0) {
        pthread_mutex_destroy(&ks->lock);
        free(ks);
        return IHA_E_NOMEM;
    }
    pthread_condattr_destroy(&ca);
    ok = copy_config(ks, cfg, url);
    ks->connect_ms = (long)(cfg->connect_timeout_ms ? cfg->connect_timeout_ms : DEFAULT_CONNECT_MS);
    ks->timeout_ms = (long)(cfg->timeout_ms ? cfg->timeout_ms : DEFAULT_TIMEOUT_MS);
    ks->on_auth = cfg->on_auth;
    ks->on_auth_cls = cfg->on_auth_cls;
    if (getrandom(&seed, sizeof(seed), GRND_NONBLOCK) != (ssize_t)sizeof(seed) || seed == 0)
        seed = now_ms() ^ (uint64_t)(uintptr_t)ks ^ 0x9E3779B97F4A7C15ULL;
    ks->rng = seed;
    ks->last_rc = IHA_E_NOTFOUND;
    snprintf(ks->last_detail, sizeof(ks->last_detail), "no authentication attempted yet");
    if (!ok) {
        iha_keystone_free(ks);
        return IHA_E_NOMEM;
    }
    if (ks->tls.insecure)
        IHA_LOG(IHA_LOG_WARN,
                "TLS verification is OFF for Keystone (insecure: true): anyone on the path can "
                "read the service credentials; use ca_file instead outside a lab",
                "auth_url", ks->auth_url);
    *out = ks;
    return IHA_OK;
}

void iha_keystone_describe(struct iha_keystone *ks, char *out, size_t size)
{
    const char *who, *what;

    if (!out || size == 0)
        return;
    if (ks->method == IHA_KEYSTONE_PASSWORD) {
        what = "password user";
        who = ks->username ? ks->username : ks->user_id;
    } else {
        what = "application_credential";
        who = ks->app_id ? ks->app_id : ks->app_name;
    }
    pthread_mutex_lock(&ks->lock);
    snprintf(out, size, "keystone %s %s at %s%s%s (%s)", what, who, ks->auth_url,
             ks->origin ? " from " : "", ks->origin ? ks->origin : "", ks->last_detail);
    pthread_mutex_unlock(&ks->lock);
}

/* ---- token source -------------------------------------------------------------------- */

static enum iha_rc ts_token(void *cls, char *out, size_t size)
{
    return iha_keystone_token(cls, out, size);
}

static void ts_invalidate(void *cls)
{
    iha_keystone_invalidate(cls);
}

static void ts_describe(void *cls, char *out, size_t size)
{
    iha_keystone_describe(cls, out, size);
}

static void ts_free(void *cls)
{
    iha_keystone_free(cls);
}

static const struct iha_token_provider keystone_provider = {
    .token = ts_token,
    .invalidate = ts_invalidate,
    .describe = ts_describe,
    .free = ts_free,
};

enum iha_rc iha_keystone_token_source_steal(struct iha_keystone *ks, struct iha_token_source **out)
{
    return iha_token_source_new_provider_steal(&keystone_provider, ks, out);
}
