/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file config_parse.c
 * @brief Turning the YAML sections of a configuration file into fields, through the
 *        descriptor table, with every error reported at its line and column.
 *
 * Separate from the table and from the checks across fields: this is the per-value work
 * (the value syntaxes of durations, sizes, URLs, enums, users and globs), driven only by a
 * field's type, so a new key needs a table row and no code here unless its type is new.
 */
#include "config_int.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "listen_addr.h"
#include "url.h"

#define MAX_REQUEST_MIN 1024u
#define MAX_REQUEST_MAX (1024u * 1024u * 1024u)
#define DEDUPE_MAX_ENTRIES_MAX 100000000u
#define UINT_MAX_VALUE 1000000ull
#define MAX_KEYS 32 /* keys of one section; a section with more would reject its last keys */

static const char *const dialect_names[] = {"masakari", "xloud", NULL};
const char *const iha_config_auth_type_names[] = {"static", "password", "application_credential",
                                                  "cloud", NULL};
static const char *const level_names[] = {"debug", "info", "warn", "error", NULL};
static const char *const format_names[] = {"logfmt", "json", NULL};
const char *const iha_config_client_auth_names[] = {"NoClientCert", "VerifyClientCertIfGiven",
                                                    "RequireAndVerifyClientCert", NULL};
static const char *const tls_min_names[] = {"TLS12", "TLS13", NULL};

/* ---- value parsers ----------------------------------------------------- */

int iha_duration_parse(const char *s, unsigned *ms_out)
{
    static const struct {
        const char *suffix;
        unsigned long long ms;
    } units[] = {{"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000}};
    unsigned long long total = 0;
    const char *p = s;

    if (!s || !*s)
        return -1;
    while (*p) {
        unsigned long long v = 0;
        const char *start = p;
        size_t u;

        while (*p >= '0' && *p <= '9') {
            v = v * 10 + (unsigned)(*p - '0');
            if (v > UINT_MAX)
                return -1;
            p++;
        }
        if (p == start)
            return -1;
        if (*p == '\0' && start == s) {
            /* A bare number is seconds. */
            total = v * 1000;
            break;
        }
        /* "ms" before "m" and "s", so the longest suffix wins. */
        for (u = 0; u < sizeof(units) / sizeof(units[0]); u++) {
            size_t l = strlen(units[u].suffix);

            if (strncmp(p, units[u].suffix, l) == 0)
                break;
        }
        if (u == sizeof(units) / sizeof(units[0]))
            return -1;
        p += strlen(units[u].suffix);
        total += v * units[u].ms;
        if (total > UINT_MAX)
            return -1;
    }
    if (total > UINT_MAX)
        return -1;
    *ms_out = (unsigned)total;
    return 0;
}

/* Parses a non-negative decimal integer without sign or spaces. */
static int parse_uint(const char *s, const char **end, unsigned long long *out)
{
    char *e;

    if (!(*s >= '0' && *s <= '9'))
        return -1;
    errno = 0;
    *out = strtoull(s, &e, 10);
    if (errno)
        return -1;
    *end = e;
    return 0;
}

static int parse_size(const char *s, unsigned long long *out)
{
    static const struct {
        const char *suffix;
        unsigned long long mult;
    } units[] = {
        {"", 1}, {"B", 1}, {"KiB", 1024}, {"MiB", 1024 * 1024}, {"GiB", 1024ull * 1024 * 1024}};
    const char *end;
    unsigned long long v;

    if (parse_uint(s, &end, &v) != 0)
        return -1;
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        if (strcmp(end, units[i].suffix) == 0) {
            if (v > ULLONG_MAX / units[i].mult)
                return -1;
            *out = v * units[i].mult;
            return 0;
        }
    }
    return -1;
}

static bool url_ok(const char *s)
{
    const char *host;

    if (strncmp(s, "http://", 7) == 0)
        host = s + 7;
    else if (strncmp(s, "https://", 8) == 0)
        host = s + 8;
    else
        return false;
    if (*host == '\0' || *host == '/' || *host == ':')
        return false;
    for (const char *p = s; *p; p++)
        if ((unsigned char)*p <= ' ' || *p == 0x7f)
            return false;
    return true;
}

/* ---- the walk ---------------------------------------------------------- */

/* One diagnostic at @p n, or at the config file itself when NULL. */
static void report(struct cloader *ld, enum iha_diag_level level, const struct iha_ynode *n,
                   const char *fmt, va_list ap) IHA_PRINTF(4, 0);

static void report(struct cloader *ld, enum iha_diag_level level, const struct iha_ynode *n,
                   const char *fmt, va_list ap)
{
    char msg[768];

    vsnprintf(msg, sizeof(msg), fmt, ap);
    if (n)
        iha_diag_add(ld->diag, level, n->file, n->line, n->col, "%s", msg);
    else
        iha_diag_add(ld->diag, level, ld->cfg->source, 0, 0, "%s", msg);
}

void iha_config_error(struct cloader *ld, const struct iha_ynode *n, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    report(ld, IHA_DIAG_ERROR, n, fmt, ap);
    va_end(ap);
    ld->errors++;
}

void iha_config_warn(struct cloader *ld, const struct iha_ynode *n, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    report(ld, IHA_DIAG_WARNING, n, fmt, ap);
    va_end(ap);
}

void iha_config_bad_enum(struct cloader *ld, const struct iha_ynode *n, const char *where,
                         const char *const *names, const char *expected)
{
    const char *hint = iha_ytree_suggest(n->scalar, names);

    if (hint)
        iha_config_error(ld, n, "%s: unknown value '%s' (did you mean '%s'?); expected %s", where,
                         n->scalar, hint, expected);
    else
        iha_config_error(ld, n, "%s: unknown value '%s'; expected %s", where, n->scalar, expected);
}

static void set_str(struct cloader *ld, char **slot, const char *v)
{
    if (iha_config_set_string(slot, v) != IHA_OK)
        ld->nomem = true;
}

static void load_users(struct cloader *ld, const struct iha_ynode *n, const char *where)
{
    struct iha_config *cfg = ld->cfg;
    struct iha_basic_user *users = NULL;
    size_t count = 0, errors = ld->errors;

    if (!iha_ynode_is_null(n) && n->kind != IHA_YNODE_MAP) {
        iha_config_error(ld, n, "%s: expected a mapping of user: hash, got %s", where,
                         iha_ynode_what(n));
        return;
    }
    if (n->kind == IHA_YNODE_MAP && n->n_items) {
        users = calloc(n->n_items / 2, sizeof(*users));
        if (!users) {
            ld->nomem = true;
            return;
        }
    }
    for (size_t i = 0; n->kind == IHA_YNODE_MAP && i + 1 < n->n_items; i += 2) {
        const struct iha_ynode *k = n->items[i], *v = n->items[i + 1];

        if (!iha_ynode_is_string(k) || strchr(k->scalar, ':')) {
            iha_config_error(ld, k, "%s: expected a user name without ':'", where);
            continue;
        }
        if (!iha_ynode_is_string(v)) {
            iha_config_error(ld, v, "%s.%s: expected a crypt(3) hash, got %s", where, k->scalar,
                             iha_ynode_what(v));
            continue;
        }
        if (v->scalar[0] != '$') {
            /* Refuse what looks like a clear-text password rather than storing it. */
            iha_config_error(
                ld, v,
                "%s.%s: expected a crypt(3) hash such as '$2y$10$...', not a clear-text "
                "password",
                where, k->scalar);
            continue;
        }
        users[count].name = strdup(k->scalar);
        users[count].hash = strdup(v->scalar);
        count++;
        if (!users[count - 1].name || !users[count - 1].hash) {
            ld->nomem = true;
            break;
        }
    }
    if (ld->nomem || ld->errors != errors) {
        iha_config_free_users(users, count);
        return;
    }
    iha_config_free_users(cfg->basic_users, cfg->n_basic_users);
    cfg->basic_users = users;
    cfg->n_basic_users = count;
}

static void load_globs(struct cloader *ld, const struct iha_ynode *n, const char *where)
{
    struct iha_config *cfg = ld->cfg;
    char **globs = NULL;
    size_t count = 0, errors = ld->errors;

    if (!iha_ynode_is_null(n) && n->kind != IHA_YNODE_SEQ) {
        iha_config_error(ld, n, "%s: expected a list, got %s", where, iha_ynode_what(n));
        return;
    }
    if (n->kind == IHA_YNODE_SEQ && n->n_items) {
        globs = calloc(n->n_items, sizeof(*globs));
        if (!globs) {
            ld->nomem = true;
            return;
        }
    }
    for (size_t i = 0; n->kind == IHA_YNODE_SEQ && i < n->n_items; i++) {
        const struct iha_ynode *g = n->items[i];

        if (!iha_ynode_is_string(g)) {
            iha_config_error(ld, g, "%s: expected a file name or glob, got %s", where,
                             iha_ynode_what(g));
            continue;
        }
        globs[count] = strdup(g->scalar);
        if (!globs[count++]) {
            ld->nomem = true;
            break;
        }
    }
    if (ld->nomem || ld->errors != errors) {
        iha_config_free_strings(globs, count);
        return;
    }
    iha_config_free_strings(cfg->rule_files, cfg->n_rule_files);
    cfg->rule_files = globs;
    cfg->n_rule_files = count;
}

static void load_bool(struct cloader *ld, const struct iha_ynode *n, const char *where, bool *out)
{
    if (iha_ynode_bool(n, out))
        return;
    if (iha_ynode_is_string(n))
        iha_config_error(ld, n, "%s: expected true or false, got '%s'", where, n->scalar);
    else
        iha_config_error(ld, n, "%s: expected true or false, got %s", where, iha_ynode_what(n));
}

static void load_duration(struct cloader *ld, const struct field *f, const struct iha_ynode *n,
                          const char *where, char *base)
{
    unsigned ms;

    if (iha_duration_parse(n->scalar, &ms) != 0) {
        iha_config_error(ld, n, "%s: invalid duration '%s' (expected e.g. 500ms, 30s, 5m, 1h)",
                         where, n->scalar);
        return;
    }
    if ((f->flags & NONZERO) && ms == 0) {
        iha_config_error(ld, n, "%s: must be greater than 0", where);
        return;
    }
    if (f->type == F_DUR_S) {
        if (ms % 1000) {
            iha_config_error(ld, n, "%s: '%s' is not a whole number of seconds", where, n->scalar);
            return;
        }
        *(unsigned *)(void *)(base + f->off) = ms / 1000;
    } else {
        *(unsigned *)(void *)(base + f->off) = ms;
    }
}

/* A small non-negative integer: a count of hosts, a percentage. */
static void load_uint(struct cloader *ld, const struct field *f, const struct iha_ynode *n,
                      const char *where, unsigned *out)
{
    unsigned long long v;
    unsigned long long lo = (f->flags & NONZERO) ? 1 : 0;
    unsigned long long hi = f->type == F_PERCENT ? 100 : UINT_MAX_VALUE;
    const char *end;

    if (parse_uint(n->scalar, &end, &v) != 0 || *end)
        iha_config_error(ld, n, "%s: expected %s, got '%s'", where,
                         f->type == F_PERCENT ? "a percentage from 0 to 100"
                         : lo                 ? "a positive integer"
                                              : "an integer of 0 or more",
                         n->scalar);
    else if (v < lo || v > hi)
        iha_config_error(ld, n, "%s: %llu is out of range (%llu to %llu)", where, v, lo, hi);
    else
        *out = (unsigned)v;
}

/*
 * web.tls_server_config's client_auth_type or min_version: one of the names, stored as
 * the enum value after UNSET in the names' order, or null for UNSET.
 */
static void load_tls_choice(struct cloader *ld, const struct field *f, const struct iha_ynode *n,
                            const char *where)
{
    bool client = f->type == F_CLICERT;
    const char *const *names = client ? iha_config_client_auth_names : tls_min_names;
    char *slot = (char *)ld->cfg + f->off;
    int v = 0; /* UNSET in both enums */

    if (!iha_ynode_is_null(n)) {
        if (!iha_ynode_is_string(n)) {
            iha_config_error(ld, n, "%s: expected a string, got %s", where, iha_ynode_what(n));
            return;
        }
        while (names[v] && strcmp(names[v], n->scalar) != 0)
            v++;
        if (!names[v]) {
            iha_config_error(ld, n,
                             client ? "%s: '%s' is not supported (use NoClientCert, "
                                      "VerifyClientCertIfGiven or RequireAndVerifyClientCert)"
                                    : "%s: '%s' is not supported (use TLS12 or TLS13)",
                             where, n->scalar);
            return;
        }
        v++;
    }
    if (client)
        *(enum iha_web_client_auth *)(void *)slot = (enum iha_web_client_auth)v;
    else
        *(enum iha_web_tls_min *)(void *)slot = (enum iha_web_tls_min)v;
}

/* A string value: parsed and checked according to the field's type. */
static void load_scalar(struct cloader *ld, const struct field *f, const struct iha_ynode *n,
                        const char *where)
{
    char *base = (char *)ld->cfg;
    unsigned long long v;
    const char *end;
    struct iha_listen_addr la;
    struct iha_err aerr = {0};

    switch (f->type) {
    case F_ADDR:
        if (iha_listen_addr_parse(n->scalar, &la, &aerr) != IHA_OK)
            iha_config_error(ld, n, "%s: invalid address '%s': %s", where, n->scalar, aerr.msg);
        else
            set_str(ld, (char **)(void *)(base + f->off), n->scalar);
        break;
    case F_URL:
        /* Not echoed: the URL holds a secret. */
        if (iha_url_has_userinfo(n->scalar))
            iha_config_error(ld, n, "%s: %s", where, IHA_URL_CREDENTIALS_HINT);
        else if (!url_ok(n->scalar))
            iha_config_error(
                ld, n, "%s: invalid URL '%s' (expected http://host[:port][/path] or https://...)",
                where, n->scalar);
        else
            set_str(ld, (char **)(void *)(base + f->off), n->scalar);
        break;
    case F_PATH:
    case F_STR:
        set_str(ld, (char **)(void *)(base + f->off), n->scalar);
        break;
    case F_SECRET: {
        char **slot = (char **)(void *)(base + f->off);
        if (*slot)
            explicit_bzero(*slot, strlen(*slot));
        set_str(ld, slot, n->scalar);
        break;
    }
    case F_AUTH: {
        size_t i;
        for (i = 0; iha_config_auth_type_names[i]; i++)
            if (strcmp(n->scalar, iha_config_auth_type_names[i]) == 0)
                break;
        if (iha_config_auth_type_names[i])
            *(enum iha_auth_type *)(void *)(base + f->off) = (enum iha_auth_type)i;
        else
            iha_config_bad_enum(ld, n, where, iha_config_auth_type_names,
                                "static, password, application_credential or cloud");
        break;
    }
    case F_SIZE:
        if (parse_size(n->scalar, &v) != 0)
            iha_config_error(ld, n,
                             "%s: invalid size '%s' (expected bytes, or a number with KiB/MiB/GiB)",
                             where, n->scalar);
        else if (v < MAX_REQUEST_MIN || v > MAX_REQUEST_MAX)
            iha_config_error(ld, n, "%s: %llu is out of range (1KiB to 1GiB)", where, v);
        else
            *(size_t *)(void *)(base + f->off) = (size_t)v;
        break;
    case F_COUNT:
        if (parse_uint(n->scalar, &end, &v) != 0 || *end)
            iha_config_error(ld, n, "%s: expected a positive integer, got '%s'", where, n->scalar);
        else if (v == 0 || v > DEDUPE_MAX_ENTRIES_MAX)
            iha_config_error(ld, n, "%s: %llu is out of range (1 to %u)", where, v,
                             DEDUPE_MAX_ENTRIES_MAX);
        else
            *(size_t *)(void *)(base + f->off) = (size_t)v;
        break;
    case F_UINT:
    case F_PERCENT:
        load_uint(ld, f, n, where, (unsigned *)(void *)(base + f->off));
        break;
    case F_DUR_S:
    case F_DUR_MS:
        load_duration(ld, f, n, where, base);
        break;
    case F_DIALECT:
        if (iha_dialect_parse(n->scalar, (enum iha_dialect *)(void *)(base + f->off)) != 0)
            iha_config_bad_enum(ld, n, where, dialect_names, "masakari or xloud");
        break;
    case F_LEVEL:
        if (iha_log_level_parse(n->scalar, (enum iha_log_level *)(void *)(base + f->off)) != 0)
            iha_config_bad_enum(ld, n, where, level_names, "debug, info, warn or error");
        break;
    case F_FORMAT:
        if (strcmp(n->scalar, "logfmt") == 0)
            *(enum iha_log_format *)(void *)(base + f->off) = IHA_LOG_LOGFMT;
        else if (strcmp(n->scalar, "json") == 0)
            *(enum iha_log_format *)(void *)(base + f->off) = IHA_LOG_JSON;
        else
            iha_config_bad_enum(ld, n, where, format_names, "logfmt or json");
        break;
    default:
        break;
    }
}

/* Types that accept more than a string (a mapping, a list, null) first, then strings. */
static void load_value(struct cloader *ld, const struct field *f, const struct iha_ynode *n,
                       const char *where)
{
    char *base = (char *)ld->cfg;

    switch (f->type) {
    case F_USERS:
        load_users(ld, n, where);
        return;
    case F_GLOBS:
        load_globs(ld, n, where);
        return;
    case F_BOOL:
        load_bool(ld, n, where, (bool *)(void *)(base + f->off));
        return;
    case F_CLICERT:
    case F_TLS_MIN:
        load_tls_choice(ld, f, n, where);
        return;
    case F_PATH:
    case F_STR:
    case F_SECRET:
        if (iha_ynode_is_null(n)) {
            char **slot = (char **)(void *)(base + f->off);
            if (f->type == F_SECRET && *slot)
                explicit_bzero(*slot, strlen(*slot));
            set_str(ld, slot, NULL);
            return;
        }
        break;
    default:
        break;
    }
    if (!iha_ynode_is_string(n)) {
        iha_config_error(ld, n, "%s: expected a string, got %s", where, iha_ynode_what(n));
        return;
    }
    load_scalar(ld, f, n, where);
}

void iha_config_load_section(struct cloader *ld, const struct iha_ynode *map,
                             const struct field *fields, const char *prefix)
{
    const char *names[MAX_KEYS + 1];
    size_t nn = 0;
    char where[128];

    if (iha_ynode_is_null(map))
        return;
    if (map->kind != IHA_YNODE_MAP) {
        iha_config_error(ld, map, "%s: expected a mapping, got %s",
                         prefix[0] ? prefix : "top level", iha_ynode_what(map));
        return;
    }
    for (const struct field *f = fields; f->key && nn < MAX_KEYS; f++)
        names[nn++] = f->key;
    names[nn] = NULL;
    ld->errors += iha_ytree_check_keys(map, names, prefix[0] ? prefix : "top level", ld->diag);
    for (size_t i = 0; i + 1 < map->n_items && !ld->nomem; i += 2) {
        const struct iha_ynode *k = map->items[i], *v = map->items[i + 1];
        const struct field *f;

        if (!iha_ynode_is_string(k))
            continue; /* reported above */
        for (f = fields; f->key; f++)
            if (strcmp(f->key, k->scalar) == 0)
                break;
        if (!f->key)
            continue;
        snprintf(where, sizeof(where), "%s%s%s", prefix, prefix[0] ? "." : "", f->key);
        if (f->type == F_SECTION)
            iha_config_load_section(ld, v, f->sub, where);
        else
            load_value(ld, f, v, where);
    }
}
