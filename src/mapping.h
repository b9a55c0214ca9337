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
#include "record.h"

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
    char rule[128];                /**< the rule that decided ("" when no rule matched) */
    char reason[384];              /**< dropped only: why, naming the rule and field */
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

#endif
