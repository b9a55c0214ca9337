/* SPDX-License-Identifier: Apache-2.0 */
/** @file macros.c @brief argv + NAGIOS_* / ICINGA2_* / NOTIFY_* → one notification record. */
#include "macros.h"

#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum field {
    F_HOSTNAME,
    F_HOST_STATE,
    F_STATE_TYPE,
    F_NTYPE,
    F_WHAT,
    F_SERVICE_DESC,
    F_SERVICE_STATE,
    F_OUTPUT,
    F_HOST_ADDRESS,
    F_ATTEMPT,
    F_PROBLEM_ID,
    F_LAST_PROBLEM_ID,
    F_STATE_CHANGE,
    F_TIME,
    F_LONG_DATE_TIME,
    F_AUTHOR,
    F_COMMENT,
    F_CONTACT,
    F_DIALECT,
    F_N
};

/* Record keys, indexed by enum field. */
static const char *const keys[F_N] = {
    "hostname",     "host_state",   "state_type",     "notification_type",
    "what",         "service_desc", "service_state",  "output",
    "host_address", "attempt",      "problem_id",     "last_problem_id",
    "state_change", "time",         "long_date_time", "author",
    "comment",      "contact",      "dialect",
};

/* Options that set one field. */
static const struct {
    const char *name;
    enum field f;
} field_opts[] = {
    {"host-name", F_HOSTNAME},
    {"host-state", F_HOST_STATE},
    {"state-type", F_STATE_TYPE},
    {"notification-type", F_NTYPE},
    {"service-desc", F_SERVICE_DESC},
    {"service-state", F_SERVICE_STATE},
    {"output", F_OUTPUT},
    {"host-address", F_HOST_ADDRESS},
    {"problem-id", F_PROBLEM_ID},
    {"attempt", F_ATTEMPT},
    {"dialect", F_DIALECT},
};

struct dialect {
    const char *name;
    const char *prefix; /* with the trailing '_' */
};

static const struct dialect dialects[] = {
    {"checkmk", "NOTIFY_"},
    {"icinga2", "ICINGA2_"},
    {"nagios", "NAGIOS_"},
    {"naemon", "NAGIOS_"},
};

struct var {
    const char *key; /* "_HOSTFOO" style, or a lowercase label name */
    size_t key_len;
    const char *value;
};

/* Everything collected before the record is built; all strings borrowed. */
struct input {
    const char *opt[F_N];
    const char *pos[F_N];
    const char *env[F_N];
    struct var vars[IHA_NOTIFY_MAX_VARS];
    size_t n_vars;
    const struct dialect *dialect;
};

const char *iha_notify_usage(void)
{
    return "Usage: iha-notify [OPTIONS] [--] [host HOSTNAME HOSTSTATE TYPE OUTPUT [DATETIME]]\n"
           "       iha-notify [OPTIONS] [--] [service HOSTNAME DESC STATE TYPE OUTPUT [DATETIME]]\n"
           "       iha-notify --flush [--url=URL] [--token-file=FILE] [--spool-dir=DIR]\n"
           "\n"
           "Sends one Nagios / Icinga 2 / Naemon / Checkmk notification to iha-gateway\n"
           "(POST /api/v1/nagios); when the gateway cannot take it, spools it durably and\n"
           "delivers it on the next run or --flush. Macros come from the options, the\n"
           "positional form, or the environment (NAGIOS_*, ICINGA2_*, Checkmk NOTIFY_*).\n"
           "Options end at the first positional word (host, service) or at --: everything\n"
           "after it is data, even when it starts with --, so put all options first.\n"
           "\n"
           "  --host-name=NAME  --host-state=STATE  --state-type=SOFT|HARD\n"
           "  --notification-type=TYPE  --service-desc=DESC  --service-state=STATE\n"
           "  --output=TEXT  --host-address=ADDR  --problem-id=ID  --attempt=N\n"
           "  --var KEY=VALUE         extra field; _HOSTFOO=x becomes label host_foo (repeatable)\n"
           "  --dialect=nagios|icinga2|naemon|checkmk   (default: detected from the environment)\n"
           "  --url=URL               default " IHA_NOTIFY_DEFAULT_URL "\n"
           "  --token-file=FILE       bearer token: first non-comment line (default: none)\n"
           "  --spool-dir=DIR         default " IHA_NOTIFY_DEFAULT_SPOOL "\n"
           "  --timeout=SECONDS       whole run, default 10 (also 2500ms)\n"
           "  --flush                 only deliver what is spooled, oldest first\n"
           "\n"
           "Exit: 0 delivered or spooled, 1 temporary failure (retry), 2 bad input or refused.\n";
}

void iha_notify_cmd_clear(struct iha_notify_cmd *c)
{
    if (!c)
        return;
    json_decref(c->record);
    c->record = NULL;
}

/* @return the value of NAME in @p envp, or NULL when absent or empty. */
static const char *env_get(char *const envp[], const char *prefix, const char *name)
{
    size_t pl = strlen(prefix), nl = strlen(name);

    for (size_t i = 0; envp && envp[i]; i++) {
        const char *e = envp[i];
        if (strncmp(e, prefix, pl) == 0 && strncmp(e + pl, name, nl) == 0 && e[pl + nl] == '=')
            return e[pl + nl + 1] ? e + pl + nl + 1 : NULL;
    }
    return NULL;
}

static const struct dialect *dialect_named(const char *name)
{
    for (size_t i = 0; i < sizeof(dialects) / sizeof(dialects[0]); i++)
        if (strcmp(dialects[i].name, name) == 0)
            return &dialects[i];
    return NULL;
}

static const struct dialect *detect_dialect(char *const envp[])
{
    if (env_get(envp, "NOTIFY_", "WHAT") || env_get(envp, "NOTIFY_", "HOSTNAME"))
        return dialect_named("checkmk");
    if (env_get(envp, "ICINGA2_", "HOSTNAME") || env_get(envp, "ICINGA2_", "NOTIFICATIONTYPE"))
        return dialect_named("icinga2");
    return dialect_named("nagios");
}

static bool parse_uint(const char *s, unsigned long long max, unsigned long long *out,
                       const char **end)
{
    char *e;
    unsigned long long v;

    if (!s || !isdigit((unsigned char)*s))
        return false;
    errno = 0;
    v = strtoull(s, &e, 10);
    if (errno || v > max)
        return false;
    *out = v;
    *end = e;
    return true;
}

/* "10", "10s" or "2500ms"; 1 ms .. 300 s. */
static bool parse_timeout(const char *s, unsigned *ms)
{
    unsigned long long v;
    const char *end;

    if (!parse_uint(s, 300000, &v, &end))
        return false;
    if (strcmp(end, "ms") == 0)
        ;
    else if (*end == '\0' || strcmp(end, "s") == 0)
        v *= 1000;
    else
        return false;
    if (v == 0 || v > 300000)
        return false;
    *ms = (unsigned)v;
    return true;
}

/* --var KEY=VALUE: KEY is `_CUSTOM` (kept) or a label name (lowercased). */
static enum iha_rc add_var(struct input *in, const char *kv, struct iha_err *err)
{
    const char *eq = strchr(kv, '=');
    size_t kl = eq ? (size_t)(eq - kv) : 0;

    if (!eq || kl == 0 || kl > 64) {
        iha_err_set(err, "--var", "--var needs KEY=VALUE with a key of 1 to 64 characters");
        return IHA_E_INVAL;
    }
    for (size_t i = 0; i < kl; i++)
        if (!isalnum((unsigned char)kv[i]) && kv[i] != '_') {
            iha_err_set(err, "--var", "--var key '%.*s': use letters, digits and '_'", (int)kl, kv);
            return IHA_E_INVAL;
        }
    if (kv[0] != '_' && !isalpha((unsigned char)kv[0])) {
        iha_err_set(err, "--var", "--var key '%.*s' must start with a letter or '_'", (int)kl, kv);
        return IHA_E_INVAL;
    }
    if (in->n_vars >= IHA_NOTIFY_MAX_VARS) {
        iha_err_set(err, "--var", "more than %d variables", IHA_NOTIFY_MAX_VARS);
        return IHA_E_INVAL;
    }
    in->vars[in->n_vars].key = kv;
    in->vars[in->n_vars].key_len = kl;
    in->vars[in->n_vars].value = eq + 1;
    in->n_vars++;
    return IHA_OK;
}

/* `host ...` / `service ...` positional forms. */
static enum iha_rc positional(struct input *in, char *const pos[], size_t n, struct iha_err *err)
{
    static const enum field host_f[] = {F_HOSTNAME, F_HOST_STATE, F_NTYPE, F_OUTPUT,
                                        F_LONG_DATE_TIME};
    static const enum field svc_f[] = {F_HOSTNAME, F_SERVICE_DESC, F_SERVICE_STATE,
                                       F_NTYPE,    F_OUTPUT,       F_LONG_DATE_TIME};
    const enum field *f;
    size_t nf;

    if (n == 0)
        return IHA_OK;
    if (strcmp(pos[0], "host") == 0) {
        f = host_f;
        nf = sizeof(host_f) / sizeof(host_f[0]);
    } else if (strcmp(pos[0], "service") == 0) {
        f = svc_f;
        nf = sizeof(svc_f) / sizeof(svc_f[0]);
    } else {
        iha_err_set(err, "", "unexpected argument '%s' (expected 'host' or 'service')", pos[0]);
        return IHA_E_INVAL;
    }
    if (n - 1 > nf || n - 1 < nf - 2) {
        bool opt_like = false;
        for (size_t i = 1; i < n; i++)
            opt_like = opt_like || strncmp(pos[i], "--", 2) == 0;
        iha_err_set(err, "", "'%s' takes %zu or %zu arguments, got %zu%s%s%s", pos[0], nf - 1, nf,
                    n - 1, opt_like ? " (options go before '" : "", opt_like ? pos[0] : "",
                    opt_like ? "': after it every word is data)" : "");
        return IHA_E_INVAL;
    }
    for (size_t i = 1; i < n; i++)
        in->pos[f[i - 1]] = pos[i];
    return IHA_OK;
}

static const char *first(const char *a, const char *b, const char *c)
{
    if (a && *a)
        return a;
    if (b && *b)
        return b;
    return c && *c ? c : NULL;
}

/* Reads the dialect's environment into in->env. */
static void read_env(struct input *in, char *const envp[])
{
    const char *p = in->dialect->prefix;
    bool cmk = strcmp(in->dialect->name, "checkmk") == 0;
    const char *what = cmk ? env_get(envp, p, "WHAT") : NULL;
    const char *sdesc = env_get(envp, p, "SERVICEDESC");
    bool svc;

    if (!sdesc && strcmp(in->dialect->name, "icinga2") == 0)
        sdesc = env_get(envp, p, "SERVICENAME");
    in->env[F_HOSTNAME] = env_get(envp, p, "HOSTNAME");
    in->env[F_HOST_STATE] = env_get(envp, p, "HOSTSTATE");
    in->env[F_NTYPE] = env_get(envp, p, "NOTIFICATIONTYPE");
    in->env[F_HOST_ADDRESS] = env_get(envp, p, "HOSTADDRESS");
    in->env[F_TIME] = env_get(envp, p, "TIMET");
    in->env[F_LONG_DATE_TIME] = env_get(envp, p, "LONGDATETIME");
    in->env[F_AUTHOR] = env_get(envp, p, "NOTIFICATIONAUTHOR");
    in->env[F_COMMENT] = env_get(envp, p, "NOTIFICATIONCOMMENT");
    in->env[F_CONTACT] = env_get(envp, p, "CONTACTNAME");
    /* Checkmk fills service macros only for service notifications; NOTIFY_WHAT decides. */
    if (what)
        in->env[F_WHAT] = what;
    svc = first(in->opt[F_SERVICE_DESC], in->pos[F_SERVICE_DESC], NULL) ||
          (what ? strcmp(what, "SERVICE") == 0 : sdesc != NULL);
    if (svc) {
        in->env[F_SERVICE_DESC] = sdesc;
        in->env[F_SERVICE_STATE] = env_get(envp, p, "SERVICESTATE");
        in->env[F_STATE_TYPE] = env_get(envp, p, "SERVICESTATETYPE");
        in->env[F_OUTPUT] = env_get(envp, p, "SERVICEOUTPUT");
        in->env[F_ATTEMPT] = env_get(envp, p, "SERVICEATTEMPT");
        in->env[F_PROBLEM_ID] = env_get(envp, p, "SERVICEPROBLEMID");
        in->env[F_LAST_PROBLEM_ID] = env_get(envp, p, "LASTSERVICEPROBLEMID");
        in->env[F_STATE_CHANGE] = env_get(envp, p, "LASTSERVICESTATECHANGE");
    } else {
        in->env[F_STATE_TYPE] = env_get(envp, p, "HOSTSTATETYPE");
        in->env[F_OUTPUT] = env_get(envp, p, "HOSTOUTPUT");
        in->env[F_ATTEMPT] = env_get(envp, p, "HOSTATTEMPT");
        in->env[F_PROBLEM_ID] = env_get(envp, p, "HOSTPROBLEMID");
        in->env[F_LAST_PROBLEM_ID] = env_get(envp, p, "LASTHOSTPROBLEMID");
        in->env[F_STATE_CHANGE] = env_get(envp, p, "LASTHOSTSTATECHANGE");
    }
    /*
     * Checkmk's documented notification context has no state type: its core notifies on
     * hard states (attempts used up) unless a rule asks for soft ones, and then the attempt
     * counters tell. When both counters are there they decide; without them the context
     * is a hard-state notification, as Checkmk sends it by default.
     */
    if (cmk && !in->env[F_STATE_TYPE]) {
        const char *att = env_get(envp, p, svc ? "SERVICEATTEMPT" : "HOSTATTEMPT");
        const char *max = env_get(envp, p, svc ? "MAXSERVICEATTEMPTS" : "MAXHOSTATTEMPTS");
        unsigned long long a, m;
        const char *e1 = NULL, *e2 = NULL;
        if (parse_uint(att, 1000000, &a, &e1) && !*e1 && parse_uint(max, 1000000, &m, &e2) && !*e2)
            in->env[F_STATE_TYPE] = a >= m ? "HARD" : "SOFT";
        else
            in->env[F_STATE_TYPE] = "HARD";
    }
}

/* Custom variables: <PREFIX>_<_HOSTFOO>=v → "_HOSTFOO". Extra ones beyond the bound are
 * dropped: the record must still go out. */
static void read_env_vars(struct input *in, char *const envp[])
{
    const char *p = in->dialect->prefix;
    size_t pl = strlen(p);

    for (size_t i = 0; envp && envp[i]; i++) {
        const char *e = envp[i];
        const char *eq;
        if (strncmp(e, p, pl) != 0 || e[pl] != '_')
            continue;
        eq = strchr(e + pl, '=');
        if (!eq || !eq[1] || (size_t)(eq - (e + pl)) > 64 || in->n_vars >= IHA_NOTIFY_MAX_VARS)
            continue;
        in->vars[in->n_vars].key = e + pl;
        in->vars[in->n_vars].key_len = (size_t)(eq - (e + pl));
        in->vars[in->n_vars].value = eq + 1;
        in->n_vars++;
    }
}

static uint64_t fnv1a(uint64_t h, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ULL;
    }
    return h;
}

/* 32 hex digits from two differently seeded FNV-1a passes over the identifying fields. */
static void record_id(const json_t *rec, char out[IHA_NOTIFY_RECORD_ID_LEN + 1])
{
    /* The state, its type and the attempt too: a SOFT record and the HARD one of the same
     * problem share problem id and state-change time but are different events. */
    static const char *const ident[] = {
        "dialect",      "hostname",   "service_desc",  "notification_type", "problem_id",
        "state_change", "host_state", "service_state", "state_type",        "attempt"};
    uint64_t h1 = 1469598103934665603ULL, h2 = 0x9e3779b97f4a7c15ULL;
    const char *pid = json_string_value(json_object_get(rec, "problem_id"));
    const char *chg = json_string_value(json_object_get(rec, "state_change"));

    for (size_t i = 0; i < sizeof(ident) / sizeof(ident[0]); i++) {
        const char *v = json_string_value(json_object_get(rec, ident[i]));
        size_t n = v ? strlen(v) : 0;
        h1 = fnv1a(h1, v ? v : "", n);
        h1 = fnv1a(h1, "\n", 1);
        h2 = fnv1a(h2 ^ (uint64_t)(i + 1) * 0xff51afd7ed558ccdULL, v ? v : "", n);
    }
    /* Nothing ties this event to a problem: its own time keeps it apart from others. */
    if ((!pid || strcmp(pid, "0") == 0) && !chg) {
        const char *t = json_string_value(json_object_get(rec, "time"));
        h1 = fnv1a(h1, t ? t : "", t ? strlen(t) : 0);
        h2 = fnv1a(h2 ^ 0xc4ceb9fe1a85ec53ULL, t ? t : "", t ? strlen(t) : 0);
    }
    snprintf(out, IHA_NOTIFY_RECORD_ID_LEN + 1, "%016llx%016llx", (unsigned long long)h1,
             (unsigned long long)h2);
}

/* Sets KEY (lowercased unless a custom `_VAR`); @p keep leaves an existing value alone. */
static enum iha_rc set(json_t *rec, const char *key, size_t key_len, const char *value, bool keep,
                       struct iha_err *err)
{
    char k[72];
    json_t *s;

    if (!value || !*value)
        return IHA_OK;
    if (strlen(value) > IHA_NOTIFY_MAX_VALUE) {
        iha_err_set(err, "", "value of %.*s is longer than %d bytes", (int)key_len, key,
                    IHA_NOTIFY_MAX_VALUE);
        return IHA_E_INVAL;
    }
    if (key_len >= sizeof(k))
        return IHA_E_INVAL;
    memcpy(k, key, key_len);
    k[key_len] = '\0';
    /* Label names are lowercase; custom variables keep Nagios' spelling for the gateway. */
    if (k[0] != '_')
        for (size_t i = 0; i < key_len; i++)
            k[i] = (char)tolower((unsigned char)k[i]);
    if (keep && json_object_get(rec, k))
        return IHA_OK;
    s = json_string(value);
    if (!s) {
        /* Not UTF-8: replace rather than lose the notification. */
        s = json_string("(output not valid UTF-8)");
    }
    if (!s || json_object_set_new(rec, k, s) != 0)
        return IHA_E_NOMEM;
    return IHA_OK;
}

static enum iha_rc build(struct input *in, time_t now, json_t **out, struct iha_err *err)
{
    json_t *rec = json_object();
    char tbuf[24], id[IHA_NOTIFY_RECORD_ID_LEN + 1];
    enum iha_rc rc = IHA_E_NOMEM;

    if (!rec)
        return IHA_E_NOMEM;
    /*
     * Variables first (--var before the environment's, the first of a key wins), then the
     * macros over them, so that a --var cannot override a macro by accident.
     */
    for (size_t i = 0; i < in->n_vars; i++) {
        rc = set(rec, in->vars[i].key, in->vars[i].key_len, in->vars[i].value, true, err);
        if (rc != IHA_OK)
            goto cleanup;
    }
    for (int f = 0; f < F_N; f++) {
        const char *v = first(in->opt[f], in->pos[f], in->env[f]);
        rc = set(rec, keys[f], strlen(keys[f]), v, false, err);
        if (rc != IHA_OK)
            goto cleanup;
    }
    rc = IHA_E_NOMEM;
    if (!json_object_get(rec, "what") &&
        json_object_set_new(rec, "what",
                            json_string(json_object_get(rec, "service_desc") ? "SERVICE" : "HOST")))
        goto cleanup;
    if (!json_object_get(rec, "dialect") &&
        json_object_set_new(rec, "dialect", json_string(in->dialect->name)))
        goto cleanup;
    if (!json_object_get(rec, "time")) {
        snprintf(tbuf, sizeof(tbuf), "%lld", (long long)now);
        if (json_object_set_new(rec, "time", json_string(tbuf)))
            goto cleanup;
    }
    if (!json_object_get(rec, "hostname")) {
        iha_err_set(err, "hostname", "missing hostname (--host-name, $HOSTNAME$)");
        rc = IHA_E_INVAL;
        goto cleanup;
    }
    if (!json_object_get(rec, "notification_type")) {
        iha_err_set(err, "notification_type",
                    "missing notification_type (--notification-type, $NOTIFICATIONTYPE$)");
        rc = IHA_E_INVAL;
        goto cleanup;
    }
    record_id(rec, id);
    if (json_object_set_new(rec, "record_id", json_string(id)))
        goto cleanup;
    *out = rec;
    rec = NULL;
    rc = IHA_OK;
cleanup:
    json_decref(rec);
    return rc;
}

/* Splits "--name=value" / "--name value". @return the value or NULL when missing. */
static const char *opt_value(int argc, char *const argv[], int *i, const char *arg, size_t nl)
{
    if (arg[nl] == '=')
        return arg + nl + 1;
    if (arg[nl] == '\0' && *i + 1 < argc)
        return argv[++*i];
    return NULL;
}

/* One "--name value" option (@p a as given, for messages): a record field or a setting. */
static enum iha_rc set_option(struct input *in, struct iha_notify_cmd *out, const char *a,
                              const char *name, size_t nl, const char *v, struct iha_err *err)
{
    bool matched = false;

    for (size_t k = 0; k < sizeof(field_opts) / sizeof(field_opts[0]); k++)
        if (strlen(field_opts[k].name) == nl && strncmp(field_opts[k].name, name, nl) == 0) {
            in->opt[field_opts[k].f] = v;
            matched = true;
        }
    if (matched)
        return IHA_OK;
    if (nl == 3 && strncmp(name, "var", 3) == 0)
        return add_var(in, v, err);
    if (nl == 3 && strncmp(name, "url", 3) == 0) {
        out->url = v;
    } else if (nl == 10 && strncmp(name, "token-file", 10) == 0) {
        out->token_file = v;
    } else if (nl == 9 && strncmp(name, "spool-dir", 9) == 0) {
        out->spool_dir = v;
    } else if (nl == 7 && strncmp(name, "timeout", 7) == 0) {
        if (!parse_timeout(v, &out->timeout_ms)) {
            iha_err_set(err, "--timeout", "--timeout: expected seconds (1-300) or Nms");
            return IHA_E_INVAL;
        }
    } else {
        iha_err_set(err, a, "unknown option --%.*s (see --help)", (int)nl, name);
        return IHA_E_INVAL;
    }
    return IHA_OK;
}

enum iha_rc iha_notify_parse(int argc, char *const argv[], char *const envp[], time_t now,
                             struct iha_notify_cmd *out, struct iha_err *err)
{
    struct input *in = calloc(1, sizeof(*in));
    char *const *pos = NULL;
    size_t n_pos = 0;
    char **pos_buf = NULL;
    enum iha_rc rc = IHA_E_INVAL;
    bool opts_done = false;

    memset(out, 0, sizeof(*out));
    out->mode = IHA_NOTIFY_SEND;
    out->url = IHA_NOTIFY_DEFAULT_URL;
    out->spool_dir = IHA_NOTIFY_DEFAULT_SPOOL;
    out->timeout_ms = IHA_NOTIFY_DEFAULT_TIMEOUT_MS;
    pos_buf = calloc((size_t)(argc > 0 ? argc : 1), sizeof(*pos_buf));
    if (!in || !pos_buf) {
        rc = IHA_E_NOMEM;
        goto cleanup;
    }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *name, *v;
        size_t nl;

        /*
         * Options end at "--" and at the first positional word: OUTPUT is plugin output,
         * which the monitored host controls, so "--url=..." there is data, never an option
         * that redirects the token or the spool.
         */
        if (opts_done || strncmp(a, "--", 2) != 0) {
            opts_done = true;
            pos_buf[n_pos++] = argv[i];
            continue;
        }
        if (a[2] == '\0') {
            opts_done = true;
            continue;
        }
        name = a + 2;
        nl = strcspn(name, "=");
        if (nl == 5 && strncmp(name, "flush", 5) == 0 && !name[5]) {
            out->mode = IHA_NOTIFY_FLUSH;
            continue;
        }
        if ((nl == 4 && strncmp(name, "help", 4) == 0) ||
            (nl == 7 && !strncmp(name, "version", 7))) {
            out->mode = name[0] == 'h' ? IHA_NOTIFY_HELP : IHA_NOTIFY_VERSION;
            rc = IHA_OK;
            goto cleanup;
        }
        v = opt_value(argc, argv, &i, name, nl);
        if (!v) {
            iha_err_set(err, a, "option --%.*s needs a value", (int)nl, name);
            goto cleanup;
        }
        rc = set_option(in, out, a, name, nl, v, err);
        if (rc != IHA_OK)
            goto cleanup;
        rc = IHA_E_INVAL;
    }
    pos = pos_buf;
    if (out->mode == IHA_NOTIFY_FLUSH) {
        rc = IHA_OK;
        goto cleanup;
    }
    if (in->opt[F_DIALECT]) {
        in->dialect = dialect_named(in->opt[F_DIALECT]);
        if (!in->dialect) {
            iha_err_set(err, "--dialect", "--dialect must be nagios, icinga2, naemon or checkmk");
            goto cleanup;
        }
    } else {
        in->dialect = detect_dialect(envp);
    }
    rc = positional(in, pos, n_pos, err);
    if (rc != IHA_OK)
        goto cleanup;
    read_env(in, envp);
    read_env_vars(in, envp);
    rc = build(in, now, &out->record, err);
cleanup:
    free(pos_buf);
    free(in);
    return rc;
}
