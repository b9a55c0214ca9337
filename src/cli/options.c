/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file options.c
 * @brief iha-gateway's flags, and the configuration they load.
 *
 * Shared by every command: each parses the same flags and loads the file (or the
 * embedded default) with the flags applied over it.
 */
#include "cli_int.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "diag.h"
#include "log.h"
#include "notification.h"
#include "url.h"

static const char usage[] =
    "usage: iha-gateway [FLAGS]                      run the gateway\n"
    "       iha-gateway check-config [--lint=LINTS] [--lint-fatal] FILE...\n"
    "                                                validate a gateway config or rule file\n"
    "       iha-gateway test-rules FILE...           run mapping rule unit tests\n"
    "       iha-gateway map [FLAGS] --source=SOURCE [--explain] [INPUT|-]\n"
    "                                                dry run: show what alerts would send\n"
    "       iha-gateway queue list|show ID|retry ID|drop ID [--storage.path=DIR]\n"
    "       iha-gateway deadletter list|requeue ID [--storage.path=DIR]\n"
    "       iha-gateway hold list|release ID|release --all|drop ID [--storage.path=DIR]\n"
    "                                                inspect and act on the durable queue\n"
    "\n"
    "Flags (override the config file; without --config.file the embedded default applies):\n"
    "  --config.file=FILE            configuration file (YAML)\n"
    "  --web.listen-address=ADDR     where to listen (default " IHA_DEFAULT_LISTEN ")\n"
    "  --instance-ha.url=URL         Instance HA API base URL (default " IHA_DEFAULT_URL ")\n"
    "  --instance-ha.dialect=D       masakari or xloud\n"
    "  --log.level=LEVEL             debug, info, warn, error\n"
    "  --log.format=FORMAT           logfmt or json\n"
    "  --storage.path=DIR            data directory of the durable queue "
    "(default " IHA_DEFAULT_STORAGE_PATH ")\n"
    "  --source=SOURCE               map only: alertmanager, nagios or native\n"
    "  --explain                     map only: show every rule tried and why\n"
    "  --lint=LINTS                  check-config only: all (default), none, or a list of\n"
    "                                evacuation,empty-hostname,never-matches,shadowed\n"
    "  --lint-fatal                  check-config only: lint findings are errors\n"
    "  -h, --help                    this text\n"
    "  --version                     print the version\n"
    "\n"
    "The service token for Instance HA is read from instance_ha.token_file or from\n"
    "$" IHA_SERVICE_TOKEN_ENV ".\n";

/* Accepts "--name=value" and "--name value". */
static int flag_value(int argc, char **argv, int *i, const char *name, const char **out)
{
    size_t len = strlen(name);
    const char *a = argv[*i];

    if (strncmp(a, name, len) != 0)
        return 0;
    if (a[len] == '=') {
        *out = a + len + 1;
        return 1;
    }
    if (a[len] == '\0') {
        if (*i + 1 >= argc) {
            fprintf(stderr, "iha-gateway: %s needs a value\n", name);
            return -1;
        }
        *out = argv[++*i];
        return 1;
    }
    return 0;
}

int iha_cli_parse_args(int argc, char **argv, struct options *o)
{
    static const struct {
        const char *name;
        size_t offset;
    } flags[] = {
        {"--config.file", offsetof(struct options, config_file)},
        {"--web.listen-address", offsetof(struct options, listen)},
        {"--instance-ha.url", offsetof(struct options, url)},
        {"--instance-ha.dialect", offsetof(struct options, dialect)},
        {"--log.level", offsetof(struct options, log_level)},
        {"--log.format", offsetof(struct options, log_format)},
        {"--source", offsetof(struct options, source)},
        {"--storage.path", offsetof(struct options, storage_path)},
        {"--lint", offsetof(struct options, lint)},
    };

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int matched = 0;

        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            fputs(usage, stdout);
            exit(0);
        }
        if (strcmp(a, "--version") == 0) {
            printf("iha-gateway %s\n", IHA_VERSION);
            exit(0);
        }
        if (strcmp(a, "--explain") == 0) {
            o->explain = true;
            continue;
        }
        if (strcmp(a, "--lint-fatal") == 0) {
            o->lint_fatal = true;
            continue;
        }
        for (size_t f = 0; f < sizeof(flags) / sizeof(flags[0]) && !matched; f++) {
            const char **slot = (const char **)((char *)o + flags[f].offset);
            matched = flag_value(argc, argv, &i, flags[f].name, slot);
            if (matched < 0)
                return -1;
        }
        if (matched)
            continue;
        /* "hold release --all" names every held notification; it is an argument. */
        if (a[0] == '-' && a[1] != '\0' &&
            !(o->command && strcmp(o->command, "hold") == 0 && strcmp(a, "--all") == 0)) {
            fprintf(stderr, "iha-gateway: unknown flag %s (see --help)\n", a);
            return -1;
        }
        if (!o->command && o->n_args == 0 &&
            (strcmp(a, "check-config") == 0 || strcmp(a, "map") == 0 ||
             strcmp(a, "test-rules") == 0 || strcmp(a, "queue") == 0 ||
             strcmp(a, "deadletter") == 0 || strcmp(a, "hold") == 0)) {
            o->command = a;
            continue;
        }
        if (!o->command) {
            fprintf(stderr, "iha-gateway: unknown command %s (see --help)\n", a);
            return -1;
        }
        if (o->n_args >= sizeof(o->args) / sizeof(o->args[0])) {
            fprintf(stderr, "iha-gateway: too many arguments\n");
            return -1;
        }
        o->args[o->n_args++] = a;
    }
    return 0;
}

void iha_cli_print_diag(const struct iha_diag *d)
{
    for (size_t i = 0; i < iha_diag_count(d); i++)
        fprintf(stderr, "%s\n", iha_diag_get(d, i));
    if (iha_diag_errors(d) > iha_diag_count(d))
        fprintf(stderr, "(%zu more errors not shown)\n", iha_diag_errors(d) - iha_diag_count(d));
}

/* Loads the config file (or the default) and applies the flags over it. */
enum iha_rc iha_cli_load_config(const struct options *o, struct iha_config **out,
                                struct iha_diag *diag)
{
    struct iha_config *cfg = NULL;
    enum iha_rc rc;

    rc = o->config_file ? iha_config_load_file(o->config_file, &cfg, diag)
                        : iha_config_default(&cfg);
    if (rc != IHA_OK)
        goto cleanup;
    if (o->listen && (rc = iha_config_set_string(&cfg->listen_address, o->listen)) != IHA_OK)
        goto cleanup;
    if (o->url && iha_url_has_userinfo(o->url)) {
        iha_diag_add(diag, IHA_DIAG_ERROR, "--instance-ha.url", 0, 0, "%s",
                     IHA_URL_CREDENTIALS_HINT);
        rc = IHA_E_CONFIG;
        goto cleanup;
    }
    if (o->url && (rc = iha_config_set_string(&cfg->url, o->url)) != IHA_OK)
        goto cleanup;
    if (o->storage_path &&
        (rc = iha_config_set_string(&cfg->storage_path, o->storage_path)) != IHA_OK)
        goto cleanup;
    if (o->dialect && iha_dialect_parse(o->dialect, &cfg->dialect) != 0) {
        iha_diag_add(diag, IHA_DIAG_ERROR, "--instance-ha.dialect", 0, 0,
                     "unknown dialect \"%s\" (expected masakari or xloud)", o->dialect);
        rc = IHA_E_CONFIG;
        goto cleanup;
    }
    if (o->log_level && iha_log_level_parse(o->log_level, &cfg->log_level) != 0) {
        iha_diag_add(diag, IHA_DIAG_ERROR, "--log.level", 0, 0,
                     "unknown level \"%s\" (expected debug, info, warn or error)", o->log_level);
        rc = IHA_E_CONFIG;
        goto cleanup;
    }
    if (o->log_format) {
        if (strcmp(o->log_format, "logfmt") == 0) {
            cfg->log_format = IHA_LOG_LOGFMT;
        } else if (strcmp(o->log_format, "json") == 0) {
            cfg->log_format = IHA_LOG_JSON;
        } else {
            iha_diag_add(diag, IHA_DIAG_ERROR, "--log.format", 0, 0,
                         "unknown format \"%s\" (expected logfmt or json)", o->log_format);
            rc = IHA_E_CONFIG;
            goto cleanup;
        }
    }
    *out = cfg;
    cfg = NULL;
cleanup:
    iha_config_free(cfg);
    return rc;
}
