/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file log.h
 * @brief One line per event, logfmt (default) or JSON, to stderr.
 *
 * Fields are passed as NULL-terminated pairs of strings, so values are always
 * quoted correctly and nothing is printed that the caller did not name. Never
 * pass a secret: tokens live in struct iha_secret, which has no string accessor
 * meant for logging.
 */
#ifndef IHA_LOG_H
#define IHA_LOG_H

#include <stdbool.h>

enum iha_log_level { IHA_LOG_DEBUG, IHA_LOG_INFO, IHA_LOG_WARN, IHA_LOG_ERROR };
enum iha_log_format { IHA_LOG_LOGFMT, IHA_LOG_JSON };

/** Process-wide log settings (the only global state besides signal flags). Thread-safe. */
void iha_log_setup(enum iha_log_level level, enum iha_log_format format);

/** @return 0 and sets @p out for "debug", "info", "warn", "error"; -1 otherwise. */
int iha_log_level_parse(const char *s, enum iha_log_level *out);

/** @return true when @p level would be written. */
bool iha_log_enabled(enum iha_log_level level);

/**
 * Writes one line: ts, level, msg, then the key/value pairs (strings; a NULL
 * value is skipped). The list ends with a NULL key. Thread-safe; a line is
 * written with one write(2).
 */
void iha_log_write(enum iha_log_level level, const char *msg, ...);

/** Tests the level before the arguments are evaluated. */
#define IHA_LOG(level, ...)                                                                        \
    do {                                                                                           \
        if (iha_log_enabled(level))                                                                \
            iha_log_write(level, __VA_ARGS__, (const char *)0);                                    \
    } while (0)

#endif
