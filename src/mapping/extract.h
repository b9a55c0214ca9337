/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file extract.h
 * @brief Field extraction in the style of Prometheus `relabel_configs` (action replace).
 *
 * The values of @c source_labels are joined with @c separator (default ";"),
 * matched against @c regex (default "(.*)", fully anchored), and @c replacement
 * (default "$1") is expanded with `$1`, `${1}`, `$name`, `${name}` and `$$`. A
 * source label may be an annotation, written `annotations.NAME`. An extraction may
 * instead be a literal: then it always yields its text.
 */
#ifndef IHA_EXTRACT_H
#define IHA_EXTRACT_H

#include <stddef.h>

#include "rc.h"
#include "alert.h"

struct iha_extract;

/** Parameters for iha_extract_new(); NULL means the default. */
struct iha_extract_spec {
    const char *const *source_labels; /**< at least one */
    size_t n_source_labels;
    const char *separator;   /**< default ";" */
    const char *regex;       /**< default "(.*)" */
    const char *replacement; /**< default "$1" */
};

/**
 * Compiles an extraction; the regex is compiled as regexp.h describes (anchored, and refused
 * when it uses a construct Alertmanager's RE2 does not support).
 * @return IHA_OK; IHA_E_PARSE with @p err (msg, col = the 1-based column in the regex or
 *         the replacement, field = "regex" or "replacement") when the regex is refused or
 *         does not compile, or the replacement refers to a group the regex does not have;
 *         IHA_E_INVAL when there is no source label; IHA_E_NOMEM.
 */
enum iha_rc iha_extract_new(const struct iha_extract_spec *spec, struct iha_extract **out,
                            struct iha_err *err) IHA_MUST_CHECK;

/** Creates an extraction that always yields @p text. */
enum iha_rc iha_extract_new_literal(const char *text, struct iha_extract **out) IHA_MUST_CHECK;

/** Frees @p x. NULL-safe. */
void iha_extract_free(struct iha_extract *x);

/**
 * Applies @p x to @p a, writing the result (NUL-terminated) into @p out.
 * @return IHA_OK; IHA_E_NOTFOUND when the regex does not match the joined value
 *         (relabel leaves the target unchanged: for us the extraction failed);
 *         IHA_E_LIMIT when the result does not fit in @p size. Thread-safe.
 */
enum iha_rc iha_extract_apply(const struct iha_extract *x, const struct iha_alert *a, char *out,
                              size_t size) IHA_MUST_CHECK;

/** Describes @p x for explain output: `literal "X"` or `[a;b] =~ "re" -> "$1"`. */
void iha_extract_describe(const struct iha_extract *x, char *out, size_t size);

/** @return true when @p x is a literal. */
int iha_extract_is_literal(const struct iha_extract *x);

#endif
