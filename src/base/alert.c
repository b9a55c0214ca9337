/* SPDX-License-Identifier: Apache-2.0 */
/** @file alert.c @brief The common alert record. */
#include "alert.h"

#include <stdlib.h>
#include <string.h>

const char *iha_source_name(enum iha_source s)
{
    switch (s) {
    case IHA_SOURCE_ALERTMANAGER:
        return "alertmanager";
    case IHA_SOURCE_NAGIOS:
        return "nagios";
    case IHA_SOURCE_NATIVE:
        return "native";
    }
    return "unknown";
}

int iha_source_parse(const char *s, enum iha_source *out)
{
    if (strcmp(s, "alertmanager") == 0)
        *out = IHA_SOURCE_ALERTMANAGER;
    else if (strcmp(s, "nagios") == 0)
        *out = IHA_SOURCE_NAGIOS;
    else if (strcmp(s, "native") == 0)
        *out = IHA_SOURCE_NATIVE;
    else
        return -1;
    return 0;
}

const char *iha_alert_status_name(enum iha_alert_status s)
{
    return s == IHA_ALERT_RESOLVED ? "resolved" : "firing";
}

void iha_alert_init(struct iha_alert *a, enum iha_source source)
{
    memset(a, 0, sizeof(*a));
    a->source = source;
}

static void clear_kvs(struct iha_kv *kv, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(kv[i].name);
        free(kv[i].value);
    }
}

void iha_alert_clear(struct iha_alert *a)
{
    if (!a)
        return;
    clear_kvs(a->labels, a->n_labels);
    clear_kvs(a->annotations, a->n_annotations);
    free(a->starts_at);
    free(a->ends_at);
    free(a->fingerprint);
    memset(a, 0, sizeof(*a));
}

static enum iha_rc set_kv(struct iha_kv *kv, size_t *n, const char *name, const char *value)
{
    char *v;

    if (strlen(value) > IHA_ALERT_MAX_VALUE || strlen(name) > IHA_ALERT_MAX_VALUE)
        return IHA_E_LIMIT;
    for (size_t i = 0; i < *n; i++) {
        if (strcmp(kv[i].name, name) == 0) {
            v = strdup(value);
            if (!v)
                return IHA_E_NOMEM;
            free(kv[i].value);
            kv[i].value = v;
            return IHA_OK;
        }
    }
    if (*n >= IHA_ALERT_MAX_LABELS)
        return IHA_E_LIMIT;
    kv[*n].name = strdup(name);
    kv[*n].value = strdup(value);
    if (!kv[*n].name || !kv[*n].value) {
        free(kv[*n].name);
        free(kv[*n].value);
        kv[*n].name = kv[*n].value = NULL;
        return IHA_E_NOMEM;
    }
    (*n)++;
    return IHA_OK;
}

enum iha_rc iha_alert_set_label(struct iha_alert *a, const char *name, const char *value)
{
    return set_kv(a->labels, &a->n_labels, name, value);
}

enum iha_rc iha_alert_set_annotation(struct iha_alert *a, const char *name, const char *value)
{
    return set_kv(a->annotations, &a->n_annotations, name, value);
}

static const char *get_kv(const struct iha_kv *kv, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(kv[i].name, name) == 0)
            return kv[i].value;
    return "";
}

const char *iha_alert_label(const struct iha_alert *a, const char *name)
{
    return get_kv(a->labels, a->n_labels, name);
}

const char *iha_alert_annotation(const struct iha_alert *a, const char *name)
{
    return get_kv(a->annotations, a->n_annotations, name);
}

const char *iha_alert_name(const struct iha_alert *a)
{
    const char *n = iha_alert_label(a, "alertname");

    if (!*n)
        n = iha_alert_label(a, "hostname");
    return n;
}

static bool is_name_start(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static bool is_name_char(char c)
{
    return is_name_start(c) || (c >= '0' && c <= '9');
}

size_t iha_label_name_span(const char *s, size_t len)
{
    size_t n = 0;

    if (len == 0 || !is_name_start(s[0]))
        return 0;
    while (++n < len && is_name_char(s[n]))
        ;
    return n;
}

bool iha_label_name_valid(const char *s)
{
    size_t len = strlen(s);

    return len > 0 && iha_label_name_span(s, len) == len;
}

const char *iha_drop_name(enum iha_drop d)
{
    switch (d) {
    case IHA_DROP_NONE:
        return "";
    case IHA_DROP_NO_RULE:
        return "no_rule";
    case IHA_DROP_RESOLVED:
        return "resolved";
    case IHA_DROP_EXTRACTION:
        return "extraction_failed";
    case IHA_DROP_INVALID:
        return "invalid";
    case IHA_DROP_OTHER:
        return "other";
    case IHA_DROP_MALFORMED:
        return "malformed";
    case IHA_DROP_OVER_LIMIT:
        return "over_limit";
    }
    return "other";
}
