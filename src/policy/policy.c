/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file policy.c
 * @brief Admission, the decision at the end of the settle time, the rate limit, and the
 *        operator's release: each notification from admitted to released, held or
 *        cancelled.
 */
#include "policy_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

static bool host_eq(const struct iha_hnode *node, const void *key, size_t len)
{
    const struct host *h = (const struct host *)node;

    return strlen(h->name) == len && memcmp(h->name, key, len) == 0;
}

static bool entry_eq(const struct iha_hnode *node, const void *key, size_t len)
{
    const struct entry *e = (const struct entry *)node;

    return len == sizeof(e->seq) && memcmp(&e->seq, key, len) == 0;
}

static const struct iha_hmap_ops host_ops = {.eq = host_eq};
static const struct iha_hmap_ops entry_ops = {.eq = entry_eq};

void iha_policy_duration(unsigned long long ms, char *out, size_t size)
{
    unsigned long long s = ms / 1000;

    if (s >= 3600 && s % 3600 == 0)
        snprintf(out, size, "%lluh", s / 3600);
    else if (s >= 3600)
        snprintf(out, size, "%lluh%llum", s / 3600, s % 3600 / 60);
    else if (s >= 60 && s % 60 == 0)
        snprintf(out, size, "%llum", s / 60);
    else if (s >= 60)
        snprintf(out, size, "%llum%llus", s / 60, s % 60);
    else
        snprintf(out, size, "%llus", s);
}

const char *iha_hold_reason_name(enum iha_hold_reason r)
{
    switch (r) {
    case IHA_HOLD_STORM:
        return "storm";
    case IHA_HOLD_FLAPPING:
        return "flapping";
    case IHA_HOLD_DEADMAN:
        return "deadman";
    case IHA_HOLD_NONE:
    case IHA_HOLD_COUNT:
        break;
    }
    return "";
}

const char *iha_policy_state_name(enum iha_policy_state s)
{
    switch (s) {
    case IHA_POLICY_SETTLING:
        return "settling";
    case IHA_POLICY_WAITING:
        return "waiting";
    case IHA_POLICY_HELD:
        return "held";
    case IHA_POLICY_STATE_COUNT:
        break;
    }
    return "";
}

enum iha_rc iha_policy_new(const struct iha_policy_config *cfg, iha_policy_act_fn act, void *cls,
                           uint64_t now_ms, struct iha_policy **out)
{
    struct iha_policy *p = calloc(1, sizeof(*p));

    *out = NULL;
    if (!p)
        return IHA_E_NOMEM;
    p->cfg = *cfg;
    if (p->cfg.window_ms == 0)
        p->cfg.window_ms = 300000; /* the documented default, resolved once */
    p->act = act;
    p->act_cls = cls;
    p->hosts = iha_hmap_new(&host_ops, 64);
    p->entries = iha_hmap_new(&entry_ops, 64);
    if (!p->hosts || !p->entries) {
        iha_policy_free(p);
        return IHA_E_NOMEM;
    }
    p->tokens = cfg->rate_burst;
    p->tokens_ms = now_ms;
    /* Until a first heartbeat, the switch counts from the start: a missing one trips it. */
    p->last_heartbeat_ms = now_ms;
    p->clear_since_ms = now_ms;
    *out = p;
    return IHA_OK;
}

void iha_policy_free(struct iha_policy *p)
{
    if (!p)
        return;
    while (p->first) {
        struct entry *e = p->first;
        p->first = e->next;
        free(e);
    }
    while (p->host_list) {
        struct host *h = p->host_list;
        p->host_list = h->next;
        free(h);
    }
    iha_hmap_free(p->hosts);
    iha_hmap_free(p->entries);
    free(p);
}

static struct host *host_find(const struct iha_policy *p, const char *name)
{
    return (struct host *)iha_hmap_find(p->hosts, name, strlen(name));
}

static struct host *host_get(struct iha_policy *p, const char *name,
                             const struct iha_policy_domain *d)
{
    struct host *h = host_find(p, name);

    if (!h) {
        h = calloc(1, sizeof(*h));
        if (!h)
            return NULL;
        snprintf(h->name, sizeof(h->name), "%s", name);
        iha_hmap_insert(p->hosts, &h->node, h->name, strlen(h->name));
        h->next = p->host_list;
        p->host_list = h;
    }
    /* The newest word on the host's domain wins: segments move hosts. */
    if (d && d->name) {
        snprintf(h->domain, sizeof(h->domain), "%s", d->name);
        h->domain_size = d->size;
    }
    return h;
}

static void hosts_prune(struct iha_policy *p, uint64_t now_ms)
{
    struct host **link = &p->host_list;

    while (*link) {
        struct host *h = *link;
        if (iha_policy_host_needed(p, h, now_ms)) {
            link = &h->next;
            continue;
        }
        *link = h->next;
        iha_hmap_remove(p->hosts, &h->node);
        free(h);
    }
}

static struct entry *entry_find(const struct iha_policy *p, uint64_t seq)
{
    return (struct entry *)iha_hmap_find(p->entries, &seq, sizeof(seq));
}

static void entry_remove(struct iha_policy *p, struct entry *e)
{
    if (e->prev)
        e->prev->next = e->next;
    if (e->next)
        e->next->prev = e->prev;
    /* By identity, not by the neighbours: no list head is ever left pointing at @p e. */
    if (p->first == e)
        p->first = e->next;
    if (p->last == e)
        p->last = e->prev;
    iha_hmap_remove(p->entries, &e->node);
    e->host->refs--;
    free(e);
}

static void hold(struct iha_policy *p, struct entry *e, enum iha_hold_reason reason, uint64_t now)
{
    if (e->state == IHA_POLICY_HELD && e->reason == reason)
        return;
    e->state = IHA_POLICY_HELD;
    e->reason = reason;
    e->since_ms = now;
    if (reason == IHA_HOLD_FLAPPING)
        /* Never sooner than an ordinary failure would go. */
        e->due_ms = now + (p->cfg.flap_settle_ms > p->cfg.settle_ms ? p->cfg.flap_settle_ms
                                                                    : p->cfg.settle_ms);
    p->act(p->act_cls, e->seq, IHA_POLICY_HOLD, reason);
}

static void release(struct iha_policy *p, struct entry *e)
{
    uint64_t seq = e->seq;

    entry_remove(p, e);
    p->act(p->act_cls, seq, IHA_POLICY_RELEASE, IHA_HOLD_NONE);
}

/* Holds everything not yet released: what the guard or the missing heartbeat must stop. */
static void hold_pending(struct iha_policy *p, enum iha_hold_reason reason, uint64_t now)
{
    for (struct entry *e = p->first; e; e = e->next)
        if (e->state != IHA_POLICY_HELD ||
            (e->reason == IHA_HOLD_FLAPPING && reason != IHA_HOLD_FLAPPING))
            hold(p, e, reason, now);
}

/* The end of the settle time (or of a flapping host's wait): held, or waits for a token. */
static void decide(struct iha_policy *p, struct entry *e, uint64_t now)
{
    if (p->suspect) {
        hold(p, e, IHA_HOLD_DEADMAN, now);
    } else if (p->trip.tripped) {
        hold(p, e, IHA_HOLD_STORM, now);
    } else {
        e->state = IHA_POLICY_WAITING;
        e->reason = IHA_HOLD_NONE;
        e->since_ms = now;
    }
}

static enum iha_rc admit(struct iha_policy *p, uint64_t now_ms, uint64_t seq, const char *host,
                         const struct iha_policy_domain *domain, uint64_t at_ms, struct entry **out)
{
    struct entry *e;
    struct host *h;

    if (!host || !host[0] || strlen(host) >= IHA_POLICY_HOST_MAX || entry_find(p, seq))
        return IHA_E_INVAL;
    e = calloc(1, sizeof(*e));
    h = e ? host_get(p, host, domain) : NULL;
    if (!h) {
        free(e);
        return IHA_E_NOMEM;
    }
    e->seq = seq;
    e->host = h;
    e->at_ms = at_ms > now_ms ? now_ms : at_ms;
    e->since_ms = now_ms;
    e->prev = p->last;
    if (p->last)
        p->last->next = e;
    else
        p->first = e;
    p->last = e;
    iha_hmap_insert(p->entries, &e->node, &e->seq, sizeof(e->seq));
    h->refs++;
    iha_policy_count_failure(h, seq, e->at_ms);
    *out = e;
    return IHA_OK;
}

static void log_trip(struct iha_policy *p, uint64_t now_ms)
{
    char why[512];

    iha_policy_explain(p, now_ms, why, sizeof(why));
    IHA_LOG(IHA_LOG_ERROR, "storm guard tripped: evacuations are held", "why", why);
}

/*
 * Evaluates the storm guard and acts on a change: a trip holds everything not yet sent, a
 * clearing starts the auto-release clock. Every evaluation goes through here, so a change
 * seen at an admission is not missed by the tick. @return whether it is tripped.
 */
static bool guard_update(struct iha_policy *p, uint64_t now_ms)
{
    bool was = p->trip.tripped;

    if (iha_policy_guard_eval(p, now_ms)) {
        if (!was)
            log_trip(p, now_ms);
        hold_pending(p, IHA_HOLD_STORM, now_ms);
        return true;
    }
    if (was) {
        p->clear_since_ms = now_ms;
        IHA_LOG(IHA_LOG_WARN, "storm guard clear: held evacuations wait for the operator",
                "auto_release", p->cfg.auto_release_ms ? "on" : "off");
    }
    return false;
}

enum iha_rc iha_policy_admit(struct iha_policy *p, uint64_t now_ms, uint64_t seq, const char *host,
                             const struct iha_policy_domain *domain, uint64_t at_ms)
{
    struct entry *e;
    enum iha_rc rc = admit(p, now_ms, seq, host, domain, at_ms, &e);

    if (rc != IHA_OK)
        return rc;
    if (e->host->resolved && e->host->resolved_ms >= e->at_ms) {
        /* Its host was back before this failure was admitted (it was still being stored). */
        uint64_t seq_ = e->seq;

        iha_policy_uncount_failure(e->host, seq_);
        entry_remove(p, e);
        p->act(p->act_cls, seq_, IHA_POLICY_CANCEL, IHA_HOLD_NONE);
        return IHA_OK;
    }
    e->host->firing = true;
    e->state = IHA_POLICY_SETTLING;
    e->due_ms = e->at_ms + p->cfg.settle_ms;
    if (guard_update(p, now_ms)) {
        /* held with the rest */
    } else if (p->suspect) {
        hold(p, e, IHA_HOLD_DEADMAN, now_ms);
    } else if (iha_policy_flapping(p, e->host, now_ms)) {
        hold(p, e, IHA_HOLD_FLAPPING, now_ms);
    }
    return IHA_OK;
}

enum iha_rc iha_policy_restore_held(struct iha_policy *p, uint64_t now_ms, uint64_t seq,
                                    const char *host, const struct iha_policy_domain *domain,
                                    uint64_t at_ms, enum iha_hold_reason reason)
{
    struct entry *e;
    enum iha_rc rc;

    if (reason == IHA_HOLD_NONE || reason >= IHA_HOLD_COUNT)
        return IHA_E_INVAL;
    rc = admit(p, now_ms, seq, host, domain, at_ms, &e);
    if (rc != IHA_OK)
        return rc;
    /* Held as it was: no action, the caller's record says so already. */
    e->host->firing = true; /* its next resolve counts as a flap */
    e->state = IHA_POLICY_HELD;
    e->reason = reason;
    if (reason == IHA_HOLD_FLAPPING)
        e->due_ms = now_ms + p->cfg.flap_settle_ms;
    e->since_ms = now_ms;
    (void)guard_update(p, now_ms); /* a trip holds the others; this one is held already */
    return IHA_OK;
}

size_t iha_policy_resolve(struct iha_policy *p, uint64_t now_ms, const char *host)
{
    struct host *h = host_find(p, host);
    struct entry *e, *next;
    size_t n = 0;
    bool was;

    /* Remembered even for a host with nothing admitted yet: its failure may be on the way. */
    if (!h && (!host || !host[0] || strlen(host) >= IHA_POLICY_HOST_MAX ||
               !(h = host_get(p, host, NULL))))
        return 0;
    h->resolved = true;
    h->resolved_ms = now_ms;
    was = iha_policy_flapping(p, h, now_ms);
    iha_policy_flap_note(p, h, now_ms);
    if (!was && iha_policy_flapping(p, h, now_ms))
        IHA_LOG(IHA_LOG_WARN, "host flapping: its evacuations are held until it stays down", "host",
                h->name);
    for (e = p->first; e; e = next) {
        uint64_t seq = e->seq;

        next = e->next;
        if (e->host != h)
            continue;
        iha_policy_uncount_failure(h, seq);
        entry_remove(p, e);
        p->act(p->act_cls, seq, IHA_POLICY_CANCEL, IHA_HOLD_NONE);
        n++;
    }
    return n;
}

void iha_policy_heartbeat(struct iha_policy *p, uint64_t now_ms)
{
    p->last_heartbeat_ms = now_ms;
    /* The first one seen: from here on the monitoring is known to be there. */
    if (!p->suspect && p->heartbeat_ok_since_ms == 0)
        p->heartbeat_ok_since_ms = now_ms;
}

enum iha_rc iha_policy_release(struct iha_policy *p, uint64_t now_ms, uint64_t seq)
{
    struct entry *e = entry_find(p, seq);

    (void)now_ms;
    if (!e || e->state != IHA_POLICY_HELD)
        return IHA_E_NOTFOUND;
    release(p, e);
    return IHA_OK;
}

size_t iha_policy_release_all(struct iha_policy *p, uint64_t now_ms)
{
    struct entry *e, *next;
    size_t n = 0;

    (void)now_ms;
    for (e = p->first; e; e = next) {
        next = e->next;
        if (e->state != IHA_POLICY_HELD)
            continue;
        release(p, e);
        n++;
    }
    return n;
}

void iha_policy_forget(struct iha_policy *p, uint64_t seq)
{
    struct entry *e = entry_find(p, seq);

    if (e)
        entry_remove(p, e);
}

enum iha_rc iha_policy_state_of(const struct iha_policy *p, uint64_t seq,
                                enum iha_policy_state *state, enum iha_hold_reason *reason)
{
    const struct entry *e = entry_find(p, seq);

    if (!e)
        return IHA_E_NOTFOUND;
    *state = e->state;
    *reason = e->reason;
    return IHA_OK;
}

/* Adds the tokens earned since they were last counted, up to the burst. */
static void tokens_refill(struct iha_policy *p, uint64_t now_ms)
{
    if (now_ms > p->tokens_ms) {
        p->tokens += (double)(now_ms - p->tokens_ms) / 1000.0 * p->cfg.rate_per_s;
        if (p->tokens > p->cfg.rate_burst)
            p->tokens = p->cfg.rate_burst;
    }
    p->tokens_ms = now_ms;
}

/* Releases the waiting notifications, oldest first, while tokens last. */
static void drain_waiting(struct iha_policy *p)
{
    struct entry *e, *next;

    for (e = p->first; e; e = next) {
        next = e->next;
        if (e->state != IHA_POLICY_WAITING)
            continue;
        if (p->cfg.rate_burst > 0) {
            if (p->tokens < 1.0)
                return;
            p->tokens -= 1.0;
        }
        release(p, e);
    }
}

/* The heartbeat's state: missing past deadman_after_ms makes every evacuation wait. */
static void deadman_eval(struct iha_policy *p, uint64_t now_ms)
{
    bool missing;

    if (p->cfg.deadman_after_ms == 0)
        return;
    missing = now_ms >= p->last_heartbeat_ms + p->cfg.deadman_after_ms;
    if (missing && !p->suspect) {
        p->suspect = true;
        p->heartbeat_ok_since_ms = 0;
        IHA_LOG(IHA_LOG_ERROR,
                "monitoring heartbeat missing: evacuations are held until it returns");
        hold_pending(p, IHA_HOLD_DEADMAN, now_ms);
    } else if (!missing && p->suspect) {
        p->suspect = false;
        p->heartbeat_ok_since_ms = now_ms;
        IHA_LOG(IHA_LOG_INFO, "monitoring heartbeat back");
    }
}

/* When @p e may be decided or released on its own (UINT64_MAX: never). */
static uint64_t entry_due(const struct iha_policy *p, const struct entry *e)
{
    if (e->state == IHA_POLICY_SETTLING ||
        (e->state == IHA_POLICY_HELD && e->reason == IHA_HOLD_FLAPPING))
        return e->due_ms;
    if (e->state != IHA_POLICY_HELD || p->cfg.auto_release_ms == 0)
        return UINT64_MAX;
    if (e->reason == IHA_HOLD_STORM && !p->trip.tripped)
        return p->clear_since_ms + p->cfg.auto_release_ms;
    /* Only once a heartbeat was seen: a restart is no proof that the monitoring is back. */
    if (e->reason == IHA_HOLD_DEADMAN && !p->suspect && p->heartbeat_ok_since_ms)
        return (p->heartbeat_ok_since_ms > e->since_ms ? p->heartbeat_ok_since_ms : e->since_ms) +
               p->cfg.auto_release_ms;
    return UINT64_MAX;
}

static uint64_t next_wake(const struct iha_policy *p, uint64_t now_ms)
{
    uint64_t next = UINT64_MAX;
    bool waiting = false;

    for (const struct entry *e = p->first; e; e = e->next) {
        uint64_t due = entry_due(p, e);
        if (due < next)
            next = due;
        waiting = waiting || e->state == IHA_POLICY_WAITING;
    }
    if (waiting && p->cfg.rate_burst > 0 && p->cfg.rate_per_s > 0) {
        uint64_t t = now_ms + (uint64_t)((1.0 - p->tokens) * 1000.0 / p->cfg.rate_per_s) + 1;
        if (t < next)
            next = t;
    }
    if (p->trip.tripped) {
        uint64_t t = iha_policy_window_next(p, now_ms);
        if (t < next)
            next = t;
    }
    if (p->cfg.deadman_after_ms && !p->suspect &&
        p->last_heartbeat_ms + p->cfg.deadman_after_ms < next)
        next = p->last_heartbeat_ms + p->cfg.deadman_after_ms;
    return next <= now_ms ? now_ms + 1 : next;
}

uint64_t iha_policy_tick(struct iha_policy *p, uint64_t now_ms)
{
    struct entry *e, *next;

    tokens_refill(p, now_ms);
    deadman_eval(p, now_ms);
    guard_update(p, now_ms);
    for (e = p->first; e; e = next) {
        next = e->next;
        if (entry_due(p, e) > now_ms)
            continue;
        if (e->state == IHA_POLICY_SETTLING ||
            (e->state == IHA_POLICY_HELD && e->reason == IHA_HOLD_FLAPPING)) {
            decide(p, e, now_ms);
        } else {
            /* Auto release: its cause has been clear long enough; any other still holds it. */
            decide(p, e, now_ms);
        }
    }
    drain_waiting(p);
    hosts_prune(p, now_ms);
    return next_wake(p, now_ms);
}
