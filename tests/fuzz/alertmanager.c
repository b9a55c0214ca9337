/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file alertmanager.c
 * @brief Fuzz target: an Alertmanager webhook body, read alert by alert as the daemon does
 *        (iha_alertmanager_open/_read), each alert mapped through the shipped rules; and
 *        read whole as `test-rules` does (iha_alertmanager_parse).
 */
#include "alertmanager.h"
#include "fuzz_mapping.h"

static struct iha_ruleset *rules;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    fuzz_quiet();
    rules = fuzz_shipped_rules();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* As the HTTP layer parses a request body. */
    json_t *body = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, NULL);
    struct iha_alert *all = NULL;
    struct iha_err err;
    size_t n = 0, truncated = 0, n_all = 0;

    if (!body)
        return 0;
    if (iha_alertmanager_open(body, &n, &truncated, &err) == IHA_OK) {
        for (size_t i = 0; i < n; i++) {
            struct iha_alert a;
            enum iha_rc rc = iha_alertmanager_read(body, i, &a, &err);

            if (rc == IHA_OK)
                fuzz_map(rules, &a);
            else
                (void)iha_alert_name(&a); /* what a drop is reported with */
            iha_alert_clear(&a);
        }
    }
    if (iha_alertmanager_parse(body, &all, &n_all, &err) == IHA_OK)
        iha_alertmanager_free(all, n_all);
    json_decref(body);
    return 0;
}
