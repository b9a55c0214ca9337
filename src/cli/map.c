/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file map.c
 * @brief map: a dry run that shows what alerts would send, rule by rule.
 *
 * One command of the iha-gateway binary (see cli_int.h).
 */
#include "cli_int.h"
#include "policy_preview.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "alert.h"
#include "alertmanager.h"
#include "buf.h"
#include "config.h"
#include "diag.h"
#include "mapping.h"
#include "nagios.h"
#include "native.h"
#include "notification.h"

#define INPUT_MAX (16u * 1024 * 1024)

static char *read_input(const char *path, size_t *len)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    struct iha_buf b;
    char chunk[16384];
    size_t got;

    if (!f) {
        fprintf(stderr, "iha-gateway: %s: %s\n", path, strerror(errno));
        return NULL;
    }
    iha_buf_init(&b, 65536, INPUT_MAX);
    while ((got = fread(chunk, 1, sizeof(chunk), f)) > 0 && iha_buf_put(&b, chunk, got))
        ;
    if (b.over)
        fprintf(stderr, "iha-gateway: %s: larger than %u bytes\n", path, INPUT_MAX);
    if (f != stdin)
        fclose(f);
    *len = b.len;
    return iha_buf_steal(&b);
}

void iha_cli_print_line(json_t *o)
{
    char *s = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);

    if (s)
        printf("%s\n", s);
    free(s);
    json_decref(o);
}

/* Appends @p o (stolen) to @p lines. */
static void add_line(json_t *lines, json_t *o)
{
    if (o)
        json_array_append_new(lines, o);
}

/* What the policy simulation needs of a notification: the host it evacuates or brings back. */
static void mark_for_policy(json_t *line, const struct iha_notification *n)
{
    if (iha_notification_evacuates(n))
        json_object_set_new(line, "evacuates", json_string(n->hostname));
    else if (iha_notification_host_back(n))
        json_object_set_new(line, "host_back", json_string(n->hostname));
}

static void map_alert(const struct iha_ruleset *rs, const struct iha_alert *a, size_t idx,
                      bool explain, const char *now, json_t *lines)
{
    struct iha_map_result mr = {0};
    json_t *trace = explain ? json_array() : NULL;

    if (iha_mapping_explain(rs, a, &mr, trace) != IHA_OK) {
        fprintf(stderr, "iha-gateway: out of memory\n");
        json_decref(trace);
        return;
    }
    if (trace)
        add_line(lines, json_pack("{s:I,s:s,s:o}", "alert", (json_int_t)idx, "alertname",
                                  iha_alert_label(a, "alertname"), "explain", trace));
    for (size_t k = 0; k < mr.n; k++) {
        struct iha_map_outcome *out = &mr.items[k];
        json_t *line;

        if (out->dropped) {
            line = json_pack("{s:I,s:s,s:s,s:b,s:s,s:s}", "alert", (json_int_t)idx, "alertname",
                             iha_alert_label(a, "alertname"), "status",
                             iha_alert_status_name(a->status), "dropped", 1, "rule", out->rule,
                             "reason", out->reason);
            if (line && out->resolved_host[0])
                json_object_set_new(line, "host_back", json_string(out->resolved_host));
        } else {
            snprintf(out->notif.generated_time, sizeof(out->notif.generated_time), "%s", now);
            line = json_pack("{s:I,s:s,s:s,s:s,s:o}", "alert", (json_int_t)idx, "alertname",
                             iha_alert_label(a, "alertname"), "status",
                             iha_alert_status_name(a->status), "rule", out->rule, "notification",
                             iha_notification_to_json(&out->notif));
            if (line)
                mark_for_policy(line, &out->notif);
        }
        add_line(lines, line);
    }
    iha_map_result_clear(&mr);
}

int iha_cli_map(const struct options *o)
{
    struct iha_diag *diag = iha_diag_new();
    struct iha_config *cfg = NULL;
    struct iha_ruleset *rs = iha_ruleset_new();
    enum iha_source source;
    const char *input = o->n_args ? o->args[0] : "-";
    char *text = NULL;
    size_t len = 0;
    json_t *body = NULL, *lines = json_array();
    json_error_t jerr;
    struct iha_err err = {0};
    char now[IHA_TIME_LEN];
    int status = 1;

    if (!diag || !rs || !lines)
        goto cleanup;
    if (!o->source || iha_source_parse(o->source, &source) != 0) {
        fprintf(stderr, "iha-gateway map: --source must be alertmanager, nagios or native\n");
        status = 2;
        goto cleanup;
    }
    if (iha_cli_load_config(o, &cfg, diag) != IHA_OK ||
        iha_config_load_rules(cfg, rs, diag) != IHA_OK) {
        iha_cli_print_diag(diag);
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
        add_line(lines, json_pack("{s:o}", "notification", iha_notification_to_json(&n)));
        mark_for_policy(json_array_get(lines, json_array_size(lines) - 1), &n);
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
            map_alert(rs, &alerts[i], i, o->explain, now, lines);
        /* As the daemon does: an alert that cannot be read is dropped alone. */
        for (size_t i = 0; i < n && source == IHA_SOURCE_ALERTMANAGER; i++) {
            iha_err_clear(&err);
            prc = iha_alertmanager_read(body, i, &one, &err);
            if (prc == IHA_OK)
                map_alert(rs, &one, i, o->explain, now, lines);
            else
                add_line(lines, json_pack("{s:I,s:s,s:b,s:s,s:s,s:s}", "alert", (json_int_t)i,
                                          "alertname", iha_alert_label(&one, "alertname"),
                                          "dropped", 1, "field", err.field, "reason",
                                          err.msg[0] ? err.msg : "", "error", iha_rc_str(prc)));
            iha_alert_clear(&one);
        }
        iha_nagios_free(alerts, n);
    }
    iha_policy_preview(cfg, lines);
    for (size_t i = 0; i < json_array_size(lines); i++)
        iha_cli_print_line(json_incref(json_array_get(lines, i)));
    status = 0;
cleanup:
    json_decref(lines);
    json_decref(body);
    free(text);
    iha_ruleset_free(rs);
    iha_config_free(cfg);
    iha_diag_free(diag);
    return status;
}
