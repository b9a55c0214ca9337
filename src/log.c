/* SPDX-License-Identifier: Apache-2.0 */
/** @file log.c @brief logfmt / JSON line logger. */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static volatile int log_level = IHA_LOG_INFO;
static volatile int log_format = IHA_LOG_LOGFMT;

void iha_log_setup(enum iha_log_level level, enum iha_log_format format)
{
    log_level = (int)level;
    log_format = (int)format;
}

int iha_log_level_parse(const char *s, enum iha_log_level *out)
{
    static const char *const names[] = {"debug", "info", "warn", "error"};

    for (int i = 0; i < 4; i++) {
        if (strcmp(s, names[i]) == 0) {
            *out = (enum iha_log_level)i;
            return 0;
        }
    }
    return -1;
}

bool iha_log_enabled(enum iha_log_level level)
{
    return (int)level >= log_level;
}

struct line {
    char buf[4096];
    size_t len;
};

static void put(struct line *l, const char *s, size_t n)
{
    size_t room = sizeof(l->buf) - 1 - l->len;

    if (n > room)
        n = room;
    memcpy(l->buf + l->len, s, n);
    l->len += n;
}

static void put_str(struct line *l, const char *s)
{
    put(l, s, strlen(s));
}

/* logfmt quotes a value when it holds a space, '=', a quote or a control character. */
static void put_logfmt_value(struct line *l, const char *v)
{
    bool quote = *v == '\0';

    for (const char *p = v; *p; p++)
        if (*p == ' ' || *p == '=' || *p == '"' || (unsigned char)*p < 0x20)
            quote = true;
    if (!quote) {
        put_str(l, v);
        return;
    }
    put(l, "\"", 1);
    for (const char *p = v; *p; p++) {
        if (*p == '"' || *p == '\\') {
            put(l, "\\", 1);
            put(l, p, 1);
        } else if (*p == '\n') {
            put(l, "\\n", 2);
        } else if ((unsigned char)*p < 0x20) {
            put(l, "?", 1);
        } else {
            put(l, p, 1);
        }
    }
    put(l, "\"", 1);
}

static void put_json_string(struct line *l, const char *v)
{
    char esc[8];

    put(l, "\"", 1);
    for (const char *p = v; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (c == '"' || c == '\\') {
            put(l, "\\", 1);
            put(l, p, 1);
        } else if (c < 0x20) {
            snprintf(esc, sizeof(esc), "\\u%04x", c);
            put_str(l, esc);
        } else {
            put(l, p, 1);
        }
    }
    put(l, "\"", 1);
}

static void put_field(struct line *l, bool json, bool first, const char *k, const char *v)
{
    if (json) {
        if (!first)
            put(l, ",", 1);
        put_json_string(l, k);
        put(l, ":", 1);
        put_json_string(l, v);
    } else {
        if (!first)
            put(l, " ", 1);
        put_str(l, k);
        put(l, "=", 1);
        put_logfmt_value(l, v);
    }
}

void iha_log_write(enum iha_log_level level, const char *msg, ...)
{
    static const char *const names[] = {"debug", "info", "warn", "error"};
    struct line l = {.len = 0};
    bool json = log_format == IHA_LOG_JSON;
    char ts[40];
    struct timespec now;
    struct tm tm;
    va_list ap;
    ssize_t w;

    clock_gettime(CLOCK_REALTIME, &now);
    gmtime_r(&now.tv_sec, &tm);
    {
        char secs[24];
        if (strftime(secs, sizeof(secs), "%Y-%m-%dT%H:%M:%S", &tm) == 0)
            secs[0] = '\0';
        snprintf(ts, sizeof(ts), "%s.%03dZ", secs, (int)(now.tv_nsec / 1000000) % 1000);
    }
    if (json)
        put(&l, "{", 1);
    put_field(&l, json, true, "ts", ts);
    put_field(&l, json, false, "level", names[level]);
    put_field(&l, json, false, "msg", msg);
    va_start(ap, msg);
    for (;;) {
        const char *k = va_arg(ap, const char *);
        const char *v;
        if (!k)
            break;
        v = va_arg(ap, const char *);
        if (v)
            put_field(&l, json, false, k, v);
    }
    va_end(ap);
    if (json)
        put(&l, "}", 1);
    l.buf[l.len++] = '\n';
    w = write(STDERR_FILENO, l.buf, l.len);
    (void)w;
}
