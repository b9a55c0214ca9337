/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file segments.c
 * @brief The segment client: its refresh thread (schedule, backoff, the swap of
 *        snapshots, the log lines), lookups and the status object.
 *
 * Thread and lock map: the refresh thread runs refresh_main() and, with @c lock released,
 * the page getter; callers of lookup, status, refresh and wait take @c lock only. The
 * lock is never held across the network, a log write or the freeing of a snapshot, so a
 * lookup waits at most for another lookup or a pointer swap.
 */
#include "segments.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "clock.h"
#include "log.h"
#include "segments_int.h"
#include "url.h"

#define DEFAULT_CONNECT_MS 3000u
#define DEFAULT_TIMEOUT_MS 10000u
#define DEFAULT_REFRESH_MS 60000u
#define RETRY_CAP_MS 60000u

/* A duration for log lines: "1.2s", "42s", "3m", "1h". */
static void duration(uint64_t ms, char *out, size_t size)
{
    uint64_t sec = ms / 1000u;

    if (sec >= 3600u)
        snprintf(out, size, "%lluh", (unsigned long long)(sec / 3600u));
    else if (sec >= 60u)
        snprintf(out, size, "%llum", (unsigned long long)(sec / 60u));
    else if (sec >= 10u)
        snprintf(out, size, "%llus", (unsigned long long)sec);
    else
        snprintf(out, size, "%llu.%llus", (unsigned long long)sec,
                 (unsigned long long)(ms % 1000u / 100u));
}

/* What one finished refresh means for the log, decided under the lock and written after. */
struct note {
    enum iha_log_level level;
    bool failed, first, recovered;
    unsigned failures;
    size_t segments, hosts;
    char snapshot[96];
    char retry_in[16];
};

/* Installs @p snap. Under the lock; the replaced snapshot goes to *@p old for freeing. */
static void record_success(struct iha_segments *s, struct iha_segments_snap *snap,
                           struct iha_segments_snap **old, struct note *n)
{
    uint64_t now = iha_clock_ms();

    n->first = !s->snap;
    n->recovered = s->failures > 0;
    n->failures = s->failures;
    n->level = n->first || n->recovered ? IHA_LOG_INFO : IHA_LOG_DEBUG;
    n->segments = snap->nsegs;
    n->hosts = snap->nhosts;
    snap->taken_ms = now;
    *old = s->snap;
    s->snap = snap;
    s->last_rc = IHA_OK;
    s->failures = 0;
    s->last_ok_ms = now;
    s->last_ok_wall_ms = iha_clock_wall_ms();
    s->next_ms = now + s->refresh_ms;
}

/* Keeps the snapshot in force and schedules the retry. Under the lock. */
static void record_failure(struct iha_segments *s, enum iha_rc rc, const struct iha_err *err,
                           struct note *n)
{
    uint64_t now = iha_clock_ms(),
             cap = s->refresh_ms < RETRY_CAP_MS ? s->refresh_ms : RETRY_CAP_MS;
    uint64_t delay;
    bool changed = rc != s->last_rc; /* the kind, not the text: curl's text has timings */
    char age[16];

    s->failures++;
    s->last_rc = rc;
    snprintf(s->last_error, sizeof(s->last_error), "%s", err->msg[0] ? err->msg : iha_rc_str(rc));
    for (char *p = s->last_error; *p; p++)
        if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7F)
            *p = '?'; /* the status page is JSON: keep it valid UTF-8 */
    s->last_error_wall_ms = iha_clock_wall_ms();
    delay = iha_backoff_ms(s->failures, cap, iha_jitter_next(&s->rng));
    s->next_ms = now + delay;
    n->failed = true;
    n->failures = s->failures;
    n->level = s->failures == 1 || changed ? IHA_LOG_WARN : IHA_LOG_DEBUG;
    duration(delay, n->retry_in, sizeof(n->retry_in));
    if (s->snap) {
        duration(now - s->snap->taken_ms, age, sizeof(age));
        snprintf(n->snapshot, sizeof(n->snapshot), "%zu segments, %zu hosts, %s old",
                 s->snap->nsegs, s->snap->nhosts, age);
    } else {
        snprintf(n->snapshot, sizeof(n->snapshot), "none: lookups answer that no segment is known");
    }
}

static void write_note(const struct iha_segments *s, const struct note *n, enum iha_rc rc,
                       const struct iha_err *err)
{
    char segs[24], hosts[24], fails[24];

    snprintf(segs, sizeof(segs), "%zu", n->segments);
    snprintf(hosts, sizeof(hosts), "%zu", n->hosts);
    snprintf(fails, sizeof(fails), "%u", n->failures);
    if (n->failed)
        IHA_LOG(n->level,
                "segments: cannot refresh the failover segments from Instance HA; the last "
                "snapshot stays in force",
                "url", s->base_url, "error", err->msg[0] ? err->msg : iha_rc_str(rc), "code",
                iha_rc_str(rc), "snapshot", n->snapshot, "failures", fails, "retry_in",
                n->retry_in);
    else
        IHA_LOG(n->level,
                n->first       ? "segments: failover segments loaded from Instance HA"
                : n->recovered ? "segments: failover segments refreshed again"
                               : "segments: failover segments refreshed",
                "url", s->base_url, "segments", segs, "hosts", hosts, "failures_before",
                n->recovered ? fails : NULL);
}

/* Ends one refresh: swap or keep, wake the waiters, then free and log without the lock. */
static void finish(struct iha_segments *s, enum iha_rc rc, struct iha_segments_snap *snap,
                   const struct iha_err *err)
{
    struct iha_segments_snap *old = NULL;
    struct note n;
    bool stopping = atomic_load(&s->stopping);

    memset(&n, 0, sizeof(n));
    pthread_mutex_lock(&s->lock);
    if (stopping)
        old = snap; /* abandoned: neither a snapshot nor a failure worth recording */
    else if (rc == IHA_OK)
        record_success(s, snap, &old, &n);
    else
        record_failure(s, rc, err, &n);
    s->done++;
    pthread_cond_broadcast(&s->cond);
    pthread_mutex_unlock(&s->lock);
    iha_segments_snap_free(old);
    if (!stopping)
        write_note(s, &n, rc, err);
}

static void *refresh_main(void *arg)
{
    struct iha_segments *s = arg;
    struct iha_segments_snap *snap;
    struct iha_err err;
    struct timespec ts;
    enum iha_rc rc;

    pthread_mutex_lock(&s->lock);
    while (!s->stop) {
        if (!s->wake && iha_clock_ms() < s->next_ms) {
            ts = iha_clock_mono_at(s->next_ms);
            pthread_cond_timedwait(&s->cond, &s->lock, &ts);
            continue;
        }
        s->wake = false;
        s->started++;
        pthread_mutex_unlock(&s->lock);
        snap = NULL;
        iha_err_clear(&err);
        rc = iha_segments_collect(s->get, s->get_cls, s->page_limit, &snap, &err);
        finish(s, rc, snap, &err);
        pthread_mutex_lock(&s->lock);
    }
    pthread_mutex_unlock(&s->lock);
    return NULL;
}

/* Copies the configuration into @p s. @return IHA_OK or IHA_E_NOMEM. */
static enum iha_rc configure(struct iha_segments *s, const struct iha_segments_config *cfg)
{
    size_t len = strlen(cfg->url);
    uint64_t seed = 0;

    while (len > 0 && cfg->url[len - 1] == '/')
        len--;
    s->base_url = strndup(cfg->url, len);
    if (!s->base_url)
        return IHA_E_NOMEM;
    s->auth_header = cfg->dialect == IHA_DIALECT_XLOUD ? "Authorization" : "X-Auth-Token";
    s->token = cfg->token;
    s->tls = cfg->tls;
    s->connect_ms = (long)(cfg->connect_timeout_ms ? cfg->connect_timeout_ms : DEFAULT_CONNECT_MS);
    s->timeout_ms = (long)(cfg->timeout_ms ? cfg->timeout_ms : DEFAULT_TIMEOUT_MS);
    s->refresh_ms = cfg->refresh_ms ? cfg->refresh_ms : DEFAULT_REFRESH_MS;
    s->page_limit = cfg->page_limit ? cfg->page_limit : SEG_PAGE_DEFAULT;
    if (getrandom(&seed, sizeof(seed), GRND_NONBLOCK) != (ssize_t)sizeof(seed) || seed == 0)
        seed = iha_clock_ms() ^ (uint64_t)(uintptr_t)s ^ 0x9E3779B97F4A7C15ULL;
    s->rng = seed;
    s->last_rc = IHA_E_UPSTREAM;
    return IHA_OK;
}

static enum iha_rc init_sync(struct iha_segments *s)
{
    pthread_condattr_t ca;
    int bad;

    if (pthread_mutex_init(&s->lock, NULL) != 0)
        return IHA_E_NOMEM;
    if (pthread_condattr_init(&ca) != 0) {
        pthread_mutex_destroy(&s->lock);
        return IHA_E_NOMEM;
    }
    bad = pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) != 0 ||
          pthread_cond_init(&s->cond, &ca) != 0;
    pthread_condattr_destroy(&ca);
    if (bad) {
        pthread_mutex_destroy(&s->lock);
        return IHA_E_NOMEM;
    }
    return IHA_OK;
}

enum iha_rc iha_segments_new_with(const struct iha_segments_config *cfg, iha_segments_get_fn get,
                                  void *cls, struct iha_segments **out, struct iha_err *err)
{
    struct iha_segments *s;
    enum iha_rc rc;

    *out = NULL;
    if (!cfg || !cfg->url || !cfg->url[0]) {
        iha_err_set(err, "url", "the Instance HA URL is missing");
        return IHA_E_CONFIG;
    }
    if (iha_url_has_userinfo(cfg->url)) {
        iha_err_set(err, "url", "%s", IHA_URL_CREDENTIALS_HINT);
        return IHA_E_CONFIG;
    }
    s = calloc(1, sizeof(*s));
    if (!s)
        return IHA_E_NOMEM;
    atomic_init(&s->stopping, false);
    if (init_sync(s) != IHA_OK) {
        free(s);
        return IHA_E_NOMEM;
    }
    rc = configure(s, cfg);
    if (rc == IHA_OK && !get) {
        rc = iha_segments_http_init(s);
        get = iha_segments_http_get;
        cls = s;
    }
    s->get = get;
    s->get_cls = cls;
    if (rc == IHA_OK && pthread_create(&s->thread, NULL, refresh_main, s) != 0)
        rc = IHA_E_IO;
    if (rc != IHA_OK) {
        iha_err_set(err, NULL, "cannot start the segment client: %s", iha_rc_str(rc));
        iha_segments_free(s);
        return rc;
    }
    s->thread_started = true;
    *out = s;
    return IHA_OK;
}

enum iha_rc iha_segments_new(const struct iha_segments_config *cfg, struct iha_segments **out,
                             struct iha_err *err)
{
    return iha_segments_new_with(cfg, NULL, NULL, out, err);
}

void iha_segments_free(struct iha_segments *s)
{
    if (!s)
        return;
    if (s->thread_started) {
        pthread_mutex_lock(&s->lock);
        s->stop = true;
        pthread_cond_broadcast(&s->cond);
        pthread_mutex_unlock(&s->lock);
        atomic_store(&s->stopping, true);
        if (s->multi)
            curl_multi_wakeup(s->multi);
        pthread_join(s->thread, NULL);
    }
    iha_segments_http_free(s);
    iha_segments_snap_free(s->snap);
    free(s->base_url);
    pthread_cond_destroy(&s->cond);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

enum iha_rc iha_segments_lookup(struct iha_segments *s, const char *hostname,
                                struct iha_segment_info *out)
{
    const struct host_entry *h;
    const struct seg_entry *e;
    enum iha_rc rc = IHA_E_NOTFOUND;

    if (!hostname || !hostname[0])
        return IHA_E_INVAL;
    pthread_mutex_lock(&s->lock);
    if (!s->snap) {
        rc = IHA_E_UPSTREAM;
    } else if ((h = iha_segments_snap_find(s->snap, hostname))) {
        e = &s->snap->segs[h->seg];
        snprintf(out->name, sizeof(out->name), "%s", e->name);
        snprintf(out->uuid, sizeof(out->uuid), "%s", e->uuid);
        out->hosts = e->hosts;
        out->age_ms = iha_clock_ms() - s->snap->taken_ms;
        rc = IHA_OK;
    }
    pthread_mutex_unlock(&s->lock);
    return rc;
}

void iha_segments_refresh_now(struct iha_segments *s)
{
    pthread_mutex_lock(&s->lock);
    s->wake = true;
    pthread_cond_broadcast(&s->cond);
    pthread_mutex_unlock(&s->lock);
}

enum iha_rc iha_segments_refresh_wait(struct iha_segments *s, unsigned timeout_ms)
{
    uint64_t deadline = iha_clock_ms() + timeout_ms;
    struct timespec ts = iha_clock_mono_at(deadline);
    unsigned long long target;
    enum iha_rc rc;

    pthread_mutex_lock(&s->lock);
    target = s->started + 1; /* one that begins after this call */
    s->wake = true;
    pthread_cond_broadcast(&s->cond);
    while (s->done < target && !s->stop && iha_clock_ms() < deadline)
        pthread_cond_timedwait(&s->cond, &s->lock, &ts);
    rc = s->done >= target ? s->last_rc : IHA_E_LIMIT;
    pthread_mutex_unlock(&s->lock);
    return rc;
}

enum iha_rc iha_segments_wait_ready(struct iha_segments *s, unsigned timeout_ms)
{
    uint64_t deadline = iha_clock_ms() + timeout_ms;
    struct timespec ts = iha_clock_mono_at(deadline);
    enum iha_rc rc;

    pthread_mutex_lock(&s->lock);
    while (!s->snap && !s->stop && iha_clock_ms() < deadline)
        pthread_cond_timedwait(&s->cond, &s->lock, &ts);
    rc = s->snap ? IHA_OK : IHA_E_LIMIT;
    pthread_mutex_unlock(&s->lock);
    return rc;
}

/* An RFC 3339 string of the wall time @p ms, or JSON null for 0. */
static json_t *wall_time(int64_t ms)
{
    char t[IHA_TIME_LEN];

    if (ms <= 0)
        return json_null();
    iha_time_format((time_t)(ms / 1000), t);
    return json_string(t);
}

json_t *iha_segments_status(struct iha_segments *s)
{
    bool ready;
    size_t nsegs = 0, nhosts = 0;
    int64_t ok_wall, err_wall;
    uint64_t ok_ms, now = iha_clock_ms();
    unsigned failures;
    char last_error[sizeof(s->last_error)];

    pthread_mutex_lock(&s->lock);
    ready = s->snap != NULL;
    if (ready) {
        nsegs = s->snap->nsegs;
        nhosts = s->snap->nhosts;
    }
    ok_wall = s->last_ok_wall_ms;
    ok_ms = s->last_ok_ms;
    err_wall = s->last_error_wall_ms;
    failures = s->failures;
    memcpy(last_error, s->last_error, sizeof(last_error));
    pthread_mutex_unlock(&s->lock);

    return json_pack("{s:b,s:I,s:I,s:o,s:o,s:o,s:o,s:I,s:I}", "ready", ready, "segments",
                     (json_int_t)nsegs, "hosts", (json_int_t)nhosts, "last_success",
                     wall_time(ok_wall), "last_success_age_seconds",
                     ok_wall > 0 ? json_integer((json_int_t)((now - ok_ms) / 1000u)) : json_null(),
                     "last_error", last_error[0] ? json_string(last_error) : json_null(),
                     "last_error_at", wall_time(err_wall), "consecutive_failures",
                     (json_int_t)failures, "refresh_seconds", (json_int_t)(s->refresh_ms / 1000u));
}
