/* SPDX-License-Identifier: Apache-2.0 */
/** @file hashmap.c @brief Intrusive chained hash table with seeded SipHash. */
#include "hashmap.h"

#include <stdlib.h>

#include "siphash.h"

#define MIN_BUCKETS 16u
#define MAX_BUCKETS ((size_t)1 << 26) /* 512 MiB of buckets would be a bug elsewhere */

struct iha_hmap {
    const struct iha_hmap_ops *ops;
    struct iha_hnode **buckets;
    size_t nbuckets; /* power of two */
    size_t count;
    unsigned long long probes;
    struct iha_sipkey key;
};

static size_t buckets_for(size_t n)
{
    size_t nb = MIN_BUCKETS;

    while (nb < n && nb < MAX_BUCKETS)
        nb <<= 1;
    return nb;
}

struct iha_hmap *iha_hmap_new(const struct iha_hmap_ops *ops, size_t expected)
{
    struct iha_hmap *m = calloc(1, sizeof(*m));

    if (!m)
        return NULL;
    m->ops = ops;
    m->nbuckets = buckets_for(expected);
    m->buckets = calloc(m->nbuckets, sizeof(*m->buckets));
    if (!m->buckets) {
        free(m);
        return NULL;
    }
    iha_sipkey_random(&m->key);
    return m;
}

void iha_hmap_free(struct iha_hmap *m)
{
    if (!m)
        return;
    free(m->buckets);
    free(m);
}

static void link_head(struct iha_hnode **slot, struct iha_hnode *node)
{
    node->next = *slot;
    if (node->next)
        node->next->pprev = &node->next;
    node->pprev = slot;
    *slot = node;
}

/* Doubles the bucket array; on failure the table stays as it is, only slower. */
static void grow(struct iha_hmap *m)
{
    size_t nb = m->nbuckets * 2;
    struct iha_hnode **b;

    if (nb > MAX_BUCKETS || !(b = calloc(nb, sizeof(*b))))
        return;
    for (size_t i = 0; i < m->nbuckets; i++) {
        struct iha_hnode *n = m->buckets[i];
        while (n) {
            struct iha_hnode *next = n->next;
            link_head(&b[n->hash & (nb - 1)], n);
            m->probes++;
            n = next;
        }
    }
    free(m->buckets);
    m->buckets = b;
    m->nbuckets = nb;
}

struct iha_hnode *iha_hmap_find(struct iha_hmap *m, const void *key, size_t len)
{
    uint64_t h = iha_siphash(&m->key, key, len);

    for (struct iha_hnode *n = m->buckets[h & (m->nbuckets - 1)]; n; n = n->next) {
        m->probes++;
        if (n->hash == h && m->ops->eq(n, key, len))
            return n;
    }
    return NULL;
}

void iha_hmap_insert(struct iha_hmap *m, struct iha_hnode *node, const void *key, size_t len)
{
    if (m->count >= m->nbuckets)
        grow(m);
    node->hash = iha_siphash(&m->key, key, len);
    link_head(&m->buckets[node->hash & (m->nbuckets - 1)], node);
    m->count++;
}

void iha_hmap_remove(struct iha_hmap *m, struct iha_hnode *node)
{
    *node->pprev = node->next;
    if (node->next)
        node->next->pprev = node->pprev;
    node->next = NULL;
    node->pprev = NULL;
    m->count--;
}

size_t iha_hmap_count(const struct iha_hmap *m)
{
    return m->count;
}

unsigned long long iha_hmap_probes(const struct iha_hmap *m)
{
    return m->probes;
}
