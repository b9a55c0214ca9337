/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file auth.h
 * @brief Inbound authentication: bearer tokens from a file and HTTP basic auth.
 *
 * The token file holds one token per line (blank lines and lines starting with
 * '#' ignored, surrounding whitespace trimmed) and is re-read when its mtime or
 * size changes (checked at most once a second). Tokens are compared in constant
 * time. Basic auth users carry crypt(3) hashes (bcrypt "$2y$", as Prometheus'
 * web.yml); a verified credential is cached so the hash cost is paid once.
 */
#ifndef IHA_AUTH_H
#define IHA_AUTH_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "rc.h"

struct iha_auth;

enum iha_auth_result {
    IHA_AUTH_OK,
    IHA_AUTH_MISSING, /**< no Authorization header (or auth has nothing configured) */
    IHA_AUTH_INVALID, /**< wrong scheme, token or password */
};

/**
 * @param disabled accept everything (the caller checked the listen address is loopback)
 * @param tokens_file may be NULL; may not exist yet (then no token is valid until it does)
 * @param users basic auth users (copied)
 */
enum iha_rc iha_auth_new(bool disabled, const char *tokens_file, const struct iha_basic_user *users,
                         size_t n_users, struct iha_auth **out) IHA_MUST_CHECK;

/** Frees @p a, wiping cached secrets. NULL-safe. */
void iha_auth_free(struct iha_auth *a);

/**
 * Checks an Authorization header value (may be NULL). Called from the HTTP thread only.
 * @param[out] why a short reason for the 401 body, never containing the credential
 */
enum iha_auth_result iha_auth_check(struct iha_auth *a, const char *authorization, char *why,
                                    size_t why_size);

/** Constant-time comparison of two byte strings (time depends only on the lengths). */
bool iha_auth_equal(const char *a, size_t alen, const char *b, size_t blen);

#endif
