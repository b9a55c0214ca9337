/* SPDX-License-Identifier: Apache-2.0 */
/** @file ruletest.c @brief Unit tests for mapping rules (`iha-gateway test-rules`). */
#include "ruletest.h"

#include <glob.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "alertmanager.h"
#include "mapping.h"
#include "nagios.h"
#include "notification.h"
#include "alert.h"
#include "yaml_tree.h"

/* Bounds on what one test may hold; test files are written by hand. */
#define MAX_INPUTS 1000
#define MAX_EXPECTED 1000
#define PATH_BUF 4096

static const char *const top_keys[] = {"rule_files", "tests", NULL};
static const char *const test_keys[] = {"name", "input", "exp_notifications", "exp_dropped", NULL};
static const char *const input_keys[] = {"source", "labels", "annotations",
                                         "status", "macros", NULL};
static const char *const exp_keys[] = {"type", "hostname", "payload", "rule", NULL};
static const char *const drop_keys[] = {"reason", "rule", NULL};

/* State of one test file. */
struct tfile {
    const char *path;
    struct iha_diag *diag;
    FILE *out;
    size_t errors; /* problems in the test file (or its rule files) */
    bool nomem;
};

/* An expected notification; strings are borrowed from the YAML tree. */
struct enotif {
    enum iha_ntype type;
    const char *hostname;
    json_t *payload;  /* owned */
    const char *rule; /* NULL: any */
};

/* What the rules produced, in input order. */
struct gotn {
    enum iha_ntype type;
    char hostname[IHA_HOSTNAME_MAX + 1];
    json_t *payload; /* owned */
    char rule[128];
    size_t alert;
};

struct gotd {
    char rule[128];
    char reason[384];
    size_t alert;
};

struct got {
    struct gotn *n;
    size_t nn;
    struct gotd *d;
    size_t nd;
};

/* One parsed test. */
struct test {
    const char *name;
    const struct iha_ynode *node;
    struct iha_alert *alerts; /* one array per input, flattened */
    size_t n_alerts;
    bool have_exp, have_drop;
    struct enotif *exp;
    size_t n_exp;
    const char *drop_reason, *drop_rule;
};

/* ---- diagnostics -------------------------------------------------------- */

static void terror(struct tfile *tf, const struct iha_ynode *n, const char *fmt, ...)
    IHA_PRINTF(3, 4);

static void terror(struct tfile *tf, const struct iha_ynode *n, const char *fmt, ...)
{
    char msg[768];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    iha_diag_add(tf->diag, IHA_DIAG_ERROR, n ? n->file : tf->path, n ? n->line : 0, n ? n->col : 0,
                 "%s", msg);
    tf->errors++;
}

/* Reports every key of @p map outside @p allowed (counted in tf->errors). */
static void check_keys(struct tfile *tf, const struct iha_ynode *map, const char *const *allowed,
                       const char *where)
{
    tf->errors += iha_ytree_check_keys(map, allowed, where, tf->diag);
}

/* ---- building inputs ------------------------------------------------------ */

/* A YAML mapping of strings as a JSON object; NULL after an error (reported) or OOM. */
static json_t *string_map(struct tfile *tf, const struct iha_ynode *n, const char *where)
{
    json_t *o;

    if (n->kind != IHA_YNODE_MAP) {
        terror(tf, n, "%s: expected a mapping of strings, got %s", where, iha_ynode_what(n));
        return NULL;
    }
    o = json_object();
    if (!o) {
        tf->nomem = true;
        return NULL;
    }
    for (size_t i = 0; i + 1 < n->n_items; i += 2) {
        const struct iha_ynode *k = n->items[i], *v = n->items[i + 1];

        if (!iha_ynode_is_string(k) || v->kind != IHA_YNODE_SCALAR) {
            terror(tf, iha_ynode_is_string(k) ? v : k,
                   "%s: expected string keys and values, got %s", where,
                   iha_ynode_what(iha_ynode_is_string(k) ? v : k));
            json_decref(o);
            return NULL;
        }
        if (json_object_set_new(o, k->scalar, json_string(v->scalar)) != 0) {
            /* libyaml only yields UTF-8, so this is memory. */
            tf->nomem = true;
            json_decref(o);
            return NULL;
        }
    }
    return o;
}

static bool append_alerts(struct tfile *tf, struct test *t, struct iha_alert *more, size_t n)
{
    struct iha_alert *grown;

    if (n == 0)
        return true;
    grown = realloc(t->alerts, (t->n_alerts + n) * sizeof(*grown));
    if (!grown) {
        tf->nomem = true;
        return false;
    }
    t->alerts = grown;
    /* struct iha_alert is plain data owning its strings: moving it is a copy. */
    memcpy(&t->alerts[t->n_alerts], more, n * sizeof(*more));
    t->n_alerts += n;
    return true;
}

static void build_alertmanager(struct tfile *tf, struct test *t, const struct iha_ynode *in)
{
    const struct iha_ynode *labels = iha_ynode_get(in, "labels");
    const struct iha_ynode *ann = iha_ynode_get(in, "annotations");
    const struct iha_ynode *status = iha_ynode_get(in, "status");
    const char *st = "firing";
    json_t *body = NULL, *alert = NULL, *l = NULL, *a = NULL;
    struct iha_alert *alerts = NULL;
    struct iha_err err;
    size_t n = 0;

    if (iha_ynode_get(in, "macros"))
        terror(tf, iha_ynode_get(in, "macros"),
               "input: 'macros' belong to Nagios inputs; expected 'labels' (or source: nagios)");
    if (!labels) {
        terror(tf, in, "input: missing 'labels' (an Alertmanager alert's label set)");
        return;
    }
    if (status && (!iha_ynode_is_string(status) || (strcmp(status->scalar, "firing") != 0 &&
                                                    strcmp(status->scalar, "resolved") != 0))) {
        terror(tf, status, "input.status: expected firing or resolved, got '%s'",
               status->kind == IHA_YNODE_SCALAR ? status->scalar : iha_ynode_what(status));
        return;
    }
    if (status)
        st = status->scalar;
    l = string_map(tf, labels, "input.labels");
    if (!l)
        goto cleanup;
    a = ann ? string_map(tf, ann, "input.annotations") : json_object();
    if (!a)
        goto cleanup;
    alert = json_pack("{s:s, s:O, s:O, s:s}", "status", st, "labels", l, "annotations", a,
                      "startsAt", "2026-01-01T00:00:00Z");
    body = alert ? json_pack("{s:s, s:s, s:s, s:[O]}", "version", "4", "status", st, "receiver",
                             "test-rules", "alerts", alert)
                 : NULL;
    if (!body) {
        tf->nomem = true;
        goto cleanup;
    }
    iha_err_clear(&err);
    if (iha_alertmanager_parse(body, &alerts, &n, &err) != IHA_OK) {
        terror(tf, labels, "input: the Alertmanager adapter refused the alert: %s%s%s",
               err.field[0] ? err.field : "", err.field[0] ? ": " : "", err.msg);
        goto cleanup;
    }
    if (append_alerts(tf, t, alerts, n)) {
        free(alerts); /* the records moved into t->alerts */
        alerts = NULL;
        n = 0;
    }
cleanup:
    iha_alertmanager_free(alerts, n);
    json_decref(body);
    json_decref(alert);
    json_decref(l);
    json_decref(a);
}

static void build_nagios(struct tfile *tf, struct test *t, const struct iha_ynode *in)
{
    const struct iha_ynode *macros = iha_ynode_get(in, "macros");
    struct iha_alert *alerts = NULL;
    struct iha_err err;
    json_t *body;
    size_t n = 0;

    if (iha_ynode_get(in, "labels") || iha_ynode_get(in, "annotations") ||
        iha_ynode_get(in, "status")) {
        terror(tf, in,
               "input: a Nagios input takes 'macros' only (its status comes from "
               "notification_type: RECOVERY is resolved)");
        return;
    }
    if (!macros) {
        terror(tf, in,
               "input: missing 'macros' (e.g. {hostname: compute-1, host_state: DOWN, "
               "state_type: HARD, notification_type: PROBLEM})");
        return;
    }
    body = string_map(tf, macros, "input.macros");
    if (!body)
        return;
    iha_err_clear(&err);
    if (iha_nagios_parse(body, &alerts, &n, &err) != IHA_OK) {
        terror(tf, macros, "input: the Nagios adapter refused the macros: %s%s%s",
               err.field[0] ? err.field : "", err.field[0] ? ": " : "", err.msg);
    } else if (append_alerts(tf, t, alerts, n)) {
        free(alerts);
        alerts = NULL;
        n = 0;
    }
    iha_nagios_free(alerts, n);
    json_decref(body);
}

static void parse_input(struct tfile *tf, struct test *t, const struct iha_ynode *in)
{
    const struct iha_ynode *src;
    enum iha_source source = IHA_SOURCE_ALERTMANAGER;

    if (in->kind != IHA_YNODE_MAP) {
        terror(tf, in, "input: expected a mapping (one alert), got %s", iha_ynode_what(in));
        return;
    }
    check_keys(tf, in, input_keys, "input");
    src = iha_ynode_get(in, "source");
    if (src && (!iha_ynode_is_string(src) || iha_source_parse(src->scalar, &source) != 0 ||
                source == IHA_SOURCE_NATIVE)) {
        terror(tf, src, "input.source: expected alertmanager or nagios, got '%s'",
               src->kind == IHA_YNODE_SCALAR ? src->scalar : iha_ynode_what(src));
        return;
    }
    if (source == IHA_SOURCE_NAGIOS)
        build_nagios(tf, t, in);
    else
        build_alertmanager(tf, t, in);
}

/* ---- expectations ------------------------------------------------------- */

static const char *opt_string(struct tfile *tf, const struct iha_ynode *map, const char *key,
                              const char *where)
{
    const struct iha_ynode *n = iha_ynode_get(map, key);

    if (!n)
        return NULL;
    if (n->kind != IHA_YNODE_SCALAR) {
        terror(tf, n, "%s.%s: expected a string, got %s", where, key, iha_ynode_what(n));
        return NULL;
    }
    return n->scalar;
}

static const char *suggest_type(const char *word)
{
    static const char *const types[] = {"COMPUTE_HOST",    "VM", "PROCESS", "COMPUTE_INSTANCE",
                                        "COMPUTE_PROCESS", NULL};

    return iha_ytree_suggest(word, types);
}

static void parse_exp(struct tfile *tf, struct test *t, const struct iha_ynode *e)
{
    struct enotif *x = &t->exp[t->n_exp];
    const struct iha_ynode *type, *host, *payload;

    if (e->kind != IHA_YNODE_MAP) {
        terror(tf, e, "exp_notifications: expected a mapping {type, hostname, payload}, got %s",
               iha_ynode_what(e));
        return;
    }
    check_keys(tf, e, exp_keys, "exp_notifications");
    type = iha_ynode_get(e, "type");
    host = iha_ynode_get(e, "hostname");
    payload = iha_ynode_get(e, "payload");
    if (!iha_ynode_is_string(type))
        terror(tf, type ? type : e,
               "exp_notifications: expected 'type' (COMPUTE_HOST, VM or "
               "PROCESS)");
    else if (iha_ntype_parse(type->scalar, &x->type) != 0)
        terror(tf, type,
               "exp_notifications.type: unknown type '%s'%s%s%s; expected COMPUTE_HOST, VM or "
               "PROCESS (or COMPUTE_INSTANCE, COMPUTE_PROCESS)",
               type->scalar, suggest_type(type->scalar) ? " (did you mean '" : "",
               suggest_type(type->scalar) ? suggest_type(type->scalar) : "",
               suggest_type(type->scalar) ? "'?)" : "");
    if (!host || host->kind != IHA_YNODE_SCALAR)
        terror(tf, host ? host : e, "exp_notifications: expected 'hostname' (a string)");
    else
        x->hostname = host->scalar;
    if (!payload)
        terror(tf, e, "exp_notifications: expected 'payload' (a mapping; {} for none)");
    else
        x->payload = string_map(tf, payload, "exp_notifications.payload");
    x->rule = opt_string(tf, e, "rule", "exp_notifications");
    t->n_exp++;
}

static void parse_test(struct tfile *tf, const struct iha_ynode *n, struct test *t)
{
    const struct iha_ynode *name, *input, *exp, *drop;

    t->node = n;
    if (n->kind != IHA_YNODE_MAP) {
        terror(tf, n, "tests: expected a mapping (one test), got %s", iha_ynode_what(n));
        return;
    }
    check_keys(tf, n, test_keys, "test");
    name = iha_ynode_get(n, "name");
    if (!iha_ynode_is_string(name))
        terror(tf, name ? name : n, "test: expected 'name' (a string)");
    else
        t->name = name->scalar;
    input = iha_ynode_get(n, "input");
    if (!input || input->kind != IHA_YNODE_SEQ || input->n_items == 0)
        terror(tf, input ? input : n, "test: expected 'input', a non-empty list of alerts");
    else if (input->n_items > MAX_INPUTS)
        terror(tf, input, "test: more than %d inputs", MAX_INPUTS);
    else
        for (size_t i = 0; i < input->n_items && !tf->nomem; i++)
            parse_input(tf, t, input->items[i]);

    exp = iha_ynode_get(n, "exp_notifications");
    drop = iha_ynode_get(n, "exp_dropped");
    if (!exp && !drop)
        terror(tf, n,
               "test: expected 'exp_notifications' (a list, [] for none) or "
               "'exp_dropped' ({reason, rule}, both optional)");
    if (exp && iha_ynode_is_null(exp)) {
        t->have_exp = true;
    } else if (exp && (exp->kind != IHA_YNODE_SEQ || exp->n_items > MAX_EXPECTED)) {
        terror(tf, exp, "exp_notifications: expected a list of at most %d notifications, got %s",
               MAX_EXPECTED, iha_ynode_what(exp));
    } else if (exp) {
        t->have_exp = true;
        t->exp = calloc(exp->n_items ? exp->n_items : 1, sizeof(*t->exp));
        if (!t->exp) {
            tf->nomem = true;
            return;
        }
        for (size_t i = 0; i < exp->n_items && !tf->nomem; i++)
            parse_exp(tf, t, exp->items[i]);
    }
    if (drop && iha_ynode_is_null(drop)) {
        t->have_drop = true;
    } else if (drop && drop->kind != IHA_YNODE_MAP) {
        terror(tf, drop, "exp_dropped: expected a mapping {reason, rule} (both optional), got %s",
               iha_ynode_what(drop));
    } else if (drop) {
        t->have_drop = true;
        check_keys(tf, drop, drop_keys, "exp_dropped");
        t->drop_reason = opt_string(tf, drop, "reason", "exp_dropped");
        t->drop_rule = opt_string(tf, drop, "rule", "exp_dropped");
    }
}

static void test_clear(struct test *t)
{
    for (size_t i = 0; i < t->n_alerts; i++)
        iha_alert_clear(&t->alerts[i]);
    free(t->alerts);
    for (size_t i = 0; i < t->n_exp; i++)
        json_decref(t->exp[i].payload);
    free(t->exp);
    memset(t, 0, sizeof(*t));
}

/* ---- running and comparing -------------------------------------------------- */

static void got_clear(struct got *g)
{
    for (size_t i = 0; i < g->nn; i++)
        json_decref(g->n[i].payload);
    free(g->n);
    free(g->d);
    memset(g, 0, sizeof(*g));
}

static enum iha_rc collect(const struct iha_ruleset *rs, const struct test *t, struct got *g)
{
    enum iha_rc rc = IHA_OK;

    for (size_t i = 0; i < t->n_alerts && rc == IHA_OK; i++) {
        struct iha_map_result mr = {0};

        rc = iha_mapping_apply(rs, &t->alerts[i], &mr);
        for (size_t k = 0; k < mr.n && rc == IHA_OK; k++) {
            const struct iha_map_outcome *o = &mr.items[k];

            if (o->dropped) {
                struct gotd *d = realloc(g->d, (g->nd + 1) * sizeof(*d));

                if (!d) {
                    rc = IHA_E_NOMEM;
                    break;
                }
                g->d = d;
                d = &g->d[g->nd++];
                snprintf(d->rule, sizeof(d->rule), "%s", o->rule);
                snprintf(d->reason, sizeof(d->reason), "%s", o->reason);
                d->alert = i;
            } else {
                struct gotn *n = realloc(g->n, (g->nn + 1) * sizeof(*n));

                if (!n) {
                    rc = IHA_E_NOMEM;
                    break;
                }
                g->n = n;
                n = &g->n[g->nn++];
                n->type = o->notif.type;
                snprintf(n->hostname, sizeof(n->hostname), "%s", o->notif.hostname);
                n->payload = json_incref(o->notif.payload);
                snprintf(n->rule, sizeof(n->rule), "%s", o->rule);
                n->alert = i;
            }
        }
        iha_map_result_clear(&mr);
    }
    return rc;
}

static bool exp_equal(const struct enotif *e, const struct gotn *g)
{
    return e->type == g->type && e->hostname && strcmp(e->hostname, g->hostname) == 0 &&
           e->payload && json_equal(e->payload, g->payload) &&
           (!e->rule || strcmp(e->rule, g->rule) == 0);
}

static void print_payload(FILE *out, const json_t *p)
{
    char *s = json_dumps(p, JSON_COMPACT | JSON_SORT_KEYS);

    fputs(s ? s : "{}", out);
    free(s);
}

static void print_exp(FILE *out, const struct enotif *e)
{
    fprintf(out, "%s %s ", iha_ntype_name(e->type, IHA_DIALECT_MASAKARI), e->hostname);
    print_payload(out, e->payload);
    if (e->rule)
        fprintf(out, " (rule %s)", e->rule);
    fputc('\n', out);
}

static void print_got(FILE *out, const struct gotn *g)
{
    fprintf(out, "%s %s ", iha_ntype_name(g->type, IHA_DIALECT_MASAKARI), g->hostname);
    print_payload(out, g->payload);
    fprintf(out, " (rule %s, input %zu)\n", g->rule, g->alert + 1);
}

/* Field by field differences of an expected and an obtained notification. */
static void print_fields(FILE *out, const struct enotif *e, const struct gotn *g)
{
    const char *key;
    json_t *v;

    if (e->type != g->type)
        fprintf(out, "        type: expected %s, got %s\n",
                iha_ntype_name(e->type, IHA_DIALECT_MASAKARI),
                iha_ntype_name(g->type, IHA_DIALECT_MASAKARI));
    if (strcmp(e->hostname, g->hostname) != 0)
        fprintf(out, "        hostname: expected \"%s\", got \"%s\"\n", e->hostname, g->hostname);
    json_object_foreach(e->payload, key, v)
    {
        json_t *gv = json_object_get(g->payload, key);

        if (!gv)
            fprintf(out, "        payload.%s: expected \"%s\", missing\n", key,
                    json_string_value(v));
        else if (!json_equal(v, gv))
            fprintf(out, "        payload.%s: expected \"%s\", got \"%s\"\n", key,
                    json_string_value(v), json_string_value(gv));
    }
    json_object_foreach(g->payload, key, v)
    {
        if (!json_object_get(e->payload, key))
            fprintf(out, "        payload.%s: not expected, got \"%s\"\n", key,
                    json_string_value(v));
    }
    if (e->rule && strcmp(e->rule, g->rule) != 0)
        fprintf(out, "        rule: expected \"%s\", got \"%s\"\n", e->rule, g->rule);
}

static bool drop_ok(const struct test *t, const struct gotd *d)
{
    return (!t->drop_reason || strstr(d->reason, t->drop_reason)) &&
           (!t->drop_rule || strcmp(t->drop_rule, d->rule) == 0);
}

static void print_header(FILE *out, const struct test *t, const char *path)
{
    fprintf(out, "  FAILED  %s  (%s:%u:%u)\n", t->name ? t->name : "(unnamed)", path, t->node->line,
            t->node->col);
}

static void print_expected(FILE *out, const struct test *t)
{
    fprintf(out, "    expected:\n");
    if (t->have_exp && t->n_exp == 0)
        fprintf(out, "      no notification\n");
    for (size_t i = 0; i < t->n_exp; i++) {
        fprintf(out, "      - ");
        print_exp(out, &t->exp[i]);
    }
    if (t->have_drop) {
        fprintf(out, "      dropped");
        if (t->drop_reason)
            fprintf(out, ", reason containing \"%s\"", t->drop_reason);
        if (t->drop_rule)
            fprintf(out, ", by rule %s", t->drop_rule);
        fprintf(out, "\n");
    }
}

static void print_obtained(FILE *out, const struct got *g)
{
    fprintf(out, "    got:\n");
    if (g->nn == 0)
        fprintf(out, "      no notification\n");
    for (size_t i = 0; i < g->nn; i++) {
        fprintf(out, "      - ");
        print_got(out, &g->n[i]);
    }
    for (size_t i = 0; i < g->nd; i++)
        fprintf(out, "      dropped input %zu%s%s%s: %s\n", g->d[i].alert + 1,
                g->d[i].rule[0] ? " (rule " : "", g->d[i].rule, g->d[i].rule[0] ? ")" : "",
                g->d[i].reason);
}

/* Compares and, on failure, prints the report. @return true when the test passed. */
static bool judge(const struct test *t, const struct got *g, const char *path, FILE *out)
{
    bool *used = calloc(g->nn ? g->nn : 1, sizeof(*used));
    bool *found = calloc(t->n_exp ? t->n_exp : 1, sizeof(*found));
    size_t missing = 0, extra = 0, bad_drops = 0;
    bool pass;

    if (!used || !found) {
        free(used);
        free(found);
        fprintf(out, "  FAILED  %s: out of memory\n", t->name ? t->name : "(unnamed)");
        return false;
    }
    /* Exact matches first, in any order. */
    for (size_t i = 0; i < t->n_exp; i++)
        for (size_t j = 0; j < g->nn && !found[i]; j++)
            if (!used[j] && exp_equal(&t->exp[i], &g->n[j]))
                found[i] = used[j] = true;
    for (size_t i = 0; i < t->n_exp; i++)
        missing += !found[i];
    for (size_t j = 0; j < g->nn; j++)
        extra += !used[j];
    if (t->have_drop) {
        for (size_t i = 0; i < g->nd; i++)
            bad_drops += !drop_ok(t, &g->d[i]);
    }
    pass = missing == 0 && extra == 0 && bad_drops == 0 && (!t->have_drop || g->nd > 0);
    if (pass)
        goto done;

    print_header(out, t, path);
    print_expected(out, t);
    print_obtained(out, g);
    fprintf(out, "    diff:\n");
    {
        size_t i = 0, j = 0;

        /* Pair what is left in order, so a near miss shows field by field. */
        for (;;) {
            while (i < t->n_exp && found[i])
                i++;
            while (j < g->nn && used[j])
                j++;
            if (i < t->n_exp && j < g->nn) {
                fprintf(out, "      ~ expected ");
                print_exp(out, &t->exp[i]);
                fprintf(out, "        got      ");
                print_got(out, &g->n[j]);
                print_fields(out, &t->exp[i], &g->n[j]);
                i++, j++;
            } else if (i < t->n_exp) {
                fprintf(out, "      - missing:    ");
                print_exp(out, &t->exp[i++]);
            } else if (j < g->nn) {
                fprintf(out, "      + unexpected: ");
                print_got(out, &g->n[j++]);
            } else {
                break;
            }
        }
    }
    if (t->have_drop && g->nd == 0)
        fprintf(out, "      - missing:    a dropped input\n");
    for (size_t i = 0; t->have_drop && i < g->nd; i++) {
        const struct gotd *d = &g->d[i];

        if (drop_ok(t, d))
            continue;
        if (t->drop_reason && !strstr(d->reason, t->drop_reason))
            fprintf(out, "      ~ input %zu: drop reason \"%s\" does not contain \"%s\"\n",
                    d->alert + 1, d->reason, t->drop_reason);
        if (t->drop_rule && strcmp(t->drop_rule, d->rule) != 0)
            fprintf(out, "      ~ input %zu: dropped by rule \"%s\", expected rule \"%s\"\n",
                    d->alert + 1, d->rule, t->drop_rule);
    }
done:
    free(used);
    free(found);
    return pass;
}

/* ---- files -------------------------------------------------------------- */

/* Joins @p rel to the directory of @p base unless it is absolute. @return false if too long. */
static bool resolve_path(const char *base, const char *rel, char *out, size_t size)
{
    const char *slash = strrchr(base, '/');
    int n;

    if (rel[0] == '/' || !slash)
        n = snprintf(out, size, "%s", rel);
    else
        n = snprintf(out, size, "%.*s/%s", (int)(slash - base), base, rel);
    return n >= 0 && (size_t)n < size;
}

static void load_rule_files(struct tfile *tf, const struct iha_ynode *files, struct iha_ruleset *rs)
{
    char path[PATH_BUF];

    if (!files || files->kind != IHA_YNODE_SEQ || files->n_items == 0) {
        terror(tf, files,
               "rule_files: expected a non-empty list of rule files (relative to the "
               "test file; globs allowed)");
        return;
    }
    for (size_t i = 0; i < files->n_items; i++) {
        const struct iha_ynode *f = files->items[i];
        glob_t g;
        int grc;

        if (!iha_ynode_is_string(f)) {
            terror(tf, f, "rule_files: expected a string, got %s", iha_ynode_what(f));
            continue;
        }
        if (!resolve_path(tf->path, f->scalar, path, sizeof(path))) {
            terror(tf, f, "rule_files: path too long");
            continue;
        }
        memset(&g, 0, sizeof(g));
        grc = glob(path, 0, NULL, &g);
        if (grc == GLOB_NOMATCH) {
            terror(tf, f, "rule_files: '%s' matches no file", path);
        } else if (grc != 0) {
            tf->nomem = grc == GLOB_NOSPACE;
            terror(tf, f, "rule_files: cannot expand '%s'", path);
        } else {
            for (size_t k = 0; k < g.gl_pathc; k++) {
                enum iha_rc rc = iha_ruleset_load_file(rs, g.gl_pathv[k], tf->diag);

                if (rc == IHA_E_NOMEM)
                    tf->nomem = true;
                else if (rc != IHA_OK)
                    tf->errors++; /* the loader reported where */
            }
        }
        globfree(&g);
    }
}

enum iha_rc iha_ruletest_run_file(const char *path, FILE *out, struct iha_diag *diag,
                                  struct iha_ruletest_summary *sum)
{
    struct tfile tf = {.path = path, .diag = diag, .out = out};
    struct iha_ynode *root = NULL;
    struct iha_ruleset *rs = NULL;
    const struct iha_ynode *tests = NULL;
    struct test *parsed = NULL;
    size_t n_tests = 0, failed = 0;
    enum iha_rc rc;

    fprintf(out, "Unit Testing:  %s\n", path);
    rc = iha_ytree_parse_file(path, &root, diag);
    if (rc == IHA_E_NOMEM)
        goto cleanup;
    if (rc != IHA_OK) {
        tf.errors++;
        rc = IHA_OK;
        goto cleanup;
    }
    rc = IHA_E_NOMEM;
    rs = iha_ruleset_new();
    if (!rs)
        goto cleanup;
    if (root->kind != IHA_YNODE_MAP) {
        terror(&tf, root, "expected a mapping with 'rule_files' and 'tests', got %s",
               iha_ynode_what(root));
        rc = IHA_OK;
        goto cleanup;
    }
    check_keys(&tf, root, top_keys, "top level");
    load_rule_files(&tf, iha_ynode_get(root, "rule_files"), rs);
    tests = iha_ynode_get(root, "tests");
    if (!tests || tests->kind != IHA_YNODE_SEQ || tests->n_items == 0) {
        terror(&tf, tests ? tests : root, "tests: expected a non-empty list of tests");
        tests = NULL;
    }
    if (tests) {
        parsed = calloc(tests->n_items, sizeof(*parsed));
        if (!parsed)
            goto cleanup;
        for (; n_tests < tests->n_items && !tf.nomem; n_tests++)
            parse_test(&tf, tests->items[n_tests], &parsed[n_tests]);
    }
    if (tf.nomem)
        goto cleanup;
    rc = IHA_OK;
    if (tf.errors)
        goto cleanup;
    for (size_t i = 0; i < n_tests; i++) {
        struct got g = {0};

        rc = collect(rs, &parsed[i], &g);
        if (rc == IHA_OK && !judge(&parsed[i], &g, path, out))
            failed++;
        got_clear(&g);
        if (rc != IHA_OK)
            goto cleanup;
    }
    sum->tests += n_tests;
    sum->failed += failed;
    if (failed)
        fprintf(out, "  FAILED: %zu of %zu tests failed\n", failed, n_tests);
    else
        fprintf(out, "  SUCCESS (%zu tests)\n", n_tests);

cleanup:
    if (rc == IHA_OK && tf.errors) {
        sum->broken++;
        fprintf(out, "  FAILED: %zu error(s) in the test or rule files\n", tf.errors);
    }
    for (size_t i = 0; i < n_tests; i++)
        test_clear(&parsed[i]);
    free(parsed);
    iha_ruleset_free(rs);
    iha_ynode_free(root);
    return rc;
}

int iha_ruletest_main(const char *const *files, size_t n, FILE *out, FILE *err)
{
    struct iha_ruletest_summary sum = {0};
    bool nomem = false;

    if (n == 0) {
        fprintf(err, "usage: iha-gateway test-rules FILE...\n");
        return 2;
    }
    for (size_t i = 0; i < n && !nomem; i++) {
        struct iha_diag *diag = iha_diag_new();

        if (!diag || iha_ruletest_run_file(files[i], out, diag, &sum) != IHA_OK)
            nomem = true;
        fflush(out);
        for (size_t k = 0; k < iha_diag_count(diag); k++)
            fprintf(err, "%s\n", iha_diag_get(diag, k));
        fflush(err);
        iha_diag_free(diag);
    }
    if (nomem) {
        fprintf(err, "iha-gateway: out of memory\n");
        return 1;
    }
    if (sum.failed == 0 && sum.broken == 0) {
        fprintf(out, "SUCCESS\n");
        return 0;
    }
    fprintf(out, "FAILED: %zu of %zu tests failed", sum.failed, sum.tests);
    if (sum.broken)
        fprintf(out, "; %zu file(s) with errors", sum.broken);
    fputc('\n', out);
    return 1;
}
