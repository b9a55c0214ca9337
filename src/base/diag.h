/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file diag.h
 * @brief A list of positioned diagnostics (errors and warnings) for config and rule files.
 *
 * Loaders report every problem they find instead of stopping at the first, so
 * that `check-config` can show them all. Each entry renders as
 * "FILE:LINE:COL: error: MESSAGE".
 */
#ifndef IHA_DIAG_H
#define IHA_DIAG_H

#include <stdbool.h>
#include <stddef.h>

#include "rc.h"

struct iha_diag;

enum iha_diag_level { IHA_DIAG_ERROR, IHA_DIAG_WARNING };

/** @return a new, empty list, or NULL when out of memory. Free with iha_diag_free(). */
struct iha_diag *iha_diag_new(void);

/** Frees @p d. NULL-safe. */
void iha_diag_free(struct iha_diag *d);

/**
 * Appends an entry. @p file may be NULL; @p line / @p col are 1-based, 0 when unknown.
 * Entries past a fixed maximum (1000) are counted but not stored.
 * Out of memory drops the entry but still counts it, so iha_diag_errors() stays right.
 */
void iha_diag_add(struct iha_diag *d, enum iha_diag_level level, const char *file, unsigned line,
                  unsigned col, const char *fmt, ...) IHA_PRINTF(6, 7);

/** Appends @p err (which carries its own position) as an error. */
void iha_diag_add_err(struct iha_diag *d, const struct iha_err *err);

/** @return the number of errors reported so far (warnings not included). */
size_t iha_diag_errors(const struct iha_diag *d);

/** @return the number of stored entries. */
size_t iha_diag_count(const struct iha_diag *d);

/** @return entry @p i rendered as "FILE:LINE:COL: error: MESSAGE" (borrowed, valid until free). */
const char *iha_diag_get(const struct iha_diag *d, size_t i);

/** @return the level of entry @p i. */
enum iha_diag_level iha_diag_level_of(const struct iha_diag *d, size_t i);

#endif
