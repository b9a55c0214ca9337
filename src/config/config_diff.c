/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file config_diff.c
 * @brief Comparing two configurations key by key, and listing every key, for reloads.
 *
 * Separate from loading: a reload loads a complete new configuration, then uses this to
 * tell which keys changed (some need a restart); it reads the descriptor table only.
 */
#include "config_int.h"

#include <stdio.h>
#include <string.h>

/* ---- comparison (reload) ----------------------------------------------- */

static bool same_str(const char *a, const char *b)
{
    return a == b || (a && b && strcmp(a, b) == 0);
}

/* Whether the value of @p f is the same in @p a and @p b. */
static bool field_equal(const struct field *f, const struct iha_config *a,
                        const struct iha_config *b)
{
    const char *pa = (const char *)a + f->off, *pb = (const char *)b + f->off;

    switch (f->type) {
    case F_ADDR:
    case F_PATH:
    case F_URL:
    case F_STR:
    case F_SECRET:
        return same_str(*(char *const *)(const void *)pa, *(char *const *)(const void *)pb);
    case F_SIZE:
    case F_COUNT:
        return *(const size_t *)(const void *)pa == *(const size_t *)(const void *)pb;
    case F_DUR_S:
    case F_DUR_MS:
    case F_UINT:
    case F_PERCENT:
        return *(const unsigned *)(const void *)pa == *(const unsigned *)(const void *)pb;
    case F_BOOL:
        return *(const bool *)(const void *)pa == *(const bool *)(const void *)pb;
    case F_DIALECT:
        return *(const enum iha_dialect *)(const void *)pa ==
               *(const enum iha_dialect *)(const void *)pb;
    case F_LEVEL:
        return *(const enum iha_log_level *)(const void *)pa ==
               *(const enum iha_log_level *)(const void *)pb;
    case F_FORMAT:
        return *(const enum iha_log_format *)(const void *)pa ==
               *(const enum iha_log_format *)(const void *)pb;
    case F_AUTH:
        return *(const enum iha_auth_type *)(const void *)pa ==
               *(const enum iha_auth_type *)(const void *)pb;
    case F_CLICERT:
        return *(const enum iha_web_client_auth *)(const void *)pa ==
               *(const enum iha_web_client_auth *)(const void *)pb;
    case F_TLS_MIN:
        return *(const enum iha_web_tls_min *)(const void *)pa ==
               *(const enum iha_web_tls_min *)(const void *)pb;
    case F_USERS:
        if (a->n_basic_users != b->n_basic_users)
            return false;
        for (size_t i = 0; i < a->n_basic_users; i++)
            if (!same_str(a->basic_users[i].name, b->basic_users[i].name) ||
                !same_str(a->basic_users[i].hash, b->basic_users[i].hash))
                return false;
        return true;
    case F_GLOBS:
        if (a->n_rule_files != b->n_rule_files)
            return false;
        for (size_t i = 0; i < a->n_rule_files; i++)
            if (!same_str(a->rule_files[i], b->rule_files[i]))
                return false;
        return true;
    case F_SECTION:
        break;
    }
    /* A type without a comparison is reported as changed rather than silently equal. */
    return false;
}

/* Calls @p fn for every key of @p fields (and below) whose value differs, or for every key. */
static void walk_keys(const struct field *fields, const char *prefix, const struct iha_config *a,
                      const struct iha_config *b, iha_config_key_fn fn, void *cls)
{
    char key[128];

    for (const struct field *f = fields; f->key; f++) {
        snprintf(key, sizeof(key), "%s%s%s", prefix, prefix[0] ? "." : "", f->key);
        if (f->type == F_SECTION)
            walk_keys(f->sub, key, a, b, fn, cls);
        else if (!a || !b || !field_equal(f, a, b))
            fn(cls, key);
    }
}

void iha_config_diff(const struct iha_config *a, const struct iha_config *b, iha_config_key_fn fn,
                     void *cls)
{
    if (a && b)
        walk_keys(iha_config_top_fields, "", a, b, fn, cls);
}

void iha_config_foreach_key(iha_config_key_fn fn, void *cls)
{
    walk_keys(iha_config_top_fields, "", NULL, NULL, fn, cls);
}
