/* SPDX-License-Identifier: Apache-2.0 */
/** @file events.c @brief A bounded ring of recent alert outcomes. */
#include "events.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "notification.h"

struct iha_events {
    pthread_mutex_t lock;
    json_t **ring;
    size_t capacity;
    size_t head; /* next slot to write */
    size_t count;
};

struct iha_events *iha_events_new(size_t capacity)
{
    struct iha_events *ev;

    if (capacity == 0)
        return NULL;
    ev = calloc(1, sizeof(*ev));
    if (!ev)
        return NULL;
    ev->ring = calloc(capacity, sizeof(*ev->ring));
    if (!ev->ring || pthread_mutex_init(&ev->lock, NULL) != 0) {
        free(ev->ring);
        free(ev);
        return NULL;
    }
    ev->capacity = capacity;
    return ev;
}

void iha_events_free(struct iha_events *ev)
{
    if (!ev)
        return;
    for (size_t i = 0; i < ev->capacity; i++)
        json_decref(ev->ring[i]);
    free(ev->ring);
    pthread_mutex_destroy(&ev->lock);
    free(ev);
}

void iha_events_add_steal(struct iha_events *ev, json_t *event)
{
    char now[IHA_TIME_LEN];

    if (!ev || !json_is_object(event)) {
        json_decref(event);
        return;
    }
    if (!json_object_get(event, "time")) {
        iha_time_format(time(NULL), now);
        json_object_set_new(event, "time", json_string(now));
    }
    pthread_mutex_lock(&ev->lock);
    json_decref(ev->ring[ev->head]);
    ev->ring[ev->head] = event;
    ev->head = (ev->head + 1) % ev->capacity;
    if (ev->count < ev->capacity)
        ev->count++;
    pthread_mutex_unlock(&ev->lock);
}

/* Index of the i-th newest event (0 = newest). */
static size_t nth_newest(const struct iha_events *ev, size_t i)
{
    return (ev->head + ev->capacity - 1 - i) % ev->capacity;
}

void iha_events_attempt_steal(struct iha_events *ev, const char *id, json_t *attempt,
                              const char *result)
{
    if (!ev || !id || !*id) {
        json_decref(attempt);
        return;
    }
    pthread_mutex_lock(&ev->lock);
    for (size_t i = 0; i < ev->count; i++) {
        json_t *e = ev->ring[nth_newest(ev, i)];
        const char *eid = json_string_value(json_object_get(e, "id"));
        json_t *list;

        if (!eid || strcmp(eid, id) != 0)
            continue;
        list = json_object_get(e, "attempts");
        if (!json_is_array(list)) {
            list = json_array();
            json_object_set_new(e, "attempts", list);
        }
        if (attempt) {
            json_array_append_new(list, attempt);
            attempt = NULL;
        }
        if (result)
            json_object_set_new(e, "result", json_string(result));
        break;
    }
    pthread_mutex_unlock(&ev->lock);
    json_decref(attempt);
}

void iha_events_update(struct iha_events *ev, const char *id, const json_t *fields)
{
    const char *k;
    json_t *v;

    if (!ev || !id || !*id || !json_is_object(fields))
        return;
    pthread_mutex_lock(&ev->lock);
    for (size_t i = 0; i < ev->count; i++) {
        json_t *e = ev->ring[nth_newest(ev, i)];
        const char *eid = json_string_value(json_object_get(e, "id"));

        if (!eid || strcmp(eid, id) != 0)
            continue;
        json_object_foreach((json_t *)fields, k, v)
        {
            json_object_set_new(e, k, json_deep_copy(v));
        }
        break;
    }
    pthread_mutex_unlock(&ev->lock);
}

json_t *iha_events_list(struct iha_events *ev, const char *hostname, size_t limit)
{
    json_t *out = json_array();

    if (!out || !ev)
        return out;
    pthread_mutex_lock(&ev->lock);
    for (size_t i = 0; i < ev->count && json_array_size(out) < limit; i++) {
        json_t *e = ev->ring[nth_newest(ev, i)];
        const char *h = json_string_value(json_object_get(e, "hostname"));

        if (hostname && *hostname && (!h || strcmp(h, hostname) != 0))
            continue;
        json_array_append_new(out, json_deep_copy(e));
    }
    pthread_mutex_unlock(&ev->lock);
    return out;
}
