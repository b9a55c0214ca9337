/* SPDX-License-Identifier: Apache-2.0 */
/** @file keystone.c @brief Keystone v3 tokens: authentication, cache, renewal thread, catalog. */
#include "keystone.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "http_header.h"
#include "log.h"
#include "url.h"

#ifndef IHA_VERSION
#define IHA_VERSION "0"
#endif

#define RESP_MAX (4u * 1024u * 1024u) /* a large cloud's catalog is well below this */
#define TOKEN_MAX (16u * 1024u)       /* fernet tokens are ~200 bytes; PKI ones a few KiB */
#define SECRET_FILE_MAX (64u * 1024u)
#define URL_MAX 2048u
#define FRESH_MS 2000u              /* a token this young was not the one a 401 refused */
#define RETRY_CAP_MS 60000u         /* Keystone unreachable or failing */
#define RETRY_CAP_DENIED_MS 300000u /* wrong credentials: slow, lockout policies count tries */
#define DEFAULT_CONNECT_MS 3000u
#define DEFAULT_TIMEOUT_MS 10000u

/* What the last authentication said; a change is logged once. */
enum ks_state {
    KS_NONE,        /* nothing tried yet */
    KS_OK,          /* token obtained */
    KS_DENIED,      /* 401: wrong password / secret, unknown user, expired credential */
    KS_UNREACHABLE, /* no answer */
    KS_ERROR,       /* any other answer, or an answer we cannot use */
};

/* One authentication's result, built without the lock. */
struct result {
    enum ks_state state;
    enum iha_rc rc;
    char *token;
    size_t token_len;
    uint64_t lifetime_ms;
    char expires_at[40];
    json_t *catalog;
    bool has_admin;
    char detail[300];
};

struct iha_keystone {
    /* Immutable after iha_keystone_new(). */
    enum iha_keystone_method method;
    char *tokens_url, *auth_url;
    char *username, *user_id, *user_domain_name, *user_domain_id;
    char *password, *password_file;
    char *project_name, *project_id, *project_domain_name, *project_domain_id;
    char *app_id, *app_name, *app_secret, *app_secret_file;
    char *region_name, *interface, *origin;
    struct iha_tls_config tls;
    long connect_ms, timeout_ms;
    iha_keystone_auth_cb on_auth;
    void *on_auth_cls;

    pthread_mutex_t lock;
    pthread_cond_t cond; /* CLOCK_MONOTONIC; broadcast after each authentication and on stop */
    /* Guarded by lock. */
    char *token;
    size_t token_len;
    uint64_t got_ms, usable_until_ms, renew_at_ms;
    char expires_at[40];
    json_t *catalog;
    bool invalid, busy, stop;
    unsigned failures;
    uint64_t next_try_ms;
    enum ks_state state;
    enum iha_rc last_rc;
    char last_detail[300];
    bool admin_warned;
    uint64_t rng;

    /* Used only by whoever set busy. */
    CURL *easy;

    pthread_t thread;
    bool thread_started;
};

static uint64_t now_ms(void)
{
    return iha_clock_ms();
}

/* ---- pure helpers ----------------------------------------------------------------- */

struct iha_keystone_plan iha_keystone_schedule(uint64_t lifetime_ms, uint64_t rnd)
{
    struct iha_keystone_plan p;
    uint64_t margin = lifetime_ms / 4, jitter, safety = lifetime_ms / 10;

    if (margin > 300000u)
        margin = 300000u;
    jitter = rnd % (margin / 5 + 1);
    p.renew_after_ms = lifetime_ms - margin - jitter;
    if (safety > 60000u)
        safety = 60000u;
    p.usable_for_ms = lifetime_ms - safety;
    return p;
}

uint64_t iha_keystone_retry_ms(unsigned failures, uint64_t cap_ms, uint64_t rnd)
{
    uint64_t base = 1000u;

    for (unsigned i = 1; i < failures && base < cap_ms; i++)
        base *= 2;
    if (base > cap_ms)
        base = cap_ms;
    return base * 8 / 10 + rnd % (base * 4 / 10 + 1);
}

/* Reads exactly @p n digits at *p. */
static bool digits(const char **p, int n, int *out)
{
    int v = 0;

    for (int i = 0; i < n; i++) {
        char c = (*p)[i];
        if (c < '0' || c > '9')
            return false;
        v = v * 10 + (c - '0');
    }
    *p += n;
    *out = v;
    return true;
}

static bool lit(const char **p, char c)
{
    if (**p != c)
        return false;
    (*p)++;
    return true;
}

enum iha_rc iha_keystone_parse_time(const char *s, int64_t *unix_ms)
{
    struct tm tm;
    int y, mo, d, h, mi, sec, ms = 0, scale = 100;
    time_t t;

    if (!s)
        return IHA_E_PARSE;
    if (!digits(&s, 4, &y) || !lit(&s, '-') || !digits(&s, 2, &mo) || !lit(&s, '-') ||
        !digits(&s, 2, &d) || !lit(&s, 'T') || !digits(&s, 2, &h) || !lit(&s, ':') ||
        !digits(&s, 2, &mi) || !lit(&s, ':') || !digits(&s, 2, &sec))
        return IHA_E_PARSE;
    if (*s == '.') {
        s++;
        if (*s < '0' || *s > '9')
            return IHA_E_PARSE;
        for (; *s >= '0' && *s <= '9'; s++) {
            ms += (*s - '0') * scale;
            scale /= 10;
        }
    }
    if (*s == 'Z')
        s++;
    else if (strcmp(s, "+00:00") == 0)
        s += 6;
    if (*s != '\0' || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60)
        return IHA_E_PARSE;
    memset(&tm, 0, sizeof(tm));
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = sec;
    t = timegm(&tm);
    if (t == (time_t)-1)
        return IHA_E_PARSE;
    *unix_ms = (int64_t)t * 1000 + ms;
    return IHA_OK;
}

enum iha_rc iha_keystone_tokens_url(const char *auth_url, char *out, size_t size)
{
    size_t len = strlen(auth_url);
    int n;

    while (len > 0 && auth_url[len - 1] == '/')
        len--;
    if (len >= 3 && memcmp(auth_url + len - 3, "/v3", 3) == 0)
        len -= 3;
    if (len > (size_t)INT32_MAX)
        return IHA_E_LIMIT;
    n = snprintf(out, size, "%.*s/v3/auth/tokens", (int)len, auth_url);
    return n < 0 || (size_t)n >= size ? IHA_E_LIMIT : IHA_OK;
}

static bool str_is(const json_t *v, const char *s)
{
    return json_is_string(v) && strcmp(json_string_value(v), s) == 0;
}

enum iha_rc iha_keystone_catalog_url(const json_t *catalog, const char *type, const char *interface,
                                     const char *region, char *out, size_t size)
{
    size_t i, j;
    json_t *svc, *ep;

    if (!interface)
        interface = "public";
    json_array_foreach(catalog, i, svc)
    {
        json_t *eps = json_object_get(svc, "endpoints");
        if (!str_is(json_object_get(svc, "type"), type))
            continue;
        json_array_foreach(eps, j, ep)
        {
            json_t *url = json_object_get(ep, "url");
            int n;
            if (!str_is(json_object_get(ep, "interface"), interface) || !json_is_string(url))
                continue;
            if (region && !str_is(json_object_get(ep, "region_id"), region) &&
                !str_is(json_object_get(ep, "region"), region))
                continue;
            if (iha_url_has_userinfo(json_string_value(url)))
                return IHA_E_INVAL;
            n = snprintf(out, size, "%s", json_string_value(url));
            return n < 0 || (size_t)n >= size ? IHA_E_LIMIT : IHA_OK;
        }
    }
    return IHA_E_NOTFOUND;
}

void iha_keystone_base_url(char *url)
{
    size_t len = strlen(url);
    char *slash;

    while (len > 0 && url[len - 1] == '/')
        url[--len] = '\0';
    slash = strrchr(url, '/');
    if (!slash || slash < url + 8) /* inside "https://" */
        return;
    if (strcmp(slash, "/v1") == 0) {
        *slash = '\0';
        return;
    }
    /* ".../v1/<project id>" as the install guide registers it */
    *slash = '\0';
    {
        char *prev = strrchr(url, '/');
        if (prev && prev >= url + 8 && strcmp(prev, "/v1") == 0) {
            *prev = '\0';
            return;
        }
    }
    *slash = '/';
}

/* {"name": N, "domain": {"name"|"id": D}} or {"id": I}. */
static json_t *named(const char *id, const char *name, const char *dom_id, const char *dom_name)
{
    if (id)
        return json_pack("{s:s}", "id", id);
    if (!name)
        return NULL;
    if (dom_id)
        return json_pack("{s:s,s:{s:s}}", "name", name, "domain", "id", dom_id);
    return json_pack("{s:s,s:{s:s}}", "name", name, "domain", "name",
                     dom_name ? dom_name : "Default");
}

json_t *iha_keystone_request_body(const struct iha_keystone_config *cfg, const char *secret)
{
    json_t *user = NULL, *ident = NULL, *body = NULL, *scope = NULL;

    if (!secret)
        return NULL;
    user = named(cfg->user_id, cfg->username, cfg->user_domain_id, cfg->user_domain_name);
    if (cfg->method == IHA_KEYSTONE_PASSWORD) {
        if (!user)
            return NULL;
        if (json_object_set_new(user, "password", json_string(secret)) != 0)
            goto fail;
        ident = json_pack("{s:[s],s:{s:o}}", "methods", "password", "password", "user", user);
        user = NULL;
        scope = named(cfg->project_id, cfg->project_name, cfg->project_domain_id,
                      cfg->project_domain_name);
    } else {
        json_t *ac;
        if (cfg->application_credential_id)
            ac = json_pack("{s:s,s:s}", "id", cfg->application_credential_id, "secret", secret);
        else if (cfg->application_credential_name && user)
            ac = json_pack("{s:s,s:s,s:O}", "name", cfg->application_credential_name, "secret",
                           secret, "user", user);
        else
            ac = NULL;
        if (!ac)
            goto fail;
        ident = json_pack("{s:[s],s:o}", "methods", "application_credential",
                          "application_credential", ac);
    }
    if (!ident)
        goto fail;
    body =
        scope ? json_pack("{s:{s:o,s:{s:o}}}", "auth", "identity", ident, "scope", "project", scope)
              : json_pack("{s:{s:o}}", "auth", "identity", ident);
    json_decref(user);
    return body;
fail:
    json_decref(user);
    json_decref(scope);
    return NULL;
}

/* ---- lifetime --------------------------------------------------------------------- */

static void free_str(char *s)
{
    free(s);
}

static void free_secret(char *s)
{
    if (s) {
        iha_secret_wipe(s, strlen(s));
        free(s);
    }
}

static void drop_token(struct iha_keystone *ks)
{
    free_secret(ks->token);
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
    drop_token(ks);
    json_decref(ks->catalog);
    if (ks->easy)
        curl_easy_cleanup(ks->easy);
    free_str(ks->tokens_url);
    free_str(ks->auth_url);
    free_str(ks->username);
    free_str(ks->user_id);
    free_str(ks->user_domain_name);
    free_str(ks->user_domain_id);
    free_secret(ks->password);
    free_str(ks->password_file);
    free_str(ks->project_name);
    free_str(ks->project_id);
    free_str(ks->project_domain_name);
    free_str(ks->project_domain_id);
    free_str(ks->app_id);
    free_str(ks->app_name);
    free_secret(ks->app_secret);
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

enum iha_rc iha_keystone_new(const struct iha_keystone_config *cfg, struct iha_keystone **out,
                             struct iha_err *err)
{
    struct iha_keystone *ks;
    pthread_condattr_t ca;
    char url[URL_MAX];
    bool ok = true;
    uint64_t seed = 0;

    *out = NULL;
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

/* ---- one authentication ------------------------------------------------------------ */

struct response {
    char *body;
    size_t len;
    bool over;
    char *subject; /* X-Subject-Token of the final response */
    size_t subject_len;
    bool subject_over;
};

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *ud)
{
    struct response *r = ud;
    size_t n = size * nmemb;
    char *nb;

    if (n > RESP_MAX - r->len) {
        r->over = true;
        return 0;
    }
    nb = realloc(r->body, r->len + n + 1);
    if (!nb)
        return 0;
    r->body = nb;
    memcpy(r->body + r->len, ptr, n);
    r->len += n;
    r->body[r->len] = '\0';
    return n;
}

static size_t on_header(char *ptr, size_t size, size_t nmemb, void *ud)
{
    struct response *r = ud;
    size_t n = size * nmemb, a, b;

    if (iha_http_header_is_status(ptr, n)) {
        free_secret(r->subject); /* a new response (after 100 Continue) */
        r->subject = NULL;
        r->subject_len = 0;
        return n;
    }
    if (!iha_http_header_value(ptr, n, "x-subject-token:", &a, &b))
        return n;
    if (b - a > TOKEN_MAX) {
        r->subject_over = true;
        return n;
    }
    free_secret(r->subject);
    r->subject = malloc(b - a + 1);
    if (!r->subject)
        return 0;
    memcpy(r->subject, ptr + a, b - a);
    r->subject[b - a] = '\0';
    r->subject_len = b - a;
    return n;
}

/* Reads a secret file, trimming surrounding whitespace. @return a new string or NULL. */
static char *read_secret_file(const char *path, char *why, size_t why_size)
{
    char *buf = NULL;
    size_t len = 0, a = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);

    if (fd < 0) {
        snprintf(why, why_size, "cannot open %s: %s", path, strerror(errno));
        return NULL;
    }
    buf = malloc(SECRET_FILE_MAX + 1);
    if (!buf) {
        close(fd);
        snprintf(why, why_size, "out of memory");
        return NULL;
    }
    for (;;) {
        ssize_t r = read(fd, buf + len, SECRET_FILE_MAX - len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        len += (size_t)r;
        if (len == SECRET_FILE_MAX)
            break;
    }
    close(fd);
    while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r' || buf[len - 1] == ' ' ||
                       buf[len - 1] == '\t'))
        len--;
    while (a < len && (buf[a] == ' ' || buf[a] == '\t' || buf[a] == '\n' || buf[a] == '\r'))
        a++;
    if (a == len) {
        iha_secret_wipe(buf, SECRET_FILE_MAX + 1);
        free(buf);
        snprintf(why, why_size, "%s is empty", path);
        return NULL;
    }
    memmove(buf, buf + a, len - a);
    iha_secret_wipe(buf + (len - a), SECRET_FILE_MAX + 1 - (len - a));
    buf[len - a] = '\0';
    return buf;
}

/* The parameters as the pure body builder takes them (borrowed from @p ks). */
static void as_config(const struct iha_keystone *ks, struct iha_keystone_config *c)
{
    memset(c, 0, sizeof(*c));
    c->method = ks->method;
    c->username = ks->username;
    c->user_id = ks->user_id;
    c->user_domain_name = ks->user_domain_name;
    c->user_domain_id = ks->user_domain_id;
    c->project_name = ks->project_name;
    c->project_id = ks->project_id;
    c->project_domain_name = ks->project_domain_name;
    c->project_domain_id = ks->project_domain_id;
    c->application_credential_id = ks->app_id;
    c->application_credential_name = ks->app_name;
}

/* Wipes every string in @p v that equals @p secret, so jansson frees no copy of it. */
static void wipe_json_secret(json_t *v, const char *secret)
{
    const char *k;
    json_t *x;
    size_t i;

    if (json_is_object(v)) {
        json_object_foreach(v, k, x) wipe_json_secret(x, secret);
    } else if (json_is_array(v)) {
        json_array_foreach(v, i, x) wipe_json_secret(x, secret);
    } else if (json_is_string(v) && strcmp(json_string_value(v), secret) == 0) {
        iha_secret_wipe((char *)(uintptr_t)json_string_value(v), json_string_length(v));
    }
}

/* The message of a Keystone error body, else a prefix of the body. */
static void error_message(const struct response *r, char *out, size_t size)
{
    json_t *root = r->body ? json_loadb(r->body, r->len, 0, NULL) : NULL;
    json_t *msg = json_object_get(json_object_get(root, "error"), "message");

    if (json_is_string(msg))
        snprintf(out, size, "%s", json_string_value(msg));
    else
        snprintf(out, size, "%.120s", r->body ? r->body : "");
    json_decref(root);
}

static bool roles_have_admin(const json_t *roles)
{
    size_t i;
    json_t *r;

    json_array_foreach(roles, i, r) if (str_is(json_object_get(r, "name"), "admin")) return true;
    return false;
}

/* Turns a 201 into @p res. */
static void parse_created(struct response *r, struct result *res)
{
    json_t *root = json_loadb(r->body ? r->body : "", r->len, 0, NULL);
    json_t *tok = json_object_get(root, "token");
    const char *exp = json_string_value(json_object_get(tok, "expires_at"));
    const char *iss = json_string_value(json_object_get(tok, "issued_at"));
    int64_t e_ms, i_ms;

    res->state = KS_ERROR;
    res->rc = IHA_E_UPSTREAM;
    if (!r->subject || r->subject_len == 0) {
        snprintf(res->detail, sizeof(res->detail),
                 r->subject_over ? "Keystone's X-Subject-Token is longer than %u bytes"
                                 : "Keystone answered 201 without X-Subject-Token",
                 TOKEN_MAX);
        goto cleanup;
    }
    if (!json_is_object(tok) || iha_keystone_parse_time(exp, &e_ms) != IHA_OK) {
        snprintf(res->detail, sizeof(res->detail),
                 "Keystone's answer has no token.expires_at that can be read");
        goto cleanup;
    }
    if (iss && iha_keystone_parse_time(iss, &i_ms) == IHA_OK) {
        res->lifetime_ms = e_ms > i_ms ? (uint64_t)(e_ms - i_ms) : 0;
    } else {
        struct timespec ts;
        int64_t now;
        clock_gettime(CLOCK_REALTIME, &ts);
        now = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
        res->lifetime_ms = e_ms > now ? (uint64_t)(e_ms - now) : 0;
    }
    snprintf(res->expires_at, sizeof(res->expires_at), "%s", exp);
    res->has_admin = roles_have_admin(json_object_get(tok, "roles"));
    res->catalog = json_incref(json_object_get(tok, "catalog"));
    res->token = r->subject;
    res->token_len = r->subject_len;
    r->subject = NULL;
    res->state = KS_OK;
    res->rc = IHA_OK;
cleanup:
    json_decref(root);
}

#define SETOPT(opt, val)                                                                           \
    do {                                                                                           \
        if (cc == CURLE_OK)                                                                        \
            cc = curl_easy_setopt(e, opt, val);                                                    \
    } while (0)

/* POST /v3/auth/tokens. Runs without the lock, by the one caller that set busy. */
static void authenticate(struct iha_keystone *ks, struct result *res)
{
    struct iha_keystone_config c;
    struct response r;
    struct curl_slist *h = NULL, *n;
    char *secret = NULL, *body_text = NULL, errbuf[CURL_ERROR_SIZE];
    json_t *body = NULL;
    const char *secret_file;
    CURLcode cc = CURLE_OK;
    long code = 0;
    CURL *e;

    memset(res, 0, sizeof(*res));
    memset(&r, 0, sizeof(r));
    errbuf[0] = '\0';
    res->state = KS_ERROR;
    res->rc = IHA_E_UPSTREAM;

    secret_file = ks->method == IHA_KEYSTONE_PASSWORD ? ks->password_file : ks->app_secret_file;
    if (ks->method == IHA_KEYSTONE_PASSWORD ? ks->password : ks->app_secret)
        secret = strdup(ks->method == IHA_KEYSTONE_PASSWORD ? ks->password : ks->app_secret);
    else
        secret = read_secret_file(secret_file, res->detail, sizeof(res->detail));
    if (!secret) {
        res->rc = IHA_E_AUTH;
        res->state = KS_DENIED;
        if (!res->detail[0])
            snprintf(res->detail, sizeof(res->detail), "out of memory");
        return;
    }
    as_config(ks, &c);
    body = iha_keystone_request_body(&c, secret);
    body_text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    if (body)
        wipe_json_secret(body, secret);
    json_decref(body);
    iha_secret_wipe(secret, strlen(secret));
    free(secret);
    if (!body_text) {
        snprintf(res->detail, sizeof(res->detail), "out of memory building the request");
        return;
    }

    if (!ks->easy)
        ks->easy = curl_easy_init();
    else
        curl_easy_reset(ks->easy);
    e = ks->easy;
    if (!e) {
        snprintf(res->detail, sizeof(res->detail), "cannot create a curl handle");
        goto cleanup;
    }
    static const char *const fixed[] = {"Content-Type: application/json",
                                        "Accept: application/json", "Expect:"};
    for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++) {
        n = curl_slist_append(h, fixed[i]);
        if (!n) {
            snprintf(res->detail, sizeof(res->detail), "out of memory");
            goto cleanup;
        }
        h = n;
    }
    SETOPT(CURLOPT_URL, ks->tokens_url);
    SETOPT(CURLOPT_NOSIGNAL, 1L);
    SETOPT(CURLOPT_PROTOCOLS_STR, "http,https");
    SETOPT(CURLOPT_FOLLOWLOCATION, 0L);
    SETOPT(CURLOPT_CONNECTTIMEOUT_MS, ks->connect_ms);
    SETOPT(CURLOPT_TIMEOUT_MS, ks->timeout_ms);
    SETOPT(CURLOPT_TCP_KEEPALIVE, 1L);
    SETOPT(CURLOPT_USERAGENT, "iha-gateway/" IHA_VERSION);
    SETOPT(CURLOPT_HTTPHEADER, h);
    SETOPT(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(body_text));
    SETOPT(CURLOPT_POSTFIELDS, body_text);
    SETOPT(CURLOPT_WRITEFUNCTION, on_body);
    SETOPT(CURLOPT_WRITEDATA, (void *)&r);
    SETOPT(CURLOPT_HEADERFUNCTION, on_header);
    SETOPT(CURLOPT_HEADERDATA, (void *)&r);
    SETOPT(CURLOPT_ERRORBUFFER, errbuf);
    if (cc == CURLE_OK && iha_tls_apply(e, &ks->tls) != IHA_OK)
        cc = CURLE_NOT_BUILT_IN;
    if (cc != CURLE_OK) {
        snprintf(res->detail, sizeof(res->detail), "curl option: %s", curl_easy_strerror(cc));
        goto cleanup;
    }
    cc = curl_easy_perform(e);
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &code);
    if (cc != CURLE_OK && !(cc == CURLE_WRITE_ERROR && r.over)) {
        res->state = KS_UNREACHABLE;
        res->rc = IHA_E_IO;
        snprintf(res->detail, sizeof(res->detail), "Keystone at %s: %s", ks->tokens_url,
                 errbuf[0] ? errbuf : curl_easy_strerror(cc));
        goto cleanup;
    }
    if (code == 201 && !r.over) {
        parse_created(&r, res);
    } else {
        char msg[200];
        error_message(&r, msg, sizeof(msg));
        if (code == 401) {
            res->state = KS_DENIED;
            res->rc = IHA_E_AUTH;
            snprintf(res->detail, sizeof(res->detail),
                     "Keystone refused the credentials (401): %s; check the user, password or "
                     "application credential",
                     msg);
        } else {
            snprintf(res->detail, sizeof(res->detail), "Keystone answered %ld%s: %s", code,
                     r.over ? " with an oversized body" : "", msg);
        }
    }
cleanup:
    if (h)
        curl_slist_free_all(h);
    if (body_text) {
        iha_secret_wipe(body_text, strlen(body_text));
        free(body_text);
    }
    free_secret(r.subject);
    free(r.body);
}

static const char *state_name(enum ks_state s)
{
    switch (s) {
    case KS_OK:
        return "ok";
    case KS_DENIED:
        return "credentials_refused";
    case KS_UNREACHABLE:
        return "unreachable";
    case KS_ERROR:
        return "error";
    case KS_NONE:
    default:
        return "none";
    }
}

/* Stores @p res (taking its token and catalog) and logs a change of state. Under the lock. */
static void commit(struct iha_keystone *ks, struct result *res)
{
    uint64_t now = now_ms();
    enum ks_state prev = ks->state;

    ks->state = res->state;
    ks->last_rc = res->rc;
    if (res->rc == IHA_OK) {
        struct iha_keystone_plan p =
            iha_keystone_schedule(res->lifetime_ms, iha_jitter_next(&ks->rng));
        drop_token(ks);
        ks->token = res->token;
        ks->token_len = res->token_len;
        res->token = NULL;
        json_decref(ks->catalog);
        ks->catalog = res->catalog;
        res->catalog = NULL;
        ks->got_ms = now;
        ks->usable_until_ms = now + p.usable_for_ms;
        ks->renew_at_ms = now + p.renew_after_ms;
        ks->invalid = false;
        ks->failures = 0;
        snprintf(ks->expires_at, sizeof(ks->expires_at), "%s", res->expires_at);
        snprintf(ks->last_detail, sizeof(ks->last_detail), "token valid until %s", res->expires_at);
        if (prev != KS_OK)
            IHA_LOG(IHA_LOG_INFO, "keystone: service token obtained", "auth_url", ks->auth_url,
                    "expires_at", res->expires_at, "previous_state", state_name(prev));
        else
            IHA_LOG(IHA_LOG_DEBUG, "keystone: service token renewed", "expires_at",
                    res->expires_at);
        if (!res->has_admin && !ks->admin_warned)
            IHA_LOG(IHA_LOG_WARN,
                    "keystone: the service token has no 'admin' role; Instance HA's policy "
                    "os_masakari_api:notifications:create allows only admin, so notifications "
                    "will be refused with 403",
                    "auth_url", ks->auth_url);
        ks->admin_warned = !res->has_admin;
        return;
    }
    ks->failures++;
    ks->next_try_ms =
        now + iha_keystone_retry_ms(ks->failures,
                                    res->state == KS_DENIED ? RETRY_CAP_DENIED_MS : RETRY_CAP_MS,
                                    iha_jitter_next(&ks->rng));
    snprintf(ks->last_detail, sizeof(ks->last_detail), "%s", res->detail);
    if (res->state != prev) {
        bool usable = ks->token && !ks->invalid && now < ks->usable_until_ms;
        IHA_LOG(IHA_LOG_ERROR, "keystone: cannot get a service token", "state",
                state_name(res->state), "detail", res->detail, "auth_url", ks->auth_url,
                "cached_token", usable ? "still valid, delivery continues" : "none",
                "cached_token_expires_at", usable ? ks->expires_at : NULL);
    }
}

static void result_clear(struct result *res)
{
    free_secret(res->token);
    json_decref(res->catalog);
    res->token = NULL;
    res->catalog = NULL;
}

/* Authenticates with the lock released around the request. Called with the lock, busy unset. */
static void run_auth_locked(struct iha_keystone *ks)
{
    struct result res;

    ks->busy = true;
    pthread_mutex_unlock(&ks->lock);
    authenticate(ks, &res);
    if (ks->on_auth)
        ks->on_auth(ks->on_auth_cls, res.rc);
    pthread_mutex_lock(&ks->lock);
    commit(ks, &res);
    ks->busy = false;
    pthread_cond_broadcast(&ks->cond);
    result_clear(&res);
}

static void deadline_ts(uint64_t at_ms, struct timespec *ts)
{
    ts->tv_sec = (time_t)(at_ms / 1000u);
    ts->tv_nsec = (long)(at_ms % 1000u) * 1000000L;
}

static bool usable(const struct iha_keystone *ks, uint64_t now)
{
    return ks->token && !ks->invalid && now < ks->usable_until_ms;
}

static void *renew_main(void *arg)
{
    struct iha_keystone *ks = arg;
    struct timespec ts;

    pthread_mutex_lock(&ks->lock);
    while (!ks->stop) {
        uint64_t now = now_ms(), due;

        if (ks->failures)
            due = ks->next_try_ms;
        else if (ks->token && !ks->invalid)
            due = ks->renew_at_ms;
        else
            due = now;
        if (ks->invalid && ks->failures == 0)
            due = now;
        if (ks->busy || now < due) {
            uint64_t wake = ks->busy ? now + 1000u : due;
            if (wake > now + 60000u)
                wake = now + 60000u;
            deadline_ts(wake, &ts);
            pthread_cond_timedwait(&ks->cond, &ks->lock, &ts);
            continue;
        }
        run_auth_locked(ks);
    }
    pthread_mutex_unlock(&ks->lock);
    return NULL;
}

enum iha_rc iha_keystone_start(struct iha_keystone *ks)
{
    if (ks->thread_started)
        return IHA_OK;
    if (pthread_create(&ks->thread, NULL, renew_main, ks) != 0)
        return IHA_E_IO;
    ks->thread_started = true;
    return IHA_OK;
}

enum iha_rc iha_keystone_wait(struct iha_keystone *ks, unsigned timeout_ms, char *detail,
                              size_t detail_size)
{
    uint64_t deadline = now_ms() + timeout_ms;
    struct timespec ts;
    enum iha_rc rc;

    pthread_mutex_lock(&ks->lock);
    while (!usable(ks, now_ms()) && now_ms() < deadline && !ks->stop) {
        deadline_ts(deadline, &ts);
        pthread_cond_timedwait(&ks->cond, &ks->lock, &ts);
    }
    rc = usable(ks, now_ms()) ? IHA_OK : ks->last_rc;
    if (detail && detail_size)
        snprintf(detail, detail_size, "%s", ks->last_detail);
    pthread_mutex_unlock(&ks->lock);
    return rc;
}

enum iha_rc iha_keystone_token(struct iha_keystone *ks, char *out, size_t size)
{
    enum iha_rc rc = IHA_E_UPSTREAM;
    uint64_t limit = now_ms() + (uint64_t)(ks->connect_ms + ks->timeout_ms) + 1000u;
    struct timespec ts;
    bool tried = false;

    pthread_mutex_lock(&ks->lock);
    for (;;) {
        uint64_t now = now_ms();
        if (usable(ks, now)) {
            if (ks->token_len + 1 > size) {
                rc = IHA_E_LIMIT;
            } else {
                memcpy(out, ks->token, ks->token_len + 1);
                rc = IHA_OK;
            }
            break;
        }
        if (ks->busy) {
            if (now >= limit) {
                rc = IHA_E_UPSTREAM;
                break;
            }
            deadline_ts(limit, &ts);
            pthread_cond_timedwait(&ks->cond, &ks->lock, &ts);
            continue;
        }
        /* Just failed (by us or the renewal thread): answer that, do not hammer Keystone. */
        if (tried || (ks->failures && now < ks->next_try_ms)) {
            rc = ks->last_rc != IHA_OK ? ks->last_rc : IHA_E_UPSTREAM;
            break;
        }
        tried = true;
        run_auth_locked(ks);
    }
    pthread_mutex_unlock(&ks->lock);
    return rc;
}

void iha_keystone_invalidate(struct iha_keystone *ks)
{
    pthread_mutex_lock(&ks->lock);
    if (ks->token && !ks->invalid && now_ms() - ks->got_ms >= FRESH_MS) {
        ks->invalid = true;
        ks->failures = 0; /* a 401 is new information: try Keystone at once */
        IHA_LOG(IHA_LOG_WARN, "keystone: Instance HA refused the service token (401); "
                              "authenticating again");
        pthread_cond_broadcast(&ks->cond);
    }
    pthread_mutex_unlock(&ks->lock);
}

/* Lists "type/interface" of the catalog into @p out, for "not found" messages. */
static void list_catalog(const json_t *catalog, char *out, size_t size)
{
    size_t i, j, used = 0;
    json_t *svc, *ep;

    out[0] = '\0';
    json_array_foreach(catalog, i, svc)
    {
        json_array_foreach(json_object_get(svc, "endpoints"), j, ep)
        {
            const char *t = json_string_value(json_object_get(svc, "type"));
            const char *f = json_string_value(json_object_get(ep, "interface"));
            const char *r = json_string_value(json_object_get(ep, "region_id"));
            int n = snprintf(out + used, size - used, "%s%s/%s@%s", used ? ", " : "", t ? t : "?",
                             f ? f : "?", r ? r : "?");
            if (n < 0 || (size_t)n >= size - used) {
                out[used] = '\0';
                return;
            }
            used += (size_t)n;
        }
    }
}

enum iha_rc iha_keystone_endpoint(struct iha_keystone *ks, const char *service_type, char *out,
                                  size_t size, struct iha_err *err)
{
    enum iha_rc rc;
    char have[400];

    pthread_mutex_lock(&ks->lock);
    if (!ks->catalog) {
        iha_err_set(err, "catalog", "no service catalog yet (%s)", ks->last_detail);
        rc = IHA_E_NOTFOUND;
    } else {
        rc = iha_keystone_catalog_url(ks->catalog, service_type, ks->interface, ks->region_name,
                                      out, size);
        if (rc == IHA_E_NOTFOUND) {
            list_catalog(ks->catalog, have, sizeof(have));
            iha_err_set(err, "catalog",
                        "the token's catalog has no %s endpoint for interface %s%s%s (it has: "
                        "%s); register one or set instance_ha.url",
                        service_type, ks->interface, ks->region_name ? " in region " : "",
                        ks->region_name ? ks->region_name : "", have[0] ? have : "nothing");
        } else if (rc == IHA_E_LIMIT) {
            iha_err_set(err, "catalog", "the %s endpoint URL is too long", service_type);
        } else if (rc == IHA_E_INVAL) {
            iha_err_set(err, "catalog",
                        "the %s endpoint URL in the service catalog carries credentials; "
                        "register it without them or set instance_ha.url",
                        service_type);
        }
    }
    pthread_mutex_unlock(&ks->lock);
    if (rc == IHA_OK)
        iha_keystone_base_url(out);
    return rc;
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
