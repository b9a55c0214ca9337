/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file fuzz_notify.c
 * @brief Fuzz target: iha-notify's argv and environment. The input is NUL-separated
 *        words; words with '=' after the first '\x01' separator go to the environment.
 *        Plugin output, which a monitored host controls, reaches both.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "macros.h"

#define WORDS_MAX 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *buf = malloc(size + 1), *argv[WORDS_MAX + 2], *envp[WORDS_MAX + 1];
    int argc = 1, envc = 0;
    bool env = false;
    struct iha_notify_cmd cmd;
    struct iha_err err = {0};
    size_t start = 0;

    if (!buf)
        return 0;
    memcpy(buf, data, size);
    buf[size] = '\0';
    argv[0] = "iha-notify";
    for (size_t i = 0; i <= size; i++) {
        bool to_env;

        if (buf[i] != '\0' && buf[i] != '\x01')
            continue;
        to_env = buf[i] == '\x01';
        buf[i] = '\0';
        if (env && envc < WORDS_MAX)
            envp[envc++] = buf + start;
        else if (!env && argc < WORDS_MAX + 1)
            argv[argc++] = buf + start;
        env = env || to_env;
        start = i + 1;
    }
    argv[argc] = NULL;
    envp[envc] = NULL;
    if (iha_notify_parse(argc, argv, envp, 1764000000, &cmd, &err) == IHA_OK)
        iha_notify_cmd_clear(&cmd);
    free(buf);
    return 0;
}
