/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file keystone_catalog.c
 * @brief The service catalog of the token: finding the Instance HA endpoint for the
 *        configured interface and region, and explaining what is there when it is not.
 *
 * Separate because it only reads the catalog the last authentication stored; it neither
 * talks to Keystone nor changes the cache.
 */
#include "keystone_int.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "url.h"

bool iha_keystone_str_is(const json_t *v, const char *s)
{
    return json_is_string(v) && strcmp(json_string_value(v), s) == 0;
}

enum iha_rc iha_keystone_catalog_url(const json_t *catalog, const char *type, const char *interface,
                                     const char *region, char *out, size_t size)
{
    size_t i, j;
    json_t *svc, *ep;

    if (!interface)
        interface = "public";
    json_array_foreach(catalog, i, svc)
    {
        json_t *eps = json_object_get(svc, "endpoints");
        if (!iha_keystone_str_is(json_object_get(svc, "type"), type))
            continue;
        json_array_foreach(eps, j, ep)
        {
            json_t *url = json_object_get(ep, "url");
            int n;
            if (!iha_keystone_str_is(json_object_get(ep, "interface"), interface) ||
                !json_is_string(url))
                continue;
            if (region && !iha_keystone_str_is(json_object_get(ep, "region_id"), region) &&
                !iha_keystone_str_is(json_object_get(ep, "region"), region))
                continue;
            if (iha_url_has_userinfo(json_string_value(url)))
                return IHA_E_INVAL;
            n = snprintf(out, size, "%s", json_string_value(url));
            return n < 0 || (size_t)n >= size ? IHA_E_LIMIT : IHA_OK;
        }
    }
    return IHA_E_NOTFOUND;
}

void iha_keystone_base_url(char *url)
{
    size_t len = strlen(url);
    char *slash;

    while (len > 0 && url[len - 1] == '/')
        url[--len] = '\0';
    slash = strrchr(url, '/');
    if (!slash || slash < url + 8) /* inside "https://" */
        return;
    if (strcmp(slash, "/v1") == 0) {
        *slash = '\0';
        return;
    }
    /* ".../v1/<project id>" as the install guide registers it */
    *slash = '\0';
    {
        char *prev = strrchr(url, '/');
        if (prev && prev >= url + 8 && strcmp(prev, "/v1") == 0) {
            *prev = '\0';
            return;
        }
    }
    *slash = '/';
}

/* Lists "type/interface" of the catalog into @p out, for "not found" messages. */
static void list_catalog(const json_t *catalog, char *out, size_t size)
{
    size_t i, j, used = 0;
    json_t *svc, *ep;

    out[0] = '\0';
    json_array_foreach(catalog, i, svc)
    {
        json_array_foreach(json_object_get(svc, "endpoints"), j, ep)
        {
            const char *t = json_string_value(json_object_get(svc, "type"));
            const char *f = json_string_value(json_object_get(ep, "interface"));
            const char *r = json_string_value(json_object_get(ep, "region_id"));
            int n = snprintf(out + used, size - used, "%s%s/%s@%s", used ? ", " : "", t ? t : "?",
                             f ? f : "?", r ? r : "?");
            if (n < 0 || (size_t)n >= size - used) {
                out[used] = '\0';
                return;
            }
            used += (size_t)n;
        }
    }
}

enum iha_rc iha_keystone_endpoint(struct iha_keystone *ks, const char *service_type, char *out,
                                  size_t size, struct iha_err *err)
{
    enum iha_rc rc;
    char have[400];

    pthread_mutex_lock(&ks->lock);
    if (!ks->catalog) {
        iha_err_set(err, "catalog", "no service catalog yet (%s)", ks->last_detail);
        rc = IHA_E_NOTFOUND;
    } else {
        rc = iha_keystone_catalog_url(ks->catalog, service_type, ks->interface, ks->region_name,
                                      out, size);
        if (rc == IHA_E_NOTFOUND) {
            list_catalog(ks->catalog, have, sizeof(have));
            iha_err_set(err, "catalog",
                        "the token's catalog has no %s endpoint for interface %s%s%s (it has: "
                        "%s); register one or set instance_ha.url",
                        service_type, ks->interface, ks->region_name ? " in region " : "",
                        ks->region_name ? ks->region_name : "", have[0] ? have : "nothing");
        } else if (rc == IHA_E_LIMIT) {
            iha_err_set(err, "catalog", "the %s endpoint URL is too long", service_type);
        } else if (rc == IHA_E_INVAL) {
            iha_err_set(err, "catalog",
                        "the %s endpoint URL in the service catalog carries credentials; "
                        "register it without them or set instance_ha.url",
                        service_type);
        }
    }
    pthread_mutex_unlock(&ks->lock);
    if (rc == IHA_OK)
        iha_keystone_base_url(out);
    return rc;
}
