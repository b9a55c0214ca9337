/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file buf.h
 * @brief A growable heap buffer of bytes with an optional cap: bodies being received,
 *        pages and expositions being rendered, queue records being batched.
 *
 * It grows geometrically and keeps a NUL after the bytes, so text can be read as a string.
 * Each append either fits whole or is refused (over the cap, or out of memory); a refused
 * append leaves the bytes so far unchanged and is remembered (iha_buf_failed()).
 */
#ifndef IHA_BUF_H
#define IHA_BUF_H

#include <stdbool.h>
#include <stddef.h>

#include "rc.h"

/**
 * A buffer. A zeroed one is ready: no cap, first allocation 4 KiB. Read @c p and @c len
 * directly; change it only through the functions below.
 */
struct iha_buf {
    char *p;      /**< the bytes, NUL-terminated; NULL until the first allocation */
    size_t len;   /**< bytes held, excluding the NUL */
    size_t cap;   /**< bytes allocated */
    size_t first; /**< size of the first allocation; 0 for 4 KiB */
    size_t max;   /**< most bytes it may hold; 0 for no cap */
    bool over;    /**< an append was refused because it would pass @c max */
    bool failed;  /**< an append was refused (over the cap or out of memory) */
};

/** Makes @p b empty, with its first allocation of @p first bytes and a cap of @p max (0: none). */
void iha_buf_init(struct iha_buf *b, size_t first, size_t max);

/**
 * Makes room for @p n more bytes (and the NUL).
 * @return where they go (write them, then iha_buf_wrote()), or NULL when refused.
 */
char *iha_buf_room(struct iha_buf *b, size_t n) IHA_MUST_CHECK;

/** Counts @p n bytes written at iha_buf_room() as held. */
void iha_buf_wrote(struct iha_buf *b, size_t n);

/** Appends all @p n bytes of @p s, or none of them. @return false when refused (never for 0). */
bool iha_buf_put(struct iha_buf *b, const void *s, size_t n);

/** Appends the NUL-terminated @p s, as iha_buf_put(). */
bool iha_buf_str(struct iha_buf *b, const char *s);

/** @return true when an append was refused since iha_buf_init() (or the zeroing). */
bool iha_buf_failed(const struct iha_buf *b);

/**
 * Hands the bytes over as a NUL-terminated string (an empty one when nothing was appended)
 * and makes @p b empty. @return NULL when an append was refused or memory ran out; the
 * bytes are freed then.
 */
char *iha_buf_steal(struct iha_buf *b) IHA_MUST_CHECK;

/** Frees the bytes and makes @p b empty (its first size and cap are kept). */
void iha_buf_free(struct iha_buf *b);

#endif
