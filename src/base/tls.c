/* SPDX-License-Identifier: Apache-2.0 */
/** @file tls.c @brief TLS options applied to libcurl easy handles. */
#include "tls.h"

#include <curl/curl.h>
#include <stddef.h>

enum iha_rc iha_tls_apply(void *curl, const struct iha_tls_config *tls)
{
    CURL *e = curl;
    CURLcode cc = CURLE_OK;

    if (!tls)
        return IHA_OK;
    if (tls->ca_file)
        cc = curl_easy_setopt(e, CURLOPT_CAINFO, tls->ca_file);
    if (cc == CURLE_OK && tls->cert_file)
        cc = curl_easy_setopt(e, CURLOPT_SSLCERT, tls->cert_file);
    if (cc == CURLE_OK && tls->key_file)
        cc = curl_easy_setopt(e, CURLOPT_SSLKEY, tls->key_file);
    if (cc == CURLE_OK && tls->insecure) {
        cc = curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
        if (cc == CURLE_OK)
            cc = curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    return cc == CURLE_OK ? IHA_OK : IHA_E_CONFIG;
}

bool iha_tls_configured(const struct iha_tls_config *tls)
{
    return tls && (tls->ca_file || tls->cert_file || tls->key_file || tls->insecure);
}
