/* SPDX-License-Identifier: Apache-2.0 */
/** @file relabel.c @brief Relabel-style field extraction (action replace) with PCRE2. */
#include "relabel.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_SOURCES 32
#define MAX_SPEC_STRING 4096
#define MATCH_LIMIT 1000000
#define ANNOTATION_PREFIX "annotations."
/* Joined values up to this size are built on the stack, larger ones on the heap. */
#define JOIN_STACK 1024

/* Same anchoring and engine settings as matcher.c; see the reasoning there. */
#define RE_OPTIONS                                                                                 \
    (PCRE2_UTF | PCRE2_MATCH_INVALID_UTF | PCRE2_ANCHORED | PCRE2_ENDANCHORED |                    \
     PCRE2_DOLLAR_ENDONLY | PCRE2_NEVER_BACKSLASH_C)

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
    pcre2_code *re;
    pcre2_match_context *mctx;
    struct piece *pieces;
    size_t n_pieces;
    uint32_t pairs; /* ovector pairs needed: groups + 1 */
};

/* ---- per-thread match data ---------------------------------------------- */

/*
 * One block per thread, grown to the largest group count seen, instead of a
 * malloc per extraction; freed by the key's destructor at thread exit.
 */
static pthread_once_t md_once = PTHREAD_ONCE_INIT;
static pthread_key_t md_key;
static int md_key_ok;

static void md_destroy(void *p)
{
    pcre2_match_data_free(p);
}

static void md_key_create(void)
{
    md_key_ok = pthread_key_create(&md_key, md_destroy) == 0;
}

static pcre2_match_data *thread_md(uint32_t pairs, int *owned)
{
    pcre2_match_data *md, *old;

    *owned = 0;
    if (pthread_once(&md_once, md_key_create) == 0 && md_key_ok) {
        old = pthread_getspecific(md_key);
        if (old && pcre2_get_ovector_count(old) >= pairs)
            return old;
        md = pcre2_match_data_create(pairs < 16 ? 16 : pairs, NULL);
        if (md && pthread_setspecific(md_key, md) == 0) {
            pcre2_match_data_free(old);
            return md;
        }
        pcre2_match_data_free(md);
    }
    md = pcre2_match_data_create(pairs, NULL);
    *owned = md != NULL;
    return md;
}

/* ---- helpers -------------------------------------------------------------- */

/*
 * Columns count UTF-8 characters (as libyaml marks and editors do), so PCRE2's
 * byte offset is converted; for ASCII patterns the two are the same.
 */
static unsigned column_of(const char *s, size_t off)
{
    unsigned col = 1;

    for (size_t i = 0; i < off && s[i]; i++)
        if (((unsigned char)s[i] & 0xC0) != 0x80)
            col++;
    return col;
}

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

static bool is_name_start(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static bool is_name_char(char c)
{
    return is_name_start(c) || (c >= '0' && c <= '9');
}

static bool is_label_name(const char *s)
{
    if (!is_name_start(*s))
        return false;
    while (*++s)
        if (!is_name_char(*s))
            return false;
    return true;
}

struct wbuf {
    char *p;
    size_t size;
    size_t len;
    bool full;
};

static void wb_init(struct wbuf *w, char *out, size_t size)
{
    w->p = out;
    w->size = out ? size : 0;
    w->len = 0;
    w->full = w->size == 0;
    if (w->size)
        out[0] = '\0';
}

/* Appends all of @p n bytes or none. */
static void wb_put(struct wbuf *w, const char *s, size_t n)
{
    if (w->full)
        return;
    if (n >= w->size - w->len) {
        w->full = true;
        return;
    }
    memcpy(w->p + w->len, s, n);
    w->len += n;
    w->p[w->len] = '\0';
}

static void wb_str(struct wbuf *w, const char *s)
{
    wb_put(w, s, strlen(s));
}

static void wb_quoted(struct wbuf *w, const char *s)
{
    wb_put(w, "\"", 1);
    for (; *s && !w->full; s++) {
        switch (*s) {
        case '"':
            wb_put(w, "\\\"", 2);
            break;
        case '\\':
            wb_put(w, "\\\\", 2);
            break;
        case '\n':
            wb_put(w, "\\n", 2);
            break;
        case '\t':
            wb_put(w, "\\t", 2);
            break;
        default:
            wb_put(w, s, 1);
            break;
        }
    }
    wb_put(w, "\"", 1);
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
    unsigned col = column_of(r, dollar);
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
        n = pcre2_substring_number_from_name(x->re, (PCRE2_SPTR)buf);
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
            for (j = i + 2; is_name_char(r[j]); j++)
                ;
            if (j == i + 2 || r[j] != '}')
                return fail(err, "replacement", column_of(r, i), IHA_E_PARSE,
                            "malformed ${...} in replacement: expected a group number or name "
                            "and '}' (write $$ for a literal '$')");
            rc = resolve(x, i, i + 2, j - (i + 2), true, err);
            if (rc != IHA_OK)
                return rc;
            i = j + 1;
        } else {
            for (j = i + 1; is_name_char(r[j]); j++)
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

static enum iha_rc compile_regex(struct iha_extract *x, struct iha_err *err)
{
    int ec;
    PCRE2_SIZE eo;
    PCRE2_UCHAR msg[256];
    uint32_t groups = 0;

    x->re = pcre2_compile((PCRE2_SPTR)x->regex, PCRE2_ZERO_TERMINATED, RE_OPTIONS, &ec, &eo, NULL);
    if (!x->re) {
        if (pcre2_get_error_message(ec, msg, sizeof(msg)) < 0)
            snprintf((char *)msg, sizeof(msg), "error %d", ec);
        return fail(err, "regex", column_of(x->regex, eo), IHA_E_PARSE, "invalid regex: %s",
                    (char *)msg);
    }
    /* Without JIT (unsupported CPU, no executable memory) pcre2_match interprets. */
    (void)pcre2_jit_compile(x->re, PCRE2_JIT_COMPLETE);
    if (pcre2_pattern_info(x->re, PCRE2_INFO_CAPTURECOUNT, &groups) != 0)
        return IHA_E_INVAL;
    x->pairs = groups + 1;
    x->mctx = pcre2_match_context_create(NULL);
    if (!x->mctx || pcre2_set_match_limit(x->mctx, MATCH_LIMIT) != 0)
        return IHA_E_NOMEM;
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
        if (s->annotation ? *s->key == '\0' : !is_label_name(s->key))
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
    pcre2_code_free(x->re);
    pcre2_match_context_free(x->mctx);
    free(x->pieces);
    free(x);
}

/* ---- application ---------------------------------------------------------- */

static const char *source_value(const struct source *s, const struct iha_alert *a)
{
    return s->annotation ? iha_alert_annotation(a, s->key) : iha_alert_label(a, s->key);
}

/* Expands the replacement; groups that did not take part in the match expand to "". */
static enum iha_rc expand(const struct iha_extract *x, const char *subject, const PCRE2_SIZE *ov,
                          uint32_t set, char *out, size_t size)
{
    size_t len = 0, n;
    const char *src;

    for (size_t i = 0; i < x->n_pieces; i++) {
        const struct piece *pc = &x->pieces[i];

        if (pc->kind == PIECE_TEXT) {
            src = x->replacement + pc->off;
            n = pc->len;
        } else if (pc->group < set && ov[2 * pc->group] != PCRE2_UNSET) {
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
    pcre2_match_data *md = NULL;
    int owned = 0, mrc;
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

    md = thread_md(x->pairs, &owned);
    if (!md)
        goto cleanup;
    mrc = pcre2_match(x->re, (PCRE2_SPTR)joined, total, 0, 0, md, x->mctx);
    if (mrc == PCRE2_ERROR_MATCHLIMIT || mrc == PCRE2_ERROR_DEPTHLIMIT ||
        mrc == PCRE2_ERROR_HEAPLIMIT || mrc == PCRE2_ERROR_JIT_STACKLIMIT) {
        rc = IHA_E_LIMIT;
        goto cleanup;
    }
    if (mrc < 0) {
        rc = IHA_E_NOTFOUND;
        goto cleanup;
    }
    /* thread_md() sized the ovector for every group, so mrc is never 0 here. */
    rc = expand(x, joined, pcre2_get_ovector_pointer(md), (uint32_t)mrc, out, size);
    if (rc != IHA_OK)
        out[0] = '\0';
cleanup:
    if (owned)
        pcre2_match_data_free(md);
    if (joined != stackbuf)
        free(joined);
    return rc;
}

void iha_extract_describe(const struct iha_extract *x, char *out, size_t size)
{
    struct wbuf w;

    wb_init(&w, out, size);
    if (!x)
        return;
    if (x->literal) {
        wb_str(&w, "literal ");
        wb_quoted(&w, x->text);
        return;
    }
    wb_str(&w, "[");
    for (size_t i = 0; i < x->n_sources; i++) {
        if (i)
            wb_str(&w, ";");
        wb_str(&w, x->sources[i].name);
    }
    wb_str(&w, "]");
    if (strcmp(x->separator, ";") != 0) {
        wb_str(&w, " separator ");
        wb_quoted(&w, x->separator);
    }
    wb_str(&w, " =~ ");
    wb_quoted(&w, x->regex);
    wb_str(&w, " -> ");
    wb_quoted(&w, x->replacement);
}

int iha_extract_is_literal(const struct iha_extract *x)
{
    return x && x->literal;
}
