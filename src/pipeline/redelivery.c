/* SPDX-License-Identifier: Apache-2.0 */
/** @file redelivery.c @brief Answers remembered per record id (see redelivery.h). */
#include "redelivery.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct entry {
    uint64_t hash; /* compared before the string: most probes miss */
    char *id;
    unsigned status;
    json_t *record; /* the record answered: only the same record gets the answer again */
    json_t *body;
    time_t at;
};

/*
 * A ring in arrival order. Lookups scan it newest first: Nagios-family senders send a few
 * notifications a minute, so a linear scan of at most max_entries hashes is cheaper than
 * keeping a second index consistent with the ring.
 */
struct iha_redelivery {
    pthread_mutex_t lock;
    struct entry *ring;
    size_t cap;
    size_t head; /* next slot to write */
    size_t n;
    unsigned ttl_s;
};

/* What the wrapped reply needs once the pipeline answers. */
struct wrap {
    struct iha_redelivery *rd;
    iha_redelivery_reply_fn reply;
    void *cls;
    time_t at; /* when the request arrived: the ttl counts from there (tests pass their clock) */
    json_t *record;
    char id[IHA_REDELIVERY_ID_MAX + 1];
};

static uint64_t fnv1a(const char *s)
{
    uint64_t h = 1469598103934665603ULL;

    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ULL;
    }
    return h;
}

static void entry_clear(struct entry *e)
{
    free(e->id);
    json_decref(e->record);
    json_decref(e->body);
    memset(e, 0, sizeof(*e));
}

struct iha_redelivery *iha_redelivery_new(size_t max_entries, unsigned ttl_s)
{
    struct iha_redelivery *rd;

    if (max_entries == 0)
        return NULL;
    rd = calloc(1, sizeof(*rd));
    if (!rd)
        return NULL;
    rd->ring = calloc(max_entries, sizeof(*rd->ring));
    if (!rd->ring || pthread_mutex_init(&rd->lock, NULL) != 0) {
        free(rd->ring);
        free(rd);
        return NULL;
    }
    rd->cap = max_entries;
    rd->ttl_s = ttl_s;
    return rd;
}

void iha_redelivery_free(struct iha_redelivery *rd)
{
    if (!rd)
        return;
    for (size_t i = 0; i < rd->cap; i++)
        entry_clear(&rd->ring[i]);
    free(rd->ring);
    pthread_mutex_destroy(&rd->lock);
    free(rd);
}

/*
 * @return a new reference to the remembered answer for @p record, or NULL; @p *different is
 * set when the id is remembered for a record with other content. Caller holds the lock.
 */
static json_t *lookup(struct iha_redelivery *rd, const char *id, const json_t *record, time_t now,
                      unsigned *status, bool *different)
{
    uint64_t h = fnv1a(id);

    for (size_t k = 0; k < rd->n; k++) {
        struct entry *e = &rd->ring[(rd->head + rd->cap - 1 - k) % rd->cap];
        if (e->hash != h || strcmp(e->id, id) != 0)
            continue;
        /* Newest first, so an expired entry means older ones are forgotten too. */
        if (now - e->at >= (time_t)rd->ttl_s || now < e->at)
            return NULL;
        if (!json_equal(e->record, record)) {
            *different = true;
            continue;
        }
        *status = e->status;
        return json_deep_copy(e->body);
    }
    return NULL;
}

static void remember(struct iha_redelivery *rd, const char *id, json_t *record, unsigned status,
                     const json_t *body, time_t now)
{
    struct entry e = {0};

    e.id = strdup(id);
    e.record = record;
    e.body = json_deep_copy(body);
    if (!e.id || !e.body) {
        /* Out of memory: the record will simply be processed again if re-sent. */
        entry_clear(&e);
        return;
    }
    e.hash = fnv1a(id);
    e.status = status;
    e.at = now;
    pthread_mutex_lock(&rd->lock);
    entry_clear(&rd->ring[rd->head]); /* the oldest when full, else an empty slot */
    rd->ring[rd->head] = e;
    rd->head = (rd->head + 1) % rd->cap;
    if (rd->n < rd->cap)
        rd->n++;
    pthread_mutex_unlock(&rd->lock);
}

static void wrapped_reply(void *cls, unsigned status, json_t *body)
{
    struct wrap *w = cls;

    if (status >= 200 && status < 300 && body)
        remember(w->rd, w->id, json_incref(w->record), status, body, w->at);
    json_decref(w->record);
    w->reply(w->cls, status, body);
    free(w);
}

enum iha_rc iha_redelivery_begin(struct iha_redelivery *rd, const json_t *body, time_t now,
                                 iha_redelivery_reply_fn *reply, void **cls,
                                 enum iha_redelivery_outcome *outcome)
{
    const char *id = json_string_value(json_object_get(body, "record_id"));
    json_t *answer;
    unsigned status = 0;
    struct wrap *w;
    bool different = false;

    *outcome = IHA_REDELIVERY_NEW;
    if (!rd || !id || !*id || strlen(id) > IHA_REDELIVERY_ID_MAX)
        return IHA_OK;
    pthread_mutex_lock(&rd->lock);
    answer = lookup(rd, id, body, now, &status, &different);
    pthread_mutex_unlock(&rd->lock);
    if (answer) {
        json_object_set_new(answer, "replayed", json_true());
        *outcome = IHA_REDELIVERY_REPLAYED;
        (*reply)(*cls, status, answer);
        return IHA_OK;
    }
    w = calloc(1, sizeof(*w));
    if (w)
        w->record = json_deep_copy(body);
    if (!w || !w->record) {
        free(w);
        return IHA_E_NOMEM;
    }
    if (different)
        *outcome = IHA_REDELIVERY_DIFFERENT;
    w->rd = rd;
    w->reply = *reply;
    w->cls = *cls;
    w->at = now;
    memcpy(w->id, id, strlen(id) + 1);
    *reply = wrapped_reply;
    *cls = w;
    return IHA_OK;
}

void iha_redelivery_cancel(iha_redelivery_reply_fn reply, void *cls)
{
    if (reply == wrapped_reply) {
        json_decref(((struct wrap *)cls)->record);
        free(cls);
    }
}

size_t iha_redelivery_size(struct iha_redelivery *rd)
{
    size_t n;

    pthread_mutex_lock(&rd->lock);
    n = rd->n;
    pthread_mutex_unlock(&rd->lock);
    return n;
}
