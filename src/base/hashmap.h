/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file hashmap.h
 * @brief Intrusive hash table for string-like keys a sender controls: seeded SipHash,
 *        chaining, O(1) removal, growth by doubling.
 *
 * Entries embed a struct iha_hnode; the table links them but never allocates or frees
 * them, so an entry can sit in several tables and lists at once and removal cannot fail.
 * The ops table tells the table how to compare an entry with a key. Not thread-safe:
 * the owner serialises every call.
 */
#ifndef IHA_HASHMAP_H
#define IHA_HASHMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/** Embedded in every entry. Zeroed or not, it is only meaningful while linked. */
struct iha_hnode {
    struct iha_hnode *next;
    struct iha_hnode **pprev; /* the pointer that points at this node */
    uint64_t hash;
};

struct iha_hmap_ops {
    /** @return true when the entry of @p node has the key @p key of @p len bytes. */
    bool (*eq)(const struct iha_hnode *node, const void *key, size_t len);
};

struct iha_hmap;

/**
 * @param ops borrowed; must outlive the table.
 * @param expected entries to size the bucket array for (it grows beyond, best effort).
 * @return a new empty table with a random SipHash key, or NULL (out of memory).
 */
struct iha_hmap *iha_hmap_new(const struct iha_hmap_ops *ops, size_t expected);

/** Frees the table, not the entries (they are the caller's). NULL-safe. */
void iha_hmap_free(struct iha_hmap *m);

/** @return the linked entry with the key @p key of @p len bytes, or NULL. */
struct iha_hnode *iha_hmap_find(struct iha_hmap *m, const void *key, size_t len);

/**
 * Links @p node under @p key (@p len bytes), which must not be linked already. Never
 * fails: when the bucket array cannot grow, chains get longer instead.
 */
void iha_hmap_insert(struct iha_hmap *m, struct iha_hnode *node, const void *key, size_t len);

/** Unlinks @p node, which must be linked in @p m. O(1). */
void iha_hmap_remove(struct iha_hmap *m, struct iha_hnode *node);

/** @return the number of linked entries. */
size_t iha_hmap_count(const struct iha_hmap *m);

/**
 * @return entries compared so far by iha_hmap_find() plus entries moved by growth: the
 *         table's work, for tests and benchmarks that check it stays flat.
 */
unsigned long long iha_hmap_probes(const struct iha_hmap *m);

#endif
