/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file fuzz_config.c
 * @brief Fuzz target: a configuration file, and the same text as a rule file (the first
 *        byte chooses): both come from operators, and check-config must explain, not crash.
 */
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "diag.h"
#include "log.h"
#include "mapping.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct iha_diag *diag = iha_diag_new();
    struct iha_config *cfg = NULL;
    struct iha_ruleset *rs = NULL;

    iha_log_setup(IHA_LOG_ERROR, IHA_LOG_LOGFMT);
    if (!diag || size == 0)
        goto cleanup;
    if (data[0] & 1) {
        /* Diagnostics are the expected outcome; only a crash or a leak counts. */
        (void)iha_config_load("fuzz.yml", (const char *)data + 1, size - 1, &cfg, diag);
    } else {
        rs = iha_ruleset_new();
        if (rs)
            (void)iha_ruleset_load(rs, "fuzz.rules.yml", (const char *)data + 1, size - 1, diag);
    }
cleanup:
    iha_ruleset_free(rs);
    iha_config_free(cfg);
    iha_diag_free(diag);
    return 0;
}
