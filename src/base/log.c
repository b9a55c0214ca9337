/* SPDX-License-Identifier: Apache-2.0 */
/** @file log.c @brief logfmt / JSON line logger. */
#include "log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static _Atomic int log_level = IHA_LOG_INFO;
static _Atomic int log_format = IHA_LOG_LOGFMT;

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

/* Room kept free at the end so a cut line still closes its string and object. */
#define LINE_TAIL 8

struct line {
    char buf[4096];
    size_t len;
    bool full; /* a value was cut: no further field is written */
};

static void put(struct line *l, const char *s, size_t n)
{
    size_t limit = sizeof(l->buf) - LINE_TAIL;
    size_t room = l->len < limit ? limit - l->len : 0;

    /* All or nothing, so an escape sequence or a character is never cut in half. */
    if (l->full || n > room) {
        l->full = true;
        return;
    }
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
            char pair[2] = {'\\', *p};
            put(l, pair, 2);
        } else if (*p == '\n') {
            put(l, "\\n", 2);
        } else if ((unsigned char)*p < 0x20) {
            put(l, "?", 1);
        } else {
            put(l, p, 1);
        }
    }
    /* Like the JSON string: the closing quote always fits in the kept tail. */
    l->buf[l->len++] = '"';
}

/* @return the length of the valid UTF-8 sequence at @p p, or 0 when it is not one. */
static size_t utf8_len(const unsigned char *p)
{
    size_t n;

    if (p[0] < 0x80)
        return 1;
    if (p[0] >= 0xC2 && p[0] <= 0xDF)
        n = 2;
    else if (p[0] >= 0xE0 && p[0] <= 0xEF)
        n = 3;
    else if (p[0] >= 0xF0 && p[0] <= 0xF4)
        n = 4;
    else
        return 0;
    for (size_t i = 1; i < n; i++)
        if ((p[i] & 0xC0) != 0x80)
            return 0;
    return n;
}

/* Sender bytes reach logs (URLs, labels): JSON lines must stay valid JSON. */
static void put_json_string(struct line *l, const char *v)
{
    char esc[8];
    const unsigned char *p = (const unsigned char *)v;

    put(l, "\"", 1);
    while (*p && !l->full) {
        size_t n = utf8_len(p);
        if (*p == '"' || *p == '\\') {
            char pair[2] = {'\\', (char)*p};
            put(l, pair, 2);
        } else if (*p < 0x20) {
            snprintf(esc, sizeof(esc), "\\u%04x", *p);
            put_str(l, esc);
        } else if (n == 0) {
            put_str(l, "\\ufffd");
            n = 1;
        } else {
            put(l, (const char *)p, n);
        }
        p += n ? n : 1;
    }
    /* The closing quote always fits: put() keeps LINE_TAIL bytes free. */
    l->buf[l->len++] = '"';
}

static void put_field(struct line *l, bool json, bool first, const char *k, const char *v)
{
    /* A field starts only when its key and the quotes around its value surely fit. */
    if (l->full || l->len + strlen(k) + 8 > sizeof(l->buf) - LINE_TAIL) {
        l->full = true;
        return;
    }
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
        l.buf[l.len++] = '}';
    l.buf[l.len++] = '\n';
    w = write(STDERR_FILENO, l.buf, l.len);
    (void)w;
}
