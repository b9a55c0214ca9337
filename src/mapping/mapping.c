/* SPDX-License-Identifier: Apache-2.0 */
/** @file mapping.c @brief Mapping rules: loading, validation and evaluation. */
#include "mapping.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "matcher.h"
#include "extract.h"
#include "yaml_tree.h"

#define RULE_NAME_MAX 127
/* Payload values longer than 255 bytes are refused by Instance HA anyway. */
#define VALUE_BUF 512

struct pfield {
    char *key;
    struct iha_extract *x;
};

/* What a rule sends for one alert status; !sends means "nothing". */
struct action {
    bool sends;
    struct pfield *fields;
    size_t n;
};

struct rule {
    char *name;
    char *origin;     /* "file:line:col" of the rule, for duplicate-name messages */
    unsigned sources; /* bit (1 << enum iha_source); 0 never happens after load */
    struct iha_matchers *matchers;
    enum iha_ntype type;
    struct iha_extract *hostname;
    struct action firing, resolved;
    bool cont;
    /* Kept for iha_ruleset_rule_info(): positions and the hostname's source labels. */
    char *file;
    struct iha_rule_pos pos, hostname_pos, firing_pos;
    struct iha_rule_pos *mpos; /* one per matcher */
    char **hsrc;
    size_t n_hsrc;
};

/* One alertname of the prefilter and the rules (ascending indices) that need it. */
struct ix_key {
    char *value;
    size_t *rules;
    size_t n;
};

struct iha_ruleset {
    struct rule *rules;
    size_t n, cap;
    /* alertname prefilter, rebuilt after every load: keys sorted by value */
    struct ix_key *keys;
    size_t n_keys;
    size_t *always; /* rules without a usable alertname matcher, ascending */
    size_t n_always;
    bool ix_ok;    /* the prefilter above is complete */
    bool no_index; /* iha_ruleset_set_index(rs, false) */
};

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

/* ---- rule set ---------------------------------------------------------- */

static void action_clear(struct action *a)
{
    for (size_t i = 0; i < a->n; i++) {
        free(a->fields[i].key);
        iha_extract_free(a->fields[i].x);
    }
    free(a->fields);
    memset(a, 0, sizeof(*a));
}

static void rule_clear(struct rule *r)
{
    free(r->name);
    free(r->origin);
    iha_matchers_free(r->matchers);
    iha_extract_free(r->hostname);
    action_clear(&r->firing);
    action_clear(&r->resolved);
    free(r->file);
    free(r->mpos);
    for (size_t i = 0; i < r->n_hsrc; i++)
        free(r->hsrc[i]);
    free(r->hsrc);
    memset(r, 0, sizeof(*r));
}

static void index_clear(struct iha_ruleset *rs)
{
    for (size_t i = 0; i < rs->n_keys; i++) {
        free(rs->keys[i].value);
        free(rs->keys[i].rules);
    }
    free(rs->keys);
    free(rs->always);
    rs->keys = NULL;
    rs->always = NULL;
    rs->n_keys = rs->n_always = 0;
    rs->ix_ok = false;
}

struct iha_ruleset *iha_ruleset_new(void)
{
    return calloc(1, sizeof(struct iha_ruleset));
}

void iha_ruleset_free(struct iha_ruleset *rs)
{
    if (!rs)
        return;
    for (size_t i = 0; i < rs->n; i++)
        rule_clear(&rs->rules[i]);
    free(rs->rules);
    index_clear(rs);
    free(rs);
}

size_t iha_ruleset_count(const struct iha_ruleset *rs)
{
    return rs ? rs->n : 0;
}

const char *iha_ruleset_rule_name(const struct iha_ruleset *rs, size_t i)
{
    return (rs && i < rs->n) ? rs->rules[i].name : NULL;
}

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

/* Like iha_ynode_kind_name() but calls a null scalar "null" (a missing value, not a string). */
static const char *what(const struct iha_ynode *n)
{
    return iha_ynode_is_null(n) ? "null" : iha_ynode_kind_name(n->kind);
}

static bool is_string(const struct iha_ynode *n)
{
    return n->kind == IHA_YNODE_SCALAR && !iha_ynode_is_null(n);
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

    if (is_string(n)) {
        if (iha_extract_new_literal(n->scalar, &x) != IHA_OK)
            ld->nomem = true;
        return x;
    }
    if (n->kind != IHA_YNODE_MAP) {
        error_at(ld, n, 0, "%s: expected a string or an extraction mapping, got %s", where,
                 what(n));
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
        error_at(ld, sl, 0, "%s.source_labels: expected a list, got %s", where, what(sl));
    } else if (sl->n_items == 0) {
        error_at(ld, sl, 0, "%s.source_labels: must name at least one label", where);
    } else {
        labels = calloc(sl->n_items, sizeof(*labels));
        if (!labels) {
            ld->nomem = true;
            return NULL;
        }
        for (size_t i = 0; i < sl->n_items; i++) {
            if (!is_string(sl->items[i]))
                error_at(ld, sl->items[i], 0, "%s.source_labels: expected a string, got %s", where,
                         what(sl->items[i]));
            else
                labels[i] = sl->items[i]->scalar;
        }
        spec.source_labels = labels;
        spec.n_source_labels = sl->n_items;
    }
    if (sep && sep->kind != IHA_YNODE_SCALAR)
        error_at(ld, sep, 0, "%s.separator: expected a string, got %s", where, what(sep));
    else if (sep)
        spec.separator = sep->scalar; /* "" is a valid (empty) separator */
    if (re && !is_string(re))
        error_at(ld, re, 0, "%s.regex: expected a string, got %s", where, what(re));
    else if (re)
        spec.regex = re->scalar;
    if (rep && rep->kind != IHA_YNODE_SCALAR)
        error_at(ld, rep, 0, "%s.replacement: expected a string, got %s", where, what(rep));
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
        error_at(ld, n, 0, "%s: expected a mapping with 'payload', got %s", where, what(n));
        return;
    }
    check_keys(ld, n, action_keys, where);
    payload = iha_ynode_get(n, "payload");
    if (!payload || iha_ynode_is_null(payload))
        return;
    if (payload->kind != IHA_YNODE_MAP) {
        error_at(ld, payload, 0, "%s.payload: expected a mapping, got %s", where, what(payload));
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

        if (!is_string(k)) {
            error_at(ld, k, 0, "%s.payload: expected a string key, got %s", where, what(k));
            continue;
        }
        snprintf(fwhere, sizeof(fwhere), "%s.payload.%s", where, k->scalar);
        if (v->kind != IHA_YNODE_MAP && !is_string(v)) {
            error_at(ld, v, 0, "%s: expected a string or an extraction mapping, got %s", fwhere,
                     what(v));
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
    if (!is_string(n)) {
        error_at(ld, n, 0, "name: expected a string, got %s", what(n));
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
        error_at(ld, n, 0, "sources: expected a list, got %s", what(n));
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

        if (!is_string(s)) {
            error_at(ld, s, 0, "sources: expected a string, got %s", what(s));
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

    if (!is_string(s)) {
        error_at(ld, s, 0, "matchers: expected a string, got %s", what(s));
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
        error_at(ld, n, 0, "matchers: expected a list, got %s", what(n));
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
    if (!is_string(n)) {
        error_at(ld, n, 0, "type: expected a string, got %s", what(n));
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
    static const char *const yes[] = {"true", "True", "TRUE", NULL};
    static const char *const no[] = {"false", "False", "FALSE", NULL};

    if (!n)
        return;
    if (n->kind == IHA_YNODE_SCALAR && !n->quoted) {
        for (size_t i = 0; yes[i]; i++)
            if (strcmp(n->scalar, yes[i]) == 0) {
                r->cont = true;
                return;
            }
        for (size_t i = 0; no[i]; i++)
            if (strcmp(n->scalar, no[i]) == 0)
                return;
    }
    if (n->kind == IHA_YNODE_SCALAR)
        error_at(ld, n, 0, "continue: expected true or false, got '%s'", n->scalar);
    else
        error_at(ld, n, 0, "continue: expected true or false, got %s", what(n));
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
        if (!is_string(sl->items[i]))
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
        error_at(ld, item, 0, "rules: expected a mapping (one rule), got %s", what(item));
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
        error_at(ld, root, 0, "expected a mapping with 'rules', got %s", what(root));
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
        error_at(ld, rules, 0, "rules: expected a list, got %s", what(rules));
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

/* ---- alertname prefilter ------------------------------------------------- */

struct ix_pair {
    char *value;
    size_t rule;
};

/* A regex that is a plain alternation of literal names matches exactly those names. */
static bool literal_alternation(const char *re)
{
    for (const char *p = re; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '_' || *p == '-' || *p == ':' || *p == '|'))
            return false;
    return true;
}

static enum iha_rc pair_push(struct ix_pair **pairs, size_t *n, size_t *cap, const char *v,
                             size_t len, size_t rule)
{
    if (*n == *cap) {
        size_t ncap = *cap ? *cap * 2 : 64;
        struct ix_pair *grown = realloc(*pairs, ncap * sizeof(*grown));

        if (!grown)
            return IHA_E_NOMEM;
        *pairs = grown;
        *cap = ncap;
    }
    (*pairs)[*n].value = strndup(v, len);
    if (!(*pairs)[*n].value)
        return IHA_E_NOMEM;
    (*pairs)[*n].rule = rule;
    (*n)++;
    return IHA_OK;
}

/*
 * Adds the alertnames rule @p i can match to @p pairs.
 * @return IHA_OK with *indexed false when the rule has no usable alertname matcher.
 */
static enum iha_rc ix_rule_keys(const struct rule *r, size_t i, struct ix_pair **pairs, size_t *n,
                                size_t *cap, bool *indexed)
{
    const struct iha_matchers *m = r->matchers;
    size_t count = iha_matchers_count(m), re = count;
    enum iha_matcher_op op;
    const char *name, *value;

    *indexed = false;
    for (size_t k = 0; k < count; k++) {
        if (!iha_matchers_get(m, k, &name, &op, &value) || strcmp(name, "alertname") != 0)
            continue;
        if (op == IHA_MATCHER_EQ) {
            *indexed = true;
            return pair_push(pairs, n, cap, value, strlen(value), i);
        }
        if (op == IHA_MATCHER_RE && re == count && literal_alternation(value))
            re = k;
    }
    if (re == count)
        return IHA_OK;
    iha_matchers_get(m, re, NULL, NULL, &value);
    /* Belt and braces: every alternative must really be accepted by the compiled regex. */
    for (const char *p = value;; p++) {
        const char *bar = strchr(p, '|');
        size_t len = bar ? (size_t)(bar - p) : strlen(p);
        char one[256];

        if (len >= sizeof(one))
            return IHA_OK;
        memcpy(one, p, len);
        one[len] = '\0';
        if (!iha_matchers_accepts(m, re, one))
            return IHA_OK;
        if (!bar)
            break;
        p = bar;
    }
    for (const char *p = value;; p++) {
        const char *bar = strchr(p, '|');
        size_t len = bar ? (size_t)(bar - p) : strlen(p);
        enum iha_rc rc = pair_push(pairs, n, cap, p, len, i);

        if (rc != IHA_OK)
            return rc;
        if (!bar)
            break;
        p = bar;
    }
    *indexed = true;
    return IHA_OK;
}

static int pair_cmp(const void *a, const void *b)
{
    const struct ix_pair *x = a, *y = b;
    int c = strcmp(x->value, y->value);

    if (c)
        return c;
    return x->rule < y->rule ? -1 : x->rule > y->rule;
}

/* Rebuilds the prefilter over all rules; on failure the rule set has no index (still correct). */
static enum iha_rc index_build(struct iha_ruleset *rs)
{
    struct ix_pair *pairs = NULL;
    size_t n = 0, cap = 0;
    enum iha_rc rc = IHA_E_NOMEM;

    index_clear(rs);
    rs->always = malloc((rs->n ? rs->n : 1) * sizeof(*rs->always));
    if (!rs->always)
        goto cleanup;
    for (size_t i = 0; i < rs->n; i++) {
        bool indexed;

        rc = ix_rule_keys(&rs->rules[i], i, &pairs, &n, &cap, &indexed);
        if (rc != IHA_OK)
            goto cleanup;
        if (!indexed)
            rs->always[rs->n_always++] = i;
    }
    rc = IHA_E_NOMEM;
    if (n)
        qsort(pairs, n, sizeof(*pairs), pair_cmp);
    rs->keys = calloc(n ? n : 1, sizeof(*rs->keys));
    if (!rs->keys)
        goto cleanup;
    for (size_t i = 0; i < n;) {
        size_t j = i;
        struct ix_key *k = &rs->keys[rs->n_keys];

        while (j < n && strcmp(pairs[j].value, pairs[i].value) == 0)
            j++;
        k->rules = malloc((j - i) * sizeof(*k->rules));
        if (!k->rules)
            goto cleanup;
        k->value = pairs[i].value;
        pairs[i].value = NULL;
        rs->n_keys++;
        for (size_t t = i; t < j; t++)
            if (k->n == 0 || k->rules[k->n - 1] != pairs[t].rule)
                k->rules[k->n++] = pairs[t].rule;
        i = j;
    }
    rs->ix_ok = true;
    rc = IHA_OK;
cleanup:
    for (size_t i = 0; i < n; i++)
        free(pairs[i].value);
    free(pairs);
    if (rc != IHA_OK)
        index_clear(rs);
    return rc;
}

static const struct ix_key *index_find(const struct iha_ruleset *rs, const char *value)
{
    size_t lo = 0, hi = rs->n_keys;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(value, rs->keys[mid].value);

        if (c == 0)
            return &rs->keys[mid];
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
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
    rc = index_build(rs);

cleanup:
    for (size_t i = 0; i < ld.n; i++)
        rule_clear(&ld.rules[i]);
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
    const struct ix_key *k = index_find(rs, iha_alert_label(a, "alertname"));
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

/* ---- read-only views --------------------------------------------------- */

static const struct iha_extract *action_field(const struct action *act, const char *key)
{
    for (size_t i = 0; i < act->n; i++)
        if (strcmp(act->fields[i].key, key) == 0)
            return act->fields[i].x;
    return NULL;
}

bool iha_ruleset_rule_info(const struct iha_ruleset *rs, size_t i, struct iha_rule_info *info)
{
    const struct rule *r;

    if (!rs || i >= rs->n || !info)
        return false;
    r = &rs->rules[i];
    memset(info, 0, sizeof(*info));
    info->name = r->name;
    info->pos = r->pos;
    info->sources = r->sources;
    info->matchers = r->matchers;
    info->matcher_pos = r->mpos;
    info->type = r->type;
    info->hostname = r->hostname;
    info->hostname_pos = r->hostname_pos;
    info->hostname_sources = (const char *const *)r->hsrc;
    info->n_hostname_sources = r->n_hsrc;
    info->firing_sends = r->firing.sends;
    info->resolved_sends = r->resolved.sends;
    info->firing_pos = r->firing_pos;
    info->firing_event = action_field(&r->firing, "event");
    info->firing_host_status = action_field(&r->firing, "host_status");
    info->cont = r->cont;
    return true;
}

void iha_ruleset_set_index(struct iha_ruleset *rs, bool on)
{
    if (rs)
        rs->no_index = !on;
}

size_t iha_ruleset_unindexed_count(const struct iha_ruleset *rs)
{
    if (!rs)
        return 0;
    return rs->ix_ok ? rs->n_always : rs->n;
}
