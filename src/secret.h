/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file secret.h
 * @brief The service token for Instance HA, from a file (re-read when it changes)
 *        or from the environment.
 *
 * The token is kept in this opaque type and only handed out to the code that
 * builds the outbound header; logs, metrics and status have no way to print it.
 */
#ifndef IHA_SECRET_H
#define IHA_SECRET_H

#include <stddef.h>

#include "rc.h"

struct iha_token_source;

/**
 * @param file path of a file holding the token (surrounding whitespace trimmed),
 *        or NULL to use the environment variable @p env_name.
 * @return IHA_OK; IHA_E_NOMEM.
 */
enum iha_rc iha_token_source_new(const char *file, const char *env_name,
                                 struct iha_token_source **out) IHA_MUST_CHECK;

/** Frees @p ts and wipes the token. NULL-safe. */
void iha_token_source_free(struct iha_token_source *ts);

/**
 * Builds the HTTP header carrying the token into @p out, e.g. "X-Auth-Token: T" or
 * "Authorization: Bearer T". The file is re-read when its mtime or size changed.
 * @param header_name "X-Auth-Token" or "Authorization" (then "Bearer " is prepended)
 * @return IHA_OK; IHA_E_NOTFOUND when no token is configured (nothing written);
 *         IHA_E_IO when the file cannot be read (the last good token is used if any, and
 *         IHA_OK returned); IHA_E_LIMIT when @p size is too small. Thread-safe.
 */
enum iha_rc iha_token_source_header(struct iha_token_source *ts, const char *header_name, char *out,
                                    size_t size) IHA_MUST_CHECK;

/** @return a description for logs and status, e.g. "file /etc/x" or "env IHA_SERVICE_TOKEN (set)".
 */
void iha_token_source_describe(const struct iha_token_source *ts, char *out, size_t size);

/** Overwrites @p len bytes at @p p with zeros in a way the compiler keeps. */
void iha_secret_wipe(void *p, size_t len);

#endif
