/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file pipeline_policy.c
 * @brief A stored evacuating notification through the safety policy (policy.h): parked
 *        until the policy releases it to delivery, holds it (recorded in the queue) or
 *        cancels it because its host is back; the policy's thread and clock.
 *
 * Separate from the flight: a parked notification is not in delivery yet and may never
 * be; this file owns it until it is handed over or ended. The policy itself only keeps
 * books; every decision is carried out here, on the policy thread, with no policy lock
 * held while the queue or delivery is called.
 *
 * Locks: policy_lock guards the policy, the parked list, the decisions not yet carried
 * out and the thread's flags. It is a leaf: nothing else is locked while it is held.
 */
#include "pipeline_int.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "events.h"
#include "log.h"
#include "metrics.h"
#include "policy.h"
#include "queue.h"

/* A stored evacuating notification the policy holds back. */
struct parked {
    uint64_t seq;
    char key[KEY_MAX];
    struct iha_notification n;
    long long received_ms; /* wall clock, for storage.max_age */
    bool key_held;
    enum iha_hold_reason held; /* as last recorded in the queue */
    struct parked *next;
};

/* A decision taken under policy_lock, carried out after it. */
struct decision {
    enum iha_policy_action action;
    enum iha_hold_reason reason;
    bool expired; /* storage.max_age ran out while it was held back */
    uint64_t seq;
    struct parked *x; /* taken out of the list (release, cancel, expiry); else NULL */
    char id[IHA_ID_LEN];
    char host[IHA_HOSTNAME_MAX + 1];
};

/* Under policy_lock. */
static struct parked *parked_find(struct iha_pipeline *p, uint64_t seq, bool unlink)
{
    for (struct parked **l = &p->parked; *l; l = &(*l)->next) {
        struct parked *x = *l;
        if (x->seq != seq)
            continue;
        if (unlink) {
            *l = x->next;
            x->next = NULL;
        }
        return x;
    }
    return NULL;
}

static void parked_free(struct iha_pipeline *p, struct parked *x)
{
    if (!x)
        return;
    iha_pipeline_key_end(p, &x->key_held, x->key, false);
    iha_notification_clear(&x->n);
    free(x);
}

/* Under policy_lock. Out of memory loses the decision only until the next tick retries it. */
static bool decision_add(struct iha_pipeline *p, const struct decision *d)
{
    if (p->n_decisions == p->cap_decisions) {
        size_t cap = p->cap_decisions ? p->cap_decisions * 2 : 32;
        struct decision *v = realloc(p->decisions, cap * sizeof(*v));
        if (!v)
            return false;
        p->decisions = v;
        p->cap_decisions = cap;
    }
    p->decisions[p->n_decisions++] = *d;
    return true;
}

/* The policy's callback, under policy_lock. */
static void on_decision(void *cls, uint64_t seq, enum iha_policy_action action,
                        enum iha_hold_reason reason)
{
    struct iha_pipeline *p = cls;
    struct decision d = {.action = action, .reason = reason, .seq = seq};
    struct parked *x = parked_find(p, seq, action != IHA_POLICY_HOLD);

    if (!x)
        return; /* dropped by the operator meanwhile */
    d.x = action == IHA_POLICY_HOLD ? NULL : x;
    snprintf(d.id, sizeof(d.id), "%s", x->n.id);
    snprintf(d.host, sizeof(d.host), "%s", x->n.hostname);
    if (action == IHA_POLICY_HOLD)
        x->held = reason;
    if (!decision_add(p, &d) && d.x) {
        /* Back in the list: it stays live in the queue and goes after a restart. */
        x->next = p->parked;
        p->parked = x;
    }
}

static const char *hold_words(enum iha_hold_reason r)
{
    switch (r) {
    case IHA_HOLD_STORM:
        return "held by storm guard";
    case IHA_HOLD_FLAPPING:
        return "held: host flapping";
    case IHA_HOLD_DEADMAN:
        return "held: monitoring heartbeat missing";
    case IHA_HOLD_NONE:
    case IHA_HOLD_COUNT:
        break;
    }
    return "waiting for the safety policy";
}

/* What became of a notification held back: iha_gateway_policy_decisions_total{decision}. */
enum decision_kind { DECIDED_HELD, DECIDED_RELEASED, DECIDED_FLAPPED, DECIDED_EXPIRED };

static const char *decision_name(enum decision_kind k)
{
    switch (k) {
    case DECIDED_HELD:
        return "held";
    case DECIDED_RELEASED:
        return "released";
    case DECIDED_FLAPPED:
        return "flapped";
    case DECIDED_EXPIRED:
        return "expired";
    }
    return "";
}

static void count_decision(struct iha_pipeline *p, enum decision_kind k)
{
    if (p->metrics)
        iha_metrics_add(p->metrics, "iha_gateway_policy_decisions_total", 1, decision_name(k));
}

static void carry_hold(struct iha_pipeline *p, const struct decision *d)
{
    char at[IHA_TIME_LEN], why[512];
    json_t *hold;
    enum iha_rc rc;

    iha_time_format(time(NULL), at);
    pthread_mutex_lock(&p->policy_lock);
    iha_policy_explain(p->policy, iha_clock_ms(), why, sizeof(why));
    pthread_mutex_unlock(&p->policy_lock);
    hold = json_pack("{s:s,s:s,s:s}", "reason", iha_hold_reason_name(d->reason), "at", at, "guard",
                     why);
    rc = hold ? iha_queue_hold(p->queue, d->seq, hold) : IHA_E_NOMEM;
    json_decref(hold);
    if (rc != IHA_OK && rc != IHA_E_NOTFOUND)
        IHA_LOG(IHA_LOG_ERROR, "queue: cannot record a hold; it is held until the next start", "id",
                d->id, "reason", iha_rc_str(rc));
    count_decision(p, DECIDED_HELD);
    iha_pipeline_event_set(p, d->id, IHA_RESULT_HELD, "reason", json_string(hold_words(d->reason)));
    IHA_LOG(IHA_LOG_WARN, "evacuation held", "id", d->id, "host", d->host, "reason",
            iha_hold_reason_name(d->reason));
}

static void carry_release(struct iha_pipeline *p, const struct decision *d)
{
    struct parked *x = d->x;

    if (x->held != IHA_HOLD_NONE)
        IHA_IGNORE(iha_queue_hold(p->queue, x->seq, NULL),
                   "not live: it ended meanwhile; lost to a crash: held again after a restart");
    count_decision(p, DECIDED_RELEASED);
    IHA_LOG(IHA_LOG_INFO, "evacuation released to delivery", "id", x->n.id, "host", x->n.hostname,
            "was", x->held ? iha_hold_reason_name(x->held) : "settling");
    iha_pipeline_start_delivery(p, x->seq, x->key, &x->n, x->received_ms, NULL, NULL, &x->key_held);
    parked_free(p, x);
}

/* Cancelled (its host is back) or expired (storage.max_age): ended in the queue. */
static void carry_end(struct iha_pipeline *p, const struct decision *d)
{
    struct parked *x = d->x;
    const char *reason =
        d->expired ? hold_words(x->held) : "its host was back before it was sent (flapped)";
    json_t *info = json_pack("{s:s}", "reason", reason);
    enum iha_qrec marker = d->expired ? IHA_QREC_DEAD : IHA_QREC_DROPPED;
    enum iha_rc rc = iha_queue_complete(p->queue, x->seq, marker, info);

    json_decref(info);
    if (rc != IHA_OK && rc != IHA_E_NOTFOUND)
        IHA_LOG(IHA_LOG_ERROR, "queue: cannot record the end of a held-back notification", "id",
                x->n.id, "reason", iha_rc_str(rc));
    count_decision(p, d->expired ? DECIDED_EXPIRED : DECIDED_FLAPPED);
    if (d->expired && p->metrics)
        iha_metrics_add(p->metrics, "iha_gateway_notifications_dead_lettered_total", 1);
    iha_pipeline_event_set(p, x->n.id, d->expired ? IHA_RESULT_DEAD : IHA_RESULT_FLAPPED, "reason",
                           json_string(reason));
    IHA_LOG(d->expired ? IHA_LOG_ERROR : IHA_LOG_INFO,
            d->expired ? "held-back notification dead-lettered" : "evacuation cancelled", "id",
            x->n.id, "host", x->n.hostname, "reason", reason);
    /* An expired one is remembered like a final refusal; a flapped one may come again. */
    iha_pipeline_key_end(p, &x->key_held, x->key, d->expired);
    parked_free(p, x);
}

/* Carries out the decisions taken so far; policy thread, no lock held. */
static void carry_out(struct iha_pipeline *p)
{
    struct decision *v;
    size_t n;

    pthread_mutex_lock(&p->policy_lock);
    v = p->decisions;
    n = p->n_decisions;
    p->decisions = NULL;
    p->n_decisions = p->cap_decisions = 0;
    pthread_mutex_unlock(&p->policy_lock);
    for (size_t i = 0; i < n; i++) {
        if (v[i].action == IHA_POLICY_HOLD)
            carry_hold(p, &v[i]);
        else if (v[i].action == IHA_POLICY_RELEASE)
            carry_release(p, &v[i]);
        else
            carry_end(p, &v[i]);
    }
    free(v);
}

/* Under policy_lock: parked notifications past storage.max_age leave the policy. */
static long long expire_due(struct iha_pipeline *p, long long now_wall)
{
    long long next = -1;

    for (struct parked **l = &p->parked; *l;) {
        struct parked *x = *l;
        long long end = x->received_ms + (long long)p->max_age_ms;
        struct decision d = {.action = IHA_POLICY_CANCEL, .expired = true, .seq = x->seq, .x = x};

        if (end > now_wall) {
            if (next < 0 || end < next)
                next = end;
            l = &x->next;
            continue;
        }
        *l = x->next;
        x->next = NULL;
        iha_policy_forget(p->policy, x->seq);
        if (!decision_add(p, &d)) {
            x->next = *l;
            *l = x;
            break;
        }
    }
    return next;
}

static void set_gauges(struct iha_pipeline *p, const struct iha_policy_stats *s)
{
    struct iha_metrics *m = p->metrics;

    if (!m)
        return;
    iha_metrics_set(m, "iha_gateway_policy_notifications", (double)s->settling, "settling");
    iha_metrics_set(m, "iha_gateway_policy_notifications", (double)s->waiting, "waiting");
    iha_metrics_set(m, "iha_gateway_policy_notifications", (double)s->held, "held");
    for (int r = IHA_HOLD_STORM; r < IHA_HOLD_COUNT; r++)
        iha_metrics_set(m, "iha_gateway_policy_held", (double)s->held_by[r],
                        iha_hold_reason_name((enum iha_hold_reason)r));
    iha_metrics_set(m, "iha_gateway_policy_storm_guard_tripped", s->tripped ? 1 : 0);
    iha_metrics_set(m, "iha_gateway_policy_heartbeat_missing", s->suspect ? 1 : 0);
    iha_metrics_set(m, "iha_gateway_policy_hosts_in_window", (double)s->hosts_in_window);
    iha_metrics_set(m, "iha_gateway_policy_rate_limit_tokens", s->tokens);
    iha_metrics_set(m, "iha_gateway_policy_flapping_hosts", (double)s->flapping);
}

/* Milliseconds from @p now until @p next (a policy or wall deadline), at most @p cap. */
static unsigned wait_for(uint64_t next_mono, uint64_t now_mono, long long next_wall,
                         long long now_wall, unsigned cap)
{
    unsigned long long ms = cap;

    if (next_mono != UINT64_MAX && next_mono - now_mono < ms)
        ms = next_mono > now_mono ? next_mono - now_mono : 1;
    if (next_wall >= 0 && (unsigned long long)(next_wall - now_wall) < ms)
        ms = next_wall > now_wall ? (unsigned long long)(next_wall - now_wall) : 1;
    return (unsigned)ms;
}

static void *policy_main(void *arg)
{
    struct iha_pipeline *p = arg;

    pthread_mutex_lock(&p->policy_lock);
    while (!p->policy_stop) {
        uint64_t now = iha_clock_ms(), next;
        long long wall = (long long)iha_clock_wall_ms(), next_wall;
        struct iha_policy_stats st;
        struct timespec until;

        next = iha_policy_tick(p->policy, now);
        next_wall = expire_due(p, wall);
        st = iha_policy_stats(p->policy, now);
        p->policy_kick = false;
        pthread_mutex_unlock(&p->policy_lock);
        carry_out(p);
        set_gauges(p, &st);
        pthread_mutex_lock(&p->policy_lock);
        if (p->policy_stop || p->policy_kick || p->n_decisions)
            continue;
        /* At least once a second: gauges stay fresh and storage.max_age (wall clock) is seen. */
        until = iha_clock_mono_at(now + wait_for(next, now, next_wall, wall, 1000));
        pthread_cond_timedwait(&p->policy_cond, &p->policy_lock, &until);
    }
    pthread_mutex_unlock(&p->policy_lock);
    return NULL;
}

/* Under policy_lock: wakes the thread to act on what a call changed. */
static void kick(struct iha_pipeline *p)
{
    p->policy_kick = true;
    pthread_cond_signal(&p->policy_cond);
}

enum iha_rc iha_pipeline_policy_start(struct iha_pipeline *p,
                                      const struct iha_pipeline_stages *stages)
{
    /* Off: nothing is decided on its own; recovered holds wait for the operator. */
    struct iha_policy_config off = {.flap_settle_ms = 100ull * 365 * 24 * 3600 * 1000};
    enum iha_rc rc;

    p->policy_enabled = stages->policy != NULL;
    p->domain = stages->domain;
    p->domain_cls = stages->domain_cls;
    snprintf(p->heartbeat_alertname, sizeof(p->heartbeat_alertname), "%s",
             stages->heartbeat_alertname ? stages->heartbeat_alertname : "");
    /* Always there: holds recovered from the queue stay held with the policy turned off. */
    rc = iha_policy_new(stages->policy ? stages->policy : &off, on_decision, p, iha_clock_ms(),
                        &p->policy);
    if (rc != IHA_OK)
        return rc;
    /* Set before the thread exists: it reads the flags next to this one. */
    p->policy_started = true;
    if (pthread_create(&p->policy_thread, NULL, policy_main, p) != 0) {
        p->policy_started = false;
        return IHA_E_IO;
    }
    return IHA_OK;
}

void iha_pipeline_policy_stop(struct iha_pipeline *p)
{
    pthread_mutex_lock(&p->policy_lock);
    p->policy_stop = true;
    pthread_cond_signal(&p->policy_cond);
    pthread_mutex_unlock(&p->policy_lock);
    if (p->policy_started) {
        pthread_join(p->policy_thread, NULL);
        /*
         * What was decided before the thread saw the stop: holds and ends are written (the
         * queue is still open), releases find delivery stopping and stay queued. After
         * the stop nothing new is decided (every entry point checks policy_stop).
         */
        carry_out(p);
    }
    p->policy_started = false;
}

void iha_pipeline_policy_free(struct iha_pipeline *p)
{
    struct parked *x;

    iha_pipeline_policy_stop(p);
    /* What is still parked stays live in the queue and goes through the policy at the next start.
     */
    free(p->decisions);
    p->decisions = NULL;
    p->n_decisions = p->cap_decisions = 0;
    while ((x = p->parked)) {
        p->parked = x->next;
        parked_free(p, x);
    }
    iha_policy_free(p->policy);
    p->policy = NULL;
}

/* The wall clock's @p received_ms on the policy's monotonic clock. */
static uint64_t mono_of(long long received_ms)
{
    uint64_t now = iha_clock_ms();
    long long ago = (long long)iha_clock_wall_ms() - received_ms;

    if (ago <= 0)
        return now;
    return (uint64_t)ago >= now ? 0 : now - (uint64_t)ago;
}

bool iha_pipeline_policy_park(struct iha_pipeline *p, uint64_t seq, const char *key,
                              const struct iha_notification *n, long long received_ms,
                              enum iha_hold_reason held, bool recovered, bool *key_held)
{
    struct iha_policy_domain dom = {NULL, 0};
    char domain[IHA_POLICY_DOMAIN_MAX] = "";
    struct parked *x;
    enum iha_rc rc;
    uint64_t at;
    char s[24];

    if (!p->policy || !iha_notification_evacuates(n) ||
        (held == IHA_HOLD_NONE && !p->policy_enabled))
        return false;
    x = calloc(1, sizeof(*x));
    if (!x || iha_notification_copy(&x->n, n) != IHA_OK) {
        free(x);
        /* Not parked, not lost: it stays live in the queue and is parked at the next start. */
        snprintf(s, sizeof(s), "%llu", (unsigned long long)seq);
        IHA_LOG(IHA_LOG_ERROR, "out of memory holding an evacuation back; it waits in the queue",
                "id", n->id, "seq", s);
        return true;
    }
    x->seq = seq;
    snprintf(x->key, sizeof(x->key), "%s", key);
    x->received_ms = received_ms;
    x->held = held;
    x->key_held = *key_held;
    *key_held = false;
    if (p->domain && p->domain(p->domain_cls, n->hostname, domain, sizeof(domain), &dom.size))
        dom.name = domain;
    /*
     * A recovered one failed, for the policy, now: its settle time and the storm window
     * start again, so a storm stored just before a crash is seen whole after the restart.
     */
    at = recovered ? iha_clock_ms() : mono_of(received_ms);
    pthread_mutex_lock(&p->policy_lock);
    if (p->policy_stop) {
        /* Stopping: it stays live in the queue and is parked again at the next start. */
        pthread_mutex_unlock(&p->policy_lock);
        parked_free(p, x);
        return true;
    }
    x->next = p->parked;
    p->parked = x;
    rc = held == IHA_HOLD_NONE
             ? iha_policy_admit(p->policy, iha_clock_ms(), seq, n->hostname, &dom, at)
             : iha_policy_restore_held(p->policy, iha_clock_ms(), seq, n->hostname, &dom, at, held);
    if (rc != IHA_OK)
        x = parked_find(p, seq, true);
    else
        kick(p);
    pthread_mutex_unlock(&p->policy_lock);
    if (rc != IHA_OK) {
        snprintf(s, sizeof(s), "%llu", (unsigned long long)seq);
        IHA_LOG(IHA_LOG_ERROR, "the safety policy refused an evacuation; it waits in the queue",
                "id", n->id, "seq", s, "reason", iha_rc_str(rc));
        parked_free(p, x);
    }
    return true;
}

void iha_pipeline_policy_resolve(struct iha_pipeline *p, const char *host)
{
    if (!p->policy || !host[0])
        return;
    pthread_mutex_lock(&p->policy_lock);
    /* Even with nothing cancelled: a counted flap can change what the thread decides. */
    if (!p->policy_stop)
        IHA_IGNORE(iha_policy_resolve(p->policy, iha_clock_ms(), host),
                   "cancellations are carried out as decisions; the count is for tests");
    kick(p);
    pthread_mutex_unlock(&p->policy_lock);
}

/*
 * Alertmanager's Watchdog by its alertname; in the Nagios family, a service of that name
 * kept in a problem state that notifies at every notification_interval (or on a
 * freshness check), so each notification is a heartbeat.
 */
void iha_pipeline_policy_heartbeat(struct iha_pipeline *p, const struct iha_alert *a)
{
    const char *name = a->source == IHA_SOURCE_NAGIOS ? iha_alert_label(a, "service_desc")
                                                      : iha_alert_label(a, "alertname");

    if (!p->policy || !p->heartbeat_alertname[0] || a->status != IHA_ALERT_FIRING ||
        strcmp(name, p->heartbeat_alertname) != 0)
        return;
    pthread_mutex_lock(&p->policy_lock);
    if (!p->policy_stop)
        iha_policy_heartbeat(p->policy, iha_clock_ms());
    kick(p);
    pthread_mutex_unlock(&p->policy_lock);
}

bool iha_pipeline_policy_forget(struct iha_pipeline *p, uint64_t seq)
{
    struct parked *x = NULL;

    if (!p->policy)
        return false;
    pthread_mutex_lock(&p->policy_lock);
    x = parked_find(p, seq, true);
    if (x)
        iha_policy_forget(p->policy, seq);
    pthread_mutex_unlock(&p->policy_lock);
    parked_free(p, x);
    return x != NULL;
}

bool iha_pipeline_policy_release(struct iha_pipeline *p, const char *id, char *answer, size_t size)
{
    size_t n = 0;
    enum iha_rc rc = IHA_E_NOTFOUND;

    pthread_mutex_lock(&p->policy_lock);
    if (p->policy_stop) {
        pthread_mutex_unlock(&p->policy_lock);
        snprintf(answer, size, "the gateway is stopping; release %s after it starts again", id);
        return false;
    }
    if (strcmp(id, "--all") == 0) {
        n = iha_policy_release_all(p->policy, iha_clock_ms());
        rc = IHA_OK;
    } else {
        char *end = NULL;
        unsigned long long seq = strtoull(id, &end, 10);
        bool numeric = end && end != id && *end == '\0';

        for (struct parked *x = p->parked; x; x = x->next)
            if (strcmp(x->n.id, id) == 0 || (numeric && x->seq == seq)) {
                rc = iha_policy_release(p->policy, iha_clock_ms(), x->seq);
                n = rc == IHA_OK;
                break;
            }
    }
    kick(p);
    pthread_mutex_unlock(&p->policy_lock);
    if (rc != IHA_OK) {
        snprintf(answer, size, "no held notification %s", id);
        return false;
    }
    snprintf(answer, size, "released %zu held notification%s to delivery", n, n == 1 ? "" : "s");
    IHA_LOG(IHA_LOG_WARN, "held evacuations released by the operator", "which", id);
    return true;
}

json_t *iha_pipeline_policy_status(struct iha_pipeline *p)
{
    json_t *o, *list;

    if (!p->policy)
        return json_pack("{s:b}", "enabled", false);
    pthread_mutex_lock(&p->policy_lock);
    o = iha_policy_status(p->policy, iha_clock_ms());
    list = json_object_get(o, "notifications");
    for (size_t i = 0; i < json_array_size(list); i++) {
        json_t *it = json_array_get(list, i);
        struct parked *x =
            parked_find(p, (uint64_t)json_integer_value(json_object_get(it, "seq")), false);
        if (x)
            json_object_set_new(it, "id", json_string(x->n.id));
    }
    pthread_mutex_unlock(&p->policy_lock);
    if (o)
        json_object_set_new(o, "enabled", json_boolean(p->policy_enabled));
    return o;
}
