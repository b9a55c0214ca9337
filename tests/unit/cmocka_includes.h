/* SPDX-License-Identifier: Apache-2.0 */
/** @file cmocka_includes.h @brief The headers cmocka needs, in the order it needs them. */
#ifndef IHA_CMOCKA_INCLUDES_H
#define IHA_CMOCKA_INCLUDES_H
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#endif
