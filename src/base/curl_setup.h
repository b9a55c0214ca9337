/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file curl_setup.h
 * @brief The options every outbound request sets on its libcurl easy handle (Keystone's
 *        token request, Instance HA's notifications and segment listing), kept in one
 *        place so that they cannot drift apart on timeouts, protocols, redirects or TLS.
 */
#ifndef IHA_CURL_SETUP_H
#define IHA_CURL_SETUP_H

#include <curl/curl.h>
#include <stddef.h>

#include "rc.h"
#include "tls.h"

/**
 * What differs between callers. Every pointer is borrowed and must stay valid until the
 * transfer ends (libcurl keeps them, it does not copy them).
 */
struct iha_curl_opts {
    const char *url;
    long connect_timeout_ms;          /**< CURLOPT_CONNECTTIMEOUT_MS */
    long timeout_ms;                  /**< CURLOPT_TIMEOUT_MS: the whole transfer */
    long maxage_conn_s;               /**< CURLOPT_MAXAGE_CONN; 0 = libcurl's default */
    void *private_data;               /**< CURLOPT_PRIVATE; NULL = not set */
    struct curl_slist *headers;       /**< the request headers (iha_curl_json_headers()) */
    const char *body;                 /**< the JSON body to POST; NULL = a GET */
    size_t body_len;                  /**< the size of @c body */
    curl_write_callback on_body;      /**< receives the answer's body */
    void *body_cls;                   /**< for @c on_body */
    curl_write_callback on_header;    /**< each header line of the answer; NULL = not set */
    void *header_cls;                 /**< for @c on_header */
    char *errbuf;                     /**< CURL_ERROR_SIZE bytes for libcurl's message */
    const struct iha_tls_config *tls; /**< NULL = libcurl's defaults (the system store) */
};

/**
 * Sets up @p e for one POST (or GET): @p o's values, plus what never differs: no signals,
 * HTTP and HTTPS only, no redirects followed, TCP keepalive, the iha-gateway User-Agent.
 * @p e should be new or just curl_easy_reset(), so that nothing of an earlier transfer
 * stays in force.
 * @param[in,out] e the easy handle, owned by the calling thread
 * @param[in] o the options; borrowed for the call, its pointers for the transfer
 * @param[out] err on failure, "curl option: <libcurl's reason>" in @c msg; may be NULL
 * @return IHA_OK; IHA_E_INVAL when libcurl refuses one of the plain options;
 *         IHA_E_CONFIG when it refuses the TLS options of @c o->tls (then @c msg gives
 *         libcurl's reason for a feature not built in, as iha_tls_apply() does not say
 *         which option failed). @p e may be half set up after a failure.
 */
enum iha_rc iha_curl_setup(CURL *e, const struct iha_curl_opts *o,
                           struct iha_err *err) IHA_MUST_CHECK;

/**
 * Appends the headers of a JSON request to @p list: Content-Type and Accept
 * application/json, and an empty Expect (no 100-continue round trip).
 * @param[in,out] list the list to extend (*list may be NULL); on failure it holds what
 *                was appended so far, still for the caller to free
 * @return IHA_OK; IHA_E_NOMEM.
 */
enum iha_rc iha_curl_json_headers(struct curl_slist **list) IHA_MUST_CHECK;

#endif
