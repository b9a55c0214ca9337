/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file matcher.h
 * @brief Label matchers in Alertmanager syntax: `name="v"`, `name!="v"`, `name=~"re"`,
 * `name!~"re"`.
 *
 * A set of matchers is a conjunction. Regexes are fully anchored (compiled as
 * `^(?:re)$`) with PCRE2 and JIT-compiled once when added. A missing label
 * equals the empty string. Values are unquoted literals or double-quoted strings
 * with backslash escapes (\" \\ \n \t). One string may also hold a whole list,
 * `{a="1", b=~"2|3"}` (braces optional, a trailing comma allowed).
 */
#ifndef IHA_MATCHER_H
#define IHA_MATCHER_H

#include <stdbool.h>
#include <stddef.h>

#include "rc.h"
#include "alert.h"

struct iha_matchers;

/** @return a new empty set (matches everything), or NULL when out of memory. */
struct iha_matchers *iha_matchers_new(void);

/** Frees @p m. NULL-safe. */
void iha_matchers_free(struct iha_matchers *m);

/**
 * Parses @p text (one matcher or a braced list) and adds the result to @p m.
 * @return IHA_OK; IHA_E_PARSE with @p err->msg saying what was expected and
 *         @p err->col the 1-based column in @p text where the problem is (also for
 *         a regex that is refused, see regexp.h); IHA_E_NOMEM; IHA_E_LIMIT past 64
 *         matchers per set.
 */
enum iha_rc iha_matchers_add(struct iha_matchers *m, const char *text,
                             struct iha_err *err) IHA_MUST_CHECK;

/** @return true when every matcher of @p m matches @p a. Thread-safe for concurrent readers. */
bool iha_matchers_match(const struct iha_matchers *m, const struct iha_alert *a);

/** @return the number of matchers in @p m. */
size_t iha_matchers_count(const struct iha_matchers *m);

/**
 * Explains the first matcher of @p m that does not match @p a, e.g.
 * `severity="critical" (got "warning")`, into @p out. @return false when all match.
 */
bool iha_matchers_explain(const struct iha_matchers *m, const struct iha_alert *a, char *out,
                          size_t size);

/** Writes matcher @p i in canonical form (`name=~"re"`) into @p out. */
void iha_matchers_format(const struct iha_matchers *m, size_t i, char *out, size_t size);

/** Matcher operators as read back by iha_matchers_get(). */
enum iha_matcher_op { IHA_MATCHER_EQ, IHA_MATCHER_NE, IHA_MATCHER_RE, IHA_MATCHER_NRE };

/**
 * Reads matcher @p i of @p m for analysis (lint, rule index).
 * @param[out] name the label name (borrowed, valid while @p m lives); may be NULL
 * @param[out] op the operator; may be NULL
 * @param[out] value the literal, or the regex source for IHA_MATCHER_RE / _NRE (borrowed); may
 *             be NULL
 * @return false when @p m is NULL or @p i is out of range (outputs untouched).
 */
bool iha_matchers_get(const struct iha_matchers *m, size_t i, const char **name,
                      enum iha_matcher_op *op, const char **value);

/**
 * @return true when matcher @p i of @p m accepts a label whose value is @p value (pass "" for a
 *         missing label), evaluated exactly as iha_matchers_match() does; false when it does
 *         not, when the regex could not be evaluated, or when @p i is out of range.
 *         Thread-safe for concurrent readers.
 */
bool iha_matchers_accepts(const struct iha_matchers *m, size_t i, const char *value);

#endif
