/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file ruletest_judge.c
 * @brief test-rules: what the rules produced against what a test expects (notifications,
 *        drops, the safety policy's decisions), and a readable diff when they differ.
 */
#include "ruletest_int.h"

#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "policy_preview.h"

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
bool iha_ruletest_judge(const struct test *t, const struct got *g, const char *path, FILE *out)
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

/*
 * exp_policy: the safety policy's decisions for this test's evacuations, with the default
 * settings, as a fresh gateway would take them for this input alone.
 */
bool iha_ruletest_judge_policy(const struct test *t, const struct got *g, const char *path,
                               FILE *out)
{
    struct iha_config *cfg = NULL;
    json_t *lines;
    struct iha_policy_counts c;
    size_t got[3];
    bool pass = true;

    if (!t->have_policy)
        return true;
    lines = json_array();
    if (!lines || iha_config_default(&cfg) != IHA_OK) {
        json_decref(lines);
        fprintf(out, "  FAILED  %s: out of memory\n", t->name ? t->name : "(unnamed)");
        return false;
    }
    for (size_t j = 0; j < g->nn; j++) {
        struct iha_notification n;
        json_t *line = json_object();

        iha_notification_init(&n);
        n.type = g->n[j].type;
        snprintf(n.hostname, sizeof(n.hostname), "%s", g->n[j].hostname);
        n.payload = g->n[j].payload; /* borrowed */
        json_object_set_new(line, "notification", json_true());
        if (iha_notification_evacuates(&n))
            json_object_set_new(line, "evacuates", json_string(n.hostname));
        else if (iha_notification_host_back(&n))
            json_object_set_new(line, "host_back", json_string(n.hostname));
        json_array_append_new(lines, line);
    }
    for (size_t i = 0; i < g->nd; i++)
        if (g->d[i].resolved_host[0])
            json_array_append_new(lines, json_pack("{s:s}", "host_back", g->d[i].resolved_host));
    iha_policy_preview(cfg, lines);
    iha_policy_preview_count(lines, &c);
    got[0] = c.sent, got[1] = c.held, got[2] = c.cancelled;
    for (int k = 0; k < 3; k++)
        pass = pass && (t->exp_policy[k] < 0 || (size_t)t->exp_policy[k] == got[k]);
    if (!pass) {
        print_header(out, t, path);
        fprintf(out,
                "    exp_policy (default settings): sent %ld, held %ld, cancelled %ld "
                "(-1: not checked)\n    got:                           sent %zu, held %zu, "
                "cancelled %zu\n",
                t->exp_policy[0], t->exp_policy[1], t->exp_policy[2], got[0], got[1], got[2]);
    }
    json_decref(lines);
    iha_config_free(cfg);
    return pass;
}
