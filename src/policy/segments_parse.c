/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file segments_parse.c
 * @brief The segment snapshot, reading Instance HA's segment and host list pages into it,
 *        and walking the pages of every list through a page getter.
 *
 * Separate from the client because none of it touches the network, a thread or a clock:
 * the unit tests feed it canned pages.
 */
#include "segments_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the snapshot ---- */

static bool host_eq(const struct iha_hnode *node, const void *key, size_t len)
{
    const struct host_entry *h = (const struct host_entry *)node;

    return strlen(h->name) == len && memcmp(h->name, key, len) == 0;
}

static const struct iha_hmap_ops host_ops = {.eq = host_eq};

struct iha_segments_snap *iha_segments_snap_new(void)
{
    struct iha_segments_snap *snap = calloc(1, sizeof(*snap));

    if (!snap)
        return NULL;
    snap->map = iha_hmap_new(&host_ops, 64);
    if (!snap->map) {
        free(snap);
        return NULL;
    }
    return snap;
}

void iha_segments_snap_free(struct iha_segments_snap *snap)
{
    if (!snap)
        return;
    for (size_t i = 0; i < snap->nsegs; i++)
        free(snap->segs[i].name);
    free(snap->segs);
    for (size_t i = 0; i < snap->nhosts; i++)
        free(snap->hosts[i]);
    free(snap->hosts);
    iha_hmap_free(snap->map);
    free(snap);
}

const struct host_entry *iha_segments_snap_find(struct iha_segments_snap *snap,
                                                const char *hostname)
{
    struct iha_hnode *n = iha_hmap_find(snap->map, hostname, strlen(hostname));

    return n ? (const struct host_entry *)n : NULL;
}

/* Makes room for @p more elements of @p size bytes in *@p arr (geometric growth). */
static bool reserve(void **arr, size_t *cap, size_t used, size_t more, size_t size)
{
    size_t want = used + more, ncap = *cap ? *cap : 16;
    void *p;

    /* The first call allocates even for nothing more: the caller may index the array. */
    if (want <= *cap && *arr)
        return true;
    while (ncap < want)
        ncap *= 2;
    p = realloc(*arr, ncap * size);
    if (!p)
        return false;
    *arr = p;
    *cap = ncap;
    return true;
}

/* ---- one page ---- */

/* Parses @p body and returns its root when it holds an array under @p key, else NULL. */
static json_t *load_list(const char *body, size_t len, const char *key, json_t **list,
                         struct iha_err *err)
{
    json_error_t je;
    json_t *root = json_loadb(body, len, 0, &je);

    if (!root) {
        iha_err_set(err, NULL, "the answer is not JSON: %s (line %d, column %d)", je.text, je.line,
                    je.column);
        return NULL;
    }
    *list = json_object_get(root, key);
    if (!json_is_array(*list)) {
        iha_err_set(err, key, "the answer is not a %s list: it has no \"%s\" array", key, key);
        json_decref(root);
        return NULL;
    }
    return root;
}

/* A marker goes into the query string as it is, so it may hold only these. */
static bool marker_char(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-' ||
           c == '_' || c == '.';
}

/* The "id" of @p item as a marker into @p page ("" when it has none that can be sent). */
static void take_marker(const json_t *item, struct iha_segments_page *page)
{
    const json_t *id = json_object_get(item, "id");
    const char *s;

    page->marker[0] = '\0';
    if (json_is_integer(id)) {
        snprintf(page->marker, sizeof(page->marker), "%" JSON_INTEGER_FORMAT,
                 json_integer_value(id));
        return;
    }
    if (!json_is_string(id))
        return;
    s = json_string_value(id);
    if (json_string_length(id) == 0 || json_string_length(id) >= sizeof(page->marker))
        return;
    for (const char *p = s; *p; p++)
        if (!marker_char(*p))
            return;
    memcpy(page->marker, s, json_string_length(id) + 1);
}

/* The string member @p key of @p item, 1..@p max bytes, or NULL with @p err naming it. */
static const char *member(const json_t *item, const char *list, size_t i, const char *key,
                          size_t max, struct iha_err *err)
{
    const json_t *v = json_object_get(item, key);
    char field[64];

    snprintf(field, sizeof(field), "%s[%zu].%s", list, i, key);
    if (!json_is_object(item)) {
        iha_err_set(err, field, "%s[%zu] is not an object", list, i);
        return NULL;
    }
    if (!json_is_string(v) || json_string_length(v) == 0) {
        iha_err_set(err, field, "%s is missing or not a non-empty string", field);
        return NULL;
    }
    if (json_string_length(v) > max || strlen(json_string_value(v)) != json_string_length(v)) {
        iha_err_set(err, field, "%s is longer than %zu bytes or holds a NUL", field, max);
        return NULL;
    }
    return json_string_value(v);
}

/* A uuid goes into the hosts URL as it is, so it may hold only these. */
static bool uuid_ok(const char *s)
{
    for (; *s; s++)
        if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
              *s == '-'))
            return false;
    return true;
}

static enum iha_rc check_segments(const json_t *list, struct iha_err *err)
{
    size_t i;
    const json_t *item;

    json_array_foreach(list, i, item)
    {
        const char *uuid = member(item, "segments", i, "uuid", IHA_SEGMENT_UUID_MAX, err);
        if (!uuid || !member(item, "segments", i, "name", IHA_SEGMENT_NAME_MAX, err))
            return IHA_E_PARSE;
        if (!uuid_ok(uuid)) {
            char field[64];
            snprintf(field, sizeof(field), "segments[%zu].uuid", i);
            iha_err_set(err, field, "%s holds characters other than letters, digits and '-'",
                        field);
            return IHA_E_PARSE;
        }
    }
    return IHA_OK;
}

enum iha_rc iha_segments_parse_segments(struct iha_segments_snap *snap, const char *body,
                                        size_t len, struct iha_segments_page *page,
                                        struct iha_err *err)
{
    json_t *list = NULL, *root, *item;
    enum iha_rc rc;
    size_t i, n, before = snap->nsegs;

    memset(page, 0, sizeof(*page));
    root = load_list(body, len, "segments", &list, err);
    if (!root)
        return IHA_E_PARSE;
    n = json_array_size(list);
    rc = check_segments(list, err);
    if (rc != IHA_OK)
        goto cleanup;
    if (n > SEG_SEGMENTS_MAX - snap->nsegs) {
        iha_err_set(err, "segments", "more than %u segments", SEG_SEGMENTS_MAX);
        rc = IHA_E_LIMIT;
        goto cleanup;
    }
    rc = IHA_E_NOMEM;
    if (!reserve((void **)&snap->segs, &snap->segs_cap, snap->nsegs, n, sizeof(*snap->segs)))
        goto cleanup;
    json_array_foreach(list, i, item)
    {
        struct seg_entry *e;
        const char *uuid = json_string_value(json_object_get(item, "uuid"));

        e = &snap->segs[snap->nsegs];
        memset(e, 0, sizeof(*e));
        e->name = strdup(json_string_value(json_object_get(item, "name")));
        if (!e->name)
            goto cleanup;
        memcpy(e->uuid, uuid, strlen(uuid) + 1);
        snap->nsegs++;
    }
    page->items = n;
    if (n > 0)
        take_marker(json_array_get(list, n - 1), page);
    rc = IHA_OK;
cleanup:
    if (rc != IHA_OK) {
        while (snap->nsegs > before)
            free(snap->segs[--snap->nsegs].name);
        if (rc == IHA_E_NOMEM)
            iha_err_set(err, NULL, "out of memory");
    }
    json_decref(root);
    return rc;
}

/* Maps @p name to segment @p seg unless it is mapped already (the first listing wins). */
static bool map_host(struct iha_segments_snap *snap, size_t seg, const char *name)
{
    size_t len = strlen(name);
    struct host_entry *h;

    if (iha_hmap_find(snap->map, name, len))
        return true;
    if (!reserve((void **)&snap->hosts, &snap->hosts_cap, snap->nhosts, 1, sizeof(*snap->hosts)))
        return false;
    h = calloc(1, sizeof(*h) + len + 1);
    if (!h)
        return false;
    h->seg = seg;
    memcpy(h->name, name, len + 1);
    snap->hosts[snap->nhosts++] = h;
    iha_hmap_insert(snap->map, &h->node, h->name, len);
    return true;
}

enum iha_rc iha_segments_parse_hosts(struct iha_segments_snap *snap, size_t seg, const char *body,
                                     size_t len, struct iha_segments_page *page,
                                     struct iha_err *err)
{
    json_t *list = NULL, *root, *item;
    enum iha_rc rc = IHA_E_PARSE;
    size_t i, n;

    memset(page, 0, sizeof(*page));
    if (seg >= snap->nsegs) {
        iha_err_set(err, NULL, "no segment %zu", seg);
        return IHA_E_INVAL;
    }
    root = load_list(body, len, "hosts", &list, err);
    if (!root)
        return IHA_E_PARSE;
    n = json_array_size(list);
    json_array_foreach(list, i, item)
    {
        if (!member(item, "hosts", i, "name", SEG_HOSTNAME_MAX, err))
            goto cleanup;
    }
    if (n > SEG_HOSTS_MAX - snap->listed) {
        iha_err_set(err, "hosts", "more than %u hosts", SEG_HOSTS_MAX);
        rc = IHA_E_LIMIT;
        goto cleanup;
    }
    json_array_foreach(list, i, item)
    {
        if (!map_host(snap, seg, json_string_value(json_object_get(item, "name")))) {
            iha_err_set(err, NULL, "out of memory");
            rc = IHA_E_NOMEM;
            goto cleanup;
        }
    }
    snap->segs[seg].hosts += (unsigned)n;
    snap->listed += n;
    page->items = n;
    if (n > 0)
        take_marker(json_array_get(list, n - 1), page);
    rc = IHA_OK;
cleanup:
    json_decref(root);
    return rc;
}

/* ---- walking the pages ---- */

/* Puts "GET @p path: " in front of the message of @p err. */
static void prefix_err(struct iha_err *err, const char *path)
{
    char msg[sizeof(err->msg)], field[sizeof(err->field)];

    memcpy(msg, err->msg, sizeof(msg));
    memcpy(field, err->field, sizeof(field));
    iha_err_set(err, field[0] ? field : NULL, "GET %s: %s", path, msg);
}

/*
 * Reads every page of the list at @p base_path: the segments when @p seg is SIZE_MAX,
 * else the hosts of segment @p seg.
 */
static enum iha_rc walk(iha_segments_get_fn get, void *cls, unsigned limit, const char *base_path,
                        struct iha_segments_snap *snap, size_t seg, struct iha_err *err)
{
    char path[512], marker[SEG_MARKER_MAX] = "";
    struct iha_segments_page page;
    struct iha_buf body;
    enum iha_rc rc;
    int n;

    for (;;) {
        n = snprintf(path, sizeof(path), "%s?limit=%u%s%s", base_path, limit,
                     marker[0] ? "&marker=" : "", marker);
        if (n < 0 || (size_t)n >= sizeof(path)) {
            iha_err_set(err, NULL, "the request path for %s is too long", base_path);
            return IHA_E_LIMIT;
        }
        iha_buf_init(&body, 0, SEG_BODY_MAX);
        rc = get(cls, path, &body, err);
        if (rc == IHA_OK) {
            rc = seg == SIZE_MAX
                     ? iha_segments_parse_segments(snap, body.p ? body.p : "", body.len, &page, err)
                     : iha_segments_parse_hosts(snap, seg, body.p ? body.p : "", body.len, &page,
                                                err);
            if (rc != IHA_OK)
                prefix_err(err, path);
        }
        iha_buf_free(&body);
        if (rc != IHA_OK)
            return rc;
        /* Fewer items: the end. More: the server does not page, and sent everything. */
        if (page.items != limit)
            return IHA_OK;
        if (!page.marker[0]) {
            iha_err_set(err, NULL,
                        "GET %s: a full page of %u items whose last item has no usable \"id\" "
                        "to ask for the next page with",
                        path, limit);
            return IHA_E_PARSE;
        }
        if (strcmp(page.marker, marker) == 0) {
            iha_err_set(err, NULL,
                        "GET %s: the page ends at marker %s again; the server does not honour "
                        "the marker",
                        path, marker);
            return IHA_E_PARSE;
        }
        memcpy(marker, page.marker, sizeof(marker));
    }
}

enum iha_rc iha_segments_collect(iha_segments_get_fn get, void *cls, unsigned page_limit,
                                 struct iha_segments_snap **out, struct iha_err *err)
{
    struct iha_segments_snap *snap = iha_segments_snap_new();
    struct iha_err local;
    char path[128];
    enum iha_rc rc;

    *out = NULL;
    if (!err)
        err = &local;
    if (!snap) {
        iha_err_set(err, NULL, "out of memory");
        return IHA_E_NOMEM;
    }
    if (page_limit == 0)
        page_limit = SEG_PAGE_DEFAULT;
    rc = walk(get, cls, page_limit, "/v1/segments", snap, SIZE_MAX, err);
    for (size_t i = 0; rc == IHA_OK && i < snap->nsegs; i++) {
        snprintf(path, sizeof(path), "/v1/segments/%s/hosts", snap->segs[i].uuid);
        rc = walk(get, cls, page_limit, path, snap, i, err);
    }
    if (rc != IHA_OK) {
        iha_segments_snap_free(snap);
        return rc;
    }
    *out = snap;
    return IHA_OK;
}
