/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file token_source.h
 * @brief The service token for Instance HA: static (a file re-read when it changes, or
 *        the environment) or from a provider such as Keystone (keystone.h).
 *
 * The token is kept in this opaque type and only handed out to the code that
 * builds the outbound header; logs, metrics and status have no way to print it.
 * Delivery makes two calls: iha_token_source_header() for every attempt and
 * iha_token_source_invalidate() when Instance HA answered 401, before its one retry.
 */
#ifndef IHA_TOKEN_SOURCE_H
#define IHA_TOKEN_SOURCE_H

#include <stddef.h>

#include "rc.h"
#include "secret.h" /* iha_secret_wipe(), which every user of a token needs */

struct iha_token_source;

/**
 * @param file path of a file holding the token (surrounding whitespace trimmed),
 *        or NULL to use the environment variable @p env_name.
 * @return IHA_OK; IHA_E_NOMEM.
 */
enum iha_rc iha_token_source_new(const char *file, const char *env_name,
                                 struct iha_token_source **out) IHA_MUST_CHECK;

/**
 * A token provider: the functions a non-static source implements. All of them may be
 * called from any thread at the same time; the provider does its own locking.
 */
struct iha_token_provider {
    /**
     * Writes the current token (NUL-terminated) into @p out. May block while a token is
     * fetched, but never on the HTTP thread (only delivery calls it).
     * @return IHA_OK; IHA_E_LIMIT when @p size is too small; any other code when no token
     *         is available (the provider logs why).
     */
    enum iha_rc (*token)(void *cls, char *out, size_t size);
    /** The token was refused (HTTP 401): drop it so that the next token() gets a new one. */
    void (*invalidate)(void *cls);
    /** A description for logs, never containing a secret. */
    void (*describe)(void *cls, char *out, size_t size);
    /** Releases @p cls (called by iha_token_source_free()). May be NULL. */
    void (*free)(void *cls);
};

/**
 * A source backed by @p ops. @p cls is taken over: iha_token_source_free() calls
 * @c ops->free(cls), also when this function fails.
 * @param ops static table (borrowed for the life of the source)
 * @return IHA_OK; IHA_E_NOMEM; IHA_E_INVAL when @p ops lacks token().
 */
enum iha_rc iha_token_source_new_provider_steal(const struct iha_token_provider *ops, void *cls,
                                                struct iha_token_source **out) IHA_MUST_CHECK;

/**
 * Instance HA refused the token (401): a provider fetches a new one on the next
 * iha_token_source_header(); a token file is re-read even if it looks unchanged.
 * Thread-safe. NULL-safe.
 */
void iha_token_source_invalidate(struct iha_token_source *ts);

/** Frees @p ts and wipes the token. NULL-safe. */
void iha_token_source_free(struct iha_token_source *ts);

/**
 * Builds the HTTP header carrying the token into @p out, e.g. "X-Auth-Token: T" or
 * "Authorization: Bearer T". The file is re-read when its mtime or size changed.
 * @param header_name "X-Auth-Token" or "Authorization" (then "Bearer " is prepended)
 * @return IHA_OK; IHA_E_NOTFOUND when no token is configured (nothing written);
 *         IHA_E_IO when the file cannot be read (the last good token is used if any, and
 *         IHA_OK returned); IHA_E_LIMIT when @p size is too small; for a provider, its
 *         code when it has no token (e.g. IHA_E_AUTH). Thread-safe; a provider may block.
 */
enum iha_rc iha_token_source_header(struct iha_token_source *ts, const char *header_name, char *out,
                                    size_t size) IHA_MUST_CHECK;

/** @return a description for logs and status, e.g. "file /etc/x" or "env IHA_SERVICE_TOKEN (set)".
 */
void iha_token_source_describe(const struct iha_token_source *ts, char *out, size_t size);

#endif
