/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file rules.c
 * @brief Fuzz target: a mapping rules file (iha_ruleset_load from memory). A file that
 *        loads is linted, indexed, and applied to sample alerts from each source, so the
 *        extraction of hostname and payload runs on what the loader let through.
 */
#include "diag.h"
#include "fuzz_mapping.h"
#include "lint.h"

static struct iha_alert samples[3];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    fuzz_quiet();
    iha_alert_init(&samples[0], IHA_SOURCE_ALERTMANAGER);
    iha_alert_init(&samples[1], IHA_SOURCE_NAGIOS);
    iha_alert_init(&samples[2], IHA_SOURCE_ALERTMANAGER);
    samples[2].status = IHA_ALERT_RESOLVED;
    if (iha_alert_set_label(&samples[0], "alertname", "HostDown") != IHA_OK ||
        iha_alert_set_label(&samples[0], "instance", "compute-1:9100") != IHA_OK ||
        iha_alert_set_label(&samples[0], "hostname", "compute-1") != IHA_OK ||
        iha_alert_set_annotation(&samples[0], "summary", "compute-1 is down") != IHA_OK ||
        iha_alert_set_label(&samples[1], "hostname", "compute-2") != IHA_OK ||
        iha_alert_set_label(&samples[1], "host_state", "DOWN") != IHA_OK ||
        iha_alert_set_label(&samples[1], "notification_type", "PROBLEM") != IHA_OK ||
        iha_alert_set_label(&samples[1], "what", "HOST") != IHA_OK ||
        iha_alert_set_label(&samples[2], "alertname", "NovaComputeDown") != IHA_OK ||
        iha_alert_set_label(&samples[2], "instance", "compute-2") != IHA_OK)
        abort();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct iha_ruleset *rs = iha_ruleset_new();
    struct iha_diag *diag = iha_diag_new();
    json_t *trace = json_array();

    if (!rs || !diag || !trace)
        goto cleanup;
    if (iha_ruleset_load(rs, "fuzz.yml", (const char *)data, size, diag) != IHA_OK)
        goto cleanup;
    (void)iha_lint_ruleset(rs, IHA_LINT_ALL, false, diag);
    for (size_t i = 0; i < sizeof(samples) / sizeof(samples[0]); i++)
        fuzz_map(rs, &samples[i]);
    iha_ruleset_set_index(rs, true);
    for (size_t i = 0; i < sizeof(samples) / sizeof(samples[0]); i++) {
        struct iha_map_result res = {0};

        fuzz_map(rs, &samples[i]);
        if (iha_mapping_explain(rs, &samples[i], &res, trace) == IHA_OK)
            iha_map_result_clear(&res);
    }
    fuzz_render(json_incref(trace));
cleanup:
    for (size_t i = 0; diag && i < iha_diag_count(diag); i++)
        (void)iha_diag_get(diag, i);
    json_decref(trace);
    iha_diag_free(diag);
    iha_ruleset_free(rs);
    return 0;
}
