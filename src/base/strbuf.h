/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file strbuf.h
 * @brief Bounded, all-or-nothing writing of text into a caller's fixed-size buffer.
 *
 * For descriptions and explanations of a known maximum size (explain output, canonical
 * matcher text): each append either fits whole or is dropped, and once one append has
 * been dropped every later one is dropped too, so the text never ends in half an escape
 * sequence or in a fragment of a later piece. The buffer is always NUL-terminated.
 */
#ifndef IHA_STRBUF_H
#define IHA_STRBUF_H

#include <stdbool.h>
#include <stddef.h>

/**
 * A writer over a caller's buffer. Declare it on the stack and set it up with
 * iha_strbuf_init(); the fields are private to strbuf.c.
 */
struct iha_strbuf {
    char *p;     /**< the caller's buffer (borrowed) */
    size_t size; /**< its size in bytes, including the NUL */
    size_t len;  /**< bytes written so far, excluding the NUL */
    bool full;   /**< an append did not fit: all later appends are dropped */
};

/**
 * Starts writing into @p out and makes it the empty string.
 * @param[out] b the writer
 * @param[out] out the buffer (borrowed while @p b is used); NULL behaves as @p size 0
 * @param[in] size the size of @p out; with 0 nothing is ever written
 */
void iha_strbuf_init(struct iha_strbuf *b, char *out, size_t size);

/**
 * Appends all @p n bytes of @p s, or none of them when they do not fit with the NUL (then
 * @p b is full and the text so far stays unchanged).
 */
void iha_strbuf_put(struct iha_strbuf *b, const char *s, size_t n);

/** Appends the NUL-terminated @p s, all or nothing, as iha_strbuf_put(). */
void iha_strbuf_str(struct iha_strbuf *b, const char *s);

/**
 * Appends @p s double-quoted, escaping exactly `"`, `\`, newline and tab as `\"`, `\\`,
 * `\n`, `\t` (the escapes the matcher parser accepts, so the result reads back as @p s).
 * Each character or escape is appended all or nothing; when one does not fit, the text
 * ends there, without the closing quote.
 */
void iha_strbuf_quoted(struct iha_strbuf *b, const char *s);

/** @return true when an append was dropped, i.e. the text in the buffer is truncated. */
bool iha_strbuf_full(const struct iha_strbuf *b);

#endif
