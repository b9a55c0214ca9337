/* SPDX-License-Identifier: Apache-2.0 */
/** @file form.c @brief URL-encoded form bodies → JSON object of strings. */
#include "form.h"

#include <stdlib.h>
#include <string.h>

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/*
 * Decodes [s, s + n) into @p out (room for n + 1 bytes: decoding never grows).
 * @return the decoded length, or -1 for a bad escape or a NUL byte.
 */
static long decode(const char *s, size_t n, char *out)
{
    size_t o = 0;

    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '+') {
            c = ' ';
        } else if (c == '%') {
            int hi, lo;
            if (i + 2 >= n)
                return -1;
            hi = hexval(s[i + 1]);
            lo = hexval(s[i + 2]);
            if (hi < 0 || lo < 0)
                return -1;
            c = (char)(hi * 16 + lo);
            i += 2;
        }
        if (c == '\0')
            return -1;
        out[o++] = c;
    }
    out[o] = '\0';
    return (long)o;
}

enum iha_rc iha_form_decode(const char *buf, size_t len, json_t **out, struct iha_err *err)
{
    json_t *obj = json_object();
    char *key = NULL, *val = NULL;
    size_t pos = 0, fields = 0;
    enum iha_rc rc = IHA_E_NOMEM;

    *out = NULL;
    key = malloc(len + 1);
    val = malloc(len + 1);
    if (!obj || !key || !val)
        goto cleanup;
    while (pos < len) {
        const char *seg = buf + pos;
        const char *amp = memchr(seg, '&', len - pos);
        size_t seglen = amp ? (size_t)(amp - seg) : len - pos;
        const char *eq = memchr(seg, '=', seglen);
        size_t klen = eq ? (size_t)(eq - seg) : seglen;
        long kl, vl;
        json_t *s;

        pos += seglen + (amp ? 1 : 0);
        if (seglen == 0)
            continue;
        if (++fields > IHA_FORM_MAX_FIELDS) {
            iha_err_set(err, "", "more than %d form fields", IHA_FORM_MAX_FIELDS);
            rc = IHA_E_LIMIT;
            goto cleanup;
        }
        kl = decode(seg, klen, key);
        vl = eq ? decode(eq + 1, seglen - klen - 1, val) : 0;
        if (!eq)
            val[0] = '\0';
        if (kl <= 0 || vl < 0) {
            iha_err_set(err, "", "malformed form field %zu: %s", fields,
                        kl == 0 ? "empty name" : "bad %-escape or NUL byte");
            rc = IHA_E_PARSE;
            goto cleanup;
        }
        if (json_object_get(obj, key)) {
            iha_err_set(err, key, "form field '%s' given twice", key);
            rc = IHA_E_INVAL;
            goto cleanup;
        }
        s = json_stringn(val, (size_t)vl);
        if (!s || json_object_set_new(obj, key, s) != 0) {
            /* jansson refuses invalid UTF-8 in keys and values alike. */
            iha_err_set(err, "", "form field %zu is not valid UTF-8", fields);
            rc = IHA_E_PARSE;
            goto cleanup;
        }
    }
    *out = obj;
    obj = NULL;
    rc = IHA_OK;
cleanup:
    json_decref(obj);
    free(key);
    free(val);
    return rc;
}
