/* SPDX-License-Identifier: Apache-2.0 */
/** @file test_reload.c @brief Reload of config and rules, status, and secret redaction. */
#include "reload.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmocka_includes.h"
#include "test_fixture.h"
#include "test_util.h"
#include "test_gate.h"
#include "auth.h"
#include "clock.h"
#include "dedupe.h"
#include "delivery.h"
#include "http_server.h"
#include "mapping.h"
#include "metrics.h"
#include "pipeline.h"
#include "queue.h"

/* A rule named %s that maps HostDown to the host named after it. */
/* One firing HostDown, as Alertmanager 0.25 sent it. */
#define WEBHOOK "alertmanager/001-am-plain.json"

static const char rule_text[] = "rules:\n"
                                "  - name: %s\n"
                                "    matchers:\n"
                                "      - alertname = \"HostDown\"\n"
                                "    type: COMPUTE_HOST\n"
                                "    hostname: host-%s\n"
                                "    firing:\n"
                                "      payload:\n"
                                "        event: STOPPED\n"
                                "        host_status: NORMAL\n"
                                "        cluster_status: OFFLINE\n";

struct fixture {
    char dir[64];
    char config[4096]; /* what the next load reads */
    const char *listen;
};

static void write_config(struct fixture *fx, const char *rule_file, const char *listen)
{
    snprintf(fx->config, sizeof(fx->config),
             "web:\n  listen_address: \"%s\"\n  auth:\n    bearer_tokens_file: %s/tokens\n"
             "mapping:\n  rule_files: [\"%s/%s\"]\nstorage:\n  path: %s/data\n",
             listen, fx->dir, fx->dir, rule_file, fx->dir);
}

static bool json_array_has(const json_t *a, const char *s);

static enum iha_rc load(void *cls, struct iha_config **out, struct iha_diag *diag)
{
    struct fixture *fx = cls;

    return iha_config_load("test.yml", fx->config, strlen(fx->config), out, diag);
}

/* What the reply of a request got (POST /-/reload, or an alert through the pipeline). */
struct answer {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    unsigned status;
    json_t *body;
};

#define ANSWER_INIT                                                                                \
    {                                                                                              \
        PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, NULL                               \
    }

static void on_answer(void *cls, unsigned status, json_t *body)
{
    struct answer *a = cls;

    pthread_mutex_lock(&a->lock);
    a->status = status;
    a->body = body;
    pthread_cond_broadcast(&a->cond);
    pthread_mutex_unlock(&a->lock);
}

/* Waits for the answer, at most TEST_WAIT_MS; fails the test without one. */
static void answer_wait(struct answer *a)
{
    struct timespec until;

    test_deadline(&until, TEST_WAIT_MS);
    pthread_mutex_lock(&a->lock);
    while (!a->status && pthread_cond_timedwait(&a->cond, &a->lock, &until) == 0)
        ;
    pthread_mutex_unlock(&a->lock);
    assert_true(a->status != 0);
}

/* A gateway as the daemon wires it: rules a.yml loaded, a reloader over the pipeline. */
struct stack {
    struct fixture fx;
    struct iha_diag *diag;
    struct iha_config *running;
    struct iha_ruleset *rs;
    struct iha_metrics *m;
    struct iha_queue *q;
    struct iha_delivery *d;
    struct iha_dedupe *dd;
    struct iha_pipeline *p;
    struct iha_reload *r;
    /*
     * The request body and the answers, alive until the queue is closed: the committer
     * thread drops the pipeline's references to them after answering, so freeing them on
     * the test thread right after the answer races with that (jansson's decref does not
     * acquire before it frees; ThreadSanitizer reports it).
     */
    json_t *webhook;
    json_t *answers[4];
    size_t n_answers;
};

static int stack_setup(void **state)
{
    struct stack *st = calloc(1, sizeof(*st));
    struct iha_err err = {0};
    char path[128], text[1024];

    assert_non_null(st);
    snprintf(st->fx.dir, sizeof(st->fx.dir), "/tmp/iha-reload-XXXXXX");
    assert_non_null(mkdtemp(st->fx.dir));
    snprintf(path, sizeof(path), "%s/tokens", st->fx.dir);
    test_write_file(path, "tok\n");
    snprintf(path, sizeof(path), "%s/a.yml", st->fx.dir);
    snprintf(text, sizeof(text), rule_text, "rule-a", "rule-a");
    test_write_file(path, text);
    snprintf(path, sizeof(path), "%s/b.yml", st->fx.dir);
    snprintf(text, sizeof(text), rule_text, "rule-b", "rule-b");
    test_write_file(path, text);
    snprintf(path, sizeof(path), "%s/bad.yml", st->fx.dir);
    test_write_file(path, "rules:\n  - name: broken\n    matchers: [\"alertname =~ \\\"(\\\"\"]\n");

    st->webhook = test_fixture_json(WEBHOOK);
    st->diag = iha_diag_new();
    st->rs = iha_ruleset_new();
    st->m = iha_metrics_new();
    assert_int_equal(iha_metrics_register_gateway(st->m, "t"), IHA_OK);
    write_config(&st->fx, "a.yml", "127.0.0.1:19999");
    assert_int_equal(load(&st->fx, &st->running, st->diag), IHA_OK);
    assert_int_equal(iha_config_load_rules(st->running, st->rs, st->diag), IHA_OK);
    {
        struct iha_queue_config qc = {.dir = st->running->storage_path};
        struct iha_delivery_config dc = {.url = "http://127.0.0.1:9", .max_jobs = 8};
        struct iha_pipeline_stages stg = {.rules = st->rs, .metrics = st->m};

        assert_int_equal(iha_queue_open(&qc, &st->q, &err), IHA_OK);
        assert_int_equal(iha_delivery_new(&dc, &st->d), IHA_OK);
        st->dd = iha_dedupe_new(180, 100);
        stg.queue = st->q;
        stg.delivery = st->d;
        stg.dedupe = st->dd;
        st->p = iha_pipeline_new(&stg);
        assert_non_null(st->p);
    }
    {
        struct iha_reload_config rc = {.load = load,
                                       .load_cls = &st->fx,
                                       .running = st->running,
                                       .rules = st->rs,
                                       .pipeline = st->p,
                                       .metrics = st->m,
                                       .queue = st->q};
        st->r = iha_reload_new(&rc);
        assert_non_null(st->r);
    }
    *state = st;
    return 0;
}

static int stack_teardown(void **state)
{
    struct stack *st = *state;
    char cmd[160];

    iha_reload_free(st->r);
    iha_pipeline_stop(st->p);
    iha_delivery_free(st->d);
    iha_queue_close(st->q);
    iha_pipeline_free(st->p);
    iha_dedupe_free(st->dd);
    iha_metrics_free(st->m);
    iha_ruleset_free(st->rs);
    iha_config_free(st->running);
    iha_diag_free(st->diag);
    json_decref(st->webhook);
    for (size_t i = 0; i < st->n_answers; i++)
        json_decref(st->answers[i]);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", st->fx.dir);
    assert_int_equal(system(cmd), 0);
    free(st);
    return 0;
}

/*
 * Sends one HostDown through the pipeline, as the HTTP thread does, and copies the rule
 * that mapped it (and its host) into @p rule, "" when none did.
 */
static void map_alert(struct stack *st, char *rule, size_t size, char *host, size_t host_size)
{
    struct answer a = ANSWER_INIT;
    struct iha_err err = {0};
    json_t *item;
    const char *v;

    assert_int_equal(
        iha_pipeline_handle(st->p, IHA_SOURCE_ALERTMANAGER, st->webhook, on_answer, &a, &err),
        IHA_OK);
    answer_wait(&a);
    assert_int_equal(a.status, 200);
    item = json_array_get(json_object_get(a.body, "results"), 0);
    v = json_string_value(json_object_get(item, "rule"));
    snprintf(rule, size, "%s", v ? v : "");
    v = json_string_value(json_object_get(item, "hostname"));
    snprintf(host, host_size, "%s", v ? v : "");
    assert_true(st->n_answers < sizeof(st->answers) / sizeof(st->answers[0]));
    st->answers[st->n_answers++] = a.body; /* freed at teardown, see struct stack */
}

/* Fails the test unless a HostDown maps with @p rule now. */
static void assert_maps_with(struct stack *st, const char *rule)
{
    char got[64], host[64], want_host[80];

    map_alert(st, got, sizeof(got), host, sizeof(host));
    assert_string_equal(got, rule);
    snprintf(want_host, sizeof(want_host), "host-%s", rule);
    assert_string_equal(host, want_host);
}

/* The first rule name /api/v1/status reports. */
static void assert_status_rule(struct stack *st, const char *rule)
{
    json_t *j = iha_reload_status(st->r);

    assert_non_null(j);
    assert_string_equal(json_string_value(json_array_get(json_object_get(j, "rules"), 0)), rule);
    json_decref(j);
}

static void test_redaction(void **state)
{
    static const char text[] =
        "web:\n  auth:\n    basic_auth_users:\n      am: $2y$10$abcdefghijklmnopqrstuv\n"
        "instance_ha:\n  auth:\n    type: password\n    auth_url: http://127.0.0.1:5000/v3\n"
        "    username: iha\n    password: hunter2-very-secret\n    project_name: service\n";
    struct iha_diag *diag = iha_diag_new();
    struct iha_config *cfg = NULL;
    json_t *j;
    char *s;

    (void)state;
    assert_int_equal(iha_config_load("t.yml", text, strlen(text), &cfg, diag), IHA_OK);
    j = iha_config_to_json_redacted(cfg);
    assert_non_null(j);
    s = json_dumps(j, 0);
    assert_non_null(s);
    assert_null(strstr(s, "hunter2"));
    assert_null(strstr(s, "abcdefghij"));
    assert_non_null(strstr(s, "\"password\": \"<secret>\""));
    assert_non_null(strstr(s, "\"am\": \"<secret>\""));
    assert_non_null(strstr(s, "\"username\": \"iha\""));
    free(s);
    json_decref(j);
    iha_config_free(cfg);
    iha_diag_free(diag);
}

/* A good change: the new rules are reported, the metric says so, alerts map with them. */
static void test_reload_new_rules_map(void **state)
{
    struct stack *st = *state;
    char detail[512];
    json_t *j;

    assert_maps_with(st, "rule-a");
    write_config(&st->fx, "b.yml", "127.0.0.1:19999");
    assert_int_equal(iha_reload_run(st->r, "test", detail, sizeof(detail)), IHA_OK);
    assert_string_equal(detail, "");
    assert_status_rule(st, "rule-b");
    j = iha_reload_status(st->r);
    assert_true(json_array_has(json_object_get(json_object_get(j, "reload"), "applied"),
                               "mapping.rule_files"));
    json_decref(j);
    assert_true(iha_metrics_value(st->m, "iha_gateway_config_last_reload_successful") == 1.0);
    assert_true(iha_metrics_value(st->m, "iha_gateway_config_reloads_total", "success") == 1.0);
    assert_maps_with(st, "rule-b");
}

/* A broken rule file: refused with the reason, the previous rules stay and still map. */
static void test_reload_broken_rules_keep_previous(void **state)
{
    struct stack *st = *state;
    char detail[512];
    json_t *j;

    write_config(&st->fx, "bad.yml", "127.0.0.1:19999");
    assert_int_not_equal(iha_reload_run(st->r, "test", detail, sizeof(detail)), IHA_OK);
    assert_non_null(strstr(detail, "bad.yml"));
    assert_status_rule(st, "rule-a");
    j = iha_reload_status(st->r);
    assert_false(json_is_true(json_object_get(json_object_get(j, "reload"), "last_successful")));
    json_decref(j);
    assert_true(iha_metrics_value(st->m, "iha_gateway_config_last_reload_successful") == 0.0);
    assert_true(iha_metrics_value(st->m, "iha_gateway_config_reloads_total", "failure") == 1.0);
    assert_maps_with(st, "rule-a");
}

/* A missing rule file is refused too, naming it; the previous rules still map. */
static void test_reload_missing_rule_file_refused(void **state)
{
    struct stack *st = *state;
    char detail[512];

    write_config(&st->fx, "missing.yml", "127.0.0.1:19999");
    assert_int_not_equal(iha_reload_run(st->r, "test", detail, sizeof(detail)), IHA_OK);
    assert_non_null(strstr(detail, "missing.yml"));
    assert_true(iha_metrics_value(st->m, "iha_gateway_config_reloads_total", "failure") == 1.0);
    assert_status_rule(st, "rule-a");
    assert_maps_with(st, "rule-a");
}

/* A setting that needs a restart is named, the rest (new rules) applies. */
static void test_reload_restart_setting_named(void **state)
{
    struct stack *st = *state;
    char detail[512];

    write_config(&st->fx, "b.yml", "127.0.0.1:19998");
    assert_int_equal(iha_reload_run(st->r, "test", detail, sizeof(detail)), IHA_OK);
    assert_non_null(strstr(detail, "web.listen_address"));
    assert_true(iha_metrics_value(st->m, "iha_gateway_config_last_reload_successful") == 1.0);
    assert_maps_with(st, "rule-b");
}

/* The queue gauges come from the queue the reloader was given. */
static void test_reload_refresh_queue_gauges(void **state)
{
    struct stack *st = *state;

    iha_reload_refresh(st->r);
    assert_true(iha_metrics_value(st->m, "iha_gateway_queue_depth") == 0.0);
    /* One notification queued (Instance HA is unreachable, so it stays). */
    assert_maps_with(st, "rule-a");
    iha_reload_refresh(st->r);
    assert_true(iha_metrics_value(st->m, "iha_gateway_queue_depth") == 1.0);
}

/* ---- every instance_ha.tls / instance_ha.auth key: applied or named ------------------ */

/* The rest of the stack a reloader hands new rules to. */
struct env {
    char dir[64];
    struct iha_metrics *m;
    struct iha_queue *q;
    struct iha_delivery *d;
    struct iha_dedupe *dd;
    struct iha_pipeline *p;
    struct iha_ruleset *rs;
};

static void env_init(struct env *e)
{
    struct iha_diag *diag = iha_diag_new();
    struct iha_config *dflt = NULL;
    struct iha_err err = {0};
    char path[128];

    memset(e, 0, sizeof(*e));
    snprintf(e->dir, sizeof(e->dir), "/tmp/iha-reload-XXXXXX");
    assert_non_null(mkdtemp(e->dir));
    snprintf(path, sizeof(path), "%s/data", e->dir);
    e->m = iha_metrics_new();
    assert_non_null(e->m);
    assert_int_equal(iha_metrics_register_gateway(e->m, "t"), IHA_OK);
    e->rs = iha_ruleset_new();
    assert_int_equal(iha_config_default(&dflt), IHA_OK);
    assert_int_equal(iha_config_load_rules(dflt, e->rs, diag), IHA_OK);
    {
        struct iha_queue_config qc = {.dir = path};
        struct iha_delivery_config dc = {.url = "http://127.0.0.1:9", .max_jobs = 8};
        struct iha_pipeline_stages stg = {.rules = e->rs, .metrics = e->m};

        assert_int_equal(iha_queue_open(&qc, &e->q, &err), IHA_OK);
        assert_int_equal(iha_delivery_new(&dc, &e->d), IHA_OK);
        e->dd = iha_dedupe_new(180, 100);
        stg.queue = e->q;
        stg.delivery = e->d;
        stg.dedupe = e->dd;
        e->p = iha_pipeline_new(&stg);
        assert_non_null(e->p);
    }
    iha_config_free(dflt);
    iha_diag_free(diag);
}

static void env_done(struct env *e)
{
    char cmd[160];

    iha_pipeline_stop(e->p);
    iha_delivery_free(e->d);
    iha_queue_close(e->q);
    iha_pipeline_free(e->p);
    iha_dedupe_free(e->dd);
    iha_ruleset_free(e->rs);
    iha_metrics_free(e->m);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", e->dir);
    assert_int_equal(system(cmd), 0);
}

/* Every value differs from its neighbours so that each line below is unique. */
static const char subtree_base[] = "web:\n"
                                   "  listen_address: 127.0.0.1:19999\n"
                                   "  auth:\n"
                                   "    disabled: true\n"
                                   "instance_ha:\n"
                                   "  url: https://127.0.0.1:15868\n"
                                   "  retry_for: 20s\n"
                                   "  tls:\n"
                                   "    ca_file: /etc/iha/ca.pem\n"
                                   "    cert_file: /etc/iha/cert.pem\n"
                                   "    key_file: /etc/iha/key.pem\n"
                                   "    insecure: false\n"
                                   "  auth:\n"
                                   "    type: password\n"
                                   "    auth_url: https://127.0.0.1:5000/v3\n"
                                   "    username: iha\n"
                                   "    user_domain_name: Default\n"
                                   "    password_file: /etc/iha/pw\n"
                                   "    project_name: service\n"
                                   "    project_domain_name: Default\n"
                                   "    region_name: RegionOne\n"
                                   "    interface: public\n"
                                   "    tls:\n"
                                   "      ca_file: /etc/ks/ca.pem\n"
                                   "      cert_file: /etc/ks/cert.pem\n"
                                   "      key_file: /etc/ks/key.pem\n"
                                   "      insecure: FALSE\n";

/* One change per key: the line of subtree_base replaced, and what replaces it. */
static const struct subtree_change {
    const char *key;
    const char *from;
    const char *to;
} subtree_changes[] = {
    {"instance_ha.retry_for", "  retry_for: 20s\n", "  retry_for: 40s\n"},
    {"instance_ha.tls.ca_file", "    ca_file: /etc/iha/ca.pem\n",
     "    ca_file: /etc/iha/ca2.pem\n"},
    {"instance_ha.tls.cert_file", "    cert_file: /etc/iha/cert.pem\n",
     "    cert_file: /etc/iha/cert2.pem\n"},
    {"instance_ha.tls.key_file", "    key_file: /etc/iha/key.pem\n",
     "    key_file: /etc/iha/key2.pem\n"},
    {"instance_ha.tls.insecure", "    insecure: false\n", "    insecure: true\n"},
    {"instance_ha.auth.type", "    type: password\n", "    type: cloud\n    cloud: iha\n"},
    {"instance_ha.auth.auth_url", "    auth_url: https://127.0.0.1:5000/v3\n",
     "    auth_url: https://127.0.0.1:5001/v3\n"},
    {"instance_ha.auth.username", "    username: iha\n", "    username: iha2\n"},
    {"instance_ha.auth.user_id", "    username: iha\n", "    username: iha\n    user_id: u-1\n"},
    {"instance_ha.auth.user_domain_name", "    user_domain_name: Default\n",
     "    user_domain_name: Other\n"},
    {"instance_ha.auth.user_domain_id", "    user_domain_name: Default\n",
     "    user_domain_name: Default\n    user_domain_id: d-1\n"},
    {"instance_ha.auth.password", "    password_file: /etc/iha/pw\n",
     "    password: hunter2-not-shown\n"},
    {"instance_ha.auth.password_file", "    password_file: /etc/iha/pw\n",
     "    password_file: /etc/iha/pw2\n"},
    {"instance_ha.auth.project_name", "    project_name: service\n", "    project_name: other\n"},
    {"instance_ha.auth.project_id", "    project_name: service\n",
     "    project_name: service\n    project_id: p-1\n"},
    {"instance_ha.auth.project_domain_name", "    project_domain_name: Default\n",
     "    project_domain_name: Other\n"},
    {"instance_ha.auth.project_domain_id", "    project_domain_name: Default\n",
     "    project_domain_name: Default\n    project_domain_id: d-2\n"},
    {"instance_ha.auth.application_credential_id", "    region_name: RegionOne\n",
     "    region_name: RegionOne\n    application_credential_id: ac-1\n"},
    {"instance_ha.auth.application_credential_name", "    region_name: RegionOne\n",
     "    region_name: RegionOne\n    application_credential_name: ac\n"},
    {"instance_ha.auth.application_credential_secret", "    region_name: RegionOne\n",
     "    region_name: RegionOne\n    application_credential_secret: s3cr3t-not-shown\n"},
    {"instance_ha.auth.application_credential_secret_file", "    region_name: RegionOne\n",
     "    region_name: RegionOne\n    application_credential_secret_file: /etc/iha/acs\n"},
    {"instance_ha.auth.cloud", "    region_name: RegionOne\n",
     "    region_name: RegionOne\n    cloud: iha\n"},
    {"instance_ha.auth.region_name", "    region_name: RegionOne\n",
     "    region_name: RegionTwo\n"},
    {"instance_ha.auth.interface", "    interface: public\n", "    interface: internal\n"},
    {"instance_ha.auth.tls.ca_file", "      ca_file: /etc/ks/ca.pem\n",
     "      ca_file: /etc/ks/ca2.pem\n"},
    {"instance_ha.auth.tls.cert_file", "      cert_file: /etc/ks/cert.pem\n",
     "      cert_file: /etc/ks/cert2.pem\n"},
    {"instance_ha.auth.tls.key_file", "      key_file: /etc/ks/key.pem\n",
     "      key_file: /etc/ks/key2.pem\n"},
    {"instance_ha.auth.tls.insecure", "      insecure: FALSE\n", "      insecure: true\n"},
};

/* subtree_base with @p c applied, into @p out. */
static void subtree_variant(const struct subtree_change *c, char *out, size_t size)
{
    const char *at = strstr(subtree_base, c->from);
    size_t head;

    assert_non_null(at);
    assert_null(strstr(at + 1, c->from)); /* the line is unique */
    head = (size_t)(at - subtree_base);
    assert_true(head + strlen(c->to) + strlen(at + strlen(c->from)) < size);
    snprintf(out, size, "%.*s%s%s", (int)head, subtree_base, c->to, at + strlen(c->from));
}

static bool json_array_has(const json_t *a, const char *s)
{
    size_t i;
    json_t *v;

    json_array_foreach(a, i, v) if (json_is_string(v) &&
                                    strcmp(json_string_value(v), s) == 0) return true;
    return false;
}

struct key_check {
    size_t missing;
};

/* Every key of instance_ha.tls and instance_ha.auth the loader knows has a row above. */
static void check_key_has_row(void *cls, const char *key)
{
    struct key_check *kc = cls;

    if (strncmp(key, "instance_ha.tls.", 16) != 0 && strncmp(key, "instance_ha.auth.", 17) != 0)
        return;
    for (size_t i = 0; i < sizeof(subtree_changes) / sizeof(subtree_changes[0]); i++)
        if (strcmp(subtree_changes[i].key, key) == 0)
            return;
    print_error("%s: no row in subtree_changes; add one\n", key);
    kc->missing++;
}

static void test_every_instance_ha_key_has_a_row(void **state)
{
    struct key_check kc = {0};

    (void)state;
    iha_config_foreach_key(check_key_has_row, &kc);
    assert_int_equal(kc.missing, 0);
}

static void test_reload_names_every_instance_ha_key(void **state)
{
    struct fixture fx = {0};
    struct iha_diag *diag = iha_diag_new();
    struct iha_config *running = NULL;
    struct iha_reload *r;
    struct env e;
    char detail[1024];
    size_t failures = 0;

    (void)state;
    env_init(&e);
    snprintf(fx.config, sizeof(fx.config), "%s", subtree_base);
    assert_int_equal(load(&fx, &running, diag), IHA_OK);
    {
        struct iha_reload_config rc = {.load = load,
                                       .load_cls = &fx,
                                       .running = running,
                                       .rules = e.rs,
                                       .pipeline = e.p,
                                       .metrics = e.m,
                                       .queue = e.q};
        r = iha_reload_new(&rc);
        assert_non_null(r);
    }
    for (size_t i = 0; i < sizeof(subtree_changes) / sizeof(subtree_changes[0]); i++) {
        const struct subtree_change *c = &subtree_changes[i];
        json_t *st, *rl;
        bool restart, applied;

        subtree_variant(c, fx.config, sizeof(fx.config));
        assert_int_equal(iha_reload_run(r, "test", detail, sizeof(detail)), IHA_OK);
        st = iha_reload_status(r);
        rl = json_object_get(st, "reload");
        restart = json_array_has(json_object_get(rl, "restart_required"), c->key);
        applied = json_array_has(json_object_get(rl, "applied"), c->key);
        if (!restart && !applied) {
            print_error("%s: changed, but neither applied nor named as needing a restart "
                        "(answer: \"%s\")\n",
                        c->key, detail);
            failures++;
        } else if (restart && !strstr(detail, c->key)) {
            print_error("%s: needs a restart but the answer does not say so: \"%s\"\n", c->key,
                        detail);
            failures++;
        }
        assert_null(strstr(detail, "not-shown"));
        json_decref(st);
    }
    assert_int_equal(failures, 0);
    iha_reload_free(r);
    iha_config_free(running);
    iha_diag_free(diag);
    env_done(&e);
}

/* ---- ingest is never held up by a reload ---------------------------------------------- */

/* A load that is held until the test lets it go: a reload as slow as the test wants. */
struct held {
    struct fixture fx;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    unsigned entered; /* loads started */
    unsigned hold;    /* loads that wait for release */
    bool released;
    char events[16][48]; /* completion order */
    size_t n_events;
};

static enum iha_rc held_load(void *cls, struct iha_config **out, struct iha_diag *diag)
{
    struct held *hd = cls;
    enum iha_rc rc;

    /* The file is read first, under the lock the test changes it with. */
    pthread_mutex_lock(&hd->lock);
    rc = load(&hd->fx, out, diag);
    hd->entered++;
    pthread_cond_broadcast(&hd->cond);
    if (hd->entered <= hd->hold)
        while (!hd->released)
            pthread_cond_wait(&hd->cond, &hd->lock);
    pthread_mutex_unlock(&hd->lock);
    return rc;
}

/* Records an event; @p hd's lock is held. Never asserts: it runs on any thread. */
static void held_event_locked(struct held *hd, const char *what, long status)
{
    if (hd->n_events < sizeof(hd->events) / sizeof(hd->events[0]))
        snprintf(hd->events[hd->n_events], sizeof(hd->events[0]), "%s %ld", what, status);
    hd->n_events++; /* beyond the array: counted, so the test's count check fails */
}

static void held_event(struct held *hd, const char *what, long status)
{
    pthread_mutex_lock(&hd->lock);
    held_event_locked(hd, what, status);
    pthread_cond_broadcast(&hd->cond);
    pthread_mutex_unlock(&hd->lock);
}

/* Waits (bounded) until @p n loads have started; false when they did not. */
static bool held_wait_entered(struct held *hd, unsigned n)
{
    struct timespec until = iha_clock_deadline(30000);
    bool ok = true;

    pthread_mutex_lock(&hd->lock);
    while (hd->entered < n && ok)
        ok = pthread_cond_timedwait(&hd->cond, &hd->lock, &until) == 0 || hd->entered >= n;
    pthread_mutex_unlock(&hd->lock);
    return ok;
}

static size_t discard_body(char *p, size_t size, size_t n, void *cls)
{
    (void)p;
    (void)cls;
    return size * n;
}

/*
 * One request; @return the HTTP status, 0 when it got no answer. The timeout only
 * bounds how long a server whose HTTP thread is stuck keeps the test waiting.
 */
static long http_call(unsigned port, const char *path, const char *body)
{
    CURL *c = curl_easy_init();
    struct curl_slist *hl = NULL;
    char url[256];
    long status = 0;

    assert_non_null(c);
    snprintf(url, sizeof(url), "http://127.0.0.1:%u%s", port, path);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 10000L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard_body);
    hl = curl_slist_append(hl, "Expect:");
    if (body) {
        hl = curl_slist_append(hl, "Content-Type: application/json");
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    }
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
    if (curl_easy_perform(c) == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(hl);
    curl_easy_cleanup(c);
    return status;
}

struct poster {
    struct held *hd;
    unsigned port;
};

static void *post_reload(void *cls)
{
    struct poster *ps = cls;

    held_event(ps->hd, "reload", http_call(ps->port, "/-/reload", ""));
    return NULL;
}

static void *run_sighup(void *cls)
{
    struct iha_reload *r = cls;
    char detail[512];

    /* The outcome is not what this test looks at; the answer to the POST is. */
    if (iha_reload_run(r, "SIGHUP", detail, sizeof(detail)) != IHA_OK)
        print_error("the held reload failed: %s\n", detail);
    return NULL;
}

/* The pipeline stand-in: answers every alert at once. */
static enum iha_rc answer_now(void *cls, enum iha_source source, const json_t *body,
                              iha_reply_fn reply, void *reply_cls, struct iha_err *err)
{
    (void)cls;
    (void)source;
    (void)body;
    (void)err;
    reply(reply_cls, 200, json_pack("{s:[]}", "results"));
    return IHA_OK;
}

/*
 * While the reload of a POST /-/reload is held, the HTTP thread still answers /-/healthy
 * and an Alertmanager POST; a SIGHUP reload waits for it; the POST /-/reload is answered
 * once its reload can finish.
 */
static void test_reload_never_blocks_ingest(void **state)
{
    static const char *const expected[] = {"healthy 200", "alertmanager 200", "released 0",
                                           "reload 200"};
    struct held hd = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};
    struct iha_diag *diag = iha_diag_new();
    struct iha_config *running = NULL;
    struct iha_auth *auth = NULL;
    struct iha_http *http = NULL;
    struct iha_reload *r;
    struct iha_http_ops ops;
    struct iha_err err = {0};
    struct poster ps;
    pthread_t sighup, poster;
    struct env e;

    (void)state;
    env_init(&e);
    snprintf(hd.fx.config, sizeof(hd.fx.config),
             "web:\n  listen_address: 127.0.0.1:19999\n  auth:\n    disabled: true\n");
    assert_int_equal(load(&hd.fx, &running, diag), IHA_OK);
    {
        struct iha_reload_config rc = {.load = held_load,
                                       .load_cls = &hd,
                                       .running = running,
                                       .rules = e.rs,
                                       .pipeline = e.p,
                                       .metrics = e.m,
                                       .queue = e.q};
        r = iha_reload_new(&rc);
        assert_non_null(r);
    }
    iha_reload_http_ops(r, NULL, &ops);
    assert_int_equal(iha_auth_new(true, NULL, NULL, 0, &auth), IHA_OK);
    {
        struct iha_http_config hc = {.listen_address = "127.0.0.1:0",
                                     .max_body = 65536,
                                     .read_timeout_s = 30,
                                     .auth = auth,
                                     .ingest = answer_now,
                                     .metrics = e.m,
                                     .ops = &ops};
        assert_int_equal(iha_http_start(&hc, &http, &err), IHA_OK);
    }
    iha_reload_set_http(r, http);
    ps.hd = &hd;
    ps.port = iha_http_port(http);

    /* The reload of a POST /-/reload holds. */
    hd.hold = 1;
    assert_int_equal(pthread_create(&poster, NULL, post_reload, &ps), 0);
    assert_true(held_wait_entered(&hd, 1));

    /* Ingest goes on meanwhile, and a second reload (SIGHUP) waits for the first. */
    held_event(&hd, "healthy", http_call(ps.port, "/-/healthy", NULL));
    held_event(&hd, "alertmanager",
               http_call(ps.port, "/api/v1/alertmanager",
                         "{\"version\":\"4\",\"status\":\"firing\",\"alerts\":[]}"));
    assert_int_equal(pthread_create(&sighup, NULL, run_sighup, r), 0);

    /*
     * "released" is recorded in the same critical section that lets the load go: the held
     * reload (and the answer to its POST) cannot be recorded before it, however long this
     * thread is preempted after the unlock.
     */
    pthread_mutex_lock(&hd.lock);
    hd.released = true;
    held_event_locked(&hd, "released", 0);
    pthread_cond_broadcast(&hd.cond);
    pthread_mutex_unlock(&hd.lock);
    assert_int_equal(pthread_join(sighup, NULL), 0);
    assert_int_equal(pthread_join(poster, NULL), 0);

    for (size_t i = 0; i < hd.n_events; i++)
        print_message("event %zu: %s\n", i, hd.events[i]);
    assert_int_equal(hd.n_events, 4);
    for (size_t i = 0; i < 4; i++)
        assert_string_equal(hd.events[i], expected[i]);
    assert_int_equal(hd.entered, 2); /* the SIGHUP ran its own reload after the held one */

    iha_reload_set_http(r, NULL);
    iha_http_stop(http);
    iha_reload_free(r);
    iha_auth_free(auth);
    iha_config_free(running);
    iha_diag_free(diag);
    env_done(&e);
}

/*
 * Requests made while a reload runs wait for the next one and share it; each request is
 * answered with the whole result, a needed restart named by its key.
 */
static void test_reload_requests_share_a_reload(void **state)
{
    struct held hd = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};
    struct answer a1 = ANSWER_INIT, a2 = ANSWER_INIT, a3 = ANSWER_INIT;
    struct iha_diag *diag = iha_diag_new();
    struct iha_config *running = NULL;
    struct iha_reload *r;
    struct iha_err err = {0};
    struct env e;
    json_t *st;

    (void)state;
    env_init(&e);
    snprintf(hd.fx.config, sizeof(hd.fx.config), "%s", subtree_base);
    assert_int_equal(load(&hd.fx, &running, diag), IHA_OK);
    {
        struct iha_reload_config rc = {.load = held_load,
                                       .load_cls = &hd,
                                       .running = running,
                                       .rules = e.rs,
                                       .pipeline = e.p,
                                       .metrics = e.m,
                                       .queue = e.q};
        r = iha_reload_new(&rc);
        assert_non_null(r);
    }
    hd.hold = 1;
    assert_int_equal(iha_reload_request(r, IHA_RELOAD_HTTP, on_answer, &a1, &err), IHA_OK);
    assert_true(held_wait_entered(&hd, 1));
    /* While the first is held: the file changes, a SIGHUP and a POST arrive. */
    pthread_mutex_lock(&hd.lock);
    subtree_variant(&subtree_changes[1], hd.fx.config, sizeof(hd.fx.config));
    pthread_mutex_unlock(&hd.lock);
    assert_int_equal(iha_reload_request(r, IHA_RELOAD_SIGHUP, NULL, NULL, &err), IHA_OK);
    assert_int_equal(iha_reload_request(r, IHA_RELOAD_HTTP, on_answer, &a2, &err), IHA_OK);
    assert_int_equal(iha_reload_request(r, IHA_RELOAD_HTTP, on_answer, &a3, &err), IHA_OK);
    pthread_mutex_lock(&hd.lock);
    hd.released = true;
    pthread_cond_broadcast(&hd.cond);
    pthread_mutex_unlock(&hd.lock);
    answer_wait(&a1);
    answer_wait(&a2);
    answer_wait(&a3);

    /* The first read the file as it was; the others share one reload of the new file. */
    assert_int_equal(a1.status, 200);
    assert_int_equal(json_array_size(json_object_get(a1.body, "restart_required")), 0);
    assert_int_equal(a2.status, 200);
    assert_string_equal(
        json_string_value(json_array_get(json_object_get(a2.body, "restart_required"), 0)),
        subtree_changes[1].key);
    assert_true(json_equal(a2.body, a3.body));
    assert_int_equal(hd.entered, 2);
    st = iha_reload_status(r);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(st, "reload"), "reloads")),
                     2);
    json_decref(st);

    json_decref(a1.body);
    json_decref(a2.body);
    json_decref(a3.body);
    iha_reload_free(r);
    iha_config_free(running);
    iha_diag_free(diag);
    env_done(&e);
}

/* After stop, a request is refused rather than left unanswered. */
static void test_reload_request_after_stop_refused(void **state)
{
    struct stack *st = *state;
    struct answer a = ANSWER_INIT;
    struct iha_err err = {0};

    iha_reload_stop(st->r);
    assert_int_equal(iha_reload_request(st->r, IHA_RELOAD_HTTP, on_answer, &a, &err), IHA_E_LIMIT);
    assert_int_equal(a.status, 0); /* and never answered */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_redaction),
        cmocka_unit_test_setup_teardown(test_reload_new_rules_map, stack_setup, stack_teardown),
        cmocka_unit_test_setup_teardown(test_reload_broken_rules_keep_previous, stack_setup,
                                        stack_teardown),
        cmocka_unit_test_setup_teardown(test_reload_missing_rule_file_refused, stack_setup,
                                        stack_teardown),
        cmocka_unit_test_setup_teardown(test_reload_restart_setting_named, stack_setup,
                                        stack_teardown),
        cmocka_unit_test_setup_teardown(test_reload_refresh_queue_gauges, stack_setup,
                                        stack_teardown),
        cmocka_unit_test(test_every_instance_ha_key_has_a_row),
        cmocka_unit_test(test_reload_names_every_instance_ha_key),
        cmocka_unit_test(test_reload_requests_share_a_reload),
        cmocka_unit_test_setup_teardown(test_reload_request_after_stop_refused, stack_setup,
                                        stack_teardown),
        cmocka_unit_test(test_reload_never_blocks_ingest),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
