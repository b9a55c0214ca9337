/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file policy.h
 * @brief The safety policy for evacuating notifications: settle time, flap damping,
 *        the storm guard and the evacuation rate limit.
 *
 * An evacuating notification (a host failure that makes Instance HA move every instance
 * off the host) is admitted here after it is stored, and the policy says when it may go:
 *
 *   admitted -> settling (settle_ms; a resolve of the same host cancels it: "flapped")
 *            -> decided: held (storm guard tripped, host flapping, dead man's switch
 *               missing) or waiting for a token of the rate limit -> released
 *
 * The storm guard counts distinct hosts with a notification that was not cancelled in a
 * sliding window. It trips when more than max_hosts hosts, or at least domain_min_hosts
 * hosts that are more than domain_percent percent of their failure domain, failed in the
 * window: then every notification not yet released is held, and so is every one admitted
 * while it stays tripped. The assumption, as in Kubernetes' node lifecycle controller, is
 * that so many failures at once are a fault of the monitoring, not of the hosts. Held
 * notifications wait for the operator (iha_policy_release()) or, when auto_release_ms is
 * set, for the condition to stay clear that long.
 *
 * A host is flapping when it fired and resolved flap_count times within flap_window_ms;
 * its notification is held until it stays down for flap_settle_ms (a resolve cancels it).
 *
 * Pure bookkeeping: no threads, no clocks, no I/O. The caller passes monotonic
 * milliseconds to every call, serialises the calls, and carries out what
 * iha_policy_tick() and the other calls report through the action callback. Not
 * thread-safe.
 */
#ifndef IHA_POLICY_H
#define IHA_POLICY_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rc.h"

#define IHA_POLICY_HOST_MAX 256
#define IHA_POLICY_DOMAIN_MAX 256

/** Why a notification is held. */
enum iha_hold_reason {
    IHA_HOLD_NONE = 0,
    IHA_HOLD_STORM,    /**< the storm guard tripped */
    IHA_HOLD_FLAPPING, /**< its host flaps */
    IHA_HOLD_DEADMAN,  /**< the monitoring's heartbeat is missing */
    IHA_HOLD_COUNT
};

/** What the caller must do with a notification. */
enum iha_policy_action {
    IHA_POLICY_RELEASE, /**< hand it to delivery */
    IHA_POLICY_HOLD,    /**< record it as held (durably); nothing is sent */
    IHA_POLICY_CANCEL,  /**< a resolve arrived while it settled: end it as "flapped" */
};

/** Where a notification is in the policy. */
enum iha_policy_state {
    IHA_POLICY_SETTLING,
    IHA_POLICY_WAITING, /**< for a token of the rate limit */
    IHA_POLICY_HELD,
    IHA_POLICY_STATE_COUNT
};

struct iha_policy_config {
    unsigned long long window_ms; /**< storm window; 0 = 5 min */
    unsigned max_hosts;           /**< more than this many hosts trips; 0 = no bound */
    unsigned domain_percent;      /**< more than this share of a domain trips; 0 = off */
    unsigned domain_min_hosts;    /**< ...with at least this many failed hosts */
    unsigned long long settle_ms; /**< wait before a notification may go */
    unsigned flap_count;          /**< fire-and-resolve cycles that make a host flap; 0 = off */
    unsigned long long flap_window_ms; /**< ...within this window */
    unsigned long long flap_settle_ms; /**< a flapping host must stay down this long */
    unsigned rate_burst;               /**< tokens of the rate limit; 0 = no rate limit */
    double rate_per_s;                 /**< tokens added per second */
    unsigned long long
        auto_release_ms; /**< release holds after the cause cleared this long; 0 = never */
    unsigned long long
        deadman_after_ms; /**< heartbeat missing this long = suspect; 0 = no switch */
};

/** The failure domain of a host: its name and how many hosts it has (0: unknown). */
struct iha_policy_domain {
    const char *name; /**< "" or NULL: none */
    unsigned size;
};

/**
 * Called for every decision, during the call that made it; it must not call back into the
 * policy. @p reason is set for IHA_POLICY_HOLD. After RELEASE and CANCEL the policy has
 * forgotten the notification; after HOLD it keeps it until it is released or forgotten.
 */
typedef void (*iha_policy_act_fn)(void *cls, uint64_t seq, enum iha_policy_action action,
                                  enum iha_hold_reason reason);

struct iha_policy;

/** @return IHA_OK (@p out set), IHA_E_NOMEM. @p cfg is copied. */
enum iha_rc iha_policy_new(const struct iha_policy_config *cfg, iha_policy_act_fn act, void *cls,
                           uint64_t now_ms, struct iha_policy **out) IHA_MUST_CHECK;

/** NULL-safe. */
void iha_policy_free(struct iha_policy *p);

/**
 * Admits the evacuating notification @p seq for @p host, which failed at @p at_ms (at
 * most @p now_ms; earlier for one recovered after a restart). It settles, or is held at
 * once while the guard is tripped or the heartbeat is missing.
 * @return IHA_OK; IHA_E_INVAL (seq already known, empty host); IHA_E_NOMEM.
 */
enum iha_rc iha_policy_admit(struct iha_policy *p, uint64_t now_ms, uint64_t seq, const char *host,
                             const struct iha_policy_domain *domain, uint64_t at_ms) IHA_MUST_CHECK;

/**
 * Takes back a notification that was held before a restart: held again with @p reason,
 * and counted in the window from @p at_ms. @return as iha_policy_admit().
 */
enum iha_rc iha_policy_restore_held(struct iha_policy *p, uint64_t now_ms, uint64_t seq,
                                    const char *host, const struct iha_policy_domain *domain,
                                    uint64_t at_ms, enum iha_hold_reason reason) IHA_MUST_CHECK;

/**
 * The failure of @p host resolved: cancels every notification of the host not yet
 * released (settling: it flapped; waiting or held: the host is back, evacuating it now
 * would move the instances of a healthy host) and counts a flap.
 * @return how many notifications were cancelled.
 */
size_t iha_policy_resolve(struct iha_policy *p, uint64_t now_ms, const char *host);

/** A heartbeat (Watchdog alert, freshness check) arrived from the monitoring. */
void iha_policy_heartbeat(struct iha_policy *p, uint64_t now_ms);

/**
 * Carries out what is due at @p now_ms: settle ends, tokens, the guard's and the
 * heartbeat's state, auto release. Call it after every other call too: those change the
 * state, this acts on it. @return the next time it must be called (UINT64_MAX: only after
 * another call).
 */
uint64_t iha_policy_tick(struct iha_policy *p, uint64_t now_ms);

/**
 * The operator releases the held notification @p seq: it goes now, without waiting for a
 * token (a person decided). @return IHA_OK; IHA_E_NOTFOUND (not held).
 */
enum iha_rc iha_policy_release(struct iha_policy *p, uint64_t now_ms, uint64_t seq) IHA_MUST_CHECK;

/** Releases every held notification, in the order they were admitted. @return how many. */
size_t iha_policy_release_all(struct iha_policy *p, uint64_t now_ms);

/**
 * Forgets @p seq, which ended elsewhere (dropped by the operator, dead-lettered when too
 * old). Its host stays counted in the window. Unknown @p seq is ignored.
 */
void iha_policy_forget(struct iha_policy *p, uint64_t seq);

/** @return the state of @p seq; IHA_E_NOTFOUND when the policy does not hold it back. */
enum iha_rc iha_policy_state_of(const struct iha_policy *p, uint64_t seq,
                                enum iha_policy_state *state,
                                enum iha_hold_reason *reason) IHA_MUST_CHECK;

/** Counters for metrics and tests. */
struct iha_policy_stats {
    size_t settling, waiting, held;
    size_t held_by[IHA_HOLD_COUNT];
    size_t hosts_in_window;
    bool tripped;    /**< the storm guard */
    bool suspect;    /**< the heartbeat is missing */
    double tokens;   /**< rate limit level (0 when there is no rate limit) */
    size_t flapping; /**< hosts flapping now */
};

struct iha_policy_stats iha_policy_stats(const struct iha_policy *p, uint64_t now_ms);

/**
 * Why the guard is in its state, for the status page and logs: "tripped: 12 hosts failed
 * within 5m (more than 5)" or "clear". Writes into @p out.
 */
void iha_policy_explain(const struct iha_policy *p, uint64_t now_ms, char *out, size_t size);

/**
 * @return a new object describing the policy's state: guard, heartbeat, rate limit,
 *         flapping hosts and every notification held back (seq, host, state, reason,
 *         since). NULL when out of memory.
 */
json_t *iha_policy_status(const struct iha_policy *p, uint64_t now_ms);

/** @return "storm", "flapping", "deadman" ("" for none). */
const char *iha_hold_reason_name(enum iha_hold_reason r);

/** @return "settling", "waiting", "held". */
const char *iha_policy_state_name(enum iha_policy_state s);

#endif
