/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file tls_listener.h
 * @brief TLS for the listener: the certificate served, renewed without a restart, and the
 *        check of client certificates (web.tls_server_config).
 *
 * The certificate and key are read from their files when the listener starts and again,
 * at the next handshake, once either file has changed (looked at at most once a second):
 * a renewed certificate is served to new connections while open ones keep theirs. Each
 * handshake gets its own copy, which GnuTLS frees, so a renewal never frees a certificate
 * a handshake in progress still uses.
 *
 * Threads: iha_tls_listener_retrieve() and iha_tls_listener_check_client() run on the
 * HTTP thread; new/free on the thread that starts and stops the server.
 */
#ifndef IHA_TLS_LISTENER_H
#define IHA_TLS_LISTENER_H

#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>
#include <stdbool.h>

#include "diag.h"
#include "rc.h"

struct iha_tls_listener;

enum iha_client_auth {
    IHA_CLIENT_CERT_NONE,     /**< NoClientCert */
    IHA_CLIENT_CERT_IF_GIVEN, /**< VerifyClientCertIfGiven */
    IHA_CLIENT_CERT_REQUIRE,  /**< RequireAndVerifyClientCert */
};

struct iha_tls_listener_config {
    const char *cert_file, *key_file;
    const char *client_ca_file; /**< NULL unless client certificates are verified */
    enum iha_client_auth client_auth;
    bool tls13_only; /**< min_version TLS13 (else TLS12) */
};

/** Reads the files; an unreadable or invalid one is an error naming it. */
enum iha_rc iha_tls_listener_new(const struct iha_tls_listener_config *cfg,
                                 struct iha_tls_listener **out, struct iha_err *err) IHA_MUST_CHECK;
/** NULL-safe; wipes the key. */
void iha_tls_listener_free(struct iha_tls_listener *t);

/** GnuTLS priorities for the minimum version (for MHD_OPTION_HTTPS_PRIORITIES). */
const char *iha_tls_listener_priorities(const struct iha_tls_listener *t);
/** The client CA as PEM (for MHD_OPTION_HTTPS_MEM_TRUST), or NULL. */
const char *iha_tls_listener_client_ca(const struct iha_tls_listener *t);

/**
 * Hands a fresh copy of the current certificate chain and key to one handshake (GnuTLS
 * frees it: @p flags gets GNUTLS_CERT_RETR_DEINIT_ALL). @return 0, or -1 when there is
 * none (the handshake fails).
 */
int iha_tls_listener_retrieve(struct iha_tls_listener *t, gnutls_pcert_st **pcert,
                              unsigned *pcert_length, gnutls_privkey_t *pkey, unsigned *flags);

/**
 * Judges the client certificate of @p session by client_auth_type.
 * @return true when the request may go on; else false with the reason in @p why.
 */
bool iha_tls_listener_check_client(const struct iha_tls_listener *t, gnutls_session_t session,
                                   char *why, size_t why_size);

#endif
