/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file delivery_heap.c
 * @brief The min-heap by (time, submission) behind the due jobs and the waiters' notices.
 *
 * Kept apart from the jobs it orders: it is a plain data structure with its own
 * invariants (positions stored in the entries, no allocation on push), tested through
 * the delivery's debug counters, and the rest of the delivery reads better without it.
 */
#include "delivery_int.h"

#include <stdlib.h>

static bool heap_before(const struct heap_item *x, const struct heap_item *y)
{
    return x->at < y->at || (x->at == y->at && x->seq < y->seq);
}

static void heap_place(struct heap *h, size_t i, struct heap_item *it)
{
    h->a[i] = it;
    it->idx = i;
}

static void sift_up(struct heap *h, size_t i)
{
    struct heap_item *it = h->a[i];

    while (i > 0) {
        size_t parent = (i - 1) / 2;
        h->probes++;
        if (!heap_before(it, h->a[parent]))
            break;
        heap_place(h, i, h->a[parent]);
        i = parent;
    }
    heap_place(h, i, it);
}

static void sift_down(struct heap *h, size_t i)
{
    struct heap_item *it = h->a[i];

    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= h->n)
            break;
        if (c + 1 < h->n && heap_before(h->a[c + 1], h->a[c]))
            c++;
        h->probes++;
        if (!heap_before(h->a[c], it))
            break;
        heap_place(h, i, h->a[c]);
        i = c;
    }
    heap_place(h, i, it);
}

bool iha_delivery_heap_reserve(struct heap *h, size_t n)
{
    size_t cap = h->cap ? h->cap : 64;
    struct heap_item **a;

    if (n <= h->cap)
        return true;
    while (cap < n) {
        if (cap > SIZE_MAX / 2 / sizeof(*a))
            return false;
        cap *= 2;
    }
    a = realloc(h->a, cap * sizeof(*a));
    if (!a)
        return false;
    h->a = a;
    h->cap = cap;
    return true;
}

void iha_delivery_heap_push(struct heap *h, struct heap_item *it)
{
    h->a[h->n] = it;
    it->idx = h->n++;
    sift_up(h, it->idx);
}

void iha_delivery_heap_remove(struct heap *h, struct heap_item *it)
{
    size_t i = it->idx;
    struct heap_item *last;

    if (i == NOT_IN_HEAP)
        return;
    it->idx = NOT_IN_HEAP;
    last = h->a[--h->n];
    if (i == h->n)
        return;
    heap_place(h, i, last);
    if (i > 0 && heap_before(last, h->a[(i - 1) / 2]))
        sift_up(h, i);
    else
        sift_down(h, i);
}

struct heap_item *iha_delivery_heap_top(const struct heap *h)
{
    return h->n ? h->a[0] : NULL;
}
