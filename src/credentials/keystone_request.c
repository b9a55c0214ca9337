/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file keystone_request.c
 * @brief What is sent to Keystone: the tokens URL and the JSON body, with the password or
 *        application-credential secret read for each authentication.
 *
 * Separate because it is the one place that holds the secret in clear, and because the
 * body builder is pure (the unit tests call it directly); the HTTP exchange only ever
 * sees the finished text.
 */
#include "keystone_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SECRET_FILE_MAX (64u * 1024u)

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

char *iha_keystone_request_text(const struct iha_keystone *ks, struct result *res)
{
    struct iha_keystone_config c;
    char *secret = NULL, *body_text;
    json_t *body;
    const char *secret_file;

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
        return NULL;
    }
    as_config(ks, &c);
    body = iha_keystone_request_body(&c, secret);
    body_text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    if (body)
        wipe_json_secret(body, secret);
    json_decref(body);
    iha_secret_wipe(secret, strlen(secret));
    free(secret);
    if (!body_text)
        snprintf(res->detail, sizeof(res->detail), "out of memory building the request");
    return body_text;
}
