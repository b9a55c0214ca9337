/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file test_util.h
 * @brief Small helpers several unit tests share: writing a file, base64 for basic auth, a
 *        listener that never answers.
 *
 * Header-only so that each test binary keeps its explicit source list. Include after
 * cmocka_includes.h.
 */
#ifndef IHA_TEST_UTIL_H
#define IHA_TEST_UTIL_H

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

/** Writes @p content to @p path (created or truncated); fails the test on any error. */
static inline void test_write_file(const char *path, const char *content)
{
    FILE *fp = fopen(path, "w");

    assert_non_null(fp);
    assert_int_equal(fwrite(content, 1, strlen(content), fp), strlen(content));
    assert_int_equal(fclose(fp), 0);
}

/**
 * Replaces @p path with @p content through a temporary file and rename(2), so a reader
 * polling the file never sees it half written.
 */
static inline void test_replace_file(const char *path, const char *content)
{
    char tmp[512];

    assert_true((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", path) < sizeof(tmp));
    test_write_file(tmp, content);
    assert_int_equal(rename(tmp, path), 0);
}

/** Sleeps @p ms milliseconds, resuming after signals. */
static inline void test_sleep_ms(unsigned ms)
{
    struct timespec t = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};

    while (nanosleep(&t, &t) != 0 && errno == EINTR)
        ;
}

/** Base64 of @p in into @p out (NUL-terminated); fails the test when @p size is too small. */
static inline void test_base64(const char *in, char *out, size_t size)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t n = strlen(in), o = 0;

    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned)(unsigned char)in[i] << 16;
        if (i + 1 < n)
            v |= (unsigned)(unsigned char)in[i + 1] << 8;
        if (i + 2 < n)
            v |= (unsigned char)in[i + 2];
        assert_true(o + 5 <= size);
        out[o++] = tab[(v >> 18) & 63];
        out[o++] = tab[(v >> 12) & 63];
        out[o++] = i + 1 < n ? tab[(v >> 6) & 63] : '=';
        out[o++] = i + 2 < n ? tab[v & 63] : '=';
    }
    assert_true(o < size);
    out[o] = '\0';
}

/**
 * A listener on 127.0.0.1 that never accepts, as a peer that hangs: up to @p backlog
 * connections are made by the kernel and then get no answer, later ones wait in the
 * handshake. @return the socket (close it to end); its port in @p port.
 */
static inline int test_blackhole_start(unsigned *port, int backlog)
{
    struct sockaddr_in sa;
    socklen_t len = sizeof(sa);
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    assert_true(fd >= 0);
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(fd, backlog), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    *port = ntohs(sa.sin_port);
    return fd;
}

#endif
