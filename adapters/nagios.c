/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file nagios.c
 * @brief Adapter for Nagios-family notification records (iha-notify, curl -d).
 *
 * Keys of the record:
 *   - lowercase label names ([a-z][a-z0-9_]*, at most LABEL_NAME_MAX bytes) become labels
 *     as they are; the well-known ones (hostname, host_state, state_type, notification_type,
 *     service_desc, service_state, what, dialect) are normalised to Nagios' vocabulary;
 *   - custom variables keep Nagios' spelling with the leading underscore and become
 *     lowercase labels with the object kind split off: `_HOSTMASAKARI_SEGMENT` →
 *     `host_masakari_segment`, `_SERVICEFOO` → `service_foo`, `_CONTACTX` → `contact_x`,
 *     any other `_NAME` → `var_name`; characters outside [A-Za-z0-9_] become '_'.
 * Anything else is refused, naming the key, so that a typo never silently changes what
 * the rules see.
 */
#include "nagios.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define LABEL_NAME_MAX 64

/* Vocabulary of the other dialects → Nagios' word, after upper-casing. */
struct alias {
    const char *from;
    const char *to;
};

static const struct alias ntype_aliases[] = {
    {"FLAPPINGEND", "FLAPPINGSTOP"},          /* Icinga 2 */
    {"DOWNTIMEREMOVED", "DOWNTIMECANCELLED"}, /* Icinga 2 filter name */
    {"ACKNOWLEDGMENT", "ACKNOWLEDGEMENT"},    /* American spelling seen in hand-made scripts */
    {NULL, NULL},
};

/* Numeric ids are what $HOSTSTATEID$ and Checkmk's short states carry. */
static const struct alias host_state_aliases[] = {
    {"0", "UP"}, {"1", "DOWN"}, {"2", "UNREACHABLE"}, {"UNREACH", "UNREACHABLE"}, {NULL, NULL},
};

static const struct alias service_state_aliases[] = {
    {"0", "OK"},         {"1", "WARNING"},     {"2", "CRITICAL"},   {"3", "UNKNOWN"},
    {"WARN", "WARNING"}, {"CRIT", "CRITICAL"}, {"UNKN", "UNKNOWN"}, {NULL, NULL},
};

/* Icinga 2's state_type attribute is 0 (soft) / 1 (hard). */
static const struct alias state_type_aliases[] = {
    {"0", "SOFT"},
    {"1", "HARD"},
    {NULL, NULL},
};

static const char *const dialects[] = {"nagios", "icinga2", "naemon", "checkmk", NULL};

static bool label_name_ok(const char *k)
{
    size_t n = strlen(k);

    if (n == 0 || n > LABEL_NAME_MAX || !islower((unsigned char)k[0]))
        return false;
    for (size_t i = 1; i < n; i++)
        if (!islower((unsigned char)k[i]) && !isdigit((unsigned char)k[i]) && k[i] != '_')
            return false;
    return true;
}

/* `_HOSTFOO` → `host_foo`. @return false when @p key cannot name a label. */
static bool custom_label(const char *key, char *out, size_t size)
{
    static const char *const kinds[] = {"HOST", "SERVICE", "CONTACT", NULL};
    const char *rest = key + 1;
    size_t o = 0;

    for (size_t i = 0; kinds[i]; i++) {
        size_t kl = strlen(kinds[i]);
        if (strncmp(rest, kinds[i], kl) == 0 && rest[kl]) {
            for (size_t j = 0; j < kl; j++)
                out[o++] = (char)tolower((unsigned char)kinds[i][j]);
            rest += kl;
            break;
        }
    }
    if (o == 0) {
        memcpy(out, "var", 3);
        o = 3;
    }
    out[o++] = '_';
    if (!*rest)
        return false;
    for (; *rest; rest++) {
        unsigned char c = (unsigned char)*rest;
        if (o + 1 >= size)
            return false;
        out[o++] = isalnum(c) ? (char)tolower(c) : '_';
    }
    out[o] = '\0';
    return o <= LABEL_NAME_MAX;
}

/* Upper-cases @p in into @p out and applies @p aliases. */
static void normalise(const char *in, const struct alias *aliases, char *out, size_t size)
{
    size_t i = 0;

    for (; in[i] && i + 1 < size; i++)
        out[i] = (char)toupper((unsigned char)in[i]);
    out[i] = '\0';
    for (; aliases && aliases->from; aliases++)
        if (strcmp(out, aliases->from) == 0) {
            /* Aliases are short literals; out is at least IHA_ALERT_MAX_VALUE + 1. */
            size_t n = strlen(aliases->to);
            memcpy(out, aliases->to, n + 1);
            return;
        }
}

/* The alias table for a well-known key; @p upper says whether it is normalised at all. */
static const struct alias *aliases_for(const char *key, bool *upper)
{
    *upper = true;
    if (strcmp(key, "notification_type") == 0)
        return ntype_aliases;
    if (strcmp(key, "host_state") == 0)
        return host_state_aliases;
    if (strcmp(key, "service_state") == 0)
        return service_state_aliases;
    if (strcmp(key, "state_type") == 0)
        return state_type_aliases;
    if (strcmp(key, "what") == 0)
        return NULL;
    *upper = false;
    return NULL;
}

static enum iha_rc set_label(struct iha_alert *a, const char *name, const char *value,
                             struct iha_err *err)
{
    enum iha_rc rc = iha_alert_set_label(a, name, value);

    if (rc == IHA_E_LIMIT)
        iha_err_set(err, name, "too many fields or value longer than %d bytes",
                    IHA_ALERT_MAX_VALUE);
    return rc;
}

static enum iha_rc required(const struct iha_alert *a, const char *name, struct iha_err *err)
{
    if (*iha_alert_label(a, name))
        return IHA_OK;
    iha_err_set(err, name, "missing %s (a non-empty string)", name);
    return IHA_E_INVAL;
}

/*
 * After every key is read: the required labels, the defaults (dialect, what), the status,
 * and the record id as the fingerprint.
 */
static enum iha_rc complete(struct iha_alert *a, struct iha_err *err)
{
    enum iha_rc rc;

    rc = required(a, "hostname", err);
    if (rc == IHA_OK)
        rc = required(a, "notification_type", err);
    if (rc != IHA_OK)
        return rc;
    if (!*iha_alert_label(a, "dialect"))
        rc = set_label(a, "dialect", "nagios", err);
    /* Checkmk says what the notification is about; everyone else implies it. */
    if (rc == IHA_OK && !*iha_alert_label(a, "what"))
        rc = set_label(a, "what", *iha_alert_label(a, "service_desc") ? "SERVICE" : "HOST", err);
    if (rc != IHA_OK)
        return rc;
    if (strcmp(iha_alert_label(a, "what"), "HOST") &&
        strcmp(iha_alert_label(a, "what"), "SERVICE")) {
        iha_err_set(err, "what", "what must be HOST or SERVICE");
        return IHA_E_INVAL;
    }
    /* Instance HA has no "resolve": only RECOVERY is resolved, the rules decide the rest. */
    a->status = strcmp(iha_alert_label(a, "notification_type"), "RECOVERY") == 0
                    ? IHA_ALERT_RESOLVED
                    : IHA_ALERT_FIRING;
    if (*iha_alert_label(a, "record_id")) {
        a->fingerprint = strdup(iha_alert_label(a, "record_id"));
        if (!a->fingerprint)
            return IHA_E_NOMEM;
    }
    return IHA_OK;
}

static enum iha_rc parse_one(const json_t *body, struct iha_alert *a, struct iha_err *err)
{
    const char *key;
    json_t *v;
    char name[LABEL_NAME_MAX + 2];
    char *value = NULL;
    enum iha_rc rc = IHA_OK;
    bool known = false;

    value = malloc(IHA_ALERT_MAX_VALUE + 1);
    if (!value)
        return IHA_E_NOMEM;
    json_object_foreach((json_t *)body, key, v)
    {
        bool upper;
        const struct alias *al;

        if (!json_is_string(v)) {
            iha_err_set(err, key, "%s must be a string", key);
            rc = IHA_E_INVAL;
            goto cleanup;
        }
        if (json_string_length(v) > IHA_ALERT_MAX_VALUE) {
            iha_err_set(err, key, "%s is longer than %d bytes", key, IHA_ALERT_MAX_VALUE);
            rc = IHA_E_LIMIT;
            goto cleanup;
        }
        if (key[0] == '_') {
            if (!custom_label(key, name, sizeof(name))) {
                iha_err_set(err, key, "custom variable name '%s' cannot become a label", key);
                rc = IHA_E_INVAL;
                goto cleanup;
            }
            rc = set_label(a, name, json_string_value(v), err);
            if (rc != IHA_OK)
                goto cleanup;
            continue;
        }
        if (!label_name_ok(key)) {
            iha_err_set(err, key,
                        "unexpected key '%s': expected a lowercase label name such as hostname, "
                        "or a custom variable such as _HOSTMASAKARI_SEGMENT",
                        key);
            rc = IHA_E_INVAL;
            goto cleanup;
        }
        al = aliases_for(key, &upper);
        if (upper)
            normalise(json_string_value(v), al, value, IHA_ALERT_MAX_VALUE + 1);
        else if (strcmp(key, "dialect") == 0) {
            size_t i = 0;
            const char *s = json_string_value(v);
            for (; s[i] && i < IHA_ALERT_MAX_VALUE; i++)
                value[i] = (char)tolower((unsigned char)s[i]);
            value[i] = '\0';
            known = false;
            for (size_t d = 0; dialects[d]; d++)
                known = known || strcmp(value, dialects[d]) == 0;
            if (!known) {
                iha_err_set(err, key, "dialect must be nagios, icinga2, naemon or checkmk");
                rc = IHA_E_INVAL;
                goto cleanup;
            }
        } else {
            /* Bounded above: the length was checked against IHA_ALERT_MAX_VALUE. */
            memcpy(value, json_string_value(v), json_string_length(v) + 1);
        }
        rc = set_label(a, key, value, err);
        if (rc != IHA_OK)
            goto cleanup;
    }
    rc = complete(a, err);
cleanup:
    free(value);
    return rc;
}

enum iha_rc iha_nagios_parse(const json_t *body, struct iha_alert **alerts, size_t *n,
                             struct iha_err *err)
{
    struct iha_alert *a = NULL;
    enum iha_rc rc;

    *alerts = NULL;
    *n = 0;
    if (!json_is_object(body)) {
        iha_err_set(err, "", "expected a Nagios notification record (a JSON object of strings)");
        return IHA_E_INVAL;
    }
    a = calloc(1, sizeof(*a));
    if (!a)
        return IHA_E_NOMEM;
    iha_alert_init(a, IHA_SOURCE_NAGIOS);
    rc = parse_one(body, a, err);
    if (rc != IHA_OK) {
        iha_nagios_free(a, 1);
        return rc;
    }
    *alerts = a;
    *n = 1;
    return IHA_OK;
}

void iha_nagios_free(struct iha_alert *alerts, size_t n)
{
    if (!alerts)
        return;
    for (size_t i = 0; i < n; i++)
        iha_alert_clear(&alerts[i]);
    free(alerts);
}
