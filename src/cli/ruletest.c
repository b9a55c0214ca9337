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
static const char *const test_keys[] = {"name",        "input",      "exp_notifications",
                                        "exp_dropped", "exp_policy", NULL};
static const char *const policy_keys[] = {"sent", "held", "cancelled", NULL};
static const char *const input_keys[] = {"source", "labels", "annotations",
                                         "status", "macros", NULL};
static const char *const exp_keys[] = {"type", "hostname", "payload", "rule", NULL};
static const char *const drop_keys[] = {"reason", "rule", NULL};

#include "ruletest_int.h"

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

/* exp_policy: {sent, held, cancelled}, each an optional count of evacuations. */
static void parse_policy(struct tfile *tf, struct test *t, const struct iha_ynode *e)
{
    if (!e)
        return;
    if (e->kind != IHA_YNODE_MAP) {
        terror(tf, e, "exp_policy: expected a mapping {sent, held, cancelled}, got %s",
               iha_ynode_what(e));
        return;
    }
    check_keys(tf, e, policy_keys, "exp_policy");
    t->have_policy = true;
    for (int k = 0; k < 3; k++) {
        const struct iha_ynode *v = iha_ynode_get(e, policy_keys[k]);
        char *end = NULL;

        t->exp_policy[k] = -1;
        if (!v)
            continue;
        if (iha_ynode_is_string(v))
            t->exp_policy[k] = strtol(v->scalar, &end, 10);
        if (!end || *end || end == v->scalar || t->exp_policy[k] < 0)
            terror(tf, v, "exp_policy.%s: expected a count (0 or more)", policy_keys[k]);
    }
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
    parse_policy(tf, t, iha_ynode_get(n, "exp_policy"));
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
                snprintf(d->resolved_host, sizeof(d->resolved_host), "%s", o->resolved_host);
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
        if (rc == IHA_OK && (!iha_ruletest_judge(&parsed[i], &g, path, out) ||
                             !iha_ruletest_judge_policy(&parsed[i], &g, path, out)))
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
