/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file siphash.h
 * @brief SipHash-2-4 with a random per-table key, for hash tables keyed by strings a
 *        sender controls (dedupe keys, hostnames): without the key an attacker cannot
 *        choose inputs that collide.
 */
#ifndef IHA_SIPHASH_H
#define IHA_SIPHASH_H

#include <stddef.h>
#include <stdint.h>

/** A 128-bit SipHash key. */
struct iha_sipkey {
    uint64_t k0, k1;
};

/**
 * Fills @p key from getrandom(); without entropy (early boot) from the clock, the pid
 * and an address, which is weak but still differs between processes. Never fails.
 * Thread-safe.
 */
void iha_sipkey_random(struct iha_sipkey *key);

/** @return SipHash-2-4 of the @p len bytes at @p data under @p key. Thread-safe. */
uint64_t iha_siphash(const struct iha_sipkey *key, const void *data, size_t len);

#endif
