/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file mapping_bench.c
 * @brief Alerts mapped per second against 10, 100 and 1,000 rules, with and without the
 *        alertname prefilter; ratios against the 10-rule figure of the same run.
 *
 * Usage: mapping_bench [SECONDS_PER_CASE]   (default 0.3)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mapping.h"

#define N_ALERTS 256

enum shape {
    TYPICAL, /* every rule keys on its own alertname; the alert hits a random rule */
    WORST,   /* every alertname matcher is a wildcard regex; the alert hits the last rule */
};

static double now_cpu(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* @return rule file text for @p n rules of @p shape (malloc'd) or NULL. */
static char *rules_text(size_t n, enum shape shape)
{
    size_t size = n * 512 + 16, len;
    char *buf = malloc(size);

    if (!buf)
        return NULL;
    len = (size_t)snprintf(buf, size, "rules:\n");
    for (size_t i = 0; i < n; i++) {
        int w =
            snprintf(buf + len, size - len,
                     "  - name: rule-%zu\n"
                     "    sources: [alertmanager]\n"
                     "    matchers:\n"
                     "      - 'alertname %s \"Alert%zu%s\"'\n"
                     "      - 'severity =~ \"critical|page\"'\n"
                     "    type: COMPUTE_HOST\n"
                     "    hostname:\n"
                     "      source_labels: [hostname, instance]\n"
                     "      regex: '([^;:]+)(?::\\d+)?;.*|;([^:]+)(?::\\d+)?'\n"
                     "      replacement: '$1$2'\n"
                     "    firing: {payload: {event: STOPPED, host_status: UNKNOWN, cluster_status: "
                     "OFFLINE}}\n",
                     i, shape == TYPICAL ? "=" : "=~", i, shape == TYPICAL ? "" : "(Down)?");

        if (w < 0 || (size_t)w >= size - len) {
            free(buf);
            return NULL;
        }
        len += (size_t)w;
    }
    return buf;
}

static int make_alerts(struct iha_alert *alerts, size_t n_rules, enum shape shape)
{
    unsigned seed = 42;

    for (size_t i = 0; i < N_ALERTS; i++) {
        char name[32];
        size_t target;

        seed = seed * 1103515245u + 12345u;
        target = shape == TYPICAL ? (seed >> 8) % n_rules : n_rules - 1;
        snprintf(name, sizeof(name), "Alert%zu", target);
        iha_alert_init(&alerts[i], IHA_SOURCE_ALERTMANAGER);
        if (iha_alert_set_label(&alerts[i], "alertname", name) != IHA_OK ||
            iha_alert_set_label(&alerts[i], "severity", "critical") != IHA_OK ||
            iha_alert_set_label(&alerts[i], "instance", "compute-1:9100") != IHA_OK ||
            iha_alert_set_label(&alerts[i], "job", "node") != IHA_OK)
            return -1;
    }
    return 0;
}

/* @return alerts mapped per CPU second, or a negative value on error. */
static double measure(size_t n_rules, enum shape shape, bool index, double seconds)
{
    struct iha_ruleset *rs = iha_ruleset_new();
    struct iha_diag *diag = iha_diag_new();
    struct iha_alert *alerts = calloc(N_ALERTS, sizeof(*alerts));
    char *text = rules_text(n_rules, shape);
    double rate = -1, t0, t;
    size_t done = 0;

    if (!rs || !diag || !alerts || !text)
        goto cleanup;
    if (iha_ruleset_load(rs, "bench.yml", text, strlen(text), diag) != IHA_OK) {
        for (size_t i = 0; i < iha_diag_count(diag); i++)
            fprintf(stderr, "%s\n", iha_diag_get(diag, i));
        goto cleanup;
    }
    if (make_alerts(alerts, n_rules, shape) != 0)
        goto cleanup;
    iha_ruleset_set_index(rs, index);
    t0 = now_cpu();
    do {
        for (size_t i = 0; i < N_ALERTS; i++) {
            struct iha_map_result r;

            if (iha_mapping_apply(rs, &alerts[i], &r) != IHA_OK || r.items[0].dropped) {
                fprintf(stderr, "mapping_bench: alert %zu did not map\n", i);
                iha_map_result_clear(&r);
                goto cleanup;
            }
            iha_map_result_clear(&r);
        }
        done += N_ALERTS;
        t = now_cpu() - t0;
    } while (t < seconds);
    rate = (double)done / t;
cleanup:
    for (size_t i = 0; alerts && i < N_ALERTS; i++)
        iha_alert_clear(&alerts[i]);
    free(alerts);
    free(text);
    iha_diag_free(diag);
    iha_ruleset_free(rs);
    return rate;
}

int main(int argc, char **argv)
{
    static const size_t sizes[] = {10, 100, 1000};
    static const struct {
        const char *name;
        enum shape shape;
        bool index;
    } cases[] = {
        {"typical, prefilter on ", TYPICAL, true},
        {"typical, prefilter off", TYPICAL, false},
        {"worst (regex, last)   ", WORST, true},
    };
    double seconds = 0.3;

    if (argc > 1) {
        char *end;

        seconds = strtod(argv[1], &end);
        if (*end || seconds <= 0) {
            fprintf(stderr, "usage: mapping_bench [SECONDS_PER_CASE]\n");
            return 2;
        }
    }
    printf("mapping_bench: CPU time per case %.2f s; ratio = rate(10 rules) / rate(N rules), "
           "same case and run (1.0 = no slowdown)\n\n",
           seconds);
    printf("%-24s %7s %15s %12s %8s\n", "case", "rules", "alerts/s", "us/alert", "ratio");
    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        double base = 0;

        for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
            double rate = measure(sizes[s], cases[c].shape, cases[c].index, seconds);

            if (rate <= 0)
                return 1;
            if (s == 0)
                base = rate;
            printf("%-24s %7zu %15.0f %12.2f %8.2f\n", cases[c].name, sizes[s], rate, 1e6 / rate,
                   base / rate);
        }
    }
    return 0;
}
