/* SPDX-License-Identifier: Apache-2.0 */
/** @file regexp.c @brief Anchored, RE2-portable regexes compiled once with PCRE2 + JIT. */
#include "regexp.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * Bounds backtracking so one unlucky pattern cannot stall ingest. Label values
 * are at most IHA_ALERT_MAX_VALUE bytes, for which sane patterns stay far below.
 */
#define MATCH_LIMIT 1000000
/* A thread's block starts this large so that it rarely has to grow. */
#define MD_MIN_PAIRS 16

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

_Static_assert(IHA_REGEX_UNSET == PCRE2_UNSET, "IHA_REGEX_UNSET must be PCRE2's unset offset");
_Static_assert(sizeof(PCRE2_SIZE) == sizeof(size_t), "PCRE2 offsets must be size_t");

struct iha_regex {
    pcre2_code *code;
    pcre2_match_context *mctx; /* read-only once built, so shared by all matching threads */
    uint32_t groups;
};

/* ---- RE2 portability -------------------------------------------------------- */

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
 * not. Only the structure is scanned; PCRE2 reports plain syntax errors afterwards.
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

/* ---- compilation ------------------------------------------------------------ */

/*
 * Sets the position of a refusal whose message is already in err->msg. The
 * caller owns err->field (it knows the YAML key), so only msg and col are set.
 */
static enum iha_rc parse_error(const char *pattern, size_t len, size_t off, struct iha_err *err,
                               size_t *at)
{
    if (off > len)
        off = len;
    if (at)
        *at = off;
    if (err)
        err->col = iha_regex_column_of(pattern, off);
    return IHA_E_PARSE;
}

enum iha_rc iha_regex_compile(const char *pattern, size_t len, struct iha_regex **out,
                              struct iha_err *err, size_t *at)
{
    struct iha_regex *re = NULL;
    const char *why;
    size_t off = 0;
    int ec;
    PCRE2_SIZE eo;
    PCRE2_UCHAR msg[256];
    enum iha_rc rc = IHA_E_INVAL;

    if (!out)
        return IHA_E_INVAL;
    *out = NULL;
    if (!pattern)
        goto cleanup;
    why = re2_unportable(pattern, len, &off);
    if (why) {
        if (err)
            snprintf(err->msg, sizeof(err->msg),
                     "%s is not supported by Alertmanager's RE2 regex engine; refused so rules "
                     "stay portable",
                     why);
        rc = parse_error(pattern, len, off, err, at);
        goto cleanup;
    }
    rc = IHA_E_NOMEM;
    re = calloc(1, sizeof(*re));
    if (!re)
        goto cleanup;
    re->code = pcre2_compile((PCRE2_SPTR)pattern, len, RE_OPTIONS, &ec, &eo, NULL);
    if (!re->code) {
        if (pcre2_get_error_message(ec, msg, sizeof(msg)) < 0)
            snprintf((char *)msg, sizeof(msg), "error %d", ec);
        if (err)
            snprintf(err->msg, sizeof(err->msg), "invalid regex: %s", (char *)msg);
        rc = parse_error(pattern, len, eo, err, at);
        goto cleanup;
    }
    /* Without JIT (unsupported CPU, no executable memory) pcre2_match interprets. */
    (void)pcre2_jit_compile(re->code, PCRE2_JIT_COMPLETE);
    rc = IHA_E_INVAL;
    if (pcre2_pattern_info(re->code, PCRE2_INFO_CAPTURECOUNT, &re->groups) != 0)
        goto cleanup;
    rc = IHA_E_NOMEM;
    re->mctx = pcre2_match_context_create(NULL);
    if (!re->mctx || pcre2_set_match_limit(re->mctx, MATCH_LIMIT) != 0)
        goto cleanup;
    *out = re;
    re = NULL;
    rc = IHA_OK;
cleanup:
    iha_regex_free(re);
    return rc;
}

void iha_regex_free(struct iha_regex *re)
{
    if (!re)
        return;
    pcre2_code_free(re->code);
    pcre2_match_context_free(re->mctx);
    free(re);
}

uint32_t iha_regex_groups(const struct iha_regex *re)
{
    return re ? re->groups : 0;
}

int iha_regex_group_number(const struct iha_regex *re, const char *name)
{
    int n;

    if (!re || !name)
        return -1;
    n = pcre2_substring_number_from_name(re->code, (PCRE2_SPTR)name);
    return n >= 0 ? n : -1;
}

/* ---- per-thread match data ---------------------------------------------------- */

/*
 * The key's destructor frees a thread's block when the thread exits. When the
 * key cannot be had, every acquire allocates and every release frees.
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

struct iha_regex_md *iha_regex_md_acquire(uint32_t pairs)
{
    pcre2_match_data *md, *old;

    if (pairs == 0)
        pairs = 1;
    if (pthread_once(&md_once, md_key_create) == 0 && md_key_ok) {
        old = pthread_getspecific(md_key);
        if (old && pcre2_get_ovector_count(old) >= pairs)
            return (struct iha_regex_md *)old;
        md = pcre2_match_data_create(pairs < MD_MIN_PAIRS ? MD_MIN_PAIRS : pairs, NULL);
        if (md && pthread_setspecific(md_key, md) == 0) {
            pcre2_match_data_free(old);
            return (struct iha_regex_md *)md;
        }
        pcre2_match_data_free(md);
    }
    return (struct iha_regex_md *)pcre2_match_data_create(pairs, NULL);
}

void iha_regex_md_release(struct iha_regex_md *md)
{
    if (!md)
        return;
    /* md_key_ok was set by the acquire that produced @p md, on this thread. */
    if (md_key_ok && pthread_getspecific(md_key) == (void *)md)
        return;
    pcre2_match_data_free((pcre2_match_data *)md);
}

const size_t *iha_regex_md_ovector(const struct iha_regex_md *md)
{
    return pcre2_get_ovector_pointer((pcre2_match_data *)md);
}

/* ---- matching ----------------------------------------------------------------- */

enum iha_rc iha_regex_match(const struct iha_regex *re, const char *subject, size_t len,
                            struct iha_regex_md *md, uint32_t *set)
{
    int rc;

    if (set)
        *set = 0;
    if (!re || !subject || !md)
        return IHA_E_INVAL;
    rc = pcre2_match(re->code, (PCRE2_SPTR)subject, len, 0, 0, (pcre2_match_data *)md, re->mctx);
    if (rc >= 0) {
        if (set)
            *set = (uint32_t)rc;
        return IHA_OK;
    }
    switch (rc) {
    case PCRE2_ERROR_NOMATCH:
        return IHA_E_NOTFOUND;
    case PCRE2_ERROR_MATCHLIMIT:
    case PCRE2_ERROR_DEPTHLIMIT:
    case PCRE2_ERROR_HEAPLIMIT:
    case PCRE2_ERROR_JIT_STACKLIMIT:
        return IHA_E_LIMIT;
    default:
        return IHA_E_INVAL;
    }
}

enum iha_rc iha_regex_test(const struct iha_regex *re, const char *subject, size_t len)
{
    struct iha_regex_md *md = iha_regex_md_acquire(1);
    enum iha_rc rc;

    if (!md)
        return IHA_E_NOMEM;
    rc = iha_regex_match(re, subject, len, md, NULL);
    iha_regex_md_release(md);
    return rc;
}

/* ---- positions ----------------------------------------------------------------- */

unsigned iha_regex_column_of(const char *s, size_t off)
{
    unsigned col = 1;

    for (size_t i = 0; i < off && s[i]; i++)
        if (((unsigned char)s[i] & 0xC0) != 0x80)
            col++;
    return col;
}
