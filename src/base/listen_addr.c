/* SPDX-License-Identifier: Apache-2.0 */
/** @file listen_addr.c @brief The one parser of listen addresses. */
#include "listen_addr.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <string.h>

#define FIELD "web.listen_address"
#define FORMS "expected HOST:PORT, [IPV6]:PORT or :PORT"

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static bool is_alnum(char c)
{
    return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* DNS name syntax (RFC 1123 labels); fills @p all_digits_tail for the last label. */
static bool name_ok(const char *s, size_t n, bool *all_digits_tail)
{
    size_t label = 0;
    bool digits = true;

    if (n == 0 || n > 253)
        return false;
    for (size_t i = 0; i <= n; i++) {
        if (i == n || s[i] == '.') {
            if (label == 0 || label > 63 || s[i - 1] == '-')
                return false;
            *all_digits_tail = digits;
            label = 0;
            digits = true;
            continue;
        }
        if (!is_alnum(s[i]) && s[i] != '-')
            return false;
        if (label == 0 && s[i] == '-')
            return false;
        digits = digits && is_digit(s[i]);
        label++;
    }
    return true;
}

/* The bracketed part: an IPv6 address with an optional "%zone". */
static bool ipv6_ok(const char *s, struct in6_addr *a6)
{
    char addr[INET6_ADDRSTRLEN];
    const char *pct = strchr(s, '%');
    size_t n = pct ? (size_t)(pct - s) : strlen(s);

    if (n == 0 || n >= sizeof(addr))
        return false;
    memcpy(addr, s, n);
    addr[n] = '\0';
    if (inet_pton(AF_INET6, addr, a6) != 1)
        return false;
    if (pct) {
        if (pct[1] == '\0')
            return false;
        for (const char *z = pct + 1; *z; z++)
            if (!is_alnum(*z) && *z != '-' && *z != '_' && *z != '.')
                return false;
    }
    return true;
}

static enum iha_rc parse_port(const char *p, struct iha_listen_addr *out, struct iha_err *err)
{
    size_t n = strlen(p);
    unsigned long v = 0;

    if (n == 0 || n > 5) {
        iha_err_set(err, FIELD, "%s port (%s)", n ? "invalid" : "missing", FORMS);
        return IHA_E_INVAL;
    }
    for (size_t i = 0; i < n; i++) {
        if (!is_digit(p[i])) {
            iha_err_set(err, FIELD, "the port must be a decimal number (%s)", FORMS);
            return IHA_E_INVAL;
        }
        v = v * 10 + (unsigned long)(p[i] - '0');
    }
    if (v > 65535) {
        iha_err_set(err, FIELD, "port %lu is out of range (0 to 65535)", v);
        return IHA_E_INVAL;
    }
    memcpy(out->port, p, n + 1);
    out->port_num = (unsigned)v;
    return IHA_OK;
}

enum iha_rc iha_listen_addr_parse(const char *s, struct iha_listen_addr *out, struct iha_err *err)
{
    const char *colon;
    size_t hlen;
    struct in_addr a4;
    struct in6_addr a6;
    bool digits_tail = false;

    memset(out, 0, sizeof(*out));
    if (!s || !*s) {
        iha_err_set(err, FIELD, "empty address (%s)", FORMS);
        return IHA_E_INVAL;
    }
    if (s[0] == '[') {
        const char *close = strchr(s, ']');

        if (!close || close[1] != ':') {
            iha_err_set(err, FIELD, "an IPv6 address needs \"]:PORT\" after it (%s)", FORMS);
            return IHA_E_INVAL;
        }
        hlen = (size_t)(close - s - 1);
        if (hlen == 0 || hlen >= sizeof(out->host)) {
            iha_err_set(err, FIELD, "invalid IPv6 address (%s)", FORMS);
            return IHA_E_INVAL;
        }
        memcpy(out->host, s + 1, hlen);
        if (!ipv6_ok(out->host, &a6)) {
            iha_err_set(err, FIELD, "\"%s\" is not an IPv6 address (%s)", out->host, FORMS);
            out->host[0] = '\0';
            return IHA_E_INVAL;
        }
        out->kind = IHA_LISTEN_IPV6;
        out->loopback =
            IN6_IS_ADDR_LOOPBACK(&a6) || (IN6_IS_ADDR_V4MAPPED(&a6) && a6.s6_addr[12] == 127);
        return parse_port(close + 2, out, err);
    }
    colon = strrchr(s, ':');
    if (!colon) {
        iha_err_set(err, FIELD, "missing \":PORT\" (%s)", FORMS);
        return IHA_E_INVAL;
    }
    hlen = (size_t)(colon - s);
    if (memchr(s, ':', hlen)) {
        iha_err_set(err, FIELD, "an IPv6 address must be in brackets (%s)", FORMS);
        return IHA_E_INVAL;
    }
    if (hlen >= sizeof(out->host)) {
        iha_err_set(err, FIELD, "host name too long (%s)", FORMS);
        return IHA_E_INVAL;
    }
    memcpy(out->host, s, hlen);
    if (hlen == 0) {
        out->kind = IHA_LISTEN_ANY;
    } else if (inet_pton(AF_INET, out->host, &a4) == 1) {
        out->kind = IHA_LISTEN_IPV4;
        out->loopback = (ntohl(a4.s_addr) >> 24) == 127;
    } else if (name_ok(out->host, hlen, &digits_tail) && !digits_tail) {
        out->kind = IHA_LISTEN_NAME;
    } else {
        /* "127.1" or "2130706433" would be read by the resolver as some IPv4 address. */
        iha_err_set(err, FIELD, "\"%s\" is neither a dotted-quad IPv4 address nor a host name (%s)",
                    out->host, FORMS);
        memset(out, 0, sizeof(*out));
        return IHA_E_INVAL;
    }
    return parse_port(colon + 1, out, err);
}

bool iha_listen_sockaddr_is_loopback(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *a4 = (const struct sockaddr_in *)(const void *)sa;

        return (ntohl(a4->sin_addr.s_addr) >> 24) == 127;
    }
    if (sa->sa_family == AF_INET6) {
        const struct in6_addr *a6 = &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr;

        return IN6_IS_ADDR_LOOPBACK(a6) || (IN6_IS_ADDR_V4MAPPED(a6) && a6->s6_addr[12] == 127);
    }
    return false;
}

bool iha_listen_addrinfo_all_loopback(const struct addrinfo *res)
{
    if (!res)
        return false;
    for (; res; res = res->ai_next)
        if (!res->ai_addr || !iha_listen_sockaddr_is_loopback(res->ai_addr))
            return false;
    return true;
}

bool iha_listen_addr_is_loopback(const char *s)
{
    struct iha_listen_addr la;
    struct addrinfo hints, *res = NULL;
    bool loopback;

    if (iha_listen_addr_parse(s, &la, NULL) != IHA_OK)
        return false;
    if (la.kind != IHA_LISTEN_NAME)
        return la.loopback;
    /* The hints of the server's own resolution, so both see the same list. */
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    if (getaddrinfo(la.host, la.port, &hints, &res) != 0)
        return false;
    loopback = iha_listen_addrinfo_all_loopback(res);
    freeaddrinfo(res);
    return loopback;
}
