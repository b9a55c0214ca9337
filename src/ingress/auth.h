/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file auth.h
 * @brief Inbound authentication: bearer tokens from a file and HTTP basic auth.
 *
 * The token file holds one token per line (blank lines and lines starting with
 * '#' ignored, surrounding whitespace trimmed) and is re-read when its mtime or
 * size changes (checked at most once a second). Tokens are compared in constant
 * time. Basic auth users carry crypt(3) hashes (bcrypt "$2y$", as Prometheus'
 * web.yml). A password hash is slow by design, so it is never computed here: a
 * credential not seen before comes back as a job (IHA_AUTH_VERIFY) that the caller
 * runs away from the HTTP thread (auth_verifier.h) and then settles with
 * iha_auth_job_finish(). Verified and refused credentials are remembered by a keyed
 * hash of the header (never the header itself); verified ones survive a reload through
 * iha_auth_adopt_cache() for as long as their user and its hash are unchanged.
 *
 * Threads: an iha_auth is used by the HTTP thread only; a job, once made, by whoever
 * holds it (it refers to nothing in the iha_auth).
 */
#ifndef IHA_AUTH_H
#define IHA_AUTH_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "rc.h"

struct iha_auth;

struct iha_auth_job;

enum iha_auth_result {
    IHA_AUTH_OK,
    IHA_AUTH_MISSING, /**< no Authorization header (or auth has nothing configured) */
    IHA_AUTH_INVALID, /**< wrong scheme, token or password */
    IHA_AUTH_VERIFY,  /**< a password hash must be computed first: see the job */
    IHA_AUTH_BUSY,    /**< cannot be decided now; answer 503 with Retry-After */
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
 * Checks an Authorization header value (may be NULL). HTTP thread only; never slow.
 * @param[out] job on IHA_AUTH_VERIFY, the verification to run (owned by the caller:
 *             iha_auth_job_finish() or iha_auth_job_free()); NULL otherwise
 * @param[out] why a short reason for the error body, never containing the credential
 */
enum iha_auth_result iha_auth_check(struct iha_auth *a, const char *authorization,
                                    struct iha_auth_job **job, char *why, size_t why_size);

/** Computes the password hash of @p job. Any thread; takes as long as the hash's cost. */
void iha_auth_job_run(struct iha_auth_job *job);

/**
 * Settles a job against @p a, the authentication in force now (a reload may have
 * replaced the one that made it), and remembers the verdict. HTTP thread only.
 * Does not free @p job.
 * @param[out] accepted whether the hash matched (for counting), whatever the result
 * @return IHA_AUTH_OK, IHA_AUTH_INVALID, or IHA_AUTH_BUSY when the job did not run
 *         (shutdown) or its user changed meanwhile (the sender should retry)
 */
enum iha_auth_result iha_auth_job_finish(struct iha_auth *a, struct iha_auth_job *job,
                                         bool *accepted, char *why, size_t why_size);

/** Frees @p job, wiping its password. NULL-safe. */
void iha_auth_job_free(struct iha_auth_job *job);

/**
 * Takes over from @p old (the authentication a reload replaces) the credentials it
 * verified whose user and password hash are the same in @p a. Refused credentials
 * are not carried over. Call before @p a checks anything.
 */
void iha_auth_adopt_cache(struct iha_auth *a, const struct iha_auth *old);

/** Constant-time comparison of two byte strings (time depends only on the lengths). */
bool iha_auth_equal(const char *a, size_t alen, const char *b, size_t blen);

#endif
