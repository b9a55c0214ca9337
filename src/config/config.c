/* SPDX-License-Identifier: Apache-2.0 */
/** @file config.c @brief Gateway configuration: defaults, YAML loading and validation. */
#include "config.h"

#include <errno.h>
#include <glob.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "embedded.h"
#include "listen_addr.h"
#include "mapping.h"
#include "url.h"
#include "yaml_tree.h"

#define EMBEDDED_SOURCE "<embedded default>"
#define MAX_REQUEST_MIN 1024u
#define MAX_REQUEST_MAX (1024u * 1024u * 1024u)
#define DEDUPE_MAX_ENTRIES_MAX 100000000u
#define MAX_KEYS 32 /* keys of one section; a section with more would reject its last keys */

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
};

#define NONZERO 1u /* the value must not be 0 */

struct field {
    const char *key;
    enum ftype type;
    size_t off;
    unsigned flags;
    const struct field *sub;
};

#define FIELD(k, t, member, fl)                                                                    \
    {                                                                                              \
        k, t, offsetof(struct iha_config, member), fl, NULL                                        \
    }
#define SECTION(k, s)                                                                              \
    {                                                                                              \
        k, F_SECTION, 0, 0, s                                                                      \
    }

static const struct field auth_fields[] = {
    FIELD("disabled", F_BOOL, auth_disabled, 0),
    FIELD("bearer_tokens_file", F_PATH, bearer_tokens_file, 0),
    FIELD("basic_auth_users", F_USERS, basic_users, 0),
    {NULL, F_SECTION, 0, 0, NULL},
};

static const struct field web_fields[] = {
    FIELD("listen_address", F_ADDR, listen_address, 0),
    FIELD("max_request_bytes", F_SIZE, max_request_bytes, NONZERO),
    FIELD("read_timeout", F_DUR_S, read_timeout_s, NONZERO),
    SECTION("auth", auth_fields),
    {NULL, F_SECTION, 0, 0, NULL},
};

static const struct field iha_tls_fields[] = {
    FIELD("ca_file", F_PATH, tls.ca_file, 0),
    FIELD("cert_file", F_PATH, tls.cert_file, 0),
    FIELD("key_file", F_PATH, tls.key_file, 0),
    FIELD("insecure", F_BOOL, tls.insecure, 0),
    {NULL, F_SECTION, 0, 0, NULL},
};

static const struct field ks_tls_fields[] = {
    FIELD("ca_file", F_PATH, auth.tls.ca_file, 0),
    FIELD("cert_file", F_PATH, auth.tls.cert_file, 0),
    FIELD("key_file", F_PATH, auth.tls.key_file, 0),
    FIELD("insecure", F_BOOL, auth.tls.insecure, 0),
    {NULL, F_SECTION, 0, 0, NULL},
};

static const struct field ks_auth_fields[] = {
    FIELD("type", F_AUTH, auth.type, 0),
    FIELD("auth_url", F_URL, auth.auth_url, 0),
    FIELD("username", F_STR, auth.username, 0),
    FIELD("user_id", F_STR, auth.user_id, 0),
    FIELD("user_domain_name", F_STR, auth.user_domain_name, 0),
    FIELD("user_domain_id", F_STR, auth.user_domain_id, 0),
    FIELD("password", F_SECRET, auth.password, 0),
    FIELD("password_file", F_PATH, auth.password_file, 0),
    FIELD("project_name", F_STR, auth.project_name, 0),
    FIELD("project_id", F_STR, auth.project_id, 0),
    FIELD("project_domain_name", F_STR, auth.project_domain_name, 0),
    FIELD("project_domain_id", F_STR, auth.project_domain_id, 0),
    FIELD("application_credential_id", F_STR, auth.application_credential_id, 0),
    FIELD("application_credential_name", F_STR, auth.application_credential_name, 0),
    FIELD("application_credential_secret", F_SECRET, auth.application_credential_secret, 0),
    FIELD("application_credential_secret_file", F_PATH, auth.application_credential_secret_file, 0),
    FIELD("cloud", F_STR, auth.cloud, 0),
    FIELD("region_name", F_STR, auth.region_name, 0),
    FIELD("interface", F_STR, auth.interface, 0),
    SECTION("tls", ks_tls_fields),
    {NULL, F_SECTION, 0, 0, NULL},
};

static const struct field iha_fields[] = {
    FIELD("url", F_URL, url, 0),
    FIELD("dialect", F_DIALECT, dialect, 0),
    FIELD("token_file", F_PATH, token_file, 0),
    FIELD("connect_timeout", F_DUR_MS, connect_timeout_ms, NONZERO),
    FIELD("timeout", F_DUR_MS, timeout_ms, NONZERO),
    FIELD("retry_for", F_DUR_MS, retry_for_ms, 0),
    SECTION("tls", iha_tls_fields),
    SECTION("auth", ks_auth_fields),
    {NULL, F_SECTION, 0, 0, NULL},
};

static const struct field dedupe_fields[] = {
    FIELD("window", F_DUR_S, dedupe_window_s, NONZERO),
    FIELD("max_entries", F_COUNT, dedupe_max_entries, NONZERO),
    {NULL, F_SECTION, 0, 0, NULL},
};

static const struct field mapping_fields[] = {
    FIELD("rule_files", F_GLOBS, rule_files, 0),
    {NULL, F_SECTION, 0, 0, NULL},
};

static const struct field storage_fields[] = {
    FIELD("path", F_PATH, storage_path, 0),
    FIELD("max_bytes", F_SIZE, storage_max_bytes, NONZERO),
    FIELD("max_entries", F_COUNT, storage_max_entries, NONZERO),
    FIELD("segment_bytes", F_SIZE, storage_segment_bytes, NONZERO),
    FIELD("max_age", F_DUR_MS, storage_max_age_ms, NONZERO),
    FIELD("max_backoff", F_DUR_MS, storage_max_backoff_ms, NONZERO),
    {NULL, F_SECTION, 0, 0, NULL},
};

static const struct field log_fields[] = {
    FIELD("level", F_LEVEL, log_level, 0),
    FIELD("format", F_FORMAT, log_format, 0),
    {NULL, F_SECTION, 0, 0, NULL},
};

static const struct field top_fields[] = {
    SECTION("web", web_fields),       SECTION("instance_ha", iha_fields),
    SECTION("dedupe", dedupe_fields), SECTION("mapping", mapping_fields),
    SECTION("log", log_fields),       SECTION("storage", storage_fields),
    {NULL, F_SECTION, 0, 0, NULL},
};

static const char *const dialect_names[] = {"masakari", "xloud", NULL};
static const char *const auth_type_names[] = {"static", "password", "application_credential",
                                              "cloud", NULL};
static const char *const interface_names[] = {"public", "internal", "admin", NULL};
static const char *const level_names[] = {"debug", "info", "warn", "error", NULL};
static const char *const format_names[] = {"logfmt", "json", NULL};

struct cloader {
    struct iha_config *cfg;
    struct iha_diag *diag;
    size_t errors;
    bool nomem;
};

/* ---- defaults and freeing ---------------------------------------------- */

static void free_users(struct iha_basic_user *u, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(u[i].name);
        free(u[i].hash);
    }
    free(u);
}

static void free_strings(char **s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(s[i]);
    free(s);
}

static void free_secret_str(char *s)
{
    if (s) {
        explicit_bzero(s, strlen(s));
        free(s);
    }
}

static void free_tls(struct iha_tls_config *t)
{
    free(t->ca_file);
    free(t->cert_file);
    free(t->key_file);
}

static void free_auth(struct iha_auth_config *a)
{
    free(a->auth_url);
    free(a->username);
    free(a->user_id);
    free(a->user_domain_name);
    free(a->user_domain_id);
    free_secret_str(a->password);
    free(a->password_file);
    free(a->project_name);
    free(a->project_id);
    free(a->project_domain_name);
    free(a->project_domain_id);
    free(a->application_credential_id);
    free(a->application_credential_name);
    free_secret_str(a->application_credential_secret);
    free(a->application_credential_secret_file);
    free(a->cloud);
    free(a->region_name);
    free(a->interface);
    free_tls(&a->tls);
}

void iha_config_free(struct iha_config *cfg)
{
    if (!cfg)
        return;
    free(cfg->source);
    free(cfg->listen_address);
    free(cfg->bearer_tokens_file);
    free_users(cfg->basic_users, cfg->n_basic_users);
    free(cfg->url);
    free(cfg->token_file);
    free_tls(&cfg->tls);
    free_auth(&cfg->auth);
    free(cfg->storage_path);
    free_strings(cfg->rule_files, cfg->n_rule_files);
    free(cfg);
}

enum iha_rc iha_config_set_string(char **field, const char *value)
{
    char *copy = NULL;

    if (value) {
        copy = strdup(value);
        if (!copy)
            return IHA_E_NOMEM;
    }
    free(*field);
    *field = copy;
    return IHA_OK;
}

enum iha_rc iha_config_default(struct iha_config **out)
{
    struct iha_config *cfg = calloc(1, sizeof(*cfg));
    enum iha_rc rc = IHA_E_NOMEM;

    *out = NULL;
    if (!cfg)
        return IHA_E_NOMEM;
    if (iha_config_set_string(&cfg->source, EMBEDDED_SOURCE) != IHA_OK ||
        iha_config_set_string(&cfg->listen_address, IHA_DEFAULT_LISTEN) != IHA_OK ||
        iha_config_set_string(&cfg->bearer_tokens_file, IHA_DEFAULT_INBOUND_TOKENS) != IHA_OK ||
        iha_config_set_string(&cfg->url, IHA_DEFAULT_URL) != IHA_OK ||
        iha_config_set_string(&cfg->storage_path, IHA_DEFAULT_STORAGE_PATH) != IHA_OK)
        goto cleanup;
    cfg->storage_max_bytes = 256u * 1024 * 1024;
    cfg->storage_max_entries = 10000;
    cfg->storage_segment_bytes = 4u * 1024 * 1024;
    cfg->storage_max_age_ms = 6u * 3600u * 1000u;
    cfg->storage_max_backoff_ms = 60000;
    cfg->max_request_bytes = 8 * 1024 * 1024;
    cfg->read_timeout_s = 30;
    cfg->auth_disabled = false;
    cfg->dialect = IHA_DIALECT_MASAKARI;
    cfg->token_file = NULL;
    cfg->connect_timeout_ms = 3000;
    cfg->timeout_ms = 10000;
    cfg->retry_for_ms = 20000;
    cfg->dedupe_window_s = 180;
    cfg->dedupe_max_entries = 100000;
    cfg->log_level = IHA_LOG_INFO;
    cfg->log_format = IHA_LOG_LOGFMT;
    *out = cfg;
    cfg = NULL;
    rc = IHA_OK;

cleanup:
    iha_config_free(cfg);
    return rc;
}

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

static void cerror(struct cloader *ld, const struct iha_ynode *n, const char *fmt, ...)
    IHA_PRINTF(3, 4);

static void cerror(struct cloader *ld, const struct iha_ynode *n, const char *fmt, ...)
{
    char msg[768];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (n)
        iha_diag_add(ld->diag, IHA_DIAG_ERROR, n->file, n->line, n->col, "%s", msg);
    else
        iha_diag_add(ld->diag, IHA_DIAG_ERROR, ld->cfg->source, 0, 0, "%s", msg);
    ld->errors++;
}

static const char *what(const struct iha_ynode *n)
{
    return iha_ynode_is_null(n) ? "null" : iha_ynode_kind_name(n->kind);
}

static bool is_string(const struct iha_ynode *n)
{
    return n->kind == IHA_YNODE_SCALAR && !iha_ynode_is_null(n);
}

/* Reports a value outside @p names with a did-you-mean hint. */
static void bad_enum(struct cloader *ld, const struct iha_ynode *n, const char *where,
                     const char *const *names, const char *expected)
{
    const char *hint = iha_ytree_suggest(n->scalar, names);

    if (hint)
        cerror(ld, n, "%s: unknown value '%s' (did you mean '%s'?); expected %s", where, n->scalar,
               hint, expected);
    else
        cerror(ld, n, "%s: unknown value '%s'; expected %s", where, n->scalar, expected);
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
        cerror(ld, n, "%s: expected a mapping of user: hash, got %s", where, what(n));
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

        if (!is_string(k) || strchr(k->scalar, ':')) {
            cerror(ld, k, "%s: expected a user name without ':'", where);
            continue;
        }
        if (!is_string(v)) {
            cerror(ld, v, "%s.%s: expected a crypt(3) hash, got %s", where, k->scalar, what(v));
            continue;
        }
        if (v->scalar[0] != '$') {
            /* Refuse what looks like a clear-text password rather than storing it. */
            cerror(ld, v,
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
        free_users(users, count);
        return;
    }
    free_users(cfg->basic_users, cfg->n_basic_users);
    cfg->basic_users = users;
    cfg->n_basic_users = count;
}

static void load_globs(struct cloader *ld, const struct iha_ynode *n, const char *where)
{
    struct iha_config *cfg = ld->cfg;
    char **globs = NULL;
    size_t count = 0, errors = ld->errors;

    if (!iha_ynode_is_null(n) && n->kind != IHA_YNODE_SEQ) {
        cerror(ld, n, "%s: expected a list, got %s", where, what(n));
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

        if (!is_string(g)) {
            cerror(ld, g, "%s: expected a file name or glob, got %s", where, what(g));
            continue;
        }
        globs[count] = strdup(g->scalar);
        if (!globs[count++]) {
            ld->nomem = true;
            break;
        }
    }
    if (ld->nomem || ld->errors != errors) {
        free_strings(globs, count);
        return;
    }
    free_strings(cfg->rule_files, cfg->n_rule_files);
    cfg->rule_files = globs;
    cfg->n_rule_files = count;
}

static void load_bool(struct cloader *ld, const struct iha_ynode *n, const char *where, bool *out)
{
    if (n->kind == IHA_YNODE_SCALAR && !n->quoted) {
        if (!strcmp(n->scalar, "true") || !strcmp(n->scalar, "True") ||
            !strcmp(n->scalar, "TRUE")) {
            *out = true;
            return;
        }
        if (!strcmp(n->scalar, "false") || !strcmp(n->scalar, "False") ||
            !strcmp(n->scalar, "FALSE")) {
            *out = false;
            return;
        }
    }
    if (is_string(n))
        cerror(ld, n, "%s: expected true or false, got '%s'", where, n->scalar);
    else
        cerror(ld, n, "%s: expected true or false, got %s", where, what(n));
}

static void load_duration(struct cloader *ld, const struct field *f, const struct iha_ynode *n,
                          const char *where, char *base)
{
    unsigned ms;

    if (iha_duration_parse(n->scalar, &ms) != 0) {
        cerror(ld, n, "%s: invalid duration '%s' (expected e.g. 500ms, 30s, 5m, 1h)", where,
               n->scalar);
        return;
    }
    if ((f->flags & NONZERO) && ms == 0) {
        cerror(ld, n, "%s: must be greater than 0", where);
        return;
    }
    if (f->type == F_DUR_S) {
        if (ms % 1000) {
            cerror(ld, n, "%s: '%s' is not a whole number of seconds", where, n->scalar);
            return;
        }
        *(unsigned *)(void *)(base + f->off) = ms / 1000;
    } else {
        *(unsigned *)(void *)(base + f->off) = ms;
    }
}

static void load_value(struct cloader *ld, const struct field *f, const struct iha_ynode *n,
                       const char *where)
{
    char *base = (char *)ld->cfg;
    unsigned long long v;
    const char *end;
    struct iha_listen_addr la;
    struct iha_err aerr = {0};

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
    if (!is_string(n)) {
        cerror(ld, n, "%s: expected a string, got %s", where, what(n));
        return;
    }
    switch (f->type) {
    case F_ADDR:
        if (iha_listen_addr_parse(n->scalar, &la, &aerr) != IHA_OK)
            cerror(ld, n, "%s: invalid address '%s': %s", where, n->scalar, aerr.msg);
        else
            set_str(ld, (char **)(void *)(base + f->off), n->scalar);
        break;
    case F_URL:
        /* Not echoed: the URL holds a secret. */
        if (iha_url_has_userinfo(n->scalar))
            cerror(ld, n, "%s: %s", where, IHA_URL_CREDENTIALS_HINT);
        else if (!url_ok(n->scalar))
            cerror(ld, n,
                   "%s: invalid URL '%s' (expected http://host[:port][/path] or https://...)",
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
        for (i = 0; auth_type_names[i]; i++)
            if (strcmp(n->scalar, auth_type_names[i]) == 0)
                break;
        if (auth_type_names[i])
            *(enum iha_auth_type *)(void *)(base + f->off) = (enum iha_auth_type)i;
        else
            bad_enum(ld, n, where, auth_type_names,
                     "static, password, application_credential or cloud");
        break;
    }
    case F_SIZE:
        if (parse_size(n->scalar, &v) != 0)
            cerror(ld, n, "%s: invalid size '%s' (expected bytes, or a number with KiB/MiB/GiB)",
                   where, n->scalar);
        else if (v < MAX_REQUEST_MIN || v > MAX_REQUEST_MAX)
            cerror(ld, n, "%s: %llu is out of range (1KiB to 1GiB)", where, v);
        else
            *(size_t *)(void *)(base + f->off) = (size_t)v;
        break;
    case F_COUNT:
        if (parse_uint(n->scalar, &end, &v) != 0 || *end)
            cerror(ld, n, "%s: expected a positive integer, got '%s'", where, n->scalar);
        else if (v == 0 || v > DEDUPE_MAX_ENTRIES_MAX)
            cerror(ld, n, "%s: %llu is out of range (1 to %u)", where, v, DEDUPE_MAX_ENTRIES_MAX);
        else
            *(size_t *)(void *)(base + f->off) = (size_t)v;
        break;
    case F_DUR_S:
    case F_DUR_MS:
        load_duration(ld, f, n, where, base);
        break;
    case F_DIALECT:
        if (iha_dialect_parse(n->scalar, (enum iha_dialect *)(void *)(base + f->off)) != 0)
            bad_enum(ld, n, where, dialect_names, "masakari or xloud");
        break;
    case F_LEVEL:
        if (iha_log_level_parse(n->scalar, (enum iha_log_level *)(void *)(base + f->off)) != 0)
            bad_enum(ld, n, where, level_names, "debug, info, warn or error");
        break;
    case F_FORMAT:
        if (strcmp(n->scalar, "logfmt") == 0)
            *(enum iha_log_format *)(void *)(base + f->off) = IHA_LOG_LOGFMT;
        else if (strcmp(n->scalar, "json") == 0)
            *(enum iha_log_format *)(void *)(base + f->off) = IHA_LOG_JSON;
        else
            bad_enum(ld, n, where, format_names, "logfmt or json");
        break;
    default:
        break;
    }
}

static void load_section(struct cloader *ld, const struct iha_ynode *map,
                         const struct field *fields, const char *prefix)
{
    const char *names[MAX_KEYS + 1];
    size_t nn = 0;
    char where[128];

    if (iha_ynode_is_null(map))
        return;
    if (map->kind != IHA_YNODE_MAP) {
        cerror(ld, map, "%s: expected a mapping, got %s", prefix[0] ? prefix : "top level",
               what(map));
        return;
    }
    for (const struct field *f = fields; f->key && nn < MAX_KEYS; f++)
        names[nn++] = f->key;
    names[nn] = NULL;
    ld->errors += iha_ytree_check_keys(map, names, prefix[0] ? prefix : "top level", ld->diag);
    for (size_t i = 0; i + 1 < map->n_items && !ld->nomem; i += 2) {
        const struct iha_ynode *k = map->items[i], *v = map->items[i + 1];
        const struct field *f;

        if (!is_string(k))
            continue; /* reported above */
        for (f = fields; f->key; f++)
            if (strcmp(f->key, k->scalar) == 0)
                break;
        if (!f->key)
            continue;
        snprintf(where, sizeof(where), "%s%s%s", prefix, prefix[0] ? "." : "", f->key);
        if (f->type == F_SECTION)
            load_section(ld, v, f->sub, where);
        else
            load_value(ld, f, v, where);
    }
}

static const struct iha_ynode *get_path(const struct iha_ynode *root, const char *a, const char *b,
                                        const char *c)
{
    const struct iha_ynode *n = iha_ynode_get(root, a);

    if (n && b)
        n = iha_ynode_get(n, b);
    if (n && c)
        n = iha_ynode_get(n, c);
    return n;
}

/* Reports @p key of instance_ha.auth as required for the configured type. */
static void auth_needs(struct cloader *ld, const struct iha_ynode *root, const char *what)
{
    const struct iha_ynode *at = get_path(root, "instance_ha", "auth", NULL);

    cerror(ld, at, "instance_ha.auth: type %s needs %s", auth_type_names[ld->cfg->auth.type], what);
}

/* instance_ha.auth: what each type needs, and nothing that another type would use. */
static void check_auth(struct cloader *ld, const struct iha_ynode *root)
{
    const struct iha_auth_config *a = &ld->cfg->auth;
    const struct iha_ynode *at = get_path(root, "instance_ha", "auth", NULL);

    if (a->interface) {
        size_t i;
        for (i = 0; interface_names[i]; i++)
            if (strcmp(a->interface, interface_names[i]) == 0)
                break;
        if (!interface_names[i])
            bad_enum(ld, iha_ynode_get(at, "interface"), "instance_ha.auth.interface",
                     interface_names, "public, internal or admin");
    }
    if (a->password && a->password_file)
        cerror(ld, iha_ynode_get(at, "password"),
               "instance_ha.auth: set password or password_file, not both");
    if (a->application_credential_secret && a->application_credential_secret_file)
        cerror(ld, iha_ynode_get(at, "application_credential_secret"),
               "instance_ha.auth: set application_credential_secret or "
               "application_credential_secret_file, not both");
    switch (a->type) {
    case IHA_AUTH_STATIC:
        if (a->auth_url || a->cloud || a->username || a->user_id || a->application_credential_id ||
            a->application_credential_name)
            cerror(ld, at,
                   "instance_ha.auth: Keystone settings are present but type is static (the "
                   "default); set type: password, application_credential or cloud");
        break;
    case IHA_AUTH_PASSWORD:
        if (!a->auth_url)
            auth_needs(ld, root, "auth_url");
        if (!a->username && !a->user_id)
            auth_needs(ld, root, "username or user_id");
        if (!a->password && !a->password_file)
            auth_needs(ld, root, "password_file (or password)");
        if (!a->project_name && !a->project_id)
            auth_needs(ld, root,
                       "project_name or project_id (Instance HA needs a project-scoped token "
                       "with the admin role)");
        break;
    case IHA_AUTH_APPCRED:
        if (!a->auth_url)
            auth_needs(ld, root, "auth_url");
        if (!a->application_credential_id &&
            !(a->application_credential_name && (a->username || a->user_id)))
            auth_needs(ld, root,
                       "application_credential_id, or application_credential_name with "
                       "username or user_id");
        if (!a->application_credential_secret && !a->application_credential_secret_file)
            auth_needs(ld, root,
                       "application_credential_secret_file (or application_credential_secret)");
        if (a->project_name || a->project_id)
            cerror(ld, at,
                   "instance_ha.auth: an application credential is already scoped to its "
                   "project; remove project_name/project_id");
        break;
    case IHA_AUTH_CLOUD:
        if (!a->cloud)
            auth_needs(ld, root, "cloud (the name of an entry in clouds.yaml)");
        break;
    }
    if (a->type != IHA_AUTH_STATIC && ld->cfg->token_file)
        cerror(ld, get_path(root, "instance_ha", "token_file", NULL),
               "instance_ha.token_file: only used with instance_ha.auth.type static");
}

/* Checks that need more than one field. */
static void check_cross(struct cloader *ld, const struct iha_ynode *root)
{
    const struct iha_config *cfg = ld->cfg;

    if (cfg->auth_disabled && !iha_listen_addr_is_loopback(cfg->listen_address))
        cerror(ld, get_path(root, "web", "auth", "disabled"),
               "web.auth.disabled: only allowed when web.listen_address is a loopback address "
               "(it is '%s'); anyone who can reach the port could trigger evacuations",
               cfg->listen_address);
    if (!cfg->auth_disabled && !cfg->bearer_tokens_file && cfg->n_basic_users == 0)
        cerror(ld, get_path(root, "web", "auth", NULL),
               "web.auth: neither bearer_tokens_file nor basic_auth_users is set, so every "
               "request would be refused");
    if (!cfg->storage_path || !cfg->storage_path[0])
        cerror(ld, get_path(root, "storage", "path", NULL),
               "storage.path: the data directory of the durable queue must be set");
    if (cfg->storage_max_age_ms > 23u * 3600u * 1000u)
        cerror(ld, get_path(root, "storage", "max_age", NULL),
               "storage.max_age: must stay well inside Instance HA's 24 h expiry of "
               "notifications (at most 23h)");
    if (cfg->connect_timeout_ms > cfg->timeout_ms)
        cerror(ld, get_path(root, "instance_ha", "connect_timeout", NULL),
               "instance_ha.connect_timeout: longer than instance_ha.timeout (%ums)",
               cfg->timeout_ms);
    check_auth(ld, root);
}

static enum iha_rc load_root(const char *name, const struct iha_ynode *root,
                             struct iha_config **out, struct iha_diag *diag)
{
    struct cloader ld;
    enum iha_rc rc;

    memset(&ld, 0, sizeof(ld));
    ld.diag = diag;
    rc = iha_config_default(&ld.cfg);
    if (rc != IHA_OK)
        return rc;
    rc = iha_config_set_string(&ld.cfg->source, name);
    if (rc != IHA_OK)
        goto cleanup;
    load_section(&ld, root, top_fields, "");
    ld.cfg->url_set = get_path(root, "instance_ha", "url", NULL) != NULL;
    if (!ld.nomem && !ld.errors)
        check_cross(&ld, root);
    if (ld.nomem)
        rc = IHA_E_NOMEM;
    else if (ld.errors)
        rc = IHA_E_CONFIG;
    if (rc == IHA_OK) {
        *out = ld.cfg;
        ld.cfg = NULL;
    }

cleanup:
    iha_config_free(ld.cfg);
    return rc;
}

enum iha_rc iha_config_load(const char *name, const char *text, size_t len, struct iha_config **out,
                            struct iha_diag *diag)
{
    struct iha_ynode *root = NULL;
    enum iha_rc rc;

    *out = NULL;
    rc = iha_ytree_parse(name, text, len, &root, diag);
    if (rc == IHA_E_PARSE || rc == IHA_E_LIMIT)
        return IHA_E_CONFIG;
    if (rc != IHA_OK)
        return rc;
    rc = load_root(name, root, out, diag);
    iha_ynode_free(root);
    return rc;
}

enum iha_rc iha_config_load_file(const char *path, struct iha_config **out, struct iha_diag *diag)
{
    struct iha_ynode *root = NULL;
    enum iha_rc rc;

    *out = NULL;
    rc = iha_ytree_parse_file(path, &root, diag);
    if (rc == IHA_E_PARSE || rc == IHA_E_LIMIT)
        return IHA_E_CONFIG;
    if (rc != IHA_OK)
        return rc;
    rc = load_root(path, root, out, diag);
    iha_ynode_free(root);
    return rc;
}

/* ---- rule files -------------------------------------------------------- */

/*
 * Relative globs are taken relative to the config file's directory, as Prometheus
 * does for rule_files, so a config works whatever the daemon's working directory.
 * @return a new string, or NULL when out of memory.
 */
static char *resolve_glob(const struct iha_config *cfg, const char *pattern)
{
    const char *slash = cfg->source ? strrchr(cfg->source, '/') : NULL;
    size_t dl, pl = strlen(pattern);
    char *s;

    if (pattern[0] == '/' || !slash || cfg->source[0] == '<')
        return strdup(pattern);
    dl = (size_t)(slash - cfg->source);
    s = malloc(dl + 1 + pl + 1);
    if (!s)
        return NULL;
    memcpy(s, cfg->source, dl);
    s[dl] = '/';
    memcpy(s + dl + 1, pattern, pl + 1);
    return s;
}

static enum iha_rc load_embedded(struct iha_ruleset *rs, struct iha_diag *diag, bool *failed)
{
    char name[256];

    for (const struct iha_embedded_file *e = iha_embedded_rules; e->name; e++) {
        enum iha_rc rc;

        snprintf(name, sizeof(name), "<embedded>/%s", e->name);
        rc = iha_ruleset_load(rs, name, e->text, e->len, diag);
        if (rc == IHA_E_NOMEM)
            return rc;
        if (rc != IHA_OK)
            *failed = true;
    }
    return IHA_OK;
}

enum iha_rc iha_config_load_rules(const struct iha_config *cfg, struct iha_ruleset *rs,
                                  struct iha_diag *diag)
{
    bool failed = false;
    enum iha_rc rc = IHA_OK;

    if (cfg->n_rule_files == 0) {
        rc = load_embedded(rs, diag, &failed);
        goto done;
    }
    for (size_t i = 0; i < cfg->n_rule_files; i++) {
        char *pattern = resolve_glob(cfg, cfg->rule_files[i]);
        glob_t g;
        int grc;

        if (!pattern)
            return IHA_E_NOMEM;
        memset(&g, 0, sizeof(g));
        grc = glob(pattern, 0, NULL, &g);
        if (grc == GLOB_NOSPACE) {
            globfree(&g);
            free(pattern);
            return IHA_E_NOMEM;
        }
        if (grc == GLOB_NOMATCH) {
            iha_diag_add(diag, IHA_DIAG_ERROR, cfg->source, 0, 0,
                         "mapping.rule_files: '%s' matches no file", pattern);
            failed = true;
        } else if (grc != 0) {
            iha_diag_add(diag, IHA_DIAG_ERROR, cfg->source, 0, 0,
                         "mapping.rule_files: cannot read '%s'", pattern);
            failed = true;
        }
        for (size_t j = 0; grc == 0 && j < g.gl_pathc; j++) {
            rc = iha_ruleset_load_file(rs, g.gl_pathv[j], diag);
            if (rc == IHA_E_NOMEM)
                break;
            if (rc != IHA_OK)
                failed = true;
            rc = IHA_OK;
        }
        globfree(&g);
        free(pattern);
        if (rc == IHA_E_NOMEM)
            return rc;
    }

done:
    if (rc != IHA_OK)
        return rc;
    return failed ? IHA_E_CONFIG : IHA_OK;
}

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
        walk_keys(top_fields, "", a, b, fn, cls);
}

void iha_config_foreach_key(iha_config_key_fn fn, void *cls)
{
    walk_keys(top_fields, "", NULL, NULL, fn, cls);
}
