/* SPDX-License-Identifier: Apache-2.0 */
/** @file alertmanager.c @brief Adapter for Alertmanager's webhook payload, version 4. */
#include "alertmanager.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* @return a copy of @p s cut to IHA_ALERT_MAX_VALUE bytes at a UTF-8 boundary. */
static char *truncated(const char *s)
{
    size_t n = strlen(s);
    char *out;

    if (n > IHA_ALERT_MAX_VALUE) {
        n = IHA_ALERT_MAX_VALUE;
        while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
            n--;
    }
    out = malloc(n + 1);
    if (out) {
        memcpy(out, s, n);
        out[n] = '\0';
    }
    return out;
}

/* Copies a string-to-string object into the alert via @p set. */
static enum iha_rc copy_map(const json_t *obj, struct iha_alert *a, size_t idx, const char *what,
                            enum iha_rc (*set)(struct iha_alert *, const char *, const char *),
                            struct iha_err *err)
{
    const char *k;
    json_t *v;
    char field[160];
    enum iha_rc rc;

    json_object_foreach((json_t *)obj, k, v)
    {
        snprintf(field, sizeof(field), "alerts[%zu].%s.%s", idx, what, k);
        if (!json_is_string(v)) {
            iha_err_set(err, field, "%s values must be strings", what);
            return IHA_E_INVAL;
        }
        rc = set(a, k, json_string_value(v));
        /*
         * Annotations are prose (descriptions, runbooks) that rules rarely read: an
         * oversized one must not cost the whole group, which Alertmanager would never
         * retry after a 4xx. Keep its head, or skip it when there are too many.
         * Labels decide where an evacuation goes and are never altered.
         */
        if (rc == IHA_E_LIMIT && set == iha_alert_set_annotation) {
            rc = IHA_OK;
            if (strlen(k) <= IHA_ALERT_MAX_VALUE && a->n_annotations < IHA_ALERT_MAX_LABELS) {
                char *head = truncated(json_string_value(v));
                if (!head)
                    return IHA_E_NOMEM;
                rc = set(a, k, head);
                free(head);
            }
        }
        if (rc == IHA_E_LIMIT) {
            iha_err_set(err, field, "label value too long (%zu bytes, limit %d)",
                        strlen(json_string_value(v)), IHA_ALERT_MAX_VALUE);
            return rc;
        }
        if (rc != IHA_OK)
            return rc;
    }
    return IHA_OK;
}

static enum iha_rc copy_opt_string(const json_t *alert, const char *key, char **out)
{
    const json_t *v = json_object_get(alert, key);

    if (!json_is_string(v))
        return IHA_OK;
    *out = strdup(json_string_value(v));
    return *out ? IHA_OK : IHA_E_NOMEM;
}

static enum iha_rc parse_alert(const json_t *j, size_t idx, struct iha_alert *a,
                               struct iha_err *err)
{
    char field[64];
    const json_t *status, *labels, *annotations;
    const char *s, *alertname;
    enum iha_rc rc;

    snprintf(field, sizeof(field), "alerts[%zu]", idx);
    if (!json_is_object(j)) {
        iha_err_set(err, field, "each alert must be an object");
        return IHA_E_INVAL;
    }
    /* First what names the alert, so that a refusal can still say which one it was. */
    rc = copy_opt_string(j, "fingerprint", &a->fingerprint);
    if (rc != IHA_OK)
        return rc;
    labels = json_object_get(j, "labels");
    alertname = json_string_value(json_object_get(labels, "alertname"));
    if (alertname && strlen(alertname) <= IHA_ALERT_MAX_VALUE) {
        rc = iha_alert_set_label(a, "alertname", alertname);
        if (rc != IHA_OK)
            return rc;
    }
    status = json_object_get(j, "status");
    s = json_string_value(status);
    snprintf(field, sizeof(field), "alerts[%zu].status", idx);
    if (!s) {
        iha_err_set(err, field, "missing \"status\" (\"firing\" or \"resolved\")");
        return IHA_E_INVAL;
    }
    if (strcmp(s, "firing") == 0) {
        a->status = IHA_ALERT_FIRING;
    } else if (strcmp(s, "resolved") == 0) {
        a->status = IHA_ALERT_RESOLVED;
    } else {
        iha_err_set(err, field, "status must be \"firing\" or \"resolved\"");
        return IHA_E_INVAL;
    }
    snprintf(field, sizeof(field), "alerts[%zu].labels", idx);
    if (!json_is_object(labels)) {
        iha_err_set(err, field, "missing \"labels\" object");
        return IHA_E_INVAL;
    }
    if (json_object_size(labels) > IHA_ALERT_MAX_LABELS) {
        iha_err_set(err, field, "%zu labels, more than the limit of %d", json_object_size(labels),
                    IHA_ALERT_MAX_LABELS);
        return IHA_E_LIMIT;
    }
    rc = copy_map(labels, a, idx, "labels", iha_alert_set_label, err);
    if (rc != IHA_OK)
        return rc;
    annotations = json_object_get(j, "annotations");
    if (annotations && !json_is_null(annotations)) {
        if (!json_is_object(annotations)) {
            snprintf(field, sizeof(field), "alerts[%zu].annotations", idx);
            iha_err_set(err, field, "\"annotations\" must be an object");
            return IHA_E_INVAL;
        }
        rc = copy_map(annotations, a, idx, "annotations", iha_alert_set_annotation, err);
        if (rc != IHA_OK)
            return rc;
    }
    rc = copy_opt_string(j, "startsAt", &a->starts_at);
    if (rc == IHA_OK)
        rc = copy_opt_string(j, "endsAt", &a->ends_at);
    return rc;
}

enum iha_rc iha_alertmanager_open(const json_t *body, size_t *n, size_t *truncated,
                                  struct iha_err *err)
{
    const json_t *version, *list;

    *n = 0;
    if (truncated)
        *truncated = 0;
    if (json_is_array(body)) {
        iha_err_set(err, "",
                    "expected Alertmanager's webhook payload (an object with \"version\": \"4\"), "
                    "got a JSON array: point Alertmanager's webhook_configs at this URL, not "
                    "Prometheus' alerting.alertmanagers");
        return IHA_E_INVAL;
    }
    if (!json_is_object(body)) {
        iha_err_set(err, "", "expected Alertmanager's webhook payload (a JSON object)");
        return IHA_E_INVAL;
    }
    version = json_object_get(body, "version");
    if (!json_is_string(version)) {
        iha_err_set(err, "version",
                    "missing \"version\": this is not Alertmanager's default webhook payload "
                    "(a custom `payload:` template is not supported)");
        return IHA_E_INVAL;
    }
    if (strcmp(json_string_value(version), "4") != 0) {
        iha_err_set(err, "version", "unsupported webhook payload version \"%s\" (expected \"4\")",
                    json_string_value(version));
        return IHA_E_INVAL;
    }
    list = json_object_get(body, "alerts");
    if (!json_is_array(list)) {
        iha_err_set(err, "alerts", "missing \"alerts\" list");
        return IHA_E_INVAL;
    }
    if (truncated && json_integer_value(json_object_get(body, "truncatedAlerts")) > 0)
        *truncated = (size_t)json_integer_value(json_object_get(body, "truncatedAlerts"));
    *n = json_array_size(list);
    return IHA_OK;
}

enum iha_rc iha_alertmanager_read(const json_t *body, size_t i, struct iha_alert *a,
                                  struct iha_err *err)
{
    iha_alert_init(a, IHA_SOURCE_ALERTMANAGER);
    return parse_alert(json_array_get(json_object_get(body, "alerts"), i), i, a, err);
}

enum iha_rc iha_alertmanager_parse(const json_t *body, struct iha_alert **alerts, size_t *n,
                                   struct iha_err *err)
{
    struct iha_alert *out = NULL;
    size_t count = 0, i = 0;
    enum iha_rc rc;

    *alerts = NULL;
    *n = 0;
    rc = iha_alertmanager_open(body, &count, NULL, err);
    if (rc != IHA_OK || count == 0)
        return rc;
    out = calloc(count, sizeof(*out));
    if (!out)
        return IHA_E_NOMEM;
    for (i = 0; i < count; i++) {
        rc = iha_alertmanager_read(body, i, &out[i], err);
        if (rc != IHA_OK)
            goto cleanup;
    }
    *alerts = out;
    *n = count;
    out = NULL;
cleanup:
    if (out)
        iha_alertmanager_free(out, count);
    return rc;
}

void iha_alertmanager_free(struct iha_alert *alerts, size_t n)
{
    if (!alerts)
        return;
    for (size_t i = 0; i < n; i++)
        iha_alert_clear(&alerts[i]);
    free(alerts);
}
