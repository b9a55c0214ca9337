/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file main.c
 * @brief iha-gateway's entry point: dispatches argv to the command it names.
 */
#include <stdio.h>
#include <string.h>

#include "cli_int.h"
#include "ruletest.h"

int main(int argc, char **argv)
{
    struct options o = {0};

    if (iha_cli_parse_args(argc, argv, &o) != 0)
        return 2;
    if (o.command && strcmp(o.command, "check-config") == 0)
        return iha_cli_check_config(&o);
    if (o.command && strcmp(o.command, "map") == 0)
        return iha_cli_map(&o);
    if (o.command && (strcmp(o.command, "queue") == 0 || strcmp(o.command, "deadletter") == 0 ||
                      strcmp(o.command, "hold") == 0))
        return iha_cli_storage(&o);
    if (o.command && strcmp(o.command, "test-rules") == 0)
        return iha_ruletest_main(o.args, o.n_args, stdout, stderr);
    if (o.lint || o.lint_fatal) {
        fprintf(stderr,
                "iha-gateway: --lint and --lint-fatal belong to the check-config command\n");
        return 2;
    }
    if (o.source || o.explain) {
        fprintf(stderr, "iha-gateway: --source and --explain belong to the map command\n");
        return 2;
    }
    return iha_cli_run(&o);
}
