/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file http_server_daemon.c
 * @brief Starting and stopping the server: the listen address, TLS options, the
 *        libmicrohttpd daemon, and the stop that answers every waiting request.
 */
#include "http_server_int.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "listen_addr.h"
#include "log.h"

#define CONNECTION_LIMIT 256
#define PER_IP_CONNECTION_LIMIT 64
#define CONNECTION_MEMORY_LIMIT (32 * 1024)
/* How long iha_http_stop() waits for outstanding replies, then for their delivery. */
#define STOP_WAIT_REPLIES_MS 5000
#define STOP_WAIT_DRAIN_MS 1000

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

/* MHD options for TLS (an empty list for plain HTTP); @p opts holds at least 4. */
static void tls_options(struct iha_http *h, struct MHD_OptionItem *opts, unsigned *flags)
{
    size_t n = 0;

    if (h->tls) {
        *flags |= MHD_USE_TLS;
        opts[n++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_CERT_CALLBACK2, 0,
                                            (void *)iha_http_on_tls_cert};
        opts[n++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_PRIORITIES, 0,
                                            (void *)iha_tls_listener_priorities(h->tls)};
        if (iha_tls_listener_client_ca(h->tls))
            opts[n++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_TRUST, 0,
                                                (void *)iha_tls_listener_client_ca(h->tls)};
    }
    opts[n] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};
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
    h->not_ready = iha_http_make_not_ready("starting");
    if (!h->ok_response || !h->not_ready ||
        MHD_add_response_header(h->ok_response, MHD_HTTP_HEADER_CONTENT_TYPE,
                                "text/plain; charset=utf-8") != MHD_YES)
        goto fail;

    tls_options(h, tls_opts, &flags);
    h->daemon = MHD_start_daemon(
        flags, 0, NULL, NULL, iha_http_on_access, h, MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, h,
        MHD_OPTION_ARRAY, tls_opts, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned int)CONNECTION_LIMIT,
        MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned int)PER_IP_CONNECTION_LIMIT,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)cfg->read_timeout_s,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)CONNECTION_MEMORY_LIMIT,
        MHD_OPTION_NOTIFY_COMPLETED, iha_http_on_completed, h, MHD_OPTION_NOTIFY_CONNECTION,
        iha_http_on_connection, h, MHD_OPTION_END);
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
        iha_http_pending_unlink(h, r);
        r->abandoned = true;
        r->reply_ready = true;
        r->reply_status = 503;
        r->reply_body =
            iha_http_error_body(r->route->format, 503, "the gateway is shutting down", "");
        iha_http_req_resume(r);
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
    end = iha_http_now_ms() + STOP_WAIT_DRAIN_MS;
    while (atomic_load(&h->n_inflight) > 0 && iha_http_now_ms() < end)
        usleep(5000);
    /* A request ingested just before stopping was set may have been suspended since. */
    abandon_pending(h);
    usleep(20000);

    MHD_stop_daemon(h->daemon);
    if (lsock != MHD_INVALID_SOCKET)
        close(lsock);
    free_http(h);
}
