/* SPDX-License-Identifier: Apache-2.0 */
/** @file fuzz_form.c @brief Fuzz target: form decoding, and the listen-address parser. */
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "form.h"
#include "listen_addr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct iha_err err = {0};
    json_t *out = NULL;
    char *text;

    if (iha_form_decode((const char *)data, size, &out, &err) == IHA_OK)
        json_decref(out);
    text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    {
        struct iha_listen_addr a;

        (void)iha_listen_addr_parse(text, &a, &err);
    }
    free(text);
    return 0;
}
