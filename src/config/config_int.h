/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file config_int.h
 * @brief Private to src/config: the descriptor table's types, the loader's state and the
 *        functions the configuration files share. Never included from outside the folder.
 *
 * One table (config.c) describes every key: loading walks it (config_parse.c), the
 * cross-field checks run on what it filled (config_check.c), and a reload compares two
 * configurations through it (config_diff.c).
 */
#ifndef IHA_CONFIG_INT_H
#define IHA_CONFIG_INT_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "yaml_tree.h"

/* How a YAML value is turned into a config field. */
enum ftype {
    F_SECTION, /* nested mapping described by @c sub */
    F_ADDR,    /* char *: host:port */
    F_SIZE,    /* size_t: bytes, with optional KiB/MiB/GiB */
    F_DUR_S,   /* unsigned: a duration in whole seconds */
    F_DUR_MS,  /* unsigned: a duration in milliseconds */
    F_BOOL,    /* bool */
    F_PATH,    /* char *: a file path, null clears it */
    F_URL,     /* char *: http(s)://... */
    F_DIALECT, /* enum iha_dialect */
    F_LEVEL,   /* enum iha_log_level */
    F_FORMAT,  /* enum iha_log_format */
    F_COUNT,   /* size_t: a positive integer */
    F_USERS,   /* basic_users / n_basic_users */
    F_GLOBS,   /* rule_files / n_rule_files */
    F_STR,     /* char *: a non-empty string, null clears it */
    F_SECRET,  /* char *: like F_STR, never echoed in messages, wiped when freed */
    F_AUTH,    /* enum iha_auth_type */
    F_UINT,    /* unsigned: an integer from 0 (or 1 with NONZERO) to 1000000 */
    F_PERCENT, /* unsigned: 0 to 100 */
    F_CLICERT, /* enum iha_web_client_auth, null = unset */
    F_TLS_MIN, /* enum iha_web_tls_min, null = unset */
};

#define NONZERO 1u /* the value must not be 0 */

struct field {
    const char *key;
    enum ftype type;
    size_t off;
    unsigned flags;
    const struct field *sub;
};

struct cloader {
    struct iha_config *cfg;
    struct iha_diag *diag;
    size_t errors;
    bool nomem;
};

/* Every key of the configuration file, the root of the descriptor table (config.c). */
extern const struct field iha_config_top_fields[];

/* Names of enum iha_auth_type in its order, NULL-terminated (config_parse.c). */
extern const char *const iha_config_auth_type_names[];

/*
 * Names of enum iha_web_client_auth from IHA_WEB_CLIENT_AUTH_NONE on, NULL-terminated
 * (config_parse.c).
 */
extern const char *const iha_config_client_auth_names[];

/* Frees @p n users and the array (config.c). */
void iha_config_free_users(struct iha_basic_user *u, size_t n);

/* Frees @p n strings and the array (config.c). */
void iha_config_free_strings(char **s, size_t n);

/*
 * Reports an error at @p n (at the config file itself when NULL) and counts it in
 * ld->errors (config_parse.c).
 */
void iha_config_error(struct cloader *ld, const struct iha_ynode *n, const char *fmt, ...)
    IHA_PRINTF(3, 4);

/* Reports a combination that loads but is likely not meant, as a warning (config_parse.c). */
void iha_config_warn(struct cloader *ld, const struct iha_ynode *n, const char *fmt, ...)
    IHA_PRINTF(3, 4);

/* Reports a value outside @p names with a did-you-mean hint (config_parse.c). */
void iha_config_bad_enum(struct cloader *ld, const struct iha_ynode *n, const char *where,
                         const char *const *names, const char *expected);

/*
 * Loads the keys of @p map described by @p fields into ld->cfg; errors are counted in
 * @p ld, keys absent from @p map keep their value (config_parse.c).
 */
void iha_config_load_section(struct cloader *ld, const struct iha_ynode *map,
                             const struct field *fields, const char *prefix);

/* The node at a.b.c under @p root (@p b, @p c may be NULL), or NULL (config_check.c). */
const struct iha_ynode *iha_config_get_path(const struct iha_ynode *root, const char *a,
                                            const char *b, const char *c);

/* Checks that need more than one field, once every value loaded cleanly (config_check.c). */
void iha_config_check_cross(struct cloader *ld, const struct iha_ynode *root);

#endif
