/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file check_config.c
 * @brief check-config: validates a gateway configuration or a rule file, with lints.
 *
 * One command of the iha-gateway binary (see cli_int.h).
 */
#include "cli_int.h"

#include <stdbool.h>
#include <stdio.h>

#include "config.h"
#include "diag.h"
#include "lint.h"
#include "mapping.h"
#include "yaml_tree.h"

static bool looks_like_rule_file(const char *path)
{
    struct iha_diag *d = iha_diag_new();
    struct iha_ynode *root = NULL;
    bool rules = false;

    if (d && iha_ytree_parse_file(path, &root, d) == IHA_OK)
        rules = root->kind == IHA_YNODE_MAP && iha_ynode_get(root, "rules") != NULL;
    iha_ynode_free(root);
    iha_diag_free(d);
    return rules;
}

static int check_one(const char *path, unsigned lints, bool lint_fatal)
{
    struct iha_diag *diag = iha_diag_new();
    struct iha_ruleset *rs = iha_ruleset_new();
    struct iha_config *cfg = NULL;
    int status = 1;
    bool rule_file;

    if (!diag || !rs) {
        fprintf(stderr, "iha-gateway: out of memory\n");
        goto cleanup;
    }
    rule_file = looks_like_rule_file(path);
    if (rule_file)
        IHA_IGNORE(iha_ruleset_load_file(rs, path, diag), "its errors are in diag");
    else if (iha_config_load_file(path, &cfg, diag) == IHA_OK)
        IHA_IGNORE(iha_config_load_rules(cfg, rs, diag), "its errors are in diag");
    if (iha_diag_errors(diag) == 0)
        (void)iha_lint_ruleset(rs, lints, lint_fatal, diag);
    iha_cli_print_diag(diag);
    if (iha_diag_errors(diag) == 0) {
        printf("Checking '%s'  SUCCESS\n", path);
        if (rule_file)
            printf("Found:\n - %zu mapping rules\n", iha_ruleset_count(rs));
        else
            printf("Found:\n - gateway configuration\n - %zu mapping rules from %s\n",
                   iha_ruleset_count(rs),
                   cfg->n_rule_files ? "the configured rule files" : "the shipped rules");
        status = 0;
    } else {
        printf("Checking '%s'  FAILED: %zu error(s)\n", path, iha_diag_errors(diag));
    }
cleanup:
    iha_config_free(cfg);
    iha_ruleset_free(rs);
    iha_diag_free(diag);
    return status;
}

int iha_cli_check_config(const struct options *o)
{
    unsigned lints = IHA_LINT_ALL;
    int status = 0;

    if (o->n_args == 0) {
        fprintf(stderr, "usage: iha-gateway check-config [--lint=LINTS] [--lint-fatal] FILE...\n");
        return 2;
    }
    if (o->lint && iha_lint_parse(o->lint, &lints) != 0) {
        fprintf(stderr,
                "iha-gateway: --lint: unknown lint in \"%s\" (expected all, none, or a list of "
                "evacuation, empty-hostname, never-matches, shadowed)\n",
                o->lint);
        return 2;
    }
    for (size_t i = 0; i < o->n_args; i++)
        status |= check_one(o->args[i], lints, o->lint_fatal);
    return status;
}
