/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file mapping_index.c
 * @brief The alertname prefilter: which rules can match a given alertname.
 *
 * Kept apart from loading and evaluation: it is a derived structure with its own
 * invariant (it never hides a rule that could match), rebuilt from the rules after every
 * load and only consulted by evaluation, which stays correct without it.
 */
#include "mapping_int.h"

#include <stdlib.h>
#include <string.h>

/* ---- alertname prefilter ------------------------------------------------- */

void iha_mapping_index_clear(struct iha_ruleset *rs)
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
enum iha_rc iha_mapping_index_build(struct iha_ruleset *rs)
{
    struct ix_pair *pairs = NULL;
    size_t n = 0, cap = 0;
    enum iha_rc rc = IHA_E_NOMEM;

    iha_mapping_index_clear(rs);
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
        iha_mapping_index_clear(rs);
    return rc;
}

const struct ix_key *iha_mapping_index_find(const struct iha_ruleset *rs, const char *value)
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
