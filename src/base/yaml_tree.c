/* SPDX-License-Identifier: Apache-2.0 */
/** @file yaml_tree.c @brief libyaml events turned into a positioned node tree. */
#include "yaml_tree.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#define YTREE_MAX_DEPTH 64
#define YTREE_MAX_NODES 100000
#define YTREE_MAX_FILE (4u * 1024u * 1024u)

/*
 * The root node is allocated together with the copy of the file name, so every
 * node can borrow the name and freeing the root releases it.
 */
struct root_block {
    struct iha_ynode node;
    char name[];
};

struct builder {
    const char *file; /* the copy in the root block once the root exists */
    const char *name; /* the caller's name, until the root exists */
    struct iha_ynode *root;
    struct iha_ynode *stack[YTREE_MAX_DEPTH];
    size_t depth;
    size_t nodes;
    size_t dup_keys; /* duplicate keys reported; any makes the parse fail */
    struct iha_diag *diag;
};

static void free_children(struct iha_ynode *n)
{
    for (size_t i = 0; i < n->n_items; i++) {
        free_children(n->items[i]);
        free(n->items[i]);
    }
    free(n->items);
    free(n->scalar);
}

void iha_ynode_free(struct iha_ynode *root)
{
    if (!root)
        return;
    free_children(root);
    /* The root is always the node member at offset 0 of its root_block. */
    free(root);
}

static struct iha_ynode *node_new(struct builder *b, enum iha_ynode_kind kind,
                                  const yaml_mark_t *mark)
{
    struct iha_ynode *n;

    if (!b->root) {
        size_t len = strlen(b->name);
        struct root_block *rb = calloc(1, sizeof(*rb) + len + 1);

        if (!rb)
            return NULL;
        memcpy(rb->name, b->name, len + 1);
        b->file = rb->name;
        n = &rb->node;
    } else {
        n = calloc(1, sizeof(*n));
        if (!n)
            return NULL;
    }
    n->kind = kind;
    n->line = (unsigned)mark->line + 1;
    n->col = (unsigned)mark->column + 1;
    n->file = b->file;
    return n;
}

static enum iha_rc append_item(struct iha_ynode *parent, struct iha_ynode *child)
{
    /* The capacity is implied by the count: 4, then doubled at each power of two. */
    size_t n = parent->n_items;

    if (n == 0 || (n >= 4 && (n & (n - 1)) == 0)) {
        size_t cap = n ? n * 2 : 4;
        struct iha_ynode **items = realloc(parent->items, cap * sizeof(*items));

        if (!items)
            return IHA_E_NOMEM;
        parent->items = items;
    }
    parent->items[n] = child;
    parent->n_items = n + 1;
    return IHA_OK;
}

static int cmp_key(const void *a, const void *b)
{
    const struct iha_ynode *x = *(const struct iha_ynode *const *)a;
    const struct iha_ynode *y = *(const struct iha_ynode *const *)b;
    int c = strcmp(x->scalar, y->scalar);

    if (c != 0)
        return c;
    /* Stable by position so the first occurrence is reported as the original. */
    if (x->line != y->line)
        return x->line < y->line ? -1 : 1;
    return x->col < y->col ? -1 : (x->col > y->col);
}

/*
 * YAML requires unique keys but libyaml does not check; a repeated key in a
 * config silently overriding the first is a classic outage, so refuse it.
 */
static enum iha_rc check_dup_keys(struct builder *b, const struct iha_ynode *map)
{
    size_t pairs = map->n_items / 2, n = 0;
    const struct iha_ynode **keys;

    if (pairs < 2)
        return IHA_OK;
    keys = malloc(pairs * sizeof(*keys));
    if (!keys)
        return IHA_E_NOMEM;
    for (size_t i = 0; i < pairs; i++)
        if (map->items[2 * i]->kind == IHA_YNODE_SCALAR)
            keys[n++] = map->items[2 * i];
    qsort(keys, n, sizeof(*keys), cmp_key);
    for (size_t i = 1; i < n; i++) {
        if (strcmp(keys[i]->scalar, keys[i - 1]->scalar) != 0)
            continue;
        size_t first = i - 1;
        while (first > 0 && strcmp(keys[first - 1]->scalar, keys[i]->scalar) == 0)
            first--;
        iha_diag_add(b->diag, IHA_DIAG_ERROR, b->file, keys[i]->line, keys[i]->col,
                     "duplicate key '%s' (first at line %u)", keys[i]->scalar, keys[first]->line);
        b->dup_keys++;
    }
    free(keys);
    return IHA_OK;
}

/* Sets text_col when the scalar's source text is exactly its value on one line. */
static void set_text_col(struct iha_ynode *n, const yaml_event_t *ev)
{
    const yaml_mark_t *s = &ev->start_mark, *e = &ev->end_mark;
    size_t len = strlen(n->scalar), span;

    if (s->line != e->line || e->column < s->column)
        return;
    span = e->column - s->column;
    switch (ev->data.scalar.style) {
    case YAML_PLAIN_SCALAR_STYLE:
        if (span == len)
            n->text_col = n->col;
        break;
    case YAML_SINGLE_QUOTED_SCALAR_STYLE:
    case YAML_DOUBLE_QUOTED_SCALAR_STYLE:
        if (span == len + 2)
            n->text_col = n->col + 1;
        break;
    default:
        break;
    }
}

static void report_parser_error(struct builder *b, const yaml_parser_t *p)
{
    const char *problem = p->problem ? p->problem : "unknown YAML error";

    if (p->error == YAML_READER_ERROR) {
        /* Reader errors (bad encoding) only know a byte offset, not a line. */
        iha_diag_add(b->diag, IHA_DIAG_ERROR, b->file ? b->file : b->name, 0, 0,
                     "%s at byte offset %zu", problem, p->problem_offset);
        return;
    }
    if (p->error == YAML_MEMORY_ERROR)
        return;
    if (p->context)
        iha_diag_add(b->diag, IHA_DIAG_ERROR, b->file ? b->file : b->name,
                     (unsigned)p->problem_mark.line + 1, (unsigned)p->problem_mark.column + 1,
                     "%s %s (which started at line %u, column %u)", problem, p->context,
                     (unsigned)p->context_mark.line + 1, (unsigned)p->context_mark.column + 1);
    else
        iha_diag_add(b->diag, IHA_DIAG_ERROR, b->file ? b->file : b->name,
                     (unsigned)p->problem_mark.line + 1, (unsigned)p->problem_mark.column + 1, "%s",
                     problem);
}

static void report_at(struct builder *b, const yaml_mark_t *m, const char *msg)
{
    iha_diag_add(b->diag, IHA_DIAG_ERROR, b->file ? b->file : b->name, (unsigned)m->line + 1,
                 (unsigned)m->column + 1, "%s", msg);
}

/* Attaches @p n to the open collection (or makes it the root). Takes ownership. */
static enum iha_rc attach(struct builder *b, struct iha_ynode *n)
{
    enum iha_rc rc;

    if (b->depth == 0) {
        if (b->root != n) {
            /* Only one root per document; libyaml never emits a second one. */
            iha_ynode_free(n);
            return IHA_E_PARSE;
        }
        return IHA_OK;
    }
    rc = append_item(b->stack[b->depth - 1], n);
    if (rc != IHA_OK)
        free_children(n), free(n);
    return rc;
}

/* Handles one event. @return IHA_OK to go on, IHA_E_NOTFOUND when the document ended. */
static enum iha_rc handle_event(struct builder *b, const yaml_event_t *ev)
{
    struct iha_ynode *n = NULL;
    enum iha_rc rc;

    switch (ev->type) {
    case YAML_NO_EVENT:
    case YAML_STREAM_START_EVENT:
    case YAML_DOCUMENT_START_EVENT:
        return IHA_OK;
    case YAML_STREAM_END_EVENT:
    case YAML_DOCUMENT_END_EVENT:
        return IHA_E_NOTFOUND;
    case YAML_ALIAS_EVENT:
        report_at(b, &ev->start_mark, "aliases are not supported");
        return IHA_E_PARSE;
    case YAML_SCALAR_EVENT:
    case YAML_SEQUENCE_START_EVENT:
    case YAML_MAPPING_START_EVENT:
        break;
    case YAML_SEQUENCE_END_EVENT:
    case YAML_MAPPING_END_EVENT:
        if (b->depth == 0)
            return IHA_E_PARSE;
        b->depth--;
        if (ev->type == YAML_MAPPING_END_EVENT)
            return check_dup_keys(b, b->stack[b->depth]);
        return IHA_OK;
    }

    if ((ev->type == YAML_SCALAR_EVENT && ev->data.scalar.anchor) ||
        (ev->type == YAML_SEQUENCE_START_EVENT && ev->data.sequence_start.anchor) ||
        (ev->type == YAML_MAPPING_START_EVENT && ev->data.mapping_start.anchor)) {
        report_at(b, &ev->start_mark, "anchors are not supported");
        return IHA_E_PARSE;
    }
    if (++b->nodes > YTREE_MAX_NODES) {
        report_at(b, &ev->start_mark, "too many nodes (at most 100000)");
        return IHA_E_LIMIT;
    }
    if (ev->type != YAML_SCALAR_EVENT && b->depth >= YTREE_MAX_DEPTH) {
        report_at(b, &ev->start_mark, "nesting deeper than 64 levels");
        return IHA_E_LIMIT;
    }

    if (ev->type == YAML_SCALAR_EVENT) {
        /* A "\0" escape would silently cut the string where C code reads it. */
        if (memchr(ev->data.scalar.value, '\0', ev->data.scalar.length)) {
            iha_diag_add(b->diag, IHA_DIAG_ERROR, b->file ? b->file : b->name,
                         (unsigned)ev->start_mark.line + 1, (unsigned)ev->start_mark.column + 1,
                         "a string may not contain a NUL character");
            return IHA_E_PARSE;
        }
        n = node_new(b, IHA_YNODE_SCALAR, &ev->start_mark);
        if (!n)
            return IHA_E_NOMEM;
        if (!b->root)
            b->root = n;
        n->scalar = malloc(ev->data.scalar.length + 1);
        if (!n->scalar) {
            rc = IHA_E_NOMEM;
            goto fail;
        }
        memcpy(n->scalar, ev->data.scalar.value, ev->data.scalar.length);
        n->scalar[ev->data.scalar.length] = '\0';
        n->quoted = ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE;
        set_text_col(n, ev);
        return attach(b, n);
    }

    n = node_new(b, ev->type == YAML_SEQUENCE_START_EVENT ? IHA_YNODE_SEQ : IHA_YNODE_MAP,
                 &ev->start_mark);
    if (!n)
        return IHA_E_NOMEM;
    if (!b->root)
        b->root = n;
    rc = attach(b, n);
    if (rc != IHA_OK) {
        if (b->root == n)
            b->root = NULL;
        return rc;
    }
    b->stack[b->depth++] = n;
    return IHA_OK;

fail:
    if (b->root == n)
        b->root = NULL;
    iha_ynode_free(n);
    return rc;
}

enum iha_rc iha_ytree_parse(const char *name, const char *text, size_t len, struct iha_ynode **root,
                            struct iha_diag *diag)
{
    yaml_parser_t parser;
    yaml_event_t ev;
    struct builder b;
    enum iha_rc rc = IHA_OK;
    yaml_mark_t start = {0, 0, 0};

    *root = NULL;
    memset(&b, 0, sizeof(b));
    b.name = name ? name : "<input>";
    b.diag = diag;
    if (!yaml_parser_initialize(&parser))
        return IHA_E_NOMEM;
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);

    for (;;) {
        if (!yaml_parser_parse(&parser, &ev)) {
            if (parser.error == YAML_MEMORY_ERROR) {
                rc = IHA_E_NOMEM;
            } else {
                report_parser_error(&b, &parser);
                rc = IHA_E_PARSE;
            }
            goto cleanup;
        }
        rc = handle_event(&b, &ev);
        yaml_event_delete(&ev);
        if (rc == IHA_E_NOTFOUND) {
            rc = IHA_OK;
            break;
        }
        if (rc != IHA_OK)
            goto cleanup;
    }
    if (b.dup_keys) {
        rc = IHA_E_PARSE;
        goto cleanup;
    }
    if (!b.root) {
        b.root = node_new(&b, IHA_YNODE_MAP, &start);
        if (!b.root) {
            rc = IHA_E_NOMEM;
            goto cleanup;
        }
    } else if (iha_ynode_is_null(b.root)) {
        /* "---" alone or a bare "~": treat like an empty document. */
        free(b.root->scalar);
        b.root->scalar = NULL;
        b.root->kind = IHA_YNODE_MAP;
        b.root->text_col = 0;
    }
    *root = b.root;
    b.root = NULL;

cleanup:
    iha_ynode_free(b.root);
    yaml_parser_delete(&parser);
    return rc;
}

enum iha_rc iha_ytree_parse_file(const char *path, struct iha_ynode **root, struct iha_diag *diag)
{
    FILE *f = NULL;
    char *buf = NULL;
    size_t len = 0, got;
    enum iha_rc rc = IHA_E_IO;

    *root = NULL;
    f = fopen(path, "rb");
    if (!f) {
        iha_diag_add(diag, IHA_DIAG_ERROR, path, 0, 0, "cannot open: %s", strerror(errno));
        goto cleanup;
    }
    /* Read one byte past the cap so an oversized file is detected without stat(). */
    buf = malloc(YTREE_MAX_FILE + 1);
    if (!buf) {
        rc = IHA_E_NOMEM;
        goto cleanup;
    }
    while ((got = fread(buf + len, 1, YTREE_MAX_FILE + 1 - len, f)) > 0) {
        len += got;
        if (len > YTREE_MAX_FILE)
            break;
    }
    if (ferror(f)) {
        iha_diag_add(diag, IHA_DIAG_ERROR, path, 0, 0, "cannot read: %s", strerror(errno));
        goto cleanup;
    }
    if (len > YTREE_MAX_FILE) {
        iha_diag_add(diag, IHA_DIAG_ERROR, path, 0, 0, "file is larger than %u bytes",
                     YTREE_MAX_FILE);
        rc = IHA_E_LIMIT;
        goto cleanup;
    }
    rc = iha_ytree_parse(path, buf, len, root, diag);

cleanup:
    free(buf);
    if (f)
        fclose(f);
    return rc;
}

const struct iha_ynode *iha_ynode_get(const struct iha_ynode *map, const char *key)
{
    if (!map || map->kind != IHA_YNODE_MAP)
        return NULL;
    for (size_t i = 0; i + 1 < map->n_items; i += 2) {
        const struct iha_ynode *k = map->items[i];

        if (k->kind == IHA_YNODE_SCALAR && strcmp(k->scalar, key) == 0)
            return map->items[i + 1];
    }
    return NULL;
}

bool iha_ynode_is_null(const struct iha_ynode *n)
{
    static const char *const nulls[] = {"", "~", "null", "Null", "NULL"};

    if (!n || n->kind != IHA_YNODE_SCALAR || n->quoted)
        return false;
    for (size_t i = 0; i < sizeof(nulls) / sizeof(nulls[0]); i++)
        if (strcmp(n->scalar, nulls[i]) == 0)
            return true;
    return false;
}

const char *iha_ynode_what(const struct iha_ynode *n)
{
    return iha_ynode_is_null(n) ? "null" : iha_ynode_kind_name(n->kind);
}

bool iha_ynode_is_string(const struct iha_ynode *n)
{
    return n && n->kind == IHA_YNODE_SCALAR && !iha_ynode_is_null(n);
}

bool iha_ynode_bool(const struct iha_ynode *n, bool *out)
{
    static const char *const yes[] = {"true", "True", "TRUE"};
    static const char *const no[] = {"false", "False", "FALSE"};

    if (!n || n->kind != IHA_YNODE_SCALAR || n->quoted)
        return false;
    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
        if (strcmp(n->scalar, yes[i]) == 0) {
            *out = true;
            return true;
        }
        if (strcmp(n->scalar, no[i]) == 0) {
            *out = false;
            return true;
        }
    }
    return false;
}

const char *iha_ynode_kind_name(enum iha_ynode_kind kind)
{
    switch (kind) {
    case IHA_YNODE_SCALAR:
        return "a string";
    case IHA_YNODE_SEQ:
        return "a list";
    case IHA_YNODE_MAP:
        return "a mapping";
    }
    return "a node";
}

#define SUGGEST_MAX_LEN 64

/* Levenshtein distance with two rows; words longer than SUGGEST_MAX_LEN are never close. */
static size_t edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    size_t prev[SUGGEST_MAX_LEN + 1], cur[SUGGEST_MAX_LEN + 1];

    if (la > SUGGEST_MAX_LEN || lb > SUGGEST_MAX_LEN)
        return (size_t)-1;
    for (size_t j = 0; j <= lb; j++)
        prev[j] = j;
    for (size_t i = 1; i <= la; i++) {
        cur[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t sub = prev[j - 1] + (a[i - 1] != b[j - 1]);
            size_t del = prev[j] + 1, ins = cur[j - 1] + 1;
            size_t m = sub < del ? sub : del;

            cur[j] = m < ins ? m : ins;
        }
        memcpy(prev, cur, (lb + 1) * sizeof(prev[0]));
    }
    return prev[lb];
}

const char *iha_ytree_suggest(const char *word, const char *const *candidates)
{
    const char *best = NULL;
    size_t best_d = 3;

    for (size_t i = 0; candidates[i]; i++) {
        size_t d = edit_distance(word, candidates[i]);

        if (d > 0 && d < best_d) {
            best = candidates[i];
            best_d = d;
        }
    }
    return best;
}

size_t iha_ytree_check_keys(const struct iha_ynode *map, const char *const *allowed,
                            const char *where, struct iha_diag *diag)
{
    size_t errors = 0;

    if (!map || map->kind != IHA_YNODE_MAP)
        return 0;
    for (size_t i = 0; i + 1 < map->n_items; i += 2) {
        const struct iha_ynode *k = map->items[i];
        const char *hint;
        size_t j;

        if (k->kind != IHA_YNODE_SCALAR || iha_ynode_is_null(k)) {
            iha_diag_add(diag, IHA_DIAG_ERROR, k->file, k->line, k->col,
                         "%s: expected a string key, got %s", where,
                         k->kind == IHA_YNODE_SCALAR ? "null" : iha_ynode_kind_name(k->kind));
            errors++;
            continue;
        }
        for (j = 0; allowed[j]; j++)
            if (strcmp(k->scalar, allowed[j]) == 0)
                break;
        if (allowed[j])
            continue;
        hint = iha_ytree_suggest(k->scalar, allowed);
        iha_diag_add(diag, IHA_DIAG_ERROR, k->file, k->line, k->col, "%s: unknown key '%s'%s%s%s",
                     where, k->scalar, hint ? " (did you mean '" : "", hint ? hint : "",
                     hint ? "'?)" : "");
        errors++;
    }
    return errors;
}
