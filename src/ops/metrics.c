/* SPDX-License-Identifier: Apache-2.0 */
/** @file metrics.c @brief A small Prometheus metrics registry. */
#include "metrics.h"

#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"

#define NAME_MAX_LEN 128
#define VALUE_MAX_LEN 128
#define MAX_BUCKETS 32
#define MAX_FAMILIES 64

struct series {
    char values[IHA_METRICS_MAX_LABELS][VALUE_MAX_LEN];
    double value; /* counter/gauge value, or histogram sum */
    unsigned long long count;
    unsigned long long buckets[MAX_BUCKETS];
};

struct family {
    char name[NAME_MAX_LEN];
    char help[256];
    enum iha_metric_type type;
    char labels[IHA_METRICS_MAX_LABELS][NAME_MAX_LEN];
    size_t n_labels;
    double bounds[MAX_BUCKETS];
    size_t n_bounds;
    struct series *series;
    size_t n_series;
};

struct iha_metrics {
    pthread_mutex_t lock;
    struct family families[MAX_FAMILIES];
    size_t n_families;
};

struct iha_metrics *iha_metrics_new(void)
{
    struct iha_metrics *m = calloc(1, sizeof(*m));

    if (m && pthread_mutex_init(&m->lock, NULL) != 0) {
        free(m);
        return NULL;
    }
    return m;
}

void iha_metrics_free(struct iha_metrics *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->n_families; i++)
        free(m->families[i].series);
    pthread_mutex_destroy(&m->lock);
    free(m);
}

static bool name_ok(const char *s, bool metric)
{
    if (!*s || (*s >= '0' && *s <= '9'))
        return false;
    for (; *s; s++) {
        bool ok = (*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
                  (*s >= '0' && *s <= '9') || *s == '_' || (metric && *s == ':');
        if (!ok)
            return false;
    }
    return true;
}

static struct family *find(struct iha_metrics *m, const char *name)
{
    for (size_t i = 0; i < m->n_families; i++)
        if (strcmp(m->families[i].name, name) == 0)
            return &m->families[i];
    return NULL;
}

enum iha_rc iha_metrics_register(struct iha_metrics *m, const char *name, enum iha_metric_type type,
                                 const char *help, const char *labels, const double *buckets,
                                 size_t n_buckets)
{
    struct family *f;
    enum iha_rc rc = IHA_OK;
    const char *p = labels;

    pthread_mutex_lock(&m->lock);
    if (m->n_families >= MAX_FAMILIES || strlen(name) >= NAME_MAX_LEN || !name_ok(name, true) ||
        find(m, name) || n_buckets > MAX_BUCKETS) {
        rc = IHA_E_INVAL;
        goto cleanup;
    }
    f = &m->families[m->n_families];
    memset(f, 0, sizeof(*f));
    snprintf(f->name, sizeof(f->name), "%s", name);
    snprintf(f->help, sizeof(f->help), "%s", help);
    f->type = type;
    while (p && *p) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        if (f->n_labels >= IHA_METRICS_MAX_LABELS || len == 0 || len >= NAME_MAX_LEN) {
            rc = IHA_E_INVAL;
            goto cleanup;
        }
        memcpy(f->labels[f->n_labels], p, len);
        f->labels[f->n_labels][len] = '\0';
        if (!name_ok(f->labels[f->n_labels], false)) {
            rc = IHA_E_INVAL;
            goto cleanup;
        }
        f->n_labels++;
        p = comma ? comma + 1 : NULL;
    }
    for (size_t i = 0; i < n_buckets; i++)
        f->bounds[i] = buckets[i];
    f->n_bounds = n_buckets;
    m->n_families++;
cleanup:
    pthread_mutex_unlock(&m->lock);
    return rc;
}

/* Finds or creates the series for the label values in @p ap. Called with the lock held. */
static struct series *series_for(struct family *f, va_list ap)
{
    const char *vals[IHA_METRICS_MAX_LABELS];
    size_t i, k;
    struct series *s;

    for (i = 0; i < f->n_labels; i++) {
        vals[i] = va_arg(ap, const char *);
        if (!vals[i])
            vals[i] = "";
    }
    for (i = 0; i < f->n_series; i++) {
        for (k = 0; k < f->n_labels; k++)
            if (strncmp(f->series[i].values[k], vals[k], VALUE_MAX_LEN - 1) != 0)
                break;
        if (k == f->n_labels)
            return &f->series[i];
    }
    if (f->n_series >= IHA_METRICS_MAX_SERIES) {
        /* The last slot collects every label set beyond the bound. */
        s = &f->series[IHA_METRICS_MAX_SERIES - 1];
        for (k = 0; k < f->n_labels; k++)
            snprintf(s->values[k], VALUE_MAX_LEN, "other");
        return s;
    }
    if (f->n_series % 16 == 0) {
        struct series *grown = realloc(f->series, (f->n_series + 16) * sizeof(*grown));
        if (!grown)
            return NULL;
        f->series = grown;
    }
    s = &f->series[f->n_series++];
    memset(s, 0, sizeof(*s));
    for (k = 0; k < f->n_labels; k++)
        snprintf(s->values[k], VALUE_MAX_LEN, "%s", vals[k]);
    return s;
}

enum op { OP_ADD, OP_SET, OP_OBSERVE };

static void apply(struct iha_metrics *m, const char *name, double v, enum op op, va_list ap)
{
    struct family *f;
    struct series *s;

    if (!m || isnan(v))
        return;
    pthread_mutex_lock(&m->lock);
    f = find(m, name);
    if (!f)
        goto cleanup;
    if ((op == OP_OBSERVE) != (f->type == IHA_METRIC_HISTOGRAM))
        goto cleanup;
    if (op == OP_SET && f->type != IHA_METRIC_GAUGE)
        goto cleanup;
    if (op == OP_ADD && f->type == IHA_METRIC_COUNTER && v < 0)
        goto cleanup;
    s = series_for(f, ap);
    if (!s)
        goto cleanup;
    if (op == OP_ADD) {
        s->value += v;
    } else if (op == OP_SET) {
        s->value = v;
    } else {
        s->value += v;
        s->count++;
        for (size_t i = 0; i < f->n_bounds; i++)
            if (v <= f->bounds[i])
                s->buckets[i]++;
    }
cleanup:
    pthread_mutex_unlock(&m->lock);
}

void iha_metrics_add(struct iha_metrics *m, const char *name, double v, ...)
{
    va_list ap;

    va_start(ap, v);
    apply(m, name, v, OP_ADD, ap);
    va_end(ap);
}

void iha_metrics_set(struct iha_metrics *m, const char *name, double v, ...)
{
    va_list ap;

    va_start(ap, v);
    apply(m, name, v, OP_SET, ap);
    va_end(ap);
}

void iha_metrics_observe(struct iha_metrics *m, const char *name, double v, ...)
{
    va_list ap;

    va_start(ap, v);
    apply(m, name, v, OP_OBSERVE, ap);
    va_end(ap);
}

double iha_metrics_value(struct iha_metrics *m, const char *name, ...)
{
    struct family *f;
    struct series *s;
    double v = 0;
    size_t before;
    va_list ap;

    pthread_mutex_lock(&m->lock);
    f = find(m, name);
    if (f) {
        before = f->n_series;
        va_start(ap, name);
        s = series_for(f, ap);
        va_end(ap);
        if (s)
            v = s->value;
        /* Reading must not create a series. */
        if (f->n_series > before)
            f->n_series = before;
    }
    pthread_mutex_unlock(&m->lock);
    return v;
}

/* A refused append is remembered: iha_buf_steal() then drops the whole exposition. */
static void put(struct iha_buf *o, const char *s, size_t n)
{
    iha_buf_put(o, s, n);
}

static void puts_(struct iha_buf *o, const char *s)
{
    put(o, s, strlen(s));
}

static void put_number(struct iha_buf *o, double v)
{
    char num[64];

    if (isinf(v))
        snprintf(num, sizeof(num), v > 0 ? "+Inf" : "-Inf");
    else if (v == (double)(long long)v && fabs(v) < 1e15)
        snprintf(num, sizeof(num), "%lld", (long long)v);
    else {
        /* The shortest form that reads back as the same double. */
        snprintf(num, sizeof(num), "%.15g", v);
        if (strtod(num, NULL) != v)
            snprintf(num, sizeof(num), "%.17g", v);
    }
    puts_(o, num);
}

/* Label values escape backslash, double quote and newline. */
static void put_escaped(struct iha_buf *o, const char *s)
{
    for (; *s; s++) {
        if (*s == '\\')
            puts_(o, "\\\\");
        else if (*s == '"')
            puts_(o, "\\\"");
        else if (*s == '\n')
            puts_(o, "\\n");
        else
            put(o, s, 1);
    }
}

static void put_labels(struct iha_buf *o, const struct family *f, const struct series *s,
                       const char *le)
{
    bool any = f->n_labels > 0 || le;

    if (!any)
        return;
    puts_(o, "{");
    for (size_t k = 0; k < f->n_labels; k++) {
        if (k)
            puts_(o, ",");
        puts_(o, f->labels[k]);
        puts_(o, "=\"");
        put_escaped(o, s->values[k]);
        puts_(o, "\"");
    }
    if (le) {
        if (f->n_labels)
            puts_(o, ",");
        puts_(o, "le=\"");
        puts_(o, le);
        puts_(o, "\"");
    }
    puts_(o, "}");
}

static void render_family(struct iha_buf *o, const struct family *f)
{
    static const char *const types[] = {"counter", "gauge", "histogram"};
    char le[64];

    puts_(o, "# HELP ");
    puts_(o, f->name);
    puts_(o, " ");
    puts_(o, f->help);
    puts_(o, "\n# TYPE ");
    puts_(o, f->name);
    puts_(o, " ");
    puts_(o, types[f->type]);
    puts_(o, "\n");
    for (size_t i = 0; i < f->n_series; i++) {
        const struct series *s = &f->series[i];
        if (f->type != IHA_METRIC_HISTOGRAM) {
            puts_(o, f->name);
            put_labels(o, f, s, NULL);
            puts_(o, " ");
            put_number(o, s->value);
            puts_(o, "\n");
            continue;
        }
        for (size_t b = 0; b <= f->n_bounds; b++) {
            if (b < f->n_bounds)
                snprintf(le, sizeof(le), "%g", f->bounds[b]);
            else
                snprintf(le, sizeof(le), "+Inf");
            puts_(o, f->name);
            puts_(o, "_bucket");
            put_labels(o, f, s, le);
            puts_(o, " ");
            put_number(o, b < f->n_bounds ? (double)s->buckets[b] : (double)s->count);
            puts_(o, "\n");
        }
        puts_(o, f->name);
        puts_(o, "_sum");
        put_labels(o, f, s, NULL);
        puts_(o, " ");
        put_number(o, s->value);
        puts_(o, "\n");
        puts_(o, f->name);
        puts_(o, "_count");
        put_labels(o, f, s, NULL);
        puts_(o, " ");
        put_number(o, (double)s->count);
        puts_(o, "\n");
    }
}

char *iha_metrics_render(struct iha_metrics *m)
{
    struct iha_buf o = {0};

    pthread_mutex_lock(&m->lock);
    for (size_t i = 0; i < m->n_families; i++)
        render_family(&o, &m->families[i]);
    pthread_mutex_unlock(&m->lock);
    return iha_buf_steal(&o);
}

/* ---- the gateway's own families ---- */

static const double latency_buckets[] = {0.05, 0.1, 0.25, 0.5, 1,    2.5, 5,
                                         10,   30,  60,   300, 1800, 3600};

static const struct {
    const char *name;
    enum iha_metric_type type;
    const char *labels;
    const char *help;
} gateway_families[] = {
    {"iha_gateway_build_info", IHA_METRIC_GAUGE, "version", "Build information; always 1."},
    {"iha_gateway_alerts_received_total", IHA_METRIC_COUNTER, "source,status",
     "Alerts received, by source (alertmanager, nagios, native) and status (firing, resolved; "
     "notification for native input)."},
    {"iha_gateway_alerts_mapped_total", IHA_METRIC_COUNTER, "rule",
     "Notifications produced by mapping rules, by rule."},
    {"iha_gateway_alerts_dropped_total", IHA_METRIC_COUNTER, "reason,rule",
     "Alerts dropped by mapping, by reason (no_rule, resolved, extraction_failed, invalid, "
     "other) and the rule that decided (empty when none matched)."},
    {"iha_gateway_notifications_deduplicated_total", IHA_METRIC_COUNTER, "",
     "Notifications not sent because an equal one was queued or delivered within the dedupe "
     "window."},
    {"iha_gateway_notifications_queued_total", IHA_METRIC_COUNTER, "",
     "Notifications stored durably in the queue."},
    {"iha_gateway_deliveries_total", IHA_METRIC_COUNTER, "outcome,code",
     "Delivery attempts to Instance HA, by outcome (delivered, duplicate, maintenance, rejected, "
     "auth_error, retry) and HTTP status code (0 for a transport error)."},
    {"iha_gateway_notifications_dead_lettered_total", IHA_METRIC_COUNTER, "",
     "Notifications that ended in the dead-letter file."},
    {"iha_gateway_queue_depth", IHA_METRIC_GAUGE, "",
     "Notifications in the durable queue waiting for delivery."},
    {"iha_gateway_queue_oldest_age_seconds", IHA_METRIC_GAUGE, "",
     "Age of the oldest notification in the queue; 0 when it is empty."},
    {"iha_gateway_delivery_latency_seconds", IHA_METRIC_HISTOGRAM, "",
     "Time from receiving an alert to the final outcome of its notification."},
    {"iha_gateway_http_requests_total", IHA_METRIC_COUNTER, "route,code",
     "HTTP requests answered, by route and status code."},
    {"iha_gateway_auth_basic_verifications_total", IHA_METRIC_COUNTER, "result",
     "Password hashes computed for HTTP basic auth, by result (accepted, refused)."},
    {"iha_gateway_auth_basic_verifications_pending", IHA_METRIC_GAUGE, "",
     "Basic auth password hashes queued or running (sampled when scraped)."},
    {"iha_gateway_auth_basic_busy_total", IHA_METRIC_COUNTER, "",
     "Requests answered 503 because their basic credential could not be checked now."},
    {"iha_gateway_http_connections_closed_total", IHA_METRIC_COUNTER, "reason",
     "Connections closed by the gateway before their request was authenticated: past the "
     "deadline for the whole request (deadline), or the oldest over the cap on such "
     "connections (untrusted_limit)."},
    {"iha_gateway_config_last_reload_successful", IHA_METRIC_GAUGE, "",
     "Whether the last configuration reload attempt succeeded (1) or failed (0)."},
    {"iha_gateway_config_last_reload_success_timestamp_seconds", IHA_METRIC_GAUGE, "",
     "Unix time of the last successful configuration load (start or reload)."},
    {"iha_gateway_config_reloads_total", IHA_METRIC_COUNTER, "result",
     "Configuration reload attempts, by result (success, failure)."},
    {"iha_gateway_token_renewals_total", IHA_METRIC_COUNTER, "result",
     "Keystone service token renewals, by result (success, failure)."},
    {"iha_gateway_policy_notifications", IHA_METRIC_GAUGE, "state",
     "Evacuating notifications the safety policy holds back, by state (settling, waiting for "
     "the rate limit, held)."},
    {"iha_gateway_policy_held", IHA_METRIC_GAUGE, "reason",
     "Held evacuating notifications, by reason (storm, flapping, deadman)."},
    {"iha_gateway_policy_storm_guard_tripped", IHA_METRIC_GAUGE, "",
     "Whether the storm guard is tripped (1): too many hosts failed within its window."},
    {"iha_gateway_policy_heartbeat_missing", IHA_METRIC_GAUGE, "",
     "Whether the monitoring's heartbeat (policy.heartbeat) is missing (1)."},
    {"iha_gateway_policy_hosts_in_window", IHA_METRIC_GAUGE, "",
     "Distinct hosts with an evacuating notification within the storm guard's window."},
    {"iha_gateway_policy_rate_limit_tokens", IHA_METRIC_GAUGE, "",
     "Evacuations that may go now under the rate limit (its token bucket's level)."},
    {"iha_gateway_policy_flapping_hosts", IHA_METRIC_GAUGE, "",
     "Hosts flapping now (fired and resolved policy.flapping.count times in its window)."},
    {"iha_gateway_policy_decisions_total", IHA_METRIC_COUNTER, "decision",
     "Safety policy decisions, by decision (released, held, flapped, expired)."},
};

enum iha_rc iha_metrics_register_gateway(struct iha_metrics *m, const char *version)
{
    enum iha_rc rc = IHA_OK;

    for (size_t i = 0; i < sizeof(gateway_families) / sizeof(gateway_families[0]); i++) {
        bool hist = gateway_families[i].type == IHA_METRIC_HISTOGRAM;
        rc = iha_metrics_register(m, gateway_families[i].name, gateway_families[i].type,
                                  gateway_families[i].help, gateway_families[i].labels,
                                  hist ? latency_buckets : NULL,
                                  hist ? sizeof(latency_buckets) / sizeof(latency_buckets[0]) : 0);
        if (rc != IHA_OK)
            return rc;
    }
    iha_metrics_set(m, "iha_gateway_build_info", 1, version);
    iha_metrics_set(m, "iha_gateway_config_last_reload_successful", 1);
    /* Counters with a fixed label set start at 0 so rates and alerts see them from the start. */
    iha_metrics_add(m, "iha_gateway_config_reloads_total", 0, "success");
    iha_metrics_add(m, "iha_gateway_config_reloads_total", 0, "failure");
    iha_metrics_add(m, "iha_gateway_token_renewals_total", 0, "success");
    iha_metrics_add(m, "iha_gateway_token_renewals_total", 0, "failure");
    iha_metrics_add(m, "iha_gateway_notifications_deduplicated_total", 0);
    iha_metrics_add(m, "iha_gateway_auth_basic_verifications_total", 0, "accepted");
    iha_metrics_add(m, "iha_gateway_auth_basic_verifications_total", 0, "refused");
    iha_metrics_add(m, "iha_gateway_auth_basic_busy_total", 0);
    iha_metrics_add(m, "iha_gateway_http_connections_closed_total", 0, "deadline");
    iha_metrics_add(m, "iha_gateway_http_connections_closed_total", 0, "untrusted_limit");
    iha_metrics_set(m, "iha_gateway_auth_basic_verifications_pending", 0);
    iha_metrics_add(m, "iha_gateway_notifications_queued_total", 0);
    iha_metrics_add(m, "iha_gateway_notifications_dead_lettered_total", 0);
    iha_metrics_set(m, "iha_gateway_queue_depth", 0);
    iha_metrics_set(m, "iha_gateway_queue_oldest_age_seconds", 0);
    return IHA_OK;
}
