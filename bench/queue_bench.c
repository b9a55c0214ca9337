/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file queue_bench.c
 * @brief Closed-loop load generator for the durable queue: C connections POST distinct
 *        Alertmanager webhooks for S seconds; prints accepted/s and accept latency.
 *
 * usage: queue_bench URL CONNECTIONS SECONDS TAG
 * Output (one line): "accepted=N other=M seconds=S rate=R p50_ms=A p99_ms=B".
 */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_CONN 256
#define MAX_SAMPLES (4u * 1024u * 1024u)

struct conn {
    CURL *easy;
    struct curl_slist *hdr;
    char body[1024];
    double t0;
};

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static size_t discard(char *p, size_t s, size_t n, void *u)
{
    (void)p;
    (void)u;
    return s * n;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void start(CURLM *m, struct conn *c, const char *url, const char *tag, unsigned long n)
{
    int len = snprintf(c->body, sizeof(c->body),
                       "{\"version\":\"4\",\"status\":\"firing\",\"receiver\":\"gw\",\"alerts\":"
                       "[{\"status\":\"firing\",\"labels\":{\"alertname\":\"HostDown\","
                       "\"severity\":\"critical\",\"hostname\":\"bench-%s-%lu\",\"job\":\"node\"},"
                       "\"annotations\":{},\"startsAt\":\"2026-11-25T14:40:13Z\","
                       "\"endsAt\":\"0001-01-01T00:00:00Z\",\"fingerprint\":\"%016lx\"}]}",
                       tag, n, n);
    curl_easy_setopt(c->easy, CURLOPT_URL, url);
    curl_easy_setopt(c->easy, CURLOPT_POSTFIELDS, c->body);
    curl_easy_setopt(c->easy, CURLOPT_POSTFIELDSIZE, (long)(len > 0 ? len : 0));
    curl_easy_setopt(c->easy, CURLOPT_HTTPHEADER, c->hdr);
    curl_easy_setopt(c->easy, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(c->easy, CURLOPT_PRIVATE, (void *)c);
    curl_easy_setopt(c->easy, CURLOPT_TIMEOUT, 30L);
    c->t0 = now_s();
    curl_multi_add_handle(m, c->easy);
}

int main(int argc, char **argv)
{
    struct conn conns[MAX_CONN];
    double *lat, t_end, t_start;
    unsigned long n = 0, ok = 0, other = 0;
    size_t ns = 0;
    int nc, running = 0;
    CURLM *m;
    char *end;

    if (argc != 5) {
        fprintf(stderr, "usage: queue_bench URL CONNECTIONS SECONDS TAG\n");
        return 2;
    }
    nc = (int)strtol(argv[2], &end, 10);
    if (*end || nc < 1 || nc > MAX_CONN)
        return 2;
    t_end = strtod(argv[3], &end);
    lat = malloc(MAX_SAMPLES * sizeof(*lat));
    if (!lat || curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        free(lat);
        return 1;
    }
    m = curl_multi_init();
    curl_multi_setopt(m, CURLMOPT_MAX_HOST_CONNECTIONS, (long)nc);
    t_start = now_s();
    t_end += t_start;
    for (int i = 0; i < nc; i++) {
        conns[i].easy = curl_easy_init();
        conns[i].hdr = curl_slist_append(NULL, "Content-Type: application/json");
        conns[i].hdr = curl_slist_append(conns[i].hdr, "Expect:");
        start(m, &conns[i], argv[1], argv[4], n++);
    }
    for (;;) {
        CURLMsg *msg;
        int left;

        curl_multi_perform(m, &running);
        while ((msg = curl_multi_info_read(m, &left))) {
            struct conn *c = NULL;
            long code = 0;
            double t = now_s();

            if (msg->msg != CURLMSG_DONE)
                continue;
            curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&c);
            curl_easy_getinfo(msg->easy_handle, CURLINFO_RESPONSE_CODE, &code);
            curl_multi_remove_handle(m, c->easy);
            if (code >= 200 && code < 300) {
                ok++;
                if (ns < MAX_SAMPLES)
                    lat[ns++] = t - c->t0;
            } else {
                other++;
            }
            if (t < t_end)
                start(m, c, argv[1], argv[4], n++);
        }
        if (running == 0 && now_s() >= t_end)
            break;
        curl_multi_poll(m, NULL, 0, 50, NULL);
    }
    {
        double secs = now_s() - t_start;
        qsort(lat, ns, sizeof(*lat), cmp_double);
        printf("accepted=%lu other=%lu seconds=%.2f rate=%.0f p50_ms=%.2f p99_ms=%.2f\n", ok, other,
               secs, (double)ok / secs, ns ? lat[ns / 2] * 1e3 : 0.0,
               ns ? lat[(size_t)((double)ns * 0.99)] * 1e3 : 0.0);
    }
    for (int i = 0; i < nc; i++) {
        curl_easy_cleanup(conns[i].easy);
        curl_slist_free_all(conns[i].hdr);
    }
    curl_multi_cleanup(m);
    curl_global_cleanup();
    free(lat);
    return 0;
}
