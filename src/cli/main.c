/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file main.c
 * @brief Command line, start-up and shutdown of iha-gateway, and the offline
 *        commands check-config and map.
 */
#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "alertmanager.h"
#include "auth.h"
#include "config.h"
#include "dedupe.h"
#include "delivery.h"
#include "diag.h"
#include "events.h"
#include "http_server.h"
#include "lint.h"
#include "log.h"
#include "mapping.h"
#include "metrics.h"
#include "nagios.h"
#include "native.h"
#include "pipeline.h"
#include "queue.h"
#include "reload.h"
#include "alert.h"
#include "ruletest.h"
#include "token_source.h"
#include "service_auth.h"
#include "url.h"
#include "yaml_tree.h"

#define INPUT_MAX (16u * 1024 * 1024)

static const char usage[] =
    "usage: iha-gateway [FLAGS]                      run the gateway\n"
    "       iha-gateway check-config [--lint=LINTS] [--lint-fatal] FILE...\n"
    "                                                validate a gateway config or rule file\n"
    "       iha-gateway test-rules FILE...           run mapping rule unit tests\n"
    "       iha-gateway map [FLAGS] --source=SOURCE [--explain] [INPUT|-]\n"
    "                                                dry run: show what alerts would send\n"
    "       iha-gateway queue list|show ID|retry ID|drop ID [--storage.path=DIR]\n"
    "       iha-gateway deadletter list|requeue ID [--storage.path=DIR]\n"
    "                                                inspect and act on the durable queue\n"
    "\n"
    "Flags (override the config file; without --config.file the embedded default applies):\n"
    "  --config.file=FILE            configuration file (YAML)\n"
    "  --web.listen-address=ADDR     where to listen (default " IHA_DEFAULT_LISTEN ")\n"
    "  --instance-ha.url=URL         Instance HA API base URL (default " IHA_DEFAULT_URL ")\n"
    "  --instance-ha.dialect=D       masakari or xloud\n"
    "  --log.level=LEVEL             debug, info, warn, error\n"
    "  --log.format=FORMAT           logfmt or json\n"
    "  --storage.path=DIR            data directory of the durable queue "
    "(default " IHA_DEFAULT_STORAGE_PATH ")\n"
    "  --source=SOURCE               map only: alertmanager, nagios or native\n"
    "  --explain                     map only: show every rule tried and why\n"
    "  --lint=LINTS                  check-config only: all (default), none, or a list of\n"
    "                                evacuation,empty-hostname,never-matches,shadowed\n"
    "  --lint-fatal                  check-config only: lint findings are errors\n"
    "  -h, --help                    this text\n"
    "  --version                     print the version\n"
    "\n"
    "The service token for Instance HA is read from instance_ha.token_file or from\n"
    "$" IHA_SERVICE_TOKEN_ENV ".\n";

struct options {
    const char *command; /* NULL = run */
    const char *config_file;
    const char *listen;
    const char *url;
    const char *dialect;
    const char *log_level;
    const char *log_format;
    const char *source;
    const char *storage_path;
    bool explain;
    const char *lint;
    bool lint_fatal;
    const char *args[64];
    size_t n_args;
};

/* Accepts "--name=value" and "--name value". */
static int flag_value(int argc, char **argv, int *i, const char *name, const char **out)
{
    size_t len = strlen(name);
    const char *a = argv[*i];

    if (strncmp(a, name, len) != 0)
        return 0;
    if (a[len] == '=') {
        *out = a + len + 1;
        return 1;
    }
    if (a[len] == '\0') {
        if (*i + 1 >= argc) {
            fprintf(stderr, "iha-gateway: %s needs a value\n", name);
            return -1;
        }
        *out = argv[++*i];
        return 1;
    }
    return 0;
}

static int parse_args(int argc, char **argv, struct options *o)
{
    static const struct {
        const char *name;
        size_t offset;
    } flags[] = {
        {"--config.file", offsetof(struct options, config_file)},
        {"--web.listen-address", offsetof(struct options, listen)},
        {"--instance-ha.url", offsetof(struct options, url)},
        {"--instance-ha.dialect", offsetof(struct options, dialect)},
        {"--log.level", offsetof(struct options, log_level)},
        {"--log.format", offsetof(struct options, log_format)},
        {"--source", offsetof(struct options, source)},
        {"--storage.path", offsetof(struct options, storage_path)},
        {"--lint", offsetof(struct options, lint)},
    };

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int matched = 0;

        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            fputs(usage, stdout);
            exit(0);
        }
        if (strcmp(a, "--version") == 0) {
            printf("iha-gateway %s\n", IHA_VERSION);
            exit(0);
        }
        if (strcmp(a, "--explain") == 0) {
            o->explain = true;
            continue;
        }
        if (strcmp(a, "--lint-fatal") == 0) {
            o->lint_fatal = true;
            continue;
        }
        for (size_t f = 0; f < sizeof(flags) / sizeof(flags[0]) && !matched; f++) {
            const char **slot = (const char **)((char *)o + flags[f].offset);
            matched = flag_value(argc, argv, &i, flags[f].name, slot);
            if (matched < 0)
                return -1;
        }
        if (matched)
            continue;
        if (a[0] == '-' && a[1] != '\0') {
            fprintf(stderr, "iha-gateway: unknown flag %s (see --help)\n", a);
            return -1;
        }
        if (!o->command && o->n_args == 0 &&
            (strcmp(a, "check-config") == 0 || strcmp(a, "map") == 0 ||
             strcmp(a, "test-rules") == 0 || strcmp(a, "queue") == 0 ||
             strcmp(a, "deadletter") == 0)) {
            o->command = a;
            continue;
        }
        if (!o->command) {
            fprintf(stderr, "iha-gateway: unknown command %s (see --help)\n", a);
            return -1;
        }
        if (o->n_args >= sizeof(o->args) / sizeof(o->args[0])) {
            fprintf(stderr, "iha-gateway: too many arguments\n");
            return -1;
        }
        o->args[o->n_args++] = a;
    }
    return 0;
}

static void print_diag(const struct iha_diag *d)
{
    for (size_t i = 0; i < iha_diag_count(d); i++)
        fprintf(stderr, "%s\n", iha_diag_get(d, i));
    if (iha_diag_errors(d) > iha_diag_count(d))
        fprintf(stderr, "(%zu more errors not shown)\n", iha_diag_errors(d) - iha_diag_count(d));
}

/* Loads the config file (or the default) and applies the flags over it. */
static enum iha_rc load_config(const struct options *o, struct iha_config **out,
                               struct iha_diag *diag)
{
    struct iha_config *cfg = NULL;
    enum iha_rc rc;

    rc = o->config_file ? iha_config_load_file(o->config_file, &cfg, diag)
                        : iha_config_default(&cfg);
    if (rc != IHA_OK)
        goto cleanup;
    if (o->listen && (rc = iha_config_set_string(&cfg->listen_address, o->listen)) != IHA_OK)
        goto cleanup;
    if (o->url && iha_url_has_userinfo(o->url)) {
        iha_diag_add(diag, IHA_DIAG_ERROR, "--instance-ha.url", 0, 0, "%s",
                     IHA_URL_CREDENTIALS_HINT);
        rc = IHA_E_CONFIG;
        goto cleanup;
    }
    if (o->url && (rc = iha_config_set_string(&cfg->url, o->url)) != IHA_OK)
        goto cleanup;
    if (o->storage_path &&
        (rc = iha_config_set_string(&cfg->storage_path, o->storage_path)) != IHA_OK)
        goto cleanup;
    if (o->dialect && iha_dialect_parse(o->dialect, &cfg->dialect) != 0) {
        iha_diag_add(diag, IHA_DIAG_ERROR, "--instance-ha.dialect", 0, 0,
                     "unknown dialect \"%s\" (expected masakari or xloud)", o->dialect);
        rc = IHA_E_CONFIG;
        goto cleanup;
    }
    if (o->log_level && iha_log_level_parse(o->log_level, &cfg->log_level) != 0) {
        iha_diag_add(diag, IHA_DIAG_ERROR, "--log.level", 0, 0,
                     "unknown level \"%s\" (expected debug, info, warn or error)", o->log_level);
        rc = IHA_E_CONFIG;
        goto cleanup;
    }
    if (o->log_format) {
        if (strcmp(o->log_format, "logfmt") == 0) {
            cfg->log_format = IHA_LOG_LOGFMT;
        } else if (strcmp(o->log_format, "json") == 0) {
            cfg->log_format = IHA_LOG_JSON;
        } else {
            iha_diag_add(diag, IHA_DIAG_ERROR, "--log.format", 0, 0,
                         "unknown format \"%s\" (expected logfmt or json)", o->log_format);
            rc = IHA_E_CONFIG;
            goto cleanup;
        }
    }
    *out = cfg;
    cfg = NULL;
cleanup:
    iha_config_free(cfg);
    return rc;
}

/* ---- check-config ---------------------------------------------------------------- */

static bool looks_like_rule_file(const char *path)
{
    struct iha_diag *d = iha_diag_new();
    struct iha_ynode *root = NULL;
    bool rules = false;

    if (d && iha_ytree_parse_file(path, &root, d) == IHA_OK)
        rules = root->kind == IHA_YNODE_MAP && iha_ynode_get(root, "rules") != NULL;
    iha_ynode_free(root);
    iha_diag_free(d);
    return rules;
}

static int check_one(const char *path, unsigned lints, bool lint_fatal)
{
    struct iha_diag *diag = iha_diag_new();
    struct iha_ruleset *rs = iha_ruleset_new();
    struct iha_config *cfg = NULL;
    int status = 1;
    bool rule_file;

    if (!diag || !rs) {
        fprintf(stderr, "iha-gateway: out of memory\n");
        goto cleanup;
    }
    rule_file = looks_like_rule_file(path);
    if (rule_file)
        IHA_IGNORE(iha_ruleset_load_file(rs, path, diag), "its errors are in diag");
    else if (iha_config_load_file(path, &cfg, diag) == IHA_OK)
        IHA_IGNORE(iha_config_load_rules(cfg, rs, diag), "its errors are in diag");
    if (iha_diag_errors(diag) == 0)
        (void)iha_lint_ruleset(rs, lints, lint_fatal, diag);
    print_diag(diag);
    if (iha_diag_errors(diag) == 0) {
        printf("Checking '%s'  SUCCESS\n", path);
        if (rule_file)
            printf("Found:\n - %zu mapping rules\n", iha_ruleset_count(rs));
        else
            printf("Found:\n - gateway configuration\n - %zu mapping rules from %s\n",
                   iha_ruleset_count(rs),
                   cfg->n_rule_files ? "the configured rule files" : "the shipped rules");
        status = 0;
    } else {
        printf("Checking '%s'  FAILED: %zu error(s)\n", path, iha_diag_errors(diag));
    }
cleanup:
    iha_config_free(cfg);
    iha_ruleset_free(rs);
    iha_diag_free(diag);
    return status;
}

static int cmd_check_config(const struct options *o)
{
    unsigned lints = IHA_LINT_ALL;
    int status = 0;

    if (o->n_args == 0) {
        fprintf(stderr, "usage: iha-gateway check-config [--lint=LINTS] [--lint-fatal] FILE...\n");
        return 2;
    }
    if (o->lint && iha_lint_parse(o->lint, &lints) != 0) {
        fprintf(stderr,
                "iha-gateway: --lint: unknown lint in \"%s\" (expected all, none, or a list of "
                "evacuation, empty-hostname, never-matches, shadowed)\n",
                o->lint);
        return 2;
    }
    for (size_t i = 0; i < o->n_args; i++)
        status |= check_one(o->args[i], lints, o->lint_fatal);
    return status;
}

/* ---- map ---------------------------------------------------------------------------- */

static char *read_input(const char *path, size_t *len)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    char *buf = NULL;
    size_t cap = 0, n = 0;

    if (!f) {
        fprintf(stderr, "iha-gateway: %s: %s\n", path, strerror(errno));
        return NULL;
    }
    for (;;) {
        size_t got;
        if (n == cap) {
            char *nb;
            cap = cap ? cap * 2 : 65536;
            if (cap > INPUT_MAX + 1)
                cap = INPUT_MAX + 1;
            if (n == cap) {
                fprintf(stderr, "iha-gateway: %s: larger than %u bytes\n", path, INPUT_MAX);
                free(buf);
                buf = NULL;
                break;
            }
            nb = realloc(buf, cap);
            if (!nb) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
        }
        got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0)
            break;
    }
    if (f != stdin)
        fclose(f);
    *len = n;
    return buf;
}

static void print_line(json_t *o)
{
    char *s = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);

    if (s)
        printf("%s\n", s);
    free(s);
    json_decref(o);
}

static void map_alert(const struct iha_ruleset *rs, const struct iha_alert *a, size_t idx,
                      bool explain, const char *now)
{
    struct iha_map_result mr = {0};
    json_t *trace = explain ? json_array() : NULL;

    if (iha_mapping_explain(rs, a, &mr, trace) != IHA_OK) {
        fprintf(stderr, "iha-gateway: out of memory\n");
        json_decref(trace);
        return;
    }
    if (trace)
        print_line(json_pack("{s:I,s:s,s:o}", "alert", (json_int_t)idx, "alertname",
                             iha_alert_label(a, "alertname"), "explain", trace));
    for (size_t k = 0; k < mr.n; k++) {
        struct iha_map_outcome *out = &mr.items[k];
        json_t *line;

        if (out->dropped) {
            line = json_pack("{s:I,s:s,s:s,s:b,s:s,s:s}", "alert", (json_int_t)idx, "alertname",
                             iha_alert_label(a, "alertname"), "status",
                             iha_alert_status_name(a->status), "dropped", 1, "rule", out->rule,
                             "reason", out->reason);
        } else {
            snprintf(out->notif.generated_time, sizeof(out->notif.generated_time), "%s", now);
            line = json_pack("{s:I,s:s,s:s,s:s,s:o}", "alert", (json_int_t)idx, "alertname",
                             iha_alert_label(a, "alertname"), "status",
                             iha_alert_status_name(a->status), "rule", out->rule, "notification",
                             iha_notification_to_json(&out->notif));
        }
        if (line)
            print_line(line);
    }
    iha_map_result_clear(&mr);
}

static int cmd_map(const struct options *o)
{
    struct iha_diag *diag = iha_diag_new();
    struct iha_config *cfg = NULL;
    struct iha_ruleset *rs = iha_ruleset_new();
    enum iha_source source;
    const char *input = o->n_args ? o->args[0] : "-";
    char *text = NULL;
    size_t len = 0;
    json_t *body = NULL;
    json_error_t jerr;
    struct iha_err err = {0};
    char now[IHA_TIME_LEN];
    int status = 1;

    if (!diag || !rs)
        goto cleanup;
    if (!o->source || iha_source_parse(o->source, &source) != 0) {
        fprintf(stderr, "iha-gateway map: --source must be alertmanager, nagios or native\n");
        status = 2;
        goto cleanup;
    }
    if (load_config(o, &cfg, diag) != IHA_OK || iha_config_load_rules(cfg, rs, diag) != IHA_OK) {
        print_diag(diag);
        goto cleanup;
    }
    text = read_input(input, &len);
    if (!text)
        goto cleanup;
    body = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!body) {
        fprintf(stderr, "%s:%d:%d: error: invalid JSON: %s\n", input, jerr.line, jerr.column,
                jerr.text);
        goto cleanup;
    }
    iha_time_format(time(NULL), now);
    if (source == IHA_SOURCE_NATIVE) {
        struct iha_notification n;
        if (iha_native_parse(body, &n, &err) != IHA_OK) {
            fprintf(stderr, "%s: error: %s%s%s\n", input, err.field[0] ? err.field : "",
                    err.field[0] ? ": " : "", err.msg);
            goto cleanup;
        }
        if (!n.generated_time[0])
            snprintf(n.generated_time, sizeof(n.generated_time), "%s", now);
        print_line(json_pack("{s:o}", "notification", iha_notification_to_json(&n)));
        iha_notification_clear(&n);
    } else {
        struct iha_alert *alerts = NULL, one;
        size_t n = 0;
        enum iha_rc prc = source == IHA_SOURCE_NAGIOS ? iha_nagios_parse(body, &alerts, &n, &err)
                                                      : iha_alertmanager_open(body, &n, NULL, &err);
        if (prc != IHA_OK) {
            fprintf(stderr, "%s: error: %s%s%s\n", input, err.field[0] ? err.field : "",
                    err.field[0] ? ": " : "", err.msg);
            goto cleanup;
        }
        for (size_t i = 0; i < n && source == IHA_SOURCE_NAGIOS; i++)
            map_alert(rs, &alerts[i], i, o->explain, now);
        /* As the daemon does: an alert that cannot be read is dropped alone. */
        for (size_t i = 0; i < n && source == IHA_SOURCE_ALERTMANAGER; i++) {
            iha_err_clear(&err);
            prc = iha_alertmanager_read(body, i, &one, &err);
            if (prc == IHA_OK)
                map_alert(rs, &one, i, o->explain, now);
            else
                print_line(json_pack("{s:I,s:s,s:b,s:s,s:s,s:s}", "alert", (json_int_t)i,
                                     "alertname", iha_alert_label(&one, "alertname"), "dropped", 1,
                                     "field", err.field, "reason", err.msg[0] ? err.msg : "",
                                     "error", iha_rc_str(prc)));
            iha_alert_clear(&one);
        }
        iha_nagios_free(alerts, n);
    }
    status = 0;
cleanup:
    json_decref(body);
    free(text);
    iha_ruleset_free(rs);
    iha_config_free(cfg);
    iha_diag_free(diag);
    return status;
}

/* ---- queue and deadletter ------------------------------------------------------------ */

/*
 * Inspection reads the segments and the dead-letter file without the daemon's lock:
 * records are append-only and checksummed, so a record being written is merely not
 * seen yet. Actions (retry, drop, requeue) are command files in DIR/control that the
 * daemon runs within a second and answers; with no daemon running they wait for its
 * next start, before recovered notifications are delivered.
 */

static void print_item(void *cls, const struct iha_queue_item *it)
{
    bool full = *(bool *)cls;
    json_t *o = json_deep_copy(it->record);
    size_t n = json_array_size(it->attempts);

    if (!o)
        return;
    json_object_set_new(o, "seq", json_integer((json_int_t)it->seq));
    json_object_set_new(o, "attempts_total", json_integer(it->n_attempts));
    if (full)
        json_object_set(o, "attempts", (json_t *)it->attempts);
    else if (n)
        json_object_set(o, "last_attempt", json_array_get(it->attempts, n - 1));
    if (full) {
        char *s = json_dumps(o, JSON_INDENT(2));
        if (s)
            printf("%s\n", s);
        free(s);
        json_decref(o);
    } else {
        print_line(o);
    }
}

static int queue_action(const char *dir, const char *cmd, const char *id)
{
    char answer[1024];
    int st = iha_queue_send_control(dir, cmd, id, 5000, answer, sizeof(answer));

    fprintf(st == 0 ? stdout : stderr, "%s%s\n", st == 0 ? "" : "iha-gateway: ", answer);
    return st;
}

static int cmd_queue(const struct options *o, const char *dir)
{
    struct iha_queue_config qc = {.dir = dir, .read_only = true};
    struct iha_queue *q = NULL;
    struct iha_err err = {0};
    const char *sub = o->n_args ? o->args[0] : "";
    const char *id = o->n_args > 1 ? o->args[1] : NULL;
    bool full = strcmp(sub, "show") == 0;
    int status = 1;

    if (strcmp(sub, "list") != 0 &&
        !((full || strcmp(sub, "retry") == 0 || strcmp(sub, "drop") == 0) && id)) {
        fprintf(stderr, "usage: iha-gateway queue list|show ID|retry ID|drop ID\n");
        return 2;
    }
    if (iha_queue_open(&qc, &q, &err) != IHA_OK) {
        fprintf(stderr, "iha-gateway: %s\n", err.msg);
        return 1;
    }
    if (strcmp(sub, "list") == 0) {
        struct iha_queue_stats s = iha_queue_stats(q);
        iha_queue_foreach(q, print_item, &full);
        fprintf(stderr, "%zu queued notification(s) in %s; %zu segment(s), %llu bytes%s\n", s.live,
                dir, s.segments, (unsigned long long)s.disk_bytes,
                s.corrupt ? "; damaged records were skipped (see the daemon log)" : "");
        status = 0;
    } else if (iha_queue_find(q, id, NULL, full ? print_item : NULL, &full) != IHA_OK) {
        fprintf(stderr, "iha-gateway: no queued notification %s in %s\n", id, dir);
    } else if (full) {
        status = 0;
    } else {
        status = queue_action(dir, sub, id);
    }
    iha_queue_close(q);
    return status;
}

static int cmd_deadletter(const struct options *o, const char *dir)
{
    const char *sub = o->n_args ? o->args[0] : "";
    char path[4096], *line = NULL;
    size_t cap = 0, count = 0;
    ssize_t len;
    FILE *f;
    json_t *requeued;

    if (strcmp(sub, "requeue") == 0 && o->n_args > 1)
        return queue_action(dir, "requeue", o->args[1]);
    if (strcmp(sub, "list") != 0) {
        fprintf(stderr, "usage: iha-gateway deadletter list|requeue ID\n");
        return 2;
    }
    iha_queue_deadletter_path(dir, path, sizeof(path));
    f = fopen(path, "re");
    if (!f) {
        if (errno == ENOENT) {
            fprintf(stderr, "no dead-lettered notification in %s\n", dir);
            return 0;
        }
        fprintf(stderr, "iha-gateway: %s: %s\n", path, strerror(errno));
        return 1;
    }
    requeued = json_object();
    /* Two passes over the lines: requeue notes may follow their record. */
    while ((len = getline(&line, &cap, f)) > 0) {
        json_t *j = json_loadb(line, (size_t)len, 0, NULL);
        const char *r = json_string_value(json_object_get(j, "requeued"));
        if (r && requeued)
            json_object_set(requeued, r, json_object_get(j, "as"));
        json_decref(j);
    }
    rewind(f);
    while ((len = getline(&line, &cap, f)) > 0) {
        json_t *j = json_loadb(line, (size_t)len, 0, NULL), *n, *out;
        const char *id = json_string_value(json_object_get(j, "id"));
        if (!j || !id || json_object_get(j, "requeued")) {
            json_decref(j);
            continue;
        }
        n = json_object_get(j, "notification");
        out = json_pack(
            "{s:s,s:O?,s:O?,s:O?,s:O?,s:O?,s:O?,s:O?,s:O?}", "id", id, "dead_lettered_at",
            json_object_get(j, "dead_lettered_at"), "reason", json_object_get(j, "reason"),
            "outcome", json_object_get(j, "outcome"), "http_code", json_object_get(j, "http_code"),
            "detail", json_object_get(j, "detail"), "type", json_object_get(n, "type"), "hostname",
            json_object_get(n, "hostname"), "attempts_total", json_object_get(j, "attempts_total"));
        if (out && json_object_get(requeued, id))
            json_object_set(out, "requeued_as", json_object_get(requeued, id));
        if (out) {
            print_line(out);
            count++;
        }
        json_decref(j);
    }
    json_decref(requeued);
    free(line);
    fclose(f);
    fprintf(stderr, "%zu dead-lettered notification(s) in %s (full records: %s)\n", count, dir,
            path);
    return 0;
}

static int cmd_storage(const struct options *o)
{
    struct iha_diag *diag = iha_diag_new();
    struct iha_config *cfg = NULL;
    int status = 1;

    if (!diag)
        return 1;
    if (load_config(o, &cfg, diag) != IHA_OK) {
        print_diag(diag);
    } else if (strcmp(o->command, "queue") == 0) {
        status = cmd_queue(o, cfg->storage_path);
    } else {
        status = cmd_deadletter(o, cfg->storage_path);
    }
    iha_config_free(cfg);
    iha_diag_free(diag);
    return status;
}

/* ---- run ------------------------------------------------------------------------------ */

/* Storage health → /-/ready; set from the queue's thread. */
struct readiness {
    pthread_mutex_t lock;
    struct iha_http *http;
    bool bad;
    char why[256];
};

static void on_storage_health(void *cls, bool healthy, const char *why)
{
    struct readiness *r = cls;

    pthread_mutex_lock(&r->lock);
    r->bad = !healthy;
    snprintf(r->why, sizeof(r->why), "%s", why ? why : "");
    if (r->http)
        iha_http_set_ready(r->http, healthy, r->why);
    pthread_mutex_unlock(&r->lock);
}

/* Alert outcomes kept for the status page and /api/v1/events. */
#define EVENTS_KEPT 1000

/* A reload loads the configuration exactly as the start did: file or default, flags over it. */
static enum iha_rc reload_load(void *cls, struct iha_config **out, struct iha_diag *diag)
{
    return load_config(cls, out, diag);
}

static enum iha_rc ingest(void *cls, enum iha_source source, const json_t *body, iha_reply_fn reply,
                          void *reply_cls, struct iha_err *err)
{
    return iha_pipeline_handle(cls, source, body, reply, reply_cls, err);
}

/* The configured file, else the environment, else the conventional file if present. */
static const char *service_token_file(const struct iha_config *cfg)
{
    const char *env = getenv(IHA_SERVICE_TOKEN_ENV);

    if (cfg->token_file)
        return cfg->token_file;
    if (env && *env)
        return NULL;
    if (access(IHA_DEFAULT_SERVICE_TOKEN_FILE, R_OK) == 0)
        return IHA_DEFAULT_SERVICE_TOKEN_FILE;
    return NULL;
}

static int cmd_run(const struct options *o)
{
    struct iha_diag *diag = iha_diag_new();
    struct iha_config *cfg = NULL;
    struct iha_ruleset *rs = iha_ruleset_new();
    struct iha_token_source *token = NULL;
    struct iha_dedupe *dedupe = NULL;
    struct iha_delivery *delivery = NULL;
    struct iha_queue *queue = NULL;
    struct iha_pipeline *pipeline = NULL;
    struct readiness ready = {.lock = PTHREAD_MUTEX_INITIALIZER};
    struct iha_auth *auth = NULL;
    struct iha_http *http = NULL;
    struct iha_metrics *metrics = iha_metrics_new();
    struct iha_events *events = iha_events_new(EVENTS_KEPT);
    struct iha_reload *reload = NULL;
    struct iha_http_ops ops;
    struct iha_err err = {0};
    char desc[256], port[16], nrules[16];
    sigset_t sigs;
    int sig = 0, status = 1;
    bool curl_ready = false;

    if (!diag || !rs || !metrics || !events ||
        iha_metrics_register_gateway(metrics, IHA_VERSION) != IHA_OK) {
        fprintf(stderr, "iha-gateway: out of memory\n");
        goto cleanup;
    }
    if (load_config(o, &cfg, diag) != IHA_OK || iha_config_load_rules(cfg, rs, diag) != IHA_OK) {
        print_diag(diag);
        fprintf(stderr, "iha-gateway: configuration is invalid, not starting\n");
        goto cleanup;
    }
    iha_log_setup(cfg->log_level, cfg->log_format);
    for (size_t i = 0; i < iha_diag_count(diag); i++)
        IHA_LOG(IHA_LOG_WARN, "config warning", "detail", iha_diag_get(diag, i));
    if (cfg->auth_disabled && !iha_http_is_loopback(cfg->listen_address)) {
        IHA_LOG(IHA_LOG_ERROR, "web.auth.disabled is allowed only on a loopback listen address",
                "listen_address", cfg->listen_address);
        goto cleanup;
    }

    /* Signals are taken by sigwait() in this thread only; every thread inherits the mask. */
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        IHA_LOG(IHA_LOG_ERROR, "libcurl initialisation failed");
        goto cleanup;
    }
    curl_ready = true;

    if (cfg->auth.type == IHA_AUTH_STATIC) {
        if (iha_token_source_new(service_token_file(cfg), IHA_SERVICE_TOKEN_ENV, &token) != IHA_OK)
            goto cleanup;
    } else if (iha_service_auth_start(cfg, cfg->url_set || o->url, metrics, &token, &err) !=
               IHA_OK) {
        IHA_LOG(IHA_LOG_ERROR, "cannot set up the Keystone service token", "detail", err.msg);
        goto cleanup;
    }
    if (cfg->tls.insecure)
        IHA_LOG(IHA_LOG_WARN, "instance_ha.tls.insecure: the Instance HA server's certificate is "
                              "NOT verified; use this only in a lab");
    dedupe = iha_dedupe_new(cfg->dedupe_window_s, cfg->dedupe_max_entries);
    if (!dedupe)
        goto cleanup;
    {
        struct iha_queue_config qc = {
            .dir = cfg->storage_path,
            .max_bytes = cfg->storage_max_bytes,
            .max_entries = cfg->storage_max_entries,
            .segment_bytes = cfg->storage_segment_bytes,
        };
        struct iha_queue_stats qs;
        char live[24], corrupt[24], bytes[24];
        if (iha_queue_open(&qc, &queue, &err) != IHA_OK) {
            IHA_LOG(IHA_LOG_ERROR, "cannot open the durable queue", "path", cfg->storage_path,
                    "detail", err.msg);
            goto cleanup;
        }
        qs = iha_queue_stats(queue);
        snprintf(live, sizeof(live), "%zu", qs.live);
        snprintf(corrupt, sizeof(corrupt), "%zu", qs.corrupt);
        snprintf(bytes, sizeof(bytes), "%llu", (unsigned long long)qs.skipped_bytes);
        IHA_LOG(qs.corrupt ? IHA_LOG_WARN : IHA_LOG_INFO, "queue recovered", "path",
                cfg->storage_path, "pending", live, "damaged_regions", corrupt, "skipped_bytes",
                bytes);
    }
    {
        struct iha_delivery_config dc = {
            .url = cfg->url,
            .dialect = cfg->dialect,
            .token = token,
            .connect_timeout_ms = cfg->connect_timeout_ms,
            .timeout_ms = cfg->timeout_ms,
            .retry_for_ms = cfg->storage_max_age_ms,
            .max_backoff_ms = cfg->storage_max_backoff_ms,
            .max_jobs = cfg->storage_max_entries + 64,
            .tls = &cfg->tls,
        };
        if (iha_delivery_new(&dc, &delivery) != IHA_OK) {
            IHA_LOG(IHA_LOG_ERROR, "cannot start the delivery thread");
            goto cleanup;
        }
    }
    {
        struct iha_pipeline_stages st = {
            .rules = rs,
            .dedupe = dedupe,
            .delivery = delivery,
            .queue = queue,
            .native_wait_ms = cfg->connect_timeout_ms + cfg->timeout_ms,
            .max_age_ms = cfg->storage_max_age_ms,
            .metrics = metrics,
            .events = events,
        };
        pipeline = iha_pipeline_new(&st);
        if (!pipeline)
            goto cleanup;
    }
    {
        struct iha_reload_config rc = {
            .load = reload_load,
            .load_cls = (void *)o,
            .running = cfg,
            .rules = rs,
            .pipeline = pipeline,
            .metrics = metrics,
            .queue = queue,
            .token = token,
        };
        reload = iha_reload_new(&rc);
        if (!reload)
            goto cleanup;
        iha_reload_http_ops(reload, events, &ops);
    }
    /* Commands left while the daemon was down run before anything is delivered. */
    {
        const struct iha_queue_callbacks cbs = {
            .control = iha_pipeline_control,
            .control_cls = pipeline,
            .health = on_storage_health,
            .health_cls = &ready,
        };
        iha_queue_set_callbacks(queue, &cbs);
    }
    iha_queue_run_control(queue);
    iha_pipeline_resume(pipeline);
    if (iha_auth_new(cfg->auth_disabled, cfg->bearer_tokens_file, cfg->basic_users,
                     cfg->n_basic_users, &auth) != IHA_OK)
        goto cleanup;
    {
        struct iha_http_config hc = {
            .listen_address = cfg->listen_address,
            .max_body = cfg->max_request_bytes,
            .read_timeout_s = cfg->read_timeout_s,
            .auth = auth,
            .ingest = ingest,
            .ingest_cls = pipeline,
            .metrics = metrics,
            .ops = &ops,
        };
        if (iha_http_start(&hc, &http, &err) != IHA_OK) {
            IHA_LOG(IHA_LOG_ERROR, "cannot listen", "listen_address", cfg->listen_address, "detail",
                    err.msg);
            goto cleanup;
        }
        if (cfg->auth_disabled && !iha_http_bound_loopback(http)) {
            IHA_LOG(IHA_LOG_ERROR, "web.auth.disabled is allowed only on a loopback listen address",
                    "listen_address", cfg->listen_address, "detail",
                    "the listening socket is bound to a non-loopback address");
            goto cleanup;
        }
    }
    pthread_mutex_lock(&ready.lock);
    ready.http = http;
    iha_reload_set_http(reload, http);
    iha_http_set_ready(http, !ready.bad, ready.why);
    pthread_mutex_unlock(&ready.lock);
    iha_token_source_describe(token, desc, sizeof(desc));
    snprintf(port, sizeof(port), "%u", iha_http_port(http));
    snprintf(nrules, sizeof(nrules), "%zu", iha_ruleset_count(rs));
    IHA_LOG(IHA_LOG_INFO, "iha-gateway started", "version", IHA_VERSION, "config", cfg->source,
            "listen_address", cfg->listen_address, "port", port, "instance_ha_url", cfg->url,
            "dialect", iha_dialect_name(cfg->dialect), "rules", nrules, "storage_path",
            cfg->storage_path, "service_token", desc, "inbound_auth",
            cfg->auth_disabled ? "disabled" : "enabled");

    for (;;) {
        if (sigwait(&sigs, &sig) != 0)
            continue;
        if (sig == SIGHUP) {
            /* Only asks: the reload thread does the work, so SIGTERM is never kept waiting. */
            IHA_LOG(IHA_LOG_INFO, "SIGHUP received: reloading the configuration");
            if (iha_reload_request(reload, IHA_RELOAD_SIGHUP, NULL, NULL, &err) != IHA_OK)
                IHA_LOG(IHA_LOG_ERROR, "cannot start a reload", "detail", err.msg);
            continue;
        }
        break;
    }
    IHA_LOG(IHA_LOG_INFO, "shutting down", "signal", sig == SIGINT ? "SIGINT" : "SIGTERM");
    iha_http_set_ready(http, false, "shutting down");
    status = 0;
cleanup:
    /* Stop accepting and answer what is in flight; then delivery; then the queue. */
    if (queue)
        iha_queue_set_callbacks(queue, NULL);
    pthread_mutex_lock(&ready.lock);
    ready.http = NULL;
    pthread_mutex_unlock(&ready.lock);
    /* A reload in progress finishes before the server and the pipeline it feeds go. */
    iha_reload_stop(reload);
    if (reload)
        iha_reload_set_http(reload, NULL);
    /* Stored native notifications are answered 202 "queued" before the server's 503s. */
    if (pipeline)
        iha_pipeline_stop(pipeline);
    iha_http_stop(http);
    iha_delivery_free(delivery);
    iha_queue_close(queue);
    iha_pipeline_free(pipeline);
    iha_reload_free(reload);
    iha_events_free(events);
    iha_auth_free(auth);
    iha_dedupe_free(dedupe);
    iha_token_source_free(token); /* stops the Keystone renewal thread, which counts in metrics */
    iha_metrics_free(metrics);
    iha_ruleset_free(rs);
    iha_config_free(cfg);
    iha_diag_free(diag);
    if (curl_ready)
        curl_global_cleanup();
    return status;
}

int main(int argc, char **argv)
{
    struct options o = {0};

    if (parse_args(argc, argv, &o) != 0)
        return 2;
    if (o.command && strcmp(o.command, "check-config") == 0)
        return cmd_check_config(&o);
    if (o.command && strcmp(o.command, "map") == 0)
        return cmd_map(&o);
    if (o.command && (strcmp(o.command, "queue") == 0 || strcmp(o.command, "deadletter") == 0))
        return cmd_storage(&o);
    if (o.command && strcmp(o.command, "test-rules") == 0)
        return iha_ruletest_main(o.args, o.n_args, stdout, stderr);
    if (o.lint || o.lint_fatal) {
        fprintf(stderr,
                "iha-gateway: --lint and --lint-fatal belong to the check-config command\n");
        return 2;
    }
    if (o.source || o.explain) {
        fprintf(stderr, "iha-gateway: --source and --explain belong to the map command\n");
        return 2;
    }
    return cmd_run(&o);
}
