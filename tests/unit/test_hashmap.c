/* SPDX-License-Identifier: Apache-2.0 */
/** @file test_hashmap.c @brief SipHash-2-4 reference vectors and the intrusive hash table. */
#include "hashmap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "siphash.h"

#include "cmocka_includes.h"

/* Key 00..0f as in the SipHash paper. */
static const struct iha_sipkey ref_key = {
    .k0 = 0x0706050403020100ULL,
    .k1 = 0x0f0e0d0c0b0a0908ULL,
};

static void test_siphash_vectors(void **state)
{
    unsigned char msg[64];

    (void)state;
    for (unsigned i = 0; i < sizeof(msg); i++)
        msg[i] = (unsigned char)i;
    /* The paper's example (15 bytes) and the first and a full-block entry of vectors.h. */
    assert_true(iha_siphash(&ref_key, msg, 15) == 0xa129ca6149be45e5ULL);
    assert_true(iha_siphash(&ref_key, msg, 0) == 0x726fdb47dd0e0e31ULL);
    assert_true(iha_siphash(&ref_key, msg, 8) == 0x93f5f5799a932462ULL);
}

static void test_sipkey_random(void **state)
{
    struct iha_sipkey a, b;

    (void)state;
    iha_sipkey_random(&a);
    iha_sipkey_random(&b);
    assert_false(a.k0 == b.k0 && a.k1 == b.k1);
    assert_false(iha_siphash(&a, "compute-1", 9) == iha_siphash(&b, "compute-1", 9));
}

struct item {
    struct iha_hnode node;
    char key[32];
    size_t len;
};

static bool item_eq(const struct iha_hnode *n, const void *key, size_t len)
{
    const struct item *it = (const struct item *)(const void *)n; /* node is the first member */

    return it->len == len && memcmp(it->key, key, len) == 0;
}

static const struct iha_hmap_ops ops = {.eq = item_eq};

static struct item *find(struct iha_hmap *m, const char *key)
{
    return (struct item *)(void *)iha_hmap_find(m, key, strlen(key));
}

static void test_insert_find_remove_grow(void **state)
{
    enum { N = 5000 };
    struct item *items = calloc(N, sizeof(*items));
    struct iha_hmap *m = iha_hmap_new(&ops, 4); /* grows from 16 buckets */
    unsigned long long before;

    (void)state;
    assert_non_null(items);
    assert_non_null(m);
    assert_null(find(m, "absent"));
    for (int i = 0; i < N; i++) {
        items[i].len = (size_t)snprintf(items[i].key, sizeof(items[i].key), "host-%d", i);
        iha_hmap_insert(m, &items[i].node, items[i].key, items[i].len);
    }
    assert_int_equal(iha_hmap_count(m), N);
    for (int i = 0; i < N; i++)
        assert_ptr_equal(find(m, items[i].key), &items[i]);
    assert_null(find(m, "host-5000"));

    /* Lookups stay short after growth: a few probes each, not a scan. */
    before = iha_hmap_probes(m);
    for (int i = 0; i < N; i++)
        assert_non_null(find(m, items[i].key));
    assert_true(iha_hmap_probes(m) - before < 4ull * N);

    /* Removing every other entry, from chain heads, middles and tails alike. */
    for (int i = 0; i < N; i += 2)
        iha_hmap_remove(m, &items[i].node);
    assert_int_equal(iha_hmap_count(m), N / 2);
    for (int i = 0; i < N; i++) {
        if (i % 2)
            assert_ptr_equal(find(m, items[i].key), &items[i]);
        else
            assert_null(find(m, items[i].key));
    }
    /* Re-inserting a removed entry works. */
    iha_hmap_insert(m, &items[0].node, items[0].key, items[0].len);
    assert_ptr_equal(find(m, "host-0"), &items[0]);
    iha_hmap_free(m);
    iha_hmap_free(NULL);
    free(items);
}

/* Keys that differ only after a prefix, or by a NUL-free length, are distinct. */
static void test_similar_keys(void **state)
{
    struct item a = {.key = "ab", .len = 2}, b = {.key = "abc", .len = 3};
    struct iha_hmap *m = iha_hmap_new(&ops, 0);

    (void)state;
    assert_non_null(m);
    iha_hmap_insert(m, &a.node, a.key, a.len);
    iha_hmap_insert(m, &b.node, b.key, b.len);
    assert_ptr_equal(find(m, "ab"), &a);
    assert_ptr_equal(find(m, "abc"), &b);
    assert_null(find(m, "a"));
    assert_null(iha_hmap_find(m, "abc", 2) == &b.node ? &b : NULL);
    iha_hmap_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_siphash_vectors),
        cmocka_unit_test(test_sipkey_random),
        cmocka_unit_test(test_insert_find_remove_grow),
        cmocka_unit_test(test_similar_keys),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
