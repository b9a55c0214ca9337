/* SPDX-License-Identifier: Apache-2.0 */
/** @file test_config.c @brief Configuration: defaults, overrides, errors, rule file loading. */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cmocka_includes.h"
#include "embedded.h"
#include "mapping.h"
#include "url.h"

struct ctx {
    struct iha_diag *diag;
    struct iha_config *cfg;
    struct iha_ruleset *rs;
    char dir[64];
};

static int setup(void **state)
{
    struct ctx *c = calloc(1, sizeof(*c));

    assert_non_null(c);
    c->diag = iha_diag_new();
    c->rs = iha_ruleset_new();
    assert_non_null(c->diag);
    assert_non_null(c->rs);
    snprintf(c->dir, sizeof(c->dir), "/tmp/iha-config-XXXXXX");
    assert_non_null(mkdtemp(c->dir));
    *state = c;
    return 0;
}

static void rm_tree(const char *dir)
{
    static const char *const names[] = {"gw.yml", "rules/a.yml", "rules/b.yml", "rules/bad.yml",
                                        "rules"};
    char path[256];

    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
        if (unlink(path) != 0)
            rmdir(path);
    }
    rmdir(dir);
}

static int teardown(void **state)
{
    struct ctx *c = *state;

    iha_config_free(c->cfg);
    iha_ruleset_free(c->rs);
    iha_diag_free(c->diag);
    rm_tree(c->dir);
    free(c);
    return 0;
}

static void dump_diag(const struct ctx *c)
{
    for (size_t i = 0; i < iha_diag_count(c->diag); i++)
        fprintf(stderr, "  diag[%zu] %s\n", i, iha_diag_get(c->diag, i));
}

static void expect_diag(const struct ctx *c, ...)
{
    va_list ap;
    const char *want;
    size_t i = 0;

    va_start(ap, c);
    while ((want = va_arg(ap, const char *)) != NULL) {
        if (i >= iha_diag_count(c->diag) || strcmp(iha_diag_get(c->diag, i), want) != 0) {
            dump_diag(c);
            fprintf(stderr, "  wanted[%zu] %s\n", i, want);
            fail();
        }
        i++;
    }
    va_end(ap);
    if (i != iha_diag_count(c->diag)) {
        dump_diag(c);
        fail_msg("expected %zu diagnostics, got %zu", i, iha_diag_count(c->diag));
    }
}

static enum iha_rc load(struct ctx *c, const char *text)
{
    iha_config_free(c->cfg);
    c->cfg = NULL;
    return iha_config_load("gw.yml", text, strlen(text), &c->cfg, c->diag);
}

static void write_file(const struct ctx *c, const char *name, const char *text)
{
    char path[256];
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s", c->dir, name);
    f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void check_defaults(const struct iha_config *cfg)
{
    assert_string_equal(cfg->listen_address, "127.0.0.1:9868");
    assert_int_equal(cfg->max_request_bytes, 8388608);
    assert_int_equal(cfg->read_timeout_s, 30);
    assert_false(cfg->auth_disabled);
    assert_string_equal(cfg->bearer_tokens_file, "/etc/iha-gateway/inbound-tokens");
    assert_int_equal(cfg->n_basic_users, 0);
    assert_string_equal(cfg->url, "http://127.0.0.1:15868");
    assert_int_equal(cfg->dialect, IHA_DIALECT_MASAKARI);
    assert_null(cfg->token_file);
    assert_int_equal(cfg->connect_timeout_ms, 3000);
    assert_int_equal(cfg->timeout_ms, 10000);
    assert_int_equal(cfg->retry_for_ms, 20000);
    assert_int_equal(cfg->dedupe_window_s, 180);
    assert_int_equal(cfg->dedupe_max_entries, 100000);
    assert_int_equal(cfg->n_rule_files, 0);
    assert_int_equal(cfg->log_level, IHA_LOG_INFO);
    assert_int_equal(cfg->log_format, IHA_LOG_LOGFMT);
    assert_true(cfg->policy_enabled);
    assert_int_equal(cfg->policy_settle_ms, 10000);
    assert_int_equal(cfg->policy_window_ms, 300000);
    assert_int_equal(cfg->policy_max_hosts, 5);
    assert_int_equal(cfg->policy_domain_percent, 55);
    assert_int_equal(cfg->policy_domain_min_hosts, 3);
    assert_string_equal(cfg->policy_failure_domain, "segment");
    assert_int_equal(cfg->policy_auto_release_ms, 0);
    assert_int_equal(cfg->policy_flap_count, 3);
    assert_int_equal(cfg->policy_rate_burst, 3);
    assert_int_equal(cfg->policy_rate_interval_ms, 10000);
    assert_string_equal(cfg->policy_heartbeat_alertname, "Watchdog");
    assert_int_equal(cfg->policy_heartbeat_after_ms, 0);
}

static void test_defaults(void **state)
{
    struct ctx *c = *state;

    assert_int_equal(iha_config_default(&c->cfg), IHA_OK);
    assert_string_equal(c->cfg->source, "<embedded default>");
    check_defaults(c->cfg);
    /* An empty file means the defaults too. */
    assert_int_equal(load(c, "# nothing\n"), IHA_OK);
    assert_string_equal(c->cfg->source, "gw.yml");
    check_defaults(c->cfg);
    /* Sections present but empty. */
    assert_int_equal(load(c, "web:\ninstance_ha:\ndedupe: {}\n"), IHA_OK);
    check_defaults(c->cfg);
    expect_diag(c, NULL);
}

static void test_overrides(void **state)
{
    struct ctx *c = *state;

    assert_int_equal(load(c, "web:\n"
                             "  listen_address: '[::1]:9999'\n"
                             "  max_request_bytes: 2MiB\n"
                             "  read_timeout: 1m\n"
                             "  auth:\n"
                             "    disabled: true\n"
                             "    bearer_tokens_file: null\n"
                             "    basic_auth_users:\n"
                             "      alertmanager: $2y$10$abcdefghijklmnopqrstuv\n"
                             "      nagios: '$6$salt$hash'\n"
                             "instance_ha:\n"
                             "  url: https://iha.example:15868/v1\n"
                             "  dialect: xloud\n"
                             "  token_file: /run/secrets/iha\n"
                             "  connect_timeout: 500ms\n"
                             "  timeout: 1m30s\n"
                             "  retry_for: 0s\n"
                             "dedupe:\n"
                             "  window: 1h\n"
                             "  max_entries: 5000\n"
                             "mapping:\n"
                             "  rule_files: [/etc/a/*.yml, /etc/b.yml]\n"
                             "log:\n"
                             "  level: debug\n"
                             "  format: json\n"),
                     IHA_OK);
    expect_diag(c, NULL);
    assert_string_equal(c->cfg->listen_address, "[::1]:9999");
    assert_int_equal(c->cfg->max_request_bytes, 2 * 1024 * 1024);
    assert_int_equal(c->cfg->read_timeout_s, 60);
    assert_true(c->cfg->auth_disabled);
    assert_null(c->cfg->bearer_tokens_file);
    assert_int_equal(c->cfg->n_basic_users, 2);
    assert_string_equal(c->cfg->basic_users[0].name, "alertmanager");
    assert_string_equal(c->cfg->basic_users[0].hash, "$2y$10$abcdefghijklmnopqrstuv");
    assert_string_equal(c->cfg->basic_users[1].name, "nagios");
    assert_string_equal(c->cfg->url, "https://iha.example:15868/v1");
    assert_int_equal(c->cfg->dialect, IHA_DIALECT_XLOUD);
    assert_string_equal(c->cfg->token_file, "/run/secrets/iha");
    assert_int_equal(c->cfg->connect_timeout_ms, 500);
    assert_int_equal(c->cfg->timeout_ms, 90000);
    assert_int_equal(c->cfg->retry_for_ms, 0);
    assert_int_equal(c->cfg->dedupe_window_s, 3600);
    assert_int_equal(c->cfg->dedupe_max_entries, 5000);
    assert_int_equal(c->cfg->n_rule_files, 2);
    assert_string_equal(c->cfg->rule_files[0], "/etc/a/*.yml");
    assert_string_equal(c->cfg->rule_files[1], "/etc/b.yml");
    assert_int_equal(c->cfg->log_level, IHA_LOG_DEBUG);
    assert_int_equal(c->cfg->log_format, IHA_LOG_JSON);
}

static void test_duration_parse(void **state)
{
    unsigned ms = 7;

    (void)state;
    assert_int_equal(iha_duration_parse("500ms", &ms), 0);
    assert_int_equal(ms, 500);
    assert_int_equal(iha_duration_parse("30s", &ms), 0);
    assert_int_equal(ms, 30000);
    assert_int_equal(iha_duration_parse("5m", &ms), 0);
    assert_int_equal(ms, 300000);
    assert_int_equal(iha_duration_parse("1h", &ms), 0);
    assert_int_equal(ms, 3600000);
    assert_int_equal(iha_duration_parse("1h2m3s4ms", &ms), 0);
    assert_int_equal(ms, 3723004);
    assert_int_equal(iha_duration_parse("30", &ms), 0);
    assert_int_equal(ms, 30000);
    assert_int_equal(iha_duration_parse("0", &ms), 0);
    assert_int_equal(ms, 0);
    ms = 7;
    assert_int_equal(iha_duration_parse("", &ms), -1);
    assert_int_equal(iha_duration_parse("s", &ms), -1);
    assert_int_equal(iha_duration_parse("1d", &ms), -1);
    assert_int_equal(iha_duration_parse("1.5s", &ms), -1);
    assert_int_equal(iha_duration_parse("-1s", &ms), -1);
    assert_int_equal(iha_duration_parse(" 1s", &ms), -1);
    assert_int_equal(iha_duration_parse("1s ", &ms), -1);
    assert_int_equal(iha_duration_parse("10 s", &ms), -1);
    assert_int_equal(iha_duration_parse("30s5", &ms), -1);
    assert_int_equal(iha_duration_parse("4294967296ms", &ms), -1);
    assert_int_equal(iha_duration_parse("1200h", &ms), -1); /* > UINT_MAX ms */
    assert_int_equal(iha_duration_parse("99999999999999999999", &ms), -1);
    assert_int_equal(ms, 7);
}

static void test_bad_durations(void **state)
{
    struct ctx *c = *state;

    assert_int_equal(load(c, "web:\n"
                             "  read_timeout: 30x\n"
                             "instance_ha:\n"
                             "  connect_timeout: 0s\n"
                             "  timeout: -1s\n"
                             "  retry_for: [20s]\n"
                             "dedupe:\n"
                             "  window: 1500ms\n"),
                     IHA_E_CONFIG);
    assert_null(c->cfg);
    expect_diag(c,
                "gw.yml:2:17: error: web.read_timeout: invalid duration '30x' (expected e.g. "
                "500ms, 30s, 5m, 1h)",
                "gw.yml:4:20: error: instance_ha.connect_timeout: must be greater than 0",
                "gw.yml:5:12: error: instance_ha.timeout: invalid duration '-1s' (expected e.g. "
                "500ms, 30s, 5m, 1h)",
                "gw.yml:6:14: error: instance_ha.retry_for: expected a string, got a list",
                "gw.yml:8:11: error: dedupe.window: '1500ms' is not a whole number of seconds",
                NULL);
}

static void test_unknown_keys(void **state)
{
    struct ctx *c = *state;

    assert_int_equal(load(c, "instance-ha:\n"
                             "  url: http://x\n"
                             "web:\n"
                             "  listen_adress: 127.0.0.1:1\n"
                             "  auth:\n"
                             "    bearer_token_file: /x\n"
                             "    password: secret\n"
                             "log: {levle: info}\n"),
                     IHA_E_CONFIG);
    expect_diag(c,
                "gw.yml:1:1: error: top level: unknown key 'instance-ha' (did you mean "
                "'instance_ha'?)",
                "gw.yml:4:3: error: web: unknown key 'listen_adress' (did you mean "
                "'listen_address'?)",
                "gw.yml:6:5: error: web.auth: unknown key 'bearer_token_file' (did you mean "
                "'bearer_tokens_file'?)",
                "gw.yml:7:5: error: web.auth: unknown key 'password'",
                "gw.yml:8:7: error: log: unknown key 'levle' (did you mean 'level'?)", NULL);
}

static void test_bad_values(void **state)
{
    struct ctx *c = *state;

    assert_int_equal(load(c, "web:\n"
                             "  listen_address: localhost\n"
                             "  max_request_bytes: 10\n"
                             "  auth:\n"
                             "    disabled: yes\n"
                             "    basic_auth_users:\n"
                             "      bob: hunter2\n"
                             "instance_ha:\n"
                             "  url: ftp://x\n"
                             "  dialect: masakri\n"
                             "dedupe:\n"
                             "  max_entries: lots\n"
                             "mapping:\n"
                             "  rule_files: /etc/x.yml\n"
                             "log:\n"
                             "  level: verbose\n"
                             "  format: text\n"),
                     IHA_E_CONFIG);
    expect_diag(
        c,
        "gw.yml:2:19: error: web.listen_address: invalid address 'localhost': missing \":PORT\" "
        "(expected HOST:PORT, [IPV6]:PORT or :PORT)",
        "gw.yml:3:22: error: web.max_request_bytes: 10 is out of range (1KiB to 1GiB)",
        "gw.yml:5:15: error: web.auth.disabled: expected true or false, got 'yes'",
        "gw.yml:7:12: error: web.auth.basic_auth_users.bob: expected a crypt(3) hash such as "
        "'$2y$10$...', not a clear-text password",
        "gw.yml:9:8: error: instance_ha.url: invalid URL 'ftp://x' (expected "
        "http://host[:port][/path] or https://...)",
        "gw.yml:10:12: error: instance_ha.dialect: unknown value 'masakri' (did you mean "
        "'masakari'?); expected masakari or xloud",
        "gw.yml:12:16: error: dedupe.max_entries: expected a positive integer, got 'lots'",
        "gw.yml:14:15: error: mapping.rule_files: expected a list, got a string",
        "gw.yml:16:10: error: log.level: unknown value 'verbose'; expected debug, info, warn or "
        "error",
        "gw.yml:17:11: error: log.format: unknown value 'text'; expected logfmt or json", NULL);
}

static void test_auth_cross_checks(void **state)
{
    struct ctx *c = *state;

    assert_int_equal(load(c, "web:\n"
                             "  listen_address: 0.0.0.0:9868\n"
                             "  auth:\n"
                             "    disabled: true\n"),
                     IHA_E_CONFIG);
    expect_diag(c,
                "gw.yml:4:15: error: web.auth.disabled: only allowed when web.listen_address "
                "is a loopback address (it is '0.0.0.0:9868'); anyone who can reach the port "
                "could trigger evacuations",
                NULL);
    assert_int_equal(load(c, "web: {listen_address: 'localhost:1', auth: {disabled: true}}\n"),
                     IHA_OK);
    assert_int_equal(load(c, "web: {listen_address: '127.0.0.2:1', auth: {disabled: true}}\n"),
                     IHA_OK);
    assert_int_equal(load(c, "web:\n  auth:\n    bearer_tokens_file: null\n"), IHA_E_CONFIG);
    expect_diag(c,
                "gw.yml:4:15: error: web.auth.disabled: only allowed when web.listen_address "
                "is a loopback address (it is '0.0.0.0:9868'); anyone who can reach the port "
                "could trigger evacuations",
                "gw.yml:3:5: error: web.auth: neither bearer_tokens_file nor basic_auth_users is "
                "set, so every request would be refused",
                NULL);
    assert_int_equal(load(c, "instance_ha: {connect_timeout: 20s}\n"), IHA_E_CONFIG);
    assert_string_equal(iha_diag_get(c->diag, 2),
                        "gw.yml:1:32: error: instance_ha.connect_timeout: longer than "
                        "instance_ha.timeout (10000ms)");
}

/* web.tls_server_config: only what the listener supports, and pairs that belong together. */
static void test_web_tls_checks(void **state)
{
    struct ctx *c = *state;

    assert_int_equal(load(c, "web:\n"
                             "  tls_server_config:\n"
                             "    cert_file: /etc/gw/tls.crt\n"
                             "    key_file: /etc/gw/tls.key\n"
                             "    client_ca_file: /etc/gw/ca.crt\n"
                             "    client_auth_type: RequireAndVerifyClientCert\n"
                             "    min_version: TLS13\n"),
                     IHA_OK);
    assert_int_equal(c->cfg->web_tls.client_auth_type, IHA_WEB_CLIENT_AUTH_REQUIRE);
    assert_int_equal(c->cfg->web_tls.min_version, IHA_WEB_TLS_MIN_TLS13);
    assert_int_equal(load(c, "web: {tls_server_config: {cert_file: /a.crt}}\n"), IHA_E_CONFIG);
    assert_int_equal(load(c, "web: {tls_server_config: {client_auth_type: NoClientCert}}\n"),
                     IHA_E_CONFIG);
    assert_int_equal(load(c, "web:\n"
                             "  tls_server_config:\n"
                             "    cert_file: /a.crt\n"
                             "    key_file: /a.key\n"
                             "    client_auth_type: RequireAnyClientCert\n"
                             "    min_version: TLS11\n"),
                     IHA_E_CONFIG);
    assert_int_equal(load(c, "web:\n"
                             "  tls_server_config:\n"
                             "    cert_file: /a.crt\n"
                             "    key_file: /a.key\n"
                             "    client_auth_type: VerifyClientCertIfGiven\n"),
                     IHA_E_CONFIG);
    assert_int_equal(load(c, "web:\n"
                             "  tls_server_config:\n"
                             "    cert_file: /a.crt\n"
                             "    key_file: /a.key\n"
                             "    client_ca_file: /ca.crt\n"),
                     IHA_E_CONFIG);
    expect_diag(
        c, "gw.yml:1:26: error: web.tls_server_config: cert_file and key_file go together",
        "gw.yml:1:26: error: web.tls_server_config: set cert_file and key_file to serve TLS",
        "gw.yml:5:23: error: web.tls_server_config.client_auth_type: "
        "'RequireAnyClientCert' is not supported (use NoClientCert, "
        "VerifyClientCertIfGiven or RequireAndVerifyClientCert)",
        "gw.yml:6:18: error: web.tls_server_config.min_version: 'TLS11' is not supported "
        "(use TLS12 or TLS13)",
        "gw.yml:5:23: error: web.tls_server_config.client_auth_type: "
        "VerifyClientCertIfGiven needs client_ca_file",
        "gw.yml:5:21: error: web.tls_server_config.client_ca_file: only used with "
        "client_auth_type VerifyClientCertIfGiven or RequireAndVerifyClientCert",
        NULL);
}

/* The safety policy's keys: values, ranges with positions, a guard that cannot trip. */
static void test_policy_checks(void **state)
{
    struct ctx *c = *state;

    assert_int_equal(load(c, "policy:\n"
                             "  settle: 5s\n"
                             "  storm: {window: 2m, max_hosts: 8, domain_percent: 40,\n"
                             "          failure_domain: none, auto_release: 10m}\n"
                             "  flapping: {count: 0}\n"
                             "  rate_limit: {burst: 0, interval: 30s}\n"
                             "  heartbeat: {alertname: DeadMansSwitch, missing_after: 2m}\n"),
                     IHA_OK);
    assert_int_equal(c->cfg->policy_settle_ms, 5000);
    assert_int_equal(c->cfg->policy_window_ms, 120000);
    assert_int_equal(c->cfg->policy_max_hosts, 8);
    assert_int_equal(c->cfg->policy_domain_percent, 40);
    assert_string_equal(c->cfg->policy_failure_domain, "none");
    assert_int_equal(c->cfg->policy_auto_release_ms, 600000);
    assert_int_equal(c->cfg->policy_flap_count, 0);
    assert_int_equal(c->cfg->policy_rate_burst, 0);
    assert_int_equal(c->cfg->policy_rate_interval_ms, 30000);
    assert_string_equal(c->cfg->policy_heartbeat_alertname, "DeadMansSwitch");
    assert_int_equal(c->cfg->policy_heartbeat_after_ms, 120000);
    expect_diag(c, NULL);
    assert_int_equal(load(c, "policy:\n"
                             "  storm: {domain_percent: 101, domain_min_hosts: 0}\n"
                             "  rate_limit: {burst: -1}\n"),
                     IHA_E_CONFIG);
    assert_int_equal(load(c, "policy: {storm: {max_hosts: 0, failure_domain: none}}\n"),
                     IHA_E_CONFIG);
    assert_int_equal(load(c, "policy: {storm: {failure_domain: segmnt}}\n"), IHA_E_CONFIG);
    assert_int_equal(load(c, "policy:\n"
                             "  settle: 30s\n"
                             "  storm: {domain_min_hosts: 6}\n"),
                     IHA_OK);
    assert_int_equal(
        load(c, "policy: {enabled: false, storm: {max_hosts: 0, domain_percent: 0}}\n"), IHA_OK);
    expect_diag(
        c, "gw.yml:2:27: error: policy.storm.domain_percent: 101 is out of range (0 to 100)",
        "gw.yml:2:50: error: policy.storm.domain_min_hosts: 0 is out of range (1 to 1000000)",
        "gw.yml:3:23: error: policy.rate_limit.burst: expected an integer of 0 or more, got '-1'",
        "gw.yml:1:17: error: policy.storm: the storm guard can never trip (max_hosts is 0 and "
        "no domain share applies); set max_hosts, or policy.enabled: false to turn the policy "
        "off",
        "gw.yml:1:34: error: policy.storm.failure_domain: unknown value 'segmnt' (did you mean "
        "'segment'?); expected segment or none",
        "gw.yml:3:29: warning: policy.storm.domain_min_hosts: 6 is more than max_hosts (5), so "
        "a domain's share never trips the guard first",
        "gw.yml:2:11: warning: policy.settle: 30s delays every evacuation that long; a true "
        "single failure then takes more than 30 s to reach Instance HA",
        NULL);
}

/* client_auth_type and min_version are read once, into enums; a bad name is refused there. */
static void test_web_tls_enums(void **state)
{
    static const struct {
        const char *name;
        enum iha_web_client_auth want;
        const char *ca; /* the client_ca_file line the mode needs, or "" */
    } modes[] = {
        {"NoClientCert", IHA_WEB_CLIENT_AUTH_NONE, ""},
        {"VerifyClientCertIfGiven", IHA_WEB_CLIENT_AUTH_VERIFY_IF_GIVEN,
         "    client_ca_file: /ca\n"},
        {"RequireAndVerifyClientCert", IHA_WEB_CLIENT_AUTH_REQUIRE, "    client_ca_file: /ca\n"},
        {"null", IHA_WEB_CLIENT_AUTH_UNSET, ""},
    };
    static const struct {
        const char *name;
        enum iha_web_tls_min want;
    } mins[] = {{"TLS12", IHA_WEB_TLS_MIN_TLS12},
                {"TLS13", IHA_WEB_TLS_MIN_TLS13},
                {"null", IHA_WEB_TLS_MIN_UNSET}};
    struct ctx *c = *state;
    char text[512];

    assert_int_equal(load(c, "web: {tls_server_config: {cert_file: /a.crt, key_file: /a.key}}\n"),
                     IHA_OK);
    assert_int_equal(c->cfg->web_tls.client_auth_type, IHA_WEB_CLIENT_AUTH_UNSET);
    assert_int_equal(c->cfg->web_tls.min_version, IHA_WEB_TLS_MIN_UNSET);
    for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
        snprintf(text, sizeof(text),
                 "web:\n  tls_server_config:\n    cert_file: /a.crt\n    key_file: /a.key\n"
                 "%s    client_auth_type: %s\n    min_version: %s\n",
                 modes[i].ca, modes[i].name, mins[i % 3].name);
        assert_int_equal(load(c, text), IHA_OK);
        assert_int_equal(c->cfg->web_tls.client_auth_type, modes[i].want);
        assert_int_equal(c->cfg->web_tls.min_version, mins[i % 3].want);
    }
    assert_int_equal(iha_diag_count(c->diag), 0);
    /* Names are case-sensitive, as in Prometheus' web.yml; each bad one is reported. */
    assert_int_equal(load(c, "web:\n"
                             "  tls_server_config:\n"
                             "    cert_file: /a.crt\n"
                             "    key_file: /a.key\n"
                             "    client_auth_type: requireandverifyclientcert\n"
                             "    min_version: tls13\n"),
                     IHA_E_CONFIG);
    assert_int_equal(load(c, "web: {tls_server_config: {client_auth_type: ''}}\n"), IHA_E_CONFIG);
    assert_int_equal(load(c, "web: {tls_server_config: {min_version: [TLS13]}}\n"), IHA_E_CONFIG);
    expect_diag(c,
                "gw.yml:5:23: error: web.tls_server_config.client_auth_type: "
                "'requireandverifyclientcert' is not supported (use NoClientCert, "
                "VerifyClientCertIfGiven or RequireAndVerifyClientCert)",
                "gw.yml:6:18: error: web.tls_server_config.min_version: 'tls13' is not supported "
                "(use TLS12 or TLS13)",
                "gw.yml:1:45: error: web.tls_server_config.client_auth_type: '' is not supported "
                "(use NoClientCert, VerifyClientCertIfGiven or RequireAndVerifyClientCert)",
                "gw.yml:1:40: error: web.tls_server_config.min_version: expected a string, got "
                "a list",
                NULL);
}

static void test_url_credentials_refused(void **state)
{
    struct ctx *c = *state;

    assert_int_equal(load(c, "instance_ha:\n"
                             "  url: http://admin:hunter2@127.0.0.1:15868\n"
                             "  auth:\n"
                             "    type: password\n"
                             "    auth_url: https://svc:hunter3@keystone:5000/v3\n"),
                     IHA_E_CONFIG);
    assert_null(c->cfg);
    assert_string_equal(iha_diag_get(c->diag, 0),
                        "gw.yml:2:8: error: instance_ha.url: " IHA_URL_CREDENTIALS_HINT);
    assert_string_equal(iha_diag_get(c->diag, 1),
                        "gw.yml:5:15: error: instance_ha.auth.auth_url: " IHA_URL_CREDENTIALS_HINT);
    for (size_t i = 0; i < iha_diag_count(c->diag); i++) {
        assert_null(strstr(iha_diag_get(c->diag, i), "hunter2"));
        assert_null(strstr(iha_diag_get(c->diag, i), "hunter3"));
    }
    /* An '@' in the path or query is not userinfo. */
    assert_int_equal(load(c, "instance_ha: {url: 'http://127.0.0.1:15868/a@b?x=@'}\n"), IHA_OK);
}

static void test_parse_error(void **state)
{
    struct ctx *c = *state;

    assert_int_equal(load(c, "web:\n  listen_address: [\n"), IHA_E_CONFIG);
    assert_null(c->cfg);
    assert_int_equal(iha_diag_errors(c->diag), 1);
    assert_int_equal(strncmp(iha_diag_get(c->diag, 0), "gw.yml:3:1: error: ", 19), 0);
}

static void test_set_string(void **state)
{
    struct ctx *c = *state;

    assert_int_equal(iha_config_default(&c->cfg), IHA_OK);
    assert_int_equal(iha_config_set_string(&c->cfg->listen_address, "0.0.0.0:1"), IHA_OK);
    assert_string_equal(c->cfg->listen_address, "0.0.0.0:1");
    assert_int_equal(iha_config_set_string(&c->cfg->token_file, "/t"), IHA_OK);
    assert_string_equal(c->cfg->token_file, "/t");
    assert_int_equal(iha_config_set_string(&c->cfg->token_file, NULL), IHA_OK);
    assert_null(c->cfg->token_file);
}

static void test_load_file(void **state)
{
    struct ctx *c = *state;
    char path[256];

    write_file(c, "gw.yml", "log:\n  level: warn\n");
    snprintf(path, sizeof(path), "%s/gw.yml", c->dir);
    assert_int_equal(iha_config_load_file(path, &c->cfg, c->diag), IHA_OK);
    assert_string_equal(c->cfg->source, path);
    assert_int_equal(c->cfg->log_level, IHA_LOG_WARN);
    iha_config_free(c->cfg);
    c->cfg = NULL;
    assert_int_equal(iha_config_load_file("/nonexistent/gw.yml", &c->cfg, c->diag), IHA_E_IO);
    assert_null(c->cfg);
}

static void test_rules_embedded(void **state)
{
    struct ctx *c = *state;
    size_t n = 0;

    for (const struct iha_embedded_file *e = iha_embedded_rules; e->name; e++)
        n++;
    assert_int_equal(n, 5);
    assert_string_equal(iha_embedded_rules[0].name, "blackbox-icmp.yml");
    assert_string_equal(iha_embedded_rules[2].name, "nagios.yml");
    assert_int_equal(iha_config_default(&c->cfg), IHA_OK);
    assert_int_equal(iha_config_load_rules(c->cfg, c->rs, c->diag), IHA_OK);
    expect_diag(c, NULL);
    /* File-name order, rules in file order. */
    assert_int_equal(iha_ruleset_count(c->rs), 14); /* nagios.yml: 10 rules */
    assert_string_equal(iha_ruleset_rule_name(c->rs, 0), "icmp-unreachable");
    assert_string_equal(iha_ruleset_rule_name(c->rs, 1), "libvirt-domain-crashed");
    assert_string_equal(iha_ruleset_rule_name(c->rs, 12), "node-down");
    assert_string_equal(iha_ruleset_rule_name(c->rs, 13), "nova-compute-down");
}

static const char *RULE_A = "rules:\n  - name: a\n    type: VM\n    hostname: h\n";
static const char *RULE_B = "rules:\n  - name: b\n    type: VM\n    hostname: h\n";

static void test_rules_globs(void **state)
{
    struct ctx *c = *state;
    char rules[128], cfgpath[128], text[1024];

    snprintf(rules, sizeof(rules), "%s/rules", c->dir);
    assert_int_equal(mkdir(rules, 0700), 0);
    write_file(c, "rules/b.yml", RULE_B);
    write_file(c, "rules/a.yml", RULE_A);
    /* Relative to the config file's directory; sorted; a missing glob is named. */
    write_file(c, "gw.yml",
               "mapping:\n  rule_files: ['rules/*.yml', 'missing/*.yml', " IHA_MAPPINGS
               "/node-exporter.yml]\n");
    snprintf(cfgpath, sizeof(cfgpath), "%s/gw.yml", c->dir);
    assert_int_equal(iha_config_load_file(cfgpath, &c->cfg, c->diag), IHA_OK);
    assert_int_equal(iha_config_load_rules(c->cfg, c->rs, c->diag), IHA_E_CONFIG);
    snprintf(text, sizeof(text),
             "%s: error: mapping.rule_files: '%s/missing/*.yml' matches no file", cfgpath, c->dir);
    expect_diag(c, text, NULL);
    assert_int_equal(iha_ruleset_count(c->rs), 3);
    assert_string_equal(iha_ruleset_rule_name(c->rs, 0), "a");
    assert_string_equal(iha_ruleset_rule_name(c->rs, 1), "b");
    assert_string_equal(iha_ruleset_rule_name(c->rs, 2), "node-down");
}

static void test_rules_file_errors(void **state)
{
    struct ctx *c = *state;
    char rules[128], text[1024];

    snprintf(rules, sizeof(rules), "%s/rules", c->dir);
    assert_int_equal(mkdir(rules, 0700), 0);
    write_file(c, "rules/a.yml", RULE_A);
    write_file(c, "rules/bad.yml", "rules:\n  - name: a\n    type: VN\n    hostname: h\n");
    snprintf(text, sizeof(text), "mapping: {rule_files: ['%s/*.yml']}\n", rules);
    assert_int_equal(load(c, text), IHA_OK);
    assert_int_equal(iha_config_load_rules(c->cfg, c->rs, c->diag), IHA_E_CONFIG);
    /* Every problem of every file, with its position. */
    assert_int_equal(iha_diag_errors(c->diag), 2);
    snprintf(text, sizeof(text),
             "%s/bad.yml:2:11: error: duplicate rule name 'a' (first defined "
             "at %s/a.yml:2:5)",
             rules, rules);
    assert_string_equal(iha_diag_get(c->diag, 0), text);
    snprintf(text, sizeof(text),
             "%s/bad.yml:3:11: error: type: unknown type 'VN' (did you mean "
             "'VM'?); expected COMPUTE_HOST, VM or PROCESS (or COMPUTE_INSTANCE, COMPUTE_PROCESS)",
             rules);
    assert_string_equal(iha_diag_get(c->diag, 1), text);
    assert_int_equal(iha_ruleset_count(c->rs), 1);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_defaults),
        T(test_overrides),
        T(test_duration_parse),
        T(test_bad_durations),
        T(test_unknown_keys),
        T(test_bad_values),
        T(test_auth_cross_checks),
        T(test_web_tls_checks),
        T(test_web_tls_enums),
        T(test_policy_checks),
        T(test_parse_error),
        T(test_set_string),
        T(test_load_file),
        T(test_rules_embedded),
        T(test_rules_globs),
        T(test_rules_file_errors),
        T(test_url_credentials_refused),
    };
#undef T

    return cmocka_run_group_tests(tests, NULL, NULL);
}
