/* SPDX-License-Identifier: Apache-2.0 */
/** @file matcher.c @brief Alertmanager label matchers, regexes compiled once with PCRE2. */
#include "matcher.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_MATCHERS 64
/* A matcher list in a rule file is a few hundred bytes; anything near this is a mistake. */
#define MAX_TEXT 16384
/*
 * Bounds backtracking so one unlucky pattern cannot stall ingest. Label values
 * are at most IHA_ALERT_MAX_VALUE bytes, for which sane patterns stay far below.
 */
#define MATCH_LIMIT 1000000

/*
 * Anchoring is done with PCRE2_ANCHORED | PCRE2_ENDANCHORED rather than by
 * pasting "^(?:" and ")$" around the text: the semantics are the same as
 * Alertmanager's `^(?:re)$`, but a pattern such as `a)|(b` or `\Qa` cannot
 * escape the wrapper, and PCRE2's error offsets point into the user's text.
 * DOLLAR_ENDONLY gives `$` Go's meaning (end of text, not before a final
 * newline). MATCH_INVALID_UTF makes a label with broken UTF-8 simply not match
 * instead of failing the match with an error.
 */
#define RE_OPTIONS                                                                                 \
    (PCRE2_UTF | PCRE2_MATCH_INVALID_UTF | PCRE2_ANCHORED | PCRE2_ENDANCHORED |                    \
     PCRE2_DOLLAR_ENDONLY | PCRE2_NEVER_BACKSLASH_C)

enum mop { MOP_EQ, MOP_NE, MOP_RE, MOP_NRE };

static const char *const mop_str[] = {"=", "!=", "=~", "!~"};

struct matcher {
    char *name;
    char *value; /* the literal, or the regex source for =~ and !~ */
    enum mop op;
    pcre2_code *re;
};

struct iha_matchers {
    struct matcher items[MAX_MATCHERS];
    size_t n;
    pcre2_match_context *mctx; /* shared read-only by all matching threads */
};

/* ---- per-thread match data ---------------------------------------------- */

/*
 * Matching runs for every alert against every rule, so a malloc per regex run
 * would dominate; each thread keeps one block instead. One ovector pair is
 * enough: a matcher only needs to know whether the regex matched, and PCRE2
 * reports a match (rc 0) even when the ovector is too small for the groups.
 * The key's destructor frees the block when a thread exits.
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

/* @return the thread's block; *owned is set when the caller must free it (no key). */
static pcre2_match_data *thread_md(int *owned)
{
    pcre2_match_data *md;

    *owned = 0;
    if (pthread_once(&md_once, md_key_create) == 0 && md_key_ok) {
        md = pthread_getspecific(md_key);
        if (md)
            return md;
        md = pcre2_match_data_create(1, NULL);
        if (md && pthread_setspecific(md_key, md) == 0)
            return md;
        pcre2_match_data_free(md);
    }
    md = pcre2_match_data_create(1, NULL);
    *owned = md != NULL;
    return md;
}

/* ---- evaluation ----------------------------------------------------------- */

enum verdict { V_NO = 0, V_YES = 1, V_ERROR = -1 };

static enum verdict regex_run(const struct iha_matchers *m, const struct matcher *mt, const char *v)
{
    int owned;
    pcre2_match_data *md = thread_md(&owned);
    int rc;

    if (!md)
        return V_ERROR;
    rc = pcre2_match(mt->re, (PCRE2_SPTR)v, strlen(v), 0, 0, md, m->mctx);
    if (owned)
        pcre2_match_data_free(md);
    if (rc >= 0)
        return V_YES;
    return rc == PCRE2_ERROR_NOMATCH ? V_NO : V_ERROR;
}

/*
 * A regex that could not be evaluated (match limit, no memory) fails the
 * matcher for !~ as well as =~: a rule must not fire on an undecided result.
 */
static enum verdict eval(const struct iha_matchers *m, const struct matcher *mt,
                         const struct iha_alert *a)
{
    const char *v = iha_alert_label(a, mt->name);
    enum verdict r;

    switch (mt->op) {
    case MOP_EQ:
        return strcmp(v, mt->value) == 0 ? V_YES : V_NO;
    case MOP_NE:
        return strcmp(v, mt->value) != 0 ? V_YES : V_NO;
    case MOP_RE:
        return regex_run(m, mt, v);
    case MOP_NRE:
        r = regex_run(m, mt, v);
        return r == V_ERROR ? V_ERROR : (r == V_YES ? V_NO : V_YES);
    }
    return V_ERROR;
}

/* ---- bounded output ------------------------------------------------------- */

struct wbuf {
    char *p;
    size_t size;
    size_t len;
    int full;
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

/* Appends all of @p n bytes or none, so an escape sequence is never cut in half. */
static void wb_put(struct wbuf *w, const char *s, size_t n)
{
    if (w->full)
        return;
    if (n >= w->size - w->len) {
        w->full = 1;
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

/* Writes @p s double-quoted with exactly the escapes the parser accepts. */
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

static void wb_matcher(struct wbuf *w, const struct matcher *mt)
{
    wb_str(w, mt->name);
    wb_str(w, mop_str[mt->op]);
    wb_quoted(w, mt->value);
}

/* ---- parsing -------------------------------------------------------------- */

struct parser {
    const char *s;
    size_t len;
    size_t pos;
    struct iha_err *err;
    const pcre2_match_context *mctx;
};

/* Columns count UTF-8 characters, as editors and libyaml marks do. */
static unsigned column_of(const char *s, size_t off)
{
    unsigned col = 1;

    for (size_t i = 0; i < off; i++)
        if (((unsigned char)s[i] & 0xC0) != 0x80)
            col++;
    return col;
}

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
    p->err->col = column_of(p->s, off > p->len ? p->len : off);
    return IHA_E_PARSE;
}

static int is_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static int is_name_start(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static int is_name_char(char c)
{
    return is_name_start(c) || (c >= '0' && c <= '9');
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

/* @return the offset of the two-byte sequence @p a @p b at or after @p from, or @p len. */
static size_t find_pair(const char *s, size_t len, size_t from, char a, char b)
{
    for (size_t i = from; i + 1 < len; i++)
        if (s[i] == a && s[i + 1] == b)
            return i;
    return len;
}

/*
 * Finds constructs PCRE2 accepts but Go's RE2 (Alertmanager, Prometheus) does
 * not, so a rule that works here also works in an Alertmanager route. Only the
 * structure is scanned; PCRE2 reports plain syntax errors afterwards.
 * @return NULL when portable, else a description, with *at set to the offset.
 */
static const char *re2_unportable(const char *re, size_t len, size_t *at)
{
    size_t i = 0, j;
    char c, d;

    while (i < len) {
        c = re[i];
        d = i + 1 < len ? re[i + 1] : '\0';
        *at = i;
        if (c == '\\') {
            if (d >= '1' && d <= '9')
                return "backreference (\\1 .. \\9)";
            if (d == 'g' || d == 'k')
                return "backreference (\\g or \\k)";
            if (d == 'K')
                return "match start reset \\K";
            if (d == 'Q') {
                /* \Q...\E is literal text in both engines; skip it whole. */
                i = find_pair(re, len, i + 2, '\\', 'E') + 2;
                continue;
            }
            i += 2;
            continue;
        }
        if (c == '[') {
            /* Skip the class: a leading ']' (after an optional '^') is literal. */
            j = i + 1;
            if (j < len && re[j] == '^')
                j++;
            if (j < len && re[j] == ']')
                j++;
            while (j < len && re[j] != ']') {
                if (re[j] == '\\')
                    j += 2;
                else if (re[j] == '[' && j + 1 < len && re[j + 1] == ':')
                    j = find_pair(re, len, j + 2, ':', ']') + 2;
                else
                    j++;
            }
            i = j + 1;
            continue;
        }
        if (c == '(' && d == '*')
            return "backtracking control verb (*...)";
        if (c == '(' && d == '?') {
            char e = i + 2 < len ? re[i + 2] : '\0';
            char f = i + 3 < len ? re[i + 3] : '\0';

            if (e == '=')
                return "lookahead (?=";
            if (e == '!')
                return "negative lookahead (?!";
            if (e == '<' && f == '=')
                return "lookbehind (?<=";
            if (e == '<' && f == '!')
                return "negative lookbehind (?<!";
            if (e == 'P' && f == '=')
                return "backreference (?P=";
            if (e == 'P' && f == '>')
                return "recursion (?P>";
            if (e == ':' || e == '<' || (e == 'P' && f == '<')) {
                i += 2;
                continue;
            }
            /* Flag groups: RE2 knows i, m, s and U only. */
            for (j = i + 2; j < len && re[j] != '\0' && strchr("imsU-", re[j]); j++)
                ;
            if (j > i + 2 && j < len && (re[j] == ')' || re[j] == ':')) {
                i = j + 1;
                continue;
            }
            return "group syntax (?... (only (?:, (?P<name>, (?<name> and the flags i, m, s, U "
                   "are portable)";
        }
        if ((c == '*' || c == '+' || c == '?') && d == '+') {
            *at = i + 1;
            return "possessive quantifier";
        }
        i++;
    }
    return NULL;
}

static enum iha_rc compile_regex(struct parser *p, const struct value *v, pcre2_code **out)
{
    const char *why;
    size_t at = 0;
    int ec;
    PCRE2_SIZE eo;
    PCRE2_UCHAR msg[256];

    why = re2_unportable(v->s, v->len, &at);
    if (why)
        return fail(p, v->map[at],
                    "%s is not supported by Alertmanager's RE2 regex engine; refused so rules "
                    "stay portable",
                    why);
    *out = pcre2_compile((PCRE2_SPTR)v->s, v->len, RE_OPTIONS, &ec, &eo, NULL);
    if (!*out) {
        if (pcre2_get_error_message(ec, msg, sizeof(msg)) < 0)
            snprintf((char *)msg, sizeof(msg), "error %d", ec);
        return fail(p, v->map[eo > v->len ? v->len : eo], "invalid regex: %s", (char *)msg);
    }
    /* Without JIT (unsupported CPU, no executable memory) pcre2_match interprets. */
    (void)pcre2_jit_compile(*out, PCRE2_JIT_COMPLETE);
    return IHA_OK;
}

static void matcher_release(struct matcher *mt)
{
    free(mt->name);
    free(mt->value);
    pcre2_code_free(mt->re);
    memset(mt, 0, sizeof(*mt));
}

static enum iha_rc parse_matcher(struct parser *p, struct matcher *mt)
{
    struct value v = {0};
    size_t start, len;
    enum iha_rc rc;

    skip_ws(p);
    start = p->pos;
    if (!is_name_start(peek(p, 0)))
        return fail(p, p->pos, "expected a label name ([a-zA-Z_][a-zA-Z0-9_]*)");
    while (is_name_char(peek(p, 0)))
        p->pos++;
    len = p->pos - start;
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
                        column_of(p->s, open));
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
    struct iha_matchers *m = calloc(1, sizeof(*m));

    if (!m)
        return NULL;
    m->mctx = pcre2_match_context_create(NULL);
    if (!m->mctx || pcre2_set_match_limit(m->mctx, MATCH_LIMIT) != 0) {
        iha_matchers_free(m);
        return NULL;
    }
    return m;
}

void iha_matchers_free(struct iha_matchers *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->n; i++)
        matcher_release(&m->items[i]);
    pcre2_match_context_free(m->mctx);
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
        if (eval(m, &m->items[i], a) != V_YES)
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
    struct wbuf w;
    enum verdict r;

    wb_init(&w, out, size);
    for (size_t i = 0; i < m->n; i++) {
        r = eval(m, &m->items[i], a);
        if (r == V_YES)
            continue;
        wb_matcher(&w, &m->items[i]);
        wb_str(&w, " (got ");
        wb_quoted(&w, iha_alert_label(a, m->items[i].name));
        wb_str(&w, r == V_ERROR ? ", regex match limit or error)" : ")");
        return true;
    }
    return false;
}

void iha_matchers_format(const struct iha_matchers *m, size_t i, char *out, size_t size)
{
    struct wbuf w;

    wb_init(&w, out, size);
    if (m && i < m->n)
        wb_matcher(&w, &m->items[i]);
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
        return regex_run(m, mt, value) == V_YES;
    case MOP_NRE:
        r = regex_run(m, mt, value);
        return r == V_NO;
    }
    return false;
}
