/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file tls.h
 * @brief TLS options for outbound HTTPS (Keystone, Instance HA): CA bundle, client
 *        certificate and an explicit switch that turns verification off.
 */
#ifndef IHA_TLS_H
#define IHA_TLS_H

#include <stdbool.h>

#include "rc.h"

/** Plain data; the strings are owned by whoever fills the struct (the config). */
struct iha_tls_config {
    char *ca_file;   /**< PEM bundle to verify the server with; NULL = the system store */
    char *cert_file; /**< PEM client certificate; NULL = none */
    char *key_file;  /**< PEM key of @c cert_file; NULL = the key is in @c cert_file */
    bool insecure;   /**< no peer or host name verification (labs only; logged loudly) */
};

/**
 * Applies @p tls to a libcurl easy handle (CAINFO, SSLCERT, SSLKEY, SSL_VERIFYPEER/HOST).
 * @param curl a CURL * (void * so that this header does not pull in curl.h)
 * @param tls may be NULL (libcurl's defaults: verify against the system store)
 * @return IHA_OK; IHA_E_CONFIG when libcurl refuses an option (e.g. built without TLS).
 *         Any thread, for a handle that thread owns.
 */
enum iha_rc iha_tls_apply(void *curl, const struct iha_tls_config *tls) IHA_MUST_CHECK;

/** @return true when @p tls sets anything (so callers can say which options are in force). */
bool iha_tls_configured(const struct iha_tls_config *tls);

#endif
