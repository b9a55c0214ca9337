/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file conn_guard.h
 * @brief Keeps slow or unauthenticated connections from taking every slot of the listener.
 *
 * libmicrohttpd's timeout fires only on silence, so a client trickling its headers a byte
 * at a time held a slot forever; a few hundred such clients (64 from one address) locked
 * Alertmanager out. A connection is *untrusted* from the start of a request until the
 * request is authenticated (or answered without credentials): untrusted connections get a
 * deadline for the whole request, and there is a cap on how many may be open, in all and
 * per client address, set below the listener's own limits. When a connection opens, the
 * guard closes the untrusted ones past their deadline and, while a cap is exceeded, the
 * oldest untrusted one (of that address first): a new sender always finds a slot, and a
 * slow client loses its slot to it, never the other way round.
 *
 * Closing is shutdown() of the socket: libmicrohttpd then sees the end of the stream and
 * closes the connection itself, so the descriptor stays libmicrohttpd's.
 *
 * Threads: every call from the one thread that runs libmicrohttpd's callbacks (its
 * connection notifications, access and completion handlers), or after that thread ended.
 */
#ifndef IHA_CONN_GUARD_H
#define IHA_CONN_GUARD_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "rc.h"

struct iha_conn_guard;
struct iha_conn_slot;

struct iha_conn_guard_limits {
    size_t max_untrusted;          /**< untrusted connections open at once, in all */
    size_t max_untrusted_per_addr; /**< the same, from one client address */
    uint64_t deadline_ms;          /**< an untrusted request must be complete within this */
};

/** What iha_conn_guard_open() closed to make room. */
struct iha_conn_evictions {
    unsigned deadline; /**< past their deadline */
    unsigned limit;    /**< the oldest, over a cap */
};

/** @p owner: what iha_conn_slot_owner() returns for every slot (the listener). */
enum iha_rc iha_conn_guard_new(const struct iha_conn_guard_limits *limits, void *owner,
                               struct iha_conn_guard **out) IHA_MUST_CHECK;
/** Frees the guard and every slot still open. NULL-safe. */
void iha_conn_guard_free(struct iha_conn_guard *g);

/**
 * A connection on socket @p fd from @p addr opened at @p now_ms: first closes what must
 * make room (counted in @p ev), then tracks it as untrusted.
 * @return its slot (to keep with the connection), or NULL when out of memory: the
 *         connection is then not tracked, and the other calls accept NULL.
 */
struct iha_conn_slot *iha_conn_guard_open(struct iha_conn_guard *g, int fd,
                                          const struct sockaddr *addr, uint64_t now_ms,
                                          struct iha_conn_evictions *ev);
/** The connection is closed: forgets @p s (freed). NULL-safe. */
void iha_conn_guard_close(struct iha_conn_guard *g, struct iha_conn_slot *s);
/** The current request is authenticated or answered: no deadline, not counted. */
void iha_conn_guard_trust(struct iha_conn_guard *g, struct iha_conn_slot *s);
/** A kept-alive connection waits for its next request: untrusted again from @p now_ms. */
void iha_conn_guard_rearm(struct iha_conn_guard *g, struct iha_conn_slot *s, uint64_t now_ms);
/**
 * @return the guard's owner, for callbacks that know only the connection (a TLS
 *         handshake's certificate callback has no closure of its own). NULL-safe.
 */
void *iha_conn_slot_owner(const struct iha_conn_slot *s);
/** @return untrusted connections open now. */
size_t iha_conn_guard_untrusted(const struct iha_conn_guard *g);

#endif
