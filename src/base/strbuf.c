/* SPDX-License-Identifier: Apache-2.0 */
/** @file strbuf.c @brief Bounded, all-or-nothing text writer over a caller's buffer. */
#include "strbuf.h"

#include <string.h>

void iha_strbuf_init(struct iha_strbuf *b, char *out, size_t size)
{
    b->p = out;
    b->size = out ? size : 0;
    b->len = 0;
    b->full = b->size == 0;
    if (b->size)
        out[0] = '\0';
}

void iha_strbuf_put(struct iha_strbuf *b, const char *s, size_t n)
{
    if (b->full)
        return;
    if (n >= b->size - b->len) {
        b->full = true;
        return;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

void iha_strbuf_str(struct iha_strbuf *b, const char *s)
{
    iha_strbuf_put(b, s, strlen(s));
}

void iha_strbuf_quoted(struct iha_strbuf *b, const char *s)
{
    iha_strbuf_put(b, "\"", 1);
    for (; *s && !b->full; s++) {
        switch (*s) {
        case '"':
            iha_strbuf_put(b, "\\\"", 2);
            break;
        case '\\':
            iha_strbuf_put(b, "\\\\", 2);
            break;
        case '\n':
            iha_strbuf_put(b, "\\n", 2);
            break;
        case '\t':
            iha_strbuf_put(b, "\\t", 2);
            break;
        default:
            iha_strbuf_put(b, s, 1);
            break;
        }
    }
    iha_strbuf_put(b, "\"", 1);
}

bool iha_strbuf_full(const struct iha_strbuf *b)
{
    return b->full;
}
