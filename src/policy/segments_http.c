/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file segments_http.c
 * @brief The segment client's page getter: one GET to Instance HA with the service
 *        token, on the refresh thread, that shutdown can interrupt at once.
 *
 * Separate because it is the only part that talks libcurl and the only one that holds
 * the token; the paging and the snapshot never see either.
 */
#include "segments_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "curl_setup.h"
#include "log.h"

#define TOKEN_HDR_MAX (64u * 1024u + 64u) /* a 64 KiB token file plus the header name */
#define POLL_MS 1000                      /* wakeups end a poll early; this is a backstop */

enum iha_rc iha_segments_http_init(struct iha_segments *s)
{
    s->hdrbuf = malloc(TOKEN_HDR_MAX);
    if (!s->hdrbuf)
        return IHA_E_NOMEM;
    s->multi = curl_multi_init();
    s->easy = curl_easy_init();
    return s->multi && s->easy ? IHA_OK : IHA_E_IO;
}

void iha_segments_http_free(struct iha_segments *s)
{
    if (s->easy)
        curl_easy_cleanup(s->easy);
    if (s->multi)
        curl_multi_cleanup(s->multi);
    if (s->hdrbuf) {
        iha_secret_wipe(s->hdrbuf, TOKEN_HDR_MAX);
        free(s->hdrbuf);
    }
    s->easy = NULL;
    s->multi = NULL;
    s->hdrbuf = NULL;
}

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *ud)
{
    size_t n = size * nmemb;

    return iha_buf_put(ud, ptr, n) ? n : 0; /* over SEG_BODY_MAX: abort the transfer */
}

static void wipe_headers(struct curl_slist *h)
{
    for (; h; h = h->next)
        iha_secret_wipe(h->data, strlen(h->data));
}

/* Accept plus the token header. @return the list, or NULL when out of memory. */
static struct curl_slist *make_headers(struct iha_segments *s)
{
    struct curl_slist *h = curl_slist_append(NULL, "Accept: application/json"), *n;
    enum iha_rc rc = IHA_E_NOTFOUND;
    char desc[300];

    if (!h)
        return NULL;
    if (s->token)
        rc = iha_token_source_header(s->token, s->auth_header, s->hdrbuf, TOKEN_HDR_MAX);
    if (rc == IHA_OK) {
        n = curl_slist_append(h, s->hdrbuf);
        iha_secret_wipe(s->hdrbuf, strlen(s->hdrbuf));
        if (!n) {
            wipe_headers(h);
            curl_slist_free_all(h);
            return NULL;
        }
        s->token_warned = false;
        return n;
    }
    if (!s->token_warned) {
        snprintf(desc, sizeof(desc), "none");
        if (s->token)
            iha_token_source_describe(s->token, desc, sizeof(desc));
        IHA_LOG(IHA_LOG_WARN, "segments: no service token available; listing without one", "source",
                desc, "reason", iha_rc_str(rc));
        s->token_warned = true;
    }
    return h;
}

/* Every option of a GET; the ones all outbound requests share come from iha_curl_setup(). */
static enum iha_rc setup_easy(const struct iha_segments *s, CURL *e, const char *url,
                              struct curl_slist *headers, struct iha_buf *body, char *errbuf,
                              struct iha_err *err)
{
    const struct iha_curl_opts o = {
        .url = url,
        .connect_timeout_ms = s->connect_ms,
        .timeout_ms = s->timeout_ms,
        .maxage_conn_s = 60,
        .headers = headers,
        .on_body = on_body,
        .body_cls = body,
        .errbuf = errbuf,
        .tls = s->tls,
    };

    curl_easy_reset(e);
    return iha_curl_setup(e, &o, err);
}

/* Runs the transfer on the client's multi handle, so that iha_segments_free() can end it. */
static CURLcode perform(struct iha_segments *s, CURL *e, bool *stopped)
{
    CURLcode res = CURLE_RECV_ERROR;
    CURLMsg *msg;
    int running = 1, left;

    *stopped = false;
    if (curl_multi_add_handle(s->multi, e) != CURLM_OK)
        return CURLE_FAILED_INIT;
    while (running) {
        if (atomic_load(&s->stopping)) {
            *stopped = true;
            break;
        }
        if (curl_multi_perform(s->multi, &running) != CURLM_OK) {
            res = CURLE_FAILED_INIT;
            break;
        }
        if (running && curl_multi_poll(s->multi, NULL, 0, POLL_MS, NULL) != CURLM_OK) {
            res = CURLE_FAILED_INIT;
            break;
        }
    }
    while (!running && !*stopped && (msg = curl_multi_info_read(s->multi, &left)))
        if (msg->msg == CURLMSG_DONE && msg->easy_handle == e)
            res = msg->data.result;
    curl_multi_remove_handle(s->multi, e);
    return res;
}

/* Instance HA's error message ({"<fault>": {"message": ...}}), else the body's start. */
static void answer_message(const struct iha_buf *body, char *out, size_t size)
{
    json_t *root = body->p ? json_loadb(body->p, body->len, 0, NULL) : NULL;
    const char *key, *msg = NULL;
    json_t *v;

    json_object_foreach(root, key, v)
    {
        if (json_is_string(json_object_get(v, "message"))) {
            msg = json_string_value(json_object_get(v, "message"));
            break;
        }
    }
    snprintf(out, size, "%.200s", msg ? msg : body->p ? body->p : "");
    for (char *p = out; *p; p++)
        if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7F)
            *p = '?'; /* one log line, valid JSON text */
    json_decref(root);
}

/* Turns a finished transfer into the getter's answer. */
static enum iha_rc read_answer(struct iha_segments *s, const char *path, CURLcode cc, long code,
                               const struct iha_buf *body, const char *errbuf, struct iha_err *err)
{
    char msg[256];

    if (cc == CURLE_WRITE_ERROR && body->over) {
        iha_err_set(err, NULL, "GET %s: the answer is longer than %u bytes", path, SEG_BODY_MAX);
        return IHA_E_LIMIT;
    }
    if (cc != CURLE_OK) {
        iha_err_set(err, NULL, "GET %s: %s", path, errbuf[0] ? errbuf : curl_easy_strerror(cc));
        return IHA_E_IO;
    }
    if (code == 200)
        return IHA_OK;
    answer_message(body, msg, sizeof(msg));
    if (code == 401) {
        iha_token_source_invalidate(s->token);
        iha_err_set(err, NULL,
                    "GET %s: Instance HA refused the service token (401): %s; check the token "
                    "and instance_ha.dialect (%s header)",
                    path, msg, s->auth_header);
        return IHA_E_AUTH;
    }
    if (code == 403) {
        iha_err_set(err, NULL,
                    "GET %s: Instance HA answered 403: %s; the service user needs a role that "
                    "may list segments and hosts (admin by default)",
                    path, msg);
        return IHA_E_AUTH;
    }
    iha_err_set(err, NULL, "GET %s: Instance HA answered %ld: %s", path, code, msg);
    return IHA_E_UPSTREAM;
}

enum iha_rc iha_segments_http_get(void *cls, const char *path, struct iha_buf *body,
                                  struct iha_err *err)
{
    struct iha_segments *s = cls;
    struct curl_slist *h = NULL;
    struct iha_err serr;
    char errbuf[CURL_ERROR_SIZE], *url = NULL;
    size_t blen = strlen(s->base_url), plen = strlen(path);
    enum iha_rc rc = IHA_E_NOMEM;
    bool stopped = false;
    long code = 0;
    CURLcode cc;

    errbuf[0] = '\0';
    url = malloc(blen + plen + 1);
    h = url ? make_headers(s) : NULL;
    if (!h) {
        iha_err_set(err, NULL, "GET %s: out of memory", path);
        goto cleanup;
    }
    memcpy(url, s->base_url, blen);
    memcpy(url + blen, path, plen + 1);
    if (setup_easy(s, s->easy, url, h, body, errbuf, &serr) != IHA_OK) {
        iha_err_set(err, NULL, "GET %s: %s", path, serr.msg);
        rc = IHA_E_IO;
        goto cleanup;
    }
    cc = perform(s, s->easy, &stopped);
    if (stopped) {
        iha_err_set(err, NULL, "GET %s: abandoned, the client is stopping", path);
        rc = IHA_E_IO;
        goto cleanup;
    }
    curl_easy_getinfo(s->easy, CURLINFO_RESPONSE_CODE, &code);
    rc = read_answer(s, path, cc, code, body, errbuf, err);
cleanup:
    wipe_headers(h);
    curl_slist_free_all(h);
    free(url);
    return rc;
}
