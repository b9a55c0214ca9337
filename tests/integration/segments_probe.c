/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file segments_probe.c
 * @brief Test-only driver of the failover segment client (segments.h), for
 *        tests/integration/test_segments.sh: the client has no user in the daemon yet.
 *
 * Usage: segments_probe --url URL [--token-file FILE] [--dialect masakari|xloud]
 *                       [--page-limit N] [--refresh-ms N] [--wait-ms N]
 *
 * Starts the client against Instance HA at URL with the static token in FILE, waits up to
 * --wait-ms (default 30000) for the first snapshot and prints {"ready": bool, "status": {...}}.
 * Then reads one command a line from stdin and answers each with one JSON line on stdout:
 *   lookup HOST...  {"HOST": {"segment": NAME, "uuid": UUID, "hosts": N} | {"error": WHY}}
 *                   with WHY "notfound", "no_snapshot" or "invalid"
 *   refresh         {"refresh": "ok" | the failure's name, "status": {...}}
 *   status          the status object
 *   quit (or EOF)   stops the client and exits 0
 * Logs go to stderr.
 */
#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "segments.h"

struct opts {
    struct iha_segments_config cfg;
    const char *token_file;
    unsigned wait_ms;
};

static int number(const char *s, unsigned *out)
{
    char *end;
    unsigned long v;

    errno = 0;
    v = strtoul(s, &end, 10);
    if (errno || end == s || *end || v > 3600000ul)
        return -1;
    *out = (unsigned)v;
    return 0;
}

static int parse_args(int argc, char **argv, struct opts *o)
{
    memset(o, 0, sizeof(*o));
    o->wait_ms = 30000;
    for (int i = 1; i + 1 < argc; i += 2) {
        const char *k = argv[i], *v = argv[i + 1];
        int bad = 0;
        if (strcmp(k, "--url") == 0)
            o->cfg.url = v;
        else if (strcmp(k, "--token-file") == 0)
            o->token_file = v;
        else if (strcmp(k, "--dialect") == 0)
            bad = iha_dialect_parse(v, &o->cfg.dialect);
        else if (strcmp(k, "--page-limit") == 0)
            bad = number(v, &o->cfg.page_limit);
        else if (strcmp(k, "--refresh-ms") == 0)
            bad = number(v, &o->cfg.refresh_ms);
        else if (strcmp(k, "--wait-ms") == 0)
            bad = number(v, &o->wait_ms);
        else
            bad = -1;
        if (bad) {
            fprintf(stderr, "segments_probe: bad option %s %s\n", k, v);
            return -1;
        }
    }
    if (argc % 2 == 0 || !o->cfg.url) {
        fprintf(stderr, "usage: segments_probe --url URL [--token-file FILE] [--dialect D] "
                        "[--page-limit N] [--refresh-ms N] [--wait-ms N]\n");
        return -1;
    }
    return 0;
}

/* Prints @p v as one line and releases it. */
static void emit(json_t *v)
{
    char *text = v ? json_dumps(v, JSON_COMPACT) : NULL;

    printf("%s\n", text ? text : "{\"error\": \"out of memory\"}");
    fflush(stdout);
    free(text);
    json_decref(v);
}

static json_t *lookup_one(struct iha_segments *s, const char *host)
{
    struct iha_segment_info info;

    switch (iha_segments_lookup(s, host, &info)) {
    case IHA_OK:
        return json_pack("{s:s,s:s,s:I}", "segment", info.name, "uuid", info.uuid, "hosts",
                         (json_int_t)info.hosts);
    case IHA_E_NOTFOUND:
        return json_pack("{s:s}", "error", "notfound");
    case IHA_E_UPSTREAM:
        return json_pack("{s:s}", "error", "no_snapshot");
    default:
        return json_pack("{s:s}", "error", "invalid");
    }
}

/* "lookup A B C": each space-separated word after the command. */
static void lookup(struct iha_segments *s, char *args)
{
    json_t *out = json_object();
    char *p = args;

    while (out && *p) {
        char *w = p;
        while (*p && *p != ' ')
            p++;
        if (*p)
            *p++ = '\0';
        if (*w && json_object_set_new(out, w, lookup_one(s, w)) != 0)
            break;
    }
    emit(out);
}

static void command_loop(struct iha_segments *s)
{
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;

    while ((n = getline(&line, &cap, stdin)) >= 0) {
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
            line[--n] = '\0';
        if (strncmp(line, "lookup ", 7) == 0) {
            lookup(s, line + 7);
        } else if (strcmp(line, "refresh") == 0) {
            enum iha_rc rc = iha_segments_refresh_wait(s, 60000);
            emit(json_pack("{s:s,s:o}", "refresh", rc == IHA_OK ? "ok" : iha_rc_str(rc), "status",
                           iha_segments_status(s)));
        } else if (strcmp(line, "status") == 0) {
            emit(iha_segments_status(s));
        } else if (strcmp(line, "quit") == 0) {
            break;
        } else {
            emit(json_pack("{s:s}", "error", "unknown command"));
        }
    }
    free(line);
}

int main(int argc, char **argv)
{
    struct iha_token_source *ts = NULL;
    struct iha_segments *s = NULL;
    struct iha_err err;
    struct opts o;
    int status = 1;
    bool ready;

    if (parse_args(argc, argv, &o) != 0)
        return 2;
    iha_log_setup(IHA_LOG_INFO, IHA_LOG_LOGFMT);
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return 1;
    iha_err_clear(&err);
    if (o.token_file && iha_token_source_new(o.token_file, NULL, &ts) != IHA_OK)
        goto cleanup;
    o.cfg.token = ts;
    if (iha_segments_new(&o.cfg, &s, &err) != IHA_OK) {
        fprintf(stderr, "segments_probe: %s\n", err.msg);
        goto cleanup;
    }
    ready = iha_segments_wait_ready(s, o.wait_ms) == IHA_OK; /* before the status is read */
    emit(json_pack("{s:b,s:o}", "ready", ready, "status", iha_segments_status(s)));
    command_loop(s);
    status = 0;
cleanup:
    iha_segments_free(s);
    iha_token_source_free(ts);
    curl_global_cleanup();
    return status;
}
