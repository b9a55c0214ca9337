/* SPDX-License-Identifier: Apache-2.0 */
/** @file buf.c @brief Growable heap buffer of bytes with an optional cap. */
#include "buf.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

void iha_buf_init(struct iha_buf *b, size_t first, size_t max)
{
    memset(b, 0, sizeof(*b));
    b->first = first;
    b->max = max;
}

char *iha_buf_room(struct iha_buf *b, size_t n)
{
    size_t limit = b->max ? b->max : SIZE_MAX - 1;
    size_t need, cap;
    char *p;

    if (n > limit - b->len) {
        b->over = b->max != 0;
        b->failed = true;
        return NULL;
    }
    need = b->len + n + 1;
    if (need > b->cap) {
        cap = b->cap ? b->cap : b->first ? b->first : 4096;
        while (cap < need)
            cap = cap > SIZE_MAX / 2 ? SIZE_MAX : cap * 2;
        if (cap > limit + 1)
            cap = limit + 1;
        p = realloc(b->p, cap);
        if (!p) {
            b->failed = true;
            return NULL;
        }
        b->p = p;
        b->cap = cap;
    }
    return b->p + b->len;
}

void iha_buf_wrote(struct iha_buf *b, size_t n)
{
    b->len += n;
    b->p[b->len] = '\0';
}

bool iha_buf_put(struct iha_buf *b, const void *s, size_t n)
{
    char *at;

    if (n == 0)
        return true;
    at = iha_buf_room(b, n);
    if (!at)
        return false;
    memcpy(at, s, n);
    iha_buf_wrote(b, n);
    return true;
}

bool iha_buf_str(struct iha_buf *b, const char *s)
{
    return iha_buf_put(b, s, strlen(s));
}

bool iha_buf_failed(const struct iha_buf *b)
{
    return b->failed;
}

char *iha_buf_steal(struct iha_buf *b)
{
    char *p;

    if (!b->failed && !b->p && iha_buf_room(b, 0))
        iha_buf_wrote(b, 0);
    p = b->failed ? NULL : b->p;
    if (!p)
        free(b->p);
    iha_buf_init(b, b->first, b->max);
    return p;
}

void iha_buf_free(struct iha_buf *b)
{
    free(b->p);
    iha_buf_init(b, b->first, b->max);
}
