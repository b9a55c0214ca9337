/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file http_server_route.c
 * @brief The route table and what is read from the request line and headers: path
 *        patterns, methods, media types and the declared length.
 *
 * Pure functions of their input, so that what the server accepts reads in one place.
 */
#include "http_server_int.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#define PROJECT_ID_MAX 64

static const struct route routes[] = {
    {"/api/v1/alertmanager", M_POST, R_INGEST, IHA_SOURCE_ALERTMANAGER, FMT_GATEWAY, true},
    {"/api/v1/nagios", M_POST, R_INGEST, IHA_SOURCE_NAGIOS, FMT_GATEWAY, true},
    {"/v1/notifications", M_POST, R_INGEST, IHA_SOURCE_NATIVE, FMT_OPENSTACK, true},
    {"/v1/*/notifications", M_POST, R_INGEST, IHA_SOURCE_NATIVE, FMT_OPENSTACK, true},
    {"/-/healthy", M_GET | M_HEAD, R_HEALTHY, IHA_SOURCE_NATIVE, FMT_GATEWAY, false},
    {"/-/ready", M_GET | M_HEAD, R_READY, IHA_SOURCE_NATIVE, FMT_GATEWAY, false},
    {"/-/reload", M_POST, R_RELOAD, IHA_SOURCE_NATIVE, FMT_GATEWAY, true},
    {"/metrics", M_GET | M_HEAD, R_METRICS, IHA_SOURCE_NATIVE, FMT_GATEWAY, false},
    {"/", M_GET | M_HEAD, R_PAGE, IHA_SOURCE_NATIVE, FMT_GATEWAY, false},
    /* The JSON APIs are for tools, which can send credentials; a large event list is the
     * most expensive answer on this thread. */
    {"/api/v1/status", M_GET | M_HEAD, R_STATUS, IHA_SOURCE_NATIVE, FMT_GATEWAY, true},
    {"/api/v1/events", M_GET | M_HEAD, R_EVENTS, IHA_SOURCE_NATIVE, FMT_GATEWAY, true},
    {"/api/v1/holds", M_GET | M_HEAD, R_HOLDS, IHA_SOURCE_NATIVE, FMT_GATEWAY, true},
    {NULL, 0, R_HEALTHY, IHA_SOURCE_NATIVE, FMT_GATEWAY, false},
};

/* ---- routing ----------------------------------------------------------------------------- */

static bool project_char(char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           ch == '_' || ch == '-';
}

/* Matches @p url against @p pattern, where '*' is one project_id segment. */
static bool path_match(const char *pattern, const char *url)
{
    while (*pattern) {
        if (*pattern == '*') {
            size_t n = 0;
            while (project_char(url[n]))
                n++;
            if (n == 0 || n > PROJECT_ID_MAX)
                return false;
            url += n;
            pattern++;
            continue;
        }
        if (*pattern != *url)
            return false;
        pattern++;
        url++;
    }
    return *url == '\0';
}

const struct route *iha_http_route_find(const char *url)
{
    for (const struct route *r = routes; r->path; r++)
        if (path_match(r->path, url))
            return r;
    return NULL;
}

unsigned iha_http_method_bit(const char *method)
{
    if (strcmp(method, MHD_HTTP_METHOD_GET) == 0)
        return M_GET;
    if (strcmp(method, MHD_HTTP_METHOD_HEAD) == 0)
        return M_HEAD;
    if (strcmp(method, MHD_HTTP_METHOD_POST) == 0)
        return M_POST;
    return 0;
}

void iha_http_allow_value(unsigned methods, char *out, size_t size)
{
    snprintf(out, size, "%s%s%s%s%s", (methods & M_GET) ? "GET" : "",
             (methods & M_GET) && (methods & ~M_GET) ? ", " : "", (methods & M_HEAD) ? "HEAD" : "",
             (methods & M_HEAD) && (methods & M_POST) ? ", " : "",
             (methods & M_POST) ? "POST" : "");
}

/* @return true when @p ct is the media type @p want (any case, parameters allowed). */
static bool media_type_is(const char *ct, const char *want)
{
    size_t n = strlen(want);

    while (*ct == ' ' || *ct == '\t')
        ct++;
    if (strncasecmp(ct, want, n) != 0)
        return false;
    ct += n;
    while (*ct == ' ' || *ct == '\t')
        ct++;
    return *ct == '\0' || *ct == ';';
}

/* application/json; a missing Content-Type is accepted, as Instance HA accepts it. */
bool iha_http_content_type_ok(const char *ct)
{
    return !ct || media_type_is(ct, "application/json");
}

/* application/x-www-form-urlencoded (Nagios records from curl -d). */
bool iha_http_form_type(const char *ct)
{
    return ct && media_type_is(ct, "application/x-www-form-urlencoded");
}

/* Strict decimal: digits only, at least one, no sign, no overflow. */
bool iha_http_parse_content_length(const char *s, unsigned long long *out)
{
    unsigned long long v = 0;

    if (!s || !*s)
        return false;
    for (; *s; s++) {
        unsigned d;
        if (*s < '0' || *s > '9')
            return false;
        d = (unsigned)(*s - '0');
        if (v > (~0ULL - d) / 10)
            return false;
        v = v * 10 + d;
    }
    *out = v;
    return true;
}
