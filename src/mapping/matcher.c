/* SPDX-License-Identifier: Apache-2.0 */
/** @file matcher.c @brief Alertmanager label matchers, regexes compiled once at load. */
#include "matcher.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "regexp.h"
#include "strbuf.h"

#define MAX_MATCHERS 64
/* A matcher list in a rule file is a few hundred bytes; anything near this is a mistake. */
#define MAX_TEXT 16384

enum mop { MOP_EQ, MOP_NE, MOP_RE, MOP_NRE };

static const char *const mop_str[] = {"=", "!=", "=~", "!~"};

struct matcher {
    char *name;
    char *value; /* the literal, or the regex source for =~ and !~ */
    enum mop op;
    struct iha_regex *re;
};

struct iha_matchers {
    struct matcher items[MAX_MATCHERS];
    size_t n;
};

/* ---- evaluation ----------------------------------------------------------- */

enum verdict { V_NO = 0, V_YES = 1, V_ERROR = -1 };

static enum verdict regex_run(const struct matcher *mt, const char *v)
{
    switch (iha_regex_test(mt->re, v, strlen(v))) {
    case IHA_OK:
        return V_YES;
    case IHA_E_NOTFOUND:
        return V_NO;
    default:
        return V_ERROR;
    }
}

/*
 * A regex that could not be evaluated (match limit, no memory) fails the
 * matcher for !~ as well as =~: a rule must not fire on an undecided result.
 */
static enum verdict eval(const struct matcher *mt, const struct iha_alert *a)
{
    const char *v = iha_alert_label(a, mt->name);
    enum verdict r;

    switch (mt->op) {
    case MOP_EQ:
        return strcmp(v, mt->value) == 0 ? V_YES : V_NO;
    case MOP_NE:
        return strcmp(v, mt->value) != 0 ? V_YES : V_NO;
    case MOP_RE:
        return regex_run(mt, v);
    case MOP_NRE:
        r = regex_run(mt, v);
        return r == V_ERROR ? V_ERROR : (r == V_YES ? V_NO : V_YES);
    }
    return V_ERROR;
}

/* ---- bounded output ------------------------------------------------------- */

static void put_matcher(struct iha_strbuf *b, const struct matcher *mt)
{
    iha_strbuf_str(b, mt->name);
    iha_strbuf_str(b, mop_str[mt->op]);
    iha_strbuf_quoted(b, mt->value);
}

/* ---- parsing -------------------------------------------------------------- */

struct parser {
    const char *s;
    size_t len;
    size_t pos;
    struct iha_err *err;
};

static enum iha_rc fail(struct parser *p, size_t off, const char *fmt, ...) IHA_PRINTF(3, 4);

/* The caller owns err->field (it knows the YAML key), so only msg and col are set. */
static enum iha_rc fail(struct parser *p, size_t off, const char *fmt, ...)
{
    va_list ap;

    if (!p->err)
        return IHA_E_PARSE;
    va_start(ap, fmt);
    vsnprintf(p->err->msg, sizeof(p->err->msg), fmt, ap);
    va_end(ap);
    p->err->col = iha_regex_column_of(p->s, off > p->len ? p->len : off);
    return IHA_E_PARSE;
}

static int is_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static char peek(const struct parser *p, size_t ahead)
{
    return p->pos + ahead < p->len ? p->s[p->pos + ahead] : '\0';
}

static void skip_ws(struct parser *p)
{
    while (p->pos < p->len && is_ws(p->s[p->pos]))
        p->pos++;
}

/*
 * A decoded value plus, for each of its bytes, the offset in the matcher text it
 * came from (map[len] is where the value ends), so that errors found in the
 * regex can be reported at the right column even after unescaping.
 */
struct value {
    char *s;
    size_t len;
    size_t *map;
};

static void value_free(struct value *v)
{
    free(v->s);
    free(v->map);
    v->s = NULL;
    v->map = NULL;
}

static enum iha_rc value_alloc(struct value *v, size_t cap)
{
    v->len = 0;
    v->s = malloc(cap + 1);
    v->map = malloc((cap + 1) * sizeof(*v->map));
    if (!v->s || !v->map) {
        value_free(v);
        return IHA_E_NOMEM;
    }
    return IHA_OK;
}

static enum iha_rc parse_quoted(struct parser *p, struct value *v)
{
    size_t open = p->pos;
    enum iha_rc rc;
    char c, e;

    rc = value_alloc(v, p->len - p->pos);
    if (rc != IHA_OK)
        return rc;
    p->pos++;
    for (;;) {
        if (p->pos >= p->len)
            return fail(p, open, "unterminated quoted value (missing closing '\"')");
        c = p->s[p->pos];
        if (c == '"')
            break;
        v->map[v->len] = p->pos;
        if (c != '\\') {
            v->s[v->len++] = c;
            p->pos++;
            continue;
        }
        e = peek(p, 1);
        switch (e) {
        case '"':
            c = '"';
            break;
        case '\\':
            c = '\\';
            break;
        case 'n':
            c = '\n';
            break;
        case 't':
            c = '\t';
            break;
        case '\0':
            return fail(p, open, "unterminated quoted value (missing closing '\"')");
        default:
            if (e > ' ' && e < 0x7f)
                return fail(p, p->pos,
                            "unknown escape \\%c in quoted value; only \\\" \\\\ \\n \\t are "
                            "allowed (write \\\\%c to pass a backslash to a regex)",
                            e, e);
            return fail(p, p->pos,
                        "unknown escape in quoted value; only \\\" \\\\ \\n \\t are allowed");
        }
        v->s[v->len++] = c;
        p->pos += 2;
    }
    v->map[v->len] = p->pos;
    v->s[v->len] = '\0';
    p->pos++;
    return IHA_OK;
}

/* An unquoted value runs to ',' or '}' or the end and is trimmed. */
static enum iha_rc parse_unquoted(struct parser *p, struct value *v)
{
    size_t start = p->pos, end;
    enum iha_rc rc;

    while (p->pos < p->len && p->s[p->pos] != ',' && p->s[p->pos] != '}') {
        /* Catches `a=="x"` and `a=x"y`, which are typos rather than values. */
        if (p->s[p->pos] == '"')
            return fail(p, p->pos, "unexpected '\"' in unquoted value; quote the whole value");
        p->pos++;
    }
    end = p->pos;
    while (end > start && is_ws(p->s[end - 1]))
        end--;
    rc = value_alloc(v, end - start);
    if (rc != IHA_OK)
        return rc;
    for (size_t i = start; i < end; i++) {
        v->map[v->len] = i;
        v->s[v->len++] = p->s[i];
    }
    v->map[v->len] = end;
    v->s[v->len] = '\0';
    return IHA_OK;
}

/* Compiles the regex of value @p v; errors point at the regex's place in the matcher text. */
static enum iha_rc compile_regex(struct parser *p, const struct value *v, struct iha_regex **out)
{
    size_t at = 0;
    enum iha_rc rc;

    rc = iha_regex_compile(v->s, v->len, out, p->err, &at);
    if (rc == IHA_E_PARSE && p->err && v->map)
        p->err->col = iha_regex_column_of(p->s, v->map[at]);
    return rc;
}

static void matcher_release(struct matcher *mt)
{
    free(mt->name);
    free(mt->value);
    iha_regex_free(mt->re);
    memset(mt, 0, sizeof(*mt));
}

static enum iha_rc parse_matcher(struct parser *p, struct matcher *mt)
{
    struct value v = {0};
    size_t start, len;
    enum iha_rc rc;

    skip_ws(p);
    start = p->pos;
    len = iha_label_name_span(p->s + start, p->len - start);
    if (len == 0)
        return fail(p, p->pos, "expected a label name ([a-zA-Z_][a-zA-Z0-9_]*)");
    p->pos += len;
    mt->name = strndup(p->s + start, len);
    if (!mt->name)
        return IHA_E_NOMEM;

    skip_ws(p);
    if (peek(p, 0) == '=' && peek(p, 1) == '~')
        mt->op = MOP_RE;
    else if (peek(p, 0) == '=')
        mt->op = MOP_EQ;
    else if (peek(p, 0) == '!' && peek(p, 1) == '=')
        mt->op = MOP_NE;
    else if (peek(p, 0) == '!' && peek(p, 1) == '~')
        mt->op = MOP_NRE;
    else
        return fail(p, p->pos,
                    "expected an operator (=, !=, =~, !~) after label name \"%s\" (label names "
                    "are [a-zA-Z_][a-zA-Z0-9_]*)",
                    mt->name);
    p->pos += strlen(mop_str[mt->op]);

    skip_ws(p);
    rc = peek(p, 0) == '"' ? parse_quoted(p, &v) : parse_unquoted(p, &v);
    if (rc != IHA_OK)
        goto cleanup;
    if (mt->op == MOP_RE || mt->op == MOP_NRE) {
        rc = compile_regex(p, &v, &mt->re);
        if (rc != IHA_OK)
            goto cleanup;
    }
    mt->value = v.s;
    v.s = NULL;
cleanup:
    value_free(&v);
    return rc;
}

/*
 * list := ws ( '{' items? '}' | items ) ws
 * items := matcher ( ',' matcher )* ','?
 * An empty "{}" adds nothing; an empty text is refused as it is surely a mistake.
 */
static enum iha_rc parse_list(struct parser *p, struct matcher *tmp, size_t room, size_t *n)
{
    size_t open = 0;
    int braced;
    enum iha_rc rc;

    skip_ws(p);
    braced = peek(p, 0) == '{';
    if (braced)
        open = p->pos++;
    for (;;) {
        skip_ws(p);
        if (braced && peek(p, 0) == '}') {
            p->pos++;
            break;
        }
        if (braced && p->pos >= p->len)
            return fail(p, p->pos, "expected '}' to close the '{' at column %u",
                        iha_regex_column_of(p->s, open));
        if (!braced && p->pos >= p->len && *n > 0)
            break;
        if (*n >= room) {
            (void)fail(p, p->pos, "too many matchers (at most %d per set)", MAX_MATCHERS);
            return IHA_E_LIMIT;
        }
        rc = parse_matcher(p, &tmp[*n]);
        (*n)++;
        if (rc != IHA_OK)
            return rc;
        skip_ws(p);
        if (peek(p, 0) == ',') {
            p->pos++;
            continue;
        }
        if (braced && peek(p, 0) == '}') {
            p->pos++;
            break;
        }
        if (!braced && p->pos >= p->len)
            break;
        return fail(p, p->pos,
                    braced ? "expected ',' or '}' after the value"
                           : "expected ',' or the end of the text after the value");
    }
    skip_ws(p);
    if (p->pos < p->len)
        return fail(p, p->pos, "unexpected text after '}'");
    return IHA_OK;
}

/* ---- public API ----------------------------------------------------------- */

struct iha_matchers *iha_matchers_new(void)
{
    return calloc(1, sizeof(struct iha_matchers));
}

void iha_matchers_free(struct iha_matchers *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->n; i++)
        matcher_release(&m->items[i]);
    free(m);
}

/* All or nothing: on any error the set is left as it was. */
enum iha_rc iha_matchers_add(struct iha_matchers *m, const char *text, struct iha_err *err)
{
    struct matcher *tmp = NULL;
    struct parser p = {0};
    size_t n = 0;
    enum iha_rc rc = IHA_E_INVAL;

    if (!m || !text)
        goto cleanup;
    p.s = text;
    p.len = strnlen(text, MAX_TEXT + 1);
    p.err = err;
    if (p.len > MAX_TEXT) {
        rc = IHA_E_LIMIT;
        if (err) {
            snprintf(err->msg, sizeof(err->msg), "matcher text longer than %d bytes", MAX_TEXT);
            err->col = 1;
        }
        goto cleanup;
    }
    rc = IHA_E_NOMEM;
    tmp = calloc(MAX_MATCHERS, sizeof(*tmp));
    if (!tmp)
        goto cleanup;
    rc = parse_list(&p, tmp, MAX_MATCHERS - m->n, &n);
    if (rc != IHA_OK)
        goto cleanup;
    memcpy(&m->items[m->n], tmp, n * sizeof(*tmp));
    m->n += n;
    n = 0;
cleanup:
    for (size_t i = 0; i < n; i++)
        matcher_release(&tmp[i]);
    free(tmp);
    return rc;
}

bool iha_matchers_match(const struct iha_matchers *m, const struct iha_alert *a)
{
    for (size_t i = 0; i < m->n; i++)
        if (eval(&m->items[i], a) != V_YES)
            return false;
    return true;
}

size_t iha_matchers_count(const struct iha_matchers *m)
{
    return m ? m->n : 0;
}

bool iha_matchers_explain(const struct iha_matchers *m, const struct iha_alert *a, char *out,
                          size_t size)
{
    struct iha_strbuf b;
    enum verdict r;

    iha_strbuf_init(&b, out, size);
    for (size_t i = 0; i < m->n; i++) {
        r = eval(&m->items[i], a);
        if (r == V_YES)
            continue;
        put_matcher(&b, &m->items[i]);
        iha_strbuf_str(&b, " (got ");
        iha_strbuf_quoted(&b, iha_alert_label(a, m->items[i].name));
        iha_strbuf_str(&b, r == V_ERROR ? ", regex match limit or error)" : ")");
        return true;
    }
    return false;
}

void iha_matchers_format(const struct iha_matchers *m, size_t i, char *out, size_t size)
{
    struct iha_strbuf b;

    iha_strbuf_init(&b, out, size);
    if (m && i < m->n)
        put_matcher(&b, &m->items[i]);
}

bool iha_matchers_get(const struct iha_matchers *m, size_t i, const char **name,
                      enum iha_matcher_op *op, const char **value)
{
    static const enum iha_matcher_op ops[] = {
        [MOP_EQ] = IHA_MATCHER_EQ,
        [MOP_NE] = IHA_MATCHER_NE,
        [MOP_RE] = IHA_MATCHER_RE,
        [MOP_NRE] = IHA_MATCHER_NRE,
    };

    if (!m || i >= m->n)
        return false;
    if (name)
        *name = m->items[i].name;
    if (op)
        *op = ops[m->items[i].op];
    if (value)
        *value = m->items[i].value;
    return true;
}

bool iha_matchers_accepts(const struct iha_matchers *m, size_t i, const char *value)
{
    const struct matcher *mt;
    enum verdict r;

    if (!m || i >= m->n || !value)
        return false;
    mt = &m->items[i];
    switch (mt->op) {
    case MOP_EQ:
        return strcmp(value, mt->value) == 0;
    case MOP_NE:
        return strcmp(value, mt->value) != 0;
    case MOP_RE:
        return regex_run(mt, value) == V_YES;
    case MOP_NRE:
        r = regex_run(mt, value);
        return r == V_NO;
    }
    return false;
}
