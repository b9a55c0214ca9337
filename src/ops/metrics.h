/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file metrics.h
 * @brief Counters, gauges and histograms rendered in the Prometheus text exposition format.
 *
 * Families are registered once with their label names; series are created on first
 * use from label values. Every family holds at most IHA_METRICS_MAX_SERIES series so a
 * sender cannot grow it without bound (further label sets are counted in one series
 * whose label values are all "other"). Label values are escaped when rendered. All
 * functions are thread-safe.
 */
#ifndef IHA_METRICS_H
#define IHA_METRICS_H

#include <stddef.h>

#include "rc.h"

#define IHA_METRICS_MAX_SERIES 512
#define IHA_METRICS_MAX_LABELS 4

struct iha_metrics;

enum iha_metric_type { IHA_METRIC_COUNTER, IHA_METRIC_GAUGE, IHA_METRIC_HISTOGRAM };

/** @return a new, empty registry or NULL. */
struct iha_metrics *iha_metrics_new(void);

/** Frees @p m. NULL-safe. */
void iha_metrics_free(struct iha_metrics *m);

/**
 * Registers a family. @p labels is a comma-separated list of label names ("" for none,
 * at most IHA_METRICS_MAX_LABELS). Histograms take their upper bounds from @p buckets
 * (ascending, @p n_buckets of them; +Inf is implicit).
 * @return IHA_OK; IHA_E_INVAL for a duplicate name or bad labels; IHA_E_NOMEM.
 */
enum iha_rc iha_metrics_register(struct iha_metrics *m, const char *name, enum iha_metric_type type,
                                 const char *help, const char *labels, const double *buckets,
                                 size_t n_buckets) IHA_MUST_CHECK;

/**
 * Adds @p v to a counter (v >= 0) or gauge. The label values follow in registration order;
 * pass exactly as many as the family has. Unknown family names are ignored (a bug: logged
 * once at debug), so instrumenting code never fails.
 */
void iha_metrics_add(struct iha_metrics *m, const char *name, double v, ...);

/** Sets a gauge. Label values as for iha_metrics_add(). */
void iha_metrics_set(struct iha_metrics *m, const char *name, double v, ...);

/** Records one observation in a histogram. Label values as for iha_metrics_add(). */
void iha_metrics_observe(struct iha_metrics *m, const char *name, double v, ...);

/**
 * @return the exposition text (owned by the caller, free()), families in registration
 *         order, or NULL when out of memory.
 */
char *iha_metrics_render(struct iha_metrics *m);

/** @return the current value of a counter or gauge series (for tests), 0 when absent. */
double iha_metrics_value(struct iha_metrics *m, const char *name, ...);

/* ---- the gateway's own families ------------------------------------------------------- */

/**
 * Registers every iha_gateway_* family (names and labels are listed in README.md,
 * "Metrics") and sets iha_gateway_build_info{version=@p version} to 1 and
 * iha_gateway_config_last_reload_successful to 1.
 * @return IHA_OK, IHA_E_INVAL (a family exists already), IHA_E_NOMEM.
 */
enum iha_rc iha_metrics_register_gateway(struct iha_metrics *m, const char *version) IHA_MUST_CHECK;

#endif
