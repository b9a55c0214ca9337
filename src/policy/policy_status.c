/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file policy_status.c
 * @brief What operators see of the policy: counters for metrics, the guard's reason in
 *        words, and the state as JSON for the status page and /api/v1/holds.
 *
 * Apart from the decisions so that rewording what an operator reads never touches them.
 */
#include "policy_int.h"

#include <stdio.h>
#include <string.h>

struct iha_policy_stats iha_policy_stats(const struct iha_policy *p, uint64_t now_ms)
{
    struct iha_policy_stats s = {0};

    for (const struct entry *e = p->first; e; e = e->next) {
        if (e->state == IHA_POLICY_SETTLING)
            s.settling++;
        else if (e->state == IHA_POLICY_WAITING)
            s.waiting++;
        else {
            s.held++;
            s.held_by[e->reason]++;
        }
    }
    for (const struct host *h = p->host_list; h; h = h->next) {
        if (h->counted && h->counted_ms + p->cfg.window_ms > now_ms)
            s.hosts_in_window++;
        if (iha_policy_flapping(p, h, now_ms))
            s.flapping++;
    }
    s.tripped = p->trip.tripped;
    s.suspect = p->suspect;
    s.tokens = p->cfg.rate_burst ? p->tokens : 0.0;
    return s;
}

void iha_policy_explain(const struct iha_policy *p, uint64_t now_ms, char *out, size_t size)
{
    const struct trip *t = &p->trip;
    char window[32];

    (void)now_ms;
    iha_policy_duration(p->cfg.window_ms, window, sizeof(window));
    if (!t->tripped)
        snprintf(out, size, "clear: %zu hosts failed within %s", t->hosts, window);
    else if (t->by_domain)
        snprintf(out, size,
                 "tripped: %zu of the %u hosts of %s failed within %s (more than %u%%; %zu "
                 "hosts in all)",
                 t->domain_failed, t->domain_size, t->domain, window, p->cfg.domain_percent,
                 t->hosts);
    else
        snprintf(out, size, "tripped: %zu hosts failed within %s (more than %u)", t->hosts, window,
                 p->cfg.max_hosts);
}

static json_t *entry_json(const struct entry *e, uint64_t now_ms)
{
    return json_pack("{s:I,s:s,s:s,s:s,s:s,s:I,s:I}", "seq", (json_int_t)e->seq, "host",
                     e->host->name, "domain", e->host->domain, "state",
                     iha_policy_state_name(e->state), "reason", iha_hold_reason_name(e->reason),
                     "for_s", (json_int_t)((now_ms - e->since_ms) / 1000), "failed_s_ago",
                     (json_int_t)((now_ms - e->at_ms) / 1000));
}

static json_t *guard_json(const struct iha_policy *p, uint64_t now_ms)
{
    char why[512];

    iha_policy_explain(p, now_ms, why, sizeof(why));
    return json_pack("{s:s,s:s,s:I,s:I,s:I,s:I,s:I}", "state",
                     p->trip.tripped ? "tripped" : "clear", "why", why, "hosts_in_window",
                     (json_int_t)p->trip.hosts, "window_s", (json_int_t)(p->cfg.window_ms / 1000),
                     "max_hosts", (json_int_t)p->cfg.max_hosts, "domain_percent",
                     (json_int_t)p->cfg.domain_percent, "domain_min_hosts",
                     (json_int_t)p->cfg.domain_min_hosts);
}

static json_t *lists_json(const struct iha_policy *p, uint64_t now_ms, json_t **flapping)
{
    json_t *held = json_array();

    *flapping = json_array();
    if (!held || !*flapping)
        goto nomem;
    for (const struct entry *e = p->first; e; e = e->next)
        if (json_array_append_new(held, entry_json(e, now_ms)) != 0)
            goto nomem;
    for (const struct host *h = p->host_list; h; h = h->next)
        if (iha_policy_flapping(p, h, now_ms) &&
            json_array_append_new(*flapping, json_string(h->name)) != 0)
            goto nomem;
    return held;
nomem:
    json_decref(held);
    json_decref(*flapping);
    *flapping = NULL;
    return NULL;
}

json_t *iha_policy_status(const struct iha_policy *p, uint64_t now_ms)
{
    json_t *flapping = NULL;
    json_t *held = lists_json(p, now_ms, &flapping);
    json_t *o;

    if (!held)
        return NULL;
    o = json_pack("{s:o,s:{s:b,s:s,s:I},s:{s:b,s:f,s:I,s:f},s:o,s:o}", "guard",
                  guard_json(p, now_ms), "heartbeat", "configured", p->cfg.deadman_after_ms > 0,
                  "state",
                  p->cfg.deadman_after_ms == 0 ? "off"
                  : p->suspect                 ? "missing"
                                               : "ok",
                  "last_seen_s_ago", (json_int_t)((now_ms - p->last_heartbeat_ms) / 1000),
                  "rate_limit", "configured", p->cfg.rate_burst > 0, "tokens",
                  p->cfg.rate_burst ? p->tokens : 0.0, "burst", (json_int_t)p->cfg.rate_burst,
                  "per_s", p->cfg.rate_per_s, "flapping_hosts", flapping, "notifications", held);
    return o;
}
