/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file policy_int.h
 * @brief Private to src/policy: the policy's hosts, notifications and guard, shared by
 *        policy.c (admission, decisions, the rate limit, operator calls), policy_guard.c
 *        (the window, the storm guard and flapping) and policy_status.c (what operators
 *        see). Never included from outside the folder.
 */
#ifndef IHA_POLICY_INT_H
#define IHA_POLICY_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hashmap.h"
#include "policy.h"

/* Resolves remembered per host for flap damping; flap_count above it is capped. */
#define FLAP_RING 16

/* One host the policy has seen fail. Freed when nothing refers to it any more. */
struct host {
    struct iha_hnode node; /* p->hosts, by name */
    char name[IHA_POLICY_HOST_MAX];
    char domain[IHA_POLICY_DOMAIN_MAX];
    unsigned domain_size;
    size_t refs; /* entries of this host */
    /* The failure counted in the window: its time and the one before it (for a cancel). */
    bool counted;
    uint64_t counted_ms;
    uint64_t counted_seq;
    bool prev_counted;
    uint64_t prev_counted_ms;
    bool firing;          /* fired since its last resolve */
    bool resolved;        /* a resolve was seen, at resolved_ms */
    uint64_t resolved_ms; /* cancels a failure from before it admitted only later */
    uint64_t resolves[FLAP_RING];
    unsigned n_resolves; /* total; the newest FLAP_RING are kept */
    struct host *next;   /* p->host_list */
};

/* One notification held back. */
struct entry {
    struct iha_hnode node; /* p->entries, by seq */
    uint64_t seq;
    struct host *host;
    enum iha_policy_state state;
    enum iha_hold_reason reason;
    uint64_t at_ms;            /* when its host failed */
    uint64_t due_ms;           /* settling, or held as flapping: when it may be decided */
    uint64_t since_ms;         /* in its state since */
    struct entry *prev, *next; /* p->first..last, in admission order */
};

/* Why the guard is tripped (or clear), as evaluated last. */
struct trip {
    bool tripped;
    size_t hosts;   /* hosts in the window */
    bool by_domain; /* tripped by a domain's share rather than the count */
    char domain[IHA_POLICY_DOMAIN_MAX];
    size_t domain_failed;
    unsigned domain_size;
};

struct iha_policy {
    struct iha_policy_config cfg;
    iha_policy_act_fn act;
    void *act_cls;
    struct iha_hmap *hosts;
    struct host *host_list;
    struct iha_hmap *entries;
    struct entry *first, *last;
    struct trip trip;
    uint64_t clear_since_ms; /* the guard's condition has been clear since (when not tripped) */
    uint64_t last_heartbeat_ms;
    bool suspect;
    uint64_t heartbeat_ok_since_ms; /* heartbeats arrive since (0: none seen, or missing) */
    double tokens;
    uint64_t tokens_ms; /* tokens counted up to */
};

/* ---- policy_guard.c ---- */

/** Counts @p h's failure at @p at_ms in the window. */
void iha_policy_count_failure(struct host *h, uint64_t seq, uint64_t at_ms);
/** Takes back the failure @p seq counted for @p h (its notification flapped). */
void iha_policy_uncount_failure(struct host *h, uint64_t seq);
/** Evaluates the storm guard at @p now into p->trip; @return whether it is tripped. */
bool iha_policy_guard_eval(struct iha_policy *p, uint64_t now_ms);
/** @return when a counted failure leaves the window next (UINT64_MAX: none). */
uint64_t iha_policy_window_next(const struct iha_policy *p, uint64_t now_ms);
/** Records a resolve of @p h for flap damping. */
void iha_policy_flap_note(struct iha_policy *p, struct host *h, uint64_t now_ms);
/** @return whether @p h flaps at @p now. */
bool iha_policy_flapping(const struct iha_policy *p, const struct host *h, uint64_t now_ms);
/** @return whether @p h is still needed (entries, a counted failure, recent resolves). */
bool iha_policy_host_needed(const struct iha_policy *p, const struct host *h, uint64_t now_ms);

/* ---- policy.c ---- */

/** Formats @p ms as "5m", "90s", "1h30m" into @p out. */
void iha_policy_duration(unsigned long long ms, char *out, size_t size);

#endif
