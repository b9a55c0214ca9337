/* SPDX-License-Identifier: Apache-2.0 */
/** @file http_server.c @brief libmicrohttpd daemon: routes, bounded uploads, auth, replies. */
#include "http_server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "auth_verifier.h"
#include "clock.h"
#include "events.h"
#include "form.h"
#include "listen_addr.h"
#include "log.h"
#include "conn_guard.h"
#include "tls_listener.h"
#include "metrics.h"
#include "status_page.h"

#define URL_MAX 512
#define PROJECT_ID_MAX 64
#define CONNECTION_LIMIT 256
#define PER_IP_CONNECTION_LIMIT 64
#define CONNECTION_MEMORY_LIMIT (32 * 1024)
#define INITIAL_BUFFER 4096
/* How long iha_http_stop() waits for outstanding replies, then for their delivery. */
#define STOP_WAIT_REPLIES_MS 5000
#define STOP_WAIT_DRAIN_MS 1000
/* Rejected requests logged at info per second; the rest are counted. */
#define REJECT_LOG_PER_S 10
#define REALM_HEADER "Bearer realm=\"iha-gateway\""
/* A busy answer's Retry-After: a verification slot frees within about a second. */
#define BUSY_RETRY_AFTER_S "1"
/*
 * Events on the status page, and the default and maximum of /api/v1/events?limit=; the
 * maximum is what the daemon keeps (main.c), so a larger limit never costs more.
 */
#define PAGE_EVENTS 200
#define EVENTS_LIMIT_DEFAULT 100
#define EVENTS_LIMIT_MAX 1000

enum method { M_GET = 1, M_HEAD = 2, M_POST = 4 };

/* The error body shape a route's clients understand. */
enum err_format {
    FMT_GATEWAY,  /* {"code", "error", "detail", "field"} */
    FMT_OPENSTACK /* {"<faultName>": {"code", "message"}}, Keystone's shape for 401 */
};

enum route_kind { R_INGEST, R_HEALTHY, R_READY, R_METRICS, R_PAGE, R_STATUS, R_EVENTS, R_RELOAD };

struct route {
    const char *path; /* '*' stands for one project_id segment */
    unsigned methods;
    enum route_kind kind;
    enum iha_source source;
    enum err_format format;
    bool auth;
};

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
    {NULL, 0, R_HEALTHY, IHA_SOURCE_NATIVE, FMT_GATEWAY, false},
};

struct req;

struct iha_http {
    struct MHD_Daemon *daemon;
    unsigned port;
    size_t max_body;
    struct iha_auth *auth;
    bool auth_owned;                    /* auth came from iha_http_set_auth_steal() */
    struct iha_auth *auth_next;         /* handed over by a reload; under ready_lock */
    struct iha_auth_verifier *verifier; /* password hashes, off this thread */
    struct iha_conn_guard *guard;       /* slow and unauthenticated connections; MHD thread */
    struct iha_tls_listener *tls;       /* NULL: plain HTTP */
    iha_ingest_fn ingest;
    void *ingest_cls;
    struct iha_metrics *metrics;
    struct iha_http_ops ops;
    struct MHD_Response *ok_response; /* persistent "OK" */
    struct MHD_Response *not_ready;   /* rebuilt by iha_http_set_ready() */
    bool ready;
    pthread_mutex_t ready_lock; /* ready and not_ready */
    pthread_mutex_t lock;       /* the pending list */
    pthread_cond_t cond;        /* signalled when the pending list shrinks */
    struct req *pending;        /* requests waiting for their reply */
    size_t n_pending;
    atomic_size_t n_inflight; /* request contexts not yet completed */
    /* MHD thread only */
    long long reject_window_s;
    unsigned reject_logged;
    unsigned long reject_suppressed;
    /* start only: MHD's last message, for the bind error */
    char start_msg[512];
    atomic_bool starting;
    /* Set first thing in iha_http_stop(): no request may be suspended after it. */
    atomic_bool stopping;
};

/*
 * One POST request. Owned jointly by MHD (until NOTIFY_COMPLETED) and by the
 * outstanding reply (from a successful ingest until the reply callback); freed
 * when both are done. @c lock guards the fields below it.
 */
struct req {
    struct iha_http *h; /* valid while the request is in h's pending list or owned by MHD */
    struct MHD_Connection *conn;
    const struct route *route;
    long long t0_ms;
    char *buf;
    size_t len;
    size_t cap;
    bool too_large;
    bool form; /* application/x-www-form-urlencoded (Nagios records from curl -d) */
    bool ingested;
    bool auth_waiting; /* HTTP thread: its basic credential is with the verifier */
    json_t *json;
    pthread_mutex_t lock;
    unsigned refs;
    bool suspended;
    bool abandoned; /* iha_http_stop() answered for it; a late reply is dropped */
    bool replied;   /* the reply callback ran (it holds a reference until then) */
    bool reply_ready;
    bool auth_done;                /* the verifier handed the job back (in auth_job) */
    struct iha_auth_job *auth_job; /* owned by the request once handed back */
    unsigned reply_status;
    json_t *reply_body;
    struct req *prev, *next; /* h->pending, under h->lock */
};

static long long now_ms(void)
{
    return (long long)iha_clock_ms();
}

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
static json_t *error_body(enum err_format fmt, unsigned status, const char *detail,
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
static void peer_name(struct MHD_Connection *c, char *out, size_t size)
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

static const struct route *route_find(const char *url);

/* iha_gateway_http_requests_total{route,code}: the route's pattern keeps the label bounded. */
static void count_request(struct iha_http *h, const char *url, unsigned status)
{
    const struct route *rt;
    char code[8];

    if (!h->metrics)
        return;
    rt = strlen(url) > URL_MAX ? NULL : route_find(url);
    snprintf(code, sizeof(code), "%u", status);
    iha_metrics_add(h->metrics, "iha_gateway_http_requests_total", 1, rt ? rt->path : "other",
                    code);
}

/* One debug line per answered request (refused ones get their info line instead). */
static void log_request(struct iha_http *h, struct MHD_Connection *c, const char *method,
                        const char *url, unsigned status, long long t0_ms)
{
    char st[8];
    char ms[24];
    char peer[INET6_ADDRSTRLEN];

    count_request(h, url, status);
    if (!iha_log_enabled(IHA_LOG_DEBUG))
        return;
    snprintf(st, sizeof(st), "%u", status);
    snprintf(ms, sizeof(ms), "%lld", t0_ms >= 0 ? now_ms() - t0_ms : 0);
    peer_name(c, peer, sizeof(peer));
    iha_log_write(IHA_LOG_DEBUG, "http request", "method", method, "path", url, "status", st,
                  "duration_ms", ms, "remote", peer, (const char *)0);
}

/* Logs a refused request at info, at most REJECT_LOG_PER_S a second. MHD thread only. */
static void log_reject(struct iha_http *h, struct MHD_Connection *c, const char *method,
                       const char *url, unsigned status, const char *reason)
{
    long long now_s = now_ms() / 1000;
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
    peer_name(c, peer, sizeof(peer));
    iha_log_write(IHA_LOG_INFO, "request rejected", "method", method, "path", url, "status", st,
                  "reason", reason, "remote", peer, (const char *)0);
}

/*
 * Queues @p body (stolen) as JSON, with one optional extra header (@p hname may be
 * NULL). A NULL body (out of memory) becomes a fixed 500.
 */
static enum MHD_Result queue_json(struct MHD_Connection *c, unsigned status, json_t *body,
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
static enum MHD_Result reject(struct iha_http *h, struct MHD_Connection *c, const char *method,
                              const char *url, enum err_format fmt, unsigned status,
                              const char *detail, const char *field)
{
    log_reject(h, c, method, url, status, detail);
    return queue_json(c, status, error_body(fmt, status, detail, field),
                      status == 401 ? MHD_HTTP_HEADER_WWW_AUTHENTICATE : NULL, REALM_HEADER);
}

/*
 * Busy: the sender should come back. Alertmanager and iha-notify retry a 5xx and drop
 * a 4xx, so a credential that could not be checked now must never be a 401.
 */
static enum MHD_Result reject_busy(struct iha_http *h, struct MHD_Connection *c, const char *method,
                                   const char *url, enum err_format fmt, const char *detail)
{
    log_reject(h, c, method, url, 503, detail);
    if (h->metrics)
        iha_metrics_add(h->metrics, "iha_gateway_auth_basic_busy_total", 1);
    return queue_json(c, 503, error_body(fmt, 503, detail, ""), MHD_HTTP_HEADER_RETRY_AFTER,
                      BUSY_RETRY_AFTER_S);
}

static enum err_format format_for_url(const char *url)
{
    return strncmp(url, "/v1/", 4) == 0 || strcmp(url, "/v1") == 0 ? FMT_OPENSTACK : FMT_GATEWAY;
}

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

static const struct route *route_find(const char *url)
{
    for (const struct route *r = routes; r->path; r++)
        if (path_match(r->path, url))
            return r;
    return NULL;
}

static unsigned method_bit(const char *method)
{
    if (strcmp(method, MHD_HTTP_METHOD_GET) == 0)
        return M_GET;
    if (strcmp(method, MHD_HTTP_METHOD_HEAD) == 0)
        return M_HEAD;
    if (strcmp(method, MHD_HTTP_METHOD_POST) == 0)
        return M_POST;
    return 0;
}

static void allow_value(unsigned methods, char *out, size_t size)
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
static bool content_type_ok(const char *ct)
{
    return !ct || media_type_is(ct, "application/json");
}

/* application/x-www-form-urlencoded (Nagios records from curl -d). */
static bool form_type(const char *ct)
{
    return ct && media_type_is(ct, "application/x-www-form-urlencoded");
}

/* Strict decimal: digits only, at least one, no sign, no overflow. */
static bool parse_content_length(const char *s, unsigned long long *out)
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

/* ---- request context --------------------------------------------------------------------- */

static void req_destroy(struct req *r)
{
    iha_auth_job_free(r->auth_job);
    free(r->buf);
    json_decref(r->json);
    json_decref(r->reply_body);
    pthread_mutex_destroy(&r->lock);
    free(r);
}

/* Drops one reference; called with r->lock held, returns with it released. */
static void req_unref_unlock(struct req *r)
{
    bool last = --r->refs == 0;

    pthread_mutex_unlock(&r->lock);
    if (last)
        req_destroy(r);
}

/* Under h->lock. */
static void pending_unlink(struct iha_http *h, struct req *r)
{
    if (r->prev)
        r->prev->next = r->next;
    else
        h->pending = r->next;
    if (r->next)
        r->next->prev = r->prev;
    r->prev = r->next = NULL;
    h->n_pending--;
    pthread_cond_broadcast(&h->cond);
}

/*
 * The reply for one ingested request, from any thread. The request is in h's
 * pending list unless iha_http_stop() has already answered it (abandoned); in the
 * latter case the server may be gone, so only the request itself is touched.
 */
static void on_reply(void *cls, unsigned status, json_t *body)
{
    struct req *r = cls;
    struct iha_http *h;

    pthread_mutex_lock(&r->lock);
    if (r->replied) {
        /* A second reply breaks the ingest contract; its reference is already gone. */
        pthread_mutex_unlock(&r->lock);
        json_decref(body);
        IHA_LOG(IHA_LOG_ERROR, "BUG: a request was answered twice; second answer dropped");
        return;
    }
    r->replied = true;
    if (r->abandoned) {
        json_decref(body);
        req_unref_unlock(r);
        return;
    }
    r->reply_status = status;
    r->reply_body = body;
    r->reply_ready = true;
    h = r->h;
    pthread_mutex_lock(&h->lock);
    pending_unlink(h, r);
    if (r->suspended) {
        r->suspended = false;
        MHD_resume_connection(r->conn);
    }
    pthread_mutex_unlock(&h->lock);
    req_unref_unlock(r);
}

static enum MHD_Result queue_reply(struct req *r, const char *method, const char *url)
{
    unsigned status;
    json_t *body;

    pthread_mutex_lock(&r->lock);
    status = r->reply_status;
    body = r->reply_body;
    r->reply_body = NULL;
    pthread_mutex_unlock(&r->lock);
    if (!body)
        body = json_object();
    log_request(r->h, r->conn, method, url, status, r->t0_ms);
    return queue_json(r->conn, status, body, NULL, NULL);
}

/* Either queues the reply that already arrived or suspends until on_reply() resumes us. */
static enum MHD_Result answer_or_suspend(struct req *r, const char *method, const char *url)
{
    bool ready;

    pthread_mutex_lock(&r->lock);
    ready = r->reply_ready;
    if (!ready && !r->suspended) {
        MHD_suspend_connection(r->conn);
        r->suspended = true;
    }
    pthread_mutex_unlock(&r->lock);
    if (ready)
        return queue_reply(r, method, url);
    return MHD_YES;
}

static enum MHD_Result run_ingest(struct iha_http *h, struct req *r, const char *method,
                                  const char *url)
{
    const struct route *rt = r->route;
    json_error_t jerr;
    struct iha_err err;
    char detail[sizeof(jerr.text) + 96];
    enum iha_rc rc;
    unsigned status;

    if (r->too_large) {
        snprintf(detail, sizeof(detail), "request body exceeds %zu bytes", h->max_body);
        return reject(h, r->conn, method, url, rt->format, 413, detail, "");
    }
    /* A keep-alive connection may still send while we stop; MHD cannot stop with it suspended. */
    if (atomic_load(&h->stopping))
        return reject(h, r->conn, method, url, rt->format, 503, "the gateway is shutting down", "");
    if (rt->kind == R_RELOAD) {
        r->json = json_null(); /* the body, if any, is not read */
    } else if (r->form) {
        iha_err_clear(&err);
        if (iha_form_decode(r->buf ? r->buf : "", r->len, &r->json, &err) != IHA_OK)
            return reject(h, r->conn, method, url, rt->format, 400, err.msg, err.field);
    } else {
        r->json = json_loadb(r->buf ? r->buf : "", r->len, JSON_REJECT_DUPLICATES, &jerr);
        if (!r->json) {
            snprintf(detail, sizeof(detail), "invalid JSON at line %d column %d (position %d): %s",
                     jerr.line, jerr.column, jerr.position, jerr.text);
            return reject(h, r->conn, method, url, rt->format, 400, detail, "");
        }
    }
    if (!r->json)
        return reject(h, r->conn, method, url, rt->format, 503, "out of memory; retry later", "");
    free(r->buf);
    r->buf = NULL;

    /*
     * The pending list and the reply's reference exist before the reply can arrive.
     * stopping is read again under the list's lock: iha_http_stop() sets it before its
     * abandon_pending() takes that lock, so a request either joins the list in time to be
     * answered 503 there, or sees stopping here; none is left suspended at MHD_stop_daemon().
     */
    pthread_mutex_lock(&r->lock);
    pthread_mutex_lock(&h->lock);
    if (atomic_load(&h->stopping)) {
        pthread_mutex_unlock(&h->lock);
        pthread_mutex_unlock(&r->lock);
        return reject(h, r->conn, method, url, rt->format, 503, "the gateway is shutting down", "");
    }
    r->refs++;
    r->ingested = true;
    r->next = h->pending;
    if (h->pending)
        h->pending->prev = r;
    h->pending = r;
    h->n_pending++;
    pthread_mutex_unlock(&h->lock);
    pthread_mutex_unlock(&r->lock);

    iha_err_clear(&err);
    if (rt->kind != R_RELOAD)
        rc = h->ingest(h->ingest_cls, rt->source, r->json, on_reply, r, &err);
    else if (h->ops.reload)
        rc = h->ops.reload(h->ops.cls, on_reply, r, &err);
    else
        rc = IHA_E_CONFIG; /* 500: this server was started without reload */
    if (rc == IHA_OK)
        return answer_or_suspend(r, method, url);

    pthread_mutex_lock(&r->lock);
    if (!r->abandoned) {
        pthread_mutex_lock(&h->lock);
        pending_unlink(h, r);
        pthread_mutex_unlock(&h->lock);
    }
    r->refs--; /* MHD still holds one */
    pthread_mutex_unlock(&r->lock);
    switch (rc) {
    case IHA_E_PARSE:
    case IHA_E_INVAL:
        status = 400;
        break;
    case IHA_E_NOMEM:
    case IHA_E_LIMIT:
        status = 503;
        break;
    default:
        status = 500;
        break;
    }
    return reject(h, r->conn, method, url, rt->format, status,
                  err.msg[0] ? err.msg : iha_rc_str(rc), err.field);
}

/* ---- MHD callbacks ----------------------------------------------------------------------- */

static enum MHD_Result answer_fixed(struct iha_http *h, struct MHD_Connection *c,
                                    const struct route *rt, const char *method, const char *url,
                                    long long t0)
{
    struct MHD_Response *resp;
    unsigned status = 200;
    enum MHD_Result ret;

    if (rt->kind == R_HEALTHY) {
        log_request(h, c, method, url, 200, t0);
        return MHD_queue_response(c, 200, h->ok_response);
    }
    pthread_mutex_lock(&h->ready_lock);
    if (h->ready) {
        resp = h->ok_response;
    } else {
        resp = h->not_ready;
        status = 503;
    }
    ret = MHD_queue_response(c, status, resp);
    pthread_mutex_unlock(&h->ready_lock);
    log_request(h, c, method, url, status, t0);
    return ret;
}

/* ---- operability routes ------------------------------------------------------------------ */

/* Queues @p text (malloc'ed, stolen) with @p content_type. */
static enum MHD_Result queue_text(struct MHD_Connection *c, unsigned status, char *text,
                                  const char *content_type)
{
    struct MHD_Response *resp;
    enum MHD_Result ret;

    if (!text)
        return queue_json(c, 500, NULL, NULL, NULL);
    resp = MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        free(text);
        return MHD_NO;
    }
    if (MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type) != MHD_YES ||
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store") != MHD_YES) {
        MHD_destroy_response(resp);
        return MHD_NO;
    }
    ret = MHD_queue_response(c, status, resp);
    MHD_destroy_response(resp);
    return ret;
}

/* ?limit=N: digits only, 1..EVENTS_LIMIT_MAX; anything else is the default. */
static size_t events_limit(struct MHD_Connection *c)
{
    const char *s = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "limit");
    unsigned long long v;

    if (!s || !parse_content_length(s, &v) || v == 0)
        return EVENTS_LIMIT_DEFAULT;
    return v > EVENTS_LIMIT_MAX ? EVENTS_LIMIT_MAX : (size_t)v;
}

static json_t *status_json(struct iha_http *h)
{
    return h->ops.status ? h->ops.status(h->ops.cls) : json_object();
}

static enum MHD_Result answer_ops(struct iha_http *h, struct MHD_Connection *c,
                                  const struct route *rt, const char *method, const char *url,
                                  long long t0)
{
    const char *host = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "hostname");
    char limit[24];
    size_t n;
    json_t *status, *events;
    char *text = NULL;

    switch (rt->kind) {
    case R_METRICS:
        if (h->ops.refresh)
            h->ops.refresh(h->ops.cls);
        if (h->metrics && h->verifier)
            iha_metrics_set(h->metrics, "iha_gateway_auth_basic_verifications_pending",
                            (double)iha_auth_verifier_pending(h->verifier));
        log_request(h, c, method, url, 200, t0);
        /* Counted before rendering, so a scrape sees itself. */
        text = h->metrics ? iha_metrics_render(h->metrics) : strdup("");
        return queue_text(c, 200, text, "text/plain; version=0.0.4; charset=utf-8");
    case R_PAGE:
        status = status_json(h);
        events = iha_events_list(h->ops.events, host, PAGE_EVENTS);
        text = status && events ? iha_status_page_render(status, events, host) : NULL;
        json_decref(status);
        json_decref(events);
        log_request(h, c, method, url, text ? 200 : 500, t0);
        return queue_text(c, 200, text, "text/html; charset=utf-8");
    case R_STATUS:
        log_request(h, c, method, url, 200, t0);
        return queue_json(c, 200, status_json(h), NULL, NULL);
    case R_EVENTS:
        log_request(h, c, method, url, 200, t0);
        n = events_limit(c);
        /* Says how many were asked of the store, so a capped ?limit= is visible. */
        snprintf(limit, sizeof(limit), "%zu", n);
        return queue_json(c, 200, iha_events_list(h->ops.events, host, n), "X-Events-Limit", limit);
    default:
        return answer_fixed(h, c, rt, method, url, t0);
    }
}

/* HTTP thread: takes over an authentication handed over by a reload. */
static void adopt_auth(struct iha_http *h)
{
    struct iha_auth *next, *old = NULL;

    pthread_mutex_lock(&h->ready_lock);
    next = h->auth_next;
    h->auth_next = NULL;
    pthread_mutex_unlock(&h->ready_lock);
    if (!next)
        return;
    /* What the running configuration verified stays verified if its user is unchanged. */
    iha_auth_adopt_cache(next, h->auth);
    if (h->auth_owned)
        old = h->auth;
    h->auth = next;
    h->auth_owned = true;
    iha_auth_free(old);
}

void iha_http_set_auth_steal(struct iha_http *h, struct iha_auth *auth)
{
    struct iha_auth *old;

    if (!h) {
        iha_auth_free(auth);
        return;
    }
    pthread_mutex_lock(&h->ready_lock);
    old = h->auth_next;
    h->auth_next = auth;
    pthread_mutex_unlock(&h->ready_lock);
    iha_auth_free(old);
}

/* The request context, attached to the connection (on_completed() drops MHD's reference). */
static struct req *req_new(struct iha_http *h, struct MHD_Connection *c, const struct route *rt,
                           long long t0, void **con_cls)
{
    struct req *r = calloc(1, sizeof(*r));

    if (!r)
        return NULL;
    if (pthread_mutex_init(&r->lock, NULL) != 0) {
        free(r);
        return NULL;
    }
    r->h = h;
    r->conn = c;
    r->route = rt;
    r->t0_ms = t0;
    r->refs = 1;
    atomic_fetch_add(&h->n_inflight, 1);
    *con_cls = r;
    return r;
}

/* Verifier thread (or the stopping thread): the job is back; wake the request if it waits. */
static void on_verified(void *cls, struct iha_auth_job *job)
{
    struct req *r = cls;

    pthread_mutex_lock(&r->lock);
    r->auth_job = job;
    r->auth_done = true;
    if (r->suspended) {
        r->suspended = false;
        MHD_resume_connection(r->conn);
    }
    req_unref_unlock(r);
}

/* Hands @p job (taken) to the verifier for @p r. @return false when busy. */
static bool verify_submit(struct iha_http *h, struct MHD_Connection *c, struct req *r,
                          struct iha_auth_job *job)
{
    char peer[INET6_ADDRSTRLEN];

    peer_name(c, peer, sizeof(peer));
    r->refs++; /* the verifier's, until on_verified() */
    if (iha_auth_verifier_submit(h->verifier, peer, job, on_verified, r) != IHA_OK) {
        r->refs--;
        iha_auth_job_free(job);
        return false;
    }
    r->auth_waiting = true;
    return true;
}

/*
 * Last call of a request whose credential went to the verifier: waits (suspended) for
 * the verdict, then answers a refused or busy one. @return true when the request may
 * go on; otherwise *ret is what to return to MHD.
 */
static bool verify_settle(struct iha_http *h, struct req *r, const char *method, const char *url,
                          enum MHD_Result *ret)
{
    struct iha_auth_job *job;
    enum iha_auth_result res;
    bool accepted;
    char why[128];

    pthread_mutex_lock(&r->lock);
    if (!r->auth_done) {
        if (!r->suspended) {
            MHD_suspend_connection(r->conn);
            r->suspended = true;
        }
        pthread_mutex_unlock(&r->lock);
        *ret = MHD_YES;
        return false;
    }
    job = r->auth_job;
    r->auth_job = NULL;
    pthread_mutex_unlock(&r->lock);
    r->auth_waiting = false;

    why[0] = '\0';
    res = iha_auth_job_finish(h->auth, job, &accepted, why, sizeof(why));
    if (h->metrics && res != IHA_AUTH_BUSY)
        iha_metrics_add(h->metrics, "iha_gateway_auth_basic_verifications_total", 1,
                        accepted ? "accepted" : "refused");
    iha_auth_job_free(job);
    if (res == IHA_AUTH_OK)
        return true;
    if (res == IHA_AUTH_BUSY)
        *ret = reject_busy(h, r->conn, method, url, r->route->format, why);
    else
        *ret = reject(h, r->conn, method, url, r->route->format, 401,
                      why[0] ? why : "authentication required", "");
    return false;
}

/* First call for a request: everything decided from the headers alone. */
/* The connection's slot in the guard (NULL when it is not tracked). */
static struct iha_conn_slot *conn_slot(struct MHD_Connection *c)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);

    return ci ? ci->socket_context : NULL;
}

/* Tracks connections in the guard; on this thread, so the guard needs no lock. */
static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
                          enum MHD_ConnectionNotificationCode toe)
{
    struct iha_http *h = cls;
    const union MHD_ConnectionInfo *fd, *addr;
    struct iha_conn_evictions ev;

    if (toe == MHD_CONNECTION_NOTIFY_CLOSED) {
        iha_conn_guard_close(h->guard, *socket_context);
        *socket_context = NULL;
        return;
    }
    fd = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    addr = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (!fd)
        return;
    *socket_context = iha_conn_guard_open(h->guard, fd->connect_fd, addr ? addr->client_addr : NULL,
                                          (uint64_t)now_ms(), &ev);
    if (h->metrics && ev.deadline)
        iha_metrics_add(h->metrics, "iha_gateway_http_connections_closed_total", ev.deadline,
                        "deadline");
    if (h->metrics && ev.limit)
        iha_metrics_add(h->metrics, "iha_gateway_http_connections_closed_total", ev.limit,
                        "untrusted_limit");
}

static enum MHD_Result first_call(struct iha_http *h, struct MHD_Connection *c, const char *url,
                                  const char *method, void **con_cls)
{
    long long t0 = now_ms();
    const struct route *rt;
    unsigned mbit = method_bit(method);
    char allow[32];
    char why[128];
    char detail[160];
    const char *value;
    unsigned long long clen = 0;
    bool have_clen = false;
    bool form;
    struct req *r = NULL;
    struct iha_auth_job *job = NULL;
    enum iha_auth_result res;

    if (strlen(url) > URL_MAX)
        return reject(h, c, method, "(long URL)", FMT_GATEWAY, 404, "no such route", "");
    adopt_auth(h);
    rt = route_find(url);
    if (!rt)
        return reject(h, c, method, url, format_for_url(url), 404, "no such route", "");
    if (!(rt->methods & mbit)) {
        allow_value(rt->methods, allow, sizeof(allow));
        snprintf(detail, sizeof(detail), "method %s not allowed, use %s", method, allow);
        log_reject(h, c, method, url, 405, detail);
        return queue_json(c, 405, error_body(rt->format, 405, detail, ""), MHD_HTTP_HEADER_ALLOW,
                          allow);
    }
    if (rt->kind == R_HEALTHY || rt->kind == R_READY)
        return answer_fixed(h, c, rt, method, url, t0);
    if (atomic_load(&h->stopping))
        return reject(h, c, method, url, rt->format, 503, "the gateway is shutting down", "");

    if (rt->auth && h->tls) {
        const union MHD_ConnectionInfo *ti =
            MHD_get_connection_info(c, MHD_CONNECTION_INFO_GNUTLS_SESSION);
        if (!ti || !iha_tls_listener_check_client(h->tls, ti->tls_session, why, sizeof(why)))
            return reject(h, c, method, url, rt->format, 401, ti ? why : "no TLS session", "");
    }
    if (rt->auth) {
        value = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
        res = iha_auth_check(h->auth, value, &job, why, sizeof(why));
        if (res == IHA_AUTH_BUSY)
            return reject_busy(h, c, method, url, rt->format, why);
        if (res != IHA_AUTH_OK && res != IHA_AUTH_VERIFY)
            return reject(h, c, method, url, rt->format, 401,
                          why[0] ? why : "authentication required", "");
    }
    /* A password still being checked keeps the request untrusted until it settles. */
    if (!job)
        iha_conn_guard_trust(h->guard, conn_slot(c));
    if (job) {
        /* Its password is checked while the body arrives; the last call settles it. */
        r = req_new(h, c, rt, t0, con_cls);
        if (!r) {
            iha_auth_job_free(job);
            return MHD_NO;
        }
        if (!verify_submit(h, c, r, job))
            return reject_busy(h, c, method, url, rt->format,
                               "too many new basic credentials from this client; retry later");
    }
    /* A reload is suspended like an ingest until the reload thread answers it. */
    if (rt->kind != R_INGEST && rt->kind != R_RELOAD)
        return r ? MHD_YES : answer_ops(h, c, rt, method, url, t0);
    value = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
    form = rt->source == IHA_SOURCE_NAGIOS && form_type(value);
    if (!form && !content_type_ok(value) && rt->kind != R_RELOAD)
        return reject(h, c, method, url, rt->format, 415, "Content-Type must be application/json",
                      "");
    value = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_TRANSFER_ENCODING);
    if (!value) {
        value = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (value) {
            if (!parse_content_length(value, &clen))
                return reject(h, c, method, url, rt->format, 400, "malformed Content-Length", "");
            have_clen = true;
        }
    }
    if (have_clen && clen > h->max_body) {
        snprintf(detail, sizeof(detail), "request body exceeds %zu bytes", h->max_body);
        return reject(h, c, method, url, rt->format, 413, detail, "");
    }

    if (!r)
        r = req_new(h, c, rt, t0, con_cls);
    if (!r)
        return MHD_NO;
    r->form = form;
    if (have_clen && clen > 0) {
        /* Content-Length is only the sender's promise: reserve at most 64 KiB up front. */
        r->cap = clen < 65536 ? (size_t)clen : 65536;
        r->buf = malloc(r->cap);
        if (!r->buf)
            return MHD_NO; /* on_completed() frees r */
    }
    return MHD_YES;
}

/* Appends up to the cap; beyond it the request is only marked and the rest discarded. */
static void upload(struct iha_http *h, struct req *r, const char *data, size_t size)
{
    size_t need;
    size_t cap;
    char *nb;

    if (r->too_large)
        return;
    if (size > h->max_body - r->len) {
        r->too_large = true;
        free(r->buf);
        r->buf = NULL;
        r->len = r->cap = 0;
        return;
    }
    need = r->len + size;
    if (need > r->cap) {
        cap = r->cap ? r->cap : INITIAL_BUFFER;
        while (cap < need)
            cap = cap > h->max_body / 2 ? h->max_body : cap * 2;
        if (cap > h->max_body)
            cap = h->max_body;
        nb = realloc(r->buf, cap);
        if (!nb) {
            /* Answered as 413 too: the body cannot be held, retrying the same will not help. */
            r->too_large = true;
            free(r->buf);
            r->buf = NULL;
            r->len = r->cap = 0;
            return;
        }
        r->buf = nb;
        r->cap = cap;
    }
    memcpy(r->buf + r->len, data, size);
    r->len += size;
}

static enum MHD_Result on_access(void *cls, struct MHD_Connection *c, const char *url,
                                 const char *method, const char *version, const char *upload_data,
                                 size_t *upload_data_size, void **con_cls)
{
    struct iha_http *h = cls;
    struct req *r = *con_cls;

    (void)version;
    if (!r)
        return first_call(h, c, url, method, con_cls);
    if (*upload_data_size) {
        if (!r->ingested)
            upload(h, r, upload_data, *upload_data_size);
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (r->auth_waiting) {
        enum MHD_Result ret;
        if (!verify_settle(h, r, method, url, &ret))
            return ret;
        iha_conn_guard_trust(h->guard, conn_slot(c));
        if (r->route->kind != R_INGEST && r->route->kind != R_RELOAD)
            return answer_ops(h, c, r->route, method, url, r->t0_ms);
    }
    if (r->ingested)
        return answer_or_suspend(r, method, url);
    return run_ingest(h, r, method, url);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct iha_http *h = cls;
    struct req *r = *con_cls;

    (void)toe;
    /* A kept-alive connection's next request starts untrusted, with a deadline of its own. */
    iha_conn_guard_rearm(h->guard, conn_slot(c), (uint64_t)now_ms());
    if (!r)
        return;
    *con_cls = NULL;
    atomic_fetch_sub(&h->n_inflight, 1);
    pthread_mutex_lock(&r->lock);
    req_unref_unlock(r);
}

IHA_PRINTF(2, 0)
static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    struct iha_http *h = cls;
    char msg[512];
    size_t n;

    vsnprintf(msg, sizeof(msg), fmt, ap);
    n = strlen(msg);
    while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
        msg[--n] = '\0';
    if (atomic_load(&h->starting))
        snprintf(h->start_msg, sizeof(h->start_msg), "%s", msg);
    IHA_LOG(IHA_LOG_WARN, "libmicrohttpd", "detail", msg);
}

/* ---- addresses --------------------------------------------------------------------------- */

bool iha_http_is_loopback(const char *listen_address)
{
    return iha_listen_addr_is_loopback(listen_address);
}

bool iha_http_bound_loopback(const struct iha_http *h)
{
    const union MHD_DaemonInfo *info;
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);

    info = h && h->daemon ? MHD_get_daemon_info(h->daemon, MHD_DAEMON_INFO_LISTEN_FD) : NULL;
    if (!info || getsockname(info->listen_fd, (struct sockaddr *)&ss, &len) != 0)
        return false;
    return iha_listen_sockaddr_is_loopback((const struct sockaddr *)&ss);
}

/* ---- lifecycle --------------------------------------------------------------------------- */

static void free_http(struct iha_http *h)
{
    iha_auth_verifier_free(h->verifier);
    iha_conn_guard_free(h->guard);
    iha_tls_listener_free(h->tls);
    if (h->ok_response)
        MHD_destroy_response(h->ok_response);
    if (h->not_ready)
        MHD_destroy_response(h->not_ready);
    if (h->auth_owned)
        iha_auth_free(h->auth);
    iha_auth_free(h->auth_next);
    pthread_cond_destroy(&h->cond);
    pthread_mutex_destroy(&h->lock);
    pthread_mutex_destroy(&h->ready_lock);
    free(h);
}

/* The certificate for one handshake; GnuTLS gives no closure, the connection leads to it. */
static int on_tls_cert(gnutls_session_t session, const struct gnutls_cert_retr_st *info,
                       gnutls_pcert_st **certs, unsigned int *pcert_length,
                       gnutls_ocsp_data_st **ocsp, unsigned int *ocsp_length,
                       gnutls_privkey_t *privkey, unsigned int *flags)
{
    struct MHD_Connection *c = gnutls_session_get_ptr(session);
    struct iha_http *h = c ? iha_conn_slot_owner(conn_slot(c)) : NULL;

    (void)info;
    *ocsp = NULL;
    *ocsp_length = 0;
    if (!h || !h->tls)
        return -1;
    return iha_tls_listener_retrieve(h->tls, certs, pcert_length, privkey, flags);
}

/* MHD options for TLS (an empty list for plain HTTP); @p opts holds at least 4. */
static void tls_options(struct iha_http *h, struct MHD_OptionItem *opts, unsigned *flags)
{
    size_t n = 0;

    if (h->tls) {
        *flags |= MHD_USE_TLS;
        opts[n++] =
            (struct MHD_OptionItem){MHD_OPTION_HTTPS_CERT_CALLBACK2, 0, (void *)on_tls_cert};
        opts[n++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_PRIORITIES, 0,
                                            (void *)iha_tls_listener_priorities(h->tls)};
        if (iha_tls_listener_client_ca(h->tls))
            opts[n++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_TRUST, 0,
                                                (void *)iha_tls_listener_client_ca(h->tls)};
    }
    opts[n] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};
}

static struct MHD_Response *make_not_ready(const char *why)
{
    json_t *body = error_body(FMT_GATEWAY, 503, why && *why ? why : "not ready", "");
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    struct MHD_Response *resp;

    json_decref(body);
    if (!text)
        return NULL;
    resp = MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        free(text);
        return NULL;
    }
    if (MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json") !=
        MHD_YES) {
        MHD_destroy_response(resp);
        return NULL;
    }
    return resp;
}

/*
 * Resolves the listen address into @p ss and the address-family flags for MHD.
 * ":PORT" binds every address: IPv6 dual-stack when the host has IPv6, else IPv4.
 */
static enum iha_rc resolve_listen(const char *address, struct sockaddr_storage *ss, unsigned *flags,
                                  struct iha_err *err)
{
    struct iha_listen_addr la;
    struct addrinfo hints, *res = NULL;
    int gai;
    int probe;

    memset(ss, 0, sizeof(*ss));
    if (iha_listen_addr_parse(address, &la, err) != IHA_OK)
        return IHA_E_INVAL;
    if (la.kind == IHA_LISTEN_ANY) {
        uint16_t port = (uint16_t)la.port_num;
        probe = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (probe >= 0) {
            struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;
            close(probe);
            a6->sin6_family = AF_INET6;
            a6->sin6_addr = in6addr_any;
            a6->sin6_port = htons(port);
            *flags |= MHD_USE_DUAL_STACK;
        } else {
            struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
            a4->sin_family = AF_INET;
            a4->sin_addr.s_addr = htonl(INADDR_ANY);
            a4->sin_port = htons(port);
        }
        return IHA_OK;
    }
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV | (la.kind == IHA_LISTEN_NAME ? 0 : AI_NUMERICHOST);
    gai = getaddrinfo(la.host, la.port, &hints, &res);
    if (gai != 0 || !res) {
        iha_err_set(err, "web.listen_address", "cannot resolve listen address \"%s\": %s", address,
                    gai != 0 ? gai_strerror(gai) : "no address");
        return IHA_E_INVAL;
    }
    if (res->ai_addrlen > sizeof(*ss) ||
        (res->ai_family != AF_INET && res->ai_family != AF_INET6)) {
        freeaddrinfo(res);
        iha_err_set(err, "web.listen_address", "unsupported address family for \"%s\"", address);
        return IHA_E_INVAL;
    }
    memcpy(ss, res->ai_addr, res->ai_addrlen);
    if (res->ai_family == AF_INET6)
        *flags |= MHD_USE_IPv6;
    freeaddrinfo(res);
    return IHA_OK;
}

enum iha_rc iha_http_start(const struct iha_http_config *cfg, struct iha_http **out,
                           struct iha_err *err)
{
    static const char ok_text[] = "OK";
    struct iha_http *h = NULL;
    struct sockaddr_storage ss;
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG |
                     MHD_ALLOW_SUSPEND_RESUME;
    const union MHD_DaemonInfo *info;
    struct MHD_OptionItem tls_opts[4];
    enum iha_rc rc;

    *out = NULL;
    if (!cfg || !cfg->ingest || !cfg->auth || cfg->max_body == 0) {
        iha_err_set(err, "web", "incomplete HTTP server configuration");
        return IHA_E_INVAL;
    }
    rc = resolve_listen(cfg->listen_address, &ss, &flags, err);
    if (rc != IHA_OK)
        return rc;

    rc = IHA_E_NOMEM;
    h = calloc(1, sizeof(*h));
    if (!h)
        goto fail_nomem;
    if (pthread_mutex_init(&h->lock, NULL) != 0) {
        free(h);
        goto fail_nomem;
    }
    if (pthread_cond_init(&h->cond, NULL) != 0) {
        pthread_mutex_destroy(&h->lock);
        free(h);
        goto fail_nomem;
    }
    if (pthread_mutex_init(&h->ready_lock, NULL) != 0) {
        pthread_cond_destroy(&h->cond);
        pthread_mutex_destroy(&h->lock);
        free(h);
        goto fail_nomem;
    }
    h->max_body = cfg->max_body;
    h->auth = cfg->auth;
    h->ingest = cfg->ingest;
    h->ingest_cls = cfg->ingest_cls;
    h->metrics = cfg->metrics;
    if (cfg->ops)
        h->ops = *cfg->ops;
    h->reject_window_s = -1;
    atomic_init(&h->n_inflight, 0);
    atomic_init(&h->starting, true);
    if (iha_auth_verifier_new(&h->verifier) != IHA_OK)
        goto fail;
    {
        /* Below the listener's own limits, so that a new sender always finds a slot. */
        struct iha_conn_guard_limits lim = {CONNECTION_LIMIT * 3 / 4,
                                            PER_IP_CONNECTION_LIMIT * 3 / 4,
                                            (uint64_t)cfg->read_timeout_s * 1000u};
        if (iha_conn_guard_new(&lim, h, &h->guard) != IHA_OK)
            goto fail;
    }
    if (cfg->tls && (rc = iha_tls_listener_new(cfg->tls, &h->tls, err)) != IHA_OK)
        goto fail;
    h->ok_response = MHD_create_response_from_buffer(sizeof(ok_text) - 1, (void *)ok_text,
                                                     MHD_RESPMEM_PERSISTENT);
    h->not_ready = make_not_ready("starting");
    if (!h->ok_response || !h->not_ready ||
        MHD_add_response_header(h->ok_response, MHD_HTTP_HEADER_CONTENT_TYPE,
                                "text/plain; charset=utf-8") != MHD_YES)
        goto fail;

    tls_options(h, tls_opts, &flags);
    h->daemon =
        MHD_start_daemon(flags, 0, NULL, NULL, on_access, h, MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log,
                         h, MHD_OPTION_ARRAY, tls_opts, MHD_OPTION_SOCK_ADDR,
                         (struct sockaddr *)&ss, MHD_OPTION_CONNECTION_LIMIT,
                         (unsigned int)CONNECTION_LIMIT, MHD_OPTION_PER_IP_CONNECTION_LIMIT,
                         (unsigned int)PER_IP_CONNECTION_LIMIT, MHD_OPTION_CONNECTION_TIMEOUT,
                         (unsigned int)cfg->read_timeout_s, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
                         (size_t)CONNECTION_MEMORY_LIMIT, MHD_OPTION_NOTIFY_COMPLETED, on_completed,
                         h, MHD_OPTION_NOTIFY_CONNECTION, on_connection, h, MHD_OPTION_END);
    atomic_store(&h->starting, false);
    if (!h->daemon) {
        iha_err_set(err, "web.listen_address", "cannot listen on %s: %s", cfg->listen_address,
                    h->start_msg[0] ? h->start_msg : "libmicrohttpd failed to start");
        rc = IHA_E_IO;
        goto fail;
    }
    info = MHD_get_daemon_info(h->daemon, MHD_DAEMON_INFO_BIND_PORT);
    h->port = info ? info->port : 0;
    *out = h;
    return IHA_OK;

fail_nomem:
    iha_err_set(err, NULL, "out of memory");
    return IHA_E_NOMEM;
fail:
    if (rc == IHA_E_NOMEM)
        iha_err_set(err, NULL, "out of memory");
    free_http(h);
    return rc;
}

void iha_http_set_ready(struct iha_http *h, bool ready, const char *why)
{
    struct MHD_Response *resp = NULL;
    struct MHD_Response *old = NULL;

    if (!h)
        return;
    if (!ready)
        resp = make_not_ready(why);
    pthread_mutex_lock(&h->ready_lock);
    h->ready = ready;
    if (resp) {
        old = h->not_ready;
        h->not_ready = resp;
    }
    pthread_mutex_unlock(&h->ready_lock);
    /* MHD holds its own reference to a response still being sent. */
    if (old)
        MHD_destroy_response(old);
}

unsigned iha_http_port(const struct iha_http *h)
{
    return h ? h->port : 0;
}

/* Answers every request still waiting for its reply with 503 and resumes it. */
static void abandon_pending(struct iha_http *h)
{
    struct req *r;

    for (;;) {
        pthread_mutex_lock(&h->lock);
        r = h->pending;
        if (!r) {
            pthread_mutex_unlock(&h->lock);
            return;
        }
        /* Lock order elsewhere is r then h: only try, and back off on contention. */
        if (pthread_mutex_trylock(&r->lock) != 0) {
            pthread_mutex_unlock(&h->lock);
            usleep(1000);
            continue;
        }
        pending_unlink(h, r);
        r->abandoned = true;
        r->reply_ready = true;
        r->reply_status = 503;
        r->reply_body = error_body(r->route->format, 503, "the gateway is shutting down", "");
        if (r->suspended) {
            r->suspended = false;
            MHD_resume_connection(r->conn);
        }
        pthread_mutex_unlock(&r->lock);
        pthread_mutex_unlock(&h->lock);
    }
}

void iha_http_stop(struct iha_http *h)
{
    MHD_socket lsock;
    struct timespec deadline;
    long long end;

    if (!h)
        return;
    atomic_store(&h->stopping, true);
    lsock = MHD_quiesce_daemon(h->daemon);
    /* Credentials still queued come back unchecked: their requests get 503 and retry. */
    iha_auth_verifier_stop(h->verifier);

    deadline = iha_clock_deadline(STOP_WAIT_REPLIES_MS);
    pthread_mutex_lock(&h->lock);
    while (h->n_pending > 0)
        if (pthread_cond_timedwait(&h->cond, &h->lock, &deadline) == ETIMEDOUT)
            break;
    if (h->n_pending > 0) {
        char n[24];
        snprintf(n, sizeof(n), "%zu", h->n_pending);
        IHA_LOG(IHA_LOG_WARN, "answering requests still waiting for delivery with 503", "count", n);
    }
    pthread_mutex_unlock(&h->lock);
    abandon_pending(h);

    /* Give the answers just queued a moment to reach their senders. */
    end = now_ms() + STOP_WAIT_DRAIN_MS;
    while (atomic_load(&h->n_inflight) > 0 && now_ms() < end)
        usleep(5000);
    /* A request ingested just before stopping was set may have been suspended since. */
    abandon_pending(h);
    usleep(20000);

    MHD_stop_daemon(h->daemon);
    if (lsock != MHD_INVALID_SOCKET)
        close(lsock);
    free_http(h);
}
