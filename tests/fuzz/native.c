/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file native.c
 * @brief Fuzz target: a native Instance HA body, flat or wrapped in "notification", in
 *        either type dialect (iha_native_parse), then validated and rendered as delivery
 *        and dedupe do.
 */
#include "fuzz_util.h"
#include "native.h"
#include "notification.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    fuzz_quiet();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *body = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, NULL);
    struct iha_notification n;
    struct iha_err err;
    char key[2048];

    if (!body)
        return 0;
    iha_notification_init(&n);
    if (iha_native_parse(body, &n, &err) == IHA_OK) {
        IHA_IGNORE(iha_notification_validate(&n, &err), "only its safety is tested");
        IHA_IGNORE(iha_notification_key(&n, key, sizeof(key)), "only its safety is tested");
        fuzz_render(iha_notification_body(&n, IHA_DIALECT_MASAKARI));
        fuzz_render(iha_notification_body(&n, IHA_DIALECT_XLOUD));
        fuzz_render(iha_notification_to_json(&n));
    }
    iha_notification_clear(&n);
    json_decref(body);
    return 0;
}
