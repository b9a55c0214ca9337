/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file test_policy.c
 * @brief The safety policy's decisions on a simulated clock: a single failure goes after
 *        its settle time, a resolve cancels, storms and failed domains are held and
 *        released by the operator, flapping hosts wait, the rate limit spaces releases,
 *        the dead man's switch holds, and restored holds stay held.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "policy.h"

#define MAX_ACTS 256
#define S 1000ull

struct act {
    uint64_t seq;
    enum iha_policy_action action;
    enum iha_hold_reason reason;
};

struct rec {
    struct act acts[MAX_ACTS];
    size_t n;
};

static void on_act(void *cls, uint64_t seq, enum iha_policy_action action,
                   enum iha_hold_reason reason)
{
    struct rec *r = cls;

    assert_true(r->n < MAX_ACTS);
    r->acts[r->n++] = (struct act){seq, action, reason};
}

static size_t count(const struct rec *r, enum iha_policy_action a)
{
    size_t n = 0;

    for (size_t i = 0; i < r->n; i++)
        n += r->acts[i].action == a;
    return n;
}

/* Defaults of the tests: window 5 min, at most 5 hosts, settle 10 s, no rate limit. */
static struct iha_policy_config base_cfg(void)
{
    return (struct iha_policy_config){
        .window_ms = 300 * S,
        .max_hosts = 5,
        .domain_percent = 55,
        .domain_min_hosts = 3,
        .settle_ms = 10 * S,
        .flap_count = 3,
        .flap_window_ms = 600 * S,
        .flap_settle_ms = 120 * S,
    };
}

static struct iha_policy *policy(const struct iha_policy_config *cfg, struct rec *r)
{
    struct iha_policy *p = NULL;

    memset(r, 0, sizeof(*r));
    assert_int_equal(iha_policy_new(cfg, on_act, r, 0, &p), IHA_OK);
    return p;
}

static void admit(struct iha_policy *p, uint64_t now, uint64_t seq, const char *host,
                  const char *domain, unsigned size)
{
    struct iha_policy_domain d = {domain, size};

    assert_int_equal(iha_policy_admit(p, now, seq, host, &d, now), IHA_OK);
}

static void test_single_failure_goes_after_settle(void **state)
{
    struct iha_policy_config cfg = base_cfg();
    struct rec r;
    struct iha_policy *p = policy(&cfg, &r);
    enum iha_policy_state st;
    enum iha_hold_reason why;

    (void)state;
    admit(p, 1 * S, 1, "compute-01", "seg-a", 10);
    assert_int_equal(iha_policy_tick(p, 1 * S), 11 * S);
    assert_int_equal(r.n, 0);
    assert_int_equal(iha_policy_state_of(p, 1, &st, &why), IHA_OK);
    assert_int_equal(st, IHA_POLICY_SETTLING);
    iha_policy_tick(p, 11 * S - 1);
    assert_int_equal(r.n, 0);
    iha_policy_tick(p, 11 * S);
    assert_int_equal(r.n, 1);
    assert_int_equal(r.acts[0].seq, 1);
    assert_int_equal(r.acts[0].action, IHA_POLICY_RELEASE);
    assert_int_equal(iha_policy_state_of(p, 1, &st, &why), IHA_E_NOTFOUND);
    assert_int_equal(iha_policy_stats(p, 11 * S).hosts_in_window, 1);
    iha_policy_free(p);
}

static void test_resolve_in_settle_cancels(void **state)
{
    struct iha_policy_config cfg = base_cfg();
    struct rec r;
    struct iha_policy *p = policy(&cfg, &r);

    (void)state;
    admit(p, 0, 1, "compute-01", "seg-a", 10);
    assert_int_equal(iha_policy_resolve(p, 4 * S, "compute-01"), 1);
    assert_int_equal(r.n, 1);
    assert_int_equal(r.acts[0].action, IHA_POLICY_CANCEL);
    assert_int_equal(iha_policy_tick(p, 20 * S), UINT64_MAX);
    assert_int_equal(count(&r, IHA_POLICY_RELEASE), 0);
    /* A flapped host is not a failed host. */
    assert_int_equal(iha_policy_stats(p, 20 * S).hosts_in_window, 0);
    assert_int_equal(iha_policy_resolve(p, 21 * S, "compute-02"), 0);
    iha_policy_free(p);
}

/* Twelve hosts at once: the storm is seen whole within the settle time, nothing goes. */
static void test_storm_at_once_holds_all(void **state)
{
    struct iha_policy_config cfg = base_cfg();
    struct rec r;
    struct iha_policy *p = policy(&cfg, &r);
    char host[32], why[512];

    (void)state;
    cfg.domain_percent = 0;
    iha_policy_free(p);
    p = policy(&cfg, &r);
    for (int i = 1; i <= 12; i++) {
        snprintf(host, sizeof(host), "compute-%02d", i);
        admit(p, (uint64_t)i * 100, (uint64_t)i, host, "seg-a", 20);
        iha_policy_tick(p, (uint64_t)i * 100);
    }
    iha_policy_tick(p, 60 * S);
    assert_int_equal(count(&r, IHA_POLICY_RELEASE), 0);
    assert_int_equal(count(&r, IHA_POLICY_HOLD), 12);
    assert_int_equal(r.acts[0].reason, IHA_HOLD_STORM);
    assert_true(iha_policy_stats(p, 60 * S).tripped);
    assert_int_equal(iha_policy_stats(p, 60 * S).held_by[IHA_HOLD_STORM], 12);
    iha_policy_explain(p, 60 * S, why, sizeof(why));
    assert_string_equal(why, "tripped: 12 hosts failed within 5m (more than 5)");
    /* The operator releases them all, each once, in the order they failed. */
    r.n = 0;
    assert_int_equal(iha_policy_release_all(p, 61 * S), 12);
    assert_int_equal(r.n, 12);
    for (size_t i = 0; i < 12; i++) {
        assert_int_equal(r.acts[i].seq, i + 1);
        assert_int_equal(r.acts[i].action, IHA_POLICY_RELEASE);
    }
    assert_int_equal(iha_policy_release_all(p, 62 * S), 0);
    iha_policy_free(p);
}

/*
 * Failures one every 5 s with a 10 s settle time: hosts 1-3 went at 10, 15 and 20 s; the
 * sixth, at 25 s, trips the guard while hosts 4 and 5 still settle, so they are held too.
 */
static void test_storm_spread_lets_at_most_k_go(void **state)
{
    struct iha_policy_config cfg = base_cfg();
    struct rec r;
    struct iha_policy *p;
    char host[32];

    (void)state;
    cfg.domain_percent = 0;
    p = policy(&cfg, &r);
    for (uint64_t t = 0; t <= 120 * S; t += S) {
        if (t % (5 * S) == 0 && t / (5 * S) < 12) {
            snprintf(host, sizeof(host), "compute-%02llu", (unsigned long long)(t / (5 * S)));
            admit(p, t, t / (5 * S) + 1, host, NULL, 0);
        }
        iha_policy_tick(p, t);
    }
    assert_int_equal(count(&r, IHA_POLICY_RELEASE), 3);
    assert_int_equal(count(&r, IHA_POLICY_HOLD) + count(&r, IHA_POLICY_RELEASE), 12);
    assert_true(count(&r, IHA_POLICY_RELEASE) <= cfg.max_hosts);
    iha_policy_free(p);
}

/* 6 of 10 hosts of one segment trip the guard although the count bound is far. */
static void test_domain_share_trips(void **state)
{
    struct iha_policy_config cfg = base_cfg();
    struct rec r;
    struct iha_policy *p;
    char host[32], why[512];

    (void)state;
    cfg.max_hosts = 100;
    p = policy(&cfg, &r);
    for (int i = 0; i < 5; i++) {
        snprintf(host, sizeof(host), "b-%d", i);
        admit(p, 0, (uint64_t)i + 1, host, "seg-b", 10);
    }
    iha_policy_tick(p, 0);
    assert_false(iha_policy_stats(p, 0).tripped); /* 5 of 10 is 50 %, not more than 55 % */
    for (int i = 0; i < 6; i++) {
        snprintf(host, sizeof(host), "a-%d", i);
        admit(p, S, (uint64_t)i + 10, host, "seg-a", 10);
    }
    iha_policy_tick(p, S);
    assert_true(iha_policy_stats(p, S).tripped);
    iha_policy_explain(p, S, why, sizeof(why));
    assert_string_equal(why, "tripped: 6 of the 10 hosts of seg-a failed within 5m (more than "
                             "55%; 11 hosts in all)");
    iha_policy_tick(p, 30 * S);
    assert_int_equal(count(&r, IHA_POLICY_RELEASE), 0);
    assert_int_equal(count(&r, IHA_POLICY_HOLD), 11);
    iha_policy_free(p);
}

/* Three fire-and-resolve cycles: nothing goes, the host flaps; then it stays down. */
static void test_flapping_host_waits_until_it_stays_down(void **state)
{
    struct iha_policy_config cfg = base_cfg();
    struct rec r;
    struct iha_policy *p = policy(&cfg, &r);
    enum iha_policy_state st;
    enum iha_hold_reason why;
    uint64_t t = 0;

    (void)state;
    for (uint64_t seq = 1; seq <= 3; seq++) {
        admit(p, t, seq, "compute-07", "seg-a", 10);
        iha_policy_tick(p, t);
        t += 3 * S;
        assert_int_equal(iha_policy_resolve(p, t, "compute-07"), 1);
        t += 3 * S;
    }
    assert_int_equal(count(&r, IHA_POLICY_CANCEL), 3);
    assert_int_equal(count(&r, IHA_POLICY_RELEASE), 0);
    assert_int_equal(iha_policy_stats(p, t).flapping, 1);
    admit(p, t, 4, "compute-07", "seg-a", 10);
    assert_int_equal(iha_policy_state_of(p, 4, &st, &why), IHA_OK);
    assert_int_equal(st, IHA_POLICY_HELD);
    assert_int_equal(why, IHA_HOLD_FLAPPING);
    /* Past the ordinary settle time it is still held. */
    assert_int_equal(iha_policy_tick(p, t + 60 * S), t + 120 * S);
    assert_int_equal(count(&r, IHA_POLICY_RELEASE), 0);
    iha_policy_tick(p, t + 120 * S);
    assert_int_equal(count(&r, IHA_POLICY_RELEASE), 1);
    assert_int_equal(r.acts[r.n - 1].seq, 4);
    iha_policy_free(p);
}

/* Burst 2, one token per 10 s: five failures go at settle, +0, +10 s, +20 s, +30 s. */
static void test_rate_limit_spaces_releases_in_order(void **state)
{
    struct iha_policy_config cfg = base_cfg();
    struct rec r;
    struct iha_policy *p;
    uint64_t at[5] = {0}, next;
    char host[32];
    size_t got = 0;

    (void)state;
    cfg.max_hosts = 10;
    cfg.rate_burst = 2;
    cfg.rate_per_s = 0.1;
    p = policy(&cfg, &r);
    for (int i = 0; i < 5; i++) {
        snprintf(host, sizeof(host), "compute-%d", i);
        admit(p, 0, (uint64_t)i + 1, host, NULL, 0);
    }
    next = iha_policy_tick(p, 0);
    for (int steps = 0; steps < 20 && got < 5; steps++) {
        uint64_t now = next;

        next = iha_policy_tick(p, now);
        while (got < count(&r, IHA_POLICY_RELEASE))
            at[got++] = now;
    }
    assert_int_equal(got, 5);
    for (size_t i = 0; i < 5; i++)
        assert_int_equal(r.acts[i].seq, i + 1);
    assert_int_equal(at[0], 10 * S);
    assert_int_equal(at[1], 10 * S);
    assert_in_range(at[2], 20 * S, 20 * S + 2);
    assert_in_range(at[3], 30 * S, 30 * S + 3);
    assert_in_range(at[4], 40 * S, 40 * S + 4);
    iha_policy_free(p);
}

static void test_deadman_holds_until_heartbeat_and_auto_release(void **state)
{
    struct iha_policy_config cfg = base_cfg();
    struct rec r;
    struct iha_policy *p;
    enum iha_policy_state st;
    enum iha_hold_reason why;

    (void)state;
    cfg.deadman_after_ms = 60 * S;
    cfg.auto_release_ms = 30 * S;
    p = policy(&cfg, &r);
    iha_policy_heartbeat(p, 10 * S);
    assert_int_equal(iha_policy_tick(p, 10 * S), 70 * S);
    iha_policy_tick(p, 70 * S);
    assert_true(iha_policy_stats(p, 70 * S).suspect);
    admit(p, 80 * S, 1, "compute-01", "seg-a", 10);
    iha_policy_tick(p, 80 * S);
    assert_int_equal(iha_policy_state_of(p, 1, &st, &why), IHA_OK);
    assert_int_equal(st, IHA_POLICY_HELD);
    assert_int_equal(why, IHA_HOLD_DEADMAN);
    iha_policy_tick(p, 200 * S);
    assert_int_equal(count(&r, IHA_POLICY_RELEASE), 0);
    iha_policy_heartbeat(p, 300 * S);
    assert_int_equal(iha_policy_tick(p, 300 * S), 330 * S);
    assert_false(iha_policy_stats(p, 300 * S).suspect);
    assert_int_equal(count(&r, IHA_POLICY_RELEASE), 0);
    iha_policy_heartbeat(p, 329 * S);
    iha_policy_tick(p, 330 * S);
    assert_int_equal(count(&r, IHA_POLICY_RELEASE), 1);
    iha_policy_free(p);
}

/* Without auto release a storm's holds outlive the storm; with it they go once it cleared. */
static void test_storm_clears_after_window(void **state)
{
    struct iha_policy_config cfg = base_cfg();
    struct rec r;
    struct iha_policy *p;
    char host[32];

    (void)state;
    cfg.max_hosts = 2;
    cfg.domain_percent = 0;
    for (int autorel = 0; autorel < 2; autorel++) {
        cfg.auto_release_ms = autorel ? 60 * S : 0;
        p = policy(&cfg, &r);
        for (int i = 0; i < 3; i++) {
            snprintf(host, sizeof(host), "compute-%d", i);
            admit(p, 0, (uint64_t)i + 1, host, NULL, 0);
        }
        assert_int_equal(iha_policy_tick(p, 0), 300 * S); /* the window ends */
        iha_policy_tick(p, 300 * S);
        assert_false(iha_policy_stats(p, 300 * S).tripped);
        assert_int_equal(iha_policy_stats(p, 300 * S).held, 3);
        iha_policy_tick(p, 360 * S);
        assert_int_equal(count(&r, IHA_POLICY_RELEASE), autorel ? 3 : 0);
        iha_policy_free(p);
    }
}

static void test_restored_hold_stays_held(void **state)
{
    struct iha_policy_config cfg = base_cfg();
    struct rec r;
    struct iha_policy *p = policy(&cfg, &r);
    struct iha_policy_domain d = {"seg-a", 10};
    enum iha_policy_state st;
    enum iha_hold_reason why;
    json_t *js;

    (void)state;
    assert_int_equal(
        iha_policy_restore_held(p, 1000 * S, 7, "compute-03", &d, 900 * S, IHA_HOLD_STORM), IHA_OK);
    assert_int_equal(
        iha_policy_restore_held(p, 1000 * S, 7, "compute-03", &d, 900 * S, IHA_HOLD_STORM),
        IHA_E_INVAL);
    iha_policy_tick(p, 5000 * S);
    assert_int_equal(r.n, 0);
    assert_int_equal(iha_policy_state_of(p, 7, &st, &why), IHA_OK);
    assert_int_equal(st, IHA_POLICY_HELD);
    assert_int_equal(why, IHA_HOLD_STORM);
    js = iha_policy_status(p, 5000 * S);
    assert_non_null(js);
    assert_string_equal(json_string_value(json_object_get(json_object_get(js, "guard"), "state")),
                        "clear");
    assert_int_equal(json_array_size(json_object_get(js, "notifications")), 1);
    assert_string_equal(json_string_value(json_object_get(
                            json_array_get(json_object_get(js, "notifications"), 0), "reason")),
                        "storm");
    json_decref(js);
    assert_int_equal(iha_policy_release(p, 5000 * S, 8), IHA_E_NOTFOUND);
    assert_int_equal(iha_policy_release(p, 5000 * S, 7), IHA_OK);
    assert_int_equal(count(&r, IHA_POLICY_RELEASE), 1);
    iha_policy_forget(p, 7);
    iha_policy_free(p);
}

/* Auto release re-checks every cause: a storm hold does not go while the heartbeat is missing. */
static void test_auto_release_rechecks_the_other_cause(void **state)
{
    struct iha_policy_config cfg = base_cfg();
    struct rec r;
    struct iha_policy *p;
    char host[32];

    (void)state;
    cfg.max_hosts = 2;
    cfg.domain_percent = 0;
    cfg.auto_release_ms = 10 * S;
    cfg.deadman_after_ms = 60 * S;
    p = policy(&cfg, &r);
    for (int i = 0; i < 3; i++) {
        snprintf(host, sizeof(host), "compute-%d", i);
        admit(p, 0, (uint64_t)i + 1, host, NULL, 0);
    }
    iha_policy_tick(p, 0);
    assert_int_equal(iha_policy_stats(p, 0).held_by[IHA_HOLD_STORM], 3);
    /* The heartbeat goes missing at 60 s; the storm window ends at 300 s. */
    for (uint64_t t = S; t <= 400 * S; t += S)
        iha_policy_tick(p, t);
    assert_true(iha_policy_stats(p, 400 * S).suspect);
    assert_false(iha_policy_stats(p, 400 * S).tripped);
    assert_int_equal(count(&r, IHA_POLICY_RELEASE), 0);
    iha_policy_free(p);
}

/* A deadman hold restored after a restart waits for a heartbeat before auto release. */
static void test_restored_deadman_hold_waits_for_a_heartbeat(void **state)
{
    struct iha_policy_config cfg = base_cfg();
    struct rec r;
    struct iha_policy *p;
    struct iha_policy_domain d = {"seg-a", 10};

    (void)state;
    cfg.auto_release_ms = 10 * S;
    cfg.deadman_after_ms = 60 * S;
    memset(&r, 0, sizeof(r));
    /* The gateway restarts at 5000 s: no heartbeat seen yet, none missing for long. */
    assert_int_equal(iha_policy_new(&cfg, on_act, &r, 5000 * S, &p), IHA_OK);
    assert_int_equal(
        iha_policy_restore_held(p, 5000 * S, 1, "compute-1", &d, 4990 * S, IHA_HOLD_DEADMAN),
        IHA_OK);
    for (uint64_t t = 5000 * S; t <= 5050 * S; t += S)
        iha_policy_tick(p, t);
    assert_int_equal(count(&r, IHA_POLICY_RELEASE), 0);
    iha_policy_heartbeat(p, 5051 * S);
    iha_policy_tick(p, 5051 * S);
    assert_int_equal(count(&r, IHA_POLICY_RELEASE), 0);
    iha_policy_heartbeat(p, 5060 * S);
    iha_policy_tick(p, 5061 * S);
    assert_int_equal(count(&r, IHA_POLICY_RELEASE), 1);
    iha_policy_free(p);
}

/*
 * The guard clearing while a new failure is admitted (before the tick) still starts the
 * auto-release clock at the clearing, not at a stale time.
 */
static void test_clear_seen_at_admission_starts_the_clock(void **state)
{
    struct iha_policy_config cfg = base_cfg();
    struct rec r;
    struct iha_policy *p;
    char host[32];

    (void)state;
    cfg.max_hosts = 2;
    cfg.domain_percent = 0;
    cfg.auto_release_ms = 60 * S;
    p = policy(&cfg, &r);
    for (int i = 0; i < 3; i++) {
        snprintf(host, sizeof(host), "compute-%d", i);
        admit(p, 0, (uint64_t)i + 1, host, NULL, 0);
    }
    iha_policy_tick(p, 0);
    /* The window ends at 300 s; a new failure is admitted then, before any tick. */
    admit(p, 300 * S, 4, "compute-9", NULL, 0);
    iha_policy_tick(p, 300 * S);
    iha_policy_tick(p, 310 * S + 1);
    assert_int_equal(count(&r, IHA_POLICY_RELEASE), 1); /* compute-9 after its settle */
    iha_policy_tick(p, 359 * S);
    assert_int_equal(count(&r, IHA_POLICY_RELEASE), 1); /* the storm's holds: not yet */
    iha_policy_tick(p, 361 * S);
    assert_int_equal(count(&r, IHA_POLICY_RELEASE), 4);
    iha_policy_free(p);
}

/*
 * A resolve that arrives before its failure is admitted (the failure was still being
 * stored) cancels it at admission; an older resolve does not cancel a newer failure.
 */
static void test_resolve_before_admission_cancels(void **state)
{
    struct iha_policy_config cfg = base_cfg();
    struct rec r;
    struct iha_policy *p = policy(&cfg, &r);
    struct iha_policy_domain d = {"seg-a", 10};

    (void)state;
    assert_int_equal(iha_policy_resolve(p, 5 * S, "compute-1"), 0);
    assert_int_equal(iha_policy_admit(p, 6 * S, 1, "compute-1", &d, 4 * S), IHA_OK);
    assert_int_equal(r.n, 1);
    assert_int_equal(r.acts[0].action, IHA_POLICY_CANCEL);
    assert_int_equal(iha_policy_stats(p, 6 * S).hosts_in_window, 0);
    assert_int_equal(iha_policy_admit(p, 20 * S, 2, "compute-1", &d, 20 * S), IHA_OK);
    iha_policy_tick(p, 30 * S);
    assert_int_equal(count(&r, IHA_POLICY_RELEASE), 1);
    iha_policy_free(p);
}

/* A flapping host's wait is never shorter than an ordinary failure's settle time. */
static void test_flapping_wait_at_least_settle(void **state)
{
    struct iha_policy_config cfg = base_cfg();
    struct rec r;
    struct iha_policy *p;
    uint64_t t = 0;

    (void)state;
    cfg.flap_settle_ms = S;
    p = policy(&cfg, &r);
    /* Each failure a little after the resolve before it (one at the same instant is cancelled). */
    for (uint64_t seq = 1; seq <= 3; seq++) {
        admit(p, t, seq, "compute-7", NULL, 0);
        t += S;
        assert_int_equal(iha_policy_resolve(p, t, "compute-7"), 1);
        t += 1;
    }
    admit(p, t, 4, "compute-7", NULL, 0);
    iha_policy_tick(p, t + 5 * S);
    assert_int_equal(count(&r, IHA_POLICY_RELEASE), 0);
    iha_policy_tick(p, t + 10 * S);
    assert_int_equal(count(&r, IHA_POLICY_RELEASE), 1);
    iha_policy_free(p);
}

static void test_bad_admissions_are_refused(void **state)
{
    struct iha_policy_config cfg = base_cfg();
    struct rec r;
    struct iha_policy *p = policy(&cfg, &r);

    (void)state;
    assert_int_equal(iha_policy_admit(p, 0, 1, "", NULL, 0), IHA_E_INVAL);
    assert_int_equal(iha_policy_admit(p, 0, 1, "h", NULL, 0), IHA_OK);
    assert_int_equal(iha_policy_admit(p, 0, 1, "h", NULL, 0), IHA_E_INVAL);
    iha_policy_forget(p, 1);
    iha_policy_forget(p, 99);
    assert_int_equal(iha_policy_tick(p, 0), UINT64_MAX);
    iha_policy_free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_single_failure_goes_after_settle),
        cmocka_unit_test(test_resolve_in_settle_cancels),
        cmocka_unit_test(test_storm_at_once_holds_all),
        cmocka_unit_test(test_storm_spread_lets_at_most_k_go),
        cmocka_unit_test(test_domain_share_trips),
        cmocka_unit_test(test_flapping_host_waits_until_it_stays_down),
        cmocka_unit_test(test_rate_limit_spaces_releases_in_order),
        cmocka_unit_test(test_deadman_holds_until_heartbeat_and_auto_release),
        cmocka_unit_test(test_storm_clears_after_window),
        cmocka_unit_test(test_restored_hold_stays_held),
        cmocka_unit_test(test_bad_admissions_are_refused),
        cmocka_unit_test(test_auto_release_rechecks_the_other_cause),
        cmocka_unit_test(test_restored_deadman_hold_waits_for_a_heartbeat),
        cmocka_unit_test(test_clear_seen_at_admission_starts_the_clock),
        cmocka_unit_test(test_resolve_before_admission_cancels),
        cmocka_unit_test(test_flapping_wait_at_least_settle),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
