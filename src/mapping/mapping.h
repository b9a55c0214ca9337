/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file mapping.h
 * @brief Mapping rules: which alert becomes which Instance HA notification.
 *
 * A rule file is YAML:
 *
 *     rules:
 *       - name: node-down                 # required, unique across all files
 *         sources: [alertmanager]         # optional: alertmanager, nagios, native (default: all)
 *         matchers:                       # Alertmanager syntax, a list means AND
 *           - alertname =~ "NodeDown|HostDown"
 *           - severity = "critical"
 *         type: COMPUTE_HOST              # COMPUTE_HOST | VM | PROCESS (or
 * COMPUTE_INSTANCE/COMPUTE_PROCESS) hostname:                       # relabel-style extraction, or
 * a literal string source_labels: [instance] regex: '([^:]+)(?::\d+)?' replacement: '$1' firing: #
 * what a firing alert sends; omit or null = nothing payload: event: STOPPED host_status: NORMAL
 *             cluster_status: OFFLINE
 *         resolved: null                  # default: nothing (Instance HA has no "resolve")
 *         continue: false                 # default false: first match wins
 *
 * A payload value is a literal string or an extraction mapping like @c hostname.
 * Rules are evaluated in load order (files in the order given, rules in file order).
 */
#ifndef IHA_MAPPING_H
#define IHA_MAPPING_H

#include <stdbool.h>
#include <stddef.h>

#include "diag.h"
#include "notification.h"
#include "rc.h"
#include "alert.h"

#define IHA_MAPPING_MAX_RULES 10000

struct iha_ruleset;

/** @return a new empty rule set or NULL. */
struct iha_ruleset *iha_ruleset_new(void);

/** Frees @p rs. NULL-safe. */
void iha_ruleset_free(struct iha_ruleset *rs);

/**
 * Loads the rules of one file's text into @p rs (appending). Every problem is added to
 * @p diag with file:line:column: unknown keys (with "did you mean"), wrong node kinds,
 * bad matchers, regexes that do not compile, types outside the enum, payload values that
 * are not strings, duplicate rule names, literal payloads that fail the Instance HA schema.
 * @param name file name for messages
 * @return IHA_OK when the file had no error; IHA_E_CONFIG otherwise (rules from a file
 *         with errors are not added); IHA_E_NOMEM.
 */
enum iha_rc iha_ruleset_load(struct iha_ruleset *rs, const char *name, const char *text, size_t len,
                             struct iha_diag *diag) IHA_MUST_CHECK;

/** Reads @p path and calls iha_ruleset_load(). Unreadable file: IHA_E_IO reported in @p diag. */
enum iha_rc iha_ruleset_load_file(struct iha_ruleset *rs, const char *path,
                                  struct iha_diag *diag) IHA_MUST_CHECK;

/** @return the number of rules loaded. */
size_t iha_ruleset_count(const struct iha_ruleset *rs);

/** @return the name of rule @p i (borrowed, valid while @p rs lives). */
const char *iha_ruleset_rule_name(const struct iha_ruleset *rs, size_t i);

/** One result of mapping an alert: a notification, or a drop with its reason. */
struct iha_map_outcome {
    bool dropped;
    enum iha_drop why; /**< dropped only: the kind, for the metric label */
    char rule[128];    /**< the rule that decided ("" when no rule matched) */
    char reason[384];  /**< dropped only: why, naming the rule and field */
    /**
     * A resolved alert of a COMPUTE_HOST rule that sends nothing for it: the host the rule
     * names (for the safety policy: the failure is over), "" otherwise.
     */
    char resolved_host[IHA_HOSTNAME_MAX + 1];
    struct iha_notification notif; /**< !dropped only; owned by the outcome */
};

/** The outcomes for one alert, in rule order; always at least one. */
struct iha_map_result {
    struct iha_map_outcome *items;
    size_t n;
};

/**
 * Maps @p a through @p rs. Evaluation: rules in order; a rule whose sources include
 * the alert's source and whose matchers all match is applied; unless it has
 * `continue: true`, evaluation stops there. Applying: pick `firing` or `resolved` by the
 * alert's status (absent: dropped with the reason "rule R sends nothing for resolved
 * alerts"), extract hostname and payload (a failed extraction drops with the rule and
 * field), set the type, validate with iha_notification_validate() (invalid: dropped
 * naming the field). No matching rule: one dropped outcome "no rule matched".
 * Produced notifications get generated_time "" and a fresh id (the caller sets the time).
 * @return IHA_OK and @p out filled (free with iha_map_result_clear()), or IHA_E_NOMEM.
 * Thread-safe: @p rs is only read.
 */
enum iha_rc iha_mapping_apply(const struct iha_ruleset *rs, const struct iha_alert *a,
                              struct iha_map_result *out) IHA_MUST_CHECK;

/**
 * Like iha_mapping_apply() and also appends a JSON array of explanation steps to
 * @p trace (one object per rule tried: rule, matched, failed_matcher, extracted values).
 * @p trace may be NULL.
 */
enum iha_rc iha_mapping_explain(const struct iha_ruleset *rs, const struct iha_alert *a,
                                struct iha_map_result *out, json_t *trace) IHA_MUST_CHECK;

/** Frees the outcomes of @p r and zeroes it. NULL-safe. */
void iha_map_result_clear(struct iha_map_result *r);

/* ---- read-only views for tooling (lint, test-rules, benchmarks) ---------------------------- */

struct iha_matchers;
struct iha_extract;

/** A position in a rule file (1-based; 0 when unknown). */
struct iha_rule_pos {
    const char *file; /**< borrowed, valid while the rule set lives */
    unsigned line, col;
};

/**
 * What a rule looks like after loading, for analysis. Every pointer is borrowed from the
 * rule set and valid while it lives.
 */
struct iha_rule_info {
    const char *name;
    struct iha_rule_pos pos;                /**< the rule's list item */
    unsigned sources;                       /**< bit (1u << enum iha_source) per accepted source */
    const struct iha_matchers *matchers;    /**< never NULL */
    const struct iha_rule_pos *matcher_pos; /**< one per matcher (a braced list: its string) */
    enum iha_ntype type;
    const struct iha_extract *hostname;
    struct iha_rule_pos hostname_pos;
    const char *const *hostname_sources; /**< the extraction's source_labels (none: literal) */
    size_t n_hostname_sources;
    bool firing_sends;                            /**< firing alerts produce a notification */
    bool resolved_sends;                          /**< resolved alerts produce a notification */
    struct iha_rule_pos firing_pos;               /**< the `firing:` value (pos.line 0: absent) */
    const struct iha_extract *firing_event;       /**< payload.event when present, else NULL */
    const struct iha_extract *firing_host_status; /**< payload.host_status when present */
    bool cont;                                    /**< `continue: true` */
};

/**
 * Fills @p info for rule @p i (load order).
 * @return false when @p i is out of range.
 */
bool iha_ruleset_rule_info(const struct iha_ruleset *rs, size_t i, struct iha_rule_info *info);

/**
 * Turns the alertname prefilter on (the default) or off. Rules are indexed at load by
 * their `alertname` equality matcher (or a regex that is a plain alternation of literal
 * names, like "HostDown|NodeDown"), so iha_mapping_apply() only evaluates the rules that
 * can match the alert's alertname plus the rules without such a matcher, in load order.
 * Results are identical either way; turning it off exists for tests and benchmarks.
 * Not thread-safe against concurrent iha_mapping_apply().
 */
void iha_ruleset_set_index(struct iha_ruleset *rs, bool on);

/** @return the number of rules the prefilter cannot skip (no usable alertname matcher). */
size_t iha_ruleset_unindexed_count(const struct iha_ruleset *rs);

#endif
