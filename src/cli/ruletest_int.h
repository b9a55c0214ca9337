/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file ruletest_int.h
 * @brief Private to test-rules: a parsed test and what the rules produced for it, shared
 *        by ruletest.c (reading test files, running the rules) and ruletest_judge.c
 *        (comparing with the expectations and printing what differs).
 */
#ifndef IHA_RULETEST_INT_H
#define IHA_RULETEST_INT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "alert.h"
#include "diag.h"
#include "notification.h"
#include "yaml_tree.h"

/* State of one test file. */
struct tfile {
    const char *path;
    struct iha_diag *diag;
    FILE *out;
    size_t errors; /* problems in the test file (or its rule files) */
    bool nomem;
};

/* An expected notification; strings are borrowed from the YAML tree. */
struct enotif {
    enum iha_ntype type;
    const char *hostname;
    json_t *payload;  /* owned */
    const char *rule; /* NULL: any */
};

/* What the rules produced, in input order. */
struct gotn {
    enum iha_ntype type;
    char hostname[IHA_HOSTNAME_MAX + 1];
    json_t *payload; /* owned */
    char rule[128];
    size_t alert;
};

struct gotd {
    char rule[128];
    char reason[384];
    char resolved_host[IHA_HOSTNAME_MAX + 1]; /* the host a resolve brings back, or "" */
    size_t alert;
};

struct got {
    struct gotn *n;
    size_t nn;
    struct gotd *d;
    size_t nd;
};

/* One parsed test. */
struct test {
    const char *name;
    const struct iha_ynode *node;
    struct iha_alert *alerts; /* one array per input, flattened */
    size_t n_alerts;
    bool have_exp, have_drop;
    struct enotif *exp;
    size_t n_exp;
    const char *drop_reason, *drop_rule;
    bool have_policy;
    long exp_policy[3]; /* sent, held, cancelled; -1: not checked */
};

/** Compares what the rules produced with the notifications and drops a test expects. */
bool iha_ruletest_judge(const struct test *t, const struct got *g, const char *path, FILE *out);

/** Compares the safety policy's decisions (default settings) with the test's exp_policy. */
bool iha_ruletest_judge_policy(const struct test *t, const struct got *g, const char *path,
                               FILE *out);

#endif
