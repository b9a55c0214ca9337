/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file nagios_record.c
 * @brief Fuzz target: a Nagios-family record as POSTed to /api/v1/nagios, as JSON or, when
 *        it does not start with '{', form-encoded (as the HTTP layer reads it), turned into
 *        an alert (iha_nagios_parse) and mapped through the shipped rules.
 */
#include "form.h"
#include "fuzz_mapping.h"
#include "nagios.h"

static struct iha_ruleset *rules;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    fuzz_quiet();
    rules = fuzz_shipped_rules();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *body = NULL;
    struct iha_alert *alerts = NULL;
    struct iha_err err;
    size_t n = 0, lead = 0;

    while (lead < size && (data[lead] == ' ' || data[lead] == '\n'))
        lead++;
    if (lead < size && data[lead] == '{')
        body = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, NULL);
    else if (iha_form_decode((const char *)data, size, &body, &err) != IHA_OK)
        body = NULL;
    if (!body)
        return 0;
    if (iha_nagios_parse(body, &alerts, &n, &err) == IHA_OK) {
        for (size_t i = 0; i < n; i++)
            fuzz_map(rules, &alerts[i]);
        iha_nagios_free(alerts, n);
    }
    json_decref(body);
    return 0;
}
