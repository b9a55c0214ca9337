/* SPDX-License-Identifier: Apache-2.0 */
/** @file conn_guard.c @brief Deadlines and caps for untrusted connections (see conn_guard.h). */
#include "conn_guard.h"

#include <netinet/in.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

struct iha_conn_slot {
    struct iha_conn_guard *guard;
    int fd;
    struct sockaddr_storage addr;
    uint64_t armed_ms; /* start of the current untrusted request */
    bool untrusted;    /* on the list below */
    bool evicted;      /* shut down: waits for libmicrohttpd to close it */
    struct iha_conn_slot *prev, *next;
};

struct iha_conn_guard {
    struct iha_conn_guard_limits lim;
    void *owner;
    /* Untrusted slots, oldest request first: eviction takes from the head. */
    struct iha_conn_slot *head, *tail;
    size_t n_untrusted;
    /* Every slot (trusted ones too), so that free() can release them all. */
    struct iha_conn_slot **all;
    size_t n_all, cap_all;
};

enum iha_rc iha_conn_guard_new(const struct iha_conn_guard_limits *limits, void *owner,
                               struct iha_conn_guard **out)
{
    struct iha_conn_guard *g = calloc(1, sizeof(*g));

    *out = NULL;
    if (!g)
        return IHA_E_NOMEM;
    g->lim = *limits;
    g->owner = owner;
    *out = g;
    return IHA_OK;
}

void iha_conn_guard_free(struct iha_conn_guard *g)
{
    if (!g)
        return;
    for (size_t i = 0; i < g->n_all; i++)
        free(g->all[i]);
    free(g->all);
    free(g);
}

static void unlink_slot(struct iha_conn_guard *g, struct iha_conn_slot *s)
{
    if (!s->untrusted)
        return;
    if (s->prev)
        s->prev->next = s->next;
    else
        g->head = s->next;
    if (s->next)
        s->next->prev = s->prev;
    else
        g->tail = s->prev;
    s->prev = s->next = NULL;
    s->untrusted = false;
    g->n_untrusted--;
}

static void append_slot(struct iha_conn_guard *g, struct iha_conn_slot *s)
{
    s->prev = g->tail;
    s->next = NULL;
    if (g->tail)
        g->tail->next = s;
    else
        g->head = s;
    g->tail = s;
    s->untrusted = true;
    g->n_untrusted++;
}

/* The client address without its port: connections of one client share it. */
static bool same_addr(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
    if (a->ss_family != b->ss_family)
        return false;
    if (a->ss_family == AF_INET)
        return ((const struct sockaddr_in *)a)->sin_addr.s_addr ==
               ((const struct sockaddr_in *)b)->sin_addr.s_addr;
    if (a->ss_family == AF_INET6)
        return memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr,
                      &((const struct sockaddr_in6 *)b)->sin6_addr, sizeof(struct in6_addr)) == 0;
    return true; /* another family: one bucket */
}

static void evict(struct iha_conn_guard *g, struct iha_conn_slot *s)
{
    unlink_slot(g, s);
    s->evicted = true;
    /* The result does not matter: a socket that cannot be shut down is already closing. */
    (void)shutdown(s->fd, SHUT_RDWR);
}

static void evict_expired(struct iha_conn_guard *g, uint64_t now_ms, struct iha_conn_evictions *ev)
{
    while (g->head && now_ms - g->head->armed_ms >= g->lim.deadline_ms) {
        evict(g, g->head);
        ev->deadline++;
    }
}

/* Makes room for one more untrusted connection from @p addr. */
static void evict_over_caps(struct iha_conn_guard *g, const struct sockaddr_storage *addr,
                            struct iha_conn_evictions *ev)
{
    size_t same = 0;
    struct iha_conn_slot *oldest_same = NULL;

    for (struct iha_conn_slot *s = g->head; s; s = s->next)
        if (same_addr(&s->addr, addr)) {
            if (!oldest_same)
                oldest_same = s;
            same++;
        }
    while (oldest_same && same >= g->lim.max_untrusted_per_addr) {
        struct iha_conn_slot *next = oldest_same->next;

        evict(g, oldest_same);
        ev->limit++;
        same--;
        while (next && !same_addr(&next->addr, addr))
            next = next->next;
        oldest_same = next;
    }
    while (g->head && g->n_untrusted >= g->lim.max_untrusted) {
        evict(g, g->head);
        ev->limit++;
    }
}

static bool remember(struct iha_conn_guard *g, struct iha_conn_slot *s)
{
    if (g->n_all == g->cap_all) {
        size_t cap = g->cap_all ? g->cap_all * 2 : 64;
        struct iha_conn_slot **all = realloc(g->all, cap * sizeof(*all));

        if (!all)
            return false;
        g->all = all;
        g->cap_all = cap;
    }
    g->all[g->n_all++] = s;
    return true;
}

struct iha_conn_slot *iha_conn_guard_open(struct iha_conn_guard *g, int fd,
                                          const struct sockaddr *addr, uint64_t now_ms,
                                          struct iha_conn_evictions *ev)
{
    struct iha_conn_slot *s = calloc(1, sizeof(*s));

    memset(ev, 0, sizeof(*ev));
    if (!s)
        return NULL;
    s->guard = g;
    s->fd = fd;
    if (addr) {
        size_t len = addr->sa_family == AF_INET6  ? sizeof(struct sockaddr_in6)
                     : addr->sa_family == AF_INET ? sizeof(struct sockaddr_in)
                                                  : sizeof(struct sockaddr);
        memcpy(&s->addr, addr, len);
    }
    if (!remember(g, s)) {
        free(s);
        return NULL;
    }
    evict_expired(g, now_ms, ev);
    evict_over_caps(g, &s->addr, ev);
    s->armed_ms = now_ms;
    append_slot(g, s);
    return s;
}

void iha_conn_guard_close(struct iha_conn_guard *g, struct iha_conn_slot *s)
{
    if (!s)
        return;
    unlink_slot(g, s);
    for (size_t i = 0; i < g->n_all; i++)
        if (g->all[i] == s) {
            g->all[i] = g->all[--g->n_all];
            break;
        }
    free(s);
}

void iha_conn_guard_trust(struct iha_conn_guard *g, struct iha_conn_slot *s)
{
    if (s)
        unlink_slot(g, s);
}

void iha_conn_guard_rearm(struct iha_conn_guard *g, struct iha_conn_slot *s, uint64_t now_ms)
{
    if (!s || s->evicted)
        return;
    unlink_slot(g, s);
    s->armed_ms = now_ms;
    append_slot(g, s);
}

void *iha_conn_slot_owner(const struct iha_conn_slot *s)
{
    return s ? s->guard->owner : NULL;
}

size_t iha_conn_guard_untrusted(const struct iha_conn_guard *g)
{
    return g->n_untrusted;
}
