/* SPDX-License-Identifier: Apache-2.0 */
/** @file curl_setup.c @brief The options every outbound request sets on its easy handle. */
#include "curl_setup.h"

#ifndef IHA_VERSION
#define IHA_VERSION "0"
#endif

/* Sets one option unless an earlier one failed, so a run of them needs one check. */
#define SETOPT(opt, val)                                                                           \
    do {                                                                                           \
        if (cc == CURLE_OK)                                                                        \
            cc = curl_easy_setopt(e, opt, val);                                                    \
    } while (0)

enum iha_rc iha_curl_setup(CURL *e, const struct iha_curl_opts *o, struct iha_err *err)
{
    CURLcode cc = CURLE_OK;

    SETOPT(CURLOPT_URL, o->url);
    if (!o->body)
        SETOPT(CURLOPT_HTTPGET, 1L);
    if (o->private_data)
        SETOPT(CURLOPT_PRIVATE, o->private_data);
    SETOPT(CURLOPT_NOSIGNAL, 1L);
    SETOPT(CURLOPT_PROTOCOLS_STR, "http,https");
    SETOPT(CURLOPT_FOLLOWLOCATION, 0L);
    SETOPT(CURLOPT_CONNECTTIMEOUT_MS, o->connect_timeout_ms);
    SETOPT(CURLOPT_TIMEOUT_MS, o->timeout_ms);
    SETOPT(CURLOPT_TCP_KEEPALIVE, 1L);
    if (o->maxage_conn_s > 0)
        SETOPT(CURLOPT_MAXAGE_CONN, o->maxage_conn_s);
    SETOPT(CURLOPT_USERAGENT, "iha-gateway/" IHA_VERSION);
    SETOPT(CURLOPT_HTTPHEADER, o->headers);
    if (o->body) {
        SETOPT(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)o->body_len);
        SETOPT(CURLOPT_POSTFIELDS, o->body);
    }
    SETOPT(CURLOPT_WRITEFUNCTION, o->on_body);
    SETOPT(CURLOPT_WRITEDATA, o->body_cls);
    if (o->on_header) {
        SETOPT(CURLOPT_HEADERFUNCTION, o->on_header);
        SETOPT(CURLOPT_HEADERDATA, o->header_cls);
    }
    SETOPT(CURLOPT_ERRORBUFFER, o->errbuf);
    if (cc != CURLE_OK) {
        iha_err_set(err, NULL, "curl option: %s", curl_easy_strerror(cc));
        return IHA_E_INVAL;
    }
    if (iha_tls_apply(e, o->tls) != IHA_OK) {
        iha_err_set(err, NULL, "curl option: %s", curl_easy_strerror(CURLE_NOT_BUILT_IN));
        return IHA_E_CONFIG;
    }
    return IHA_OK;
}

enum iha_rc iha_curl_json_headers(struct curl_slist **list)
{
    static const char *const fixed[] = {"Content-Type: application/json",
                                        "Accept: application/json", "Expect:"};
    struct curl_slist *n;

    for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++) {
        n = curl_slist_append(*list, fixed[i]);
        if (!n)
            return IHA_E_NOMEM;
        *list = n;
    }
    return IHA_OK;
}
