/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file keystone_int.h
 * @brief Private to src/credentials: the Keystone client's state and the functions its
 *        files share. Never included from outside the folder.
 *
 * Threads and locks: iha_keystone.lock guards the cached token, the catalog and the
 * state of the last authentication; it is released around the HTTP exchange, which only
 * the one caller that set iha_keystone.busy runs (the renewal thread or a caller of
 * iha_keystone_token()). No other lock is taken while it is held.
 */
#ifndef IHA_KEYSTONE_INT_H
#define IHA_KEYSTONE_INT_H

#include <curl/curl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "keystone.h"

/* What the last authentication said; a change is logged once. */
enum ks_state {
    KS_NONE,        /* nothing tried yet */
    KS_OK,          /* token obtained */
    KS_DENIED,      /* 401: wrong password / secret, unknown user, expired credential */
    KS_UNREACHABLE, /* no answer */
    KS_ERROR,       /* any other answer, or an answer we cannot use */
};

/* One authentication's result, built without the lock. */
struct result {
    enum ks_state state;
    enum iha_rc rc;
    char *token;
    size_t token_len;
    uint64_t lifetime_ms;
    char expires_at[40];
    json_t *catalog;
    bool has_admin;
    char detail[300];
};

struct iha_keystone {
    /* Immutable after iha_keystone_new(). */
    enum iha_keystone_method method;
    char *tokens_url, *auth_url;
    char *username, *user_id, *user_domain_name, *user_domain_id;
    char *password, *password_file;
    char *project_name, *project_id, *project_domain_name, *project_domain_id;
    char *app_id, *app_name, *app_secret, *app_secret_file;
    char *region_name, *interface, *origin;
    struct iha_tls_config tls;
    long connect_ms, timeout_ms;
    iha_keystone_auth_cb on_auth;
    void *on_auth_cls;

    pthread_mutex_t lock;
    pthread_cond_t cond; /* CLOCK_MONOTONIC; broadcast after each authentication and on stop */
    /* Guarded by lock. */
    char *token;
    size_t token_len;
    uint64_t got_ms, usable_until_ms, renew_at_ms;
    char expires_at[40];
    json_t *catalog;
    bool invalid, busy, stop;
    unsigned failures;
    uint64_t next_try_ms;
    enum ks_state state;
    enum iha_rc last_rc;
    char last_detail[300];
    bool admin_warned;
    uint64_t rng;

    /* Used only by whoever set busy. */
    CURL *easy;

    pthread_t thread;
    bool thread_started;
};

/* ---- keystone.c ---- */

/** Wipes and frees the secret string @p s. NULL-safe. */
void iha_keystone_free_secret(char *s);

/** Drops the cached token (wiped). Under the lock, or once no other thread can run. */
void iha_keystone_drop_token(struct iha_keystone *ks);

/* ---- keystone_request.c: what is sent ---- */

/**
 * The JSON text of the next POST /v3/auth/tokens, with the password or secret read now
 * (from the file when one is configured, so rotation needs no restart).
 * @return a new string the caller wipes and frees, or NULL with @p res's state, rc and
 *         detail set (@p res is zeroed and set to KS_ERROR, IHA_E_UPSTREAM beforehand).
 */
char *iha_keystone_request_text(const struct iha_keystone *ks, struct result *res);

/* ---- keystone_auth.c: the HTTP exchange ---- */

/** POST /v3/auth/tokens. Runs without the lock, by the one caller that set busy. */
void iha_keystone_authenticate(struct iha_keystone *ks, struct result *res);

/* ---- keystone_catalog.c ---- */

/** @return true when @p v is a JSON string equal to @p s. */
bool iha_keystone_str_is(const json_t *v, const char *s);

#endif
