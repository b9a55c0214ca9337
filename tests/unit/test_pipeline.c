/* SPDX-License-Identifier: Apache-2.0 */
/** @file test_pipeline.c @brief Answers to duplicates of a notification not stored yet. */
#include "pipeline.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "cmocka_includes.h"
#include "test_fixture.h"
#include "test_gate.h"

#include "clock.h"
#include "delivery.h"
#include "diag.h"
#include "events.h"
#include "mapping.h"
#include "metrics.h"
#include "policy.h"
#include "queue.h"

/*
 * fdatasync is wrapped at link time: the test holds the committer inside a sync (a slow
 * disk) while a duplicate arrives, then lets the sync fail (EIO) or succeed.
 */
int __real_fdatasync(int fd);
int __wrap_fdatasync(int fd);

static struct {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool gate_closed; /* syncs wait until it opens */
    unsigned entered; /* syncs started */
    bool fail_all;
} fs = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, false, 0, false};

int __wrap_fdatasync(int fd)
{
    bool fail;

    pthread_mutex_lock(&fs.lock);
    fs.entered++;
    pthread_cond_broadcast(&fs.cond);
    while (fs.gate_closed)
        pthread_cond_wait(&fs.cond, &fs.lock);
    fail = fs.fail_all;
    pthread_mutex_unlock(&fs.lock);
    if (fail) {
        errno = EIO;
        return -1;
    }
    return __real_fdatasync(fd);
}

/* Closes the gate and @return the number of syncs started so far. */
static unsigned gate_close(void)
{
    unsigned n;

    pthread_mutex_lock(&fs.lock);
    fs.gate_closed = true;
    n = fs.entered;
    pthread_mutex_unlock(&fs.lock);
    return n;
}

static void gate_open(bool fail)
{
    pthread_mutex_lock(&fs.lock);
    fs.fail_all = fail;
    fs.gate_closed = false;
    pthread_cond_broadcast(&fs.cond);
    pthread_mutex_unlock(&fs.lock);
}

static void wait_entered_beyond(unsigned n)
{
    pthread_mutex_lock(&fs.lock);
    while (fs.entered <= n)
        pthread_cond_wait(&fs.cond, &fs.lock);
    pthread_mutex_unlock(&fs.lock);
}

/*
 * The clocks are wrapped too: the wall clock (time()) can be stepped as an administrator or
 * NTP steps it, and CLOCK_MONOTONIC can be moved forward so that a window passes without
 * waiting for it. Other clocks (CLOCK_REALTIME deadlines of timed waits) are left alone.
 */
time_t __real_time(time_t *t);
time_t __wrap_time(time_t *t);
int __real_clock_gettime(clockid_t id, struct timespec *ts);
int __wrap_clock_gettime(clockid_t id, struct timespec *ts);

static _Atomic long long wall_step_s;  /* added to time() */
static _Atomic long long mono_ahead_s; /* added to CLOCK_MONOTONIC */

time_t __wrap_time(time_t *t)
{
    time_t v = __real_time(NULL) + (time_t)atomic_load(&wall_step_s);

    if (t)
        *t = v;
    return v;
}

int __wrap_clock_gettime(clockid_t id, struct timespec *ts)
{
    int rc = __real_clock_gettime(id, ts);

    if (rc == 0 && id == CLOCK_MONOTONIC)
        ts->tv_sec += (time_t)atomic_load(&mono_ahead_s);
    return rc;
}

static void clock_reset(void)
{
    atomic_store(&wall_step_s, 0);
    atomic_store(&mono_ahead_s, 0);
}

/* A fake Instance HA that answers every POST 202 (created), as Masakari does. */
struct peer {
    struct MHD_Daemon *mhd;
    unsigned port;
    _Atomic unsigned posts;
};

static enum MHD_Result peer_request(void *cls, struct MHD_Connection *c, const char *url,
                                    const char *method, const char *version, const char *data,
                                    size_t *size, void **con_cls)
{
    static int started;
    static const char body[] = "{\"notification\": {\"notification_uuid\": "
                               "\"11111111-2222-3333-4444-555555555555\", \"status\": \"new\"}}";
    struct peer *pr = cls;
    struct MHD_Response *r;
    enum MHD_Result ret;

    (void)url;
    (void)method;
    (void)version;
    (void)data;
    if (!*con_cls) {
        *con_cls = &started;
        return MHD_YES;
    }
    if (*size) {
        *size = 0;
        return MHD_YES;
    }
    atomic_fetch_add(&pr->posts, 1);
    r = MHD_create_response_from_buffer(strlen(body), (void *)(uintptr_t)body,
                                        MHD_RESPMEM_PERSISTENT);
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, "Content-Type", "application/json");
    ret = MHD_queue_response(c, 202, r);
    MHD_destroy_response(r);
    return ret;
}

static struct peer *peer_start(void)
{
    struct peer *pr = calloc(1, sizeof(*pr));
    const union MHD_DaemonInfo *info;
    struct sockaddr_in sa;

    assert_non_null(pr);
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    pr->mhd = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG, 0, NULL, NULL,
                               peer_request, pr, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
                               MHD_OPTION_END);
    assert_non_null(pr->mhd);
    info = MHD_get_daemon_info(pr->mhd, MHD_DAEMON_INFO_BIND_PORT);
    assert_non_null(info);
    pr->port = info->port;
    return pr;
}

static void peer_stop(struct peer *pr)
{
    MHD_stop_daemon(pr->mhd);
    free(pr);
}

/* One sender's answer. */
struct answer {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool done;
    unsigned calls; /* must end at 1 */
    unsigned status;
    json_t *body;
};

static void answer_init(struct answer *a)
{
    memset(a, 0, sizeof(*a));
    pthread_mutex_init(&a->lock, NULL);
    pthread_cond_init(&a->cond, NULL);
}

static void answer_clear(struct answer *a)
{
    json_decref(a->body);
    pthread_cond_destroy(&a->cond);
    pthread_mutex_destroy(&a->lock);
}

static void on_reply(void *cls, unsigned status, json_t *body)
{
    struct answer *a = cls;

    pthread_mutex_lock(&a->lock);
    a->calls++;
    a->done = true;
    a->status = status;
    a->body = body;
    pthread_cond_broadcast(&a->cond);
    pthread_mutex_unlock(&a->lock);
}

static bool answered(struct answer *a)
{
    bool done;

    pthread_mutex_lock(&a->lock);
    done = a->done;
    pthread_mutex_unlock(&a->lock);
    return done;
}

static void wait_answer(struct answer *a)
{
    struct timespec until = iha_clock_deadline(10000);

    pthread_mutex_lock(&a->lock);
    while (!a->done && pthread_cond_timedwait(&a->cond, &a->lock, &until) == 0) {
    }
    pthread_mutex_unlock(&a->lock);
    assert_true(answered(a));
    assert_int_equal(a->calls, 1);
}

static const char *result_of(const struct answer *a)
{
    return json_string_value(
        json_object_get(json_array_get(json_object_get(a->body, "results"), 0), "result"));
}

static const char *detail_of(const struct answer *a)
{
    const char *d = json_string_value(
        json_object_get(json_array_get(json_object_get(a->body, "results"), 0), "detail"));
    return d ? d : "";
}

/* One firing HostDown, as Alertmanager 0.25 sent it. */
#define WEBHOOK "alertmanager/001-am-plain.json"

static const char rule_text[] = "rules:\n"
                                "  - name: host-down\n"
                                "    matchers:\n"
                                "      - alertname = \"HostDown\"\n"
                                "    type: COMPUTE_HOST\n"
                                "    hostname: host-1\n"
                                "    firing:\n"
                                "      payload:\n"
                                "        event: STOPPED\n"
                                "        host_status: NORMAL\n"
                                "        cluster_status: OFFLINE\n";

struct fixture {
    char dir[64];
    struct iha_ruleset *rules;
    struct iha_queue *queue;
    struct iha_delivery *delivery;
    struct iha_dedupe *dedupe;
    struct iha_pipeline *p;
    struct iha_metrics *metrics;
    struct iha_events *events;
    json_t *body;
    struct answer ans[4]; /* outlive a failed test: late answers land here */
    struct peer *peer;    /* a fake Instance HA answering 202, or NULL */
    int blackhole;        /* a listener that never accepts, or -1 */
};

/* What differs between the fixtures; zero members take the defaults. */
struct fixture_opts {
    const char *url;     /* default: a closed port (delivery keeps retrying) */
    size_t queue_max;    /* storage.max_entries */
    size_t max_jobs;     /* delivery jobs */
    unsigned timeout_ms; /* per attempt */
    bool peer;           /* deliver to a fake Instance HA answering 202 */
    bool blackhole;      /* deliver to a listener that never accepts: attempts hang */
    const struct iha_policy_config *policy; /* the safety policy; NULL: off */
    unsigned long long max_age_ms;          /* storage.max_age; 0: the default */
    const char *heartbeat_alertname;        /* policy.heartbeat.alertname */
};

static int setup_with(void **state, const struct fixture_opts *o)
{
    struct fixture *fx = calloc(1, sizeof(*fx));
    struct iha_diag *diag = iha_diag_new();
    struct iha_err err = {0};
    struct iha_queue_config qc = {0};
    char url[64];
    /* A closed port: delivery keeps retrying in the background, which is not tested here. */
    struct iha_delivery_config dc = {.url = o->url ? o->url : "http://127.0.0.1:9",
                                     .connect_timeout_ms = 200,
                                     .timeout_ms = o->timeout_ms ? o->timeout_ms : 500,
                                     .max_backoff_ms = 1000,
                                     .max_jobs = o->max_jobs ? o->max_jobs : 16};
    struct iha_pipeline_stages stg = {0};

    assert_non_null(fx);
    fx->blackhole = -1;
    if (o->peer) {
        fx->peer = peer_start();
        snprintf(url, sizeof(url), "http://127.0.0.1:%u", fx->peer->port);
        dc.url = url;
    } else if (o->blackhole) {
        unsigned port;
        fx->blackhole = test_blackhole_start(&port, 4);
        snprintf(url, sizeof(url), "http://127.0.0.1:%u", port);
        dc.url = url;
    }
    snprintf(fx->dir, sizeof(fx->dir), "/tmp/iha-pipeline-XXXXXX");
    assert_non_null(mkdtemp(fx->dir));
    fx->rules = iha_ruleset_new();
    assert_int_equal(iha_ruleset_load(fx->rules, "t.yml", rule_text, strlen(rule_text), diag),
                     IHA_OK);
    iha_diag_free(diag);
    qc.dir = fx->dir;
    qc.max_entries = o->queue_max;
    assert_int_equal(iha_queue_open(&qc, &fx->queue, &err), IHA_OK);
    assert_int_equal(iha_delivery_new(&dc, &fx->delivery), IHA_OK);
    fx->dedupe = iha_dedupe_new(180, 100);
    stg.rules = fx->rules;
    stg.dedupe = fx->dedupe;
    stg.delivery = fx->delivery;
    stg.queue = fx->queue;
    fx->metrics = iha_metrics_new();
    assert_non_null(fx->metrics);
    assert_int_equal(iha_metrics_register_gateway(fx->metrics, "test"), IHA_OK);
    fx->events = iha_events_new(4096);
    assert_non_null(fx->events);
    stg.metrics = fx->metrics;
    stg.events = fx->events;
    stg.policy = o->policy;
    stg.max_age_ms = o->max_age_ms;
    stg.heartbeat_alertname = o->heartbeat_alertname;
    fx->p = iha_pipeline_new(&stg);
    assert_non_null(fx->p);
    fx->body = test_fixture_json(WEBHOOK); /* a real firing HostDown */
    assert_non_null(fx->body);
    for (int i = 0; i < 4; i++)
        answer_init(&fx->ans[i]);
    *state = fx;
    return 0;
}

static int setup(void **state)
{
    static const struct fixture_opts o = {0};

    return setup_with(state, &o);
}

static int teardown(void **state)
{
    struct fixture *fx = *state;
    char cmd[128];

    gate_open(false);
    clock_reset();
    iha_pipeline_stop(fx->p);
    iha_delivery_free(fx->delivery);
    iha_queue_close(fx->queue);
    iha_pipeline_free(fx->p);
    iha_events_free(fx->events);
    iha_metrics_free(fx->metrics);
    iha_dedupe_free(fx->dedupe);
    iha_ruleset_free(fx->rules);
    json_decref(fx->body);
    for (int i = 0; i < 4; i++)
        answer_clear(&fx->ans[i]);
    if (fx->peer)
        peer_stop(fx->peer);
    if (fx->blackhole >= 0)
        close(fx->blackhole);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", fx->dir);
    assert_int_equal(system(cmd), 0);
    free(fx);
    return 0;
}

static void post(struct fixture *fx, struct answer *a)
{
    struct iha_err err = {0};

    assert_int_equal(
        iha_pipeline_handle(fx->p, IHA_SOURCE_ALERTMANAGER, fx->body, on_reply, a, &err), IHA_OK);
}

static void wait_healthy(struct fixture *fx)
{
    char why[256];

    assert_eventually(!iha_queue_unhealthy(fx->queue, why, sizeof(why)));
}

/*
 * A (from one Alertmanager of an HA pair) is being stored when B (the other one) sends
 * the same alert. B must not be told 200 before A's notification is on disk: when the
 * sync fails, both are answered 503 and retry.
 */
static void test_duplicate_of_failed_store(void **state)
{
    struct fixture *fx = *state;
    struct answer *a = &fx->ans[0], *b = &fx->ans[1];
    unsigned n;

    n = gate_close();
    post(fx, a);
    wait_entered_beyond(n); /* A's batch is inside its sync */
    post(fx, b);
    assert_false(answered(a));
    assert_false(answered(b)); /* nothing is on disk yet */
    gate_open(true);
    wait_answer(a);
    wait_answer(b);
    assert_int_equal(a->status, 503);
    assert_int_equal(b->status, 503);
    assert_string_equal(result_of(b), "retry");
    assert_non_null(strstr(detail_of(b), "could not be stored"));

    /* The retries are not duplicates of the failed entry: stored once, answered 200. */
    gate_open(false);
    wait_healthy(fx);
    a = &fx->ans[2];
    b = &fx->ans[3];
    post(fx, a);
    wait_answer(a);
    assert_int_equal(a->status, 200);
    assert_string_equal(result_of(a), "queued");
    post(fx, b);
    wait_answer(b);
    assert_int_equal(b->status, 200);
    assert_string_equal(result_of(b), "deduplicated");
    assert_int_equal(iha_queue_stats(fx->queue).live, 1);
}

/* Once the sync succeeds, the waiting duplicate is answered 200 "deduplicated". */
static void test_duplicate_of_stored(void **state)
{
    struct fixture *fx = *state;
    struct answer *a = &fx->ans[0], *b = &fx->ans[1], *c = &fx->ans[2];
    unsigned n;

    n = gate_close();
    post(fx, a);
    wait_entered_beyond(n);
    post(fx, b);
    assert_false(answered(b));
    gate_open(false);
    wait_answer(a);
    wait_answer(b);
    assert_int_equal(a->status, 200);
    assert_string_equal(result_of(a), "queued");
    assert_int_equal(b->status, 200);
    assert_string_equal(result_of(b), "deduplicated");
    /* Stored: a later duplicate is answered at once. */
    gate_close();
    post(fx, c);
    assert_true(answered(c));
    assert_int_equal(c->status, 200);
    assert_string_equal(result_of(c), "deduplicated");
    gate_open(false);
    assert_int_equal(iha_queue_stats(fx->queue).live, 1);
}

/* Shutdown while a duplicate waits: it is answered (with its batch's outcome), nothing leaks. */
static void test_shutdown_answers_waiters(void **state)
{
    struct fixture *fx = *state;
    struct answer *a = &fx->ans[0], *b = &fx->ans[1];
    unsigned n;

    n = gate_close();
    post(fx, a);
    wait_entered_beyond(n);
    post(fx, b);
    assert_false(answered(b));
    iha_pipeline_stop(fx->p);
    gate_open(false);
    iha_queue_close(fx->queue); /* the committer finishes the batch, then stops */
    fx->queue = NULL;
    assert_true(answered(a));
    assert_true(answered(b));
    assert_int_equal(a->status, 200);
    assert_int_equal(b->status, 200);
    assert_string_equal(result_of(b), "deduplicated");
}

/* @return the results item of alert @p idx in @p body's answer, or NULL. */
static json_t *result_for(const json_t *answer, size_t idx)
{
    size_t i;
    json_t *item;

    json_array_foreach(json_object_get(answer, "results"), i, item)
    {
        if (json_integer_value(json_object_get(item, "alert")) == (json_int_t)idx)
            return item;
    }
    return NULL;
}

/*
 * One Alertmanager group of 1,202 alerts: 1,200 that no rule maps, one with a label over
 * the limit, and a HostDown last. The HostDown is queued, the oversized alert alone is
 * dropped naming its label (answer, metric, event), and the answer is 200.
 */
static void test_unreadable_alert_dropped_alone(void **state)
{
    struct fixture *fx = *state;
    struct answer *a = &fx->ans[0];
    json_t *list = json_object_get(fx->body, "alerts");
    json_t *host_down = json_deep_copy(json_array_get(list, 0));
    json_t *noisy, *item, *events;
    char big[IHA_ALERT_MAX_VALUE + 2], name[32];
    size_t i;
    bool event_seen = false;

    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    json_array_clear(list);
    for (int k = 0; k < 1201; k++) {
        noisy = json_deep_copy(host_down);
        snprintf(name, sizeof(name), "Noisy%d", k);
        json_object_set_new(json_object_get(noisy, "labels"), "alertname", json_string(name));
        if (k == 600)
            json_object_set_new(json_object_get(noisy, "labels"), "runbook", json_string(big));
        json_array_append_new(list, noisy);
    }
    json_array_append_new(list, host_down);
    post(fx, a);
    wait_answer(a);
    assert_int_equal(a->status, 200);
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(a->body, "counts"), "queued")), 1);
    item = result_for(a->body, 1201);
    assert_non_null(item);
    assert_string_equal(json_string_value(json_object_get(item, "result")), "queued");
    assert_string_equal(json_string_value(json_object_get(item, "hostname")), "host-1");
    item = result_for(a->body, 600);
    assert_non_null(item);
    assert_string_equal(json_string_value(json_object_get(item, "result")), "dropped");
    assert_string_equal(json_string_value(json_object_get(item, "field")),
                        "alerts[600].labels.runbook");
    assert_string_equal(json_string_value(json_object_get(item, "alertname")), "Noisy600");
    assert_non_null(strstr(json_string_value(json_object_get(item, "reason")), "runbook"));
    assert_true(iha_metrics_value(fx->metrics, "iha_gateway_alerts_dropped_total",
                                  iha_drop_name(IHA_DROP_OVER_LIMIT), "") == 1.0);
    assert_true(iha_metrics_value(fx->metrics, "iha_gateway_alerts_dropped_total",
                                  iha_drop_name(IHA_DROP_NO_RULE), "") == 1200.0);
    events = iha_events_list(fx->events, NULL, 4096);
    json_array_foreach(events, i, item)
    {
        const char *f = json_string_value(json_object_get(item, "field"));
        if (f && strcmp(f, "alerts[600].labels.runbook") == 0)
            event_seen = strcmp(json_string_value(json_object_get(item, "result")), "dropped") == 0;
    }
    json_decref(events);
    assert_true(event_seen);
    assert_int_equal(iha_queue_stats(fx->queue).live, 1);
}

/* ---- helpers for the control commands, the clocks and shutdown ---- */

static const char host_payload[] =
    "{\"cluster_status\":\"OFFLINE\",\"event\":\"STOPPED\",\"host_status\":\"NORMAL\"}";

static const char *id_of(const struct answer *a)
{
    const char *id = json_string_value(
        json_object_get(json_array_get(json_object_get(a->body, "results"), 0), "id"));
    return id ? id : "";
}

/* A native notification (POST /v1/notifications) for @p host. */
static void post_native(struct fixture *fx, struct answer *a, const char *host)
{
    struct iha_err err = {0};
    char text[512];
    json_t *body;

    snprintf(text, sizeof(text), "{\"type\":\"COMPUTE_HOST\",\"hostname\":\"%s\",\"payload\":%s}",
             host, host_payload);
    body = json_loads(text, 0, NULL);
    assert_non_null(body);
    assert_int_equal(iha_pipeline_handle(fx->p, IHA_SOURCE_NATIVE, body, on_reply, a, &err),
                     IHA_OK);
    json_decref(body);
}

/* A dead-letter line for @p id holding the notification the webhook maps to (host-1). */
static void write_deadletter(struct fixture *fx, const char *id)
{
    char text[1024];
    json_t *line;

    snprintf(text, sizeof(text),
             "{\"id\":\"%s\",\"seq\":7,\"outcome\":\"rejected\",\"http_code\":400,"
             "\"reason\":\"Instance HA refused the notification for good\","
             "\"notification\":{\"id\":\"%s\",\"rule\":\"host-down\",\"type\":\"COMPUTE_HOST\","
             "\"hostname\":\"host-1\",\"payload\":%s,"
             "\"generated_time\":\"2026-11-25T14:40:13Z\",\"received_ms\":1795617613000,"
             "\"source\":\"alertmanager\"}}",
             id, id, host_payload);
    line = json_loads(text, 0, NULL);
    assert_non_null(line);
    assert_int_equal(iha_queue_deadletter_note(fx->queue, line), IHA_OK);
    json_decref(line);
}

struct stored_flag {
    _Atomic int done; /* 1 stored, 2 failed */
};

static void on_filler_stored(void *cls, enum iha_rc rc, uint64_t seq, const char *why)
{
    struct stored_flag *f = cls;

    (void)seq;
    (void)why;
    atomic_store(&f->done, rc == IHA_OK ? 1 : 2);
}

/* Stores an unrelated entry (another host) straight into the queue. @return its seq. */
static uint64_t fill_queue(struct fixture *fx)
{
    struct stored_flag flag = {0};
    json_t *rec = json_pack("{s:s,s:s,s:s,s:{s:s}}", "id", "filler", "type", "COMPUTE_HOST",
                            "hostname", "host-2", "payload", "event", "STOPPED");
    uint64_t seq = 0;

    assert_int_equal(iha_queue_push(fx->queue, rec, on_filler_stored, &flag, &seq), IHA_OK);
    json_decref(rec);
    assert_eventually(atomic_load(&flag.done) != 0);
    assert_int_equal(atomic_load(&flag.done), 1);
    return seq;
}

static bool queue_empty(struct fixture *fx)
{
    bool empty;

    TEST_POLL_UNTIL(empty, iha_queue_stats(fx->queue).live == 0, TEST_WAIT_MS, TEST_POLL_MS);
    return empty;
}

/*
 * `deadletter requeue` while the queue is full: refused, and the notification's dedupe key
 * is not left "in flight" — an equal HostDown arriving once there is room again is queued,
 * not answered "deduplicated" while nothing is queued for it.
 */
static void test_requeue_full_queue(void **state)
{
    struct fixture *fx = *state;
    struct answer *a = &fx->ans[0];
    char answer[512];
    uint64_t filler;

    write_deadletter(fx, "dead-1");
    filler = fill_queue(fx);
    assert_false(iha_pipeline_control(fx->p, "requeue", "dead-1", answer, sizeof(answer)));
    assert_non_null(strstr(answer, "queue full"));

    assert_int_equal(iha_queue_complete(fx->queue, filler, IHA_QREC_DROPPED, NULL), IHA_OK);
    post(fx, a);
    wait_answer(a);
    assert_int_equal(a->status, 200);
    assert_string_equal(result_of(a), "queued");
}

/*
 * `deadletter requeue` while every sync fails: the operator is told it was not requeued
 * (only a durable write is "requeued"), and the key is not poisoned; once storage works
 * the requeue succeeds and an equal HostDown is then a duplicate of it.
 */
static void test_requeue_failing_sync(void **state)
{
    struct fixture *fx = *state;
    struct answer *a = &fx->ans[0], *b = &fx->ans[1];
    char answer[512];

    write_deadletter(fx, "dead-1");
    gate_open(true);
    assert_false(iha_pipeline_control(fx->p, "requeue", "dead-1", answer, sizeof(answer)));
    assert_null(strstr(answer, "requeued as"));
    assert_non_null(strstr(answer, "not requeued"));
    assert_int_equal(iha_queue_stats(fx->queue).live, 0);

    gate_open(false);
    wait_healthy(fx);
    post(fx, a);
    wait_answer(a);
    assert_int_equal(a->status, 200);
    assert_string_equal(result_of(a), "queued");

    /* Stored this time: requeued, and the requeue is answered only after its write. */
    assert_true(iha_pipeline_control(fx->p, "requeue", "dead-1", answer, sizeof(answer)));
    assert_non_null(strstr(answer, "dead-1 requeued as "));
    assert_int_equal(iha_queue_stats(fx->queue).live, 2);
    assert_false(iha_pipeline_control(fx->p, "requeue", "dead-1", answer, sizeof(answer)));
    assert_non_null(strstr(answer, "requeued already"));
    post(fx, b);
    wait_answer(b);
    assert_string_equal(result_of(b), "deduplicated");
}

/*
 * A stored notification that cannot be handed to delivery (every delivery job taken) stays
 * queued for the next start; its key must not stay "in flight" for 24 h: an equal HostDown
 * is queued (and tried) again rather than answered "deduplicated".
 */
static void test_flight_not_started(void **state)
{
    struct fixture *fx = *state;
    struct answer *n = &fx->ans[0], *a = &fx->ans[1], *b = &fx->ans[2];

    post_native(fx, n, "host-2"); /* takes the only delivery job, retrying */
    wait_answer(n);
    assert_int_equal(n->status, 202);
    post(fx, a);
    wait_answer(a);
    assert_string_equal(result_of(a), "queued");
    post(fx, b);
    wait_answer(b);
    assert_int_equal(b->status, 200);
    assert_string_equal(result_of(b), "queued");
}

/* `queue retry` and `queue drop` on a queued notification, then an equal one is queued. */
static void test_retry_drop(void **state)
{
    struct fixture *fx = *state;
    struct answer *a = &fx->ans[0], *b = &fx->ans[1];
    char answer[512], id[64];

    post(fx, a);
    wait_answer(a);
    assert_string_equal(result_of(a), "queued");
    snprintf(id, sizeof(id), "%s", id_of(a));
    assert_true(iha_pipeline_control(fx->p, "retry", id, answer, sizeof(answer)));
    assert_non_null(strstr(answer, id));
    assert_true(iha_pipeline_control(fx->p, "drop", id, answer, sizeof(answer)));
    assert_non_null(strstr(answer, "dropped"));
    assert_int_equal(iha_queue_stats(fx->queue).live, 0);
    assert_false(iha_pipeline_control(fx->p, "drop", id, answer, sizeof(answer)));
    assert_non_null(strstr(answer, "no queued notification"));
    assert_false(iha_pipeline_control(fx->p, "retry", id, answer, sizeof(answer)));
    /* The dropped key is not a duplicate: an equal HostDown is queued again. */
    for (unsigned i = 0; i < TEST_WAIT_MS / TEST_POLL_MS; i++) {
        post(fx, b);
        wait_answer(b);
        if (strcmp(result_of(b), "queued") == 0)
            break;
        /* the drop's cancellation may still be on its way to the delivery thread */
        json_decref(b->body);
        b->body = NULL;
        b->done = false;
        b->calls = 0;
        test_sleep_ms(TEST_POLL_MS); /* a bounded poll: the loop ends on the answer */
    }
    assert_string_equal(result_of(b), "queued");
}

/*
 * Dedupe windows run on the monotonic clock: a wall clock stepped forward does not end a
 * window early, and one stepped back does not extend it.
 */
static void test_window_ignores_wall_clock(void **state)
{
    struct fixture *fx = *state;
    struct answer *a = &fx->ans[0], *b = &fx->ans[1], *c = &fx->ans[2];

    post(fx, a);
    wait_answer(a);
    assert_string_equal(result_of(a), "queued");
    assert_true(queue_empty(fx)); /* delivered: Instance HA answered 202 */
    assert_int_equal(atomic_load(&fx->peer->posts), 1);

    atomic_store(&wall_step_s, 3600); /* the wall clock jumps an hour ahead */
    post(fx, b);
    wait_answer(b);
    assert_string_equal(result_of(b), "deduplicated");

    /* Stepped an hour back, and the window (180 s) has passed. */
    atomic_store(&wall_step_s, -3600 + 181);
    atomic_store(&mono_ahead_s, 181);
    post(fx, c);
    wait_answer(c);
    assert_string_equal(result_of(c), "queued");
    assert_true(queue_empty(fx));
    assert_int_equal(atomic_load(&fx->peer->posts), 2);
}

static void wait_stored(struct fixture *fx, uint64_t seq)
{
    assert_eventually(iha_queue_live(fx->queue, seq));
}

/* @return whether a connection waits to be accepted on the listening socket @p fd. */
static bool connection_waiting(int fd)
{
    struct pollfd pfd = {.fd = fd, .events = POLLIN};

    return poll(&pfd, 1, 0) == 1 && (pfd.revents & POLLIN);
}

/*
 * Shutdown while a native sender waits for the first attempt of its stored notification
 * (Instance HA hangs): the sender is answered what is true, 202 "queued", not 503.
 */
static void test_stop_answers_stored_native(void **state)
{
    struct fixture *fx = *state;
    struct answer *a = &fx->ans[0];
    json_t *n;

    post_native(fx, a, "host-1");
    wait_stored(fx, 0);
    /* The attempt is under way, hanging: its connection waits in the listener's backlog. */
    assert_eventually(connection_waiting(fx->blackhole));
    assert_false(answered(a));
    iha_pipeline_stop(fx->p);
    assert_true(answered(a));
    assert_int_equal(a->status, 202);
    n = json_object_get(a->body, "notification");
    assert_string_equal(json_string_value(json_object_get(n, "status")), "queued");
    assert_string_equal(json_string_value(json_object_get(n, "hostname")), "host-1");
    assert_int_equal(json_integer_value(json_object_get(n, "queue_seq")), 0);
    assert_true(json_string_length(json_object_get(n, "gateway_id")) > 0);
    /* Delivery stops (its job is cancelled) without a second answer. */
    iha_delivery_free(fx->delivery);
    fx->delivery = NULL;
    assert_int_equal(a->calls, 1);
    assert_int_equal(iha_queue_stats(fx->queue).live, 1);
}

static void count_held(void *cls, const struct iha_queue_item *it)
{
    *(size_t *)cls += it->hold != NULL;
}

static size_t queue_held(struct fixture *fx)
{
    size_t n = 0;

    iha_queue_foreach(fx->queue, count_held, &n);
    return n;
}

static size_t policy_held(struct fixture *fx)
{
    json_t *st = iha_pipeline_policy_status(fx->p);
    json_t *list = json_object_get(st, "notifications");
    size_t n = 0;

    for (size_t i = 0; i < json_array_size(list); i++)
        n += strcmp(json_string_value(json_object_get(json_array_get(list, i), "state")), "held") ==
             0;
    json_decref(st);
    return n;
}

/*
 * Evacuations through the policy (at most 2 hosts, 200 ms settle): the first goes after
 * its settle time; the next three trip the guard and are held, in the policy and in the
 * queue, sending nothing; the operator's release sends each once.
 */
static void test_policy_holds_and_releases(void **state)
{
    struct fixture *fx = *state;
    char answer[256];

    post_native(fx, &fx->ans[0], "host-1");
    wait_answer(&fx->ans[0]);
    assert_int_equal(fx->ans[0].status, 202);
    /* Answered at once: the policy may hold it for minutes. */
    assert_string_equal(json_string_value(json_object_get(
                            json_object_get(fx->ans[0].body, "notification"), "status")),
                        "queued");
    assert_eventually(atomic_load(&fx->peer->posts) == 1);
    post_native(fx, &fx->ans[1], "host-2");
    post_native(fx, &fx->ans[2], "host-3");
    post_native(fx, &fx->ans[3], "host-4");
    assert_eventually(policy_held(fx) == 3);
    assert_eventually(queue_held(fx) == 3);
    assert_int_equal(atomic_load(&fx->peer->posts), 1);
    assert_false(iha_pipeline_control(fx->p, "hold-release", "nope", answer, sizeof(answer)));
    assert_string_equal(answer, "no held notification nope");
    assert_true(iha_pipeline_control(fx->p, "hold-release", "--all", answer, sizeof(answer)));
    assert_string_equal(answer, "released 3 held notifications to delivery");
    assert_eventually(atomic_load(&fx->peer->posts) == 4);
    assert_eventually(queue_held(fx) == 0);
    assert_int_equal(policy_held(fx), 0);
}

/* The dead-letter file's lines, one string. */
static char *deadletters(struct fixture *fx)
{
    char path[256];
    FILE *f;
    static char text[65536];
    size_t n;

    iha_queue_deadletter_path(fx->dir, path, sizeof(path));
    f = fopen(path, "r");
    if (!f)
        return NULL;
    n = fread(text, 1, sizeof(text) - 1, f);
    text[n] = '\0';
    fclose(f);
    return text;
}

static bool deadlettered(struct fixture *fx, size_t lines)
{
    const char *t = deadletters(fx);
    size_t n = 0;

    for (; t && *t; t++)
        n += *t == '\n';
    return n == lines;
}

/*
 * A held evacuation still respects storage.max_age (1.5 s here): it is dead-lettered with
 * the reason it was held for, and never sent.
 */
static void test_policy_hold_expires(void **state)
{
    struct fixture *fx = *state;

    post_native(fx, &fx->ans[0], "host-1");
    post_native(fx, &fx->ans[1], "host-2");
    post_native(fx, &fx->ans[2], "host-3");
    assert_eventually(policy_held(fx) == 3);
    assert_eventually(deadlettered(fx, 3));
    assert_non_null(strstr(deadletters(fx), "\"reason\":\"held by storm guard\""));
    assert_int_equal(iha_queue_stats(fx->queue).live, 0);
    assert_int_equal(policy_held(fx), 0);
    assert_int_equal(atomic_load(&fx->peer->posts), 0);
}

static int setup_policy_expiry(void **state)
{
    static const struct iha_policy_config pc = {
        .window_ms = 300000, .max_hosts = 2, .settle_ms = 200, .flap_window_ms = 60000};
    static const struct fixture_opts o = {.peer = true, .policy = &pc, .max_age_ms = 1500};

    return setup_with(state, &o);
}

static bool heartbeat_is(struct fixture *fx, const char *state)
{
    json_t *st = iha_pipeline_policy_status(fx->p);
    bool is = strcmp(json_string_value(json_object_get(json_object_get(st, "heartbeat"), "state")),
                     state) == 0;

    json_decref(st);
    return is;
}

/* A Nagios service named like policy.heartbeat.alertname, notifying, is the heartbeat. */
static void test_policy_nagios_heartbeat(void **state)
{
    struct fixture *fx = *state;
    struct iha_err err = {0};
    json_t *rec =
        json_pack("{s:s,s:s,s:s,s:s,s:s}", "hostname", "monitor-1", "notification_type", "PROBLEM",
                  "what", "SERVICE", "service_desc", "Watchdog", "service_state", "CRITICAL");

    assert_eventually(heartbeat_is(fx, "missing"));
    assert_int_equal(
        iha_pipeline_handle(fx->p, IHA_SOURCE_NAGIOS, rec, on_reply, &fx->ans[0], &err), IHA_OK);
    wait_answer(&fx->ans[0]);
    assert_eventually(heartbeat_is(fx, "ok"));
    json_decref(rec);
}

static int setup_policy_heartbeat(void **state)
{
    static const struct iha_policy_config pc = {.window_ms = 300000,
                                                .max_hosts = 2,
                                                .settle_ms = 200,
                                                .flap_window_ms = 60000,
                                                .deadman_after_ms = 500};
    static const struct fixture_opts o = {
        .peer = true, .policy = &pc, .heartbeat_alertname = "Watchdog"};

    return setup_with(state, &o);
}

/* masakari-monitors reports the host back (STARTED) while its STOPPED settles: cancelled. */
static void test_policy_native_host_back_cancels(void **state)
{
    struct fixture *fx = *state;
    struct iha_err err = {0};
    json_t *started = json_pack("{s:s,s:s,s:{s:s,s:s,s:s}}", "type", "COMPUTE_HOST", "hostname",
                                "host-1", "payload", "event", "STARTED", "host_status", "NORMAL",
                                "cluster_status", "ONLINE");

    post_native(fx, &fx->ans[0], "host-1");
    wait_answer(&fx->ans[0]);
    assert_int_equal(
        iha_pipeline_handle(fx->p, IHA_SOURCE_NATIVE, started, on_reply, &fx->ans[1], &err),
        IHA_OK);
    wait_answer(&fx->ans[1]);
    assert_eventually(
        iha_metrics_value(fx->metrics, "iha_gateway_policy_decisions_total", "flapped") == 1.0);
    /* Only the STARTED reached Instance HA; the evacuation ended in the queue. */
    assert_eventually(iha_queue_stats(fx->queue).live == 0);
    assert_int_equal(atomic_load(&fx->peer->posts), 1);
    json_decref(started);
}

static int setup_policy_slow(void **state)
{
    static const struct iha_policy_config pc = {
        .window_ms = 300000, .max_hosts = 2, .settle_ms = 30000, .flap_window_ms = 60000};
    static const struct fixture_opts o = {.peer = true, .policy = &pc};

    return setup_with(state, &o);
}

static int setup_policy(void **state)
{
    static const struct iha_policy_config pc = {
        .window_ms = 300000, .max_hosts = 2, .settle_ms = 200, .flap_window_ms = 60000};
    static const struct fixture_opts o = {.peer = true, .policy = &pc};

    return setup_with(state, &o);
}

static int setup_full_queue(void **state)
{
    static const struct fixture_opts o = {.queue_max = 1};

    return setup_with(state, &o);
}

static int setup_one_job(void **state)
{
    static const struct fixture_opts o = {.max_jobs = 1};

    return setup_with(state, &o);
}

static int setup_peer(void **state)
{
    static const struct fixture_opts o = {.peer = true};

    return setup_with(state, &o);
}

static int setup_blackhole(void **state)
{
    static const struct fixture_opts o = {.blackhole = true, .timeout_ms = 8000};

    return setup_with(state, &o);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_duplicate_of_failed_store, setup, teardown),
        cmocka_unit_test_setup_teardown(test_duplicate_of_stored, setup, teardown),
        cmocka_unit_test_setup_teardown(test_shutdown_answers_waiters, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unreadable_alert_dropped_alone, setup, teardown),
        cmocka_unit_test_setup_teardown(test_requeue_full_queue, setup_full_queue, teardown),
        cmocka_unit_test_setup_teardown(test_requeue_failing_sync, setup, teardown),
        cmocka_unit_test_setup_teardown(test_flight_not_started, setup_one_job, teardown),
        cmocka_unit_test_setup_teardown(test_retry_drop, setup, teardown),
        cmocka_unit_test_setup_teardown(test_window_ignores_wall_clock, setup_peer, teardown),
        cmocka_unit_test_setup_teardown(test_stop_answers_stored_native, setup_blackhole, teardown),
        cmocka_unit_test_setup_teardown(test_policy_holds_and_releases, setup_policy, teardown),
        cmocka_unit_test_setup_teardown(test_policy_hold_expires, setup_policy_expiry, teardown),
        cmocka_unit_test_setup_teardown(test_policy_nagios_heartbeat, setup_policy_heartbeat,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_policy_native_host_back_cancels, setup_policy_slow,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
