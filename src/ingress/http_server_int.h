/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file http_server_int.h
 * @brief Private to the HTTP server's files: the server object, one request's context, the
 *        route entry, and the functions the parts share. Never included from outside them.
 *
 * One job per file: http_server.c (a request from libmicrohttpd's first call through its
 * headers, authentication and body to ingest), http_server_suspend.c (a request waiting for
 * another thread), http_server_reply.c (answers, refusals, logs and counts),
 * http_server_route.c (the route table and request-line parsing), http_server_ops.c (health,
 * readiness, metrics, status page and JSON, events), http_server_conn.c (connection slots and
 * TLS client certificates), http_server_daemon.c (start and stop). Threads and locks:
 * docs/threads.md.
 */
#ifndef IHA_HTTP_SERVER_INT_H
#define IHA_HTTP_SERVER_INT_H

#include <gnutls/gnutls.h>
#include <jansson.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include "auth.h"
#include "auth_verifier.h"
#include "buf.h"
#include "clock.h"
#include "conn_guard.h"
#include "http_server.h"
#include "metrics.h"
#include "tls_listener.h"

#define URL_MAX 512

enum method { M_GET = 1, M_HEAD = 2, M_POST = 4 };

/* The error body shape a route's clients understand. */
enum err_format {
    FMT_GATEWAY,  /* {"code", "error", "detail", "field"} */
    FMT_OPENSTACK /* {"<faultName>": {"code", "message"}}, Keystone's shape for 401 */
};

enum route_kind {
    R_INGEST,
    R_HEALTHY,
    R_READY,
    R_METRICS,
    R_PAGE,
    R_STATUS,
    R_EVENTS,
    R_HOLDS,
    R_RELOAD
};

struct route {
    const char *path; /* '*' stands for one project_id segment */
    unsigned methods;
    enum route_kind kind;
    enum iha_source source;
    enum err_format format;
    bool auth;
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
    struct iha_buf body; /* capped at max_body */
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

static inline long long iha_http_now_ms(void)
{
    return (long long)iha_clock_ms();
}

/* http_server.c: a request's life, called by libmicrohttpd */
void iha_http_req_unref_unlock(struct req *r);
enum MHD_Result iha_http_on_access(void *cls, struct MHD_Connection *c, const char *url,
                                   const char *method, const char *version, const char *upload_data,
                                   size_t *upload_data_size, void **con_cls);
void iha_http_on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                           enum MHD_RequestTerminationCode toe);

/* http_server_reply.c: answers, refusals, logs and counts */
json_t *iha_http_error_body(enum err_format fmt, unsigned status, const char *detail,
                            const char *field);
void iha_http_peer_name(struct MHD_Connection *c, char *out, size_t size);
void iha_http_log_request(struct iha_http *h, struct MHD_Connection *c, const char *method,
                          const char *url, unsigned status, long long t0_ms);
void iha_http_log_reject(struct iha_http *h, struct MHD_Connection *c, const char *method,
                         const char *url, unsigned status, const char *reason);
enum MHD_Result iha_http_queue_json(struct MHD_Connection *c, unsigned status, json_t *body,
                                    const char *hname, const char *hvalue);
enum MHD_Result iha_http_reject(struct iha_http *h, struct MHD_Connection *c, const char *method,
                                const char *url, enum err_format fmt, unsigned status,
                                const char *detail, const char *field);
enum MHD_Result iha_http_reject_busy(struct iha_http *h, struct MHD_Connection *c,
                                     const char *method, const char *url, enum err_format fmt,
                                     const char *detail);
enum err_format iha_http_format_for_url(const char *url);

/* http_server_route.c: the route table and request-line parsing */
const struct route *iha_http_route_find(const char *url);
unsigned iha_http_method_bit(const char *method);
void iha_http_allow_value(unsigned methods, char *out, size_t size);
bool iha_http_content_type_ok(const char *ct);
bool iha_http_form_type(const char *ct);
bool iha_http_parse_content_length(const char *s, unsigned long long *out);

/* http_server_suspend.c: requests waiting for another thread */
void iha_http_pending_unlink(struct iha_http *h, struct req *r);
void iha_http_req_resume(struct req *r);
void iha_http_on_reply(void *cls, unsigned status, json_t *body);
enum MHD_Result iha_http_answer_or_suspend(struct req *r, const char *method, const char *url);
bool iha_http_verify_submit(struct iha_http *h, struct MHD_Connection *c, struct req *r,
                            struct iha_auth_job *job);
bool iha_http_verify_settle(struct iha_http *h, struct req *r, const char *method, const char *url,
                            enum MHD_Result *ret);

/* http_server_ops.c: operator routes */
enum MHD_Result iha_http_answer_fixed(struct iha_http *h, struct MHD_Connection *c,
                                      const struct route *rt, const char *method, const char *url,
                                      long long t0);
enum MHD_Result iha_http_answer_ops(struct iha_http *h, struct MHD_Connection *c,
                                    const struct route *rt, const char *method, const char *url,
                                    long long t0);
struct MHD_Response *iha_http_make_not_ready(const char *why);

/* http_server_conn.c: connections, called by libmicrohttpd and GnuTLS */
struct iha_conn_slot *iha_http_conn_slot(struct MHD_Connection *c);
void iha_http_on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
                            enum MHD_ConnectionNotificationCode toe);
int iha_http_on_tls_cert(gnutls_session_t session, const struct gnutls_cert_retr_st *info,
                         gnutls_pcert_st **certs, unsigned int *pcert_length,
                         gnutls_ocsp_data_st **ocsp, unsigned int *ocsp_length,
                         gnutls_privkey_t *privkey, unsigned int *flags);

#endif /* IHA_HTTP_SERVER_INT_H */
