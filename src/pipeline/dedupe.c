/* SPDX-License-Identifier: Apache-2.0 */
/** @file dedupe.c @brief Seeded hash table of recent notification keys with bounded expiry. */
#include "dedupe.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "siphash.h"

/* Failed keys are kept at least this long: Instance HA expires notifications after 24 h. */
#define FAILED_KEEP_MS (86400ull * 1000u)
/* An in-flight key nobody ended within this long was abandoned by a bug; let it go. */
#define INFLIGHT_KEEP_MS (86400ull * 1000u)
/* Entries examined per list and call by the expiry sweep. */
#define SWEEP_MAX 16
/* Keys longer than this are refused; real keys are a few hundred bytes. */
#define KEY_MAX (64u * 1024u)

enum state { ST_INFLIGHT, ST_DELIVERED, ST_FAILED, ST_COUNT };

struct entry {
    struct entry *chain;       /* next in the hash bucket */
    struct entry *prev, *next; /* in the list of its state, oldest first */
    enum state state;
    uint64_t first_seen; /* when the key was first begun (monotonic ms) */
    uint64_t since;      /* when it entered its state (monotonic ms) */
    char generated_time[IHA_TIME_LEN];
    uint64_t hash;
    size_t key_len;
    char key[];
};

struct list {
    struct entry *head, *tail;
};

struct iha_dedupe {
    pthread_mutex_t lock;
    uint64_t window_ms;
    size_t max_entries;
    size_t count;
    size_t nbuckets; /* power of two */
    struct entry **buckets;
    struct list lists[ST_COUNT];
    struct iha_sipkey sipkey;
};

/* ---- lists and table ---- */

static void list_unlink(struct list *l, struct entry *e)
{
    if (e->prev)
        e->prev->next = e->next;
    else
        l->head = e->next;
    if (e->next)
        e->next->prev = e->prev;
    else
        l->tail = e->prev;
    e->prev = e->next = NULL;
}

static void list_append(struct list *l, struct entry *e)
{
    e->next = NULL;
    e->prev = l->tail;
    if (l->tail)
        l->tail->next = e;
    else
        l->head = e;
    l->tail = e;
}

static void set_state(struct iha_dedupe *d, struct entry *e, enum state st, uint64_t now)
{
    list_unlink(&d->lists[e->state], e);
    e->state = st;
    e->since = now;
    list_append(&d->lists[st], e);
}

static struct entry *lookup(struct iha_dedupe *d, const char *key, size_t len, uint64_t h)
{
    for (struct entry *e = d->buckets[h & (d->nbuckets - 1)]; e; e = e->chain)
        if (e->hash == h && e->key_len == len && memcmp(e->key, key, len) == 0)
            return e;
    return NULL;
}

static void remove_entry(struct iha_dedupe *d, struct entry *e)
{
    struct entry **pp = &d->buckets[e->hash & (d->nbuckets - 1)];

    while (*pp && *pp != e)
        pp = &(*pp)->chain;
    if (*pp)
        *pp = e->chain;
    list_unlink(&d->lists[e->state], e);
    d->count--;
    free(e);
}

static uint64_t keep_for(const struct iha_dedupe *d, enum state st)
{
    switch (st) {
    case ST_DELIVERED:
        return d->window_ms;
    case ST_FAILED:
        return d->window_ms > FAILED_KEEP_MS ? d->window_ms : FAILED_KEEP_MS;
    case ST_INFLIGHT:
    case ST_COUNT:
        break;
    }
    return INFLIGHT_KEEP_MS;
}

/* Time spent in its state; a @p now read just before another thread's end counts as 0. */
static uint64_t age(const struct entry *e, uint64_t now)
{
    return now > e->since ? now - e->since : 0;
}

static bool expired(const struct iha_dedupe *d, const struct entry *e, uint64_t now)
{
    return age(e, now) >= keep_for(d, e->state);
}

/* Bounded work: each list is ordered by entry time, so expired entries sit at its head. */
static void sweep(struct iha_dedupe *d, uint64_t now)
{
    for (int st = 0; st < ST_COUNT; st++) {
        struct entry *e = d->lists[st].head, *next;

        /* next is read before e is freed: the walk never touches a freed entry. */
        for (int i = 0; i < SWEEP_MAX && e && expired(d, e, now); i++, e = next) {
            next = e->next;
            remove_entry(d, e);
        }
    }
}

/* Frees one slot: the oldest expired entry, else the oldest delivered, else the oldest failed. */
static bool evict_one(struct iha_dedupe *d, uint64_t now)
{
    static const enum state order[] = {ST_DELIVERED, ST_FAILED};

    for (int st = 0; st < ST_COUNT; st++) {
        struct entry *e = d->lists[st].head;
        if (e && expired(d, e, now)) {
            remove_entry(d, e);
            return true;
        }
    }
    for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
        struct entry *e = d->lists[order[i]].head;
        if (e) {
            remove_entry(d, e);
            return true;
        }
    }
    return false;
}

struct iha_dedupe *iha_dedupe_new(unsigned window_s, size_t max_entries)
{
    struct iha_dedupe *d = calloc(1, sizeof(*d));
    size_t nb = 16;

    if (!d)
        return NULL;
    if (max_entries == 0)
        max_entries = 1;
    while (nb < max_entries && nb < ((size_t)1 << 30))
        nb <<= 1;
    d->buckets = calloc(nb, sizeof(*d->buckets));
    if (!d->buckets || pthread_mutex_init(&d->lock, NULL) != 0) {
        free(d->buckets);
        free(d);
        return NULL;
    }
    d->nbuckets = nb;
    d->window_ms = (uint64_t)window_s * 1000u;
    d->max_entries = max_entries;
    iha_sipkey_random(&d->sipkey);
    return d;
}

void iha_dedupe_free(struct iha_dedupe *d)
{
    if (!d)
        return;
    for (int st = 0; st < ST_COUNT; st++) {
        struct entry *e = d->lists[st].head;
        while (e) {
            struct entry *next = e->next;
            free(e);
            e = next;
        }
    }
    free(d->buckets);
    pthread_mutex_destroy(&d->lock);
    free(d);
}

/* Chooses the time to send for a key that is (re)starting; see the header. */
static void pick_time(struct entry *e, bool remembered, time_t wall,
                      char generated_time[IHA_TIME_LEN])
{
    if (generated_time[0] != '\0') {
        memcpy(e->generated_time, generated_time, IHA_TIME_LEN);
        e->generated_time[IHA_TIME_LEN - 1] = '\0';
        return;
    }
    if (!remembered || e->generated_time[0] == '\0')
        iha_time_format(wall, e->generated_time);
    memcpy(generated_time, e->generated_time, IHA_TIME_LEN);
}

enum iha_rc iha_dedupe_begin(struct iha_dedupe *d, const char *key, uint64_t now, time_t wall,
                             char generated_time[IHA_TIME_LEN], enum iha_dedupe_verdict *verdict)
{
    size_t len = strlen(key);
    uint64_t h;
    struct entry *e;
    enum iha_rc rc = IHA_OK;

    if (len > KEY_MAX)
        return IHA_E_LIMIT;
    h = iha_siphash(&d->sipkey, key, len);

    pthread_mutex_lock(&d->lock);
    sweep(d, now);
    e = lookup(d, key, len, h);
    if (e) {
        switch (e->state) {
        case ST_INFLIGHT:
            *verdict = IHA_DEDUPE_INFLIGHT;
            break;
        case ST_DELIVERED:
            if (age(e, now) < d->window_ms) {
                *verdict = IHA_DEDUPE_DUPLICATE;
                break;
            }
            /* Window over: a new notification with a new generated_time. */
            e->first_seen = now;
            pick_time(e, false, wall, generated_time);
            set_state(d, e, ST_INFLIGHT, now);
            *verdict = IHA_DEDUPE_NEW;
            break;
        case ST_FAILED:
        case ST_COUNT:
            pick_time(e, !expired(d, e, now), wall, generated_time);
            set_state(d, e, ST_INFLIGHT, now);
            *verdict = IHA_DEDUPE_NEW;
            break;
        }
        goto out;
    }

    if (d->count >= d->max_entries && !evict_one(d, now)) {
        rc = IHA_E_LIMIT;
        goto out;
    }
    e = calloc(1, sizeof(*e) + len + 1);
    if (!e) {
        rc = IHA_E_NOMEM;
        goto out;
    }
    memcpy(e->key, key, len + 1);
    e->key_len = len;
    e->hash = h;
    e->state = ST_INFLIGHT;
    e->first_seen = e->since = now;
    pick_time(e, false, wall, generated_time);
    e->chain = d->buckets[h & (d->nbuckets - 1)];
    d->buckets[h & (d->nbuckets - 1)] = e;
    list_append(&d->lists[ST_INFLIGHT], e);
    d->count++;
    *verdict = IHA_DEDUPE_NEW;
out:
    pthread_mutex_unlock(&d->lock);
    return rc;
}

void iha_dedupe_end(struct iha_dedupe *d, const char *key, uint64_t now, bool delivered)
{
    size_t len = strlen(key);
    struct entry *e;

    if (len > KEY_MAX)
        return;
    pthread_mutex_lock(&d->lock);
    e = lookup(d, key, len, iha_siphash(&d->sipkey, key, len));
    if (e)
        set_state(d, e, delivered ? ST_DELIVERED : ST_FAILED, now);
    pthread_mutex_unlock(&d->lock);
}

size_t iha_dedupe_size(struct iha_dedupe *d)
{
    size_t n;

    pthread_mutex_lock(&d->lock);
    n = d->count;
    pthread_mutex_unlock(&d->lock);
    return n;
}
