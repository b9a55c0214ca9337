/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file keystone_auth.c
 * @brief One authentication: the POST to /v3/auth/tokens and the reading of Keystone's
 *        answer (the X-Subject-Token, the expiry, the roles, the catalog, the error).
 *
 * Separate from the cache and the renewal thread: it runs without the client's lock and
 * touches only the easy handle and the result it fills, so it can be read (and checked
 * for leaked secrets) on its own.
 */
#include "keystone_int.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "clock.h"
#include "curl_setup.h"
#include "http_header.h"

#define RESP_MAX (4u * 1024u * 1024u) /* a large cloud's catalog is well below this */
#define TOKEN_MAX (16u * 1024u)       /* fernet tokens are ~200 bytes; PKI ones a few KiB */

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

struct response {
    struct iha_buf body; /* capped at RESP_MAX: body.over says the answer was longer */
    char *subject;       /* X-Subject-Token of the final response */
    size_t subject_len;
    bool subject_over;
};

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *ud)
{
    struct response *r = ud;
    size_t n = size * nmemb;

    return iha_buf_put(&r->body, ptr, n) ? n : 0;
}

static size_t on_header(char *ptr, size_t size, size_t nmemb, void *ud)
{
    struct response *r = ud;
    size_t n = size * nmemb, a, b;

    if (iha_http_header_is_status(ptr, n)) {
        iha_keystone_free_secret(r->subject); /* a new response (after 100 Continue) */
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
    iha_keystone_free_secret(r->subject);
    r->subject = malloc(b - a + 1);
    if (!r->subject)
        return 0;
    memcpy(r->subject, ptr + a, b - a);
    r->subject[b - a] = '\0';
    r->subject_len = b - a;
    return n;
}

/* The message of a Keystone error body, else a prefix of the body. */
static void error_message(const struct response *r, char *out, size_t size)
{
    json_t *root = r->body.p ? json_loadb(r->body.p, r->body.len, 0, NULL) : NULL;
    json_t *msg = json_object_get(json_object_get(root, "error"), "message");

    if (json_is_string(msg))
        snprintf(out, size, "%s", json_string_value(msg));
    else
        snprintf(out, size, "%.120s", r->body.p ? r->body.p : "");
    json_decref(root);
}

static bool roles_have_admin(const json_t *roles)
{
    size_t i;
    json_t *r;

    json_array_foreach(roles, i, r)
    {
        if (iha_keystone_str_is(json_object_get(r, "name"), "admin"))
            return true;
    }
    return false;
}

/* Turns a 201 into @p res. */
static void parse_created(struct response *r, struct result *res)
{
    json_t *root = json_loadb(r->body.p ? r->body.p : "", r->body.len, 0, NULL);
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
        int64_t now = iha_clock_wall_ms();
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

/*
 * Prepares the client's reused easy handle for one POST of @p body_text, the answer going
 * to @p r and @p errbuf; the header list it builds is left in @p hp for the caller to free.
 * @return the handle, or NULL with @p res's detail set.
 */
static CURL *prepare(struct iha_keystone *ks, const char *body_text, struct response *r,
                     char *errbuf, struct curl_slist **hp, struct result *res)
{
    struct iha_err err;
    CURL *e;

    if (!ks->easy)
        ks->easy = curl_easy_init();
    else
        curl_easy_reset(ks->easy);
    e = ks->easy;
    if (!e) {
        snprintf(res->detail, sizeof(res->detail), "cannot create a curl handle");
        return NULL;
    }
    if (iha_curl_json_headers(hp) != IHA_OK) {
        snprintf(res->detail, sizeof(res->detail), "out of memory");
        return NULL;
    }
    const struct iha_curl_opts o = {
        .url = ks->tokens_url,
        .connect_timeout_ms = ks->connect_ms,
        .timeout_ms = ks->timeout_ms,
        .headers = *hp,
        .body = body_text,
        .body_len = strlen(body_text),
        .on_body = on_body,
        .body_cls = r,
        .on_header = on_header,
        .header_cls = r,
        .errbuf = errbuf,
        .tls = &ks->tls,
    };
    if (iha_curl_setup(e, &o, &err) != IHA_OK) {
        snprintf(res->detail, sizeof(res->detail), "%.*s", (int)sizeof(res->detail) - 1, err.msg);
        return NULL;
    }
    return e;
}

/* Turns the transfer's result @p cc, the status @p code and the answer @p r into @p res. */
static void read_answer(const struct iha_keystone *ks, struct response *r, CURLcode cc, long code,
                        const char *errbuf, struct result *res)
{
    if (cc != CURLE_OK && !(cc == CURLE_WRITE_ERROR && r->body.over)) {
        res->state = KS_UNREACHABLE;
        res->rc = IHA_E_IO;
        snprintf(res->detail, sizeof(res->detail), "Keystone at %s: %s", ks->tokens_url,
                 errbuf[0] ? errbuf : curl_easy_strerror(cc));
        return;
    }
    if (code == 201 && !r->body.over) {
        parse_created(r, res);
    } else {
        char msg[200];
        error_message(r, msg, sizeof(msg));
        if (code == 401) {
            res->state = KS_DENIED;
            res->rc = IHA_E_AUTH;
            snprintf(res->detail, sizeof(res->detail),
                     "Keystone refused the credentials (401): %s; check the user, password or "
                     "application credential",
                     msg);
        } else {
            snprintf(res->detail, sizeof(res->detail), "Keystone answered %ld%s: %s", code,
                     r->body.over ? " with an oversized body" : "", msg);
        }
    }
}

void iha_keystone_authenticate(struct iha_keystone *ks, struct result *res)
{
    struct response r;
    struct curl_slist *h = NULL;
    char *body_text = NULL, errbuf[CURL_ERROR_SIZE];
    CURLcode cc;
    long code = 0;
    CURL *e;

    memset(res, 0, sizeof(*res));
    memset(&r, 0, sizeof(r));
    iha_buf_init(&r.body, 0, RESP_MAX);
    errbuf[0] = '\0';
    res->state = KS_ERROR;
    res->rc = IHA_E_UPSTREAM;

    body_text = iha_keystone_request_text(ks, res);
    if (!body_text)
        return;
    e = prepare(ks, body_text, &r, errbuf, &h, res);
    if (!e)
        goto cleanup;
    cc = curl_easy_perform(e);
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &code);
    read_answer(ks, &r, cc, code, errbuf, res);
cleanup:
    if (h)
        curl_slist_free_all(h);
    if (body_text) {
        iha_secret_wipe(body_text, strlen(body_text));
        free(body_text);
    }
    iha_keystone_free_secret(r.subject);
    iha_buf_free(&r.body);
}
