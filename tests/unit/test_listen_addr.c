/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file test_listen_addr.c
 * @brief check-config and the daemon give every listen address the same verdict.
 */
#include <stdio.h>
#include <string.h>

#include "cmocka_includes.h"
#include "config.h"
#include "diag.h"
#include "http_server.h"
#include "listen_addr.h"

enum verdict { INVALID, NOT_LOOPBACK, LOOPBACK };

static const char *verdict_name(enum verdict v)
{
    return v == INVALID ? "invalid" : v == NOT_LOOPBACK ? "not loopback" : "loopback";
}

/*
 * What `check-config` says of a config with web.auth.disabled (allowed only on loopback):
 * it runs iha_config_load(), the loader the daemon also starts from.
 */
static enum verdict check_config_verdict(const char *addr)
{
    char text[512];
    struct iha_diag *diag = iha_diag_new();
    struct iha_config *cfg = NULL;
    enum verdict v = LOOPBACK;
    int n;

    assert_non_null(diag);
    n = snprintf(text, sizeof(text),
                 "web:\n  listen_address: '%s'\n  auth: {disabled: true}\n"
                 "storage: {path: /tmp/iha-listen-test}\n",
                 addr);
    assert_true(n > 0 && (size_t)n < sizeof(text));
    if (iha_config_load("gw.yml", text, (size_t)n, &cfg, diag) != IHA_OK) {
        assert_int_equal(iha_diag_errors(diag), 1);
        v = strstr(iha_diag_get(diag, 0), "loopback") ? NOT_LOOPBACK : INVALID;
    }
    iha_config_free(cfg);
    iha_diag_free(diag);
    return v;
}

/* What the daemon says: its listen parser (before binding) and its loopback check. */
static enum verdict daemon_verdict(const char *addr)
{
    struct iha_listen_addr la;
    struct iha_err err = {0};

    if (iha_listen_addr_parse(addr, &la, &err) != IHA_OK) {
        assert_string_equal(err.field, "web.listen_address");
        return INVALID;
    }
    return iha_http_is_loopback(addr) ? LOOPBACK : NOT_LOOPBACK;
}

static void test_same_verdicts(void **state)
{
    static const struct {
        const char *addr;
        enum verdict want;
    } cases[] = {
        {"127.0.0.1:9868", LOOPBACK},
        {"127.3.2.1:1", LOOPBACK},
        {"127.0.0.1:0", LOOPBACK}, /* port 0: the kernel picks one, logged at start */
        {"localhost:9868", LOOPBACK},
        {"LOCALHOST:9868", LOOPBACK}, /* host names are case-insensitive */
        {"[::1]:9868", LOOPBACK},
        {"[::ffff:127.0.0.1]:9868", LOOPBACK},
        {"127.example.com:9868", NOT_LOOPBACK}, /* a name, resolved by DNS */
        {"compute-1.example.org:9868", NOT_LOOPBACK},
        {":9868", NOT_LOOPBACK},
        {"0.0.0.0:9868", NOT_LOOPBACK},
        {"10.0.0.1:9868", NOT_LOOPBACK},
        {"[::]:9868", NOT_LOOPBACK},
        {"[fe80::1%eth0]:9868", NOT_LOOPBACK},
        {"127.0.0.1", INVALID},
        {"localhost", INVALID},
        {"127.0.0.1:", INVALID},
        {"127.0.0.1:65536", INVALID},
        {"127.0.0.1:99999", INVALID},
        {"127.0.0.1:123456", INVALID},
        {"127.0.0.1:-1", INVALID},
        {"127.0.0.1:+80", INVALID},
        {"127.0.0.1:0x50", INVALID},
        {"127.0.0.1:80 ", INVALID},
        {"::1:9868", INVALID},
        {"[::1]9868", INVALID},
        {"[::1:9868", INVALID},
        {"[]:9868", INVALID},
        {"[127.0.0.1]:9868", INVALID}, /* brackets are for IPv6 */
        {"[::1]:", INVALID},
        {"127.1:9868", INVALID}, /* inet_aton would bind 127.0.0.1; refused as ambiguous */
        {"2130706433:9868", INVALID},
        {"0x7f.0.0.1:9868", INVALID},
        {"127.0.0.256:9868", INVALID},
        {"local host:9868", INVALID},
        {"-bad.example:9868", INVALID},
        {"bad..example:9868", INVALID},
        {"host_name:9868", INVALID},
        {"", INVALID},
    };
    int mismatches = 0;

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        enum verdict c = check_config_verdict(cases[i].addr);
        enum verdict d = daemon_verdict(cases[i].addr);

        if (c != d || c != cases[i].want) {
            print_message("\"%s\": check-config %s, daemon %s, expected %s\n", cases[i].addr,
                          verdict_name(c), verdict_name(d), verdict_name(cases[i].want));
            mismatches++;
        }
    }
    assert_int_equal(mismatches, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_same_verdicts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
