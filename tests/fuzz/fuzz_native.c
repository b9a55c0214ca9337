/* SPDX-License-Identifier: Apache-2.0 */
/** @file fuzz_native.c @brief Fuzz target: an Instance HA notification body, both dialects. */
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "native.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *body = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, NULL);
    struct iha_notification n;
    struct iha_err err = {0};

    if (!body)
        return 0;
    iha_notification_init(&n);
    if (iha_native_parse(body, &n, &err) == IHA_OK)
        iha_notification_clear(&n);
    json_decref(body);
    return 0;
}
