/* SPDX-License-Identifier: Apache-2.0 */
/** @file lint.c @brief Lints for mapping rules (evacuation, empty hostname, dead rules). */
#include "lint.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "matcher.h"
#include "extract.h"

#define MSG_MAX 768
/* Probing tries every combination of these values over the first PROBE_SOURCES labels. */
#define PROBE_SOURCES 4

static const struct {
    const char *name;
    unsigned bit;
} lint_names[] = {
    {"evacuation", IHA_LINT_EVACUATION},
    {"empty-hostname", IHA_LINT_EMPTY_HOSTNAME},
    {"never-matches", IHA_LINT_NEVER_MATCHES},
    {"shadowed", IHA_LINT_SHADOWED},
};

#define N_LINTS (sizeof(lint_names) / sizeof(lint_names[0]))

int iha_lint_parse(const char *s, unsigned *mask)
{
    unsigned m = 0;
    const char *p = s;

    if (!s || !mask)
        return -1;
    if (strcmp(s, "all") == 0) {
        *mask = IHA_LINT_ALL;
        return 0;
    }
    if (strcmp(s, "none") == 0) {
        *mask = 0;
        return 0;
    }
    for (;;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        size_t i;

        for (i = 0; i < N_LINTS; i++)
            if (strlen(lint_names[i].name) == len && strncmp(p, lint_names[i].name, len) == 0)
                break;
        if (i == N_LINTS)
            return -1;
        m |= lint_names[i].bit;
        if (!comma)
            break;
        p = comma + 1;
    }
    *mask = m;
    return 0;
}

struct linter {
    const struct iha_ruleset *rs;
    struct iha_diag *diag;
    bool fatal;
    size_t found;
};

static void report(struct linter *l, const struct iha_rule_pos *pos, const char *lint,
                   const char *fmt, ...) IHA_PRINTF(4, 5);

static void report(struct linter *l, const struct iha_rule_pos *pos, const char *lint,
                   const char *fmt, ...)
{
    char msg[MSG_MAX];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    iha_diag_add(l->diag, l->fatal ? IHA_DIAG_ERROR : IHA_DIAG_WARNING, pos->file, pos->line,
                 pos->col, "%s (lint: %s)", msg, lint);
    l->found++;
}

/* ---- evacuation ---------------------------------------------------------- */

/* @return true when @p x can yield @p want: it is that literal, or it is extracted per alert. */
static bool may_yield(const struct iha_extract *x, const char *want)
{
    struct iha_alert empty;
    char v[64];
    bool yes;

    if (!x)
        return false;
    if (!iha_extract_is_literal(x))
        return true;
    iha_alert_init(&empty, IHA_SOURCE_ALERTMANAGER);
    yes = iha_extract_apply(x, &empty, v, sizeof(v)) == IHA_OK && strcmp(v, want) == 0;
    iha_alert_clear(&empty);
    return yes;
}

/* A regex that is an alternation of plain names has no wildcard. */
static bool names_only(const char *re)
{
    for (const char *p = re; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '_' || *p == '-' || *p == ':' || *p == '|' || *p == ' '))
            return false;
    return true;
}

/* @return true when the matchers pin one of @p labels to specific non-empty values. */
static bool pins(const struct iha_matchers *m, const char *const *labels)
{
    enum iha_matcher_op op;
    const char *name, *value;

    for (size_t i = 0; iha_matchers_get(m, i, &name, &op, &value); i++) {
        size_t k;

        for (k = 0; labels[k]; k++)
            if (strcmp(name, labels[k]) == 0)
                break;
        if (!labels[k])
            continue;
        if (op == IHA_MATCHER_EQ && value[0] != '\0')
            return true;
        if (op == IHA_MATCHER_RE && names_only(value) && !iha_matchers_accepts(m, i, ""))
            return true;
    }
    return false;
}

static void lint_evacuation(struct linter *l, const struct iha_rule_info *r)
{
    static const char *const identity[] = {"alertname", "notification_type", NULL};
    static const char *const severity[] = {"severity", "host_state", "service_state", NULL};
    bool id_ok, sev_ok;

    if (r->type != IHA_NTYPE_COMPUTE_HOST || !r->firing_sends)
        return;
    if (!may_yield(r->firing_event, "STOPPED") || !may_yield(r->firing_host_status, "NORMAL"))
        return;
    id_ok = pins(r->matchers, identity);
    sev_ok = pins(r->matchers, severity);
    if (id_ok && sev_ok)
        return;
    report(l, &r->pos, "evacuation",
           "rule '%s' sends COMPUTE_HOST event STOPPED with host_status NORMAL, which makes "
           "Instance HA evacuate the host, but its matchers do not pin %s%s%s; expected an "
           "equality or a regex without wildcards, e.g. alertname=\"HostDown\" and "
           "severity=\"critical\" (Nagios: notification_type=\"PROBLEM\" and "
           "host_state=\"DOWN\")",
           r->name, id_ok ? "" : "an alert identity (alertname or notification_type)",
           !id_ok && !sev_ok ? " and " : "",
           sev_ok ? "" : "a severity (severity, host_state or service_state)");
}

/* ---- empty hostname ------------------------------------------------------ */

/* "" last: a counterexample with values present says more than one with labels missing. */
static const char *const probe_values[] = {"compute-1", "compute-1:9100", ":9100", ""};
#define N_PROBE (sizeof(probe_values) / sizeof(probe_values[0]))

/* Sets source @p name (a label, or annotations.NAME) of @p a to @p value. */
static enum iha_rc set_source(struct iha_alert *a, const char *name, const char *value)
{
    static const char prefix[] = "annotations.";

    if (strncmp(name, prefix, sizeof(prefix) - 1) == 0)
        return iha_alert_set_annotation(a, name + sizeof(prefix) - 1, value);
    return iha_alert_set_label(a, name, value);
}

/* Describes the probe as `hostname="" instance=":9100"` (missing labels shown as ""). */
static void describe_probe(const struct iha_rule_info *r, const size_t *pick, size_t n, char *out,
                           size_t size)
{
    size_t len = 0;

    out[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        int w = snprintf(out + len, size - len, "%s%s=\"%s\"", i ? " " : "", r->hostname_sources[i],
                         probe_values[pick[i]]);

        if (w < 0 || (size_t)w >= size - len)
            return; /* a cut description is still useful */
        len += (size_t)w;
    }
}

static void lint_empty_hostname(struct linter *l, const struct iha_rule_info *r)
{
    size_t n = r->n_hostname_sources < PROBE_SOURCES ? r->n_hostname_sources : PROBE_SOURCES;
    size_t pick[PROBE_SOURCES] = {0}, total = 1;
    struct iha_alert a;
    char out[300], desc[400];

    /* A rule that sends nothing never needs a hostname. */
    if (!r->hostname || (!r->firing_sends && !r->resolved_sends))
        return;
    if (iha_extract_is_literal(r->hostname)) {
        iha_alert_init(&a, IHA_SOURCE_ALERTMANAGER);
        if (iha_extract_apply(r->hostname, &a, out, sizeof(out)) == IHA_OK && out[0] == '\0')
            report(l, &r->hostname_pos, "empty-hostname",
                   "rule '%s': hostname is the empty string; expected a host name or an "
                   "extraction",
                   r->name);
        iha_alert_clear(&a);
        return;
    }
    for (size_t i = 0; i < n; i++)
        total *= N_PROBE;
    for (size_t combo = 0; combo < total; combo++) {
        size_t c = combo;
        bool ok = true;

        iha_alert_init(&a, IHA_SOURCE_ALERTMANAGER);
        for (size_t i = 0; i < n; i++) {
            pick[i] = c % N_PROBE;
            c /= N_PROBE;
            /* The Nagios adapter refuses a record without a host name. */
            if (!probe_values[pick[i]][0] && r->sources == (1u << IHA_SOURCE_NAGIOS) &&
                strcmp(r->hostname_sources[i], "hostname") == 0)
                ok = false;
            if (probe_values[pick[i]][0] &&
                set_source(&a, r->hostname_sources[i], probe_values[pick[i]]) != IHA_OK)
                ok = false;
        }
        if (ok && iha_extract_apply(r->hostname, &a, out, sizeof(out)) == IHA_OK &&
            out[0] == '\0') {
            describe_probe(r, pick, n, desc, sizeof(desc));
            report(l, &r->hostname_pos, "empty-hostname",
                   "rule '%s': hostname extraction yields an empty string for %s; Instance HA "
                   "refuses an empty hostname, so such alerts are dropped; expected a regex "
                   "whose replacement always captures at least one character, e.g. "
                   "'([^:]+)(?::\\d+)?' with replacement '$1'",
                   r->name, desc);
            iha_alert_clear(&a);
            return;
        }
        iha_alert_clear(&a);
    }
}

/* ---- never matches ------------------------------------------------------- */

static void lint_never_matches(struct linter *l, const struct iha_rule_info *r)
{
    const struct iha_matchers *m = r->matchers;
    enum iha_matcher_op op;
    const char *name, *value, *name2;
    char a[256], b[256];

    for (size_t i = 0; iha_matchers_get(m, i, &name, &op, &value); i++) {
        if (op != IHA_MATCHER_EQ)
            continue;
        for (size_t j = 0; iha_matchers_get(m, j, &name2, NULL, NULL); j++) {
            if (j == i || strcmp(name, name2) != 0 || iha_matchers_accepts(m, j, value))
                continue;
            iha_matchers_format(m, i, a, sizeof(a));
            iha_matchers_format(m, j, b, sizeof(b));
            report(l, r->matcher_pos ? &r->matcher_pos[j > i ? j : i] : &r->pos, "never-matches",
                   "rule '%s' can never match: %s and %s cannot both hold; expected matchers "
                   "that some alert can satisfy",
                   r->name, a, b);
            return;
        }
    }
}

/* ---- shadowed ------------------------------------------------------------ */

static bool has_matcher(const struct iha_matchers *m, const char *name, enum iha_matcher_op op,
                        const char *value)
{
    enum iha_matcher_op op2;
    const char *name2, *value2;

    for (size_t i = 0; iha_matchers_get(m, i, &name2, &op2, &value2); i++)
        if (op2 == op && strcmp(name2, name) == 0 && strcmp(value2, value) == 0)
            return true;
    return false;
}

/* @return true when every matcher of @p a is also one of @p b (so b implies a). */
static bool subset(const struct iha_matchers *a, const struct iha_matchers *b)
{
    enum iha_matcher_op op;
    const char *name, *value;

    for (size_t i = 0; iha_matchers_get(a, i, &name, &op, &value); i++)
        if (!has_matcher(b, name, op, value))
            return false;
    return true;
}

static void lint_shadowed(struct linter *l, const struct iha_rule_info *r, size_t idx)
{
    struct iha_rule_info e;

    for (size_t i = 0; i < idx && iha_ruleset_rule_info(l->rs, i, &e); i++) {
        if (e.cont || (e.sources & r->sources) != r->sources || !subset(e.matchers, r->matchers))
            continue;
        report(l, &r->pos, "shadowed",
               "rule '%s' never runs: the earlier rule '%s' (%s:%u:%u) matches every alert it "
               "matches and has no 'continue: true'; expected '%s' before '%s', narrower "
               "matchers on '%s', or 'continue: true' on '%s'",
               r->name, e.name, e.pos.file ? e.pos.file : "", e.pos.line, e.pos.col, r->name,
               e.name, e.name, e.name);
        return;
    }
}

size_t iha_lint_ruleset(const struct iha_ruleset *rs, unsigned mask, bool fatal,
                        struct iha_diag *diag)
{
    struct linter l = {.rs = rs, .diag = diag, .fatal = fatal};
    struct iha_rule_info r;

    for (size_t i = 0; iha_ruleset_rule_info(rs, i, &r); i++) {
        if (mask & IHA_LINT_NEVER_MATCHES)
            lint_never_matches(&l, &r);
        if (mask & IHA_LINT_SHADOWED)
            lint_shadowed(&l, &r, i);
        if (mask & IHA_LINT_EVACUATION)
            lint_evacuation(&l, &r);
        if (mask & IHA_LINT_EMPTY_HOSTNAME)
            lint_empty_hostname(&l, &r);
    }
    return l.found;
}
