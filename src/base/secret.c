/* SPDX-License-Identifier: Apache-2.0 */
/** @file secret.c @brief Wiping secrets from memory. */
#include "secret.h"

#include <string.h>

void iha_secret_wipe(void *p, size_t len)
{
    if (p && len > 0)
        explicit_bzero(p, len);
}
