/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file http_server_conn.c
 * @brief One connection before its first request: the guard slot that bounds slow
 *        and unauthenticated connections, and the TLS client certificate it presents.
 *
 * Apart from requests because MHD reports connections and TLS handshakes on their own
 * callbacks, and a connection outlives the requests it carries.
 */
#include "http_server_int.h"

/* First call for a request: everything decided from the headers alone. */
/* The connection's slot in the guard (NULL when it is not tracked). */
struct iha_conn_slot *iha_http_conn_slot(struct MHD_Connection *c)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);

    return ci ? ci->socket_context : NULL;
}

/* Tracks connections in the guard; on this thread, so the guard needs no lock. */
void iha_http_on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
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
                                          (uint64_t)iha_http_now_ms(), &ev);
    if (h->metrics && ev.deadline)
        iha_metrics_add(h->metrics, "iha_gateway_http_connections_closed_total", ev.deadline,
                        "deadline");
    if (h->metrics && ev.limit)
        iha_metrics_add(h->metrics, "iha_gateway_http_connections_closed_total", ev.limit,
                        "untrusted_limit");
}

/* The certificate for one handshake; GnuTLS gives no closure, the connection leads to it. */
int iha_http_on_tls_cert(gnutls_session_t session, const struct gnutls_cert_retr_st *info,
                         gnutls_pcert_st **certs, unsigned int *pcert_length,
                         gnutls_ocsp_data_st **ocsp, unsigned int *ocsp_length,
                         gnutls_privkey_t *privkey, unsigned int *flags)
{
    struct MHD_Connection *c = gnutls_session_get_ptr(session);
    struct iha_http *h = c ? iha_conn_slot_owner(iha_http_conn_slot(c)) : NULL;

    (void)info;
    *ocsp = NULL;
    *ocsp_length = 0;
    if (!h || !h->tls)
        return -1;
    return iha_tls_listener_retrieve(h->tls, certs, pcert_length, privkey, flags);
}
