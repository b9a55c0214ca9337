/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file listen_addr.h
 * @brief The one parser of listen addresses: `check-config`, the config loader and the
 *        HTTP server all judge web.listen_address (and --web.listen-address) with it.
 *
 * Accepted forms: `HOST:PORT`, `[IPV6]:PORT` and `:PORT` (every address). HOST is an
 * IPv4 address in dotted-quad form or a DNS name (letters, digits and `-` in dot-separated
 * labels); a name whose last label is all digits but which is not a dotted quad
 * (`127.1`, `2130706433`) is refused because the resolver would read it as some other
 * IPv4 address. Brackets hold an IPv6 address, optionally with a `%zone`. PORT is
 * 0..65535 in decimal; 0 lets the kernel choose (the daemon logs the port it got).
 */
#ifndef IHA_LISTEN_ADDR_H
#define IHA_LISTEN_ADDR_H

#include <stdbool.h>

#include "rc.h"

/** What the host part of a listen address is. */
enum iha_listen_host {
    IHA_LISTEN_ANY,  /**< ":PORT": every address */
    IHA_LISTEN_IPV4, /**< a dotted-quad IPv4 address */
    IHA_LISTEN_IPV6, /**< "[...]": an IPv6 address */
    IHA_LISTEN_NAME, /**< a DNS name, resolved when the server starts */
};

/** A parsed listen address: plain data. */
struct iha_listen_addr {
    enum iha_listen_host kind;
    char host[256]; /**< without brackets; "" for IHA_LISTEN_ANY */
    char port[6];   /**< decimal, as written */
    unsigned port_num;
    /** an address literal in 127.0.0.0/8, ::1 or ::ffff:127.x; false for a name, which
     *  only iha_listen_addr_is_loopback() judges, by resolving it */
    bool loopback;
};

/**
 * Parses @p s.
 * @param[out] out the address (zeroed first)
 * @param[out] err on failure: field "web.listen_address" and what is wrong; may be NULL
 * @return IHA_OK; IHA_E_INVAL.
 */
enum iha_rc iha_listen_addr_parse(const char *s, struct iha_listen_addr *out,
                                  struct iha_err *err) IHA_MUST_CHECK;

struct addrinfo;

/**
 * @return true when @p s parses and binds only a loopback address. A name (even
 *         "localhost") is resolved the way the server resolves it and every address it
 *         resolves to must be loopback: /etc/hosts or DNS decide, not the spelling.
 *         May block on the resolver: not for the HTTP thread.
 */
bool iha_listen_addr_is_loopback(const char *s);

struct sockaddr;

/** @return true when @p sa is an IPv4 address in 127.0.0.0/8, ::1 or ::ffff:127.x. */
bool iha_listen_sockaddr_is_loopback(const struct sockaddr *sa);

/** @return true when @p res is non-empty and every entry is a loopback address. */
bool iha_listen_addrinfo_all_loopback(const struct addrinfo *res);

#endif
