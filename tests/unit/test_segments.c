/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file test_segments.c
 * @brief The failover segment client: segment and host pages read into a snapshot,
 *        paging by limit and marker, malformed pages refused with a clear error while the
 *        last snapshot stays in force, lookups and status, and the HTTP getter against a
 *        peer served by the test (token header per dialect, 401, 5xx, shutdown while a
 *        request is in flight).
 */
#include "cmocka_includes.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "segments_int.h"
#include "test_gate.h"

#define UA "aaaaaaaa-0000-4000-8000-000000000001"
#define UB "bbbbbbbb-0000-4000-8000-000000000002"
#define UC "cccccccc-0000-4000-8000-000000000003"

/* Items as Masakari 14 lists them (GET /v1/segments, GET /v1/segments/{uuid}/hosts). */
#define SEG(id, uuid, name)                                                                        \
    "{\"id\": " #id ", \"uuid\": \"" uuid "\", \"name\": \"" name "\", \"service_type\": "         \
    "\"COMPUTE\", \"enabled\": true, \"recovery_method\": \"auto\", \"description\": null, "       \
    "\"created_at\": \"2026-12-05T10:00:00.000000\", \"updated_at\": null, \"deleted_at\": null, " \
    "\"deleted\": false}"
#define HOST(id, name, seg)                                                                        \
    "{\"id\": " #id ", \"uuid\": \"00000000-0000-4000-8000-0000000000" #id "\", \"name\": \"" name \
    "\", \"failover_segment_id\": \"" seg "\", \"type\": \"COMPUTE\", \"reserved\": false, "       \
    "\"control_attributes\": \"SSH\", \"on_maintenance\": false, \"deleted\": false}"

#define TOKEN "tok-secret-4711"
#define TOKEN_ENV "IHA_TEST_SEGMENTS_TOKEN"

/* ---- a canned Instance HA behind the page getter ---- */

#define MAX_ROUTES 32
#define MAX_SEEN 64

struct canned {
    pthread_mutex_t lock;
    struct {
        char path[160];
        const char *body;
        enum iha_rc rc;
    } r[MAX_ROUTES];
    size_t n;
    char seen[MAX_SEEN][160];
    size_t nseen;
};

static void canned_route(struct canned *c, const char *path, const char *body, enum iha_rc rc)
{
    size_t i;

    pthread_mutex_lock(&c->lock);
    for (i = 0; i < c->n && strcmp(c->r[i].path, path) != 0; i++)
        ;
    assert_true(i < MAX_ROUTES);
    if (i == c->n)
        c->n++;
    snprintf(c->r[i].path, sizeof(c->r[i].path), "%s", path);
    c->r[i].body = body;
    c->r[i].rc = rc;
    pthread_mutex_unlock(&c->lock);
}

static void canned_set(struct canned *c, const char *path, const char *body)
{
    canned_route(c, path, body, IHA_OK);
}

/* Runs on the refresh thread too: no assertions here. */
static enum iha_rc canned_get(void *cls, const char *path, struct iha_buf *body,
                              struct iha_err *err)
{
    struct canned *c = cls;
    enum iha_rc rc = IHA_E_UPSTREAM;

    pthread_mutex_lock(&c->lock);
    if (c->nseen < MAX_SEEN)
        snprintf(c->seen[c->nseen++], sizeof(c->seen[0]), "%s", path);
    iha_err_set(err, NULL, "GET %s: Instance HA answered 404: not routed", path);
    for (size_t i = 0; i < c->n; i++) {
        if (strcmp(c->r[i].path, path) != 0)
            continue;
        rc = c->r[i].rc;
        if (rc == IHA_OK && !iha_buf_str(body, c->r[i].body))
            rc = IHA_E_LIMIT;
        else if (rc != IHA_OK)
            iha_err_set(err, NULL, "GET %s: canned failure", path);
        break;
    }
    pthread_mutex_unlock(&c->lock);
    return rc;
}

static struct canned *canned_new(void)
{
    struct canned *c = calloc(1, sizeof(*c));

    assert_non_null(c);
    pthread_mutex_init(&c->lock, NULL);
    return c;
}

static void canned_free(struct canned *c)
{
    pthread_mutex_destroy(&c->lock);
    free(c);
}

/* Two segments: A with a1, a2, a3; B with b1. */
static void canned_two_segments(struct canned *c)
{
    canned_set(c, "/v1/segments?limit=1000",
               "{\"segments\": [" SEG(2, UB, "rack-b") ", " SEG(1, UA, "rack-a") "]}");
    canned_set(
        c, "/v1/segments/" UA "/hosts?limit=1000",
        "{\"hosts\": [" HOST(13, "a3", UA) ", " HOST(12, "a2", UA) ", " HOST(11, "a1", UA) "]}");
    canned_set(c, "/v1/segments/" UB "/hosts?limit=1000", "{\"hosts\": [" HOST(21, "b1", UB) "]}");
}

/* ---- page parsers ---- */

static void test_parse_segment_and_host_pages(void **state)
{
    struct iha_segments_snap *snap = iha_segments_snap_new();
    struct iha_segments_page page;
    struct iha_err err;
    const char *segs = "{\"segments\": [" SEG(7, UA, "rack-a") ", " SEG(5, UB, "Zone B ü") "]}";
    const char *hosts = "{\"hosts\": [" HOST(31, "cmp-1", UA) ", " HOST(30, "cmp-2", UA) "]}";
    const struct host_entry *h;

    (void)state;
    assert_non_null(snap);
    assert_int_equal(iha_segments_parse_segments(snap, segs, strlen(segs), &page, &err), IHA_OK);
    assert_int_equal(page.items, 2);
    assert_string_equal(page.marker, "5");
    assert_int_equal(snap->nsegs, 2);
    assert_string_equal(snap->segs[0].uuid, UA);
    assert_string_equal(snap->segs[1].name, "Zone B ü");

    assert_int_equal(iha_segments_parse_hosts(snap, 0, hosts, strlen(hosts), &page, &err), IHA_OK);
    assert_int_equal(page.items, 2);
    assert_string_equal(page.marker, "30");
    assert_int_equal(snap->segs[0].hosts, 2);
    h = iha_segments_snap_find(snap, "cmp-2");
    assert_non_null(h);
    assert_int_equal(h->seg, 0);
    assert_null(iha_segments_snap_find(snap, "CMP-2")); /* exact, as Instance HA compares */
    assert_null(iha_segments_snap_find(snap, "cmp"));

    /* A host listed again (in another segment) counts there but keeps its first segment. */
    hosts = "{\"hosts\": [" HOST(40, "cmp-1", UB) "]}";
    assert_int_equal(iha_segments_parse_hosts(snap, 1, hosts, strlen(hosts), &page, &err), IHA_OK);
    assert_int_equal(snap->segs[1].hosts, 1);
    assert_int_equal(iha_segments_snap_find(snap, "cmp-1")->seg, 0);
    assert_int_equal(snap->nhosts, 2);

    /* An empty page: no items, no marker. */
    hosts = "{\"hosts\": []}";
    assert_int_equal(iha_segments_parse_hosts(snap, 1, hosts, strlen(hosts), &page, &err), IHA_OK);
    assert_int_equal(page.items, 0);
    assert_string_equal(page.marker, "");
    iha_segments_snap_free(snap);
}

struct bad_page {
    bool hosts; /* a host page of segment 0, else a segment page */
    const char *body;
    enum iha_rc rc;
    const char *msg; /* a part of the error message */
};

static const struct bad_page bad_pages[] = {
    {false, "<html>502 Bad Gateway</html>", IHA_E_PARSE, "the answer is not JSON"},
    {false, "", IHA_E_PARSE, "the answer is not JSON"},
    {false, "{\"segment\": []}", IHA_E_PARSE, "no \"segments\" array"},
    {false, "{\"segments\": {}}", IHA_E_PARSE, "no \"segments\" array"},
    {false, "[]", IHA_E_PARSE, "no \"segments\" array"},
    {false, "{\"segments\": [5]}", IHA_E_PARSE, "segments[0] is not an object"},
    {false, "{\"segments\": [" SEG(1, UA, "a") ", {\"name\": \"x\"}]}", IHA_E_PARSE,
     "segments[1].uuid is missing"},
    {false, "{\"segments\": [{\"uuid\": \"" UA "\", \"name\": \"\"}]}", IHA_E_PARSE,
     "segments[0].name is missing or not a non-empty string"},
    {false, "{\"segments\": [{\"uuid\": \"../../v1/notifications\", \"name\": \"x\"}]}",
     IHA_E_PARSE, "segments[0].uuid holds characters other than"},
    {false, "{\"segments\": [{\"uuid\": 7, \"name\": \"x\"}]}", IHA_E_PARSE,
     "segments[0].uuid is missing or not a non-empty string"},
    {true, "{\"hosts\": [" HOST(11, "a1", UA) ", {\"id\": 12}]}", IHA_E_PARSE,
     "hosts[1].name is missing"},
    {true, "{\"hosts\": null}", IHA_E_PARSE, "no \"hosts\" array"},
    {true, "{\"hosts\": [{\"name\": \"a\\u0000b\"}]}", IHA_E_PARSE, "the answer is not JSON"},
};

/* A refused page adds nothing: the segments and hosts read before stay as they were. */
static void test_parse_malformed_pages_keep_nothing(void **state)
{
    const char *good = "{\"segments\": [" SEG(1, UA, "rack-a") "]}";
    const char *hosts = "{\"hosts\": [" HOST(11, "a0", UA) "]}";

    (void)state;
    for (size_t i = 0; i < sizeof(bad_pages) / sizeof(bad_pages[0]); i++) {
        const struct bad_page *b = &bad_pages[i];
        struct iha_segments_snap *snap = iha_segments_snap_new();
        struct iha_segments_page page;
        struct iha_err err;
        enum iha_rc rc;

        assert_non_null(snap);
        assert_int_equal(iha_segments_parse_segments(snap, good, strlen(good), &page, &err),
                         IHA_OK);
        assert_int_equal(iha_segments_parse_hosts(snap, 0, hosts, strlen(hosts), &page, &err),
                         IHA_OK);
        iha_err_clear(&err);
        rc = b->hosts ? iha_segments_parse_hosts(snap, 0, b->body, strlen(b->body), &page, &err)
                      : iha_segments_parse_segments(snap, b->body, strlen(b->body), &page, &err);
        if (rc != b->rc || !strstr(err.msg, b->msg))
            fail_msg("bad page %zu (%s): rc %s, message \"%s\"; expected %s, \"%s\"", i, b->body,
                     iha_rc_str(rc), err.msg, iha_rc_str(b->rc), b->msg);
        assert_int_equal(snap->nsegs, 1);
        assert_int_equal(snap->segs[0].hosts, 1);
        assert_int_equal(snap->nhosts, 1);
        assert_null(iha_segments_snap_find(snap, "a1"));
        iha_segments_snap_free(snap);
    }
}

/* ---- paging ---- */

static void assert_seen(struct canned *c, const char *const *want, size_t n)
{
    pthread_mutex_lock(&c->lock);
    for (size_t i = 0; i < n && i < c->nseen; i++)
        if (strcmp(c->seen[i], want[i]) != 0)
            fail_msg("request %zu was %s, expected %s", i, c->seen[i], want[i]);
    if (c->nseen != n)
        fail_msg("%zu requests, expected %zu", c->nseen, n);
    pthread_mutex_unlock(&c->lock);
}

static void test_collect_follows_markers(void **state)
{
    struct canned *c = canned_new();
    struct iha_segments_snap *snap = NULL;
    struct iha_err err;
    static const char *const want[] = {
        "/v1/segments?limit=2",
        "/v1/segments?limit=2&marker=8",
        "/v1/segments/" UA "/hosts?limit=2",
        "/v1/segments/" UA "/hosts?limit=2&marker=20",
        "/v1/segments/" UA "/hosts?limit=2&marker=18",
        "/v1/segments/" UB "/hosts?limit=2",
        "/v1/segments/" UC "/hosts?limit=2",
    };

    (void)state;
    canned_set(c, want[0], "{\"segments\": [" SEG(9, UA, "a") ", " SEG(8, UB, "b") "]}");
    canned_set(c, want[1], "{\"segments\": [" SEG(3, UC, "c") "]}");
    canned_set(c, want[2], "{\"hosts\": [" HOST(21, "a1", UA) ", " HOST(20, "a2", UA) "]}");
    canned_set(c, want[3], "{\"hosts\": [" HOST(19, "a3", UA) ", " HOST(18, "a4", UA) "]}");
    canned_set(c, want[4], "{\"hosts\": []}"); /* a list of exactly two pages */
    canned_set(c, want[5], "{\"hosts\": [" HOST(30, "b1", UB) "]}");
    canned_set(c, want[6], "{\"hosts\": []}");

    assert_int_equal(iha_segments_collect(canned_get, c, 2, &snap, &err), IHA_OK);
    assert_seen(c, want, sizeof(want) / sizeof(want[0]));
    assert_int_equal(snap->nsegs, 3);
    assert_int_equal(snap->segs[0].hosts, 4);
    assert_int_equal(snap->segs[1].hosts, 1);
    assert_int_equal(snap->segs[2].hosts, 0);
    assert_int_equal(snap->nhosts, 5);
    assert_int_equal(iha_segments_snap_find(snap, "a4")->seg, 0);
    assert_int_equal(iha_segments_snap_find(snap, "b1")->seg, 1);
    iha_segments_snap_free(snap);
    canned_free(c);
}

/* A server that ignores limit sends everything on one page: that page is the whole list. */
static void test_collect_page_larger_than_limit_is_the_list(void **state)
{
    struct canned *c = canned_new();
    struct iha_segments_snap *snap = NULL;
    struct iha_err err;

    (void)state;
    canned_set(c, "/v1/segments?limit=1",
               "{\"segments\": [" SEG(2, UA, "a") ", " SEG(1, UB, "b") "]}");
    canned_set(c, "/v1/segments/" UA "/hosts?limit=1",
               "{\"hosts\": [" HOST(11, "a1", UA) ", " HOST(12, "a2", UA) "]}");
    canned_set(c, "/v1/segments/" UB "/hosts?limit=1", "{\"hosts\": []}");
    assert_int_equal(iha_segments_collect(canned_get, c, 1, &snap, &err), IHA_OK);
    assert_int_equal(snap->segs[0].hosts, 2);
    assert_int_equal(c->nseen, 3);
    iha_segments_snap_free(snap);
    canned_free(c);
}

static void expect_collect_error(struct canned *c, unsigned limit, enum iha_rc rc, const char *msg)
{
    struct iha_segments_snap *snap = NULL;
    struct iha_err err;

    iha_err_clear(&err);
    assert_int_equal(iha_segments_collect(canned_get, c, limit, &snap, &err), rc);
    assert_null(snap);
    if (!strstr(err.msg, msg))
        fail_msg("error \"%s\" does not say \"%s\"", err.msg, msg);
}

static void test_collect_refuses_what_cannot_be_paged(void **state)
{
    struct canned *c = canned_new();

    (void)state;
    /* A full page whose last item has no id: no way to ask for the rest. */
    canned_set(c, "/v1/segments?limit=1",
               "{\"segments\": [{\"uuid\": \"" UA "\", \"name\": "
               "\"a\"}]}");
    expect_collect_error(c, 1, IHA_E_PARSE,
                         "GET /v1/segments?limit=1: a full page of 1 items whose last item has "
                         "no usable \"id\"");
    /* A server that ignores the marker would send the same page for ever. */
    canned_set(c, "/v1/segments?limit=1", "{\"segments\": [" SEG(4, UA, "a") "]}");
    canned_set(c, "/v1/segments?limit=1&marker=4", "{\"segments\": [" SEG(4, UA, "a") "]}");
    expect_collect_error(c, 1, IHA_E_PARSE, "the page ends at marker 4 again");
    /* A malformed host page names the request and the item. */
    canned_set(c, "/v1/segments?limit=1000", "{\"segments\": [" SEG(4, UA, "a") "]}");
    canned_set(c, "/v1/segments/" UA "/hosts?limit=1000", "{\"hosts\": [{\"uuid\": \"x\"}]}");
    expect_collect_error(c, 0, IHA_E_PARSE,
                         "GET /v1/segments/" UA "/hosts?limit=1000: hosts[0].name is missing");
    /* The getter's failure is the walk's. */
    canned_route(c, "/v1/segments/" UA "/hosts?limit=1000", NULL, IHA_E_IO);
    expect_collect_error(c, 0, IHA_E_IO, "canned failure");
    canned_free(c);
}

static void test_retry_backs_off_to_the_cap(void **state)
{
    (void)state;
    for (uint64_t rnd = 0; rnd < 1000; rnd += 37) {
        uint64_t first = iha_backoff_ms(1, 60000, rnd);
        uint64_t third = iha_backoff_ms(3, 60000, rnd);
        uint64_t late = iha_backoff_ms(40, 60000, rnd);
        uint64_t small = iha_backoff_ms(5, 500, rnd);
        assert_true(first >= 800 && first <= 1200);
        assert_true(third >= 3200 && third <= 4800);
        assert_true(late >= 48000 && late <= 72000);
        assert_true(small >= 400 && small <= 600);
    }
}

/* ---- the client over the canned getter ---- */

static struct iha_segments *client(struct canned *c)
{
    struct iha_segments_config cfg = {.url = "http://127.0.0.1:1", .refresh_ms = 3600000};
    struct iha_segments *s = NULL;
    struct iha_err err;

    assert_int_equal(iha_segments_new_with(&cfg, canned_get, c, &s, &err), IHA_OK);
    return s;
}

static void expect_lookup(struct iha_segments *s, const char *host, const char *name,
                          const char *uuid, unsigned hosts)
{
    struct iha_segment_info info;

    assert_int_equal(iha_segments_lookup(s, host, &info), IHA_OK);
    assert_string_equal(info.name, name);
    assert_string_equal(info.uuid, uuid);
    assert_int_equal(info.hosts, hosts);
}

static void test_client_keeps_last_snapshot_on_malformed_answer(void **state)
{
    struct canned *c = canned_new();
    struct iha_segments *s;
    struct iha_segment_info info;
    json_t *st;

    (void)state;
    canned_two_segments(c);
    s = client(c);
    assert_int_equal(iha_segments_wait_ready(s, TEST_WAIT_MS), IHA_OK);
    expect_lookup(s, "a2", "rack-a", UA, 3);
    expect_lookup(s, "b1", "rack-b", UB, 1);
    assert_int_equal(iha_segments_lookup(s, "c1", &info), IHA_E_NOTFOUND);
    assert_int_equal(iha_segments_lookup(s, "", &info), IHA_E_INVAL);

    /* Instance HA answers a proxy's error page: the refresh fails, lookups do not. */
    canned_set(c, "/v1/segments?limit=1000", "<html>502 Bad Gateway</html>");
    assert_int_equal(iha_segments_refresh_wait(s, TEST_WAIT_MS), IHA_E_PARSE);
    expect_lookup(s, "a2", "rack-a", UA, 3);
    st = iha_segments_status(s);
    assert_non_null(st);
    assert_true(json_is_true(json_object_get(st, "ready")));
    assert_int_equal(json_integer_value(json_object_get(st, "segments")), 2);
    assert_int_equal(json_integer_value(json_object_get(st, "hosts")), 4);
    assert_int_equal(json_integer_value(json_object_get(st, "consecutive_failures")), 1);
    assert_non_null(strstr(json_string_value(json_object_get(st, "last_error")),
                           "GET /v1/segments?limit=1000: the answer is not JSON"));
    assert_true(json_is_string(json_object_get(st, "last_success")));
    assert_true(json_is_string(json_object_get(st, "last_error_at")));
    json_decref(st);

    /* Back, with a2 moved to B: the new snapshot replaces the old one whole. */
    canned_set(c, "/v1/segments?limit=1000",
               "{\"segments\": [" SEG(2, UB, "rack-b") ", " SEG(1, UA, "rack-a") "]}");
    canned_set(c, "/v1/segments/" UA "/hosts?limit=1000",
               "{\"hosts\": [" HOST(13, "a3", UA) ", " HOST(11, "a1", UA) "]}");
    canned_set(c, "/v1/segments/" UB "/hosts?limit=1000",
               "{\"hosts\": [" HOST(21, "b1", UB) ", " HOST(12, "a2", UB) "]}");
    assert_int_equal(iha_segments_refresh_wait(s, TEST_WAIT_MS), IHA_OK);
    expect_lookup(s, "a2", "rack-b", UB, 2);
    expect_lookup(s, "a1", "rack-a", UA, 2);
    st = iha_segments_status(s);
    assert_int_equal(json_integer_value(json_object_get(st, "consecutive_failures")), 0);
    assert_true(json_is_string(json_object_get(st, "last_error"))); /* kept for the operator */
    json_decref(st);
    iha_segments_free(s);
    canned_free(c);
}

static void test_client_without_snapshot_answers_upstream(void **state)
{
    struct canned *c = canned_new();
    struct iha_segments *s;
    struct iha_segment_info info;
    json_t *st;

    (void)state;
    canned_route(c, "/v1/segments?limit=1000", NULL, IHA_E_IO);
    s = client(c);
    assert_int_equal(iha_segments_refresh_wait(s, TEST_WAIT_MS), IHA_E_IO);
    assert_int_equal(iha_segments_lookup(s, "a1", &info), IHA_E_UPSTREAM);
    assert_int_equal(iha_segments_wait_ready(s, 1), IHA_E_LIMIT);
    st = iha_segments_status(s);
    assert_true(json_is_false(json_object_get(st, "ready")));
    assert_true(json_is_null(json_object_get(st, "last_success")));
    assert_true(json_is_null(json_object_get(st, "last_success_age_seconds")));
    assert_true(json_integer_value(json_object_get(st, "consecutive_failures")) >= 1);
    assert_int_equal(json_integer_value(json_object_get(st, "refresh_seconds")), 3600);
    json_decref(st);

    canned_two_segments(c);
    assert_int_equal(iha_segments_refresh_wait(s, TEST_WAIT_MS), IHA_OK);
    expect_lookup(s, "a1", "rack-a", UA, 3);
    iha_segments_free(s);
    canned_free(c);
}

static void test_client_refuses_bad_config(void **state)
{
    struct iha_segments_config cfg = {.url = "http://svc:secret@127.0.0.1:15868"};
    struct iha_segments *s = NULL;
    struct iha_err err;

    (void)state;
    iha_err_clear(&err);
    assert_int_equal(iha_segments_new(&cfg, &s, &err), IHA_E_CONFIG);
    assert_null(s);
    assert_null(strstr(err.msg, "svc:secret"));
    assert_non_null(strstr(err.msg, "credentials must not be written into a URL"));
    cfg.url = "";
    assert_int_equal(iha_segments_new(&cfg, &s, &err), IHA_E_CONFIG);
    assert_int_equal(iha_segments_new(NULL, &s, &err), IHA_E_CONFIG);
}

/* ---- the HTTP getter against a peer served here ---- */

#define MAX_REQS 16

struct peer {
    struct MHD_Daemon *mhd;
    unsigned port;
    pthread_mutex_t lock;
    struct {
        char url[200], limit[16], marker[32], x_auth[64], authz[80];
    } reqs[MAX_REQS];
    size_t nreqs;
    unsigned code;        /* the answer to /v1/segments */
    const char *segments; /* its body */
    bool hold;            /* hold every answer until the gate opens */
    unsigned answered;
    struct test_gate gate;
};

static void copy_value(struct MHD_Connection *c, enum MHD_ValueKind kind, const char *name,
                       char *out, size_t size)
{
    const char *v = MHD_lookup_connection_value(c, kind, name);

    snprintf(out, size, "%s", v ? v : "");
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    struct peer *p = cls;
    const char *body = "{\"hosts\": [" HOST(11, "a1", UA) ", " HOST(12, "a2", UA) "]}";
    unsigned code = 200;
    struct MHD_Response *r;
    enum MHD_Result ret;

    (void)method, (void)version, (void)upload_data, (void)upload_data_size, (void)con_cls;
    pthread_mutex_lock(&p->lock);
    if (p->nreqs < MAX_REQS) {
        snprintf(p->reqs[p->nreqs].url, sizeof(p->reqs[0].url), "%s", url);
        copy_value(c, MHD_GET_ARGUMENT_KIND, "limit", p->reqs[p->nreqs].limit, 16);
        copy_value(c, MHD_GET_ARGUMENT_KIND, "marker", p->reqs[p->nreqs].marker, 32);
        copy_value(c, MHD_HEADER_KIND, "X-Auth-Token", p->reqs[p->nreqs].x_auth, 64);
        copy_value(c, MHD_HEADER_KIND, "Authorization", p->reqs[p->nreqs].authz, 80);
        p->nreqs++;
    }
    if (strcmp(url, "/v1/segments") == 0) {
        code = p->code;
        body = p->segments;
    }
    pthread_mutex_unlock(&p->lock);
    if (p->hold && !test_gate_pass(&p->gate))
        fprintf(stderr, "peer: held request released by its time bound\n");
    pthread_mutex_lock(&p->lock);
    p->answered++;
    pthread_mutex_unlock(&p->lock);
    r = MHD_create_response_from_buffer(strlen(body), (void *)(uintptr_t)body,
                                        MHD_RESPMEM_MUST_COPY);
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, "Content-Type", "application/json");
    ret = MHD_queue_response(c, code, r);
    MHD_destroy_response(r);
    return ret;
}

static struct peer *peer_start(unsigned code, const char *segments, bool hold)
{
    struct peer *p = calloc(1, sizeof(*p));
    const union MHD_DaemonInfo *info;
    struct sockaddr_in sa;

    assert_non_null(p);
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    pthread_mutex_init(&p->lock, NULL);
    test_gate_init(&p->gate);
    p->code = code;
    p->segments = segments;
    p->hold = hold;
    p->mhd = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_ERROR_LOG, 0,
        NULL, NULL, on_request, p, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa, MHD_OPTION_END);
    assert_non_null(p->mhd);
    info = MHD_get_daemon_info(p->mhd, MHD_DAEMON_INFO_BIND_PORT);
    assert_non_null(info);
    p->port = info->port;
    return p;
}

static void peer_stop(struct peer *p)
{
    test_gate_open(&p->gate);
    MHD_stop_daemon(p->mhd);
    test_gate_destroy(&p->gate);
    pthread_mutex_destroy(&p->lock);
    free(p);
}

/* A client of @p p in @p dialect with the token TOKEN (from the environment). */
static struct iha_segments *http_client(struct peer *p, enum iha_dialect dialect,
                                        struct iha_token_source **ts)
{
    /* A timeout past the peer's longest hold: only an abandoned transfer ends sooner. */
    struct iha_segments_config cfg = {
        .dialect = dialect, .refresh_ms = 3600000, .timeout_ms = 4 * TEST_WAIT_MS};
    struct iha_segments *s = NULL;
    struct iha_err err;
    char url[64];

    assert_int_equal(setenv(TOKEN_ENV, TOKEN, 1), 0);
    assert_int_equal(iha_token_source_new(NULL, TOKEN_ENV, ts), IHA_OK);
    snprintf(url, sizeof(url), "http://127.0.0.1:%u/", p->port); /* the '/' is dropped */
    cfg.url = url;
    cfg.token = *ts;
    assert_int_equal(iha_segments_new(&cfg, &s, &err), IHA_OK);
    return s;
}

static const char one_segment[] = "{\"segments\": [" SEG(1, UA, "rack-a") "]}";

static void test_http_sends_the_token_header_of_each_dialect(void **state)
{
    static const enum iha_dialect dialects[] = {IHA_DIALECT_MASAKARI, IHA_DIALECT_XLOUD};

    (void)state;
    for (size_t i = 0; i < 2; i++) {
        struct peer *p = peer_start(200, one_segment, false);
        struct iha_token_source *ts = NULL;
        struct iha_segments *s = http_client(p, dialects[i], &ts);

        assert_int_equal(iha_segments_wait_ready(s, TEST_WAIT_MS), IHA_OK);
        expect_lookup(s, "a2", "rack-a", UA, 2);
        iha_segments_free(s);
        assert_int_equal(p->nreqs, 2);
        assert_string_equal(p->reqs[0].url, "/v1/segments");
        assert_string_equal(p->reqs[0].limit, "1000");
        assert_string_equal(p->reqs[0].marker, "");
        assert_string_equal(p->reqs[1].url, "/v1/segments/" UA "/hosts");
        assert_string_equal(p->reqs[1].limit, "1000");
        for (size_t k = 0; k < 2; k++) {
            if (dialects[i] == IHA_DIALECT_MASAKARI) {
                assert_string_equal(p->reqs[k].x_auth, TOKEN);
                assert_string_equal(p->reqs[k].authz, "");
            } else {
                assert_string_equal(p->reqs[k].x_auth, "");
                assert_string_equal(p->reqs[k].authz, "Bearer " TOKEN);
            }
        }
        iha_token_source_free(ts);
        peer_stop(p);
    }
}

/* The refresh fails with @p rc and the status says @p msg, never the token. */
static void expect_http_failure(unsigned code, const char *body, enum iha_rc rc, const char *msg)
{
    struct peer *p = peer_start(code, body, false);
    struct iha_token_source *ts = NULL;
    struct iha_segments *s = http_client(p, IHA_DIALECT_MASAKARI, &ts);
    json_t *st;
    char *text;

    assert_int_equal(iha_segments_refresh_wait(s, TEST_WAIT_MS), rc);
    st = iha_segments_status(s);
    text = json_dumps(st, JSON_COMPACT);
    assert_non_null(text);
    if (!strstr(text, msg))
        fail_msg("status %s does not say \"%s\"", text, msg);
    assert_null(strstr(text, TOKEN));
    free(text);
    json_decref(st);
    iha_segments_free(s);
    iha_token_source_free(ts);
    peer_stop(p);
}

static void test_http_failures_say_why(void **state)
{
    (void)state;
    expect_http_failure(401,
                        "{\"error\": {\"code\": 401, \"title\": \"Unauthorized\", \"message\": "
                        "\"The request you have made requires authentication.\"}}",
                        IHA_E_AUTH,
                        "GET /v1/segments?limit=1000: Instance HA refused the service token (401): "
                        "The request you have made requires authentication.; check the token and "
                        "instance_ha.dialect (X-Auth-Token header)");
    expect_http_failure(403,
                        "{\"forbidden\": {\"code\": 403, \"message\": \"Policy doesn't allow "
                        "os_masakari_api:segments:index to be performed.\"}}",
                        IHA_E_AUTH, "answered 403: Policy doesn't allow os_masakari_api:segments");
    expect_http_failure(500,
                        "{\"masakariFault\": {\"code\": 500, \"message\": \"Unexpected API "
                        "Error.\\n<class 'ValueError'>\"}}",
                        IHA_E_UPSTREAM, "answered 500: Unexpected API Error.?<class 'ValueError'>");
}

/* iha_segments_free() abandons a request Instance HA has not answered yet. */
static void test_free_abandons_a_request_in_flight(void **state)
{
    struct peer *p = peer_start(200, one_segment, true);
    struct iha_token_source *ts = NULL;
    struct iha_segments *s = http_client(p, IHA_DIALECT_MASAKARI, &ts);
    unsigned answered;

    (void)state;
    assert_true(test_gate_wait(&p->gate, 1));
    iha_segments_free(s);
    pthread_mutex_lock(&p->lock);
    answered = p->answered;
    pthread_mutex_unlock(&p->lock);
    assert_int_equal(answered, 0); /* free() returned while the answer was still held */
    iha_token_source_free(ts);
    peer_stop(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_segment_and_host_pages),
        cmocka_unit_test(test_parse_malformed_pages_keep_nothing),
        cmocka_unit_test(test_collect_follows_markers),
        cmocka_unit_test(test_collect_page_larger_than_limit_is_the_list),
        cmocka_unit_test(test_collect_refuses_what_cannot_be_paged),
        cmocka_unit_test(test_retry_backs_off_to_the_cap),
        cmocka_unit_test(test_client_keeps_last_snapshot_on_malformed_answer),
        cmocka_unit_test(test_client_without_snapshot_answers_upstream),
        cmocka_unit_test(test_client_refuses_bad_config),
        cmocka_unit_test(test_http_sends_the_token_header_of_each_dialect),
        cmocka_unit_test(test_http_failures_say_why),
        cmocka_unit_test(test_free_abandons_a_request_in_flight),
    };
    int rc;

    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return 1;
    rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
