/* SPDX-License-Identifier: Apache-2.0 */
/** @file status_page.c @brief Server-rendered HTML status page. */
#include "status_page.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"

/* A refused append is remembered: iha_buf_steal() then drops the whole page. */
static void raw(struct iha_buf *h, const char *s)
{
    iha_buf_str(h, s);
}

/* Everything that came from a sender or a config passes through here. */
static void text(struct iha_buf *h, const char *s)
{
    char one[2] = {0, 0};

    if (!s)
        return;
    for (; *s; s++) {
        switch (*s) {
        case '&':
            raw(h, "&amp;");
            break;
        case '<':
            raw(h, "&lt;");
            break;
        case '>':
            raw(h, "&gt;");
            break;
        case '"':
            raw(h, "&quot;");
            break;
        case '\'':
            raw(h, "&#39;");
            break;
        default:
            one[0] = *s;
            raw(h, one);
        }
    }
}

static const char *str(const json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : "";
}

static void json_text(struct iha_buf *h, const json_t *v)
{
    char *s;

    if (!v)
        return;
    s = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
    text(h, s);
    free(s);
}

static void td(struct iha_buf *h, const char *cls, const char *s)
{
    raw(h, "<td");
    if (cls) {
        raw(h, " class=\"");
        text(h, cls);
        raw(h, "\"");
    }
    raw(h, ">");
    text(h, s);
    raw(h, "</td>");
}

static void attempts_cell(struct iha_buf *h, const json_t *attempts)
{
    size_t i;
    const json_t *a;

    raw(h, "<td class=\"attempts\">");
    json_array_foreach(attempts, i, a)
    {
        const json_t *code = json_object_get(a, "http_code");
        raw(h, "<div>");
        text(h, str(a, "time"));
        raw(h, " ");
        if (json_is_integer(code)) {
            char num[32];
            snprintf(num, sizeof(num), "HTTP %lld", (long long)json_integer_value(code));
            text(h, num);
        }
        raw(h, " <b>");
        text(h, str(a, "outcome"));
        raw(h, "</b> ");
        text(h, str(a, "detail"));
        if (*str(a, "notification_uuid")) {
            raw(h, " <span class=\"uuid\">");
            text(h, str(a, "notification_uuid"));
            raw(h, "</span>");
        }
        raw(h, "</div>");
    }
    raw(h, "</td>");
}

static void events_table(struct iha_buf *h, const json_t *events)
{
    size_t i;
    const json_t *e;

    raw(h, "<table id=\"events\"><thead><tr><th>time</th><th>source</th><th>alert</th>"
           "<th>status</th><th>rule</th><th>result</th><th>notification</th>"
           "<th>attempts</th></tr></thead><tbody>\n");
    if (json_array_size(events) == 0)
        raw(h, "<tr><td colspan=\"8\">no alerts yet</td></tr>\n");
    json_array_foreach(events, i, e)
    {
        const char *result = str(e, "result");
        const json_t *payload = json_object_get(e, "payload");

        raw(h, "<tr class=\"event\" data-id=\"");
        text(h, str(e, "id"));
        raw(h, "\" data-result=\"");
        text(h, result);
        raw(h, "\" data-hostname=\"");
        text(h, str(e, "hostname"));
        raw(h, "\">");
        td(h, NULL, str(e, "time"));
        td(h, NULL, str(e, "source"));
        td(h, NULL, str(e, "alertname"));
        td(h, NULL, str(e, "status"));
        td(h, NULL, str(e, "rule"));
        raw(h, "<td class=\"result result-");
        text(h, result);
        raw(h, "\"><b>");
        text(h, result);
        raw(h, "</b>");
        if (*str(e, "reason")) {
            raw(h, "<br><span class=\"reason\">");
            text(h, str(e, "reason"));
            raw(h, "</span>");
        }
        raw(h, "</td><td>");
        if (*str(e, "type")) {
            text(h, str(e, "type"));
            raw(h, " ");
            text(h, str(e, "hostname"));
            raw(h, "<br><code>");
            json_text(h, payload);
            raw(h, "</code><br><small>id ");
            text(h, str(e, "id"));
            if (*str(e, "dedupe")) {
                raw(h, " · dedupe ");
                text(h, str(e, "dedupe"));
            }
            if (json_is_integer(json_object_get(e, "queue_seq"))) {
                char seq[48];
                snprintf(seq, sizeof(seq), " · queue seq %lld",
                         (long long)json_integer_value(json_object_get(e, "queue_seq")));
                text(h, seq);
            }
            raw(h, "</small>");
        }
        raw(h, "</td>");
        attempts_cell(h, json_object_get(e, "attempts"));
        raw(h, "</tr>\n");
    }
    raw(h, "</tbody></table>\n");
}

static void holds_table(struct iha_buf *h, const json_t *list)
{
    size_t i;
    const json_t *e;
    char n[32];

    raw(h, "<table id=\"holds\"><thead><tr><th>notification</th><th>host</th>"
           "<th>failure domain</th><th>state</th><th>reason</th><th>for</th></tr></thead>"
           "<tbody>\n");
    if (json_array_size(list) == 0)
        raw(h, "<tr><td colspan=\"6\">nothing held back</td></tr>\n");
    json_array_foreach(list, i, e)
    {
        raw(h, "<tr class=\"hold\" data-state=\"");
        text(h, str(e, "state"));
        raw(h, "\" data-host=\"");
        text(h, str(e, "host"));
        raw(h, "\">");
        td(h, NULL, str(e, "id"));
        td(h, NULL, str(e, "host"));
        td(h, NULL, str(e, "domain"));
        td(h, NULL, str(e, "state"));
        td(h, NULL, str(e, "reason"));
        snprintf(n, sizeof(n), "%llds", (long long)json_integer_value(json_object_get(e, "for_s")));
        td(h, NULL, n);
        raw(h, "</tr>\n");
    }
    raw(h, "</tbody></table>\n");
}

/* What the safety policy holds back and why: first on the page when the guard tripped. */
static void policy_section(struct iha_buf *h, const json_t *policy)
{
    const json_t *guard = json_object_get(policy, "guard");
    const json_t *hb = json_object_get(policy, "heartbeat");
    const json_t *flapping = json_object_get(policy, "flapping_hosts");
    size_t i;
    const json_t *f;

    if (!policy)
        return;
    raw(h, "<h2>Safety policy</h2>\n<p id=\"guard\" class=\"guard-");
    text(h, str(guard, "state"));
    raw(h, "\"><b>Storm guard ");
    text(h, str(guard, "state"));
    raw(h, "</b>: ");
    text(h, str(guard, "why"));
    raw(h, ". Monitoring heartbeat: <b id=\"heartbeat\">");
    text(h, str(hb, "state"));
    raw(h, "</b>.");
    if (!json_is_true(json_object_get(policy, "enabled")))
        raw(h, " New evacuations are not checked (policy.enabled is false).");
    raw(h, "</p>\n");
    if (json_array_size(flapping) > 0) {
        raw(h, "<p id=\"flapping\">Flapping hosts:");
        json_array_foreach(flapping, i, f)
        {
            raw(h, " <code>");
            text(h, json_string_value(f));
            raw(h, "</code>");
        }
        raw(h, "</p>\n");
    }
    holds_table(h, json_object_get(policy, "notifications"));
    raw(h, "<p>Release held evacuations with <code>iha-gateway hold release ID</code> or "
           "<code>iha-gateway hold release --all</code>; end one with "
           "<code>iha-gateway hold drop ID</code>.</p>\n");
}

static const char style[] =
    "<style>body{font-family:sans-serif;margin:1.5em;color:#222}"
    "table{border-collapse:collapse;width:100%;font-size:90%}"
    "td,th{border:1px solid #ccc;padding:4px;vertical-align:top;text-align:left}"
    "th{background:#eee}.result-delivered b,.result-duplicate b{color:#060}"
    ".result-dropped b,.result-deduplicated b{color:#666}"
    ".result-rejected b,.result-retry b,.result-auth_error b,.result-dead b{color:#b00}"
    ".result-held b,.guard-tripped b{color:#b00}.result-flapped b{color:#666}"
    "pre{background:#f6f6f6;padding:8px;overflow:auto}code{font-size:90%}</style>";

char *iha_status_page_render(const json_t *status, const json_t *events, const char *hostname)
{
    struct iha_buf h;
    size_t i;
    const json_t *r;
    char *cfg;

    iha_buf_init(&h, 16384, 0);
    raw(&h, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<title>iha-gateway</title>");
    raw(&h, style);
    raw(&h, "</head><body>\n<h1>iha-gateway ");
    text(&h, str(status, "version"));
    raw(&h, "</h1>\n<p>Started ");
    text(&h, str(status, "started"));
    raw(&h, ". Instance HA: <code>");
    text(&h, str(json_object_get(status, "instance_ha"), "url"));
    raw(&h, "</code> (");
    text(&h, str(json_object_get(status, "instance_ha"), "dialect"));
    raw(&h, "), service token: ");
    text(&h, str(json_object_get(status, "instance_ha"), "token"));
    raw(&h, ".</p>\n");
    policy_section(&h, json_object_get(status, "policy"));
    raw(&h, "<h2>Recent alerts</h2>\n"
            "<form method=\"get\" action=\"/\"><label>hostname "
            "<input name=\"hostname\" value=\"");
    text(&h, hostname);
    raw(&h, "\"></label> <button type=\"submit\">filter</button> <a href=\"/\">all</a></form>\n");
    events_table(&h, events);
    raw(&h, "<h2>Queue</h2>\n<pre id=\"queue\">");
    json_text(&h, json_object_get(status, "queue"));
    raw(&h, "</pre>\n<h2>Rules</h2>\n<ol id=\"rules\">");
    json_array_foreach(json_object_get(status, "rules"), i, r)
    {
        raw(&h, "<li>");
        text(&h, json_string_value(r));
        raw(&h, "</li>");
    }
    raw(&h, "</ol>\n<h2>Configuration</h2>\n<pre id=\"config\">");
    cfg = json_dumps(json_object_get(status, "config"), JSON_INDENT(2) | JSON_SORT_KEYS);
    text(&h, cfg);
    free(cfg);
    raw(&h, "</pre>\n<p><a href=\"/api/v1/status\">status JSON</a> · "
            "<a href=\"/api/v1/events\">events JSON</a> · <a href=\"/metrics\">metrics</a></p>"
            "\n</body></html>\n");
    return iha_buf_steal(&h);
}
