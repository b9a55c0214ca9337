/* SPDX-License-Identifier: Apache-2.0 */
/** @file native.c @brief Adapter for the Instance HA payload, flat or wrapped. */
#include "native.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

static bool digits(const char **p, int n)
{
    for (int i = 0; i < n; i++, (*p)++)
        if (!isdigit((unsigned char)**p))
            return false;
    return true;
}

/* ISO 8601 as Instance HA accepts it: a date, optionally a time with fraction and zone. */
static bool iso8601_ok(const char *s)
{
    const char *p = s;

    if (!digits(&p, 4) || *p++ != '-' || !digits(&p, 2) || *p++ != '-' || !digits(&p, 2))
        return false;
    if (!*p)
        return true;
    if (*p != 'T' && *p != ' ')
        return false;
    p++;
    if (!digits(&p, 2) || *p++ != ':' || !digits(&p, 2))
        return false;
    if (*p == ':') {
        p++;
        if (!digits(&p, 2))
            return false;
        if (*p == '.') {
            p++;
            if (!isdigit((unsigned char)*p))
                return false;
            while (isdigit((unsigned char)*p))
                p++;
        }
    }
    if (*p == 'Z')
        return p[1] == '\0';
    if (*p == '+' || *p == '-') {
        p++;
        if (!digits(&p, 2))
            return false;
        if (*p == ':')
            p++;
        return digits(&p, 2) && *p == '\0';
    }
    return *p == '\0';
}

enum iha_rc iha_native_parse(const json_t *body, struct iha_notification *out, struct iha_err *err)
{
    const json_t *inner = body, *type, *hostname, *payload, *gt;
    const char *prefix = "";
    const char *k;
    json_t *v;
    char field[64];

    iha_notification_init(out);
    if (!json_is_object(body)) {
        iha_err_set(err, "", "expected an Instance HA notification (a JSON object)");
        return IHA_E_INVAL;
    }
    if (json_object_get(body, "notification")) {
        inner = json_object_get(body, "notification");
        prefix = "notification.";
        if (json_object_size(body) != 1) {
            iha_err_set(err, "", "Additional properties are not allowed next to \"notification\"");
            return IHA_E_INVAL;
        }
        if (!json_is_object(inner)) {
            iha_err_set(err, "notification", "\"notification\" must be an object");
            return IHA_E_INVAL;
        }
    }
    json_object_foreach((json_t *)inner, k, v)
    {
        if (strcmp(k, "type") && strcmp(k, "hostname") && strcmp(k, "payload") &&
            strcmp(k, "generated_time")) {
            snprintf(field, sizeof(field), "%s%s", prefix, k);
            iha_err_set(err, field, "Additional properties are not allowed (\"%s\" was unexpected)",
                        k);
            return IHA_E_INVAL;
        }
    }
    type = json_object_get(inner, "type");
    snprintf(field, sizeof(field), "%stype", prefix);
    if (!json_is_string(type) || iha_ntype_parse(json_string_value(type), &out->type) != 0) {
        iha_err_set(err, field,
                    "type must be one of COMPUTE_HOST, VM, PROCESS (or COMPUTE_INSTANCE, "
                    "COMPUTE_PROCESS)");
        return IHA_E_INVAL;
    }
    hostname = json_object_get(inner, "hostname");
    snprintf(field, sizeof(field), "%shostname", prefix);
    if (!json_is_string(hostname) || json_string_length(hostname) == 0 ||
        json_string_length(hostname) > IHA_HOSTNAME_MAX) {
        iha_err_set(err, field, "hostname must be a string of 1 to 255 characters");
        return IHA_E_INVAL;
    }
    snprintf(out->hostname, sizeof(out->hostname), "%s", json_string_value(hostname));
    payload = json_object_get(inner, "payload");
    snprintf(field, sizeof(field), "%spayload", prefix);
    if (!json_is_object(payload)) {
        iha_err_set(err, field, "payload must be an object");
        return IHA_E_INVAL;
    }
    out->payload = json_deep_copy(payload);
    if (!out->payload)
        return IHA_E_NOMEM;
    gt = json_object_get(inner, "generated_time");
    if (gt) {
        snprintf(field, sizeof(field), "%sgenerated_time", prefix);
        if (!json_is_string(gt) || json_string_length(gt) >= IHA_TIME_LEN ||
            !iso8601_ok(json_string_value(gt))) {
            iha_err_set(err, field, "generated_time must be an ISO 8601 date-time string");
            goto invalid;
        }
        snprintf(out->generated_time, sizeof(out->generated_time), "%s", json_string_value(gt));
    }
    if (iha_notification_validate(out, err) != IHA_OK) {
        if (*prefix && err) {
            char tmp[sizeof(err->field)];
            size_t plen = strlen(prefix), flen = strlen(err->field);
            /* Field names are short; one that would not fit keeps its unprefixed form. */
            if (plen + flen < sizeof(err->field)) {
                memcpy(tmp, err->field, flen + 1);
                memcpy(err->field, prefix, plen);
                memcpy(err->field + plen, tmp, flen + 1);
            }
        }
        goto invalid;
    }
    return IHA_OK;
invalid:
    iha_notification_clear(out);
    return IHA_E_INVAL;
}
