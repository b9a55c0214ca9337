/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file delivery_backlog.c
 * @brief Submissions per second to the delivery thread with 0, 1,000 and 10,000
 *        notifications already pending against an unreachable Instance HA, and the
 *        ratio against an empty backlog measured in the same run.
 *
 * usage: delivery_backlog [ROUNDS]   (default 1; the best round of each case is shown)
 *
 * Cases (all submissions per-host ordered, as the durable queue submits them):
 *  - "100 hosts, refused": Instance HA's port is closed; the first job of each host
 *    retries with backoff, the others wait for it.
 *  - "own host, refused": every notification names its own host (as queue_bench.sh
 *    sends them), so every job retries against the closed port.
 *  - "own host, black hole": connections hang (a listener that never accepts), so 64
 *    jobs are on the wire and the rest are due and wait for a slot.
 * Each case prefills the backlog (not timed), lets the loop settle for 200 ms, then
 * times SUBMITS submissions of new keys: wall-clock rate and process CPU time per
 * submission (both threads, so the delivery loop's bookkeeping counts).
 */
#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "delivery.h"
#include "log.h"

#define SUBMITS 2000
#define SETTLE_MS 200

struct scenario {
    const char *name;
    unsigned hosts; /* 0: a hostname per notification */
    bool blackhole;
};

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double cpu_s(void)
{
    struct rusage ru;

    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static void sleep_ms(unsigned ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};

    while (nanosleep(&ts, &ts) != 0)
        ;
}

static void on_done(void *cls, const struct iha_delivery_result *res)
{
    (void)res;
    (*(unsigned long *)cls)++; /* only ever called from one thread at a time */
}

/* @return a listening socket on 127.0.0.1 (port in @p port); with @p keep 0 it is closed. */
static int listener(unsigned *port, bool keep)
{
    struct sockaddr_in sa;
    socklen_t len = sizeof(sa);
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    if (fd < 0)
        return -1;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(fd, 1) != 0 ||
        getsockname(fd, (struct sockaddr *)&sa, &len) != 0) {
        close(fd);
        return -1;
    }
    *port = ntohs(sa.sin_port);
    if (!keep) {
        close(fd);
        return -2;
    }
    return fd;
}

static int submit_range(struct iha_delivery *d, const struct scenario *sc,
                        struct iha_notification *n, unsigned long from, unsigned long count,
                        unsigned long *done)
{
    struct iha_delivery_opts o = {
        .retry_for_ms = 6ull * 3600 * 1000, .per_host_order = true, .retry_unauthorized = true};
    char key[48];

    for (unsigned long i = from; i < from + count; i++) {
        snprintf(n->hostname, sizeof(n->hostname), "compute-%lu", sc->hosts ? i % sc->hosts : i);
        snprintf(key, sizeof(key), "COMPUTE_HOST|bench|%lu", i);
        if (iha_delivery_submit_opts(d, n, key, &o, on_done, done) != IHA_OK)
            return -1;
    }
    return 0;
}

/* @return submissions per second on top of @p backlog pending jobs; CPU-µs in @p cpu_us. */
static double run(const struct scenario *sc, unsigned long backlog, double *cpu_us)
{
    struct iha_delivery_config cfg = {
        .dialect = IHA_DIALECT_MASAKARI,
        .connect_timeout_ms = 60000,
        .timeout_ms = 60000,
        .retry_for_ms = 6u * 3600u * 1000u,
        .max_backoff_ms = 60000,
        .max_jobs = backlog + SUBMITS + 64,
    };
    struct iha_delivery *d = NULL;
    struct iha_notification n;
    unsigned long done = 0;
    unsigned port = 0;
    int fd = listener(&port, sc->blackhole);
    char url[64];
    double t0, c0, wall = -1;

    if (fd == -1)
        return -1;
    snprintf(url, sizeof(url), "http://127.0.0.1:%u", port);
    cfg.url = url;
    iha_notification_init(&n);
    n.type = IHA_NTYPE_COMPUTE_HOST;
    n.payload = json_pack("{s:s, s:s, s:s}", "event", "STOPPED", "host_status", "NORMAL",
                          "cluster_status", "OFFLINE");
    snprintf(n.generated_time, sizeof(n.generated_time), "2026-11-25T14:40:13Z");
    snprintf(n.id, sizeof(n.id), "0123456789abcdef");
    if (!n.payload || iha_delivery_new(&cfg, &d) != IHA_OK)
        goto out;
    if (submit_range(d, sc, &n, 0, backlog, &done) != 0)
        goto out;
    sleep_ms(SETTLE_MS);
    c0 = cpu_s();
    t0 = now_s();
    if (submit_range(d, sc, &n, backlog, SUBMITS, &done) != 0)
        goto out;
    wall = now_s() - t0;
    *cpu_us = (cpu_s() - c0) * 1e6 / SUBMITS;
out:
    iha_delivery_free(d);
    iha_notification_clear(&n);
    if (fd >= 0)
        close(fd);
    return wall > 0 ? SUBMITS / wall : -1;
}

int main(int argc, char **argv)
{
    static const struct scenario cases[] = {
        {"100 hosts, refused", 100, false},
        {"own host, refused", 0, false},
        {"own host, black hole", 0, true},
    };
    static const unsigned long backlogs[] = {0, 1000, 10000};
    long rounds = argc > 1 ? strtol(argv[1], NULL, 10) : 1;

    if (rounds < 1 || rounds > 100) {
        fprintf(stderr, "usage: delivery_backlog [ROUNDS 1..100]\n");
        return 2;
    }
    iha_log_setup(IHA_LOG_ERROR, IHA_LOG_LOGFMT);
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return 1;
    printf("%-22s %8s %12s %14s %8s\n", "case", "backlog", "submits/s", "cpu-us/submit", "ratio");
    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        double base = 0;
        for (size_t b = 0; b < sizeof(backlogs) / sizeof(backlogs[0]); b++) {
            double best = -1, best_cpu = 0;
            for (long r = 0; r < rounds; r++) {
                double cpu = 0, rate = run(&cases[c], backlogs[b], &cpu);
                if (rate > best) {
                    best = rate;
                    best_cpu = cpu;
                }
            }
            if (best <= 0) {
                fprintf(stderr, "%s, backlog %lu: failed\n", cases[c].name, backlogs[b]);
                curl_global_cleanup();
                return 1;
            }
            if (b == 0)
                base = best;
            printf("%-22s %8lu %12.0f %14.1f %8.2f\n", cases[c].name, backlogs[b], best, best_cpu,
                   base / best);
            fflush(stdout);
        }
    }
    curl_global_cleanup();
    return 0;
}
