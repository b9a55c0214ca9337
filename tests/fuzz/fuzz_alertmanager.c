/* SPDX-License-Identifier: Apache-2.0 */
/** @file fuzz_alertmanager.c @brief Fuzz target: an Alertmanager webhook body, alert by alert. */
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "alertmanager.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *body = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, NULL);
    struct iha_err err = {0};
    size_t n = 0, truncated = 0;

    if (!body)
        return 0;
    if (iha_alertmanager_open(body, &n, &truncated, &err) == IHA_OK) {
        for (size_t i = 0; i < n && i < 1000; i++) {
            struct iha_alert a;

            /* A refused alert is the expected answer to a fuzzed one; only a crash counts. */
            (void)iha_alertmanager_read(body, i, &a, &err);
            iha_alert_clear(&a);
        }
    }
    json_decref(body);
    return 0;
}
