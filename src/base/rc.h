/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file rc.h
 * @brief The project-wide return code and the caller-provided error detail.
 */
#ifndef IHA_RC_H
#define IHA_RC_H

#include <stddef.h>

#define IHA_MUST_CHECK __attribute__((warn_unused_result))
#define IHA_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))

/**
 * Discards the result of a checked call on purpose. @p why is a string literal saying
 * why nothing is lost, for the reader; it does not compile with anything else. The one
 * visible way to drop an IHA_MUST_CHECK result (a cast to void does not silence GCC).
 */
#define IHA_IGNORE(call, why)                                                                      \
    do {                                                                                           \
        __typeof__(call) iha_ignored_ = (call);                                                    \
        (void)iha_ignored_;                                                                        \
        (void)sizeof("" why);                                                                      \
    } while (0)

/** Every function that can fail returns one of these. Append only. */
enum iha_rc {
    IHA_OK = 0,
    IHA_E_NOMEM,    /**< allocation failed */
    IHA_E_INVAL,    /**< the input is well-formed but not acceptable */
    IHA_E_PARSE,    /**< the input cannot be parsed */
    IHA_E_LIMIT,    /**< a fixed maximum was reached */
    IHA_E_IO,       /**< a system call failed */
    IHA_E_AUTH,     /**< credentials missing or wrong */
    IHA_E_UPSTREAM, /**< the Instance HA API failed */
    IHA_E_CONFIG,   /**< the configuration is invalid */
    IHA_E_NOTFOUND, /**< the thing looked for does not exist (often not an error) */
};

/** @return a static, human-readable name for @p rc. */
const char *iha_rc_str(enum iha_rc rc);

/**
 * Detail about a failure, filled by the callee. It never allocates, so it can be
 * used on the out-of-memory path. @c field names the input field at fault (a JSON
 * path such as "alerts[1].labels" or a YAML key), @c file / @c line / @c col the
 * place in a file when there is one (line and col are 1-based, 0 when unknown).
 */
struct iha_err {
    char msg[512];
    char field[128];
    char file[256];
    unsigned line;
    unsigned col;
};

/** Clears @p err. NULL-safe. */
void iha_err_clear(struct iha_err *err);

/**
 * Sets the message (printf-style) and the field of @p err; a NULL @p err is
 * ignored so callers that do not care may pass NULL. @p field may be NULL.
 */
void iha_err_set(struct iha_err *err, const char *field, const char *fmt, ...) IHA_PRINTF(3, 4);

/** Like iha_err_set(), with a file position. */
void iha_err_set_at(struct iha_err *err, const char *file, unsigned line, unsigned col,
                    const char *fmt, ...) IHA_PRINTF(5, 6);

#endif
