/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file mapping_load.c
 * @brief Loading rule files: YAML tree to compiled rules, with every error reported.
 *
 * Separate from evaluation: it runs only at start and reload, reports problems with
 * file:line:column into a diag and adds a file's rules all or nothing, while the
 * evaluation side runs per alert and never sees a half-loaded rule.
 */
#include "mapping_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "yaml_tree.h"

#define RULE_NAME_MAX 127

/* State of loading one file: errors are counted, rules collected until the file is clean. */
struct loader {
    const struct iha_ruleset *rs;
    struct iha_diag *diag;
    size_t errors;
    bool nomem;
    struct rule *rules;
    size_t n, cap;
};

#define ALL_SOURCES                                                                                \
    ((1u << IHA_SOURCE_ALERTMANAGER) | (1u << IHA_SOURCE_NAGIOS) | (1u << IHA_SOURCE_NATIVE))

static const char *const top_keys[] = {"rules", NULL};
static const char *const rule_keys[] = {"name",   "sources",  "matchers", "type", "hostname",
                                        "firing", "resolved", "continue", NULL};
static const char *const action_keys[] = {"payload", NULL};
static const char *const extract_keys[] = {"source_labels", "separator", "regex", "replacement",
                                           NULL};
static const char *const source_names[] = {"alertmanager", "nagios", "native", NULL};
static const char *const type_names[] = {"COMPUTE_HOST",    "VM", "PROCESS", "COMPUTE_INSTANCE",
                                         "COMPUTE_PROCESS", NULL};

/* ---- diagnostics ------------------------------------------------------- */

static void error_at(struct loader *ld, const struct iha_ynode *n, unsigned col, const char *fmt,
                     ...) IHA_PRINTF(4, 5);

/* Reports an error at @p n (at column @p col when non-zero). */
static void error_at(struct loader *ld, const struct iha_ynode *n, unsigned col, const char *fmt,
                     ...)
{
    char msg[768];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    iha_diag_add(ld->diag, IHA_DIAG_ERROR, n->file, n->line, col ? col : n->col, "%s", msg);
    ld->errors++;
}

/* Column inside a scalar's text for a 1-based offset reported by a sub-parser. */
static unsigned inner_col(const struct iha_ynode *n, unsigned offset)
{
    if (n->kind != IHA_YNODE_SCALAR || !n->text_col || offset == 0)
        return n->col;
    return n->text_col + offset - 1;
}

/* Reports every key of @p map outside @p allowed (counted in ld->errors). */
static void check_keys(struct loader *ld, const struct iha_ynode *map, const char *const *allowed,
                       const char *where)
{
    ld->errors += iha_ytree_check_keys(map, allowed, where, ld->diag);
}

/* ---- compiling one rule ------------------------------------------------ */

static char *dup_or_flag(struct loader *ld, const char *s)
{
    char *d = strdup(s);

    if (!d)
        ld->nomem = true;
    return d;
}

/* Compiles a literal string or an extraction mapping; NULL after an error or OOM. */
static struct iha_extract *compile_extract(struct loader *ld, const struct iha_ynode *n,
                                           const char *where)
{
    struct iha_extract_spec spec;
    struct iha_extract *x = NULL;
    struct iha_err err;
    const struct iha_ynode *sl, *sep, *re, *rep;
    const char **labels = NULL;
    size_t errors = ld->errors;
    enum iha_rc rc;

    if (iha_ynode_is_string(n)) {
        if (iha_extract_new_literal(n->scalar, &x) != IHA_OK)
            ld->nomem = true;
        return x;
    }
    if (n->kind != IHA_YNODE_MAP) {
        error_at(ld, n, 0, "%s: expected a string or an extraction mapping, got %s", where,
                 iha_ynode_what(n));
        return NULL;
    }
    check_keys(ld, n, extract_keys, where);
    memset(&spec, 0, sizeof(spec));
    sl = iha_ynode_get(n, "source_labels");
    sep = iha_ynode_get(n, "separator");
    re = iha_ynode_get(n, "regex");
    rep = iha_ynode_get(n, "replacement");
    if (!sl) {
        error_at(ld, n, 0, "%s: missing 'source_labels'", where);
    } else if (sl->kind != IHA_YNODE_SEQ) {
        error_at(ld, sl, 0, "%s.source_labels: expected a list, got %s", where, iha_ynode_what(sl));
    } else if (sl->n_items == 0) {
        error_at(ld, sl, 0, "%s.source_labels: must name at least one label", where);
    } else {
        labels = calloc(sl->n_items, sizeof(*labels));
        if (!labels) {
            ld->nomem = true;
            return NULL;
        }
        for (size_t i = 0; i < sl->n_items; i++) {
            if (!iha_ynode_is_string(sl->items[i]))
                error_at(ld, sl->items[i], 0, "%s.source_labels: expected a string, got %s", where,
                         iha_ynode_what(sl->items[i]));
            else
                labels[i] = sl->items[i]->scalar;
        }
        spec.source_labels = labels;
        spec.n_source_labels = sl->n_items;
    }
    if (sep && sep->kind != IHA_YNODE_SCALAR)
        error_at(ld, sep, 0, "%s.separator: expected a string, got %s", where, iha_ynode_what(sep));
    else if (sep)
        spec.separator = sep->scalar; /* "" is a valid (empty) separator */
    if (re && !iha_ynode_is_string(re))
        error_at(ld, re, 0, "%s.regex: expected a string, got %s", where, iha_ynode_what(re));
    else if (re)
        spec.regex = re->scalar;
    if (rep && rep->kind != IHA_YNODE_SCALAR)
        error_at(ld, rep, 0, "%s.replacement: expected a string, got %s", where,
                 iha_ynode_what(rep));
    else if (rep)
        spec.replacement = rep->scalar;
    if (ld->errors != errors)
        goto cleanup;

    iha_err_clear(&err);
    rc = iha_extract_new(&spec, &x, &err);
    if (rc == IHA_E_NOMEM) {
        ld->nomem = true;
    } else if (rc != IHA_OK) {
        const struct iha_ynode *at = n;

        if (strcmp(err.field, "regex") == 0 && re)
            at = re;
        else if (strcmp(err.field, "replacement") == 0 && rep)
            at = rep;
        error_at(ld, at, at == n ? 0 : inner_col(at, err.col), "%s.%s: %s", where,
                 err.field[0] ? err.field : "regex", err.msg);
        x = NULL;
    }

cleanup:
    free(labels);
    return x;
}

/* Checks a payload of literals only against the Instance HA schema, as a delivery would. */
static void check_literal_payload(struct loader *ld, const struct rule *r,
                                  const struct iha_ynode *payload, const char *where)
{
    struct iha_notification notif;
    struct iha_err err;
    const struct iha_ynode *at = payload;

    iha_notification_init(&notif);
    notif.type = r->type;
    /* The host name is usually extracted; any valid placeholder exercises the payload. */
    notif.hostname[0] = 'x';
    notif.payload = json_object();
    if (!notif.payload) {
        ld->nomem = true;
        return;
    }
    for (size_t i = 0; i + 1 < payload->n_items; i += 2) {
        json_t *v = json_string(payload->items[i + 1]->scalar);

        if (!v || json_object_set_new(notif.payload, payload->items[i]->scalar, v) != 0) {
            /* Not UTF-8 would be refused by libyaml already: this is memory. */
            ld->nomem = true;
            goto cleanup;
        }
    }
    iha_err_clear(&err);
    if (iha_notification_validate(&notif, &err) == IHA_OK)
        goto cleanup;
    if (strncmp(err.field, "payload.", 8) == 0) {
        for (size_t i = 0; i + 1 < payload->n_items; i += 2)
            if (strcmp(payload->items[i]->scalar, err.field + 8) == 0)
                at = payload->items[i + 1];
    }
    error_at(ld, at, 0, "%s: not a valid %s notification: %s", where,
             iha_ntype_name(r->type, IHA_DIALECT_MASAKARI), err.msg);

cleanup:
    iha_notification_clear(&notif);
}

/* Compiles `firing:` or `resolved:` (@p n may be NULL: absent). */
static void compile_action(struct loader *ld, struct rule *r, const struct iha_ynode *n,
                           const char *where, bool check, struct action *out)
{
    const struct iha_ynode *payload;
    char fwhere[256];
    bool literal_only = true;
    size_t errors = ld->errors;

    if (!n || iha_ynode_is_null(n))
        return;
    if (n->kind != IHA_YNODE_MAP) {
        error_at(ld, n, 0, "%s: expected a mapping with 'payload', got %s", where,
                 iha_ynode_what(n));
        return;
    }
    check_keys(ld, n, action_keys, where);
    payload = iha_ynode_get(n, "payload");
    if (!payload || iha_ynode_is_null(payload))
        return;
    if (payload->kind != IHA_YNODE_MAP) {
        error_at(ld, payload, 0, "%s.payload: expected a mapping, got %s", where,
                 iha_ynode_what(payload));
        return;
    }
    out->sends = true;
    if (payload->n_items == 0)
        goto check;
    out->fields = calloc(payload->n_items / 2, sizeof(*out->fields));
    if (!out->fields) {
        ld->nomem = true;
        return;
    }
    for (size_t i = 0; i + 1 < payload->n_items; i += 2) {
        const struct iha_ynode *k = payload->items[i], *v = payload->items[i + 1];
        struct pfield *f = &out->fields[out->n];

        if (!iha_ynode_is_string(k)) {
            error_at(ld, k, 0, "%s.payload: expected a string key, got %s", where,
                     iha_ynode_what(k));
            continue;
        }
        snprintf(fwhere, sizeof(fwhere), "%s.payload.%s", where, k->scalar);
        if (v->kind != IHA_YNODE_MAP && !iha_ynode_is_string(v)) {
            error_at(ld, v, 0, "%s: expected a string or an extraction mapping, got %s", fwhere,
                     iha_ynode_what(v));
            continue;
        }
        if (v->kind == IHA_YNODE_MAP)
            literal_only = false;
        f->x = compile_extract(ld, v, fwhere);
        if (!f->x)
            continue;
        f->key = dup_or_flag(ld, k->scalar);
        if (!f->key) {
            iha_extract_free(f->x);
            f->x = NULL;
            continue;
        }
        out->n++;
    }
check:
    /* An extracted value is only known per alert; literal payloads can be checked now. */
    if (check && literal_only && ld->errors == errors && !ld->nomem)
        check_literal_payload(ld, r, payload, where);
}

static const struct rule *find_rule(const struct rule *rules, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (rules[i].name && strcmp(rules[i].name, name) == 0)
            return &rules[i];
    return NULL;
}

static void compile_name(struct loader *ld, struct rule *r, const struct iha_ynode *item)
{
    const struct iha_ynode *n = iha_ynode_get(item, "name");
    const struct rule *dup;
    char origin[320];

    if (!n) {
        error_at(ld, item, 0, "rule: missing 'name'");
        return;
    }
    if (!iha_ynode_is_string(n)) {
        error_at(ld, n, 0, "name: expected a string, got %s", iha_ynode_what(n));
        return;
    }
    if (n->scalar[0] == '\0') {
        error_at(ld, n, 0, "name: must not be empty");
        return;
    }
    if (strlen(n->scalar) > RULE_NAME_MAX) {
        error_at(ld, n, 0, "name: longer than %d bytes", RULE_NAME_MAX);
        return;
    }
    dup = find_rule(ld->rs->rules, ld->rs->n, n->scalar);
    if (!dup)
        dup = find_rule(ld->rules, ld->n, n->scalar);
    if (dup) {
        error_at(ld, n, 0, "duplicate rule name '%s' (first defined at %s)", n->scalar,
                 dup->origin);
        return;
    }
    snprintf(origin, sizeof(origin), "%s:%u:%u", item->file, item->line, item->col);
    r->name = dup_or_flag(ld, n->scalar);
    r->origin = dup_or_flag(ld, origin);
}

static void compile_sources(struct loader *ld, struct rule *r, const struct iha_ynode *n)
{
    r->sources = ALL_SOURCES;
    if (!n)
        return;
    if (n->kind != IHA_YNODE_SEQ) {
        error_at(ld, n, 0, "sources: expected a list, got %s", iha_ynode_what(n));
        return;
    }
    if (n->n_items == 0) {
        error_at(ld, n, 0, "sources: an empty list would never match; omit it for all sources");
        return;
    }
    r->sources = 0;
    for (size_t i = 0; i < n->n_items; i++) {
        const struct iha_ynode *s = n->items[i];
        enum iha_source src;
        const char *hint;

        if (!iha_ynode_is_string(s)) {
            error_at(ld, s, 0, "sources: expected a string, got %s", iha_ynode_what(s));
        } else if (iha_source_parse(s->scalar, &src) == 0) {
            r->sources |= 1u << src;
        } else if ((hint = iha_ytree_suggest(s->scalar, source_names)) != NULL) {
            error_at(ld, s, 0,
                     "sources: unknown source '%s' (did you mean '%s'?); expected alertmanager, "
                     "nagios or native",
                     s->scalar, hint);
        } else {
            error_at(ld, s, 0,
                     "sources: unknown source '%s'; expected alertmanager, nagios or native",
                     s->scalar);
        }
    }
}

/* Remembers where the matchers added from @p s came from (for lint messages). */
static void record_matcher_pos(struct loader *ld, struct rule *r, const struct iha_ynode *s,
                               size_t before)
{
    size_t after = iha_matchers_count(r->matchers);
    struct iha_rule_pos *grown = realloc(r->mpos, (after ? after : 1) * sizeof(*grown));

    if (!grown) {
        ld->nomem = true;
        return;
    }
    r->mpos = grown;
    for (size_t i = before; i < after; i++) {
        grown[i].file = NULL; /* set to r->file once the rule is complete */
        grown[i].line = s->line;
        grown[i].col = s->col;
    }
}

static void add_matcher(struct loader *ld, struct rule *r, const struct iha_ynode *s)
{
    struct iha_err err;
    size_t before;
    enum iha_rc rc;

    if (!iha_ynode_is_string(s)) {
        error_at(ld, s, 0, "matchers: expected a string, got %s", iha_ynode_what(s));
        return;
    }
    iha_err_clear(&err);
    before = iha_matchers_count(r->matchers);
    rc = iha_matchers_add(r->matchers, s->scalar, &err);
    if (rc == IHA_OK)
        record_matcher_pos(ld, r, s, before);
    if (rc == IHA_E_NOMEM)
        ld->nomem = true;
    else if (rc == IHA_E_LIMIT)
        error_at(ld, s, 0, "matchers: too many matchers in one rule");
    else if (rc != IHA_OK)
        error_at(ld, s, inner_col(s, err.col), "matchers: invalid matcher: %s", err.msg);
}

static void compile_matchers(struct loader *ld, struct rule *r, const struct iha_ynode *n)
{
    r->matchers = iha_matchers_new();
    if (!r->matchers) {
        ld->nomem = true;
        return;
    }
    if (!n || iha_ynode_is_null(n))
        return;
    /* One string may hold a whole braced list, as in Alertmanager's `matchers:`. */
    if (n->kind == IHA_YNODE_SCALAR) {
        add_matcher(ld, r, n);
        return;
    }
    if (n->kind != IHA_YNODE_SEQ) {
        error_at(ld, n, 0, "matchers: expected a list, got %s", iha_ynode_what(n));
        return;
    }
    for (size_t i = 0; i < n->n_items && !ld->nomem; i++)
        add_matcher(ld, r, n->items[i]);
}

/* @return false when the type is missing or invalid (already reported). */
static bool compile_type(struct loader *ld, struct rule *r, const struct iha_ynode *item)
{
    const struct iha_ynode *n = iha_ynode_get(item, "type");
    const char *hint;

    if (!n) {
        error_at(ld, item, 0, "rule: missing 'type'");
        return false;
    }
    if (!iha_ynode_is_string(n)) {
        error_at(ld, n, 0, "type: expected a string, got %s", iha_ynode_what(n));
        return false;
    }
    if (iha_ntype_parse(n->scalar, &r->type) == 0)
        return true;
    hint = iha_ytree_suggest(n->scalar, type_names);
    error_at(ld, n, 0,
             "type: unknown type '%s'%s%s%s; expected COMPUTE_HOST, VM or PROCESS (or "
             "COMPUTE_INSTANCE, COMPUTE_PROCESS)",
             n->scalar, hint ? " (did you mean '" : "", hint ? hint : "", hint ? "'?)" : "");
    return false;
}

static void compile_continue(struct loader *ld, struct rule *r, const struct iha_ynode *n)
{
    bool cont;

    if (!n)
        return;
    if (iha_ynode_bool(n, &cont)) {
        if (cont)
            r->cont = true;
        return;
    }
    if (n->kind == IHA_YNODE_SCALAR)
        error_at(ld, n, 0, "continue: expected true or false, got '%s'", n->scalar);
    else
        error_at(ld, n, 0, "continue: expected true or false, got %s", iha_ynode_what(n));
}

static void set_pos(struct iha_rule_pos *p, const char *file, const struct iha_ynode *n)
{
    p->file = file;
    p->line = n ? n->line : 0;
    p->col = n ? n->col : 0;
}

/* Keeps what iha_ruleset_rule_info() shows: positions and the hostname's source labels. */
static void record_info(struct loader *ld, struct rule *r, const struct iha_ynode *item,
                        const struct iha_ynode *host)
{
    const struct iha_ynode *sl =
        host && host->kind == IHA_YNODE_MAP ? iha_ynode_get(host, "source_labels") : NULL;

    r->file = dup_or_flag(ld, item->file ? item->file : "");
    if (!r->file)
        return;
    set_pos(&r->pos, r->file, item);
    set_pos(&r->hostname_pos, r->file, host);
    set_pos(&r->firing_pos, r->file, iha_ynode_get(item, "firing"));
    for (size_t i = 0; i < iha_matchers_count(r->matchers) && r->mpos; i++)
        r->mpos[i].file = r->file;
    if (!sl || sl->kind != IHA_YNODE_SEQ || sl->n_items == 0)
        return;
    r->hsrc = calloc(sl->n_items, sizeof(*r->hsrc));
    if (!r->hsrc) {
        ld->nomem = true;
        return;
    }
    for (size_t i = 0; i < sl->n_items; i++) {
        if (!iha_ynode_is_string(sl->items[i]))
            continue;
        r->hsrc[r->n_hsrc] = dup_or_flag(ld, sl->items[i]->scalar);
        if (!r->hsrc[r->n_hsrc])
            return;
        r->n_hsrc++;
    }
}

static void compile_rule(struct loader *ld, const struct iha_ynode *item, struct rule *r)
{
    const struct iha_ynode *host;
    bool type_ok, check;

    if (item->kind != IHA_YNODE_MAP) {
        error_at(ld, item, 0, "rules: expected a mapping (one rule), got %s", iha_ynode_what(item));
        return;
    }
    check_keys(ld, item, rule_keys, "rule");
    compile_name(ld, r, item);
    compile_sources(ld, r, iha_ynode_get(item, "sources"));
    compile_matchers(ld, r, iha_ynode_get(item, "matchers"));
    type_ok = compile_type(ld, r, item);
    host = iha_ynode_get(item, "hostname");
    if (!host)
        error_at(ld, item, 0, "rule: missing 'hostname'");
    else
        r->hostname = compile_extract(ld, host, "hostname");
    compile_continue(ld, r, iha_ynode_get(item, "continue"));
    record_info(ld, r, item, host);
    if (ld->nomem)
        return;
    /* Without a valid type the schema check of literal payloads would only add noise. */
    check = type_ok && r->hostname;
    compile_action(ld, r, iha_ynode_get(item, "firing"), "firing", check, &r->firing);
    compile_action(ld, r, iha_ynode_get(item, "resolved"), "resolved", check, &r->resolved);
}

static enum iha_rc load_tree(struct loader *ld, const struct iha_ynode *root)
{
    const struct iha_ynode *rules;

    if (root->kind != IHA_YNODE_MAP) {
        error_at(ld, root, 0, "expected a mapping with 'rules', got %s", iha_ynode_what(root));
        return IHA_OK;
    }
    check_keys(ld, root, top_keys, "top level");
    rules = iha_ynode_get(root, "rules");
    if (!rules) {
        error_at(ld, root, 0, "missing 'rules'");
        return IHA_OK;
    }
    if (iha_ynode_is_null(rules))
        return IHA_OK;
    if (rules->kind != IHA_YNODE_SEQ) {
        error_at(ld, rules, 0, "rules: expected a list, got %s", iha_ynode_what(rules));
        return IHA_OK;
    }
    if (ld->rs->n + rules->n_items > IHA_MAPPING_MAX_RULES) {
        error_at(ld, rules, 0, "rules: more than %d rules in total", IHA_MAPPING_MAX_RULES);
        return IHA_OK;
    }
    ld->cap = rules->n_items;
    ld->rules = calloc(ld->cap ? ld->cap : 1, sizeof(*ld->rules));
    if (!ld->rules)
        return IHA_E_NOMEM;
    for (size_t i = 0; i < rules->n_items; i++) {
        /* Counted before compiling so duplicate-name checks see earlier rules only. */
        compile_rule(ld, rules->items[i], &ld->rules[ld->n++]);
        if (ld->nomem)
            return IHA_E_NOMEM;
    }
    return IHA_OK;
}

static enum iha_rc load_parsed(struct iha_ruleset *rs, const struct iha_ynode *root,
                               struct iha_diag *diag)
{
    struct loader ld;
    enum iha_rc rc;

    memset(&ld, 0, sizeof(ld));
    ld.rs = rs;
    ld.diag = diag;
    rc = load_tree(&ld, root);
    if (rc != IHA_OK)
        goto cleanup;
    if (ld.nomem) {
        rc = IHA_E_NOMEM;
        goto cleanup;
    }
    if (ld.errors) {
        rc = IHA_E_CONFIG;
        goto cleanup;
    }
    if (rs->n + ld.n > rs->cap) {
        size_t cap = rs->cap ? rs->cap : 16;
        struct rule *grown;

        while (cap < rs->n + ld.n)
            cap *= 2;
        grown = realloc(rs->rules, cap * sizeof(*grown));
        if (!grown) {
            rc = IHA_E_NOMEM;
            goto cleanup;
        }
        rs->rules = grown;
        rs->cap = cap;
    }
    if (ld.n)
        memcpy(rs->rules + rs->n, ld.rules, ld.n * sizeof(*ld.rules));
    rs->n += ld.n;
    ld.n = 0; /* moved */
    rc = iha_mapping_index_build(rs);

cleanup:
    for (size_t i = 0; i < ld.n; i++)
        iha_mapping_rule_clear(&ld.rules[i]);
    free(ld.rules);
    return rc;
}

static enum iha_rc parse_rc(enum iha_rc rc)
{
    /* Parse problems are already in the diag; for the caller they are config errors. */
    return (rc == IHA_E_PARSE || rc == IHA_E_LIMIT) ? IHA_E_CONFIG : rc;
}

enum iha_rc iha_ruleset_load(struct iha_ruleset *rs, const char *name, const char *text, size_t len,
                             struct iha_diag *diag)
{
    struct iha_ynode *root = NULL;
    enum iha_rc rc;

    rc = iha_ytree_parse(name, text, len, &root, diag);
    if (rc != IHA_OK)
        return parse_rc(rc);
    rc = load_parsed(rs, root, diag);
    iha_ynode_free(root);
    return rc;
}

enum iha_rc iha_ruleset_load_file(struct iha_ruleset *rs, const char *path, struct iha_diag *diag)
{
    struct iha_ynode *root = NULL;
    enum iha_rc rc;

    rc = iha_ytree_parse_file(path, &root, diag);
    if (rc != IHA_OK)
        return parse_rc(rc);
    rc = load_parsed(rs, root, diag);
    iha_ynode_free(root);
    return rc;
}
