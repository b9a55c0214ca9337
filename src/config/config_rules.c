/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file config_rules.c
 * @brief Loading the mapping rules a configuration names: rule_files globs, or the shipped
 *        rules compiled into the binary when it names none.
 *
 * Separate from the configuration's own loading: it reads other files (resolved against
 * the configuration's directory) into a rule set and only needs the public configuration.
 */
#include "config.h"

#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "embedded.h"
#include "mapping.h"

/* ---- rule files -------------------------------------------------------- */

/*
 * Relative globs are taken relative to the config file's directory, as Prometheus
 * does for rule_files, so a config works whatever the daemon's working directory.
 * @return a new string, or NULL when out of memory.
 */
static char *resolve_glob(const struct iha_config *cfg, const char *pattern)
{
    const char *slash = cfg->source ? strrchr(cfg->source, '/') : NULL;
    size_t dl, pl = strlen(pattern);
    char *s;

    if (pattern[0] == '/' || !slash || cfg->source[0] == '<')
        return strdup(pattern);
    dl = (size_t)(slash - cfg->source);
    s = malloc(dl + 1 + pl + 1);
    if (!s)
        return NULL;
    memcpy(s, cfg->source, dl);
    s[dl] = '/';
    memcpy(s + dl + 1, pattern, pl + 1);
    return s;
}

static enum iha_rc load_embedded(struct iha_ruleset *rs, struct iha_diag *diag, bool *failed)
{
    char name[256];

    for (const struct iha_embedded_file *e = iha_embedded_rules; e->name; e++) {
        enum iha_rc rc;

        snprintf(name, sizeof(name), "<embedded>/%s", e->name);
        rc = iha_ruleset_load(rs, name, e->text, e->len, diag);
        if (rc == IHA_E_NOMEM)
            return rc;
        if (rc != IHA_OK)
            *failed = true;
    }
    return IHA_OK;
}

enum iha_rc iha_config_load_rules(const struct iha_config *cfg, struct iha_ruleset *rs,
                                  struct iha_diag *diag)
{
    bool failed = false;
    enum iha_rc rc = IHA_OK;

    if (cfg->n_rule_files == 0) {
        rc = load_embedded(rs, diag, &failed);
        goto done;
    }
    for (size_t i = 0; i < cfg->n_rule_files; i++) {
        char *pattern = resolve_glob(cfg, cfg->rule_files[i]);
        glob_t g;
        int grc;

        if (!pattern)
            return IHA_E_NOMEM;
        memset(&g, 0, sizeof(g));
        grc = glob(pattern, 0, NULL, &g);
        if (grc == GLOB_NOSPACE) {
            globfree(&g);
            free(pattern);
            return IHA_E_NOMEM;
        }
        if (grc == GLOB_NOMATCH) {
            iha_diag_add(diag, IHA_DIAG_ERROR, cfg->source, 0, 0,
                         "mapping.rule_files: '%s' matches no file", pattern);
            failed = true;
        } else if (grc != 0) {
            iha_diag_add(diag, IHA_DIAG_ERROR, cfg->source, 0, 0,
                         "mapping.rule_files: cannot read '%s'", pattern);
            failed = true;
        }
        for (size_t j = 0; grc == 0 && j < g.gl_pathc; j++) {
            rc = iha_ruleset_load_file(rs, g.gl_pathv[j], diag);
            if (rc == IHA_E_NOMEM)
                break;
            if (rc != IHA_OK)
                failed = true;
            rc = IHA_OK;
        }
        globfree(&g);
        free(pattern);
        if (rc == IHA_E_NOMEM)
            return rc;
    }

done:
    if (rc != IHA_OK)
        return rc;
    return failed ? IHA_E_CONFIG : IHA_OK;
}
