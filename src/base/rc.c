/* SPDX-License-Identifier: Apache-2.0 */
/** @file rc.c @brief Return code names and error detail helpers. */
#include "rc.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const char *iha_rc_str(enum iha_rc rc)
{
    switch (rc) {
    case IHA_OK:
        return "ok";
    case IHA_E_NOMEM:
        return "out of memory";
    case IHA_E_INVAL:
        return "invalid input";
    case IHA_E_PARSE:
        return "parse error";
    case IHA_E_LIMIT:
        return "limit reached";
    case IHA_E_IO:
        return "I/O error";
    case IHA_E_AUTH:
        return "authentication failed";
    case IHA_E_UPSTREAM:
        return "Instance HA API error";
    case IHA_E_CONFIG:
        return "configuration error";
    case IHA_E_NOTFOUND:
        return "not found";
    }
    return "unknown error";
}

void iha_err_clear(struct iha_err *err)
{
    if (err)
        memset(err, 0, sizeof(*err));
}

void iha_err_set(struct iha_err *err, const char *field, const char *fmt, ...)
{
    va_list ap;

    if (!err)
        return;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
    va_end(ap);
    snprintf(err->field, sizeof(err->field), "%s", field ? field : "");
}

void iha_err_set_at(struct iha_err *err, const char *file, unsigned line, unsigned col,
                    const char *fmt, ...)
{
    va_list ap;

    if (!err)
        return;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
    va_end(ap);
    snprintf(err->file, sizeof(err->file), "%s", file ? file : "");
    err->line = line;
    err->col = col;
}
