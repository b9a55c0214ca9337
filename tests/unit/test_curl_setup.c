/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file test_curl_setup.c
 * @brief The options of an outbound request, seen from the outside: what a small peer on
 *        127.0.0.1 receives (a POST, or a GET without a body), a redirect that is not
 *        followed, a peer that never answers ending in a timeout, protocols other than
 *        HTTP(S) refused, the CA file in force.
 */
#include "curl_setup.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cmocka_includes.h"
#include "test_util.h"

#define BODY "{\"notification\": {\"type\": \"COMPUTE_HOST\"}}"
#define REDIRECT_BODY "{\"moved\": true}"

/* What the peer saw: how many requests, and the last one. */
struct seen {
    int requests;
    char method[16], url[64], ua[64], ctype[64], accept[64], body[256];
    bool has_expect;
};

struct peer {
    struct MHD_Daemon *mhd;
    unsigned port;
    pthread_mutex_t lock;
    struct seen seen; /* under lock: written on the peer's thread */
};

struct upload {
    char body[256];
    size_t len;
};

static void copy_hdr(struct MHD_Connection *c, const char *name, char *out, size_t size)
{
    const char *v = MHD_lookup_connection_value(c, MHD_HEADER_KIND, name);

    snprintf(out, size, "%s", v ? v : "");
}

/* Records the request, then answers 302 to /elsewhere: a client that follows asks twice. */
static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    struct peer *p = cls;
    struct upload *u = *con_cls;
    struct MHD_Response *r;
    enum MHD_Result ret;

    (void)version;
    if (!u) {
        u = calloc(1, sizeof(*u));
        if (!u)
            return MHD_NO;
        *con_cls = u;
        return MHD_YES;
    }
    if (*upload_data_size > 0) {
        size_t n = *upload_data_size;
        if (n > sizeof(u->body) - 1 - u->len)
            n = sizeof(u->body) - 1 - u->len;
        memcpy(u->body + u->len, upload_data, n);
        u->len += n;
        *upload_data_size = 0;
        return MHD_YES;
    }
    pthread_mutex_lock(&p->lock);
    p->seen.requests++;
    snprintf(p->seen.method, sizeof(p->seen.method), "%s", method);
    snprintf(p->seen.url, sizeof(p->seen.url), "%s", url);
    memcpy(p->seen.body, u->body, u->len + 1);
    copy_hdr(c, "User-Agent", p->seen.ua, sizeof(p->seen.ua));
    copy_hdr(c, "Content-Type", p->seen.ctype, sizeof(p->seen.ctype));
    copy_hdr(c, "Accept", p->seen.accept, sizeof(p->seen.accept));
    p->seen.has_expect = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Expect") != NULL;
    pthread_mutex_unlock(&p->lock);
    r = MHD_create_response_from_buffer(strlen(REDIRECT_BODY), (void *)(uintptr_t)REDIRECT_BODY,
                                        MHD_RESPMEM_PERSISTENT);
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, "Location", "/elsewhere");
    MHD_add_response_header(r, "X-Openstack-Request-Id", "req-1");
    ret = MHD_queue_response(c, 302, r);
    MHD_destroy_response(r);
    return ret;
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)c;
    (void)toe;
    free(*con_cls);
    *con_cls = NULL;
}

static struct peer *peer_start(void)
{
    struct peer *p = calloc(1, sizeof(*p));
    const union MHD_DaemonInfo *info;
    struct sockaddr_in sa;

    assert_non_null(p);
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    pthread_mutex_init(&p->lock, NULL);
    p->mhd = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG, 0, NULL, NULL,
                              on_request, p, MHD_OPTION_NOTIFY_COMPLETED, on_completed, p,
                              MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa, MHD_OPTION_END);
    assert_non_null(p->mhd);
    info = MHD_get_daemon_info(p->mhd, MHD_DAEMON_INFO_BIND_PORT);
    assert_non_null(info);
    p->port = info->port;
    return p;
}

static struct seen peer_seen(struct peer *p)
{
    struct seen s;

    pthread_mutex_lock(&p->lock);
    s = p->seen;
    pthread_mutex_unlock(&p->lock);
    return s;
}

static void peer_free(struct peer *p)
{
    MHD_stop_daemon(p->mhd);
    pthread_mutex_destroy(&p->lock);
    free(p);
}

/* What the callbacks of one transfer received. */
struct answer {
    char body[256];
    size_t len;
    bool saw_request_id;
};

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *ud)
{
    struct answer *a = ud;
    size_t n = size * nmemb;

    if (n > sizeof(a->body) - 1 - a->len)
        return 0;
    memcpy(a->body + a->len, ptr, n);
    a->len += n;
    a->body[a->len] = '\0';
    return n;
}

static size_t on_header(char *ptr, size_t size, size_t nmemb, void *ud)
{
    struct answer *a = ud;
    size_t n = size * nmemb;

    if (n >= 23 && strncasecmp(ptr, "X-Openstack-Request-Id:", 23) == 0)
        a->saw_request_id = true;
    return n;
}

/* The outcome of one transfer. */
struct run {
    CURLcode cc;
    long code;
    void *priv;
    char errbuf[CURL_ERROR_SIZE];
    struct answer answer;
};

/* Sends @p body (NULL: a GET) to @p url, the handle set up by iha_curl_setup() alone. */
static void run_request(const char *url, const char *body, long timeout_ms,
                        const struct iha_tls_config *tls, struct run *out)
{
    struct curl_slist *h = NULL;
    struct iha_err err;
    CURL *e = curl_easy_init();

    assert_non_null(e);
    memset(out, 0, sizeof(*out));
    assert_int_equal(iha_curl_json_headers(&h), IHA_OK);
    const struct iha_curl_opts o = {
        .url = url,
        .connect_timeout_ms = 2000,
        .timeout_ms = timeout_ms,
        .maxage_conn_s = 60,
        .private_data = out,
        .headers = h,
        .body = body,
        .body_len = body ? strlen(body) : 0,
        .on_body = on_body,
        .body_cls = &out->answer,
        .on_header = on_header,
        .header_cls = &out->answer,
        .errbuf = out->errbuf,
        .tls = tls,
    };
    assert_int_equal(iha_curl_setup(e, &o, &err), IHA_OK);
    out->cc = curl_easy_perform(e);
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &out->code);
    curl_easy_getinfo(e, CURLINFO_PRIVATE, &out->priv);
    curl_easy_cleanup(e);
    curl_slist_free_all(h);
}

/* POSTs BODY to @p url with @p tls. */
static void run_post(const char *url, long timeout_ms, const struct iha_tls_config *tls,
                     struct run *out)
{
    run_request(url, BODY, timeout_ms, tls, out);
}

/* The peer gets one POST with the body, the JSON headers, no Expect, our User-Agent. */
static void test_post_reaches_peer(void **state)
{
    struct peer *p = peer_start();
    char url[128];
    struct seen seen;
    struct run r;

    (void)state;
    snprintf(url, sizeof(url), "http://127.0.0.1:%u/v1/notifications", p->port);
    run_post(url, 10000, NULL, &r);
    assert_int_equal(r.cc, CURLE_OK);
    assert_int_equal(r.code, 302);
    assert_ptr_equal(r.priv, &r);
    seen = peer_seen(p);
    /* Not followed: Instance HA or Keystone redirecting elsewhere is an answer, not a hop. */
    assert_int_equal(seen.requests, 1);
    assert_string_equal(seen.method, "POST");
    assert_string_equal(seen.url, "/v1/notifications");
    assert_string_equal(seen.body, BODY);
    assert_string_equal(seen.ua, "iha-gateway/" IHA_VERSION);
    assert_string_equal(seen.ctype, "application/json");
    assert_string_equal(seen.accept, "application/json");
    assert_false(seen.has_expect);
    assert_string_equal(r.answer.body, REDIRECT_BODY);
    assert_true(r.answer.saw_request_id);
    peer_free(p);
}

/* Without a body the request is a GET with no body sent. */
static void test_get_without_body(void **state)
{
    struct peer *p = peer_start();
    char url[128];
    struct seen seen;
    struct run r;

    (void)state;
    snprintf(url, sizeof(url), "http://127.0.0.1:%u/v1/segments", p->port);
    run_request(url, NULL, 10000, NULL, &r);
    assert_int_equal(r.cc, CURLE_OK);
    assert_int_equal(r.code, 302);
    seen = peer_seen(p);
    assert_int_equal(seen.requests, 1);
    assert_string_equal(seen.method, "GET");
    assert_string_equal(seen.body, "");
    peer_free(p);
}

/* A peer that takes the connection and never answers ends in libcurl's timeout. */
static void test_silent_peer_times_out(void **state)
{
    unsigned port;
    int fd = test_blackhole_start(&port, 1);
    char url[128];
    struct run r;

    (void)state;
    snprintf(url, sizeof(url), "http://127.0.0.1:%u/v3/auth/tokens", port);
    run_post(url, 200, NULL, &r);
    assert_int_equal(r.cc, CURLE_OPERATION_TIMEDOUT);
    assert_int_equal(r.code, 0);
    assert_non_null(strstr(r.errbuf, "timed out"));
    close(fd);
}

/* Only http and https: a file: or ftp: URL from a catalog or a config is refused. */
static void test_other_protocols_refused(void **state)
{
    struct run r;

    (void)state;
    run_post("file:///etc/hostname", 10000, NULL, &r);
    assert_int_equal(r.cc, CURLE_UNSUPPORTED_PROTOCOL);
    run_post("ftp://127.0.0.1:1/x", 10000, NULL, &r);
    assert_int_equal(r.cc, CURLE_UNSUPPORTED_PROTOCOL);
}

/* The CA file is in force: one that does not exist fails the HTTPS transfer. */
static void test_ca_file_applied(void **state)
{
    unsigned port;
    int fd = test_blackhole_start(&port, 1);
    char url[128];
    struct iha_tls_config tls = {.ca_file = "/nonexistent/iha-ca.pem"};
    struct run r;

    (void)state;
    snprintf(url, sizeof(url), "https://127.0.0.1:%u/", port);
    run_post(url, 10000, &tls, &r);
    assert_int_equal(r.cc, CURLE_SSL_CACERT_BADFILE);
    close(fd);
}

static void test_json_headers(void **state)
{
    struct curl_slist *h = NULL;
    const char *want[] = {"Content-Type: application/json", "Accept: application/json", "Expect:"};
    size_t i = 0;

    (void)state;
    assert_int_equal(iha_curl_json_headers(&h), IHA_OK);
    for (const struct curl_slist *n = h; n; n = n->next, i++) {
        assert_true(i < 3);
        assert_string_equal(n->data, want[i]);
    }
    assert_int_equal(i, 3);
    curl_slist_free_all(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_post_reaches_peer),
        cmocka_unit_test(test_get_without_body),
        cmocka_unit_test(test_silent_peer_times_out),
        cmocka_unit_test(test_other_protocols_refused),
        cmocka_unit_test(test_ca_file_applied),
        cmocka_unit_test(test_json_headers),
    };
    int rc;

    curl_global_init(CURL_GLOBAL_DEFAULT);
    rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
