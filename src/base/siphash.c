/* SPDX-License-Identifier: Apache-2.0 */
/** @file siphash.c @brief SipHash-2-4 (Aumasson and Bernstein, 2012) and its random key. */
#include "siphash.h"

#include <sys/random.h>
#include <time.h>
#include <unistd.h>

static uint64_t rotl(uint64_t x, unsigned b)
{
    return (x << b) | (x >> (64u - b));
}

static uint64_t load_le64(const unsigned char *p)
{
    uint64_t v = 0;

    for (unsigned i = 0; i < 8; i++)
        v |= (uint64_t)p[i] << (8u * i);
    return v;
}

struct sip {
    uint64_t v0, v1, v2, v3;
};

static void sip_round(struct sip *s)
{
    s->v0 += s->v1;
    s->v1 = rotl(s->v1, 13);
    s->v1 ^= s->v0;
    s->v0 = rotl(s->v0, 32);
    s->v2 += s->v3;
    s->v3 = rotl(s->v3, 16);
    s->v3 ^= s->v2;
    s->v0 += s->v3;
    s->v3 = rotl(s->v3, 21);
    s->v3 ^= s->v0;
    s->v2 += s->v1;
    s->v1 = rotl(s->v1, 17);
    s->v1 ^= s->v2;
    s->v2 = rotl(s->v2, 32);
}

/* Two compression rounds per 8-byte word: the "2" of SipHash-2-4. */
static void sip_absorb(struct sip *s, uint64_t m)
{
    s->v3 ^= m;
    sip_round(s);
    sip_round(s);
    s->v0 ^= m;
}

uint64_t iha_siphash(const struct iha_sipkey *key, const void *data, size_t len)
{
    const unsigned char *p = data;
    struct sip s = {
        .v0 = key->k0 ^ 0x736f6d6570736575ULL,
        .v1 = key->k1 ^ 0x646f72616e646f6dULL,
        .v2 = key->k0 ^ 0x6c7967656e657261ULL,
        .v3 = key->k1 ^ 0x7465646279746573ULL,
    };
    size_t full = len & ~(size_t)7;
    uint64_t last = (uint64_t)(len & 0xFFu) << 56;

    for (size_t i = 0; i < full; i += 8)
        sip_absorb(&s, load_le64(p + i));
    for (size_t i = 0; i < (len & 7u); i++)
        last |= (uint64_t)p[full + i] << (8u * i);
    sip_absorb(&s, last);
    s.v2 ^= 0xFF;
    for (int i = 0; i < 4; i++)
        sip_round(&s);
    return s.v0 ^ s.v1 ^ s.v2 ^ s.v3;
}

void iha_sipkey_random(struct iha_sipkey *key)
{
    unsigned char b[16];
    ssize_t got = getrandom(b, sizeof(b), GRND_NONBLOCK);

    if (got != (ssize_t)sizeof(b)) {
        /* Early boot without entropy: a weak but varying key beats a fixed one. */
        struct timespec ts;
        uint64_t x;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        x = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 32) ^ (uint64_t)getpid() ^
            (uint64_t)(uintptr_t)b;
        for (unsigned i = 0; i < sizeof(b); i++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            b[i] = (unsigned char)x;
        }
    }
    key->k0 = load_le64(b);
    key->k1 = load_le64(b + 8);
}
