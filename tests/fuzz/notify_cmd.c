/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file notify_cmd.c
 * @brief Fuzz target: an iha-notify invocation (iha_notify_parse): the command line and
 *        the environment a Nagios, Icinga 2, Naemon or Checkmk core passes, whose values
 *        (plugin output, custom variables) come from monitored hosts. A record it builds is
 *        then read by the gateway's side (iha_nagios_parse) as after a POST.
 *
 * Input: words separated by NUL bytes; the words before the first empty word are the
 * arguments after argv[0], the rest the environment ("NAME=value").
 */
#include <time.h>

#include "fuzz_util.h"
#include "macros.h"
#include "nagios.h"

#define MAX_WORDS 128

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    fuzz_quiet();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = fuzz_cstr(data, size);
    char *args[MAX_WORDS + 2], *env[MAX_WORDS + 1];
    int argc = 1, envc = 0;
    bool in_env = false;
    struct iha_notify_cmd cmd;
    struct iha_err err;

    if (!text)
        return 0;
    args[0] = "iha-notify";
    for (size_t off = 0; off < size;) {
        char *w = text + off;
        size_t len = strlen(w);

        if (len == 0 && !in_env)
            in_env = true;
        else if (!in_env && argc < MAX_WORDS + 1)
            args[argc++] = w;
        else if (in_env && len && envc < MAX_WORDS)
            env[envc++] = w;
        off += len + 1;
    }
    args[argc] = NULL;
    env[envc] = NULL;
    if (iha_notify_parse(argc, args, env, (time_t)1795000000, &cmd, &err) == IHA_OK) {
        if (cmd.mode == IHA_NOTIFY_SEND) {
            struct iha_alert *alerts = NULL;
            size_t n = 0;
            char *body = json_dumps(cmd.record, JSON_COMPACT);
            json_t *back = body ? json_loads(body, JSON_REJECT_DUPLICATES, NULL) : NULL;

            if (body && !back)
                abort(); /* a record the gateway cannot even read as JSON */
            if (back && iha_nagios_parse(back, &alerts, &n, &err) == IHA_OK)
                iha_nagios_free(alerts, n);
            json_decref(back);
            free(body);
        }
        iha_notify_cmd_clear(&cmd);
    }
    free(text);
    return 0;
}
