/* SPDX-License-Identifier: Apache-2.0 */
/** @file test_conn_guard.c @brief Deadlines and caps for untrusted connections. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "conn_guard.h"

#define N_CONN 8

/* One socketpair per connection: the guard holds [0], the test reads [1] like a client. */
struct conns {
    int fd[N_CONN][2];
    struct iha_conn_slot *slot[N_CONN];
};

static void conns_init(struct conns *c)
{
    for (int i = 0; i < N_CONN; i++) {
        assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, c->fd[i]), 0);
        assert_int_equal(fcntl(c->fd[i][1], F_SETFL, O_NONBLOCK), 0);
        c->slot[i] = NULL;
    }
}

static void conns_close(struct conns *c)
{
    for (int i = 0; i < N_CONN; i++) {
        close(c->fd[i][0]);
        close(c->fd[i][1]);
    }
}

/* @return true when the guard shut connection @p i down (the client sees the end). */
static bool was_closed(const struct conns *c, int i)
{
    char b;

    return recv(c->fd[i][1], &b, 1, 0) == 0;
}

static struct sockaddr_in addr_of(const char *ip, unsigned short port)
{
    struct sockaddr_in a;

    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    assert_int_equal(inet_pton(AF_INET, ip, &a.sin_addr), 1);
    return a;
}

static struct iha_conn_guard *guard_new(size_t all, size_t per_addr, uint64_t deadline)
{
    struct iha_conn_guard_limits lim = {all, per_addr, deadline};
    struct iha_conn_guard *g = NULL;

    assert_int_equal(iha_conn_guard_new(&lim, &lim, &g), IHA_OK);
    assert_ptr_equal(iha_conn_slot_owner(NULL), NULL);
    return g;
}

static void open_conn(struct iha_conn_guard *g, struct conns *c, int i, const char *ip,
                      uint64_t now, struct iha_conn_evictions *ev)
{
    struct sockaddr_in a = addr_of(ip, (unsigned short)(40000 + i));

    c->slot[i] = iha_conn_guard_open(g, c->fd[i][0], (struct sockaddr *)&a, now, ev);
    assert_non_null(c->slot[i]);
}

/* Over the cap in all, the oldest untrusted connection makes room for the new one. */
static void test_cap_evicts_oldest(void **state)
{
    struct iha_conn_guard *g = guard_new(3, 10, 30000);
    struct iha_conn_evictions ev;
    struct conns c;

    (void)state;
    conns_init(&c);
    for (int i = 0; i < 3; i++) {
        open_conn(g, &c, i, i % 2 ? "127.0.0.2" : "127.0.0.3", 1000 + (uint64_t)i, &ev);
        assert_int_equal(ev.limit + ev.deadline, 0);
    }
    open_conn(g, &c, 3, "127.0.0.1", 1010, &ev);
    assert_int_equal(ev.limit, 1);
    assert_int_equal(ev.deadline, 0);
    assert_true(was_closed(&c, 0));
    assert_false(was_closed(&c, 1));
    assert_false(was_closed(&c, 2));
    assert_false(was_closed(&c, 3));
    assert_int_equal(iha_conn_guard_untrusted(g), 3);
    iha_conn_guard_free(g);
    conns_close(&c);
}

/* One address over its own cap loses its oldest connection, not another client's. */
static void test_per_address_cap(void **state)
{
    struct iha_conn_guard *g = guard_new(10, 2, 30000);
    struct iha_conn_evictions ev;
    struct conns c;

    (void)state;
    conns_init(&c);
    open_conn(g, &c, 0, "127.0.0.1", 1000, &ev); /* a sender */
    open_conn(g, &c, 1, "127.0.0.9", 1001, &ev); /* a slow client's first two */
    open_conn(g, &c, 2, "127.0.0.9", 1002, &ev);
    assert_int_equal(ev.limit, 0);
    open_conn(g, &c, 3, "127.0.0.9", 1003, &ev);
    assert_int_equal(ev.limit, 1);
    assert_false(was_closed(&c, 0));
    assert_true(was_closed(&c, 1));
    assert_false(was_closed(&c, 2));
    assert_false(was_closed(&c, 3));
    iha_conn_guard_free(g);
    conns_close(&c);
}

/* Past the deadline an untrusted request is closed when the next connection opens. */
static void test_deadline(void **state)
{
    struct iha_conn_guard *g = guard_new(10, 10, 30000);
    struct iha_conn_evictions ev;
    struct conns c;

    (void)state;
    conns_init(&c);
    open_conn(g, &c, 0, "127.0.0.2", 1000, &ev);
    open_conn(g, &c, 1, "127.0.0.2", 20000, &ev);
    open_conn(g, &c, 2, "127.0.0.3", 30999, &ev);
    assert_int_equal(ev.deadline, 0);
    assert_false(was_closed(&c, 0));
    open_conn(g, &c, 3, "127.0.0.3", 31000, &ev);
    assert_int_equal(ev.deadline, 1);
    assert_int_equal(ev.limit, 0);
    assert_true(was_closed(&c, 0));
    assert_false(was_closed(&c, 1));
    iha_conn_guard_free(g);
    conns_close(&c);
}

/* Trusted connections are neither counted nor closed; a kept-alive one is armed again. */
static void test_trust_and_rearm(void **state)
{
    struct iha_conn_guard *g = guard_new(2, 10, 30000);
    struct iha_conn_evictions ev;
    struct conns c;

    (void)state;
    conns_init(&c);
    open_conn(g, &c, 0, "127.0.0.1", 1000, &ev);
    iha_conn_guard_trust(g, c.slot[0]);
    open_conn(g, &c, 1, "127.0.0.2", 1001, &ev);
    open_conn(g, &c, 2, "127.0.0.2", 1002, &ev);
    open_conn(g, &c, 3, "127.0.0.2", 100000, &ev);
    assert_int_equal(ev.deadline, 2);
    assert_false(was_closed(&c, 0));
    assert_true(was_closed(&c, 1));
    assert_true(was_closed(&c, 2));
    /* The next request on the kept-alive connection is untrusted again, from now. */
    iha_conn_guard_rearm(g, c.slot[0], 100001);
    assert_int_equal(iha_conn_guard_untrusted(g), 2);
    open_conn(g, &c, 4, "127.0.0.3", 100002, &ev);
    assert_int_equal(ev.limit, 1);
    assert_true(was_closed(&c, 3));
    assert_false(was_closed(&c, 0));
    /* Closed slots are forgotten; an evicted one is never armed again. */
    iha_conn_guard_close(g, c.slot[3]);
    iha_conn_guard_rearm(g, c.slot[1], 100003);
    assert_int_equal(iha_conn_guard_untrusted(g), 2);
    iha_conn_guard_close(g, c.slot[0]);
    assert_int_equal(iha_conn_guard_untrusted(g), 1);
    iha_conn_guard_free(g);
    conns_close(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cap_evicts_oldest),
        cmocka_unit_test(test_per_address_cap),
        cmocka_unit_test(test_deadline),
        cmocka_unit_test(test_trust_and_rearm),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
