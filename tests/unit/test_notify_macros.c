/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file test_notify_macros.c
 * @brief iha-notify's argv/env parsing: real Nagios 4.4.6 invocations (fixtures), Naemon,
 *        Icinga 2 env, Checkmk NOTIFY_*, options and refusals.
 */
#include "macros.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmocka_includes.h"

#define MAX_ARGS 64
#define MAX_ENV 512

/* argv and envp of one invocation, owned. */
struct invocation {
    char *argv[MAX_ARGS];
    int argc;
    char *envp[MAX_ENV];
    size_t n_env;
};

static void inv_clear(struct invocation *inv)
{
    for (int i = 0; i < inv->argc; i++)
        free(inv->argv[i]);
    for (size_t i = 0; i < inv->n_env; i++)
        free(inv->envp[i]);
    memset(inv, 0, sizeof(*inv));
}

static void add_arg(struct invocation *inv, const char *a)
{
    assert_true(inv->argc < MAX_ARGS - 1);
    inv->argv[inv->argc] = strdup(a);
    assert_non_null(inv->argv[inv->argc]);
    inv->argc++;
}

static void add_env(struct invocation *inv, const char *k, const char *v)
{
    size_t n = strlen(k) + strlen(v) + 2;
    char *e = malloc(n);

    assert_non_null(e);
    assert_true(inv->n_env < MAX_ENV - 1);
    snprintf(e, n, "%s=%s", k, v);
    inv->envp[inv->n_env++] = e;
}

/* Loads fixture @p name: its argv (after the program name) and/or its NAGIOS_* env. */
static void load_fixture(struct invocation *inv, const char *name, bool with_argv, bool with_env)
{
    char path[512];
    json_error_t jerr;
    json_t *fx, *v;
    const char *k;
    size_t i;

    snprintf(path, sizeof(path), "%s/nagios/%s.json", IHA_FIXTURES, name);
    fx = json_load_file(path, 0, &jerr);
    assert_non_null(fx);
    memset(inv, 0, sizeof(*inv));
    add_arg(inv, "iha-notify");
    if (with_argv)
        json_array_foreach(json_object_get(fx, "argv"), i, v) add_arg(inv, json_string_value(v));
    if (with_env)
        json_object_foreach(json_object_get(fx, "env"), k, v) add_env(inv, k, json_string_value(v));
    json_decref(fx);
}

static json_t *parse_ok(struct invocation *inv)
{
    struct iha_notify_cmd cmd;
    struct iha_err err = {0};
    enum iha_rc rc = iha_notify_parse(inv->argc, inv->argv, inv->envp, 1795617999, &cmd, &err);

    if (rc != IHA_OK)
        fail_msg("parse failed: %s (%s)", err.msg, err.field);
    assert_int_equal(cmd.mode, IHA_NOTIFY_SEND);
    assert_non_null(cmd.record);
    return cmd.record;
}

#define assert_field(rec, key, want)                                                               \
    do {                                                                                           \
        const char *got_ = json_string_value(json_object_get((rec), (key)));                       \
        if ((want) == NULL)                                                                        \
            assert_null(got_);                                                                     \
        else                                                                                       \
            assert_string_equal(got_ ? got_ : "(absent)", (want));                                 \
    } while (0)

static void assert_hex_id(const json_t *rec)
{
    const char *id = json_string_value(json_object_get(rec, "record_id"));

    assert_non_null(id);
    assert_int_equal(strlen(id), IHA_NOTIFY_RECORD_ID_LEN);
    assert_int_equal(strspn(id, "0123456789abcdef"), IHA_NOTIFY_RECORD_ID_LEN);
}

static void test_nagios_host_problem(void **state)
{
    struct invocation inv;
    json_t *rec;

    (void)state;
    load_fixture(&inv, "01-host-compute-1-problem", true, true);
    rec = parse_ok(&inv);
    assert_field(rec, "hostname", "compute-1");
    assert_field(rec, "host_state", "DOWN");
    assert_field(rec, "state_type", "HARD");
    assert_field(rec, "notification_type", "PROBLEM");
    assert_field(rec, "what", "HOST");
    assert_field(rec, "output", "CRITICAL: CRITICAL - simulated host down");
    assert_field(rec, "host_address", "127.0.0.1");
    assert_field(rec, "attempt", "1");
    assert_field(rec, "problem_id", "1");
    assert_field(rec, "state_change", "1795617731");
    assert_field(rec, "time", "1795617731");
    assert_field(rec, "long_date_time", "Wed Nov 25 14:42:11 UTC 2026");
    assert_field(rec, "contact", "masakari-gw");
    assert_field(rec, "dialect", "nagios");
    assert_field(rec, "_HOSTMASAKARI_SEGMENT", "seg1");
    /* Service macros are present but empty in host notifications: left out. */
    assert_field(rec, "service_desc", NULL);
    assert_field(rec, "service_state", NULL);
    assert_hex_id(rec);
    json_decref(rec);
    inv_clear(&inv);
}

/* Nagios with enable_environment_macros=0 (Debian's default): the positional form only. */
static void test_nagios_argv_only(void **state)
{
    struct invocation inv;
    json_t *rec;

    (void)state;
    load_fixture(&inv, "01-host-compute-1-problem", true, false);
    rec = parse_ok(&inv);
    assert_field(rec, "hostname", "compute-1");
    assert_field(rec, "host_state", "DOWN");
    assert_field(rec, "notification_type", "PROBLEM");
    assert_field(rec, "output", "CRITICAL: CRITICAL - simulated host down");
    assert_field(rec, "state_type", NULL);   /* not on that command line: never invented */
    assert_field(rec, "time", "1795617999"); /* "now" */
    assert_field(rec, "dialect", "nagios");
    json_decref(rec);
    inv_clear(&inv);
}

static void test_record_id_is_stable(void **state)
{
    struct invocation a, b, c;
    json_t *ra, *rb, *rc;

    (void)state;
    load_fixture(&a, "01-host-compute-1-problem", true, true);
    load_fixture(&b, "01-host-compute-1-problem", false, true);
    load_fixture(&c, "03-host-compute-1-recovery", true, true);
    ra = parse_ok(&a);
    rb = parse_ok(&b);
    rc = parse_ok(&c);
    /* Same problem, with or without argv: same id; its RECOVERY: another one. */
    assert_string_equal(json_string_value(json_object_get(ra, "record_id")),
                        json_string_value(json_object_get(rb, "record_id")));
    assert_string_not_equal(json_string_value(json_object_get(ra, "record_id")),
                            json_string_value(json_object_get(rc, "record_id")));
    assert_field(rc, "notification_type", "RECOVERY");
    assert_field(rc, "host_state", "UP");
    assert_field(rc, "problem_id", "0");
    assert_field(rc, "last_problem_id", "1");
    assert_field(rc, "output", "OK - host back");
    json_decref(ra);
    json_decref(rb);
    json_decref(rc);
    inv_clear(&a);
    inv_clear(&b);
    inv_clear(&c);
}

static void test_nagios_service_problem(void **state)
{
    struct invocation inv;
    json_t *rec;

    (void)state;
    load_fixture(&inv, "02-service-compute-2-problem", true, true);
    rec = parse_ok(&inv);
    assert_field(rec, "hostname", "compute-2");
    assert_field(rec, "what", "SERVICE");
    assert_field(rec, "service_desc", "nova-compute");
    assert_field(rec, "service_state", "CRITICAL");
    assert_field(rec, "host_state", "UP");
    assert_field(rec, "state_type", "HARD");
    assert_field(rec, "output", "CRITICAL: CRITICAL - nova-compute process not found");
    assert_field(rec, "problem_id", "2");
    assert_field(rec, "state_change", "1795617731");
    json_decref(rec);
    inv_clear(&inv);
}

static void test_naemon(void **state)
{
    struct invocation inv;
    json_t *rec;

    (void)state;
    load_fixture(&inv, "01-host-compute-1-problem", false, true);
    add_arg(&inv, "--dialect=naemon");
    rec = parse_ok(&inv);
    assert_field(rec, "dialect", "naemon");
    assert_field(rec, "hostname", "compute-1");
    assert_field(rec, "_HOSTMASAKARI_SEGMENT", "seg1");
    json_decref(rec);
    inv_clear(&inv);
}

/* The env our deploy/icinga2 NotificationCommand exports (Icinga 2 vocabulary). */
static void test_icinga2_env(void **state)
{
    struct invocation inv = {0};
    json_t *rec;

    (void)state;
    add_arg(&inv, "iha-notify");
    add_env(&inv, "PATH", "/usr/bin");
    add_env(&inv, "ICINGA2_NOTIFICATIONTYPE", "FLAPPINGEND");
    add_env(&inv, "ICINGA2_HOSTNAME", "compute-3");
    add_env(&inv, "ICINGA2_HOSTADDRESS", "192.0.2.3");
    add_env(&inv, "ICINGA2_HOSTSTATE", "DOWN");
    add_env(&inv, "ICINGA2_HOSTSTATETYPE", "HARD");
    add_env(&inv, "ICINGA2_HOSTOUTPUT", "PING CRITICAL - Packet loss = 100%");
    add_env(&inv, "ICINGA2_LASTHOSTSTATECHANGE", "1795617000");
    add_env(&inv, "ICINGA2_SERVICENAME", "");
    add_env(&inv, "ICINGA2__HOSTMASAKARI_SEGMENT", "seg2");
    rec = parse_ok(&inv);
    assert_field(rec, "dialect", "icinga2");
    assert_field(rec, "hostname", "compute-3");
    assert_field(rec, "notification_type", "FLAPPINGEND"); /* the gateway normalises it */
    assert_field(rec, "host_state", "DOWN");
    assert_field(rec, "state_type", "HARD");
    assert_field(rec, "what", "HOST");
    assert_field(rec, "state_change", "1795617000");
    assert_field(rec, "_HOSTMASAKARI_SEGMENT", "seg2");
    json_decref(rec);
    inv_clear(&inv);

    memset(&inv, 0, sizeof(inv));
    add_arg(&inv, "iha-notify");
    add_env(&inv, "ICINGA2_NOTIFICATIONTYPE", "PROBLEM");
    add_env(&inv, "ICINGA2_HOSTNAME", "compute-4");
    add_env(&inv, "ICINGA2_SERVICENAME", "nova-compute");
    add_env(&inv, "ICINGA2_SERVICESTATE", "CRITICAL");
    add_env(&inv, "ICINGA2_SERVICESTATETYPE", "SOFT");
    add_env(&inv, "ICINGA2_HOSTSTATETYPE", "HARD");
    rec = parse_ok(&inv);
    assert_field(rec, "what", "SERVICE");
    assert_field(rec, "service_desc", "nova-compute");
    assert_field(rec, "state_type", "SOFT"); /* the service's, not the host's */
    json_decref(rec);
    inv_clear(&inv);
}

static void test_checkmk_env(void **state)
{
    struct invocation inv = {0};
    json_t *rec;

    (void)state;
    add_arg(&inv, "iha-notify");
    add_env(&inv, "OMD_SITE", "mysite");
    add_env(&inv, "NOTIFY_WHAT", "SERVICE");
    add_env(&inv, "NOTIFY_NOTIFICATIONTYPE", "PROBLEM");
    add_env(&inv, "NOTIFY_HOSTNAME", "compute-5");
    add_env(&inv, "NOTIFY_HOSTADDRESS", "192.0.2.5");
    add_env(&inv, "NOTIFY_HOSTSTATE", "UP");
    add_env(&inv, "NOTIFY_SERVICEDESC", "nova-compute");
    add_env(&inv, "NOTIFY_SERVICESTATE", "CRIT");
    add_env(&inv, "NOTIFY_SERVICEOUTPUT", "CRIT - 0 processes");
    add_env(&inv, "NOTIFY_SERVICEPROBLEMID", "42");
    add_env(&inv, "NOTIFY_SERVICEATTEMPT", "3");
    add_env(&inv, "NOTIFY_MAXSERVICEATTEMPTS", "3");
    add_env(&inv, "NOTIFY_HOSTATTEMPT", "1");
    add_env(&inv, "NOTIFY_MAXHOSTATTEMPTS", "3");
    add_env(&inv, "NOTIFY_PARAMETER_1", "ignored");
    rec = parse_ok(&inv);
    assert_field(rec, "dialect", "checkmk");
    assert_field(rec, "what", "SERVICE");
    assert_field(rec, "hostname", "compute-5");
    assert_field(rec, "service_desc", "nova-compute");
    assert_field(rec, "service_state", "CRIT");
    assert_field(rec, "problem_id", "42");
    assert_field(rec, "attempt", "3");
    assert_field(rec, "state_type", "HARD"); /* attempts used up */
    assert_field(rec, "output", "CRIT - 0 processes");
    json_decref(rec);
    inv_clear(&inv);

    /* A host notification whose attempts are not used up is SOFT. */
    memset(&inv, 0, sizeof(inv));
    add_arg(&inv, "iha-notify");
    add_env(&inv, "NOTIFY_WHAT", "HOST");
    add_env(&inv, "NOTIFY_NOTIFICATIONTYPE", "PROBLEM");
    add_env(&inv, "NOTIFY_HOSTNAME", "compute-6");
    add_env(&inv, "NOTIFY_HOSTSTATE", "DOWN");
    add_env(&inv, "NOTIFY_HOSTATTEMPT", "1");
    add_env(&inv, "NOTIFY_MAXHOSTATTEMPTS", "3");
    add_env(&inv, "NOTIFY_SERVICEDESC", "stale");
    rec = parse_ok(&inv);
    assert_field(rec, "what", "HOST");
    assert_field(rec, "state_type", "SOFT");
    assert_field(rec, "service_desc", NULL);
    json_decref(rec);
    inv_clear(&inv);
}

/* Env of one Nagios host record for @p compute-7 with the given state, type and attempt;
 * problem id and state-change time stay those of one problem, as Nagios keeps them. */
static json_t *host_record(const char *state, const char *type, const char *attempt)
{
    struct invocation inv = {0};
    json_t *rec;

    add_arg(&inv, "iha-notify");
    add_env(&inv, "NAGIOS_HOSTNAME", "compute-7");
    add_env(&inv, "NAGIOS_NOTIFICATIONTYPE", "PROBLEM");
    add_env(&inv, "NAGIOS_HOSTSTATE", state);
    add_env(&inv, "NAGIOS_HOSTSTATETYPE", type);
    add_env(&inv, "NAGIOS_HOSTATTEMPT", attempt);
    add_env(&inv, "NAGIOS_HOSTPROBLEMID", "17");
    add_env(&inv, "NAGIOS_LASTHOSTSTATECHANGE", "1795617731");
    rec = parse_ok(&inv);
    inv_clear(&inv);
    return rec;
}

/* A SOFT record and the HARD one of the same problem are different events. */
static void test_record_id_covers_state_type_attempt(void **state)
{
    json_t *soft = host_record("DOWN", "SOFT", "1");
    json_t *soft2 = host_record("DOWN", "SOFT", "2");
    json_t *hard = host_record("DOWN", "HARD", "3");
    json_t *unreach = host_record("UNREACHABLE", "HARD", "3");
    json_t *again = host_record("DOWN", "HARD", "3");

    (void)state;
    assert_string_not_equal(json_string_value(json_object_get(soft, "record_id")),
                            json_string_value(json_object_get(hard, "record_id")));
    assert_string_not_equal(json_string_value(json_object_get(soft, "record_id")),
                            json_string_value(json_object_get(soft2, "record_id")));
    assert_string_not_equal(json_string_value(json_object_get(hard, "record_id")),
                            json_string_value(json_object_get(unreach, "record_id")));
    assert_string_equal(json_string_value(json_object_get(hard, "record_id")),
                        json_string_value(json_object_get(again, "record_id")));
    json_decref(soft);
    json_decref(soft2);
    json_decref(hard);
    json_decref(unreach);
    json_decref(again);
}

/* Checkmk's documented host context: no HOSTSTATETYPE, no MAXHOSTATTEMPTS. Its core
 * notifies on hard states, so this is a HARD host DOWN. */
static void test_checkmk_documented_host_context(void **state)
{
    struct invocation inv = {0};
    json_t *rec;

    (void)state;
    add_arg(&inv, "iha-notify");
    add_env(&inv, "OMD_SITE", "mysite");
    add_env(&inv, "NOTIFY_WHAT", "HOST");
    add_env(&inv, "NOTIFY_CONTACTNAME", "masakari");
    add_env(&inv, "NOTIFY_NOTIFICATIONTYPE", "PROBLEM");
    add_env(&inv, "NOTIFY_HOSTNAME", "compute-8");
    add_env(&inv, "NOTIFY_HOSTADDRESS", "192.0.2.8");
    add_env(&inv, "NOTIFY_HOSTSTATE", "DOWN");
    add_env(&inv, "NOTIFY_LASTHOSTSTATE", "UP");
    add_env(&inv, "NOTIFY_HOSTOUTPUT", "CRIT - 192.0.2.8: rta nan, lost 100%");
    add_env(&inv, "NOTIFY_LASTHOSTSTATECHANGE", "1795617731");
    add_env(&inv, "NOTIFY_HOSTPROBLEMID", "211");
    add_env(&inv, "NOTIFY_HOSTNOTIFICATIONNUMBER", "1");
    add_env(&inv, "NOTIFY_MICROTIME", "1795617731123456");
    rec = parse_ok(&inv);
    assert_field(rec, "dialect", "checkmk");
    assert_field(rec, "what", "HOST");
    assert_field(rec, "host_state", "DOWN");
    assert_field(rec, "state_type", "HARD");
    assert_field(rec, "problem_id", "211");
    json_decref(rec);
    inv_clear(&inv);

    /* A state type Checkmk does send still wins. */
    memset(&inv, 0, sizeof(inv));
    add_arg(&inv, "iha-notify");
    add_env(&inv, "NOTIFY_WHAT", "HOST");
    add_env(&inv, "NOTIFY_NOTIFICATIONTYPE", "PROBLEM");
    add_env(&inv, "NOTIFY_HOSTNAME", "compute-8");
    add_env(&inv, "NOTIFY_HOSTSTATE", "DOWN");
    add_env(&inv, "NOTIFY_HOSTSTATETYPE", "SOFT");
    rec = parse_ok(&inv);
    assert_field(rec, "state_type", "SOFT");
    json_decref(rec);
    inv_clear(&inv);
}

/* Appends the argv of fixture @p name (after the program name) to @p inv. */
static void add_fixture_argv(struct invocation *inv, const char *name)
{
    struct invocation fx;

    load_fixture(&fx, name, true, false);
    for (int i = 1; i < fx.argc; i++)
        add_arg(inv, fx.argv[i]);
    inv_clear(&fx);
}

static void test_options_win(void **state)
{
    struct invocation inv;
    struct iha_notify_cmd cmd;
    struct iha_err err = {0};
    json_t *rec;

    (void)state;
    /* Options come before the positional form: they end at its first word. */
    load_fixture(&inv, "01-host-compute-1-problem", false, true);
    add_arg(&inv, "--host-name=compute-9");
    add_arg(&inv, "--state-type");
    add_arg(&inv, "SOFT");
    add_arg(&inv, "--var");
    add_arg(&inv, "_HOSTMASAKARI_SEGMENT=from-var");
    add_arg(&inv, "--var=Rack=r7");
    add_arg(&inv, "--url=http://127.0.0.1:1/api/v1/nagios");
    add_arg(&inv, "--token-file=/etc/t");
    add_arg(&inv, "--spool-dir=/tmp/s");
    add_arg(&inv, "--timeout=2500ms");
    add_fixture_argv(&inv, "01-host-compute-1-problem");
    assert_int_equal(iha_notify_parse(inv.argc, inv.argv, inv.envp, 1, &cmd, &err), IHA_OK);
    rec = cmd.record;
    assert_field(rec, "hostname", "compute-9");
    assert_field(rec, "state_type", "SOFT");
    assert_field(rec, "host_state", "DOWN"); /* positional, over env */
    assert_field(rec, "_HOSTMASAKARI_SEGMENT", "from-var");
    assert_field(rec, "rack", "r7");
    assert_string_equal(cmd.url, "http://127.0.0.1:1/api/v1/nagios");
    assert_string_equal(cmd.token_file, "/etc/t");
    assert_string_equal(cmd.spool_dir, "/tmp/s");
    assert_int_equal(cmd.timeout_ms, 2500);
    iha_notify_cmd_clear(&cmd);
    inv_clear(&inv);
}

/* Parses @p argv (NULL-terminated) with an empty environment; expects success. */
static void parse_argv(char *argv[], struct iha_notify_cmd *cmd)
{
    char *envp[] = {NULL};
    struct iha_err err = {0};
    int argc = 0;
    enum iha_rc rc;

    while (argv[argc])
        argc++;
    rc = iha_notify_parse(argc, argv, envp, 1, cmd, &err);
    if (rc != IHA_OK)
        fail_msg("parse failed: %s (%s)", err.msg, err.field);
}

/*
 * OUTPUT is plugin output, which the monitored host controls: in the positional form it
 * must stay data, never become an option that redirects the token or the spool.
 */
static void test_positional_output_is_not_an_option(void **state)
{
    char *url[] = {"iha-notify",
                   "--url=http://gw.example/api/v1/nagios",
                   "host",
                   "compute-9",
                   "DOWN",
                   "PROBLEM",
                   "--url=http://elsewhere/x",
                   NULL};
    char *token[] = {
        "iha-notify", "--token-file=/etc/iha-notify.token", "host", "compute-9", "DOWN",
        "PROBLEM",    "--token-file=/etc/shadow",           NULL};
    char *spool[] = {"iha-notify",
                     "service",
                     "compute-9",
                     "nova-compute",
                     "CRITICAL",
                     "PROBLEM",
                     "--spool-dir=/tmp/evil",
                     "--flush",
                     NULL};
    char *dash[] = {"iha-notify", "host", "compute-9", "DOWN", "PROBLEM", "--", "--help", NULL};
    char *split[] = {"iha-notify", "host",  "compute-9",          "DOWN",
                     "PROBLEM",    "--url", "http://elsewhere/x", NULL};
    char *opts_form[] = {"iha-notify",
                         "--host-name",
                         "compute-9",
                         "--notification-type",
                         "PROBLEM",
                         "--output",
                         "--url=http://elsewhere/x",
                         NULL};
    char *ended[] = {"iha-notify", "--timeout=5", "--",        "host", "compute-9",
                     "DOWN",       "PROBLEM",     "--var=x=y", NULL};
    struct iha_notify_cmd cmd;

    (void)state;
    parse_argv(url, &cmd);
    assert_string_equal(cmd.url, "http://gw.example/api/v1/nagios");
    assert_field(cmd.record, "output", "--url=http://elsewhere/x");
    iha_notify_cmd_clear(&cmd);

    parse_argv(token, &cmd);
    assert_string_equal(cmd.token_file, "/etc/iha-notify.token");
    assert_field(cmd.record, "output", "--token-file=/etc/shadow");
    iha_notify_cmd_clear(&cmd);

    /* The service form, with something option-like in the DATETIME slot too. */
    parse_argv(spool, &cmd);
    assert_int_equal(cmd.mode, IHA_NOTIFY_SEND);
    assert_string_equal(cmd.spool_dir, IHA_NOTIFY_DEFAULT_SPOOL);
    assert_field(cmd.record, "service_desc", "nova-compute");
    assert_field(cmd.record, "output", "--spool-dir=/tmp/evil");
    assert_field(cmd.record, "long_date_time", "--flush");
    iha_notify_cmd_clear(&cmd);

    /* After the first positional word, "--" is data as well. */
    parse_argv(dash, &cmd);
    assert_int_equal(cmd.mode, IHA_NOTIFY_SEND);
    assert_field(cmd.record, "output", "--");
    assert_field(cmd.record, "long_date_time", "--help");
    iha_notify_cmd_clear(&cmd);

    parse_argv(split, &cmd);
    assert_string_equal(cmd.url, IHA_NOTIFY_DEFAULT_URL);
    assert_field(cmd.record, "output", "--url");
    assert_field(cmd.record, "long_date_time", "http://elsewhere/x");
    iha_notify_cmd_clear(&cmd);

    /* The options form: a value taken as the next word stays that option's value. */
    parse_argv(opts_form, &cmd);
    assert_string_equal(cmd.url, IHA_NOTIFY_DEFAULT_URL);
    assert_field(cmd.record, "output", "--url=http://elsewhere/x");
    iha_notify_cmd_clear(&cmd);

    /* "--" before the positional form ends the options too. */
    parse_argv(ended, &cmd);
    assert_int_equal(cmd.timeout_ms, 5000);
    assert_field(cmd.record, "output", "--var=x=y");
    assert_null(json_object_get(cmd.record, "x"));
    iha_notify_cmd_clear(&cmd);
}

/* Options after the positional form are refused as surplus arguments, never applied. */
static void test_trailing_options_refused(void **state)
{
    char *none[] = {NULL};
    char *late[] = {"iha-notify", "host",   "compute-9", "DOWN",
                    "PROBLEM",    "output", "today",     "--url=http://elsewhere/x",
                    NULL};
    struct iha_notify_cmd cmd;
    struct iha_err err = {0};

    (void)state;
    assert_int_equal(iha_notify_parse(8, late, none, 1, &cmd, &err), IHA_E_INVAL);
    assert_null(cmd.record);
    assert_non_null(strstr(err.msg, "'host' takes 4 or 5 arguments, got 6"));
    assert_non_null(strstr(err.msg, "options go before 'host'"));
}

static void test_defaults_and_flush(void **state)
{
    char *argv[] = {"iha-notify", "--flush", "--timeout", "30", NULL};
    char *envp[] = {NULL};
    struct iha_notify_cmd cmd;
    struct iha_err err = {0};

    (void)state;
    assert_int_equal(iha_notify_parse(4, argv, envp, 1, &cmd, &err), IHA_OK);
    assert_int_equal(cmd.mode, IHA_NOTIFY_FLUSH);
    assert_null(cmd.record);
    assert_int_equal(cmd.timeout_ms, 30000);
    assert_string_equal(cmd.url, IHA_NOTIFY_DEFAULT_URL);
    assert_string_equal(cmd.spool_dir, "/var/spool/iha-notify");
    assert_null(cmd.token_file);
    iha_notify_cmd_clear(&cmd);
}

/* No problem id and no state change: the event time keeps two events apart. */
static void test_record_id_without_problem_id(void **state)
{
    char *a1[] = {"iha-notify", "host", "c1", "DOWN", "PROBLEM", "out", NULL};
    char *envp[] = {NULL};
    struct iha_notify_cmd x, y, z;
    struct iha_err err = {0};

    (void)state;
    assert_int_equal(iha_notify_parse(6, a1, envp, 100, &x, &err), IHA_OK);
    assert_int_equal(iha_notify_parse(6, a1, envp, 100, &y, &err), IHA_OK);
    assert_int_equal(iha_notify_parse(6, a1, envp, 101, &z, &err), IHA_OK);
    assert_string_equal(json_string_value(json_object_get(x.record, "record_id")),
                        json_string_value(json_object_get(y.record, "record_id")));
    assert_string_not_equal(json_string_value(json_object_get(x.record, "record_id")),
                            json_string_value(json_object_get(z.record, "record_id")));
    iha_notify_cmd_clear(&x);
    iha_notify_cmd_clear(&y);
    iha_notify_cmd_clear(&z);
}

static void expect_bad(int argc, char *argv[], char *envp[], const char *field)
{
    struct iha_notify_cmd cmd;
    struct iha_err err = {0};

    assert_int_equal(iha_notify_parse(argc, argv, envp, 1, &cmd, &err), IHA_E_INVAL);
    assert_null(cmd.record);
    assert_string_equal(err.field, field);
    assert_true(err.msg[0] != '\0');
}

static void test_refusals(void **state)
{
    char *none[] = {NULL};
    char *no_host[] = {"iha-notify", "--notification-type=PROBLEM", NULL};
    char *no_type[] = {"iha-notify", "--host-name=c1", NULL};
    char *unknown[] = {"iha-notify", "--hostname=c1", NULL};
    char *bad_timeout[] = {"iha-notify", "--timeout=0", "--host-name=c", NULL};
    char *bad_timeout2[] = {"iha-notify", "--timeout=10m", NULL};
    char *no_value[] = {"iha-notify", "--url", NULL};
    char *bad_var[] = {"iha-notify", "--var", "no-equals", NULL};
    char *bad_var2[] = {"iha-notify", "--var", "a-b=1", NULL};
    char *bad_dialect[] = {"iha-notify", "--dialect=zabbix", "--host-name=c", NULL};
    char *bad_pos[] = {"iha-notify", "hots", "c1", "DOWN", "PROBLEM", "x", NULL};
    char *short_pos[] = {"iha-notify", "service", "c1", "DOWN", NULL};
    char *empty_env[] = {"NAGIOS_HOSTNAME=", "NAGIOS_NOTIFICATIONTYPE=PROBLEM", NULL};
    char *prog[] = {"iha-notify", NULL};

    (void)state;
    expect_bad(2, no_host, none, "hostname");
    expect_bad(2, no_type, none, "notification_type");
    expect_bad(2, unknown, none, "--hostname=c1");
    expect_bad(3, bad_timeout, none, "--timeout");
    expect_bad(2, bad_timeout2, none, "--timeout");
    expect_bad(2, no_value, none, "--url");
    expect_bad(3, bad_var, none, "--var");
    expect_bad(3, bad_var2, none, "--var");
    expect_bad(3, bad_dialect, none, "--dialect");
    expect_bad(6, bad_pos, none, "");
    expect_bad(4, short_pos, none, "");
    expect_bad(1, prog, empty_env, "hostname");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_nagios_host_problem),
        cmocka_unit_test(test_nagios_argv_only),
        cmocka_unit_test(test_record_id_is_stable),
        cmocka_unit_test(test_nagios_service_problem),
        cmocka_unit_test(test_naemon),
        cmocka_unit_test(test_icinga2_env),
        cmocka_unit_test(test_checkmk_env),
        cmocka_unit_test(test_record_id_covers_state_type_attempt),
        cmocka_unit_test(test_checkmk_documented_host_context),
        cmocka_unit_test(test_options_win),
        cmocka_unit_test(test_positional_output_is_not_an_option),
        cmocka_unit_test(test_trailing_options_refused),
        cmocka_unit_test(test_defaults_and_flush),
        cmocka_unit_test(test_record_id_without_problem_id),
        cmocka_unit_test(test_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
