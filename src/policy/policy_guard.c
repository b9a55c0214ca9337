/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file policy_guard.c
 * @brief The sliding window of failed hosts, the storm guard's condition and flap
 *        damping.
 *
 * Apart from the decisions because this is the part whose numbers an operator tunes:
 * what counts as a failed host, when a share of a domain is too much, what is a flap.
 */
#include "policy_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void iha_policy_count_failure(struct host *h, uint64_t seq, uint64_t at_ms)
{
    if (h->counted && h->counted_ms > at_ms)
        return; /* a later failure is counted already (a recovered, older notification) */
    h->prev_counted = h->counted;
    h->prev_counted_ms = h->counted_ms;
    h->counted = true;
    h->counted_ms = at_ms;
    h->counted_seq = seq;
}

void iha_policy_uncount_failure(struct host *h, uint64_t seq)
{
    if (!h->counted || h->counted_seq != seq)
        return;
    h->counted = h->prev_counted;
    h->counted_ms = h->prev_counted_ms;
    h->counted_seq = 0;
    h->prev_counted = false;
}

static bool in_window(const struct iha_policy *p, const struct host *h, uint64_t now_ms)
{
    return h->counted && h->counted_ms + p->cfg.window_ms > now_ms;
}

static int by_domain(const void *a, const void *b)
{
    const struct host *const *x = a, *const *y = b;

    return strcmp((*x)->domain, (*y)->domain);
}

/* The most-failed share of a domain that passes the threshold, into @p t. */
static void domain_eval(const struct iha_policy *p, struct host **in, size_t n, struct trip *t)
{
    size_t i = 0;

    qsort(in, n, sizeof(*in), by_domain);
    while (i < n) {
        size_t j = i;
        unsigned size = 0;

        while (j < n && strcmp(in[j]->domain, in[i]->domain) == 0) {
            if (in[j]->domain_size > size)
                size = in[j]->domain_size;
            j++;
        }
        if (in[i]->domain[0] && size > 0 && j - i >= p->cfg.domain_min_hosts &&
            (unsigned long long)(j - i) * 100 > (unsigned long long)p->cfg.domain_percent * size &&
            (!t->by_domain || j - i > t->domain_failed)) {
            t->tripped = true;
            t->by_domain = true;
            snprintf(t->domain, sizeof(t->domain), "%s", in[i]->domain);
            t->domain_failed = j - i;
            t->domain_size = size;
        }
        i = j;
    }
}

bool iha_policy_guard_eval(struct iha_policy *p, uint64_t now_ms)
{
    struct trip t = {0};
    struct host **in = NULL;
    size_t n = 0, cap = 0;

    for (struct host *h = p->host_list; h; h = h->next) {
        if (!in_window(p, h, now_ms))
            continue;
        t.hosts++;
        if (p->cfg.domain_percent == 0 || !h->domain[0])
            continue;
        if (n == cap) {
            size_t ncap = cap ? cap * 2 : 64;
            struct host **g = realloc(in, ncap * sizeof(*g));
            if (!g)
                continue; /* counted without its domain; the absolute bound still holds */
            in = g;
            cap = ncap;
        }
        in[n++] = h;
    }
    if (p->cfg.max_hosts > 0 && t.hosts > p->cfg.max_hosts)
        t.tripped = true;
    if (n > 0)
        domain_eval(p, in, n, &t);
    free(in);
    p->trip = t;
    return t.tripped;
}

uint64_t iha_policy_window_next(const struct iha_policy *p, uint64_t now_ms)
{
    uint64_t next = UINT64_MAX;

    for (const struct host *h = p->host_list; h; h = h->next)
        if (in_window(p, h, now_ms) && h->counted_ms + p->cfg.window_ms < next)
            next = h->counted_ms + p->cfg.window_ms;
    return next;
}

void iha_policy_flap_note(struct iha_policy *p, struct host *h, uint64_t now_ms)
{
    (void)p;
    if (!h->firing)
        return; /* a resolve without a fire before it is not a flap */
    h->firing = false;
    h->resolves[h->n_resolves % FLAP_RING] = now_ms;
    h->n_resolves++;
}

static unsigned flap_count(const struct iha_policy *p)
{
    return p->cfg.flap_count > FLAP_RING ? FLAP_RING : p->cfg.flap_count;
}

bool iha_policy_flapping(const struct iha_policy *p, const struct host *h, uint64_t now_ms)
{
    unsigned need = flap_count(p), seen = 0;
    unsigned kept = h->n_resolves < FLAP_RING ? h->n_resolves : FLAP_RING;

    if (need == 0)
        return false;
    for (unsigned i = 0; i < kept; i++)
        if (h->resolves[i] + p->cfg.flap_window_ms > now_ms)
            seen++;
    return seen >= need;
}

bool iha_policy_host_needed(const struct iha_policy *p, const struct host *h, uint64_t now_ms)
{
    unsigned kept = h->n_resolves < FLAP_RING ? h->n_resolves : FLAP_RING;

    if (h->refs > 0 || in_window(p, h, now_ms))
        return true;
    /* A failure from before the resolve may still be on its way to admission. */
    if (h->resolved && h->resolved_ms + p->cfg.settle_ms + 60000 > now_ms)
        return true;
    for (unsigned i = 0; i < kept; i++)
        if (h->resolves[i] + p->cfg.flap_window_ms > now_ms)
            return true;
    return false;
}
