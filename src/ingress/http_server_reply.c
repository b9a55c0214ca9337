/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file http_server_reply.c
 * @brief Answers: JSON bodies in the gateway's or Instance HA's error shape, refusals
 *        (busy is 503 with Retry-After), and the log line and counter of each request.
 *
 * Separate so that what a client is told, and how a request is logged and counted, is
 * rendered in one place; the other parts only decide the status and the reason.
 */
#include "http_server_int.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

/* Rejected requests logged at info per second; the rest are counted. */
#define REJECT_LOG_PER_S 10
#define REALM_HEADER "Bearer realm=\"iha-gateway\""
/* A busy answer's Retry-After: a verification slot frees within about a second. */
#define BUSY_RETRY_AFTER_S "1"

/* ---- replies ----------------------------------------------------------------------------- */

static const char *status_title(unsigned status)
{
    switch (status) {
    case 200:
        return "OK";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 413:
        return "Payload Too Large";
    case 415:
        return "Unsupported Media Type";
    case 500:
        return "Internal Server Error";
    case 503:
        return "Service Unavailable";
    default:
        return "Error";
    }
}

/* Instance HA's fault names (Masakari's wsgi fault map). */
static const char *fault_name(unsigned status)
{
    switch (status) {
    case 400:
        return "badRequest";
    case 401:
        return "unauthorized";
    case 403:
        return "forbidden";
    case 404:
        return "itemNotFound";
    case 405:
        return "badMethod";
    case 409:
        return "conflictingRequest";
    case 413:
        return "overLimit";
    case 415:
        return "badMediaType";
    case 503:
        return "serviceUnavailable";
    default:
        return "masakariFault";
    }
}

/* @return a new error body, NULL only when out of memory. */
json_t *iha_http_error_body(enum err_format fmt, unsigned status, const char *detail,
                            const char *field)
{
    char msg[sizeof(((struct iha_err *)0)->msg) + sizeof(((struct iha_err *)0)->field) + 16];

    if (fmt == FMT_GATEWAY)
        return json_pack("{s:i, s:s, s:s, s:s}", "code", (int)status, "error", status_title(status),
                         "detail", detail ? detail : "", "field", field ? field : "");
    if (field && *field)
        snprintf(msg, sizeof(msg), "%s (field %s)", detail ? detail : "", field);
    else
        snprintf(msg, sizeof(msg), "%s", detail ? detail : "");
    if (status == 401)
        return json_pack("{s:{s:i, s:s, s:s}}", "error", "code", 401, "title", "Unauthorized",
                         "message", msg);
    return json_pack("{s:{s:i, s:s}}", fault_name(status), "code", (int)status, "message", msg);
}

/* The peer's address for logs ("" when unknown). */
void iha_http_peer_name(struct MHD_Connection *c, char *out, size_t size)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    const struct sockaddr *sa = ci ? ci->client_addr : NULL;

    out[0] = '\0';
    if (!sa)
        return;
    if (sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, out,
                  (socklen_t)size);
    else if (sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, out,
                  (socklen_t)size);
}

/* iha_gateway_http_requests_total{route,code}: the route's pattern keeps the label bounded. */
static void count_request(struct iha_http *h, const char *url, unsigned status)
{
    const struct route *rt;
    char code[8];

    if (!h->metrics)
        return;
    rt = strlen(url) > URL_MAX ? NULL : iha_http_route_find(url);
    snprintf(code, sizeof(code), "%u", status);
    iha_metrics_add(h->metrics, "iha_gateway_http_requests_total", 1, rt ? rt->path : "other",
                    code);
}

/* One debug line per answered request (refused ones get their info line instead). */
void iha_http_log_request(struct iha_http *h, struct MHD_Connection *c, const char *method,
                          const char *url, unsigned status, long long t0_ms)
{
    char st[8];
    char ms[24];
    char peer[INET6_ADDRSTRLEN];

    count_request(h, url, status);
    if (!iha_log_enabled(IHA_LOG_DEBUG))
        return;
    snprintf(st, sizeof(st), "%u", status);
    snprintf(ms, sizeof(ms), "%lld", t0_ms >= 0 ? iha_http_now_ms() - t0_ms : 0);
    iha_http_peer_name(c, peer, sizeof(peer));
    iha_log_write(IHA_LOG_DEBUG, "http request", "method", method, "path", url, "status", st,
                  "duration_ms", ms, "remote", peer, (const char *)0);
}

/* Logs a refused request at info, at most REJECT_LOG_PER_S a second. MHD thread only. */
void iha_http_log_reject(struct iha_http *h, struct MHD_Connection *c, const char *method,
                         const char *url, unsigned status, const char *reason)
{
    long long now_s = iha_http_now_ms() / 1000;
    char st[8];
    char sup[24];
    char peer[INET6_ADDRSTRLEN];

    count_request(h, url, status);
    if (!iha_log_enabled(IHA_LOG_INFO))
        return;
    if (now_s != h->reject_window_s) {
        if (h->reject_suppressed) {
            snprintf(sup, sizeof(sup), "%lu", h->reject_suppressed);
            iha_log_write(IHA_LOG_INFO, "rejected requests not logged", "count", sup,
                          (const char *)0);
        }
        h->reject_window_s = now_s;
        h->reject_logged = 0;
        h->reject_suppressed = 0;
    }
    if (h->reject_logged >= REJECT_LOG_PER_S) {
        h->reject_suppressed++;
        return;
    }
    h->reject_logged++;
    snprintf(st, sizeof(st), "%u", status);
    iha_http_peer_name(c, peer, sizeof(peer));
    iha_log_write(IHA_LOG_INFO, "request rejected", "method", method, "path", url, "status", st,
                  "reason", reason, "remote", peer, (const char *)0);
}

/*
 * Queues @p body (stolen) as JSON, with one optional extra header (@p hname may be
 * NULL). A NULL body (out of memory) becomes a fixed 500.
 */
enum MHD_Result iha_http_queue_json(struct MHD_Connection *c, unsigned status, json_t *body,
                                    const char *hname, const char *hvalue)
{
    struct MHD_Response *resp;
    enum MHD_Result ret;
    char *text = NULL;

    if (body)
        text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    if (!text) {
        static const char fallback[] = "{\"code\":500,\"error\":\"Internal Server Error\","
                                       "\"detail\":\"out of memory\",\"field\":\"\"}";
        status = 500;
        resp = MHD_create_response_from_buffer(sizeof(fallback) - 1, (void *)fallback,
                                               MHD_RESPMEM_PERSISTENT);
    } else {
        resp = MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
        if (!resp)
            free(text);
    }
    if (!resp)
        return MHD_NO;
    if (MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json") !=
            MHD_YES ||
        (hname && MHD_add_response_header(resp, hname, hvalue) != MHD_YES)) {
        MHD_destroy_response(resp);
        return MHD_NO;
    }
    ret = MHD_queue_response(c, status, resp);
    MHD_destroy_response(resp);
    return ret;
}

/* Answers a refused request: logs it (rate-limited) and queues the error body. */
enum MHD_Result iha_http_reject(struct iha_http *h, struct MHD_Connection *c, const char *method,
                                const char *url, enum err_format fmt, unsigned status,
                                const char *detail, const char *field)
{
    iha_http_log_reject(h, c, method, url, status, detail);
    return iha_http_queue_json(c, status, iha_http_error_body(fmt, status, detail, field),
                               status == 401 ? MHD_HTTP_HEADER_WWW_AUTHENTICATE : NULL,
                               REALM_HEADER);
}

/*
 * Busy: the sender should come back. Alertmanager and iha-notify retry a 5xx and drop
 * a 4xx, so a credential that could not be checked now must never be a 401.
 */
enum MHD_Result iha_http_reject_busy(struct iha_http *h, struct MHD_Connection *c,
                                     const char *method, const char *url, enum err_format fmt,
                                     const char *detail)
{
    iha_http_log_reject(h, c, method, url, 503, detail);
    if (h->metrics)
        iha_metrics_add(h->metrics, "iha_gateway_auth_basic_busy_total", 1);
    return iha_http_queue_json(c, 503, iha_http_error_body(fmt, 503, detail, ""),
                               MHD_HTTP_HEADER_RETRY_AFTER, BUSY_RETRY_AFTER_S);
}

enum err_format iha_http_format_for_url(const char *url)
{
    return strncmp(url, "/v1/", 4) == 0 || strcmp(url, "/v1") == 0 ? FMT_OPENSTACK : FMT_GATEWAY;
}
