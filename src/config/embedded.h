/* SPDX-License-Identifier: Apache-2.0 */
/** @file embedded.h @brief Files compiled into the binary (the shipped mapping rules). */
#ifndef IHA_EMBEDDED_H
#define IHA_EMBEDDED_H

#include <stddef.h>

struct iha_embedded_file {
    const char *name; /**< base name, e.g. "node-exporter.yml"; NULL ends the table */
    const char *text; /**< NUL-terminated contents */
    size_t len;       /**< length without the NUL */
};

/** The shipped rule files (mappings directory), in file-name order, ended by an entry with name
 * NULL. */
extern const struct iha_embedded_file iha_embedded_rules[];

#endif
