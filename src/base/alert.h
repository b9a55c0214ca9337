/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file alert.h
 * @brief The common alert record every adapter produces and the mapping engine reads.
 *
 * An alert is a set of labels and annotations with a status, independent of the
 * sender's format. Label lookup treats a missing label as the empty string, as
 * Alertmanager matchers do.
 */
#ifndef IHA_ALERT_H
#define IHA_ALERT_H

#include <stdbool.h>
#include <stddef.h>

#include "rc.h"

/** Hard bounds on sender-controlled sizes. */
#define IHA_ALERT_MAX_LABELS 128
#define IHA_ALERT_MAX_VALUE 4096

enum iha_source { IHA_SOURCE_ALERTMANAGER, IHA_SOURCE_NAGIOS, IHA_SOURCE_NATIVE };
enum iha_alert_status { IHA_ALERT_FIRING, IHA_ALERT_RESOLVED };

struct iha_kv {
    char *name;
    char *value;
};

/** Plain data; all strings are owned by the record. Initialise with iha_alert_init(). */
struct iha_alert {
    enum iha_source source;
    enum iha_alert_status status;
    struct iha_kv labels[IHA_ALERT_MAX_LABELS];
    size_t n_labels;
    struct iha_kv annotations[IHA_ALERT_MAX_LABELS];
    size_t n_annotations;
    char *starts_at;   /**< as sent (RFC 3339), may be NULL */
    char *ends_at;     /**< as sent, may be NULL */
    char *fingerprint; /**< Alertmanager's label-set hash, may be NULL */
};

/** @return the source's name ("alertmanager", "nagios", "native"). */
const char *iha_source_name(enum iha_source s);

/** @return 0 and sets @p out for a source name, -1 otherwise. */
int iha_source_parse(const char *s, enum iha_source *out);

/** @return "firing" or "resolved". */
const char *iha_alert_status_name(enum iha_alert_status s);

/**
 * Why an alert, or one of its outcomes, sends nothing. Carried with the outcome as a
 * value; iha_drop_name() renders it, the one place the metric label comes from.
 */
enum iha_drop {
    IHA_DROP_NONE,       /**< not dropped */
    IHA_DROP_NO_RULE,    /**< no rule matched */
    IHA_DROP_RESOLVED,   /**< the rule sends nothing for resolved alerts */
    IHA_DROP_EXTRACTION, /**< a field could not be extracted (no match, too long) */
    IHA_DROP_INVALID,    /**< the mapped notification is not valid */
    IHA_DROP_OTHER,      /**< any other rule decision (e.g. nothing sent for firing) */
    IHA_DROP_MALFORMED,  /**< the adapter could not read the alert (not mapped at all) */
    IHA_DROP_OVER_LIMIT, /**< the alert is over a size limit (not mapped at all) */
};

/** @return the label of @p d in iha_gateway_alerts_dropped_total{reason}. */
const char *iha_drop_name(enum iha_drop d);

/** Zeroes @p a and sets its source. */
void iha_alert_init(struct iha_alert *a, enum iha_source source);

/** Frees every string owned by @p a and zeroes it. NULL-safe. */
void iha_alert_clear(struct iha_alert *a);

/**
 * Sets a label (copying both strings); replaces an existing value.
 * @return IHA_OK, IHA_E_LIMIT when there are already IHA_ALERT_MAX_LABELS labels or
 *         the value is longer than IHA_ALERT_MAX_VALUE, IHA_E_NOMEM.
 */
enum iha_rc iha_alert_set_label(struct iha_alert *a, const char *name,
                                const char *value) IHA_MUST_CHECK;

/** Same as iha_alert_set_label() for annotations. */
enum iha_rc iha_alert_set_annotation(struct iha_alert *a, const char *name,
                                     const char *value) IHA_MUST_CHECK;

/** @return the label's value (borrowed), or "" when the alert has no such label. */
const char *iha_alert_label(const struct iha_alert *a, const char *name);

/** @return the annotation's value (borrowed), or "" when absent. */
const char *iha_alert_annotation(const struct iha_alert *a, const char *name);

/**
 * @return true when @p s is a valid label name, `[a-zA-Z_][a-zA-Z0-9_]*` as in Prometheus and
 *         Alertmanager (so not empty). @p s must not be NULL.
 */
bool iha_label_name_valid(const char *s);

/**
 * @return the length of the longest label name at the start of the @p len bytes of @p s
 *         (see iha_label_name_valid()), or 0 when @p s does not start with one. Reads no byte
 *         at or past @p len.
 */
size_t iha_label_name_span(const char *s, size_t len);

/** @return a short description for logs: "alertname=X hostname=Y" style (borrowed label values). */
const char *iha_alert_name(const struct iha_alert *a);

#endif
