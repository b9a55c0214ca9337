/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file secret.h
 * @brief Wiping secrets (tokens, passwords) from memory once they are no longer needed.
 */
#ifndef IHA_SECRET_H
#define IHA_SECRET_H

#include <stddef.h>

/** Overwrites @p len bytes at @p p with zeros in a way the compiler keeps. NULL-safe. */
void iha_secret_wipe(void *p, size_t len);

#endif
