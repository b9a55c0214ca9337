/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file listen_addr.c
 * @brief Fuzz target: a listen address as written in the configuration or on the command
 *        line (iha_listen_addr_parse). The resolver is never asked.
 *
 * Checks the parsed result too: host and port are NUL-terminated, the port text is the
 * number, and a name or address is never empty.
 */
#include <stdio.h>

#include "fuzz_util.h"
#include "listen_addr.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    fuzz_quiet();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = fuzz_cstr(data, size);
    struct iha_listen_addr a;
    struct iha_err err;
    char port[8];

    if (!s)
        return 0;
    if (iha_listen_addr_parse(s, &a, &err) == IHA_OK) {
        if (memchr(a.host, '\0', sizeof(a.host)) == NULL ||
            memchr(a.port, '\0', sizeof(a.port)) == NULL || a.port_num > 65535)
            abort();
        snprintf(port, sizeof(port), "%u", a.port_num);
        if (strcmp(port, a.port) != 0 && a.port[0] != '0')
            abort();
        if ((a.kind == IHA_LISTEN_ANY) != (a.host[0] == '\0'))
            abort();
    }
    free(s);
    return 0;
}
