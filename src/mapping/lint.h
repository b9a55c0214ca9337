/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file lint.h
 * @brief Lints for mapping rules: rules that are valid but dangerous or dead.
 *
 * Run by `check-config` after the rules loaded without errors, like `promtool check rules
 * --lint`. Each finding is a positioned diagnostic ending in "(lint: NAME)":
 *
 * - @c evacuation: a COMPUTE_HOST rule whose firing payload can be event STOPPED with
 *   host_status NORMAL (the only notification that makes Instance HA evacuate a host) but
 *   whose matchers do not pin both an alert identity (`alertname` or `notification_type`)
 *   and a severity (`severity`, `host_state` or `service_state`) with `=` or with a regex
 *   that is a plain alternation of names (no wildcard, not matching "").
 * - @c empty-hostname: a hostname extraction that yields "" for some plausible label values
 *   (missing labels, `host:port`, `:port`), found by trying them; Instance HA refuses an
 *   empty hostname, so those alerts would be dropped.
 * - @c never-matches: a rule whose matchers contradict each other (`x="a"` with `x="b"`,
 *   `x=""` with `x!=""`, `x="a"` with a regex on x that refuses "a").
 * - @c shadowed: a rule that can never run because an earlier rule without `continue`
 *   accepts the same sources and its matchers are a subset of this rule's (or it has none).
 *
 * The analysis is conservative: a warning names a real problem; no warning is no proof.
 */
#ifndef IHA_LINT_H
#define IHA_LINT_H

#include <stdbool.h>
#include <stddef.h>

#include "diag.h"
#include "mapping.h"

enum iha_lint_kind {
    IHA_LINT_EVACUATION = 1u << 0,
    IHA_LINT_EMPTY_HOSTNAME = 1u << 1,
    IHA_LINT_NEVER_MATCHES = 1u << 2,
    IHA_LINT_SHADOWED = 1u << 3,
};

/** Every lint. */
#define IHA_LINT_ALL 0xfu

/**
 * Parses a `--lint` value: "all", "none", or a comma-separated list of lint names
 * (evacuation, empty-hostname, never-matches, shadowed).
 * @param[out] mask the selected lints
 * @return 0, or -1 for an unknown name (@p mask untouched).
 */
int iha_lint_parse(const char *s, unsigned *mask);

/**
 * Runs the lints selected by @p mask over every rule of @p rs, adding one diagnostic per
 * finding to @p diag at the rule's (or matcher's) file:line:column: a warning, or an error
 * when @p fatal (then iha_diag_errors() counts them).
 * @return the number of findings. Only reads @p rs; no allocation failure is fatal (a
 *         finding that cannot be formatted is still counted).
 */
size_t iha_lint_ruleset(const struct iha_ruleset *rs, unsigned mask, bool fatal,
                        struct iha_diag *diag);

#endif
