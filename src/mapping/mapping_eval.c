/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file mapping_eval.c
 * @brief Mapping one alert: first matching rule (or more with `continue`), extraction of
 *        the host name and payload, the notification or the reason for a drop.
 *
 * Separate from loading: it runs per alert on a rule set that no longer changes, must
 * never fail the batch for one bad alert, and its trace (explain) mirrors it step by step.
 */
#include "mapping_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Payload values longer than 255 bytes are refused by Instance HA anyway. */
#define VALUE_BUF 512

/* ---- evaluation -------------------------------------------------------- */

static bool utf8_valid(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;

    while (*p) {
        size_t n;
        unsigned cp;

        if (*p < 0x80) {
            p++;
            continue;
        }
        if ((*p & 0xe0) == 0xc0)
            n = 1, cp = *p & 0x1f;
        else if ((*p & 0xf0) == 0xe0)
            n = 2, cp = *p & 0x0f;
        else if ((*p & 0xf8) == 0xf0)
            n = 3, cp = *p & 0x07;
        else
            return false;
        p++;
        for (size_t i = 0; i < n; i++, p++) {
            if ((*p & 0xc0) != 0x80)
                return false;
            cp = (cp << 6) | (*p & 0x3f);
        }
        if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
            cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return false;
    }
    return true;
}

static void drop(struct iha_map_outcome *o, enum iha_drop why, const char *fmt, ...)
    IHA_PRINTF(3, 4);

static void drop(struct iha_map_outcome *o, enum iha_drop why, const char *fmt, ...)
{
    va_list ap;

    o->dropped = true;
    o->why = why;
    va_start(ap, fmt);
    vsnprintf(o->reason, sizeof(o->reason), fmt, ap);
    va_end(ap);
    iha_notification_clear(&o->notif);
}

/* Extraction failure as a drop reason naming the rule and field. */
static void drop_extract(struct iha_map_outcome *o, const struct rule *r, const char *field,
                         const struct iha_extract *x, enum iha_rc rc)
{
    char desc[256];

    iha_extract_describe(x, desc, sizeof(desc));
    if (rc == IHA_E_LIMIT)
        drop(o, IHA_DROP_EXTRACTION, "rule %s: %s: extracted value is too long (%s)", r->name,
             field, desc);
    else
        drop(o, IHA_DROP_EXTRACTION, "rule %s: %s: extraction did not match (%s)", r->name, field,
             desc);
}

/*
 * Applies a matched rule into @p o. @p step (may be NULL) receives what was extracted.
 * @return IHA_OK (notification or drop recorded in @p o) or IHA_E_NOMEM.
 */
static enum iha_rc apply_rule(const struct rule *r, const struct iha_alert *a,
                              struct iha_map_outcome *o, json_t *step)
{
    const struct action *act = a->status == IHA_ALERT_RESOLVED ? &r->resolved : &r->firing;
    char value[VALUE_BUF];
    struct iha_err err;
    enum iha_rc rc;

    snprintf(o->rule, sizeof(o->rule), "%s", r->name);
    iha_notification_init(&o->notif);
    if (!act->sends) {
        if (a->status == IHA_ALERT_RESOLVED && r->type == IHA_NTYPE_COMPUTE_HOST &&
            iha_extract_apply(r->hostname, a, o->resolved_host, sizeof(o->resolved_host)) != IHA_OK)
            o->resolved_host[0] = '\0'; /* no host, nothing to tell the policy */
        /* Only "nothing for resolved" is a label of its own; a rule silent when firing is rare. */
        drop(o, a->status == IHA_ALERT_RESOLVED ? IHA_DROP_RESOLVED : IHA_DROP_OTHER,
             "rule %s sends nothing for %s alerts", r->name, iha_alert_status_name(a->status));
        return IHA_OK;
    }
    rc = iha_extract_apply(r->hostname, a, o->notif.hostname, sizeof(o->notif.hostname));
    if (rc != IHA_OK) {
        drop_extract(o, r, "hostname", r->hostname, rc);
        return IHA_OK;
    }
    if (step && json_object_set_new(step, "hostname", json_string(o->notif.hostname)) != 0)
        return IHA_E_NOMEM;
    o->notif.payload = json_object();
    if (!o->notif.payload)
        return IHA_E_NOMEM;
    if (step && json_object_set(step, "payload", o->notif.payload) != 0)
        return IHA_E_NOMEM;
    for (size_t i = 0; i < act->n; i++) {
        const struct pfield *f = &act->fields[i];
        char field[160];
        json_t *v;

        snprintf(field, sizeof(field), "payload.%s", f->key);
        rc = iha_extract_apply(f->x, a, value, sizeof(value));
        if (rc != IHA_OK) {
            drop_extract(o, r, field, f->x, rc);
            return IHA_OK;
        }
        if (!utf8_valid(value)) {
            drop(o, IHA_DROP_OTHER, "rule %s: %s: extracted value is not valid UTF-8", r->name,
                 field);
            return IHA_OK;
        }
        v = json_string(value);
        if (!v || json_object_set_new(o->notif.payload, f->key, v) != 0)
            return IHA_E_NOMEM;
    }
    o->notif.type = r->type;
    iha_err_clear(&err);
    if (iha_notification_validate(&o->notif, &err) != IHA_OK) {
        drop(o, IHA_DROP_INVALID, "rule %s: invalid notification: %s: %s", r->name,
             err.field[0] ? err.field : "notification", err.msg);
        return IHA_OK;
    }
    snprintf(o->notif.rule, sizeof(o->notif.rule), "%s", r->name);
    iha_id_new(o->notif.id);
    o->notif.generated_time[0] = '\0';
    return IHA_OK;
}

static enum iha_rc push_outcome(struct iha_map_result *out, struct iha_map_outcome **o)
{
    /* Usually exactly one outcome; more only with `continue: true`, so grow by one. */
    struct iha_map_outcome *items = realloc(out->items, (out->n + 1) * sizeof(*items));

    if (!items)
        return IHA_E_NOMEM;
    out->items = items;
    *o = &items[out->n++];
    memset(*o, 0, sizeof(**o));
    return IHA_OK;
}

static json_t *step_new(const struct rule *r, bool matched)
{
    return json_pack("{s:s, s:b}", "rule", r->name, "matched", matched);
}

static enum iha_rc trace_append(json_t *trace, json_t *step)
{
    if (!step)
        return IHA_E_NOMEM;
    return json_array_append_new(trace, step) == 0 ? IHA_OK : IHA_E_NOMEM;
}

/* Records a rule that was not applied; only when tracing. */
static enum iha_rc trace_skip(json_t *trace, const struct rule *r, const struct iha_alert *a,
                              bool source_ok)
{
    char why[512];
    json_t *step = step_new(r, false);

    if (!step)
        return IHA_E_NOMEM;
    if (!source_ok) {
        snprintf(why, sizeof(why), "source %s not accepted by this rule",
                 iha_source_name(a->source));
        if (json_object_set_new(step, "reason", json_string(why)) != 0)
            goto nomem;
    } else if (iha_matchers_explain(r->matchers, a, why, sizeof(why))) {
        if (json_object_set_new(step, "failed_matcher", json_string(why)) != 0)
            goto nomem;
    }
    return trace_append(trace, step);
nomem:
    json_decref(step);
    return IHA_E_NOMEM;
}

static enum iha_rc trace_result(json_t *step, const struct iha_map_outcome *o)
{
    if (json_object_set_new(step, "result", json_string(o->dropped ? "dropped" : "notification")))
        return IHA_E_NOMEM;
    if (o->dropped && json_object_set_new(step, "reason", json_string(o->reason)))
        return IHA_E_NOMEM;
    return IHA_OK;
}

/*
 * Tries rule @p r on @p a: a skip (traced when @p trace), or one outcome appended to @p out.
 * *stop tells the caller that the rule matched without `continue`.
 */
static enum iha_rc try_rule(const struct rule *r, const struct iha_alert *a,
                            struct iha_map_result *out, json_t *trace, bool *stop)
{
    struct iha_map_outcome *o;
    json_t *step = NULL;
    bool source_ok = (r->sources & (1u << a->source)) != 0;
    enum iha_rc rc;

    *stop = false;
    if (!source_ok || !iha_matchers_match(r->matchers, a))
        return trace ? trace_skip(trace, r, a, source_ok) : IHA_OK;
    if ((rc = push_outcome(out, &o)) != IHA_OK)
        return rc;
    if (trace) {
        step = step_new(r, true);
        if (!step)
            return IHA_E_NOMEM;
    }
    rc = apply_rule(r, a, o, step);
    if (rc == IHA_OK && step) {
        rc = trace_result(step, o);
        if (rc == IHA_OK) {
            rc = trace_append(trace, step); /* steals step, also on failure */
            step = NULL;
        }
    }
    json_decref(step);
    *stop = !r->cont;
    return rc;
}

/*
 * The prefilter: only rules keyed by the alert's alertname and the unindexed rules can
 * match, so they are merged in ascending (load) order and every other rule is skipped
 * without running its matchers. Order, first-match-wins and `continue` are unchanged.
 */
static enum iha_rc run_indexed(const struct iha_ruleset *rs, const struct iha_alert *a,
                               struct iha_map_result *out)
{
    const struct ix_key *k = iha_mapping_index_find(rs, iha_alert_label(a, "alertname"));
    size_t nk = k ? k->n : 0, i = 0, j = 0;
    bool stop = false;
    enum iha_rc rc;

    while (!stop && (i < nk || j < rs->n_always)) {
        size_t next;

        if (j >= rs->n_always || (i < nk && k->rules[i] < rs->always[j]))
            next = k->rules[i++];
        else
            next = rs->always[j++];
        if ((rc = try_rule(&rs->rules[next], a, out, NULL, &stop)) != IHA_OK)
            return rc;
    }
    return IHA_OK;
}

static enum iha_rc run(const struct iha_ruleset *rs, const struct iha_alert *a,
                       struct iha_map_result *out, json_t *trace)
{
    struct iha_map_outcome *o;
    enum iha_rc rc = IHA_OK;
    bool stop = false;

    memset(out, 0, sizeof(*out));
    /* Explain shows every rule, so it never uses the prefilter. */
    if (!trace && rs->ix_ok && !rs->no_index) {
        if ((rc = run_indexed(rs, a, out)) != IHA_OK)
            goto fail;
    } else {
        for (size_t i = 0; i < rs->n && !stop; i++)
            if ((rc = try_rule(&rs->rules[i], a, out, trace, &stop)) != IHA_OK)
                goto fail;
    }
    if (out->n == 0) {
        if ((rc = push_outcome(out, &o)) != IHA_OK)
            goto fail;
        o->dropped = true;
        o->why = IHA_DROP_NO_RULE;
        snprintf(o->reason, sizeof(o->reason), "no rule matched");
    }
    return IHA_OK;

fail:
    iha_map_result_clear(out);
    return rc;
}

enum iha_rc iha_mapping_apply(const struct iha_ruleset *rs, const struct iha_alert *a,
                              struct iha_map_result *out)
{
    return run(rs, a, out, NULL);
}

enum iha_rc iha_mapping_explain(const struct iha_ruleset *rs, const struct iha_alert *a,
                                struct iha_map_result *out, json_t *trace)
{
    return run(rs, a, out, trace);
}

void iha_map_result_clear(struct iha_map_result *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->n; i++)
        iha_notification_clear(&r->items[i].notif);
    free(r->items);
    memset(r, 0, sizeof(*r));
}
