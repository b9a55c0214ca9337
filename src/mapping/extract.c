/* SPDX-License-Identifier: Apache-2.0 */
/** @file extract.c @brief Relabel-style field extraction (action replace). */
#include "extract.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "regexp.h"
#include "strbuf.h"

#define MAX_SOURCES 32
#define MAX_SPEC_STRING 4096
#define ANNOTATION_PREFIX "annotations."
/* Joined values up to this size are built on the stack, larger ones on the heap. */
#define JOIN_STACK 1024

struct source {
    char *name;
    const char *key; /* into name: the annotation name, or the label name */
    bool annotation;
};

/*
 * The replacement is split once at construction into text slices of the
 * replacement string and group numbers, so applying it does no parsing and a
 * bad reference is reported when the rules load rather than per alert.
 */
enum piece_kind { PIECE_TEXT, PIECE_GROUP };

struct piece {
    enum piece_kind kind;
    size_t off, len; /* PIECE_TEXT: a slice of the replacement */
    uint32_t group;  /* PIECE_GROUP */
};

struct iha_extract {
    bool literal;
    char *text; /* the literal */
    struct source *sources;
    size_t n_sources;
    char *separator;
    char *regex;
    char *replacement;
    struct iha_regex *re;
    struct piece *pieces;
    size_t n_pieces;
    uint32_t pairs; /* ovector pairs needed: groups + 1 */
};

/* ---- helpers -------------------------------------------------------------- */

static enum iha_rc fail(struct iha_err *err, const char *field, unsigned col, enum iha_rc rc,
                        const char *fmt, ...) IHA_PRINTF(5, 6);

static enum iha_rc fail(struct iha_err *err, const char *field, unsigned col, enum iha_rc rc,
                        const char *fmt, ...)
{
    va_list ap;

    if (!err)
        return rc;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
    va_end(ap);
    snprintf(err->field, sizeof(err->field), "%s", field);
    err->col = col;
    return rc;
}

/* The characters of a `$name` reference: Go's Regexp.Expand takes [a-zA-Z0-9_]. */
static bool is_ref_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

static char *dup_bounded(const char *s)
{
    return strnlen(s, MAX_SPEC_STRING + 1) > MAX_SPEC_STRING ? NULL : strdup(s);
}

/* ---- replacement ---------------------------------------------------------- */

static void add_text(struct iha_extract *x, size_t off, size_t len)
{
    if (len == 0)
        return;
    x->pieces[x->n_pieces++] = (struct piece){.kind = PIECE_TEXT, .off = off, .len = len};
}

/*
 * Resolves the reference at replacement[dollar] whose name is [name, name+len).
 * As in Go's Regexp.Expand, a name of digits only (no leading zero) is a group
 * number and anything else a group name.
 */
static enum iha_rc resolve(struct iha_extract *x, size_t dollar, size_t name, size_t len,
                           bool braced, struct iha_err *err)
{
    const char *r = x->replacement;
    unsigned col = iha_regex_column_of(r, dollar);
    size_t digits = 0;
    uint32_t groups = x->pairs - 1;
    uint64_t num = 0;
    char buf[128];
    int n;

    while (digits < len && r[name + digits] >= '0' && r[name + digits] <= '9')
        digits++;
    if (digits == len && (len == 1 || r[name] != '0')) {
        for (size_t i = 0; i < len && num <= groups; i++)
            num = num * 10 + (uint64_t)(r[name + i] - '0');
        if (num > groups)
            return fail(err, "replacement", col, IHA_E_PARSE,
                        "replacement refers to group %.*s but the regex has only %u group(s)",
                        (int)len, r + name, groups);
        x->pieces[x->n_pieces++] = (struct piece){.kind = PIECE_GROUP, .group = (uint32_t)num};
        return IHA_OK;
    }
    /*
     * `$1x` is the classic trap: like Prometheus (Go), $name takes the longest
     * run of letters, digits and '_', so this names group "1x", which can never
     * exist. Prometheus silently expands it to ""; we refuse it and suggest ${1}.
     */
    if (digits > 0 && !braced)
        return fail(err, "replacement", col, IHA_E_PARSE,
                    "replacement refers to group \"%.*s\" ($name takes the longest run of "
                    "letters, digits and '_'); write ${%.*s}%.*s",
                    (int)len, r + name, (int)digits, r + name, (int)(len - digits),
                    r + name + digits);
    if (len < sizeof(buf)) {
        memcpy(buf, r + name, len);
        buf[len] = '\0';
        n = iha_regex_group_number(x->re, buf);
        if (n >= 0) {
            x->pieces[x->n_pieces++] = (struct piece){.kind = PIECE_GROUP, .group = (uint32_t)n};
            return IHA_OK;
        }
    }
    return fail(err, "replacement", col, IHA_E_PARSE,
                "replacement refers to group \"%.*s\", which the regex does not have (write $$ "
                "for a literal '$')",
                (int)len, r + name);
}

/*
 * Go's template rules: `$$` is '$'; `${name}` and `$name` are references; a '$'
 * followed by anything else stays a literal '$'. A `${` without a valid name and
 * '}' is refused, as it is always a typo.
 */
static enum iha_rc parse_replacement(struct iha_extract *x, struct iha_err *err)
{
    const char *r = x->replacement;
    size_t len = strlen(r), i = 0, text = 0, j;
    enum iha_rc rc;

    x->pieces = calloc(len + 1, sizeof(*x->pieces));
    if (!x->pieces)
        return IHA_E_NOMEM;
    while (i < len) {
        if (r[i] != '$') {
            i++;
            continue;
        }
        add_text(x, text, i - text);
        if (r[i + 1] == '$') {
            add_text(x, i + 1, 1);
            i += 2;
        } else if (r[i + 1] == '{') {
            for (j = i + 2; is_ref_char(r[j]); j++)
                ;
            if (j == i + 2 || r[j] != '}')
                return fail(err, "replacement", iha_regex_column_of(r, i), IHA_E_PARSE,
                            "malformed ${...} in replacement: expected a group number or name "
                            "and '}' (write $$ for a literal '$')");
            rc = resolve(x, i, i + 2, j - (i + 2), true, err);
            if (rc != IHA_OK)
                return rc;
            i = j + 1;
        } else {
            for (j = i + 1; is_ref_char(r[j]); j++)
                ;
            if (j == i + 1) {
                add_text(x, i, 1);
                i++;
            } else {
                rc = resolve(x, i, i + 1, j - (i + 1), false, err);
                if (rc != IHA_OK)
                    return rc;
                i = j;
            }
        }
        text = i;
    }
    add_text(x, text, len - text);
    return IHA_OK;
}

/* ---- construction --------------------------------------------------------- */

/* Errors point into the regex; the caller's message names the field, "regex". */
static enum iha_rc compile_regex(struct iha_extract *x, struct iha_err *err)
{
    enum iha_rc rc;

    rc = iha_regex_compile(x->regex, strlen(x->regex), &x->re, err, NULL);
    if (rc == IHA_E_PARSE && err)
        snprintf(err->field, sizeof(err->field), "%s", "regex");
    if (rc != IHA_OK)
        return rc;
    x->pairs = iha_regex_groups(x->re) + 1;
    return IHA_OK;
}

static enum iha_rc copy_sources(struct iha_extract *x, const struct iha_extract_spec *spec,
                                struct iha_err *err)
{
    struct source *s;

    if (!spec->source_labels || spec->n_source_labels == 0)
        return fail(err, "source_labels", 0, IHA_E_INVAL, "at least one source label is needed");
    if (spec->n_source_labels > MAX_SOURCES)
        return fail(err, "source_labels", 0, IHA_E_INVAL, "at most %d source labels", MAX_SOURCES);
    x->sources = calloc(spec->n_source_labels, sizeof(*x->sources));
    if (!x->sources)
        return IHA_E_NOMEM;
    for (size_t i = 0; i < spec->n_source_labels; i++) {
        const char *name = spec->source_labels[i];
        size_t plen = strlen(ANNOTATION_PREFIX);

        if (!name)
            return fail(err, "source_labels", 0, IHA_E_INVAL, "source label %zu is missing", i);
        s = &x->sources[x->n_sources];
        s->name = dup_bounded(name);
        if (!s->name)
            return strlen(name) > MAX_SPEC_STRING
                       ? fail(err, "source_labels", 0, IHA_E_INVAL, "source label %zu too long", i)
                       : IHA_E_NOMEM;
        x->n_sources++;
        s->annotation = strncmp(name, ANNOTATION_PREFIX, plen) == 0;
        s->key = s->name + (s->annotation ? plen : 0);
        if (s->annotation ? *s->key == '\0' : !iha_label_name_valid(s->key))
            return fail(err, "source_labels", 0, IHA_E_INVAL,
                        "source label \"%s\" is neither a label name ([a-zA-Z_][a-zA-Z0-9_]*) "
                        "nor annotations.NAME",
                        name);
    }
    return IHA_OK;
}

static enum iha_rc copy_string(char **dst, const char *src, const char *def, const char *field,
                               struct iha_err *err)
{
    if (!src)
        src = def;
    *dst = dup_bounded(src);
    if (*dst)
        return IHA_OK;
    if (strnlen(src, MAX_SPEC_STRING + 1) > MAX_SPEC_STRING)
        return fail(err, field, 0, IHA_E_INVAL, "longer than %d bytes", MAX_SPEC_STRING);
    return IHA_E_NOMEM;
}

enum iha_rc iha_extract_new(const struct iha_extract_spec *spec, struct iha_extract **out,
                            struct iha_err *err)
{
    struct iha_extract *x = NULL;
    enum iha_rc rc = IHA_E_INVAL;

    if (!out)
        return IHA_E_INVAL;
    *out = NULL;
    if (!spec)
        goto cleanup;
    rc = IHA_E_NOMEM;
    x = calloc(1, sizeof(*x));
    if (!x)
        goto cleanup;
    rc = copy_sources(x, spec, err);
    if (rc != IHA_OK)
        goto cleanup;
    rc = copy_string(&x->separator, spec->separator, ";", "separator", err);
    if (rc != IHA_OK)
        goto cleanup;
    rc = copy_string(&x->regex, spec->regex, "(.*)", "regex", err);
    if (rc != IHA_OK)
        goto cleanup;
    rc = copy_string(&x->replacement, spec->replacement, "$1", "replacement", err);
    if (rc != IHA_OK)
        goto cleanup;
    rc = compile_regex(x, err);
    if (rc != IHA_OK)
        goto cleanup;
    rc = parse_replacement(x, err);
    if (rc != IHA_OK)
        goto cleanup;
    *out = x;
    x = NULL;
cleanup:
    iha_extract_free(x);
    return rc;
}

enum iha_rc iha_extract_new_literal(const char *text, struct iha_extract **out)
{
    struct iha_extract *x = NULL;
    enum iha_rc rc = IHA_E_INVAL;

    if (!out)
        return IHA_E_INVAL;
    *out = NULL;
    if (!text || strnlen(text, MAX_SPEC_STRING + 1) > MAX_SPEC_STRING)
        goto cleanup;
    rc = IHA_E_NOMEM;
    x = calloc(1, sizeof(*x));
    if (!x)
        goto cleanup;
    x->literal = true;
    x->text = strdup(text);
    if (!x->text)
        goto cleanup;
    *out = x;
    x = NULL;
    rc = IHA_OK;
cleanup:
    iha_extract_free(x);
    return rc;
}

void iha_extract_free(struct iha_extract *x)
{
    if (!x)
        return;
    for (size_t i = 0; i < x->n_sources; i++)
        free(x->sources[i].name);
    free(x->sources);
    free(x->text);
    free(x->separator);
    free(x->regex);
    free(x->replacement);
    iha_regex_free(x->re);
    free(x->pieces);
    free(x);
}

/* ---- application ---------------------------------------------------------- */

static const char *source_value(const struct source *s, const struct iha_alert *a)
{
    return s->annotation ? iha_alert_annotation(a, s->key) : iha_alert_label(a, s->key);
}

/* Expands the replacement; groups that did not take part in the match expand to "". */
static enum iha_rc expand(const struct iha_extract *x, const char *subject, const size_t *ov,
                          uint32_t set, char *out, size_t size)
{
    size_t len = 0, n;
    const char *src;

    for (size_t i = 0; i < x->n_pieces; i++) {
        const struct piece *pc = &x->pieces[i];

        if (pc->kind == PIECE_TEXT) {
            src = x->replacement + pc->off;
            n = pc->len;
        } else if (pc->group < set && ov[2 * pc->group] != IHA_REGEX_UNSET) {
            src = subject + ov[2 * pc->group];
            n = ov[2 * pc->group + 1] - ov[2 * pc->group];
        } else {
            continue;
        }
        if (n >= size - len)
            return IHA_E_LIMIT;
        memcpy(out + len, src, n);
        len += n;
    }
    out[len] = '\0';
    return IHA_OK;
}

enum iha_rc iha_extract_apply(const struct iha_extract *x, const struct iha_alert *a, char *out,
                              size_t size)
{
    const char *vals[MAX_SOURCES];
    size_t lens[MAX_SOURCES];
    char stackbuf[JOIN_STACK];
    char *joined = stackbuf;
    size_t total = 0, seplen, pos = 0;
    struct iha_regex_md *md = NULL;
    uint32_t set = 0;
    enum iha_rc rc = IHA_E_INVAL;

    if (!x || !a || !out || size == 0)
        return size == 0 && x && a ? IHA_E_LIMIT : IHA_E_INVAL;
    out[0] = '\0';
    if (x->literal) {
        total = strlen(x->text);
        if (total >= size)
            return IHA_E_LIMIT;
        memcpy(out, x->text, total + 1);
        return IHA_OK;
    }

    seplen = strlen(x->separator);
    for (size_t i = 0; i < x->n_sources; i++) {
        vals[i] = source_value(&x->sources[i], a);
        lens[i] = strlen(vals[i]);
        total += lens[i] + (i ? seplen : 0);
    }
    rc = IHA_E_NOMEM;
    if (total >= sizeof(stackbuf)) {
        joined = malloc(total + 1);
        if (!joined)
            goto cleanup;
    }
    for (size_t i = 0; i < x->n_sources; i++) {
        if (i) {
            memcpy(joined + pos, x->separator, seplen);
            pos += seplen;
        }
        memcpy(joined + pos, vals[i], lens[i]);
        pos += lens[i];
    }
    joined[pos] = '\0';

    md = iha_regex_md_acquire(x->pairs);
    if (!md)
        goto cleanup;
    rc = iha_regex_match(x->re, joined, total, md, &set);
    if (rc != IHA_OK) {
        /* Anything but a limit is reported as no match, as relabel has no error to give. */
        if (rc != IHA_E_LIMIT)
            rc = IHA_E_NOTFOUND;
        goto cleanup;
    }
    /* The block was sized for every group, so set is never 0 here. */
    rc = expand(x, joined, iha_regex_md_ovector(md), set, out, size);
    if (rc != IHA_OK)
        out[0] = '\0';
cleanup:
    iha_regex_md_release(md);
    if (joined != stackbuf)
        free(joined);
    return rc;
}

void iha_extract_describe(const struct iha_extract *x, char *out, size_t size)
{
    struct iha_strbuf b;

    iha_strbuf_init(&b, out, size);
    if (!x)
        return;
    if (x->literal) {
        iha_strbuf_str(&b, "literal ");
        iha_strbuf_quoted(&b, x->text);
        return;
    }
    iha_strbuf_str(&b, "[");
    for (size_t i = 0; i < x->n_sources; i++) {
        if (i)
            iha_strbuf_str(&b, ";");
        iha_strbuf_str(&b, x->sources[i].name);
    }
    iha_strbuf_str(&b, "]");
    if (strcmp(x->separator, ";") != 0) {
        iha_strbuf_str(&b, " separator ");
        iha_strbuf_quoted(&b, x->separator);
    }
    iha_strbuf_str(&b, " =~ ");
    iha_strbuf_quoted(&b, x->regex);
    iha_strbuf_str(&b, " -> ");
    iha_strbuf_quoted(&b, x->replacement);
}

int iha_extract_is_literal(const struct iha_extract *x)
{
    return x && x->literal;
}
