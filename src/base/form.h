/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file form.h
 * @brief application/x-www-form-urlencoded bodies → a JSON object of strings.
 *
 * For plain `curl -d key=value` senders of Nagios records: `a=1&b=two+words&c=%2F` becomes
 * {"a": "1", "b": "two words", "c": "/"}. '+' is a space, %XX a byte; a key without '='
 * has the value "". Empty segments (`a=1&&b=2`) are skipped.
 */
#ifndef IHA_FORM_H
#define IHA_FORM_H

#include <jansson.h>
#include <stddef.h>

#include "rc.h"

/** At most this many fields per body. */
#define IHA_FORM_MAX_FIELDS 256

/**
 * Decodes @p len bytes at @p buf (not NUL-terminated).
 * @param[out] out a new JSON object (owned by the caller) on IHA_OK, else NULL
 * @return IHA_OK; IHA_E_PARSE (a bad %-escape, an empty key, a NUL byte or invalid UTF-8
 *         after decoding); IHA_E_INVAL (a key given twice, named in @p err->field);
 *         IHA_E_LIMIT (more than IHA_FORM_MAX_FIELDS fields); IHA_E_NOMEM.
 */
enum iha_rc iha_form_decode(const char *buf, size_t len, json_t **out,
                            struct iha_err *err) IHA_MUST_CHECK;

#endif
