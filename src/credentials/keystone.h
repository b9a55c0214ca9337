/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file keystone.h
 * @brief Keystone v3 service tokens: password or application-credential auth, a cached
 *        token renewed ahead of expiry by a background thread, one shared re-auth after a
 *        401, and the Instance HA endpoint from the token's service catalog.
 *
 * Threads: a renewal thread (started by iha_keystone_start()) fetches the first token at
 * once and each next one when a quarter of the lifetime or 5 minutes remain, whichever is
 * shorter, minus up to a fifth of that as jitter (iha_keystone_schedule()). Callers of
 * iha_keystone_token() (the delivery thread) get the cached token without waiting; only
 * when there is none that is usable (first start, after a 401, Keystone down past the
 * expiry) do they wait for the one authentication in flight, or run it themselves. A
 * Keystone that is down while the cached token is usable changes nothing for callers.
 * Failures are retried with backoff; each change of state (token ok, credentials refused,
 * Keystone unreachable, other errors) is logged once, never with a secret.
 */
#ifndef IHA_KEYSTONE_H
#define IHA_KEYSTONE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rc.h"
#include "token_source.h"
#include "tls.h"

struct iha_keystone;

enum iha_keystone_method {
    IHA_KEYSTONE_PASSWORD,               /**< user + password, scoped to a project */
    IHA_KEYSTONE_APPLICATION_CREDENTIAL, /**< id (or name + user) + secret */
};

/**
 * Called after each authentication (the first one, every renewal, and the re-authentication
 * after a 401) with its result: IHA_OK, or IHA_E_AUTH (credentials refused), IHA_E_IO
 * (Keystone unreachable), IHA_E_UPSTREAM (any other answer). Runs on the thread that
 * authenticated (the renewal thread or a caller of iha_keystone_token()), without the
 * client's lock held; it must not block and must not call back into the client.
 */
typedef void (*iha_keystone_auth_cb)(void *cls, enum iha_rc rc);

/** Parameters, all borrowed: iha_keystone_new() copies what it keeps. */
struct iha_keystone_config {
    enum iha_keystone_method method;
    const char *auth_url; /**< e.g. "https://keystone:5000" or ".../v3" */
    const char *username; /**< or user_id; with user_domain_name or user_domain_id */
    const char *user_id;
    const char *user_domain_name;
    const char *user_domain_id;
    const char *password;      /**< secret; or password_file */
    const char *password_file; /**< read at every authentication (rotation needs no restart) */
    const char *project_name;  /**< or project_id (password method only) */
    const char *project_id;
    const char *project_domain_name;
    const char *project_domain_id;
    const char *application_credential_id; /**< or _name together with the user */
    const char *application_credential_name;
    const char *application_credential_secret;      /**< secret; or the _file */
    const char *application_credential_secret_file; /**< read at every authentication */
    const char *region_name;                        /**< catalog region; NULL = any */
    const char *interface;                          /**< catalog interface; NULL = "public" */
    const struct iha_tls_config *tls;               /**< for Keystone; NULL = defaults */
    unsigned connect_timeout_ms;                    /**< 0 = 3 s */
    unsigned timeout_ms;                            /**< 0 = 10 s */
    const char *origin; /**< where the settings came from, for logs (e.g. "cloud x in FILE") */
    iha_keystone_auth_cb on_auth; /**< may be NULL; e.g. counts renewals in the metrics */
    void *on_auth_cls;            /**< for @c on_auth; must outlive the client */
};

/**
 * Checks and copies @p cfg. No network, no thread yet.
 * @param[out] err what is missing (names keys, never values)
 * @return IHA_OK; IHA_E_CONFIG; IHA_E_NOMEM.
 */
enum iha_rc iha_keystone_new(const struct iha_keystone_config *cfg, struct iha_keystone **out,
                             struct iha_err *err) IHA_MUST_CHECK;

/**
 * Starts the renewal thread, which authenticates at once. curl_global_init() must have run.
 * @return IHA_OK; IHA_E_IO when the thread cannot start.
 */
enum iha_rc iha_keystone_start(struct iha_keystone *ks) IHA_MUST_CHECK;

/**
 * Waits up to @p timeout_ms for a usable token (e.g. before endpoint discovery).
 * @return IHA_OK; else the last authentication's code (IHA_E_AUTH: credentials refused,
 *         IHA_E_IO: Keystone unreachable, IHA_E_UPSTREAM: other Keystone answer), with a
 *         description (no secret) in @p detail when not NULL.
 */
enum iha_rc iha_keystone_wait(struct iha_keystone *ks, unsigned timeout_ms, char *detail,
                              size_t detail_size) IHA_MUST_CHECK;

/**
 * Copies the current token (NUL-terminated) into @p out, authenticating first when no
 * usable token is cached (one authentication at a time; others wait for its result).
 * Right after a failed authentication it answers the failure without retrying for the
 * backoff period, so a burst of deliveries does not hammer Keystone. Any thread but the
 * HTTP one.
 * @return IHA_OK; IHA_E_LIMIT (@p size too small); IHA_E_AUTH; IHA_E_IO; IHA_E_UPSTREAM.
 */
enum iha_rc iha_keystone_token(struct iha_keystone *ks, char *out, size_t size) IHA_MUST_CHECK;

/**
 * Instance HA answered 401: the cached token is dropped (unless it was obtained within
 * the last 2 s, i.e. after the refused request was sent) so the next
 * iha_keystone_token() authenticates again. Thread-safe.
 */
void iha_keystone_invalidate(struct iha_keystone *ks);

/**
 * The base URL of @p service_type (e.g. "instance-ha") from the last token's catalog,
 * for the configured interface and region, with a trailing "/v1" or "/v1/<project>"
 * removed (delivery appends "/v1/notifications").
 * @return IHA_OK; IHA_E_NOTFOUND (no token yet, or no such endpoint: @p err says which
 *         services and interfaces exist); IHA_E_LIMIT; IHA_E_NOMEM.
 */
enum iha_rc iha_keystone_endpoint(struct iha_keystone *ks, const char *service_type, char *out,
                                  size_t size, struct iha_err *err) IHA_MUST_CHECK;

/** A description for logs: method, user or credential id, auth URL, token state. */
void iha_keystone_describe(struct iha_keystone *ks, char *out, size_t size);

/** Stops the renewal thread (waiting for an authentication in flight), wipes, frees. */
void iha_keystone_free(struct iha_keystone *ks);

/**
 * Wraps @p ks into a token source for delivery (iha_token_source_header() and
 * iha_token_source_invalidate()). @p ks is taken over, also on failure; it stays usable
 * through the borrowed pointer until iha_token_source_free().
 * @return IHA_OK; IHA_E_NOMEM.
 */
enum iha_rc iha_keystone_token_source_steal(struct iha_keystone *ks,
                                            struct iha_token_source **out) IHA_MUST_CHECK;

/* ---- pure helpers (exposed for unit tests) ---------------------------------------- */

/** When to renew a token and until when to use it, relative to when it was received. */
struct iha_keystone_plan {
    uint64_t renew_after_ms; /**< start renewing this long after receipt */
    uint64_t usable_for_ms;  /**< hand it out this long after receipt (a safety margin less
                                  than the lifetime, for clock skew and request time) */
};

/**
 * The renewal schedule for a token of @p lifetime_ms (expires_at - issued_at, both from
 * Keystone, so local clock skew does not matter). margin = min(lifetime / 4, 5 min);
 * renew at lifetime - margin - (@p rnd mod (margin / 5 + 1)); usable until lifetime -
 * min(lifetime / 10, 60 s).
 */
struct iha_keystone_plan iha_keystone_schedule(uint64_t lifetime_ms, uint64_t rnd);

/**
 * Parses Keystone's "2026-11-26T14:45:35.000000Z" (fraction optional; "Z", "+00:00" or
 * nothing for UTC) into milliseconds since the epoch.
 * @return IHA_OK or IHA_E_PARSE.
 */
enum iha_rc iha_keystone_parse_time(const char *s, int64_t *unix_ms) IHA_MUST_CHECK;

/** "X" -> "X/v3/auth/tokens", "X/v3" or "X/v3/" -> "X/v3/auth/tokens". IHA_E_LIMIT if long. */
enum iha_rc iha_keystone_tokens_url(const char *auth_url, char *out, size_t size) IHA_MUST_CHECK;

/**
 * Finds the endpoint URL of @p type for @p interface (NULL = "public") and @p region (NULL
 * = any) in a v3 catalog array.
 * @return IHA_OK; IHA_E_NOTFOUND; IHA_E_LIMIT (@p size too small); IHA_E_INVAL (the URL
 *         carries credentials, which would be shown and logged: not copied).
 */
enum iha_rc iha_keystone_catalog_url(const json_t *catalog, const char *type, const char *interface,
                                     const char *region, char *out, size_t size) IHA_MUST_CHECK;

/** Removes a trailing "/", "/v1" or "/v1/<one segment>" from @p url (in place). */
void iha_keystone_base_url(char *url);

/**
 * The POST /v3/auth/tokens body for @p cfg with @p secret (the password or credential
 * secret). @return a new reference or NULL (out of memory, or neither user nor credential).
 */
json_t *iha_keystone_request_body(const struct iha_keystone_config *cfg, const char *secret);

#endif
