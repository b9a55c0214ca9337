/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file main.c
 * @brief iha-notify: a Nagios-family notification command that delivers to iha-gateway or
 *        spools durably, and flushes the spool oldest first.
 */
#include <curl/curl.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "macros.h"
#include "spool.h"

extern char **environ;

#define TOKEN_MAX 4096
#define RESPONSE_MAX (64 * 1024)
#define CONNECT_TIMEOUT_MS 3000
/* Kept back from the deadline for writing the spool file after a failed POST. */
#define SPOOL_RESERVE_MS 1000
/* The share of the budget older records may use before the new one is tried. */
#define FLUSH_SHARE 2

struct sender {
    CURL *curl;
    const char *url;
    const char *token_file;
    struct curl_slist *headers; /* built once: the token is read once per run */
    bool token_error;
};

struct response {
    char buf[RESPONSE_MAX];
    size_t len;
};

static size_t on_body(char *data, size_t size, size_t nmemb, void *cls)
{
    struct response *r = cls;
    size_t n = size * nmemb;
    size_t room = sizeof(r->buf) - 1 - r->len;

    /* Only kept for the error message: the rest is read and dropped. */
    memcpy(r->buf + r->len, data, n < room ? n : room);
    r->len += n < room ? n : room;
    r->buf[r->len] = '\0';
    return n;
}

/* The first line of @p path that is neither empty nor a comment, trimmed. */
static bool read_token(const char *path, char *out, size_t size)
{
    FILE *f = fopen(path, "r");
    char line[TOKEN_MAX + 2];
    bool found = false;

    if (!f)
        return false;
    while (!found && fgets(line, sizeof(line), f)) {
        char *p = line, *end;
        while (*p == ' ' || *p == '\t')
            p++;
        end = p + strlen(p);
        while (end > p && (end[-1] == '\n' || end[-1] == '\r' || end[-1] == ' ' || end[-1] == '\t'))
            *--end = '\0';
        if (!*p || *p == '#')
            continue;
        if ((size_t)(end - p) + 1 > size)
            break;
        memcpy(out, p, (size_t)(end - p) + 1);
        found = true;
    }
    fclose(f);
    return found;
}

static enum iha_rc sender_init(struct sender *s, const struct iha_notify_cmd *cmd)
{
    char token[TOKEN_MAX + 1];
    char header[TOKEN_MAX + 32];
    struct curl_slist *h;
    int n;

    memset(s, 0, sizeof(*s));
    s->url = cmd->url;
    s->token_file = cmd->token_file;
    s->curl = curl_easy_init();
    if (!s->curl)
        return IHA_E_NOMEM;
    s->headers = curl_slist_append(NULL, "Content-Type: application/json");
    if (!s->headers)
        return IHA_E_NOMEM;
    h = curl_slist_append(s->headers, "Expect:");
    if (!h)
        return IHA_E_NOMEM;
    if (cmd->token_file) {
        if (!read_token(cmd->token_file, token, sizeof(token))) {
            fprintf(stderr, "iha-notify: cannot read a token from %s: %s\n", cmd->token_file,
                    errno ? strerror(errno) : "no token line");
            s->token_error = true;
            return IHA_OK;
        }
        n = snprintf(header, sizeof(header), "Authorization: Bearer %s", token);
        if (n < 0 || (size_t)n >= sizeof(header))
            return IHA_E_LIMIT;
        h = curl_slist_append(s->headers, header);
        memset(token, 0, sizeof(token));
        memset(header, 0, sizeof(header));
        if (!h)
            return IHA_E_NOMEM;
    }
    return IHA_OK;
}

static void sender_clear(struct sender *s)
{
    curl_slist_free_all(s->headers);
    if (s->curl)
        curl_easy_cleanup(s->curl);
}

/* One POST, bounded by @p deadline_ms; classified for the spool. */
static enum iha_spool_verdict send_record(void *cls, const json_t *record, long long deadline_ms)
{
    struct sender *s = cls;
    long long left = deadline_ms - iha_spool_now_ms();
    struct response *resp = NULL;
    char *body = NULL;
    long code = 0;
    CURLcode cc;
    enum iha_spool_verdict v = IHA_SPOOL_RETRY;
    const char *rid = json_string_value(json_object_get(record, "record_id"));

    if (s->token_error || left <= 0)
        return IHA_SPOOL_RETRY;
    body = json_dumps(record, JSON_COMPACT);
    resp = calloc(1, sizeof(*resp));
    if (!body || !resp)
        goto cleanup;
    curl_easy_reset(s->curl);
    curl_easy_setopt(s->curl, CURLOPT_URL, s->url);
    curl_easy_setopt(s->curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(s->curl, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(s->curl, CURLOPT_HTTPHEADER, s->headers);
    curl_easy_setopt(s->curl, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(s->curl, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    curl_easy_setopt(s->curl, CURLOPT_TIMEOUT_MS, (long)left);
    curl_easy_setopt(s->curl, CURLOPT_CONNECTTIMEOUT_MS,
                     (long)(left < CONNECT_TIMEOUT_MS ? left : CONNECT_TIMEOUT_MS));
    curl_easy_setopt(s->curl, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(s->curl, CURLOPT_WRITEDATA, resp);
    cc = curl_easy_perform(s->curl);
    if (cc == CURLE_OK)
        curl_easy_getinfo(s->curl, CURLINFO_RESPONSE_CODE, &code);
    v = iha_spool_classify(cc == CURLE_OK ? code : 0);
    if (cc != CURLE_OK)
        fprintf(stderr, "iha-notify: record %s: %s: %s\n", rid ? rid : "?", s->url,
                curl_easy_strerror(cc));
    else if (v != IHA_SPOOL_DELIVERED)
        fprintf(stderr, "iha-notify: record %s: %s answered %ld: %.512s\n", rid ? rid : "?", s->url,
                code, resp->buf);
cleanup:
    free(resp);
    free(body);
    return v;
}

/* Flushes what is spooled in @p dir if the lock comes within @p lock_wait_ms. */
static void flush(struct iha_spool *sp, const char *dir, struct sender *s, unsigned lock_wait_ms,
                  long long deadline_ms, struct iha_spool_stats *st)
{
    struct iha_err err = {0};
    enum iha_rc rc;

    memset(st, 0, sizeof(*st));
    rc = iha_spool_lock(sp, lock_wait_ms);
    if (rc == IHA_E_LIMIT) {
        /* Someone else is flushing: they deliver the old records. */
        return;
    }
    if (rc != IHA_OK) {
        fprintf(stderr,
                "iha-notify: cannot open or lock %s/.lock (it must be a regular file, not a "
                "symlink): nothing spooled is delivered\n",
                dir);
        return;
    }
    rc = iha_spool_flush(sp, send_record, s, deadline_ms, st, &err);
    iha_spool_unlock(sp);
    if (rc != IHA_OK)
        fprintf(stderr, "iha-notify: flush: %s\n", err.msg);
    if (st->delivered || st->rejected || st->corrupt || st->left)
        fprintf(stderr, "iha-notify: flush: %zu delivered, %zu rejected, %zu corrupt, %zu left\n",
                st->delivered, st->rejected, st->corrupt, st->left);
}

static int run_flush(const struct iha_notify_cmd *cmd, struct sender *s)
{
    long long deadline = iha_spool_now_ms() + cmd->timeout_ms;
    struct iha_spool *sp = NULL;
    struct iha_spool_stats st;
    struct iha_err err = {0};
    int status = IHA_NOTIFY_EXIT_TEMPORARY;

    if (iha_spool_open(cmd->spool_dir, &sp, &err) != IHA_OK) {
        fprintf(stderr, "iha-notify: %s\n", err.msg);
        return IHA_NOTIFY_EXIT_TEMPORARY;
    }
    flush(sp, cmd->spool_dir, s, cmd->timeout_ms, deadline, &st);
    if (iha_spool_count(sp) == 0)
        status = IHA_NOTIFY_EXIT_OK;
    iha_spool_close(sp);
    return status;
}

static int run_send(const struct iha_notify_cmd *cmd, struct sender *s)
{
    long long t0 = iha_spool_now_ms();
    long long deadline = t0 + cmd->timeout_ms;
    long long post_deadline = deadline - SPOOL_RESERVE_MS;
    struct iha_spool *sp = NULL;
    struct iha_spool_stats st = {0};
    struct iha_err err = {0};
    enum iha_spool_verdict v = IHA_SPOOL_RETRY;
    bool spooled = false;
    const char *rid = json_string_value(json_object_get(cmd->record, "record_id"));

    if (post_deadline < t0 + (long long)cmd->timeout_ms / 2)
        post_deadline = t0 + (long long)cmd->timeout_ms / 2;
    if (iha_spool_open(cmd->spool_dir, &sp, &err) != IHA_OK)
        fprintf(stderr, "iha-notify: %s (delivering without a spool)\n", err.msg);
    /* Older records first, within part of the budget, so the new one keeps its chance. */
    if (sp)
        flush(sp, cmd->spool_dir, s, cmd->timeout_ms / 10,
              t0 + (long long)cmd->timeout_ms / FLUSH_SHARE, &st);
    /* When the gateway just failed for an older record, go straight to the spool. */
    if (!(st.stopped && st.left > 0))
        v = send_record(s, cmd->record, post_deadline);
    if (v == IHA_SPOOL_RETRY && sp) {
        if (iha_spool_write(sp, cmd->record, &err) == IHA_OK) {
            spooled = true;
            fprintf(stderr, "iha-notify: record %s spooled in %s\n", rid ? rid : "?",
                    cmd->spool_dir);
        } else {
            fprintf(stderr, "iha-notify: record %s NOT spooled: %s\n", rid ? rid : "?", err.msg);
        }
    }
    iha_spool_close(sp);
    return (int)iha_notify_exit_code(v, spooled);
}

int main(int argc, char **argv)
{
    struct iha_notify_cmd cmd;
    struct iha_err err = {0};
    struct sender s;
    int status;
    enum iha_rc rc;

    signal(SIGPIPE, SIG_IGN);
    rc = iha_notify_parse(argc, argv, environ, time(NULL), &cmd, &err);
    if (rc != IHA_OK) {
        fprintf(stderr, "iha-notify: %s\n", err.msg[0] ? err.msg : iha_rc_str(rc));
        return IHA_NOTIFY_EXIT_PERMANENT;
    }
    if (cmd.mode == IHA_NOTIFY_HELP) {
        fputs(iha_notify_usage(), stdout);
        return 0;
    }
    if (cmd.mode == IHA_NOTIFY_VERSION) {
        printf("iha-notify %s\n", IHA_VERSION);
        return 0;
    }
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        iha_notify_cmd_clear(&cmd);
        return IHA_NOTIFY_EXIT_TEMPORARY;
    }
    rc = sender_init(&s, &cmd);
    if (rc != IHA_OK) {
        fprintf(stderr, "iha-notify: %s\n", iha_rc_str(rc));
        status = IHA_NOTIFY_EXIT_TEMPORARY;
    } else if (cmd.mode == IHA_NOTIFY_FLUSH) {
        status = run_flush(&cmd, &s);
    } else {
        status = run_send(&cmd, &s);
    }
    sender_clear(&s);
    iha_notify_cmd_clear(&cmd);
    curl_global_cleanup();
    return status;
}
