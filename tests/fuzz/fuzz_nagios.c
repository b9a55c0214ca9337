/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file fuzz_nagios.c
 * @brief Fuzz target: a Nagios-family record, as JSON and as the form iha-notify's curl
 *        fallback posts (the first byte chooses).
 */
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "form.h"
#include "nagios.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct iha_alert *alerts = NULL;
    struct iha_err err = {0};
    json_t *body = NULL;
    size_t n = 0;

    if (size == 0)
        return 0;
    if (data[0] & 1)
        body = json_loadb((const char *)data + 1, size - 1, JSON_REJECT_DUPLICATES, NULL);
    else if (iha_form_decode((const char *)data + 1, size - 1, &body, &err) != IHA_OK)
        body = NULL;
    if (!body)
        return 0;
    if (iha_nagios_parse(body, &alerts, &n, &err) == IHA_OK)
        iha_nagios_free(alerts, n);
    json_decref(body);
    return 0;
}
