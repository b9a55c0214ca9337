/* SPDX-License-Identifier: Apache-2.0 */
/** @file diag.c @brief Positioned diagnostics list. */
#include "diag.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DIAG_MAX 1000

struct entry {
    enum iha_diag_level level;
    char *text;
};

struct iha_diag {
    struct entry *items;
    size_t n;
    size_t cap;
    size_t errors;
};

struct iha_diag *iha_diag_new(void)
{
    return calloc(1, sizeof(struct iha_diag));
}

void iha_diag_free(struct iha_diag *d)
{
    if (!d)
        return;
    for (size_t i = 0; i < d->n; i++)
        free(d->items[i].text);
    free(d->items);
    free(d);
}

static void add_text(struct iha_diag *d, enum iha_diag_level level, const char *file, unsigned line,
                     unsigned col, const char *msg)
{
    char buf[1024];
    const char *lv = level == IHA_DIAG_ERROR ? "error" : "warning";

    if (level == IHA_DIAG_ERROR)
        d->errors++;
    if (d->n >= DIAG_MAX)
        return;
    if (d->n == d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 8;
        struct entry *items = realloc(d->items, cap * sizeof(*items));
        if (!items)
            return;
        d->items = items;
        d->cap = cap;
    }
    if (file && *file && line)
        snprintf(buf, sizeof(buf), "%s:%u:%u: %s: %s", file, line, col, lv, msg);
    else if (file && *file)
        snprintf(buf, sizeof(buf), "%s: %s: %s", file, lv, msg);
    else
        snprintf(buf, sizeof(buf), "%s: %s", lv, msg);
    d->items[d->n].text = strdup(buf);
    if (!d->items[d->n].text)
        return;
    d->items[d->n].level = level;
    d->n++;
}

void iha_diag_add(struct iha_diag *d, enum iha_diag_level level, const char *file, unsigned line,
                  unsigned col, const char *fmt, ...)
{
    char msg[768];
    va_list ap;

    if (!d)
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    add_text(d, level, file, line, col, msg);
}

void iha_diag_add_err(struct iha_diag *d, const struct iha_err *err)
{
    if (!d || !err)
        return;
    add_text(d, IHA_DIAG_ERROR, err->file, err->line, err->col, err->msg);
}

size_t iha_diag_errors(const struct iha_diag *d)
{
    return d ? d->errors : 0;
}

size_t iha_diag_count(const struct iha_diag *d)
{
    return d ? d->n : 0;
}

const char *iha_diag_get(const struct iha_diag *d, size_t i)
{
    return (d && i < d->n) ? d->items[i].text : "";
}

enum iha_diag_level iha_diag_level_of(const struct iha_diag *d, size_t i)
{
    return (d && i < d->n) ? d->items[i].level : IHA_DIAG_ERROR;
}
