/* SPDX-License-Identifier: Apache-2.0 */
/** @file auth_verifier.c @brief Password verifications on their own thread, budgeted per client. */
#include "auth_verifier.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"

/* Clients remembered at once; more than the queue, so one with a queued job is never evicted. */
#define CLIENTS (2 * IHA_AUTH_VERIFIER_QUEUE)
#define CLIENT_MAX 64 /* an IPv6 address in text is at most 45 bytes */

struct client {
    char addr[CLIENT_MAX];
    double tokens;
    uint64_t refill_ms; /* monotonic time the tokens were last topped up */
    uint64_t used_ms;   /* for eviction: least recently used first */
    unsigned queued;
};

struct node {
    struct iha_auth_job *job;
    iha_auth_done_fn done;
    void *cls;
    struct client *client;
    struct node *next;
};

struct iha_auth_verifier {
    pthread_t thread;
    pthread_mutex_t lock; /* everything below */
    pthread_cond_t cond;
    struct node *head, *tail;
    size_t pending; /* queued + running */
    bool stopping;  /* the thread is to end; nothing more is queued */
    bool stopped;   /* iha_auth_verifier_stop() ran */
    struct client clients[CLIENTS];
};

/* Under v->lock. The client's slot, taking over the least recently used idle one. */
static struct client *client_get(struct iha_auth_verifier *v, const char *addr, uint64_t now)
{
    struct client *victim = NULL;

    for (size_t i = 0; i < CLIENTS; i++) {
        struct client *c = &v->clients[i];
        if (c->addr[0] && strcmp(c->addr, addr) == 0)
            return c;
        if (c->queued == 0 && (!victim || c->used_ms < victim->used_ms))
            victim = c;
    }
    if (!victim)
        return NULL;
    /* A client seen again after eviction starts with a full budget: more, never less. */
    snprintf(victim->addr, sizeof(victim->addr), "%s", addr[0] ? addr : "-");
    victim->tokens = IHA_AUTH_VERIFIER_BURST;
    victim->refill_ms = now;
    victim->used_ms = now;
    victim->queued = 0;
    return victim;
}

/* Under v->lock. Tops up the bucket for the time passed and takes one token if there is one. */
static bool client_take(struct client *c, uint64_t now)
{
    c->tokens += (double)(now - c->refill_ms) * IHA_AUTH_VERIFIER_RATE / 1000.0;
    if (c->tokens > IHA_AUTH_VERIFIER_BURST)
        c->tokens = IHA_AUTH_VERIFIER_BURST;
    c->refill_ms = now;
    c->used_ms = now;
    if (c->tokens < 1.0 || c->queued >= IHA_AUTH_VERIFIER_PER_CLIENT)
        return false;
    c->tokens -= 1.0;
    return true;
}

static void *worker(void *arg)
{
    struct iha_auth_verifier *v = arg;
    struct node *n;

    pthread_mutex_lock(&v->lock);
    for (;;) {
        while (!v->head && !v->stopping)
            pthread_cond_wait(&v->cond, &v->lock);
        if (v->stopping)
            break;
        n = v->head;
        v->head = n->next;
        if (!v->head)
            v->tail = NULL;
        pthread_mutex_unlock(&v->lock);

        iha_auth_job_run(n->job);
        n->done(n->cls, n->job);

        pthread_mutex_lock(&v->lock);
        n->client->queued--;
        v->pending--;
        free(n);
    }
    pthread_mutex_unlock(&v->lock);
    return NULL;
}

enum iha_rc iha_auth_verifier_new(struct iha_auth_verifier **out)
{
    struct iha_auth_verifier *v;

    *out = NULL;
    v = calloc(1, sizeof(*v));
    if (!v)
        return IHA_E_NOMEM;
    if (pthread_mutex_init(&v->lock, NULL) != 0) {
        free(v);
        return IHA_E_NOMEM;
    }
    if (pthread_cond_init(&v->cond, NULL) != 0) {
        pthread_mutex_destroy(&v->lock);
        free(v);
        return IHA_E_NOMEM;
    }
    if (pthread_create(&v->thread, NULL, worker, v) != 0) {
        pthread_cond_destroy(&v->cond);
        pthread_mutex_destroy(&v->lock);
        free(v);
        return IHA_E_NOMEM;
    }
    *out = v;
    return IHA_OK;
}

enum iha_rc iha_auth_verifier_submit(struct iha_auth_verifier *v, const char *client,
                                     struct iha_auth_job *job, iha_auth_done_fn done, void *cls)
{
    struct node *n = calloc(1, sizeof(*n));
    struct client *c;
    uint64_t now = iha_clock_ms();
    enum iha_rc rc = IHA_E_LIMIT;

    if (!n)
        return IHA_E_LIMIT; /* busy, as a full queue is: the sender retries */
    pthread_mutex_lock(&v->lock);
    if (v->stopping || v->pending >= IHA_AUTH_VERIFIER_QUEUE)
        goto unlock;
    c = client_get(v, client ? client : "", now);
    if (!c || !client_take(c, now))
        goto unlock;
    n->job = job;
    n->done = done;
    n->cls = cls;
    n->client = c;
    c->queued++;
    v->pending++;
    if (v->tail)
        v->tail->next = n;
    else
        v->head = n;
    v->tail = n;
    n = NULL;
    rc = IHA_OK;
    pthread_cond_signal(&v->cond);
unlock:
    pthread_mutex_unlock(&v->lock);
    free(n);
    return rc;
}

size_t iha_auth_verifier_pending(struct iha_auth_verifier *v)
{
    size_t n;

    pthread_mutex_lock(&v->lock);
    n = v->pending;
    pthread_mutex_unlock(&v->lock);
    return n;
}

void iha_auth_verifier_stop(struct iha_auth_verifier *v)
{
    struct node *n, *next;
    bool joined;

    if (!v)
        return;
    pthread_mutex_lock(&v->lock);
    joined = v->stopped;
    v->stopping = true;
    v->stopped = true;
    pthread_cond_signal(&v->cond);
    pthread_mutex_unlock(&v->lock);
    if (joined)
        return;
    pthread_join(v->thread, NULL);
    /* Nothing is queued after stopping is set: the list is ours alone now. */
    pthread_mutex_lock(&v->lock);
    n = v->head;
    v->head = v->tail = NULL;
    pthread_mutex_unlock(&v->lock);
    for (; n; n = next) {
        next = n->next;
        n->done(n->cls, n->job);
        pthread_mutex_lock(&v->lock);
        n->client->queued--;
        v->pending--;
        pthread_mutex_unlock(&v->lock);
        free(n);
    }
}

void iha_auth_verifier_free(struct iha_auth_verifier *v)
{
    if (!v)
        return;
    iha_auth_verifier_stop(v);
    pthread_cond_destroy(&v->cond);
    pthread_mutex_destroy(&v->lock);
    free(v);
}
