/* SPDX-License-Identifier: Apache-2.0 */
/** @file notification.c @brief Instance HA notification: schema, bodies, dedupe key. */
#include "notification.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

static const char *const ntype_masakari[] = {"COMPUTE_HOST", "VM", "PROCESS"};
static const char *const ntype_xloud[] = {"COMPUTE_HOST", "COMPUTE_INSTANCE", "COMPUTE_PROCESS"};

int iha_ntype_parse(const char *s, enum iha_ntype *out)
{
    for (int i = 0; i < 3; i++) {
        if (strcmp(s, ntype_masakari[i]) == 0 || strcmp(s, ntype_xloud[i]) == 0) {
            *out = (enum iha_ntype)i;
            return 0;
        }
    }
    return -1;
}

const char *iha_ntype_name(enum iha_ntype t, enum iha_dialect dialect)
{
    if ((unsigned)t > IHA_NTYPE_PROCESS)
        return "?";
    return dialect == IHA_DIALECT_XLOUD ? ntype_xloud[t] : ntype_masakari[t];
}

int iha_dialect_parse(const char *s, enum iha_dialect *out)
{
    if (strcmp(s, "masakari") == 0)
        *out = IHA_DIALECT_MASAKARI;
    else if (strcmp(s, "xloud") == 0)
        *out = IHA_DIALECT_XLOUD;
    else
        return -1;
    return 0;
}

const char *iha_dialect_name(enum iha_dialect d)
{
    return d == IHA_DIALECT_XLOUD ? "xloud" : "masakari";
}

void iha_notification_init(struct iha_notification *n)
{
    memset(n, 0, sizeof(*n));
}

void iha_notification_clear(struct iha_notification *n)
{
    if (!n)
        return;
    json_decref(n->payload);
    memset(n, 0, sizeof(*n));
}

enum iha_rc iha_notification_copy(struct iha_notification *dst, const struct iha_notification *src)
{
    *dst = *src;
    dst->payload = NULL;
    if (src->payload) {
        dst->payload = json_deep_copy(src->payload);
        if (!dst->payload)
            return IHA_E_NOMEM;
    }
    return IHA_OK;
}

static bool chars_ok(const char *s, const char *extra)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9'))
            continue;
        if (strchr(extra, *p))
            continue;
        return false;
    }
    return true;
}

static bool in_set(const char *v, const char *const *set)
{
    for (; *set; set++)
        if (strcmp(v, *set) == 0)
            return true;
    return false;
}

/* The per-type rules of Masakari's create(): allowed keys, required keys, enums. */
struct payload_key {
    const char *name;
    bool required;
    const char *const *allowed; /* NULL: any string */
};

static const char *const events[] = {"STARTED", "STOPPED", NULL};
static const char *const host_statuses[] = {"NORMAL", "UNKNOWN", NULL};
static const char *const cluster_statuses[] = {"ONLINE", "OFFLINE", NULL};

static const struct payload_key host_keys[] = {
    {"event", true, events},
    {"host_status", false, host_statuses},
    {"cluster_status", false, cluster_statuses},
    {NULL, false, NULL},
};
static const struct payload_key process_keys[] = {
    {"event", true, events},
    {"process_name", true, NULL},
    {NULL, false, NULL},
};
static const struct payload_key vm_keys[] = {
    {"event", true, NULL},
    {"instance_uuid", true, NULL},
    {"vir_domain_event", true, NULL},
    {NULL, false, NULL},
};

static bool is_uuid(const char *s)
{
    static const char pattern[] = "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx";
    size_t len = strlen(s);

    /* Masakari's format checker also takes the 32-digit form without dashes. */
    if (len == 32)
        return chars_ok(s, "") && strspn(s, "0123456789abcdefABCDEF") == 32;
    if (len != sizeof(pattern) - 1)
        return false;
    for (size_t i = 0; i < len; i++) {
        if (pattern[i] == '-') {
            if (s[i] != '-')
                return false;
        } else if (!s[i] || !strchr("0123456789abcdefABCDEF", s[i])) {
            return false;
        }
    }
    return true;
}

enum iha_rc iha_notification_validate(const struct iha_notification *n, struct iha_err *err)
{
    const struct payload_key *keys;
    const char *k;
    json_t *v;
    char field[160];

    if (n->hostname[0] == '\0') {
        iha_err_set(err, "hostname", "hostname is empty");
        return IHA_E_INVAL;
    }
    if (!chars_ok(n->hostname, "-._")) {
        iha_err_set(err, "hostname",
                    "hostname \"%s\" does not match ^[a-zA-Z0-9-._]*$ (Instance HA host names "
                    "are Nova compute host names)",
                    n->hostname);
        return IHA_E_INVAL;
    }
    if (!json_is_object(n->payload)) {
        iha_err_set(err, "payload", "payload must be an object");
        return IHA_E_INVAL;
    }
    switch (n->type) {
    case IHA_NTYPE_COMPUTE_HOST:
        keys = host_keys;
        break;
    case IHA_NTYPE_PROCESS:
        keys = process_keys;
        break;
    case IHA_NTYPE_VM:
        keys = vm_keys;
        break;
    default:
        iha_err_set(err, "type", "unknown type");
        return IHA_E_INVAL;
    }
    json_object_foreach(n->payload, k, v)
    {
        const struct payload_key *pk;
        const char *s;

        snprintf(field, sizeof(field), "payload.%s", k);
        if (strlen(k) < 1 || strlen(k) > 255 || !chars_ok(k, "-_:. ")) {
            iha_err_set(err, field, "payload key \"%s\" is not allowed by Instance HA", k);
            return IHA_E_INVAL;
        }
        if (!json_is_string(v)) {
            iha_err_set(err, field, "payload value of \"%s\" must be a string", k);
            return IHA_E_INVAL;
        }
        s = json_string_value(v);
        if (strlen(s) > 255) {
            iha_err_set(err, field, "payload value of \"%s\" is longer than 255 characters", k);
            return IHA_E_INVAL;
        }
        for (pk = keys; pk->name; pk++)
            if (strcmp(pk->name, k) == 0)
                break;
        if (!pk->name) {
            iha_err_set(err, field, "payload key \"%s\" is not allowed for type %s", k,
                        iha_ntype_name(n->type, IHA_DIALECT_MASAKARI));
            return IHA_E_INVAL;
        }
        if (pk->allowed && !in_set(s, pk->allowed)) {
            iha_err_set(err, field, "\"%s\" is not a valid %s for type %s", s, k,
                        iha_ntype_name(n->type, IHA_DIALECT_MASAKARI));
            return IHA_E_INVAL;
        }
        if (!pk->allowed && s[0] == '\0') {
            iha_err_set(err, field, "payload value of \"%s\" is empty", k);
            return IHA_E_INVAL;
        }
        if (n->type == IHA_NTYPE_VM && strcmp(k, "instance_uuid") == 0 && !is_uuid(s)) {
            iha_err_set(err, field, "instance_uuid \"%s\" is not a UUID", s);
            return IHA_E_INVAL;
        }
    }
    for (const struct payload_key *pk = keys; pk->name; pk++) {
        if (pk->required && !json_object_get(n->payload, pk->name)) {
            snprintf(field, sizeof(field), "payload.%s", pk->name);
            iha_err_set(err, field, "payload.%s is required for type %s", pk->name,
                        iha_ntype_name(n->type, IHA_DIALECT_MASAKARI));
            return IHA_E_INVAL;
        }
    }
    return IHA_OK;
}

void iha_time_format(time_t t, char out[IHA_TIME_LEN])
{
    struct tm tm;

    gmtime_r(&t, &tm);
    if (strftime(out, IHA_TIME_LEN, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        out[0] = '\0';
}

void iha_id_new(char out[IHA_ID_LEN])
{
    unsigned char raw[8] = {0};
    static const char hex[] = "0123456789abcdef";

    if (getrandom(raw, sizeof(raw), 0) != (ssize_t)sizeof(raw)) {
        /* Ids only correlate log lines; uniqueness, not secrecy, matters. */
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        memcpy(raw, &ts.tv_nsec, sizeof(ts.tv_nsec) < 8 ? sizeof(ts.tv_nsec) : 8);
    }
    for (int i = 0; i < 8; i++) {
        out[2 * i] = hex[raw[i] >> 4];
        out[2 * i + 1] = hex[raw[i] & 15];
    }
    out[16] = '\0';
}

static json_t *fields(const struct iha_notification *n, enum iha_dialect dialect)
{
    json_t *o = json_object();

    /* set_new steals its value even when it fails, so nothing leaks on the way out. */
    if (!o ||
        json_object_set_new(o, "payload",
                            n->payload ? json_deep_copy(n->payload) : json_object()) ||
        json_object_set_new(o, "type", json_string(iha_ntype_name(n->type, dialect))) ||
        json_object_set_new(o, "hostname", json_string(n->hostname)) ||
        json_object_set_new(o, "generated_time", json_string(n->generated_time))) {
        json_decref(o);
        return NULL;
    }
    return o;
}

json_t *iha_notification_body(const struct iha_notification *n, enum iha_dialect dialect)
{
    json_t *inner = fields(n, dialect);

    if (!inner || dialect == IHA_DIALECT_XLOUD)
        return inner;
    return json_pack("{s:o}", "notification", inner);
}

json_t *iha_notification_to_json(const struct iha_notification *n)
{
    json_t *o = fields(n, IHA_DIALECT_MASAKARI);

    if (!o)
        return NULL;
    if ((n->id[0] && json_object_set_new(o, "id", json_string(n->id))) ||
        (n->rule[0] && json_object_set_new(o, "rule", json_string(n->rule)))) {
        json_decref(o);
        return NULL;
    }
    return o;
}

enum iha_rc iha_notification_key(const struct iha_notification *n, char *out, size_t size)
{
    char *payload = NULL;
    int len;

    if (n->payload)
        payload = json_dumps(n->payload, JSON_COMPACT | JSON_SORT_KEYS);
    len = snprintf(out, size, "%s|%s|%s", iha_ntype_name(n->type, IHA_DIALECT_MASAKARI),
                   n->hostname, payload ? payload : "{}");
    free(payload);
    if (len < 0 || (size_t)len >= size)
        return IHA_E_LIMIT;
    return IHA_OK;
}

static const char *payload_str(const struct iha_notification *n, const char *key)
{
    const char *s = json_string_value(json_object_get(n->payload, key));

    return s ? s : "";
}

bool iha_notification_evacuates(const struct iha_notification *n)
{
    return n->type == IHA_NTYPE_COMPUTE_HOST && strcmp(payload_str(n, "event"), "STOPPED") == 0 &&
           strcmp(payload_str(n, "host_status"), "NORMAL") == 0;
}

bool iha_notification_host_back(const struct iha_notification *n)
{
    return n->type == IHA_NTYPE_COMPUTE_HOST && strcmp(payload_str(n, "event"), "STARTED") == 0;
}
