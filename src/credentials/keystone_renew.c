/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file keystone_renew.c
 * @brief When to authenticate: the renewal schedule and backoff, the renewal thread,
 *        storing each result in the cache, and callers that wait for a usable token.
 *
 * Separate because this is the client's concurrency: every wait on the condition
 * variable and every hand-over of the one authentication in flight is here, next to the
 * state it guards.
 */
#include "keystone_int.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "log.h"

#define FRESH_MS 2000u              /* a token this young was not the one a 401 refused */
#define RETRY_CAP_MS 60000u         /* Keystone unreachable or failing */
#define RETRY_CAP_DENIED_MS 300000u /* wrong credentials: slow, lockout policies count tries */

struct iha_keystone_plan iha_keystone_schedule(uint64_t lifetime_ms, uint64_t rnd)
{
    struct iha_keystone_plan p;
    uint64_t margin = lifetime_ms / 4, jitter, safety = lifetime_ms / 10;

    if (margin > 300000u)
        margin = 300000u;
    jitter = rnd % (margin / 5 + 1);
    p.renew_after_ms = lifetime_ms - margin - jitter;
    if (safety > 60000u)
        safety = 60000u;
    p.usable_for_ms = lifetime_ms - safety;
    return p;
}

static const char *state_name(enum ks_state s)
{
    switch (s) {
    case KS_OK:
        return "ok";
    case KS_DENIED:
        return "credentials_refused";
    case KS_UNREACHABLE:
        return "unreachable";
    case KS_ERROR:
        return "error";
    case KS_NONE:
    default:
        return "none";
    }
}

/* Stores @p res (taking its token and catalog) and logs a change of state. Under the lock. */
static void commit(struct iha_keystone *ks, struct result *res)
{
    uint64_t now = iha_clock_ms();
    enum ks_state prev = ks->state;

    ks->state = res->state;
    ks->last_rc = res->rc;
    if (res->rc == IHA_OK) {
        struct iha_keystone_plan p =
            iha_keystone_schedule(res->lifetime_ms, iha_jitter_next(&ks->rng));
        iha_keystone_drop_token(ks);
        ks->token = res->token;
        ks->token_len = res->token_len;
        res->token = NULL;
        json_decref(ks->catalog);
        ks->catalog = res->catalog;
        res->catalog = NULL;
        ks->got_ms = now;
        ks->usable_until_ms = now + p.usable_for_ms;
        ks->renew_at_ms = now + p.renew_after_ms;
        ks->invalid = false;
        ks->failures = 0;
        snprintf(ks->expires_at, sizeof(ks->expires_at), "%s", res->expires_at);
        snprintf(ks->last_detail, sizeof(ks->last_detail), "token valid until %s", res->expires_at);
        if (prev != KS_OK)
            IHA_LOG(IHA_LOG_INFO, "keystone: service token obtained", "auth_url", ks->auth_url,
                    "expires_at", res->expires_at, "previous_state", state_name(prev));
        else
            IHA_LOG(IHA_LOG_DEBUG, "keystone: service token renewed", "expires_at",
                    res->expires_at);
        if (!res->has_admin && !ks->admin_warned)
            IHA_LOG(IHA_LOG_WARN,
                    "keystone: the service token has no 'admin' role; Instance HA's policy "
                    "os_masakari_api:notifications:create allows only admin, so notifications "
                    "will be refused with 403",
                    "auth_url", ks->auth_url);
        ks->admin_warned = !res->has_admin;
        return;
    }
    ks->failures++;
    ks->next_try_ms =
        now + iha_backoff_ms(ks->failures,
                             res->state == KS_DENIED ? RETRY_CAP_DENIED_MS : RETRY_CAP_MS,
                             iha_jitter_next(&ks->rng));
    snprintf(ks->last_detail, sizeof(ks->last_detail), "%s", res->detail);
    if (res->state != prev) {
        bool usable = ks->token && !ks->invalid && now < ks->usable_until_ms;
        IHA_LOG(IHA_LOG_ERROR, "keystone: cannot get a service token", "state",
                state_name(res->state), "detail", res->detail, "auth_url", ks->auth_url,
                "cached_token", usable ? "still valid, delivery continues" : "none",
                "cached_token_expires_at", usable ? ks->expires_at : NULL);
    }
}

static void result_clear(struct result *res)
{
    iha_keystone_free_secret(res->token);
    json_decref(res->catalog);
    res->token = NULL;
    res->catalog = NULL;
}

/* Authenticates with the lock released around the request. Called with the lock, busy unset. */
static void run_auth_locked(struct iha_keystone *ks)
{
    struct result res;

    ks->busy = true;
    pthread_mutex_unlock(&ks->lock);
    iha_keystone_authenticate(ks, &res);
    if (ks->on_auth)
        ks->on_auth(ks->on_auth_cls, res.rc);
    pthread_mutex_lock(&ks->lock);
    commit(ks, &res);
    ks->busy = false;
    pthread_cond_broadcast(&ks->cond);
    result_clear(&res);
}

static bool usable(const struct iha_keystone *ks, uint64_t now)
{
    return ks->token && !ks->invalid && now < ks->usable_until_ms;
}

static void *renew_main(void *arg)
{
    struct iha_keystone *ks = arg;
    struct timespec ts;

    pthread_mutex_lock(&ks->lock);
    while (!ks->stop) {
        uint64_t now = iha_clock_ms(), due;

        if (ks->failures)
            due = ks->next_try_ms;
        else if (ks->token && !ks->invalid)
            due = ks->renew_at_ms;
        else
            due = now;
        if (ks->invalid && ks->failures == 0)
            due = now;
        if (ks->busy || now < due) {
            uint64_t wake = ks->busy ? now + 1000u : due;
            if (wake > now + 60000u)
                wake = now + 60000u;
            ts = iha_clock_mono_at(wake);
            pthread_cond_timedwait(&ks->cond, &ks->lock, &ts);
            continue;
        }
        run_auth_locked(ks);
    }
    pthread_mutex_unlock(&ks->lock);
    return NULL;
}

enum iha_rc iha_keystone_start(struct iha_keystone *ks)
{
    if (ks->thread_started)
        return IHA_OK;
    if (pthread_create(&ks->thread, NULL, renew_main, ks) != 0)
        return IHA_E_IO;
    ks->thread_started = true;
    return IHA_OK;
}

enum iha_rc iha_keystone_wait(struct iha_keystone *ks, unsigned timeout_ms, char *detail,
                              size_t detail_size)
{
    uint64_t deadline = iha_clock_ms() + timeout_ms;
    struct timespec ts;
    enum iha_rc rc;

    pthread_mutex_lock(&ks->lock);
    while (!usable(ks, iha_clock_ms()) && iha_clock_ms() < deadline && !ks->stop) {
        ts = iha_clock_mono_at(deadline);
        pthread_cond_timedwait(&ks->cond, &ks->lock, &ts);
    }
    rc = usable(ks, iha_clock_ms()) ? IHA_OK : ks->last_rc;
    if (detail && detail_size)
        snprintf(detail, detail_size, "%s", ks->last_detail);
    pthread_mutex_unlock(&ks->lock);
    return rc;
}

enum iha_rc iha_keystone_token(struct iha_keystone *ks, char *out, size_t size)
{
    enum iha_rc rc = IHA_E_UPSTREAM;
    uint64_t limit = iha_clock_ms() + (uint64_t)(ks->connect_ms + ks->timeout_ms) + 1000u;
    struct timespec ts;
    bool tried = false;

    pthread_mutex_lock(&ks->lock);
    for (;;) {
        uint64_t now = iha_clock_ms();
        if (usable(ks, now)) {
            if (ks->token_len + 1 > size) {
                rc = IHA_E_LIMIT;
            } else {
                memcpy(out, ks->token, ks->token_len + 1);
                rc = IHA_OK;
            }
            break;
        }
        if (ks->busy) {
            if (now >= limit) {
                rc = IHA_E_UPSTREAM;
                break;
            }
            ts = iha_clock_mono_at(limit);
            pthread_cond_timedwait(&ks->cond, &ks->lock, &ts);
            continue;
        }
        /* Just failed (by us or the renewal thread): answer that, do not hammer Keystone. */
        if (tried || (ks->failures && now < ks->next_try_ms)) {
            rc = ks->last_rc != IHA_OK ? ks->last_rc : IHA_E_UPSTREAM;
            break;
        }
        tried = true;
        run_auth_locked(ks);
    }
    pthread_mutex_unlock(&ks->lock);
    return rc;
}

void iha_keystone_invalidate(struct iha_keystone *ks)
{
    pthread_mutex_lock(&ks->lock);
    if (ks->token && !ks->invalid && iha_clock_ms() - ks->got_ms >= FRESH_MS) {
        ks->invalid = true;
        ks->failures = 0; /* a 401 is new information: try Keystone at once */
        IHA_LOG(IHA_LOG_WARN, "keystone: Instance HA refused the service token (401); "
                              "authenticating again");
        pthread_cond_broadcast(&ks->cond);
    }
    pthread_mutex_unlock(&ks->lock);
}
