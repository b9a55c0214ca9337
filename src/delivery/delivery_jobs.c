/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file delivery_jobs.c
 * @brief The pending jobs and their indexes: by dedupe key, by hostname (per-host
 *        order), due or cancelled.
 *
 * Separate from the thread loop and the HTTP side: this is the bookkeeping every
 * submission and every completion goes through under iha_delivery.lock, and its
 * invariants (a job is due, blocked behind its host, or running; each index O(1) or
 * O(log n)) are easier to check in one place.
 */
#include "delivery_int.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static struct job *job_of_key(struct iha_hnode *n)
{
    return (struct job *)(void *)((char *)n - offsetof(struct job, by_key));
}

static struct host *host_of(struct iha_hnode *n)
{
    return (struct host *)(void *)((char *)n - offsetof(struct host, node));
}

static bool job_key_eq(const struct iha_hnode *node, const void *key, size_t len)
{
    const struct job *j = job_of_key((struct iha_hnode *)(uintptr_t)node);

    return j->key_len == len && memcmp(j->key, key, len) == 0;
}

static bool host_eq(const struct iha_hnode *node, const void *key, size_t len)
{
    const struct host *h = host_of((struct iha_hnode *)(uintptr_t)node);

    return h->len == len && memcmp(h->name, key, len) == 0;
}

const struct iha_hmap_ops iha_delivery_job_key_ops = {.eq = job_key_eq};
const struct iha_hmap_ops iha_delivery_host_ops = {.eq = host_eq};

void iha_delivery_job_free(struct job *j)
{
    struct waiter *w;

    if (!j)
        return;
    while ((w = j->waiters)) {
        j->waiters = w->next;
        free(w);
    }
    iha_notification_clear(&j->n);
    free(j->body);
    free(j->key);
    free(j->resp);
    free(j);
}

struct job *iha_delivery_find_job(struct iha_delivery *d, const char *key, size_t len)
{
    struct iha_hnode *n = iha_hmap_find(d->keys, key, len);

    return n ? job_of_key(n) : NULL;
}

void iha_delivery_queue_cancel(struct iha_delivery *d, struct job *j)
{
    if (j->cancel_queued)
        return;
    iha_delivery_heap_remove(&d->due, &j->due);
    j->cancel_queued = true;
    j->cancel_next = NULL;
    if (d->cancel_tail)
        d->cancel_tail->cancel_next = j;
    else
        d->cancel_head = j;
    d->cancel_tail = j;
}

/* Lock held. Puts @p j where the thread finds it when it is due and may run. */
static void schedule(struct iha_delivery *d, struct job *j)
{
    if (j->state != JOB_DUE || j->blocked || j->due.idx != NOT_IN_HEAP)
        return;
    if (j->cancel)
        iha_delivery_queue_cancel(d, j);
    else
        iha_delivery_heap_push(&d->due, &j->due); /* room reserved at submission */
}

void iha_delivery_make_due(struct iha_delivery *d, struct job *j, uint64_t at)
{
    pthread_mutex_lock(&d->lock);
    j->state = JOB_DUE;
    j->due.at = at;
    schedule(d, j);
    pthread_mutex_unlock(&d->lock);
}

struct host *iha_delivery_get_host(struct iha_delivery *d, const struct iha_notification *n)
{
    size_t len = strlen(n->hostname);
    struct iha_hnode *node = iha_hmap_find(d->hosts, n->hostname, len);
    struct host *h;

    if (node)
        return host_of(node);
    h = calloc(1, sizeof(*h) + len + 1);
    if (!h)
        return NULL;
    memcpy(h->name, n->hostname, len + 1);
    h->len = len;
    return h;
}

void iha_delivery_link_job(struct iha_delivery *d, struct job *j, struct host *h)
{
    j->due.seq = d->seq++;
    iha_hmap_insert(d->keys, &j->by_key, j->key, j->key_len);
    j->prev = d->tail;
    if (d->tail)
        d->tail->next = j;
    else
        d->head = j;
    d->tail = j;
    d->njobs++;
    if (h) {
        if (!h->head)
            iha_hmap_insert(d->hosts, &h->node, h->name, h->len);
        j->host = h;
        j->host_prev = h->tail;
        if (h->tail)
            h->tail->host_next = j;
        else
            h->head = j;
        h->tail = j;
        j->blocked = h->head != j;
        if (j->blocked)
            d->nblocked++;
    }
    schedule(d, j);
}

void iha_delivery_link_waiter(struct iha_delivery *d, struct job *j, struct waiter *w)
{
    w->job = j;
    *j->waiters_tail = w;
    j->waiters_tail = &w->next;
    if (w->notice_ms) {
        w->notice.at = w->notice_ms;
        w->notice.seq = d->seq++;
        iha_delivery_heap_push(&d->notices, &w->notice);
    }
}

/* Lock held. The next ordered job of @p j's hostname may start once @p j is gone. */
static void unlink_host(struct iha_delivery *d, struct job *j)
{
    struct host *h = j->host;

    if (j->host_prev)
        j->host_prev->host_next = j->host_next;
    else
        h->head = j->host_next;
    if (j->host_next)
        j->host_next->host_prev = j->host_prev;
    else
        h->tail = j->host_prev;
    j->host = NULL;
    j->host_prev = j->host_next = NULL;
    if (j->blocked) {
        d->nblocked--;
    } else if (h->head) {
        h->head->blocked = false;
        d->nblocked--;
        schedule(d, h->head);
    }
    if (!h->head) {
        iha_hmap_remove(d->hosts, &h->node);
        free(h);
    }
}

void iha_delivery_unlink_job(struct iha_delivery *d, struct job *j)
{
    iha_hmap_remove(d->keys, &j->by_key);
    iha_delivery_heap_remove(&d->due, &j->due);
    for (struct waiter *w = j->waiters; w; w = w->next)
        iha_delivery_heap_remove(&d->notices, &w->notice);
    if (j->host)
        unlink_host(d, j);
    if (j->prev)
        j->prev->next = j->next;
    else
        d->head = j->next;
    if (j->next)
        j->next->prev = j->prev;
    else
        d->tail = j->prev;
    j->prev = j->next = NULL;
    d->njobs--;
}
