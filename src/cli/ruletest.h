/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file ruletest.h
 * @brief `iha-gateway test-rules`: unit tests for mapping rules, shaped like
 *        `promtool test rules`.
 *
 * A test file is YAML:
 *
 *     rule_files: [../node-exporter.yml]     # relative to this file; globs allowed
 *     tests:
 *       - name: HostDown critical evacuates
 *         input:                             # one or more alerts
 *           - labels: {alertname: HostDown, severity: critical, instance: "compute-1:9100"}
 *             annotations: {summary: down}   # optional
 *             status: firing                 # firing (default) or resolved
 *           - source: nagios                 # default alertmanager
 *             macros: {hostname: compute-2, host_state: DOWN, state_type: HARD,
 *                      notification_type: PROBLEM}
 *         exp_notifications:                 # every notification the inputs produce
 *           - type: COMPUTE_HOST
 *             hostname: compute-1
 *             payload: {event: STOPPED, host_status: NORMAL, cluster_status: OFFLINE}
 *             rule: node-down                # optional
 *       - name: warning is dropped
 *         input: [{labels: {alertname: HostDown, severity: warning}}]
 *         exp_dropped: {reason: no rule matched}   # reason: a substring; rule: optional
 *         exp_policy: {sent: 0, held: 0, cancelled: 0}   # optional, each count optional
 *
 * Alertmanager inputs go through the Alertmanager adapter as a webhook body, Nagios
 * inputs through the Nagios adapter as a record of macros, so the same normalisation as in
 * production applies. Notifications are compared on type (either dialect's spelling),
 * hostname, the whole payload and, when given, the rule; order does not matter.
 * `exp_dropped` expects no notification and at least one drop, every drop matching the
 * given reason substring and rule. Both keys may be given (a `continue` rule).
 * `exp_policy` counts the evacuations the safety policy would send, hold or cancel (a
 * resolve in the same input) with the default settings, as a fresh gateway would for this
 * input alone (policy_preview.h).
 */
#ifndef IHA_RULETEST_H
#define IHA_RULETEST_H

#include <stdio.h>

#include "diag.h"
#include "rc.h"

/** Counts over one or more test files. */
struct iha_ruletest_summary {
    size_t tests;  /**< tests run */
    size_t failed; /**< tests whose expectations did not hold */
    size_t broken; /**< files with errors (test file or rule files); their tests do not run */
};

/**
 * Runs the tests of one file, printing `Unit Testing:  PATH`, each failing test with the
 * expected and the obtained results and a readable diff, and a per-file result to @p out.
 * Problems in the test file or its rule files are added to @p diag with file:line:column
 * and make the file broken (no test runs).
 * @param[in,out] sum counts are added to it
 * @return IHA_OK (look at @p sum for the verdict) or IHA_E_NOMEM.
 */
enum iha_rc iha_ruletest_run_file(const char *path, FILE *out, struct iha_diag *diag,
                                  struct iha_ruletest_summary *sum) IHA_MUST_CHECK;

/**
 * The `test-rules FILE...` command: runs every file, prints diagnostics to @p err and the
 * report to @p out, ending with `SUCCESS` or `FAILED: N of M tests failed` (plus the number
 * of broken files).
 * @return the exit status: 0 when every test passed, 1 when a test failed or a file is
 *         broken, 2 without files.
 */
int iha_ruletest_main(const char *const *files, size_t n, FILE *out, FILE *err);

#endif
