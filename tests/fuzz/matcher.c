/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file matcher.c
 * @brief Fuzz target: label matchers in Alertmanager syntax, including regexes compiled by
 *        PCRE2 (iha_matchers_add). The input is one matcher text per line, all added to one
 *        set; the set is then evaluated, explained and formatted against sample alerts.
 */
#include "alert.h"
#include "fuzz_util.h"
#include "matcher.h"

static struct iha_alert samples[2];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    fuzz_quiet();
    iha_alert_init(&samples[0], IHA_SOURCE_ALERTMANAGER);
    iha_alert_init(&samples[1], IHA_SOURCE_NAGIOS);
    if (iha_alert_set_label(&samples[0], "alertname", "HostDown") != IHA_OK ||
        iha_alert_set_label(&samples[0], "instance", "compute-1:9100") != IHA_OK ||
        iha_alert_set_label(&samples[0], "severity", "critical") != IHA_OK ||
        iha_alert_set_label(&samples[1], "hostname", "compute-2") != IHA_OK ||
        iha_alert_set_label(&samples[1], "notification_type", "PROBLEM") != IHA_OK)
        abort();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = fuzz_cstr(data, size), *line, *next;
    struct iha_matchers *m = iha_matchers_new();
    struct iha_err err;
    char buf[512];

    if (!text || !m)
        goto cleanup;
    for (line = text; line; line = next) {
        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        if (iha_matchers_add(m, line, &err) == IHA_E_NOMEM)
            goto cleanup;
    }
    for (size_t i = 0; i < sizeof(samples) / sizeof(samples[0]); i++) {
        (void)iha_matchers_match(m, &samples[i]);
        (void)iha_matchers_explain(m, &samples[i], buf, sizeof(buf));
    }
    for (size_t i = 0; i < iha_matchers_count(m); i++) {
        const char *name = NULL, *value = NULL;
        enum iha_matcher_op op;

        iha_matchers_format(m, i, buf, sizeof(buf));
        if (!iha_matchers_get(m, i, &name, &op, &value) || !name || !value)
            abort();
        (void)iha_matchers_accepts(m, i, "");
        (void)iha_matchers_accepts(m, i, value);
    }
cleanup:
    iha_matchers_free(m);
    free(text);
    return 0;
}
