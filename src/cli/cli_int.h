/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file cli_int.h
 * @brief What the iha-gateway commands share: the parsed flags and the helpers around them.
 *
 * Private to src/cli: main.c dispatches argv to one function per command, each in a
 * file of its own.
 */
#ifndef IHA_CLI_INT_H
#define IHA_CLI_INT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "diag.h"
#include "rc.h"

struct options {
    const char *command; /* NULL = run */
    const char *config_file;
    const char *listen;
    const char *url;
    const char *dialect;
    const char *log_level;
    const char *log_format;
    const char *source;
    const char *storage_path;
    bool explain;
    const char *lint;
    bool lint_fatal;
    const char *args[64];
    size_t n_args;
};

/** Parses argv into @p o (-h and --version print and exit). @return 0, or -1 after a message. */
int iha_cli_parse_args(int argc, char **argv, struct options *o);

/** Prints every diagnostic of @p d to stderr, one a line. */
void iha_cli_print_diag(const struct iha_diag *d);

/** Loads the config file (or the embedded default) and applies the flags over it. */
enum iha_rc iha_cli_load_config(const struct options *o, struct iha_config **out,
                                struct iha_diag *diag) IHA_MUST_CHECK;

/** Prints @p o (stolen) as one compact JSON line on stdout. */
void iha_cli_print_line(json_t *o);

/** The commands. @return the process exit status. */
int iha_cli_check_config(const struct options *o);
int iha_cli_map(const struct options *o);
int iha_cli_storage(const struct options *o);
int iha_cli_run(const struct options *o);

#endif
