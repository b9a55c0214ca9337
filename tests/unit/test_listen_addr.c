/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file test_listen_addr.c
 * @brief check-config and the daemon give every listen address the same verdict.
 */
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
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

/* One resolver answer of IPv4 and IPv6 literals, as getaddrinfo(3) would chain them. */
struct answer {
    struct addrinfo ai[3];
    struct sockaddr_in6 sa[3];
};

static const struct addrinfo *answer_of(struct answer *a, const char *const *addrs, size_t n)
{
    memset(a, 0, sizeof(*a));
    for (size_t i = 0; i < n; i++) {
        struct sockaddr_in *s4 = (struct sockaddr_in *)(void *)&a->sa[i];

        if (inet_pton(AF_INET, addrs[i], &s4->sin_addr) == 1) {
            s4->sin_family = AF_INET;
            a->ai[i].ai_family = AF_INET;
            a->ai[i].ai_addrlen = sizeof(*s4);
        } else {
            assert_int_equal(inet_pton(AF_INET6, addrs[i], &a->sa[i].sin6_addr), 1);
            a->sa[i].sin6_family = AF_INET6;
            a->ai[i].ai_family = AF_INET6;
            a->ai[i].ai_addrlen = sizeof(a->sa[i]);
        }
        a->ai[i].ai_addr = (struct sockaddr *)(void *)&a->sa[i];
        a->ai[i].ai_next = i + 1 < n ? &a->ai[i + 1] : NULL;
    }
    return n ? &a->ai[0] : NULL;
}

/* A name is loopback only when every address it resolves to is. */
static void test_resolved_all_loopback(void **state)
{
    static const char *const lo[] = {"127.0.0.1", "::1", "::ffff:127.0.0.2"};
    static const char *const mixed[] = {"127.0.0.1", "192.0.2.2"};
    static const char *const mixed6[] = {"::1", "fd00::2"};
    static const char *const remote[] = {"192.0.2.2"};
    struct answer a;

    (void)state;
    assert_true(iha_listen_addrinfo_all_loopback(answer_of(&a, lo, 3)));
    assert_false(iha_listen_addrinfo_all_loopback(answer_of(&a, mixed, 2)));
    assert_false(iha_listen_addrinfo_all_loopback(answer_of(&a, mixed6, 2)));
    assert_false(iha_listen_addrinfo_all_loopback(answer_of(&a, remote, 1)));
    assert_false(iha_listen_addrinfo_all_loopback(answer_of(&a, NULL, 0)));
    /* Not resolvable: not known to be loopback. */
    assert_false(iha_listen_addr_is_loopback("no-such-host.invalid:9868"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_same_verdicts),
        cmocka_unit_test(test_resolved_all_loopback),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
