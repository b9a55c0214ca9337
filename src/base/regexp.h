/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file regexp.h
 * @brief Regexes as Alertmanager and Prometheus use them: fully anchored, RE2-portable, PCRE2 +
 * JIT.
 *
 * A pattern is compiled once (at rule load) and matched from any thread. It is anchored at
 * both ends, with the semantics of Alertmanager's `^(?:re)$` but without pasting text around
 * the pattern, so error offsets point into the pattern itself. `$` means the end of the text
 * only, as in Go. A subject with broken UTF-8 simply does not match. Constructs PCRE2 accepts
 * but Go's RE2 does not (backreferences, lookaround, \K, backtracking verbs, atomic groups,
 * recursion, conditionals, possessive quantifiers, flags other than i, m, s, U) are refused,
 * so a pattern that works here also works in an Alertmanager route. Every match is bounded by
 * a match limit so that one unlucky pattern cannot stall ingest.
 */
#ifndef IHA_REGEXP_H
#define IHA_REGEXP_H

#include <stddef.h>
#include <stdint.h>

#include "rc.h"

/** A compiled pattern with its match limits. Immutable after compilation. */
struct iha_regex;

/** A match-data block: the capture offsets of the last match run with it. */
struct iha_regex_md;

/** Offset value of a group that did not take part in the match. */
#define IHA_REGEX_UNSET SIZE_MAX

/**
 * Compiles @p len bytes of @p pattern (which need not be NUL-terminated), anchored, and
 * JIT-compiles it when the CPU allows (otherwise matching interprets).
 * @param[in] pattern the pattern text
 * @param[in] len its length in bytes
 * @param[out] out the compiled pattern, owned by the caller (free with iha_regex_free());
 *             NULL on error
 * @param[out] err on IHA_E_PARSE: @c msg says what is wrong and @c col is the 1-based column
 *             (in UTF-8 characters) in @p pattern; @c field is left alone. May be NULL.
 * @param[out] at on IHA_E_PARSE: the byte offset in @p pattern of the problem (at most @p len),
 *             for callers that map it to a position in some enclosing text. May be NULL.
 * @return IHA_OK; IHA_E_PARSE for a construct RE2 does not support or a pattern PCRE2 refuses;
 *         IHA_E_NOMEM; IHA_E_INVAL when @p pattern or @p out is NULL.
 * Thread-safe.
 */
enum iha_rc iha_regex_compile(const char *pattern, size_t len, struct iha_regex **out,
                              struct iha_err *err, size_t *at) IHA_MUST_CHECK;

/** Frees @p re. NULL-safe. */
void iha_regex_free(struct iha_regex *re);

/** @return the number of capturing groups of @p re (group 0, the whole match, not counted). */
uint32_t iha_regex_groups(const struct iha_regex *re);

/**
 * @return the number of the group named @p name in @p re (`(?P<name>…)` or `(?<name>…)`),
 *         or -1 when @p re has no such group.
 */
int iha_regex_group_number(const struct iha_regex *re, const char *name);

/**
 * Takes the calling thread's match-data block, grown to hold at least @p pairs offset pairs
 * (one for the whole match plus one per group wanted). Matching runs for every alert against
 * every rule, so each thread keeps one block instead of allocating one per match; the block is
 * freed when the thread exits. At most one block per thread may be in use at a time: release
 * it before the next acquire on the same thread.
 * @return the block (give it back with iha_regex_md_release()), or NULL when out of memory.
 */
struct iha_regex_md *iha_regex_md_acquire(uint32_t pairs);

/** Gives back a block from iha_regex_md_acquire() (freeing it unless the thread keeps it).
 * NULL-safe. */
void iha_regex_md_release(struct iha_regex_md *md);

/**
 * @return the offsets of the last match run with @p md (borrowed, valid until @p md is
 *         released or used again): start and end of pair i at [2i] and [2i+1], with
 *         IHA_REGEX_UNSET for a group that did not take part; only the first @c set pairs
 *         reported by iha_regex_match() are meaningful.
 */
const size_t *iha_regex_md_ovector(const struct iha_regex_md *md);

/**
 * Matches @p re against the @p len bytes of @p subject, recording offsets in @p md.
 * @param[out] set the number of leading offset pairs that were set (at least 1 on a match;
 *             0 when @p md has fewer pairs than needed for every group). May be NULL.
 * @return IHA_OK on a match; IHA_E_NOTFOUND when there is none; IHA_E_LIMIT when the match
 *         limit (or PCRE2's depth, heap or JIT stack limit) stopped it undecided; IHA_E_INVAL
 *         on any other matching error. Thread-safe for concurrent callers with their own @p md.
 */
enum iha_rc iha_regex_match(const struct iha_regex *re, const char *subject, size_t len,
                            struct iha_regex_md *md, uint32_t *set) IHA_MUST_CHECK;

/**
 * Matches @p re against @p len bytes of @p subject using the thread's match data, when only
 * whether it matches is of interest.
 * @return as iha_regex_match(), plus IHA_E_NOMEM when no match data could be had.
 */
enum iha_rc iha_regex_test(const struct iha_regex *re, const char *subject,
                           size_t len) IHA_MUST_CHECK;

/**
 * @return the 1-based column of byte offset @p off in the UTF-8 text @p s, counting
 *         characters as editors and libyaml marks do (for ASCII, @p off + 1). Counting stops
 *         at a NUL before @p off.
 */
unsigned iha_regex_column_of(const char *s, size_t off);

#endif
