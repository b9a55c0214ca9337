/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file delivery_request.c
 * @brief One POST to Instance HA: the URL, the headers with the service token, the easy
 *        handle's options, and the callbacks that keep the answer.
 *
 * Separate because it is the only part that talks libcurl's easy interface and the only
 * one that handles the token; the queueing and retry logic never see either.
 */
#include "delivery_int.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "curl_setup.h"
#include "http_header.h"
#include "log.h"

static void wipe_headers(struct curl_slist *h)
{
    for (; h; h = h->next)
        iha_secret_wipe(h->data, strlen(h->data));
}

void iha_delivery_release_easy(struct iha_delivery *d, struct job *j)
{
    if (j->easy) {
        curl_multi_remove_handle(d->multi, j->easy);
        if (d->nidle < IDLE_MAX)
            d->idle[d->nidle++] = j->easy;
        else
            curl_easy_cleanup(j->easy);
        j->easy = NULL;
        d->running--;
    }
    wipe_headers(j->headers);
    curl_slist_free_all(j->headers);
    j->headers = NULL;
}

/* ---- curl callbacks ---- */

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *ud)
{
    struct job *j = ud;
    size_t n = size * nmemb;

    if (n > RESP_MAX - j->resp_len) {
        j->resp_over = true;
        return 0; /* abort: no Instance HA answer is this large */
    }
    if (!j->resp && !(j->resp = malloc(RESP_MAX + 1)))
        return 0;
    memcpy(j->resp + j->resp_len, ptr, n);
    j->resp_len += n;
    j->resp[j->resp_len] = '\0';
    return n;
}

static size_t on_header(char *ptr, size_t size, size_t nmemb, void *ud)
{
    struct job *j = ud;
    size_t n = size * nmemb, a, b, o = 0;

    if (iha_http_header_is_status(ptr, n)) {
        j->request_id[0] = '\0'; /* a new response (after 100 Continue) */
        return n;
    }
    if (!iha_http_header_value(ptr, n, "x-openstack-request-id:", &a, &b))
        return n;
    for (size_t i = a; i < b && o + 1 < sizeof(j->request_id); i++) {
        unsigned char c = (unsigned char)ptr[i];
        j->request_id[o++] = (c < 0x20 || c >= 0x7F) ? '?' : (char)c;
    }
    j->request_id[o] = '\0';
    return n;
}

static void add_token(struct iha_delivery *d, struct curl_slist **h, bool *ok)
{
    enum iha_rc rc;
    struct curl_slist *n;

    if (!d->token) {
        rc = IHA_E_NOTFOUND;
    } else {
        rc = iha_token_source_header(d->token, d->auth_header, d->hdrbuf, TOKEN_HDR_MAX);
    }
    if (rc == IHA_OK) {
        n = curl_slist_append(*h, d->hdrbuf);
        iha_secret_wipe(d->hdrbuf, strlen(d->hdrbuf));
        if (!n) {
            *ok = false;
            return;
        }
        *h = n;
        d->token_warned = false;
        return;
    }
    if (!d->token_warned) {
        char desc[300];
        iha_token_source_describe(d->token, desc, sizeof(desc));
        IHA_LOG(IHA_LOG_WARN, "no service token available; sending without one", "source", desc,
                "reason", iha_rc_str(rc));
        d->token_warned = true;
    }
}

bool iha_delivery_start_attempt(struct iha_delivery *d, struct job *j)
{
    struct curl_slist *h = NULL;
    struct iha_curl_opts o;
    struct iha_err err;
    bool ok = true;
    CURL *e;

    j->resp_len = 0;
    j->resp_over = false;
    j->request_id[0] = '\0';
    j->errbuf[0] = '\0';
    if (j->resp)
        j->resp[0] = '\0';
    j->attempts++;
    if (j->attempts == 1)
        j->first_ms = iha_clock_ms();

    if (d->nidle > 0) {
        e = d->idle[--d->nidle];
        curl_easy_reset(e);
    } else {
        e = curl_easy_init();
    }
    if (!e) {
        snprintf(j->detail, sizeof(j->detail), "cannot create a curl handle");
        return false;
    }

    if (iha_curl_json_headers(&h) == IHA_OK)
        add_token(d, &h, &ok);
    else
        ok = false;
    if (!ok) {
        snprintf(j->detail, sizeof(j->detail), "out of memory building headers");
        goto fail;
    }

    o = (struct iha_curl_opts){
        .url = d->url,
        .private_data = j,
        .connect_timeout_ms = d->connect_timeout_ms,
        .timeout_ms = d->timeout_ms,
        .maxage_conn_s = 60,
        .headers = h,
        .body = j->body,
        .body_len = j->body_len,
        .on_body = on_body,
        .body_cls = j,
        .on_header = on_header,
        .header_cls = j,
        .errbuf = j->errbuf,
        .tls = d->tls,
    };
    /* Reused handles were reset above, so the TLS options are set on every attempt. */
    switch (iha_curl_setup(e, &o, &err)) {
    case IHA_OK:
        break;
    case IHA_E_CONFIG:
        snprintf(j->detail, sizeof(j->detail), "the TLS options of instance_ha.tls are refused");
        goto fail;
    default:
        snprintf(j->detail, sizeof(j->detail), "%.*s", (int)sizeof(j->detail) - 1, err.msg);
        goto fail;
    }
    if (curl_multi_add_handle(d->multi, e) != CURLM_OK) {
        snprintf(j->detail, sizeof(j->detail), "cannot add the curl handle");
        goto fail;
    }
    j->easy = e;
    j->headers = h;
    d->running++;
    return true;
fail:
    wipe_headers(h);
    curl_slist_free_all(h);
    curl_easy_cleanup(e);
    return false;
}

char *iha_delivery_make_url(const char *base)
{
    static const char path[] = "/v1/notifications";
    size_t len = strlen(base);
    char *url;

    while (len > 0 && base[len - 1] == '/')
        len--;
    url = malloc(len + sizeof(path));
    if (!url)
        return NULL;
    memcpy(url, base, len);
    memcpy(url + len, path, sizeof(path));
    return url;
}
