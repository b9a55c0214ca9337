/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file policy_preview.c
 * @brief The safety policy's decisions for one input, had a fresh gateway received it:
 *        for `map` and `test-rules`.
 *
 * Apart from the mapping so that the dry run's policy reads on its own: it replays the
 * input through the real policy (policy.h) on a simulated clock, with the configuration's
 * settings but without failure domains (no network here), and with nothing else in the
 * storm window.
 */
#include "policy_preview.h"

#include <stdio.h>
#include <string.h>

#include "config.h"
#include "policy.h"

/* Loop bound of the simulated clock: one decision per step at most, so plenty. */
#define STEPS_MAX 100000

struct sim {
    json_t *lines;
    uint64_t now;
    struct iha_policy *policy;
};

static void on_decision(void *cls, uint64_t seq, enum iha_policy_action action,
                        enum iha_hold_reason reason)
{
    struct sim *s = cls;
    json_t *line = json_array_get(s->lines, (size_t)seq);
    char why[512] = "";
    const char *decision = action == IHA_POLICY_RELEASE ? "sent"
                           : action == IHA_POLICY_HOLD  ? "held"
                                                        : "cancelled";

    if (!line || json_object_get(line, "policy_final"))
        return;
    if (action == IHA_POLICY_HOLD && reason == IHA_HOLD_STORM)
        iha_policy_explain(s->policy, s->now, why, sizeof(why));
    json_object_set_new(line, "policy",
                        json_pack("{s:s,s:f,s:s,s:s}", "decision", decision, "after_s",
                                  (double)s->now / 1000.0, "reason",
                                  action == IHA_POLICY_CANCEL
                                      ? "its host resolved before it was sent (flapped)"
                                      : iha_hold_reason_name(reason),
                                  "why", why));
    json_object_set_new(line, "policy_final", json_true());
}

struct iha_policy_config iha_policy_config_of(const struct iha_config *c)
{
    return (struct iha_policy_config){
        .window_ms = c->policy_window_ms,
        .max_hosts = c->policy_max_hosts,
        .domain_percent = c->policy_domain_percent,
        .domain_min_hosts = c->policy_domain_min_hosts,
        .settle_ms = c->policy_settle_ms,
        .flap_count = c->policy_flap_count,
        .flap_window_ms = c->policy_flap_window_ms,
        .flap_settle_ms = c->policy_flap_settle_ms,
        .rate_burst = c->policy_rate_burst,
        .rate_per_s = 1000.0 / c->policy_rate_interval_ms,
        .auto_release_ms = c->policy_auto_release_ms,
        .deadman_after_ms = c->policy_heartbeat_after_ms,
    };
}

/* Admits every evacuation and resolve of the input, in its order, at time 0. */
static void feed(struct sim *s)
{
    size_t i;
    json_t *line;

    json_array_foreach(s->lines, i, line)
    {
        const char *host = json_string_value(json_object_get(line, "evacuates"));
        const char *back = json_string_value(json_object_get(line, "host_back"));

        if (back)
            (void)iha_policy_resolve(s->policy, 0, back);
        if (host && iha_policy_admit(s->policy, 0, i, host, NULL, 0) != IHA_OK)
            json_object_set_new(line, "policy",
                                json_pack("{s:s}", "decision", "not admitted (invalid host)"));
        if (!host && json_object_get(line, "notification"))
            json_object_set_new(line, "policy",
                                json_pack("{s:s}", "decision", "sent at once (not an evacuation)"));
    }
}

void iha_policy_preview(const struct iha_config *cfg, json_t *lines)
{
    struct iha_policy_config pc = iha_policy_config_of(cfg);
    struct sim s = {.lines = lines};
    size_t i;
    json_t *line;

    if (cfg->policy_enabled && iha_policy_new(&pc, on_decision, &s, 0, &s.policy) == IHA_OK) {
        feed(&s);
        for (unsigned step = 0; step < STEPS_MAX && s.now != UINT64_MAX; step++) {
            uint64_t next = iha_policy_tick(s.policy, s.now);
            /* Past the window nothing changes without new input or an operator. */
            s.now = next > pc.settle_ms + cfg->policy_window_ms + 3600000u ? UINT64_MAX : next;
        }
        iha_policy_free(s.policy);
    }
    json_array_foreach(lines, i, line)
    {
        if (json_object_get(line, "evacuates") && !json_object_get(line, "policy"))
            json_object_set_new(line, "policy",
                                json_pack("{s:s}", "decision",
                                          cfg->policy_enabled ? "waiting"
                                                              : "sent at once "
                                                                "(policy.enabled is "
                                                                "false)"));
        json_object_del(line, "evacuates");
        json_object_del(line, "host_back");
        json_object_del(line, "policy_final");
    }
}

void iha_policy_preview_count(const json_t *lines, struct iha_policy_counts *out)
{
    size_t i;
    const json_t *line;

    memset(out, 0, sizeof(*out));
    json_array_foreach(lines, i, line)
    {
        const char *d =
            json_string_value(json_object_get(json_object_get(line, "policy"), "decision"));
        if (!d)
            continue;
        if (strcmp(d, "sent") == 0)
            out->sent++;
        else if (strcmp(d, "held") == 0)
            out->held++;
        else if (strcmp(d, "cancelled") == 0)
            out->cancelled++;
    }
}
