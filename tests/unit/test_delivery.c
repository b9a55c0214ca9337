/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file test_delivery.c
 * @brief Delivery against a scripted libmicrohttpd peer on 127.0.0.1: outcomes,
 *        retries, 401 handling, timeouts, joins, headers and bodies per dialect; per-host
 *        order, cancel, kick and notices; bookkeeping that stays flat with a large backlog.
 */
#include "delivery.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "delivery_debug.h"
#include "log.h"

#include "cmocka_includes.h"
#include "test_gate.h"

#define MAX_SCRIPT 8
#define MAX_REQS 16
#define BODY_MAX 8192

#define UUID "6b594c62-73c2-4fd5-af8a-185e1ffe7a8b"
#define BODY_202                                                                                   \
    "{\"notification\": {\"id\": 1, \"notification_uuid\": \"" UUID "\", \"generated_time\": "     \
    "\"2026-11-25T14:40:13.000000\", \"source_host_uuid\": "                                       \
    "\"5cd9fca9-7473-4ba7-882a-25cc757de7d4\", \"type\": \"COMPUTE_HOST\", \"payload\": "          \
    "{\"event\": \"STOPPED\", \"host_status\": \"NORMAL\", \"cluster_status\": \"OFFLINE\"}, "     \
    "\"status\": \"new\", \"created_at\": \"2026-11-25T14:40:13.000000\", \"updated_at\": null, "  \
    "\"deleted_at\": null, \"deleted\": false}}"
#define MSG_DUP "Notification received from host compute-1 of type COMPUTE_HOST is duplicate."
#define BODY_409_DUP "{\"conflictingRequest\": {\"code\": 409, \"message\": \"" MSG_DUP "\"}}"
#define MSG_MAINT                                                                                  \
    "Notification received from host compute-1 of type 'COMPUTE_HOST' is ignored as the host "     \
    "is already under maintenance."
#define BODY_409_MAINT "{\"conflictingRequest\": {\"code\": 409, \"message\": \"" MSG_MAINT "\"}}"
#define MSG_NOHOST "Host with name compute-1 could not be found."
#define BODY_400 "{\"badRequest\": {\"code\": 400, \"message\": \"" MSG_NOHOST "\"}}"
#define MSG_401 "The request you have made requires authentication."
#define BODY_401                                                                                   \
    "{\"error\": {\"code\": 401, \"title\": \"Unauthorized\", \"message\": \"" MSG_401 "\"}}"
#define BODY_403                                                                                   \
    "{\"forbidden\": {\"code\": 403, \"message\": \"Policy doesn't allow "                         \
    "os_masakari_api:notifications:create to be performed.\"}}"
#define BODY_500                                                                                   \
    "{\"masakariFault\": {\"code\": 500, \"message\": \"Unexpected API Error. Please report "      \
    "this at https://bugs.launchpad.net/masakari/ and attach the Masakari API log if "             \
    "possible.\\n<class 'ValueError'>\"}}"
#define BODY_503                                                                                   \
    "<html>\n <head>\n  <title>503 Service Unavailable</title>\n </head>\n <body>\n  <h1>503 "     \
    "Service Unavailable</h1>\n  The Keystone service is temporarily unavailable.<br /><br />\n"   \
    " </body>\n</html>"

/* ---- the scripted peer ---- */

#define HOLD true /* peer_script(): answer once the test opens the gate */

struct step {
    unsigned code;
    const char *body;
    bool hold; /* the answer waits until the test opens the peer's gate */
    const char *content_type;
};

struct req {
    char url[256];
    char method[16];
    char body[BODY_MAX];
    char x_auth[256];
    char authz[256];
    char ctype[64];
    char accept[64];
    char ua[64];
};

struct peer {
    struct MHD_Daemon *mhd;
    unsigned port;
    pthread_mutex_t lock;
    struct step script[MAX_SCRIPT];
    size_t nscript, next;
    struct req reqs[MAX_REQS];
    size_t nreqs;
    char *big;             /* an oversized body for the response cap test */
    struct track *track;   /* set while a test tracks per-host order */
    struct test_gate gate; /* where held requests wait; each arrival is counted */
};

struct track;
static void track_request(struct track *t, const char *body);

struct upload {
    char body[BODY_MAX];
    size_t len;
};

static void copy_hdr(struct MHD_Connection *c, const char *name, char *out, size_t size)
{
    const char *v = MHD_lookup_connection_value(c, MHD_HEADER_KIND, name);

    snprintf(out, size, "%s", v ? v : "");
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    struct peer *p = cls;
    struct upload *u = *con_cls;
    struct step st = {.code = 202, .body = BODY_202, .hold = false, .content_type = NULL};
    struct MHD_Response *r;
    enum MHD_Result ret;

    (void)version;
    if (!u) {
        u = calloc(1, sizeof(*u));
        if (!u)
            return MHD_NO;
        *con_cls = u;
        return MHD_YES;
    }
    if (*upload_data_size > 0) {
        size_t n = *upload_data_size;
        if (n > sizeof(u->body) - 1 - u->len)
            n = sizeof(u->body) - 1 - u->len;
        memcpy(u->body + u->len, upload_data, n);
        u->len += n;
        *upload_data_size = 0;
        return MHD_YES;
    }

    pthread_mutex_lock(&p->lock);
    if (p->nreqs < MAX_REQS) {
        struct req *q = &p->reqs[p->nreqs++];
        snprintf(q->url, sizeof(q->url), "%s", url);
        snprintf(q->method, sizeof(q->method), "%s", method);
        memcpy(q->body, u->body, u->len + 1);
        copy_hdr(c, "X-Auth-Token", q->x_auth, sizeof(q->x_auth));
        copy_hdr(c, "Authorization", q->authz, sizeof(q->authz));
        copy_hdr(c, "Content-Type", q->ctype, sizeof(q->ctype));
        copy_hdr(c, "Accept", q->accept, sizeof(q->accept));
        copy_hdr(c, "User-Agent", q->ua, sizeof(q->ua));
    }
    if (p->next < p->nscript)
        st = p->script[p->next++];
    pthread_mutex_unlock(&p->lock);
    if (p->track)
        track_request(p->track, u->body);

    /* Not an assertion: this runs on the peer's thread; a gate left shut times out. */
    if (st.hold && !test_gate_pass(&p->gate))
        fprintf(stderr, "peer: held request released by its time bound\n");
    r = MHD_create_response_from_buffer(strlen(st.body), (void *)(uintptr_t)st.body,
                                        MHD_RESPMEM_MUST_COPY);
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, "Content-Type",
                            st.content_type ? st.content_type : "application/json");
    MHD_add_response_header(r, "X-Openstack-Request-Id",
                            "req-11111111-2222-3333-4444-555555555555");
    ret = MHD_queue_response(c, st.code, r);
    MHD_destroy_response(r);
    return ret;
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)c;
    (void)toe;
    free(*con_cls);
    *con_cls = NULL;
}

static struct peer *peer_start(void)
{
    struct peer *p = calloc(1, sizeof(*p));
    const union MHD_DaemonInfo *info;
    struct sockaddr_in sa;

    assert_non_null(p);
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = 0;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    pthread_mutex_init(&p->lock, NULL);
    test_gate_init(&p->gate);
    p->mhd = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_ERROR_LOG, 0,
        NULL, NULL, on_request, p, MHD_OPTION_NOTIFY_COMPLETED, on_completed, p,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa, MHD_OPTION_END);
    assert_non_null(p->mhd);
    info = MHD_get_daemon_info(p->mhd, MHD_DAEMON_INFO_BIND_PORT);
    assert_non_null(info);
    p->port = info->port;
    assert_true(p->port > 0);
    return p;
}

static void peer_stop(struct peer *p)
{
    test_gate_open(&p->gate); /* a request still held must end for the daemon to stop */
    MHD_stop_daemon(p->mhd);
    test_gate_destroy(&p->gate);
    pthread_mutex_destroy(&p->lock);
    free(p->big);
    free(p);
}

/* Adds an answer; @p hold: it is given only once the test opened the peer's gate. */
static void peer_script(struct peer *p, unsigned code, const char *body, bool hold)
{
    pthread_mutex_lock(&p->lock);
    assert_true(p->nscript < MAX_SCRIPT);
    p->script[p->nscript++] = (struct step){code, body, hold, NULL};
    pthread_mutex_unlock(&p->lock);
}

static size_t peer_nreqs(struct peer *p)
{
    size_t n;

    pthread_mutex_lock(&p->lock);
    n = p->nreqs;
    pthread_mutex_unlock(&p->lock);
    return n;
}

/* ---- completions ---- */

struct capture {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int calls;
    struct iha_delivery_result res;
    char body[BODY_MAX];
    size_t body_len;
};

static void capture_init(struct capture *c)
{
    memset(c, 0, sizeof(*c));
    pthread_mutex_init(&c->lock, NULL);
    pthread_cond_init(&c->cond, NULL);
}

static void capture_destroy(struct capture *c)
{
    pthread_mutex_destroy(&c->lock);
    pthread_cond_destroy(&c->cond);
}

static void on_done(void *cls, const struct iha_delivery_result *res)
{
    struct capture *c = cls;

    pthread_mutex_lock(&c->lock);
    c->calls++;
    c->res = *res;
    c->body_len = strlen(res->response_body);
    snprintf(c->body, sizeof(c->body), "%s", res->response_body);
    c->res.response_body = c->body;
    pthread_cond_broadcast(&c->cond);
    pthread_mutex_unlock(&c->lock);
}

/* The count as the delivery thread left it: read under the lock it writes under. */
static int capture_calls(struct capture *c)
{
    int calls;

    pthread_mutex_lock(&c->lock);
    calls = c->calls;
    pthread_mutex_unlock(&c->lock);
    return calls;
}

static int wait_calls(struct capture *c, int n, unsigned timeout_ms)
{
    struct timespec until = iha_clock_deadline(timeout_ms);
    int calls;

    pthread_mutex_lock(&c->lock);
    while (c->calls < n && pthread_cond_timedwait(&c->cond, &c->lock, &until) == 0)
        ;
    calls = c->calls;
    pthread_mutex_unlock(&c->lock);
    return calls;
}

static size_t debug_due(struct iha_delivery *d)
{
    struct iha_delivery_debug dbg;

    iha_delivery_debug_stats(d, &dbg);
    return dbg.due;
}

static unsigned long long debug_turns(struct iha_delivery *d)
{
    struct iha_delivery_debug dbg;

    iha_delivery_debug_stats(d, &dbg);
    return dbg.turns;
}

/* Nothing left to start: every host's first job is on the wire, @p blocked wait. */
static bool debug_settled(struct iha_delivery *d, size_t blocked)
{
    struct iha_delivery_debug dbg;

    iha_delivery_debug_stats(d, &dbg);
    return dbg.due == 0 && dbg.blocked == blocked;
}

/*
 * Link seam (delivery.cmake wraps iha_delivery_make_due): a test can stretch every backoff
 * by minutes. The first backoff is 0.5 s whatever max_backoff_ms says, too short to tell a
 * kicked attempt from a natural retry without watching the clock.
 */
struct job;
void __real_iha_delivery_make_due(struct iha_delivery *d, struct job *j, uint64_t at);
void __wrap_iha_delivery_make_due(struct iha_delivery *d, struct job *j, uint64_t at);

static _Atomic unsigned long long backoff_extra_ms; /* added to every backoff; setup() zeroes */
static _Atomic unsigned backoffs;                   /* backoffs scheduled since setup() */

void __wrap_iha_delivery_make_due(struct iha_delivery *d, struct job *j, uint64_t at)
{
    atomic_fetch_add(&backoffs, 1);
    __real_iha_delivery_make_due(d, j, at + atomic_load(&backoff_extra_ms));
}

/* ---- fixtures ---- */

struct fx {
    struct peer *peer;
    struct iha_token_source *token;
    char dir[64];
    char token_path[128];
    struct iha_delivery_config cfg;
    char url[64];
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    FILE *fp;

    if (!f)
        return -1;
    atomic_store(&backoff_extra_ms, 0);
    atomic_store(&backoffs, 0);
    f->peer = peer_start();
    snprintf(f->dir, sizeof(f->dir), "/tmp/iha-delivery-XXXXXX");
    if (!mkdtemp(f->dir))
        return -1;
    snprintf(f->token_path, sizeof(f->token_path), "%s/token", f->dir);
    fp = fopen(f->token_path, "w");
    if (!fp)
        return -1;
    fputs("gAAAAAB-test-token\n", fp);
    fclose(fp);
    if (iha_token_source_new(f->token_path, NULL, &f->token) != IHA_OK)
        return -1;
    snprintf(f->url, sizeof(f->url), "http://127.0.0.1:%u", f->peer->port);
    f->cfg = (struct iha_delivery_config){
        .url = f->url,
        .dialect = IHA_DIALECT_MASAKARI,
        .token = f->token,
        .connect_timeout_ms = 1000,
        .timeout_ms = 2000,
        .retry_for_ms = 3000,
        .max_jobs = 16,
    };
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;

    peer_stop(f->peer);
    iha_token_source_free(f->token);
    unlink(f->token_path);
    rmdir(f->dir);
    free(f);
    return 0;
}

static void make_host_down(struct iha_notification *n)
{
    iha_notification_init(n);
    n->type = IHA_NTYPE_COMPUTE_HOST;
    snprintf(n->hostname, sizeof(n->hostname), "compute-1");
    n->payload = json_pack("{s:s, s:s, s:s}", "event", "STOPPED", "host_status", "NORMAL",
                           "cluster_status", "OFFLINE");
    assert_non_null(n->payload);
    snprintf(n->generated_time, sizeof(n->generated_time), "2026-11-25T14:40:13Z");
    snprintf(n->id, sizeof(n->id), "0123456789abcdef");
}

/* Submits one host-down notification and waits for its single callback. */
static void deliver_one(struct fx *f, struct capture *cap)
{
    struct iha_delivery *d = NULL;
    struct iha_notification n;

    make_host_down(&n);
    capture_init(cap);
    assert_int_equal(iha_delivery_new(&f->cfg, &d), IHA_OK);
    assert_int_equal(iha_delivery_submit(d, &n, "key-1", on_done, cap), IHA_OK);
    iha_notification_clear(&n); /* the delivery holds its own copy */
    assert_int_equal(wait_calls(cap, 1, 15000), 1);
    assert_int_equal(iha_delivery_pending(d), 0);
    iha_delivery_free(d);
    assert_int_equal(cap->calls, 1); /* never twice */
}

static void assert_masakari_request(const struct req *q)
{
    json_t *root = json_loads(q->body, 0, NULL), *inner;

    assert_string_equal(q->method, "POST");
    assert_string_equal(q->url, "/v1/notifications");
    assert_string_equal(q->x_auth, "gAAAAAB-test-token");
    assert_string_equal(q->authz, "");
    assert_string_equal(q->ctype, "application/json");
    assert_string_equal(q->accept, "application/json");
    assert_string_equal(q->ua, "iha-gateway/" IHA_VERSION);
    assert_non_null(root);
    inner = json_object_get(root, "notification");
    assert_true(json_is_object(inner));
    assert_int_equal(json_object_size(root), 1);
    assert_string_equal(json_string_value(json_object_get(inner, "type")), "COMPUTE_HOST");
    assert_string_equal(json_string_value(json_object_get(inner, "hostname")), "compute-1");
    assert_string_equal(json_string_value(json_object_get(inner, "generated_time")),
                        "2026-11-25T14:40:13Z");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(inner, "payload"), "event")), "STOPPED");
    json_decref(root);
}

/* ---- tests ---- */

static void test_500_then_202(void **state)
{
    struct fx *f = *state;
    struct capture cap;

    peer_script(f->peer, 500, BODY_500, false);
    peer_script(f->peer, 202, BODY_202, false);
    deliver_one(f, &cap);
    assert_int_equal(cap.res.outcome, IHA_OUTCOME_DELIVERED);
    assert_int_equal(cap.res.http_code, 202);
    assert_int_equal(cap.res.attempts, 2);
    assert_string_equal(cap.res.notification_uuid, UUID);
    assert_string_equal(cap.res.response_body, BODY_202);
    assert_int_equal(peer_nreqs(f->peer), 2);
    assert_masakari_request(&f->peer->reqs[0]);
    assert_masakari_request(&f->peer->reqs[1]);
    /* Byte-identical on retry: same generated_time, so Masakari can spot a duplicate. */
    assert_string_equal(f->peer->reqs[0].body, f->peer->reqs[1].body);
    capture_destroy(&cap);
}

static void test_409_duplicate(void **state)
{
    struct fx *f = *state;
    struct capture cap;

    peer_script(f->peer, 409, BODY_409_DUP, false);
    deliver_one(f, &cap);
    assert_int_equal(cap.res.outcome, IHA_OUTCOME_DUPLICATE);
    assert_true(iha_outcome_is_delivered(cap.res.outcome));
    assert_int_equal(cap.res.http_code, 409);
    assert_int_equal(cap.res.attempts, 1);
    assert_string_equal(cap.res.detail, MSG_DUP);
    assert_string_equal(cap.res.notification_uuid, "");
    assert_int_equal(peer_nreqs(f->peer), 1);
    capture_destroy(&cap);
}

static void test_409_maintenance(void **state)
{
    struct fx *f = *state;
    struct capture cap;

    peer_script(f->peer, 409, BODY_409_MAINT, false);
    deliver_one(f, &cap);
    assert_int_equal(cap.res.outcome, IHA_OUTCOME_MAINTENANCE);
    assert_int_equal(cap.res.http_code, 409);
    assert_int_equal(cap.res.attempts, 1);
    assert_string_equal(cap.res.detail, MSG_MAINT);
    capture_destroy(&cap);
}

static void test_400_unknown_host(void **state)
{
    struct fx *f = *state;
    struct capture cap;

    peer_script(f->peer, 400, BODY_400, false);
    deliver_one(f, &cap);
    assert_int_equal(cap.res.outcome, IHA_OUTCOME_REJECTED);
    assert_int_equal(cap.res.http_code, 400);
    assert_int_equal(cap.res.attempts, 1);
    assert_string_equal(cap.res.detail, MSG_NOHOST);
    assert_string_equal(cap.res.response_body, BODY_400);
    capture_destroy(&cap);
}

static void test_401_then_202(void **state)
{
    struct fx *f = *state;
    struct capture cap;

    peer_script(f->peer, 401, BODY_401, false);
    peer_script(f->peer, 202, BODY_202, false);
    f->cfg.retry_for_ms = 0; /* the 401 retry does not depend on the retry budget */
    deliver_one(f, &cap);
    assert_int_equal(cap.res.outcome, IHA_OUTCOME_DELIVERED);
    assert_int_equal(cap.res.attempts, 2);
    assert_string_equal(cap.res.notification_uuid, UUID);
    assert_int_equal(peer_nreqs(f->peer), 2);
    capture_destroy(&cap);
}

static void test_401_twice(void **state)
{
    struct fx *f = *state;
    struct capture cap;

    peer_script(f->peer, 401, BODY_401, false);
    peer_script(f->peer, 401, BODY_401, false);
    peer_script(f->peer, 202, BODY_202, false);
    deliver_one(f, &cap);
    assert_int_equal(cap.res.outcome, IHA_OUTCOME_AUTH_ERROR);
    assert_int_equal(cap.res.http_code, 401);
    assert_int_equal(cap.res.attempts, 2);
    assert_string_equal(cap.res.detail, MSG_401);
    assert_int_equal(peer_nreqs(f->peer), 2);
    capture_destroy(&cap);
}

static void test_403(void **state)
{
    struct fx *f = *state;
    struct capture cap;

    peer_script(f->peer, 403, BODY_403, false);
    deliver_one(f, &cap);
    assert_int_equal(cap.res.outcome, IHA_OUTCOME_AUTH_ERROR);
    assert_int_equal(cap.res.http_code, 403);
    assert_int_equal(cap.res.attempts, 1);
    assert_non_null(strstr(cap.res.detail, "os_masakari_api:notifications:create"));
    capture_destroy(&cap);
}

static void test_503_until_budget(void **state)
{
    struct fx *f = *state;
    struct capture cap;

    for (int i = 0; i < MAX_SCRIPT; i++)
        peer_script(f->peer, 503, BODY_503, false);
    f->peer->script[0].content_type = "text/html";
    f->cfg.retry_for_ms = 900; /* room for one or two backoffs of 0.4-0.6 s and 0.8-1.2 s */
    deliver_one(f, &cap);
    assert_int_equal(cap.res.outcome, IHA_OUTCOME_RETRY);
    assert_int_equal(cap.res.http_code, 503);
    assert_string_equal(cap.res.detail, "HTTP 503");
    assert_true(cap.res.attempts >= 2 && cap.res.attempts <= 3);
    assert_int_equal(peer_nreqs(f->peer), cap.res.attempts);
    capture_destroy(&cap);
}

static void test_timeout(void **state)
{
    struct fx *f = *state;
    struct capture cap;

    peer_script(f->peer, 202, BODY_202, HOLD); /* answered only after the client gave up */
    f->cfg.timeout_ms = 200;
    f->cfg.retry_for_ms = 0;
    deliver_one(f, &cap);
    assert_int_equal(cap.res.outcome, IHA_OUTCOME_RETRY);
    assert_int_equal(cap.res.http_code, 0);
    assert_int_equal(cap.res.attempts, 1);
    assert_non_null(strstr(cap.res.detail, "timed out"));
    capture_destroy(&cap);
}

/* The ambiguous case of masakari-api.md §4: stored but unanswered, then 409 duplicate. */
static void test_timeout_then_duplicate(void **state)
{
    struct fx *f = *state;
    struct capture cap;

    peer_script(f->peer, 202, BODY_202, HOLD); /* stored, but answered too late */
    peer_script(f->peer, 409, BODY_409_DUP, false);
    f->cfg.timeout_ms = 200;
    f->cfg.retry_for_ms = 2000;
    deliver_one(f, &cap);
    assert_int_equal(cap.res.outcome, IHA_OUTCOME_DUPLICATE);
    assert_int_equal(cap.res.attempts, 2);
    assert_int_equal(peer_nreqs(f->peer), 2);
    assert_string_equal(f->peer->reqs[0].body, f->peer->reqs[1].body);
    capture_destroy(&cap);
}

static void test_connection_refused(void **state)
{
    struct fx *f = *state;
    struct capture cap;
    struct peer *gone = peer_start();

    /* A port that was just free and is closed again. */
    snprintf(f->url, sizeof(f->url), "http://127.0.0.1:%u", gone->port);
    peer_stop(gone);
    f->cfg.retry_for_ms = 0;
    deliver_one(f, &cap);
    assert_int_equal(cap.res.outcome, IHA_OUTCOME_RETRY);
    assert_int_equal(cap.res.http_code, 0);
    assert_int_equal(cap.res.attempts, 1);
    assert_true(strlen(cap.res.detail) > 0);
    capture_destroy(&cap);
}

static void test_join_inflight(void **state)
{
    struct fx *f = *state;
    struct iha_delivery *d = NULL;
    struct iha_notification n;
    struct capture a, b, c;

    peer_script(f->peer, 202, BODY_202, HOLD);
    peer_script(f->peer, 409, BODY_409_DUP, false);
    make_host_down(&n);
    capture_init(&a);
    capture_init(&b);
    capture_init(&c);
    assert_int_equal(iha_delivery_new(&f->cfg, &d), IHA_OK);
    assert_int_equal(iha_delivery_submit(d, &n, "same-key", on_done, &a), IHA_OK);
    assert_true(test_gate_wait(&f->peer->gate, 1)); /* the POST is on the wire now */
    assert_int_equal(iha_delivery_submit(d, &n, "same-key", on_done, &b), IHA_OK);
    assert_int_equal(iha_delivery_pending(d), 1);
    test_gate_open(&f->peer->gate);
    assert_int_equal(wait_calls(&a, 1, 5000), 1);
    assert_int_equal(wait_calls(&b, 1, 5000), 1);
    assert_int_equal(a.res.outcome, IHA_OUTCOME_DELIVERED);
    assert_int_equal(b.res.outcome, IHA_OUTCOME_DELIVERED);
    assert_string_equal(b.res.notification_uuid, UUID);
    assert_int_equal(peer_nreqs(f->peer), 1);

    /* Once complete, the same key is a new job again. */
    assert_int_equal(iha_delivery_submit(d, &n, "same-key", on_done, &c), IHA_OK);
    assert_int_equal(wait_calls(&c, 1, 5000), 1);
    assert_int_equal(c.res.outcome, IHA_OUTCOME_DUPLICATE);
    assert_int_equal(peer_nreqs(f->peer), 2);
    iha_delivery_free(d);
    assert_int_equal(a.calls + b.calls + c.calls, 3);
    iha_notification_clear(&n);
    capture_destroy(&a);
    capture_destroy(&b);
    capture_destroy(&c);
}

static void test_xloud_dialect(void **state)
{
    struct fx *f = *state;
    struct iha_delivery *d = NULL;
    struct iha_notification n;
    struct capture cap;
    json_t *root;
    const struct req *q;

    iha_notification_init(&n);
    n.type = IHA_NTYPE_VM;
    snprintf(n.hostname, sizeof(n.hostname), "compute-2");
    n.payload =
        json_pack("{s:s, s:s, s:s}", "event", "LIFECYCLE", "instance_uuid",
                  "0d4b2ba5-1f44-4a28-b3ad-18d3c2a2c9a2", "vir_domain_event", "STOPPED_FAILED");
    snprintf(n.generated_time, sizeof(n.generated_time), "2026-11-25T14:40:13Z");
    snprintf(n.id, sizeof(n.id), "fedcba9876543210");
    peer_script(f->peer, 202, "{\"notification_uuid\": \"flat-uuid\"}", false);
    f->cfg.dialect = IHA_DIALECT_XLOUD;
    snprintf(f->url, sizeof(f->url), "http://127.0.0.1:%u/", f->peer->port);
    capture_init(&cap);
    assert_int_equal(iha_delivery_new(&f->cfg, &d), IHA_OK);
    assert_int_equal(iha_delivery_submit(d, &n, "vm-key", on_done, &cap), IHA_OK);
    assert_int_equal(wait_calls(&cap, 1, 5000), 1);
    iha_delivery_free(d);

    assert_int_equal(cap.res.outcome, IHA_OUTCOME_DELIVERED);
    assert_string_equal(cap.res.notification_uuid, "flat-uuid");
    assert_int_equal(peer_nreqs(f->peer), 1);
    q = &f->peer->reqs[0];
    assert_string_equal(q->url, "/v1/notifications"); /* no double slash */
    assert_string_equal(q->authz, "Bearer gAAAAAB-test-token");
    assert_string_equal(q->x_auth, "");
    root = json_loads(q->body, 0, NULL);
    assert_non_null(root);
    assert_null(json_object_get(root, "notification"));
    assert_string_equal(json_string_value(json_object_get(root, "type")), "COMPUTE_INSTANCE");
    assert_string_equal(json_string_value(json_object_get(root, "hostname")), "compute-2");
    assert_string_equal(json_string_value(json_object_get(root, "generated_time")),
                        "2026-11-25T14:40:13Z");
    json_decref(root);
    iha_notification_clear(&n);
    capture_destroy(&cap);
}

static void test_no_token(void **state)
{
    struct fx *f = *state;
    struct capture cap;

    peer_script(f->peer, 202, BODY_202, false);
    f->cfg.token = NULL;
    deliver_one(f, &cap);
    assert_int_equal(cap.res.outcome, IHA_OUTCOME_DELIVERED);
    assert_string_equal(f->peer->reqs[0].x_auth, "");
    assert_string_equal(f->peer->reqs[0].authz, "");
    capture_destroy(&cap);
}

/* A renewed token file is picked up on the next attempt. */
static void test_token_renewed(void **state)
{
    struct fx *f = *state;
    struct capture cap;
    FILE *fp;

    peer_script(f->peer, 202, BODY_202, false);
    fp = fopen(f->token_path, "w");
    assert_non_null(fp);
    fputs("renewed-token-value\n", fp);
    fclose(fp);
    deliver_one(f, &cap);
    assert_int_equal(cap.res.outcome, IHA_OUTCOME_DELIVERED);
    assert_string_equal(f->peer->reqs[0].x_auth, "renewed-token-value");
    capture_destroy(&cap);
}

static void test_capacity(void **state)
{
    struct fx *f = *state;
    struct iha_delivery *d = NULL;
    struct iha_notification n;
    struct capture a, b;

    peer_script(f->peer, 202, BODY_202, HOLD);
    make_host_down(&n);
    capture_init(&a);
    capture_init(&b);
    f->cfg.max_jobs = 1;
    assert_int_equal(iha_delivery_new(&f->cfg, &d), IHA_OK);
    assert_int_equal(iha_delivery_submit(d, &n, "k1", on_done, &a), IHA_OK);
    assert_int_equal(iha_delivery_submit(d, &n, "k2", on_done, &b), IHA_E_LIMIT);
    /* Joining needs no new job. */
    assert_int_equal(iha_delivery_submit(d, &n, "k1", on_done, &b), IHA_OK);
    assert_int_equal(iha_delivery_pending(d), 1);
    test_gate_open(&f->peer->gate);
    assert_int_equal(wait_calls(&a, 1, 5000), 1);
    assert_int_equal(wait_calls(&b, 1, 5000), 1);
    assert_int_equal(iha_delivery_pending(d), 0);
    iha_delivery_free(d);
    iha_notification_clear(&n);
    capture_destroy(&a);
    capture_destroy(&b);
}

static void test_shutdown_completes(void **state)
{
    struct fx *f = *state;
    struct iha_delivery *d = NULL;
    struct iha_notification n;
    struct capture a, b;

    peer_script(f->peer, 202, BODY_202, HOLD);
    peer_script(f->peer, 500, BODY_500, false);
    make_host_down(&n);
    capture_init(&a);
    capture_init(&b);
    assert_int_equal(iha_delivery_new(&f->cfg, &d), IHA_OK);
    assert_int_equal(iha_delivery_submit(d, &n, "slow", on_done, &a), IHA_OK);
    assert_true(test_gate_wait(&f->peer->gate, 1)); /* the slow one took the first step */
    assert_int_equal(iha_delivery_submit(d, &n, "backoff", on_done, &b), IHA_OK);
    /*
     * "slow" is waiting for its answer, "backoff" got a 500 and waits for its retry: its
     * request reached the peer (so it left the due set) and it is due again.
     */
    assert_eventually(peer_nreqs(f->peer) == 2 && debug_due(d) == 1);
    iha_delivery_free(d);
    assert_int_equal(a.calls, 1);
    assert_int_equal(b.calls, 1);
    assert_int_equal(a.res.outcome, IHA_OUTCOME_RETRY);
    assert_string_equal(a.res.detail, "shutting down");
    assert_int_equal(b.res.outcome, IHA_OUTCOME_RETRY);
    assert_string_equal(b.res.detail, "shutting down");
    assert_int_equal(b.res.http_code, 500);
    assert_int_equal(b.res.attempts, 1);
    iha_notification_clear(&n);
    capture_destroy(&a);
    capture_destroy(&b);
}

static void test_response_cap(void **state)
{
    struct fx *f = *state;
    struct capture cap;
    size_t big = 200 * 1024;

    f->peer->big = malloc(big + 1);
    assert_non_null(f->peer->big);
    memset(f->peer->big, ' ', big);
    f->peer->big[big] = '\0';
    peer_script(f->peer, 202, f->peer->big, false);
    deliver_one(f, &cap);
    assert_int_equal(cap.res.outcome, IHA_OUTCOME_DELIVERED);
    assert_int_equal(cap.res.http_code, 202);
    assert_int_equal(cap.res.attempts, 1);
    assert_true(cap.body_len <= 64 * 1024);
    capture_destroy(&cap);
}

static void test_bad_config(void **state)
{
    struct iha_delivery_config cfg = {.url = NULL};
    struct iha_delivery *d = (struct iha_delivery *)&cfg;

    (void)state;
    assert_int_equal(iha_delivery_new(&cfg, &d), IHA_E_INVAL);
    assert_null(d);
    iha_delivery_free(NULL);
}

/* ---- per-host order, joining, cancel and kick at scale ---- */

#define TRACK_HOSTS 64
#define TRACK_MAX 1024

/* What the tracking peer saw: per-host concurrency and the arrival order of "n". */
struct track {
    pthread_mutex_t lock;
    int inflight[TRACK_HOSTS];
    int max_inflight;
    int host[TRACK_MAX];
    int n[TRACK_MAX];
    size_t count;
};

/* Called by on_request() for every complete request while the peer tracks. */
static void track_request(struct track *t, const char *body)
{
    json_t *root = json_loads(body, 0, NULL);
    json_t *inner = json_object_get(root, "notification");
    const char *host = json_string_value(json_object_get(inner, "hostname"));
    int h = -1,
        n = (int)json_integer_value(json_object_get(json_object_get(inner, "payload"), "n"));

    if (host && strncmp(host, "h-", 2) == 0)
        h = (int)strtol(host + 2, NULL, 10);
    json_decref(root);
    if (h < 0 || h >= TRACK_HOSTS)
        return;
    pthread_mutex_lock(&t->lock);
    if (++t->inflight[h] > t->max_inflight)
        t->max_inflight = t->inflight[h];
    if (t->count < TRACK_MAX) {
        t->host[t->count] = h;
        t->n[t->count] = n;
        t->count++;
    }
    pthread_mutex_unlock(&t->lock);
    /*
     * Not ordering anything: it widens the window in which a second request of the host
     * would overlap if one were sent, so a broken order shows as max_inflight > 1.
     */
    test_sleep_ms(5);
    pthread_mutex_lock(&t->lock);
    t->inflight[h]--;
    pthread_mutex_unlock(&t->lock);
}

/* A host-down notification for hostname "h-<host>" whose payload carries @p n. */
static void make_numbered(struct iha_notification *n, int host, int seq)
{
    make_host_down(n);
    snprintf(n->hostname, sizeof(n->hostname), "h-%d", host);
    json_object_set_new(n->payload, "n", json_integer(seq));
}

struct attempts {
    pthread_mutex_t lock;
    int calls;
    unsigned attempts[8];
    char detail[8][512];
};

static void on_attempt_rec(void *cls, const struct iha_delivery_result *res)
{
    struct attempts *a = ((void **)cls)[1];

    pthread_mutex_lock(&a->lock);
    if (a->calls < 8) {
        a->attempts[a->calls] = res->attempts;
        snprintf(a->detail[a->calls], sizeof(a->detail[0]), "%s", res->detail);
    }
    a->calls++;
    pthread_mutex_unlock(&a->lock);
}

/* The cls of a submission with both a completion and an attempt record: {capture, attempts}. */
static void on_done_pair(void *cls, const struct iha_delivery_result *res)
{
    on_done(((void **)cls)[0], res);
}

static int attempt_calls(struct attempts *a)
{
    int n;

    pthread_mutex_lock(&a->lock);
    n = a->calls;
    pthread_mutex_unlock(&a->lock);
    return n;
}

static bool wait_attempts(struct attempts *a, int n, unsigned timeout_ms)
{
    bool ok;

    TEST_POLL_UNTIL(ok, attempt_calls(a) >= n, timeout_ms, TEST_POLL_MS);
    return ok;
}

/* A port that accepts no connection: just bound and closed again. */
static unsigned closed_port(void)
{
    struct peer *gone = peer_start();
    unsigned port = gone->port;

    peer_stop(gone);
    return port;
}

/*
 * 40 hosts, 5 ordered notifications each, submitted interleaved: every host receives
 * its notifications one at a time and in submission order, while hosts run in parallel.
 */
static void test_order_many_hosts(void **state)
{
    enum { HOSTS = 40, PER_HOST = 5 };
    struct fx *f = *state;
    struct iha_delivery *d = NULL;
    struct track *t = calloc(1, sizeof(*t));
    struct capture cap;
    struct iha_delivery_opts o = {.retry_for_ms = 10000, .per_host_order = true};
    int next[HOSTS] = {0};
    struct iha_delivery_debug dbg;

    assert_non_null(t);
    pthread_mutex_init(&t->lock, NULL);
    f->peer->track = t;
    capture_init(&cap);
    f->cfg.max_jobs = HOSTS * PER_HOST;
    assert_int_equal(iha_delivery_new(&f->cfg, &d), IHA_OK);
    for (int k = 0; k < PER_HOST; k++) {
        for (int h = 0; h < HOSTS; h++) {
            struct iha_notification n;
            char key[32];
            make_numbered(&n, h, k);
            snprintf(key, sizeof(key), "h-%d/%d", h, k);
            assert_int_equal(iha_delivery_submit_opts(d, &n, key, &o, on_done, &cap), IHA_OK);
            iha_notification_clear(&n);
        }
    }
    assert_int_equal(wait_calls(&cap, HOSTS * PER_HOST, 30000), HOSTS * PER_HOST);
    assert_int_equal(iha_delivery_pending(d), 0);
    iha_delivery_debug_stats(d, &dbg);
    assert_int_equal(dbg.hosts, 0); /* host entries go with their last job */
    assert_int_equal(dbg.blocked, 0);
    iha_delivery_free(d);
    f->peer->track = NULL;

    assert_int_equal(cap.res.outcome, IHA_OUTCOME_DELIVERED);
    assert_int_equal(t->count, HOSTS * PER_HOST);
    assert_int_equal(t->max_inflight, 1);
    for (size_t i = 0; i < t->count; i++) {
        assert_int_equal(t->n[i], next[t->host[i]]);
        next[t->host[i]]++;
    }
    for (int h = 0; h < HOSTS; h++)
        assert_int_equal(next[h], PER_HOST);
    capture_destroy(&cap);
    pthread_mutex_destroy(&t->lock);
    free(t);
}

/*
 * Unordered jobs of a host do not wait for its ordered ones, and ordered jobs of other
 * hosts do not wait either: only the same hostname's ordered jobs queue behind each other.
 */
static void test_order_only_same_host(void **state)
{
    struct fx *f = *state;
    struct iha_delivery *d = NULL;
    struct iha_notification n;
    struct capture slow, same, free_host, unordered;
    struct iha_delivery_opts o = {.retry_for_ms = 10000, .per_host_order = true};
    struct iha_delivery_debug dbg;

    peer_script(f->peer, 202, BODY_202, HOLD); /* the first request ("slow") hangs a while */
    capture_init(&slow);
    capture_init(&same);
    capture_init(&free_host);
    capture_init(&unordered);
    assert_int_equal(iha_delivery_new(&f->cfg, &d), IHA_OK);
    make_numbered(&n, 1, 0);
    assert_int_equal(iha_delivery_submit_opts(d, &n, "slow", &o, on_done, &slow), IHA_OK);
    assert_true(test_gate_wait(&f->peer->gate, 1)); /* "slow" is on the wire */
    assert_int_equal(iha_delivery_submit_opts(d, &n, "same", &o, on_done, &same), IHA_OK);
    assert_int_equal(iha_delivery_submit(d, &n, "unordered", on_done, &unordered), IHA_OK);
    iha_notification_clear(&n);
    iha_delivery_debug_stats(d, &dbg);
    assert_int_equal(dbg.blocked, 1);
    assert_int_equal(dbg.hosts, 1);
    make_numbered(&n, 2, 0);
    assert_int_equal(iha_delivery_submit_opts(d, &n, "other", &o, on_done, &free_host), IHA_OK);
    iha_notification_clear(&n);

    assert_int_equal(wait_calls(&unordered, 1, 5000), 1);
    assert_int_equal(wait_calls(&free_host, 1, 5000), 1);
    assert_int_equal(capture_calls(&slow),
                     0); /* both finished while "slow" was still on the wire */
    assert_int_equal(capture_calls(&same), 0);
    test_gate_open(&f->peer->gate);
    assert_int_equal(wait_calls(&same, 1, 5000), 1);
    assert_int_equal(capture_calls(&slow), 1); /* "same" completed only after "slow" */
    assert_int_equal(same.res.outcome, IHA_OUTCOME_DELIVERED);
    iha_delivery_free(d);
    capture_destroy(&slow);
    capture_destroy(&same);
    capture_destroy(&free_host);
    capture_destroy(&unordered);
}

/*
 * Cancelling a waiting ordered job ends it at once without disturbing the order;
 * cancelling the first one during its backoff lets the next one start.
 */
static void test_cancel_ordered(void **state)
{
    struct fx *f = *state;
    struct iha_delivery *d = NULL;
    struct iha_notification n;
    struct capture a, b, c;
    struct attempts ra = {.calls = 0}, rc = {.calls = 0};
    void *pa[2] = {&a, &ra}, *pc[2] = {&c, &rc};
    struct iha_delivery_opts o = {.retry_for_ms = 60000, .per_host_order = true};

    snprintf(f->url, sizeof(f->url), "http://127.0.0.1:%u", closed_port());
    pthread_mutex_init(&ra.lock, NULL);
    pthread_mutex_init(&rc.lock, NULL);
    capture_init(&a);
    capture_init(&b);
    capture_init(&c);
    assert_int_equal(iha_delivery_new(&f->cfg, &d), IHA_OK);
    make_numbered(&n, 7, 0);
    o.on_attempt = on_attempt_rec;
    assert_int_equal(iha_delivery_submit_opts(d, &n, "a", &o, on_done_pair, pa), IHA_OK);
    o.on_attempt = NULL;
    assert_int_equal(iha_delivery_submit_opts(d, &n, "b", &o, on_done, &b), IHA_OK);
    o.on_attempt = on_attempt_rec;
    assert_int_equal(iha_delivery_submit_opts(d, &n, "c", &o, on_done_pair, pc), IHA_OK);
    iha_notification_clear(&n);

    assert_true(wait_attempts(&ra, 1, 5000)); /* "a" was refused and waits for its retry */
    assert_int_equal(iha_delivery_cancel(d, "b"), IHA_OK);
    assert_int_equal(wait_calls(&b, 1, 5000), 1);
    assert_true(b.res.cancelled);
    assert_int_equal(b.res.attempts, 0);
    assert_string_equal(b.res.detail, "cancelled");
    assert_int_equal(attempt_calls(&rc), 0); /* "c" still waits for "a" */
    assert_int_equal(capture_calls(&a), 0);

    assert_int_equal(iha_delivery_cancel(d, "a"), IHA_OK);
    assert_int_equal(wait_calls(&a, 1, 5000), 1);
    assert_true(a.res.cancelled);
    assert_int_equal(a.res.outcome, IHA_OUTCOME_RETRY);
    assert_true(wait_attempts(&rc, 1, 5000)); /* now "c" runs */
    assert_int_equal(rc.attempts[0], 1);
    assert_int_equal(iha_delivery_cancel(d, "b"), IHA_E_NOTFOUND);
    assert_int_equal(iha_delivery_cancel(d, "c"), IHA_OK);
    assert_int_equal(wait_calls(&c, 1, 5000), 1);
    assert_true(c.res.cancelled);
    assert_int_equal(iha_delivery_pending(d), 0);
    iha_delivery_free(d);
    assert_int_equal(a.calls + b.calls + c.calls, 3);
    capture_destroy(&a);
    capture_destroy(&b);
    capture_destroy(&c);
    pthread_mutex_destroy(&ra.lock);
    pthread_mutex_destroy(&rc.lock);
}

/*
 * A kicked job in its backoff is attempted at once. Its backoff is stretched to ten
 * minutes, so no natural retry can come during the test: until the kick the loop keeps
 * turning without a second attempt, and after it the second attempt follows.
 */
static void test_kick(void **state)
{
    struct fx *f = *state;
    struct iha_delivery *d = NULL;
    struct iha_notification n;
    struct capture cap;
    struct attempts ra = {.calls = 0};
    void *pa[2] = {&cap, &ra};
    struct iha_delivery_opts o = {.retry_for_ms = 60000, .on_attempt = on_attempt_rec};
    unsigned long long turns;

    atomic_store(&backoff_extra_ms, 10ull * 60 * 1000);
    snprintf(f->url, sizeof(f->url), "http://127.0.0.1:%u", closed_port());
    pthread_mutex_init(&ra.lock, NULL);
    capture_init(&cap);
    assert_int_equal(iha_delivery_new(&f->cfg, &d), IHA_OK);
    make_host_down(&n);
    assert_int_equal(iha_delivery_kick(d, "k"), IHA_E_NOTFOUND);
    assert_int_equal(iha_delivery_submit_opts(d, &n, "k", &o, on_done_pair, pa), IHA_OK);
    iha_notification_clear(&n);
    assert_true(wait_attempts(&ra, 1, TEST_WAIT_MS));
    /* Back in its (stretched) backoff after the refused first attempt. */
    assert_eventually(debug_due(d) == 1);
    assert_int_equal(atomic_load(&backoffs), 1);
    /* Without a kick the loop turns and leaves the job waiting. */
    turns = debug_turns(d);
    assert_eventually(debug_turns(d) >= turns + 3);
    assert_int_equal(attempt_calls(&ra), 1);

    assert_int_equal(iha_delivery_kick(d, "k"), IHA_OK);
    assert_true(wait_attempts(&ra, 2, TEST_WAIT_MS)); /* the next natural one is minutes away */
    assert_int_equal(ra.attempts[1], 2);
    assert_int_equal(capture_calls(&cap), 0);
    iha_delivery_free(d);
    assert_int_equal(cap.calls, 1);
    assert_string_equal(cap.res.detail, "shutting down");
    capture_destroy(&cap);
    pthread_mutex_destroy(&ra.lock);
}

/*
 * Notices: the first job tells its waiter the attempt is still running; the blocked
 * one says it waits for the host; each waiter gets one notice, then its attempts.
 */
static void test_notices(void **state)
{
    struct fx *f = *state;
    struct iha_delivery *d = NULL;
    struct iha_notification n;
    struct capture a, b;
    struct attempts ra = {.calls = 0}, rb = {.calls = 0};
    void *pa[2] = {&a, &ra}, *pb[2] = {&b, &rb};
    struct iha_delivery_opts o = {.retry_for_ms = 10000,
                                  .per_host_order = true,
                                  .on_attempt = on_attempt_rec,
                                  .notice_after_ms = 100};
    struct iha_delivery_debug dbg;

    peer_script(f->peer, 202, BODY_202, HOLD);
    pthread_mutex_init(&ra.lock, NULL);
    pthread_mutex_init(&rb.lock, NULL);
    capture_init(&a);
    capture_init(&b);
    assert_int_equal(iha_delivery_new(&f->cfg, &d), IHA_OK);
    make_host_down(&n);
    assert_int_equal(iha_delivery_submit_opts(d, &n, "first", &o, on_done_pair, pa), IHA_OK);
    assert_int_equal(iha_delivery_submit_opts(d, &n, "second", &o, on_done_pair, pb), IHA_OK);
    iha_notification_clear(&n);
    assert_true(wait_attempts(&ra, 1, 5000));
    assert_true(wait_attempts(&rb, 1, 5000));
    assert_int_equal(ra.attempts[0], 0);
    assert_string_equal(ra.detail[0], "first attempt still running");
    assert_int_equal(rb.attempts[0], 0);
    assert_string_equal(rb.detail[0], "waiting for an earlier notification for the same host");
    iha_delivery_debug_stats(d, &dbg);
    assert_int_equal(dbg.notices, 0);
    test_gate_open(&f->peer->gate);

    assert_int_equal(wait_calls(&b, 1, 5000), 1);
    assert_int_equal(a.calls, 1);
    assert_int_equal(attempt_calls(&ra), 2);
    assert_int_equal(attempt_calls(&rb), 2);
    assert_int_equal(ra.attempts[1], 1);
    assert_int_equal(rb.attempts[1], 1);
    iha_delivery_free(d);
    capture_destroy(&a);
    capture_destroy(&b);
    pthread_mutex_destroy(&ra.lock);
    pthread_mutex_destroy(&rb.lock);
}

/* Every one of many waiters joined to one job hears about its attempt, not only 32. */
static void test_many_waiters_attempt(void **state)
{
    enum { WAITERS = 40 };
    struct fx *f = *state;
    struct iha_delivery *d = NULL;
    struct iha_notification n;
    struct capture cap;
    struct attempts ra = {.calls = 0};
    void *pa[2] = {&cap, &ra};
    struct iha_delivery_opts o = {.retry_for_ms = 10000, .on_attempt = on_attempt_rec};

    peer_script(f->peer, 202, BODY_202, HOLD);
    pthread_mutex_init(&ra.lock, NULL);
    capture_init(&cap);
    assert_int_equal(iha_delivery_new(&f->cfg, &d), IHA_OK);
    make_host_down(&n);
    for (int i = 0; i < WAITERS; i++)
        assert_int_equal(iha_delivery_submit_opts(d, &n, "one", &o, on_done_pair, pa), IHA_OK);
    iha_notification_clear(&n);
    assert_int_equal(iha_delivery_pending(d), 1);
    test_gate_open(&f->peer->gate);
    assert_int_equal(wait_calls(&cap, WAITERS, 5000), WAITERS);
    assert_int_equal(attempt_calls(&ra), WAITERS);
    assert_int_equal(peer_nreqs(f->peer), 1);
    iha_delivery_free(d);
    capture_destroy(&cap);
    pthread_mutex_destroy(&ra.lock);
}

/*
 * Thousands of pending keys: a second submission of each joins its job, the capacity
 * counts jobs not waiters, and cancelling each ends both of its waiters.
 */
static void test_join_thousands(void **state)
{
    enum { KEYS = 3000 };
    struct fx *f = *state;
    struct iha_delivery *d = NULL;
    struct iha_notification n;
    struct capture first, second, extra;
    struct iha_delivery_opts o = {.retry_for_ms = 60000, .per_host_order = true};
    struct iha_delivery_debug dbg;
    unsigned port;
    int hole = test_blackhole_start(&port, 1);
    char key[32];

    snprintf(f->url, sizeof(f->url), "http://127.0.0.1:%u", port);
    f->cfg.connect_timeout_ms = 30000;
    f->cfg.timeout_ms = 30000;
    f->cfg.max_jobs = KEYS;
    capture_init(&first);
    capture_init(&second);
    capture_init(&extra);
    assert_int_equal(iha_delivery_new(&f->cfg, &d), IHA_OK);
    for (int i = 0; i < KEYS; i++) {
        make_numbered(&n, i % 3, i); /* three hosts: three on the wire, the rest wait */
        snprintf(key, sizeof(key), "key-%d", i);
        assert_int_equal(iha_delivery_submit_opts(d, &n, key, &o, on_done, &first), IHA_OK);
        iha_notification_clear(&n);
    }
    make_numbered(&n, 0, 0);
    assert_int_equal(iha_delivery_submit_opts(d, &n, "one-too-many", &o, on_done, &extra),
                     IHA_E_LIMIT);
    for (int i = KEYS - 1; i >= 0; i--) {
        snprintf(key, sizeof(key), "key-%d", i);
        assert_int_equal(iha_delivery_submit_opts(d, &n, key, &o, on_done, &second), IHA_OK);
    }
    iha_notification_clear(&n);
    assert_int_equal(iha_delivery_pending(d), KEYS);
    iha_delivery_debug_stats(d, &dbg);
    assert_int_equal(dbg.hosts, 3);
    assert_int_equal(dbg.blocked, KEYS - 3);
    assert_int_equal(capture_calls(&first) + capture_calls(&second), 0);

    for (int i = 3; i < KEYS; i++) {
        snprintf(key, sizeof(key), "key-%d", i);
        assert_int_equal(iha_delivery_cancel(d, key), IHA_OK);
    }
    assert_int_equal(wait_calls(&second, KEYS - 3, 10000), KEYS - 3);
    assert_int_equal(wait_calls(&first, KEYS - 3, 10000), KEYS - 3);
    assert_true(second.res.cancelled);
    assert_string_equal(second.res.detail, "cancelled");
    assert_int_equal(iha_delivery_pending(d), 3);
    assert_int_equal(iha_delivery_cancel(d, "key-3"), IHA_E_NOTFOUND);
    iha_delivery_debug_stats(d, &dbg);
    assert_int_equal(dbg.blocked, 0);
    iha_delivery_free(d);
    assert_int_equal(first.calls, KEYS);
    assert_int_equal(second.calls, KEYS);
    assert_int_equal(extra.calls, 0);
    assert_string_equal(first.res.detail, "shutting down");
    close(hole);
    capture_destroy(&first);
    capture_destroy(&second);
    capture_destroy(&extra);
}

/* Submits @p count ordered jobs spread over @p hosts hostnames; @return probes used. */
static unsigned long long submit_batch(struct iha_delivery *d, struct capture *cap, int from,
                                       int count, int hosts)
{
    struct iha_delivery_opts o = {.retry_for_ms = 600000, .per_host_order = true};
    struct iha_delivery_debug before, after;
    struct iha_notification n;
    char key[32];

    iha_delivery_debug_stats(d, &before);
    for (int i = from; i < from + count; i++) {
        make_numbered(&n, i % hosts, i);
        snprintf(key, sizeof(key), "backlog-%d", i);
        assert_int_equal(iha_delivery_submit_opts(d, &n, key, &o, on_done, cap), IHA_OK);
        iha_notification_clear(&n);
    }
    iha_delivery_debug_stats(d, &after);
    return after.probes - before.probes;
}

/*
 * The outage case: Instance HA unreachable and 20,000 notifications pending. A
 * submission, a join and a turn of the loop must cost what they cost with an empty
 * backlog (the old linear scans cost a pass over every job for each of them). Counted
 * in index probes, not time, so the test is deterministic.
 */
static void test_backlog_flat(void **state)
{
    enum { BACKLOG = 20000, BATCH = 500, HOSTS = 50 };
    struct fx *f = *state;
    struct iha_delivery *d = NULL;
    struct capture cap;
    struct iha_delivery_debug a, b;
    unsigned long long small, big, join_probes;
    unsigned port;
    int hole = test_blackhole_start(&port, 1);
    struct iha_notification n;

    snprintf(f->url, sizeof(f->url), "http://127.0.0.1:%u", port);
    f->cfg.connect_timeout_ms = 60000;
    f->cfg.timeout_ms = 60000;
    f->cfg.max_jobs = BACKLOG + 2 * BATCH;
    capture_init(&cap);
    assert_int_equal(iha_delivery_new(&f->cfg, &d), IHA_OK);

    small = submit_batch(d, &cap, 0, BATCH, HOSTS);
    assert_int_equal(submit_batch(d, &cap, BATCH, BACKLOG - BATCH, HOSTS) > 0, 1);
    /* The loop settles: every host's first job hangs, the rest wait. */
    assert_eventually(debug_settled(d, BACKLOG - HOSTS));
    big = submit_batch(d, &cap, BACKLOG, BATCH, HOSTS);
    assert_int_equal(iha_delivery_pending(d), BACKLOG + BATCH);
    /* Generous: a few probes per submission either way; a scan would be 20,000 each. */
    assert_true(big <= 3 * small + 10 * BATCH);
    assert_true(big < 40ull * BATCH);

    /* Joining an old key in the backlog costs the same. */
    iha_delivery_debug_stats(d, &a);
    make_numbered(&n, 1, 1);
    for (int i = 0; i < BATCH; i++)
        assert_int_equal(iha_delivery_submit(d, &n, "backlog-1", on_done, &cap), IHA_OK);
    iha_notification_clear(&n);
    iha_delivery_debug_stats(d, &b);
    join_probes = b.probes - a.probes;
    assert_true(join_probes < 40ull * BATCH);

    /* Idle turns of the loop cost next to nothing. */
    iha_delivery_debug_stats(d, &a);
    assert_eventually(debug_turns(d) >= a.turns + 3);
    iha_delivery_debug_stats(d, &b);
    assert_true(b.turns > a.turns);
    assert_true(b.probes - a.probes <= 40 * (b.turns - a.turns));
    assert_int_equal(b.hosts, HOSTS);
    assert_int_equal(b.blocked, BACKLOG + BATCH - HOSTS);

    print_message("      backlog probes: %llu per %d submissions with none pending, %llu with "
                  "%d pending, %llu per %d joins\n",
                  small, BATCH, big, BACKLOG, join_probes, BATCH);
    iha_delivery_free(d);
    assert_int_equal(cap.calls, BACKLOG + 2 * BATCH);
    close(hole);
    capture_destroy(&cap);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_500_then_202, setup, teardown),
        cmocka_unit_test_setup_teardown(test_409_duplicate, setup, teardown),
        cmocka_unit_test_setup_teardown(test_409_maintenance, setup, teardown),
        cmocka_unit_test_setup_teardown(test_400_unknown_host, setup, teardown),
        cmocka_unit_test_setup_teardown(test_401_then_202, setup, teardown),
        cmocka_unit_test_setup_teardown(test_401_twice, setup, teardown),
        cmocka_unit_test_setup_teardown(test_403, setup, teardown),
        cmocka_unit_test_setup_teardown(test_503_until_budget, setup, teardown),
        cmocka_unit_test_setup_teardown(test_timeout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_timeout_then_duplicate, setup, teardown),
        cmocka_unit_test_setup_teardown(test_connection_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_join_inflight, setup, teardown),
        cmocka_unit_test_setup_teardown(test_xloud_dialect, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_token, setup, teardown),
        cmocka_unit_test_setup_teardown(test_token_renewed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_capacity, setup, teardown),
        cmocka_unit_test_setup_teardown(test_shutdown_completes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_response_cap, setup, teardown),
        cmocka_unit_test(test_bad_config),
        cmocka_unit_test_setup_teardown(test_order_many_hosts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_order_only_same_host, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cancel_ordered, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kick, setup, teardown),
        cmocka_unit_test_setup_teardown(test_notices, setup, teardown),
        cmocka_unit_test_setup_teardown(test_many_waiters_attempt, setup, teardown),
        cmocka_unit_test_setup_teardown(test_join_thousands, setup, teardown),
        cmocka_unit_test_setup_teardown(test_backlog_flat, setup, teardown),
    };
    int rc;

    iha_log_setup(IHA_LOG_WARN, IHA_LOG_LOGFMT);
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return 1;
    rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
