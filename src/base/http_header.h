/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file http_header.h
 * @brief Picking one header's value out of the raw lines libcurl hands to a
 *        CURLOPT_HEADERFUNCTION callback.
 *
 * Header-only: two callbacks use it (delivery's request id, Keystone's subject token).
 */
#ifndef IHA_HTTP_HEADER_H
#define IHA_HTTP_HEADER_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>
#include <strings.h>

/** @return true when @p line (not NUL-terminated, @p n bytes) is a status line "HTTP/...". */
static inline bool iha_http_header_is_status(const char *line, size_t n)
{
    return n >= 5 && memcmp(line, "HTTP/", 5) == 0;
}

/**
 * When @p line is the header @p name (lowercase, with its colon, e.g. "x-subject-token:"),
 * matched case-insensitively, sets [@p *start, @p *end) to its value without surrounding
 * blanks and the line end. @return false when it is another header.
 */
static inline bool iha_http_header_value(const char *line, size_t n, const char *name,
                                         size_t *start, size_t *end)
{
    size_t a = strlen(name), b = n;

    if (n <= a || strncasecmp(line, name, a) != 0)
        return false;
    while (a < b && (line[a] == ' ' || line[a] == '\t'))
        a++;
    while (b > a && (line[b - 1] == '\r' || line[b - 1] == '\n' || line[b - 1] == ' '))
        b--;
    *start = a;
    *end = b;
    return true;
}

#endif
