/* SPDX-License-Identifier: Apache-2.0 */
/** @file test_reload.c @brief Reload of config and rules, status, and secret redaction. */
#include "reload.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmocka_includes.h"
#include "test_util.h"
#include "delivery.h"
#include "mapping.h"
#include "metrics.h"
#include "pipeline.h"
#include "queue.h"

static const char rule_text[] = "rules:\n"
                                "  - name: %s\n"
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

static enum iha_rc load(void *cls, struct iha_config **out, struct iha_diag *diag)
{
    struct fixture *fx = cls;

    return iha_config_load("test.yml", fx->config, strlen(fx->config), out, diag);
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

static void test_reload(void **state)
{
    struct fixture fx = {0};
    struct iha_diag *diag = iha_diag_new();
    struct iha_config *running = NULL;
    struct iha_ruleset *rs = iha_ruleset_new();
    struct iha_metrics *m = iha_metrics_new();
    struct iha_queue *q = NULL;
    struct iha_delivery *d = NULL;
    struct iha_pipeline *p;
    struct iha_reload *r;
    struct iha_err err = {0};
    char path[128], text[1024], detail[512], cmd[160];
    json_t *st;

    (void)state;
    snprintf(fx.dir, sizeof(fx.dir), "/tmp/iha-reload-XXXXXX");
    assert_non_null(mkdtemp(fx.dir));
    snprintf(path, sizeof(path), "%s/tokens", fx.dir);
    test_write_file(path, "tok\n");
    snprintf(path, sizeof(path), "%s/a.yml", fx.dir);
    snprintf(text, sizeof(text), rule_text, "rule-a");
    test_write_file(path, text);
    snprintf(path, sizeof(path), "%s/b.yml", fx.dir);
    snprintf(text, sizeof(text), rule_text, "rule-b");
    test_write_file(path, text);
    snprintf(path, sizeof(path), "%s/bad.yml", fx.dir);
    test_write_file(path, "rules:\n  - name: broken\n    matchers: [\"alertname =~ \\\"(\\\"\"]\n");

    assert_int_equal(iha_metrics_register_gateway(m, "t"), IHA_OK);
    write_config(&fx, "a.yml", "127.0.0.1:19999");
    assert_int_equal(load(&fx, &running, diag), IHA_OK);
    assert_int_equal(iha_config_load_rules(running, rs, diag), IHA_OK);
    {
        struct iha_queue_config qc = {.dir = running->storage_path};
        struct iha_delivery_config dc = {.url = "http://127.0.0.1:9", .max_jobs = 8};
        struct iha_pipeline_stages stg = {.rules = rs, .delivery = NULL, .metrics = m};
        assert_int_equal(iha_queue_open(&qc, &q, &err), IHA_OK);
        assert_int_equal(iha_delivery_new(&dc, &d), IHA_OK);
        stg.queue = q;
        stg.delivery = d;
        stg.dedupe = iha_dedupe_new(180, 100);
        p = iha_pipeline_new(&stg);
        assert_non_null(p);
        {
            struct iha_reload_config rc = {.load = load,
                                           .load_cls = &fx,
                                           .running = running,
                                           .rules = rs,
                                           .pipeline = p,
                                           .metrics = m,
                                           .queue = q};
            r = iha_reload_new(&rc);
            assert_non_null(r);
        }

        /* A good change: the new rules are reported and the metric says so. */
        write_config(&fx, "b.yml", "127.0.0.1:19999");
        assert_int_equal(iha_reload_run(r, "test", detail, sizeof(detail)), IHA_OK);
        assert_string_equal(detail, "");
        st = iha_reload_status(r);
        assert_string_equal(json_string_value(json_array_get(json_object_get(st, "rules"), 0)),
                            "rule-b");
        json_decref(st);
        assert_true(iha_metrics_value(m, "iha_gateway_config_last_reload_successful") == 1.0);
        assert_true(iha_metrics_value(m, "iha_gateway_config_reloads_total", "success") == 1.0);

        /* A broken rule file: refused with the reason, the previous rules stay. */
        write_config(&fx, "bad.yml", "127.0.0.1:19999");
        assert_int_not_equal(iha_reload_run(r, "test", detail, sizeof(detail)), IHA_OK);
        assert_non_null(strstr(detail, "bad.yml"));
        st = iha_reload_status(r);
        assert_string_equal(json_string_value(json_array_get(json_object_get(st, "rules"), 0)),
                            "rule-b");
        assert_false(
            json_is_true(json_object_get(json_object_get(st, "reload"), "last_successful")));
        json_decref(st);
        assert_true(iha_metrics_value(m, "iha_gateway_config_last_reload_successful") == 0.0);
        assert_true(iha_metrics_value(m, "iha_gateway_config_reloads_total", "failure") == 1.0);

        /* A missing rule file is refused too. */
        write_config(&fx, "missing.yml", "127.0.0.1:19999");
        assert_int_not_equal(iha_reload_run(r, "test", detail, sizeof(detail)), IHA_OK);

        /* A setting that needs a restart is reported, the rest applies. */
        write_config(&fx, "a.yml", "127.0.0.1:19998");
        assert_int_equal(iha_reload_run(r, "test", detail, sizeof(detail)), IHA_OK);
        assert_non_null(strstr(detail, "web.listen_address"));
        assert_true(iha_metrics_value(m, "iha_gateway_config_last_reload_successful") == 1.0);

        /* The queue gauges. */
        iha_reload_refresh(r);
        assert_true(iha_metrics_value(m, "iha_gateway_queue_depth") == 0.0);

        iha_reload_free(r);
        iha_pipeline_stop(p);
        iha_delivery_free(d);
        iha_queue_close(q);
        iha_pipeline_free(p);
        iha_dedupe_free(stg.dedupe);
    }
    iha_metrics_free(m);
    iha_ruleset_free(rs);
    iha_config_free(running);
    iha_diag_free(diag);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", fx.dir);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_redaction),
        cmocka_unit_test(test_reload),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
