/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file form.c
 * @brief Fuzz target: an application/x-www-form-urlencoded body (iha_form_decode).
 *
 * Checks what the decoder promises besides not crashing: on success, an object of at
 * most IHA_FORM_MAX_FIELDS string values with non-empty keys.
 */
#include "form.h"
#include "fuzz_util.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    fuzz_quiet();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *out = NULL, *v;
    struct iha_err err;
    const char *k;

    if (iha_form_decode((const char *)data, size, &out, &err) != IHA_OK) {
        if (out)
            abort(); /* the contract: NULL on failure */
        return 0;
    }
    if (!json_is_object(out) || json_object_size(out) > IHA_FORM_MAX_FIELDS)
        abort();
    json_object_foreach(out, k, v)
    {
        if (!k[0] || !json_is_string(v))
            abort();
    }
    fuzz_render(out);
    return 0;
}
