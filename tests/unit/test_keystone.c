/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file test_keystone.c
 * @brief Renewal schedule, time and URL helpers, request bodies, and the token cache
 *        against a small fake Keystone on 127.0.0.1 (one renewal shared, 401, backoff,
 *        Keystone down with a valid cached token, background renewal, the on_auth hook).
 */
#include "clock.h"
#include "keystone.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "cmocka_includes.h"
#include "test_gate.h"

/* ---- pure helpers --------------------------------------------------------------- */

static void test_schedule(void **state)
{
    struct iha_keystone_plan p;

    (void)state;
    /* One hour: 5 min margin, jitter up to 60 s, usable until 1 min before expiry. */
    for (uint64_t r = 0; r < 200000; r += 997) {
        p = iha_keystone_schedule(3600000, r);
        assert_true(p.renew_after_ms <= 3300000);
        assert_true(p.renew_after_ms >= 3240000);
        assert_int_equal(p.usable_for_ms, 3540000);
    }
    assert_int_equal(iha_keystone_schedule(3600000, 0).renew_after_ms, 3300000);
    assert_int_equal(iha_keystone_schedule(3600000, 60000).renew_after_ms, 3240000);
    /* One minute: a quarter (15 s) is shorter than 5 min. */
    p = iha_keystone_schedule(60000, 0);
    assert_int_equal(p.renew_after_ms, 45000);
    assert_int_equal(p.usable_for_ms, 54000);
    p = iha_keystone_schedule(60000, 3000);
    assert_int_equal(p.renew_after_ms, 42000);
    /* 24 h: still 5 min margin; renewal always before the token stops being handed out. */
    p = iha_keystone_schedule(86400000, 12345);
    assert_true(p.renew_after_ms >= 86400000 - 360000 && p.renew_after_ms <= 86100000);
    for (uint64_t l = 0; l < 7200000; l += 12347) {
        p = iha_keystone_schedule(l, l * 31);
        assert_true(p.renew_after_ms <= p.usable_for_ms);
        assert_true(p.usable_for_ms <= l);
    }
    /* An already expired token: renew now. */
    p = iha_keystone_schedule(0, 99);
    assert_int_equal(p.renew_after_ms, 0);
    assert_int_equal(p.usable_for_ms, 0);
}

static void test_retry(void **state)
{
    (void)state;
    assert_int_equal(iha_backoff_ms(1, 60000, 0), 800);
    assert_int_equal(iha_backoff_ms(1, 60000, 400), 1200);
    assert_int_equal(iha_backoff_ms(2, 60000, 0), 1600);
    assert_int_equal(iha_backoff_ms(6, 60000, 0), 25600);
    assert_int_equal(iha_backoff_ms(7, 60000, 0), 48000); /* capped at 60 s, -20 % */
    assert_int_equal(iha_backoff_ms(100, 60000, 0), 48000);
    assert_true(iha_backoff_ms(100, 300000, 7) <= 360000);
}

static void test_parse_time(void **state)
{
    int64_t t = 0;

    (void)state;
    assert_int_equal(iha_keystone_parse_time("2026-11-26T14:45:35.000000Z", &t), IHA_OK);
    assert_true(t == 1795704335000LL);
    assert_int_equal(iha_keystone_parse_time("2026-11-26T14:45:35.25Z", &t), IHA_OK);
    assert_true(t == 1795704335250LL);
    assert_int_equal(iha_keystone_parse_time("1970-01-01T00:00:01", &t), IHA_OK);
    assert_true(t == 1000);
    assert_int_equal(iha_keystone_parse_time("1970-01-01T00:00:01+00:00", &t), IHA_OK);
    assert_int_equal(iha_keystone_parse_time("2026-11-26 14:45:35Z", &t), IHA_E_PARSE);
    assert_int_equal(iha_keystone_parse_time("2026-13-26T14:45:35Z", &t), IHA_E_PARSE);
    assert_int_equal(iha_keystone_parse_time("2026-11-26T14:45:35.Z", &t), IHA_E_PARSE);
    assert_int_equal(iha_keystone_parse_time("2026-11-26T14:45:35+02:00", &t), IHA_E_PARSE);
    assert_int_equal(iha_keystone_parse_time("", &t), IHA_E_PARSE);
    assert_int_equal(iha_keystone_parse_time(NULL, &t), IHA_E_PARSE);
}

static void test_urls(void **state)
{
    char out[128], u[128];

    (void)state;
    assert_int_equal(iha_keystone_tokens_url("http://k:5000", out, sizeof(out)), IHA_OK);
    assert_string_equal(out, "http://k:5000/v3/auth/tokens");
    assert_int_equal(iha_keystone_tokens_url("http://k:5000/v3/", out, sizeof(out)), IHA_OK);
    assert_string_equal(out, "http://k:5000/v3/auth/tokens");
    assert_int_equal(iha_keystone_tokens_url("https://k/identity/v3", out, sizeof(out)), IHA_OK);
    assert_string_equal(out, "https://k/identity/v3/auth/tokens");
    assert_int_equal(iha_keystone_tokens_url("http://k:5000", out, 10), IHA_E_LIMIT);

    snprintf(u, sizeof(u), "http://ctl:15868/v1/0123456789abcdef");
    iha_keystone_base_url(u);
    assert_string_equal(u, "http://ctl:15868");
    snprintf(u, sizeof(u), "http://ctl/instance-ha/v1/");
    iha_keystone_base_url(u);
    assert_string_equal(u, "http://ctl/instance-ha");
    snprintf(u, sizeof(u), "http://ctl:15868");
    iha_keystone_base_url(u);
    assert_string_equal(u, "http://ctl:15868");
    snprintf(u, sizeof(u), "http://ctl/instance-ha/");
    iha_keystone_base_url(u);
    assert_string_equal(u, "http://ctl/instance-ha");
    snprintf(u, sizeof(u), "http://v1/x");
    iha_keystone_base_url(u);
    assert_string_equal(u, "http://v1/x");
}

static const char catalog_json[] =
    "[{\"type\": \"identity\", \"endpoints\": [{\"interface\": \"public\", \"region_id\": "
    "\"RegionOne\", \"url\": \"http://k:5000/v3/\"}]},"
    " {\"type\": \"instance-ha\", \"name\": \"masakari\", \"endpoints\": ["
    "  {\"interface\": \"internal\", \"region_id\": \"RegionOne\", \"url\": \"http://int1/v1/p\"},"
    "  {\"interface\": \"public\", \"region_id\": \"RegionOne\", \"url\": \"http://pub1/v1/p\"},"
    "  {\"interface\": \"public\", \"region\": \"RegionTwo\", \"url\": \"http://pub2/v1/p\"}]}]";

static void test_catalog(void **state)
{
    json_t *cat = json_loads(catalog_json, 0, NULL);
    char out[64];

    (void)state;
    assert_non_null(cat);
    assert_int_equal(iha_keystone_catalog_url(cat, "instance-ha", NULL, NULL, out, sizeof(out)),
                     IHA_OK);
    assert_string_equal(out, "http://pub1/v1/p");
    assert_int_equal(
        iha_keystone_catalog_url(cat, "instance-ha", "internal", NULL, out, sizeof(out)), IHA_OK);
    assert_string_equal(out, "http://int1/v1/p");
    assert_int_equal(
        iha_keystone_catalog_url(cat, "instance-ha", "public", "RegionTwo", out, sizeof(out)),
        IHA_OK);
    assert_string_equal(out, "http://pub2/v1/p");
    assert_int_equal(iha_keystone_catalog_url(cat, "instance-ha", "admin", NULL, out, sizeof(out)),
                     IHA_E_NOTFOUND);
    assert_int_equal(
        iha_keystone_catalog_url(cat, "instance-ha", "public", "RegionX", out, sizeof(out)),
        IHA_E_NOTFOUND);
    assert_int_equal(iha_keystone_catalog_url(cat, "compute", NULL, NULL, out, sizeof(out)),
                     IHA_E_NOTFOUND);
    assert_int_equal(iha_keystone_catalog_url(cat, "instance-ha", NULL, NULL, out, 8), IHA_E_LIMIT);
    assert_int_equal(iha_keystone_catalog_url(NULL, "instance-ha", NULL, NULL, out, sizeof(out)),
                     IHA_E_NOTFOUND);
    json_decref(cat);
    /* An endpoint with credentials in its URL would be shown and logged: refused, not copied. */
    cat = json_loads("[{\"type\": \"instance-ha\", \"endpoints\": [{\"interface\": \"public\", "
                     "\"url\": \"http://u:hunter2@pub1/v1/p\"}]}]",
                     0, NULL);
    assert_non_null(cat);
    assert_int_equal(iha_keystone_catalog_url(cat, "instance-ha", NULL, NULL, out, sizeof(out)),
                     IHA_E_INVAL);
    assert_null(strstr(out, "hunter2"));
    json_decref(cat);
}

static char *dump(json_t *j)
{
    char *s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(j);
    return s;
}

static void test_request_body(void **state)
{
    struct iha_keystone_config c;
    char *s;

    (void)state;
    memset(&c, 0, sizeof(c));
    c.method = IHA_KEYSTONE_PASSWORD;
    c.username = "masakari";
    c.user_domain_name = "Default";
    c.project_name = "service";
    s = dump(iha_keystone_request_body(&c, "pw"));
    assert_string_equal(s, "{\"auth\":{\"identity\":{\"methods\":[\"password\"],\"password\":{"
                           "\"user\":{\"domain\":{\"name\":\"Default\"},\"name\":\"masakari\","
                           "\"password\":\"pw\"}}},\"scope\":{\"project\":{\"domain\":{\"name\":"
                           "\"Default\"},\"name\":\"service\"}}}}");
    free(s);
    c.user_id = "u1";
    c.project_id = "p1";
    s = dump(iha_keystone_request_body(&c, "pw"));
    assert_string_equal(s, "{\"auth\":{\"identity\":{\"methods\":[\"password\"],\"password\":{"
                           "\"user\":{\"id\":\"u1\",\"password\":\"pw\"}}},\"scope\":{"
                           "\"project\":{\"id\":\"p1\"}}}}");
    free(s);
    /* Domains default to "Default"; a domain id wins over a name. */
    c.user_id = NULL;
    c.user_domain_name = NULL;
    c.project_id = NULL;
    c.project_domain_id = "d7";
    s = dump(iha_keystone_request_body(&c, "pw"));
    assert_non_null(strstr(s, "\"user\":{\"domain\":{\"name\":\"Default\"}"));
    assert_non_null(strstr(s, "\"project\":{\"domain\":{\"id\":\"d7\"},\"name\":\"service\"}"));
    free(s);

    memset(&c, 0, sizeof(c));
    c.method = IHA_KEYSTONE_APPLICATION_CREDENTIAL;
    c.application_credential_id = "ac1";
    s = dump(iha_keystone_request_body(&c, "sec"));
    assert_string_equal(s, "{\"auth\":{\"identity\":{\"application_credential\":{\"id\":\"ac1\","
                           "\"secret\":\"sec\"},\"methods\":[\"application_credential\"]}}}");
    free(s);
    c.application_credential_id = NULL;
    c.application_credential_name = "iha";
    c.username = "ops";
    s = dump(iha_keystone_request_body(&c, "sec"));
    assert_string_equal(s, "{\"auth\":{\"identity\":{\"application_credential\":{\"name\":\"iha\","
                           "\"secret\":\"sec\",\"user\":{\"domain\":{\"name\":\"Default\"},"
                           "\"name\":\"ops\"}},\"methods\":[\"application_credential\"]}}}");
    free(s);
    c.username = NULL;
    assert_null(iha_keystone_request_body(&c, "sec"));
}

static void test_new_validates(void **state)
{
    struct iha_keystone_config c;
    struct iha_keystone *ks = NULL;
    struct iha_err err = {0};

    (void)state;
    memset(&c, 0, sizeof(c));
    c.method = IHA_KEYSTONE_PASSWORD;
    assert_int_equal(iha_keystone_new(&c, &ks, &err), IHA_E_CONFIG);
    assert_non_null(strstr(err.msg, "auth_url"));
    c.auth_url = "ftp://k";
    assert_int_equal(iha_keystone_new(&c, &ks, &err), IHA_E_CONFIG);
    c.auth_url = "http://127.0.0.1:1";
    c.username = "u";
    c.password = "p";
    assert_int_equal(iha_keystone_new(&c, &ks, &err), IHA_E_CONFIG);
    assert_non_null(strstr(err.msg, "project"));
    c.project_name = "service";
    /* clouds.yaml auth_url reaches here unchecked: credentials in it are refused too. */
    c.auth_url = "http://svc:hunter2@127.0.0.1:1/v3";
    assert_int_equal(iha_keystone_new(&c, &ks, &err), IHA_E_CONFIG);
    assert_non_null(strstr(err.msg, "must not be written into a URL"));
    assert_null(strstr(err.msg, "hunter2"));
    c.auth_url = "http://127.0.0.1:1";
    assert_int_equal(iha_keystone_new(&c, &ks, &err), IHA_OK);
    iha_keystone_free(ks);

    memset(&c, 0, sizeof(c));
    c.method = IHA_KEYSTONE_APPLICATION_CREDENTIAL;
    c.auth_url = "http://127.0.0.1:1";
    c.application_credential_name = "n";
    c.application_credential_secret = "s";
    assert_int_equal(iha_keystone_new(&c, &ks, &err), IHA_E_CONFIG);
    c.user_id = "u";
    assert_int_equal(iha_keystone_new(&c, &ks, &err), IHA_OK);
    iha_keystone_free(ks);
}

/* ---- a fake Keystone ------------------------------------------------------------------ */

struct fake {
    int lfd;
    int port;
    pthread_t thread;
    pthread_mutex_t lock;
    int requests;          /* guarded by lock */
    int status;            /* 201 or an error to answer */
    int lifetime_s;        /* expires_at - issued_at */
    int later_lifetime_s;  /* of every token after the first; 0 = lifetime_s */
    bool hold;             /* answers wait until the test opens the gate */
    struct test_gate gate; /* each request is counted here */
    bool stop;
    char last_body[2048];
};

static void answer(struct fake *fk, int fd)
{
    char req[8192], resp[4096], body[1024];
    size_t got = 0;
    int n, status, life, count;
    bool hold;
    char *hdr_end = NULL;
    long clen = 0;

    while (got < sizeof(req) - 1) {
        ssize_t r = recv(fd, req + got, sizeof(req) - 1 - got, 0);
        if (r <= 0)
            return;
        got += (size_t)r;
        req[got] = '\0';
        hdr_end = strstr(req, "\r\n\r\n");
        if (hdr_end) {
            char *cl = strstr(req, "Content-Length:");
            clen = cl ? strtol(cl + 15, NULL, 10) : 0;
            if ((size_t)(hdr_end + 4 - req) + (size_t)clen <= got)
                break;
        }
    }
    pthread_mutex_lock(&fk->lock);
    count = ++fk->requests;
    status = fk->status;
    life = count > 1 && fk->later_lifetime_s ? fk->later_lifetime_s : fk->lifetime_s;
    hold = fk->hold;
    if (hdr_end)
        snprintf(fk->last_body, sizeof(fk->last_body), "%s", hdr_end + 4);
    pthread_mutex_unlock(&fk->lock);
    if (hold && !test_gate_pass(&fk->gate))
        fprintf(stderr, "fake keystone: held request released by its time bound\n");
    if (status == 201) {
        time_t now = time(NULL), exp = now + life;
        struct tm a, b;
        char iss_s[40], exp_s[40];
        gmtime_r(&now, &a);
        gmtime_r(&exp, &b);
        strftime(iss_s, sizeof(iss_s), "%Y-%m-%dT%H:%M:%S.000000Z", &a);
        strftime(exp_s, sizeof(exp_s), "%Y-%m-%dT%H:%M:%S.000000Z", &b);
        snprintf(body, sizeof(body),
                 "{\"token\": {\"issued_at\": \"%s\", \"expires_at\": \"%s\", \"roles\": "
                 "[{\"name\": \"admin\"}], \"catalog\": [{\"type\": \"instance-ha\", "
                 "\"endpoints\": [{\"interface\": \"public\", \"region_id\": \"RegionOne\", "
                 "\"url\": \"http://127.0.0.1:15868/v1/abc\"}]}]}}",
                 iss_s, exp_s);
        n = snprintf(resp, sizeof(resp),
                     "HTTP/1.1 201 Created\r\nX-Subject-Token: tok-%d\r\nContent-Type: "
                     "application/json\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n%s",
                     count, strlen(body), body);
    } else {
        snprintf(body, sizeof(body),
                 "{\"error\": {\"code\": %d, \"title\": \"Unauthorized\", \"message\": "
                 "\"The request you have made requires authentication.\"}}",
                 status);
        n = snprintf(resp, sizeof(resp),
                     "HTTP/1.1 %d Error\r\nContent-Type: application/json\r\nContent-Length: "
                     "%zu\r\nConnection: close\r\n\r\n%s",
                     status, strlen(body), body);
    }
    if (n > 0 && send(fd, resp, (size_t)n, MSG_NOSIGNAL) < 0)
        return;
}

static void *fake_main(void *arg)
{
    struct fake *fk = arg;

    for (;;) {
        int fd = accept(fk->lfd, NULL, NULL);
        bool stop;
        pthread_mutex_lock(&fk->lock);
        stop = fk->stop;
        pthread_mutex_unlock(&fk->lock);
        if (fd < 0 || stop) {
            if (fd >= 0)
                close(fd);
            if (stop)
                break;
            continue;
        }
        answer(fk, fd);
        close(fd);
    }
    return NULL;
}

static struct fake *fake_start(int lifetime_s)
{
    struct fake *fk = calloc(1, sizeof(*fk));
    struct sockaddr_in sa;
    socklen_t sl = sizeof(sa);
    int one = 1;

    assert_non_null(fk);
    pthread_mutex_init(&fk->lock, NULL);
    test_gate_init(&fk->gate);
    fk->status = 201;
    fk->lifetime_s = lifetime_s;
    fk->lfd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fk->lfd >= 0);
    setsockopt(fk->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fk->lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(fk->lfd, 16), 0);
    assert_int_equal(getsockname(fk->lfd, (struct sockaddr *)&sa, &sl), 0);
    fk->port = ntohs(sa.sin_port);
    assert_int_equal(pthread_create(&fk->thread, NULL, fake_main, fk), 0);
    return fk;
}

/* Stops accepting: afterwards connections are refused (Keystone "down"). */
static void fake_stop(struct fake *fk)
{
    int fd;
    struct sockaddr_in sa;

    if (fk->lfd < 0)
        return;
    test_gate_open(&fk->gate); /* a held answer must end for the thread to stop */
    pthread_mutex_lock(&fk->lock);
    fk->stop = true;
    pthread_mutex_unlock(&fk->lock);
    /* Wake accept() with one connection. */
    fd = socket(AF_INET, SOCK_STREAM, 0);
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sa.sin_port = htons((uint16_t)fk->port);
    /* Wakes the accept() of the fake's thread; without it the join below would hang. */
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    close(fd);
    pthread_join(fk->thread, NULL);
    close(fk->lfd);
    fk->lfd = -1;
}

static void fake_free(struct fake *fk)
{
    fake_stop(fk);
    test_gate_destroy(&fk->gate);
    pthread_mutex_destroy(&fk->lock);
    free(fk);
}

static int fake_requests(struct fake *fk)
{
    int n;
    pthread_mutex_lock(&fk->lock);
    n = fk->requests;
    pthread_mutex_unlock(&fk->lock);
    return n;
}

#define HOLD true /* fake_set(): answer once the test opens the gate */

static void fake_set(struct fake *fk, int status, bool hold)
{
    pthread_mutex_lock(&fk->lock);
    fk->status = status;
    fk->hold = hold;
    pthread_mutex_unlock(&fk->lock);
}

/* What the on_auth hook was told (it runs on the renewal thread or the caller's). */
struct auth_log {
    pthread_mutex_t lock;
    int success, failure;
    enum iha_rc last;
};

static void on_auth(void *cls, enum iha_rc rc)
{
    struct auth_log *a = cls;

    pthread_mutex_lock(&a->lock);
    if (rc == IHA_OK)
        a->success++;
    else
        a->failure++;
    a->last = rc;
    pthread_mutex_unlock(&a->lock);
}

static void auth_log_get(struct auth_log *a, int *success, int *failure, enum iha_rc *last)
{
    pthread_mutex_lock(&a->lock);
    *success = a->success;
    *failure = a->failure;
    *last = a->last;
    pthread_mutex_unlock(&a->lock);
}

/* An application credential client of @p fk, or a password one with @p password. */
static struct iha_keystone *ks_new(struct fake *fk, const char *password, struct auth_log *log)
{
    struct iha_keystone_config c;
    struct iha_keystone *ks = NULL;
    struct iha_err err = {0};
    char url[64];

    snprintf(url, sizeof(url), "http://127.0.0.1:%d/v3", fk->port);
    memset(&c, 0, sizeof(c));
    c.auth_url = url;
    if (password) {
        c.method = IHA_KEYSTONE_PASSWORD;
        c.username = "iha-gateway";
        c.password = password;
        c.project_name = "service";
    } else {
        c.method = IHA_KEYSTONE_APPLICATION_CREDENTIAL;
        c.application_credential_id = "ac1";
        c.application_credential_secret = "app-secret-value";
    }
    c.connect_timeout_ms = 1000;
    c.timeout_ms = 3000;
    if (log) {
        c.on_auth = on_auth;
        c.on_auth_cls = log;
    }
    assert_int_equal(iha_keystone_new(&c, &ks, &err), IHA_OK);
    return ks;
}

static struct iha_keystone *ks_for(struct fake *fk)
{
    return ks_new(fk, NULL, NULL);
}

/* Invalidates (a 401 seen) and @return whether the next header is @p want. */
static bool invalidated_header_is(struct iha_token_source *ts, const char *want)
{
    char h[128];

    iha_token_source_invalidate(ts);
    return iha_token_source_header(ts, "X-Auth-Token", h, sizeof(h)) == IHA_OK &&
           strcmp(h, want) == 0;
}

static void test_cache_and_invalidate(void **state)
{
    struct fake *fk = fake_start(3600);
    struct iha_keystone *ks = ks_for(fk);
    struct iha_token_source *ts = NULL;
    struct iha_err err = {0};
    char tok[64], h[128], url[128], desc[512];

    (void)state;
    assert_int_equal(iha_keystone_token(ks, tok, sizeof(tok)), IHA_OK);
    assert_string_equal(tok, "tok-1");
    assert_non_null(strstr(fk->last_body, "\"application_credential\""));
    assert_int_equal(iha_keystone_token(ks, tok, sizeof(tok)), IHA_OK);
    assert_string_equal(tok, "tok-1");
    assert_int_equal(fake_requests(fk), 1);
    assert_int_equal(iha_keystone_token(ks, tok, 3), IHA_E_LIMIT);

    /* Endpoint discovery from the catalog, /v1/<project> removed. */
    assert_int_equal(iha_keystone_endpoint(ks, "instance-ha", url, sizeof(url), &err), IHA_OK);
    assert_string_equal(url, "http://127.0.0.1:15868");
    assert_int_equal(iha_keystone_endpoint(ks, "compute", url, sizeof(url), &err), IHA_E_NOTFOUND);
    assert_non_null(strstr(err.msg, "instance-ha/public@RegionOne"));

    /* Through the token source, as delivery uses it. */
    assert_int_equal(iha_keystone_token_source_steal(ks, &ts), IHA_OK);
    assert_int_equal(iha_token_source_header(ts, "X-Auth-Token", h, sizeof(h)), IHA_OK);
    assert_string_equal(h, "X-Auth-Token: tok-1");
    /* A 401 right after the token was fetched refers to an older one: ignored. */
    iha_token_source_invalidate(ts);
    assert_int_equal(iha_token_source_header(ts, "X-Auth-Token", h, sizeof(h)), IHA_OK);
    assert_string_equal(h, "X-Auth-Token: tok-1");
    /* Once the token is older than that window (2 s, no injectable clock), a 401 counts. */
    assert_eventually(invalidated_header_is(ts, "X-Auth-Token: tok-2"));
    assert_int_equal(fake_requests(fk), 2);
    iha_token_source_describe(ts, desc, sizeof(desc));
    assert_non_null(strstr(desc, "application_credential ac1"));
    assert_null(strstr(desc, "app-secret-value"));
    assert_null(strstr(desc, "tok-"));
    iha_token_source_free(ts);
    fake_free(fk);
}

static void test_denied_then_backoff(void **state)
{
    struct fake *fk = fake_start(3600);
    struct iha_keystone *ks = ks_for(fk);
    char tok[64], detail[300];

    (void)state;
    fake_set(fk, 401, false);
    assert_int_equal(iha_keystone_token(ks, tok, sizeof(tok)), IHA_E_AUTH);
    assert_int_equal(fake_requests(fk), 1);
    /* Within the backoff the failure is answered without asking Keystone again. */
    assert_int_equal(iha_keystone_token(ks, tok, sizeof(tok)), IHA_E_AUTH);
    assert_int_equal(fake_requests(fk), 1);
    assert_int_equal(iha_keystone_wait(ks, 0, detail, sizeof(detail)), IHA_E_AUTH);
    assert_non_null(strstr(detail, "refused the credentials (401)"));
    assert_null(strstr(detail, "app-secret-value"));
    iha_keystone_free(ks);
    fake_free(fk);
}

static void test_auth_hook_refused_password(void **state)
{
    struct fake *fk = fake_start(3600);
    struct auth_log log = {.lock = PTHREAD_MUTEX_INITIALIZER};
    struct iha_keystone *ks = ks_new(fk, "wrong-password", &log);
    char tok[64];
    int ok, failed;
    enum iha_rc last;

    (void)state;
    fake_set(fk, 401, false);
    assert_int_equal(iha_keystone_token(ks, tok, sizeof(tok)), IHA_E_AUTH);
    assert_non_null(strstr(fk->last_body, "\"password\""));
    auth_log_get(&log, &ok, &failed, &last);
    assert_int_equal(ok, 0);
    assert_int_equal(failed, 1);
    assert_int_equal(last, IHA_E_AUTH);
    /* Answered from the backoff: no authentication, so nothing reported. */
    assert_int_equal(iha_keystone_token(ks, tok, sizeof(tok)), IHA_E_AUTH);
    auth_log_get(&log, &ok, &failed, &last);
    assert_int_equal(failed, 1);
    /* The password is fixed; after the backoff (at most 1.2 s) the next one succeeds. */
    fake_set(fk, 201, false);
    assert_eventually(iha_keystone_token(ks, tok, sizeof(tok)) == IHA_OK);
    auth_log_get(&log, &ok, &failed, &last);
    assert_int_equal(ok, 1);
    assert_int_equal(failed, 1);
    assert_int_equal(last, IHA_OK);
    assert_int_equal(fake_requests(fk), 2);
    iha_keystone_free(ks);
    fake_free(fk);
}

struct racer {
    struct iha_keystone *ks;
    struct test_gate *started;
    enum iha_rc rc;
    char tok[64];
};

static void *race(void *arg)
{
    struct racer *r = arg;

    test_gate_signal(r->started);
    r->rc = iha_keystone_token(r->ks, r->tok, sizeof(r->tok));
    return NULL;
}

static void test_one_shared_renewal(void **state)
{
    struct fake *fk = fake_start(3600);
    struct iha_keystone *ks = ks_for(fk);
    struct racer r[8];
    struct test_gate started = TEST_GATE_INIT;
    pthread_t t[8];

    (void)state;
    /* The first request is held until every racer has asked for a token. */
    fake_set(fk, 201, HOLD);
    for (int i = 0; i < 8; i++) {
        r[i].ks = ks;
        r[i].started = &started;
        assert_int_equal(pthread_create(&t[i], NULL, race, &r[i]), 0);
    }
    assert_true(test_gate_wait(&fk->gate, 1));
    assert_true(test_gate_wait(&started, 8));
    test_gate_open(&fk->gate);
    for (int i = 0; i < 8; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(r[i].rc, IHA_OK);
        assert_string_equal(r[i].tok, "tok-1");
    }
    assert_int_equal(fake_requests(fk), 1);
    iha_keystone_free(ks);
    fake_free(fk);
}

/* @return whether @p ks hands out @p want now. */
static bool token_is(struct iha_keystone *ks, const char *want)
{
    char tok[64];

    return iha_keystone_token(ks, tok, sizeof(tok)) == IHA_OK && strcmp(tok, want) == 0;
}

/*
 * The renewal thread renews a token by itself when its schedule says, and not before:
 * tok-1 lives 8 s, so it is renewed during the test; tok-2 lives an hour, so it must not
 * be renewed at all. Keystone then goes away and the cached token is still handed out.
 */
static void test_background_renewal_and_keystone_down(void **state)
{
    struct fake *fk = fake_start(8);
    struct auth_log log = {.lock = PTHREAD_MUTEX_INITIALIZER};
    struct iha_keystone *ks = ks_new(fk, NULL, &log);
    char tok[64], detail[300];
    bool renewed;
    int ok, failed;
    enum iha_rc last;

    (void)state;
    /* tok-1: renewed 5.6-6 s after receipt, before it stops being handed out at 7.2 s. */
    for (uint64_t r = 0; r < 1000; r++) {
        struct iha_keystone_plan p = iha_keystone_schedule(8000, r);
        assert_true(p.renew_after_ms >= 5600 && p.renew_after_ms <= 6000);
        assert_int_equal(p.usable_for_ms, 7200);
    }
    pthread_mutex_lock(&fk->lock);
    fk->later_lifetime_s = 3600; /* tok-2: renewed after 54 min at the earliest */
    pthread_mutex_unlock(&fk->lock);
    assert_int_equal(iha_keystone_start(ks), IHA_OK);
    assert_int_equal(iha_keystone_wait(ks, 5000, detail, sizeof(detail)), IHA_OK);
    assert_int_equal(iha_keystone_token(ks, tok, sizeof(tok)), IHA_OK);
    assert_string_equal(tok, "tok-1");
    /*
     * The lifetime is Keystone's wall-clock expires_at, so the renewal takes real seconds.
     * Nobody asks for a token meanwhile: the second request is the renewal thread's.
     */
    TEST_POLL_UNTIL(renewed, fake_requests(fk) >= 2, 3 * TEST_WAIT_MS, 50u);
    assert_true(renewed);
    /*
     * The thread keeps the lock from storing tok-2 until it either sleeps or starts the
     * next authentication, so once a token other than tok-1 is handed out here it has
     * decided: an early renewal would now be in flight, and iha_keystone_free() waits for it.
     */
    assert_eventually(!token_is(ks, "tok-1"));
    assert_int_equal(iha_keystone_token(ks, tok, sizeof(tok)), IHA_OK);
    assert_string_equal(tok, "tok-2");
    auth_log_get(&log, &ok, &failed, &last);
    assert_int_equal(ok, 2);
    assert_int_equal(failed, 0);
    assert_int_equal(last, IHA_OK);

    /* Keystone goes away: the cached token is still handed out. */
    fake_stop(fk);
    assert_int_equal(iha_keystone_token(ks, tok, sizeof(tok)), IHA_OK);
    assert_string_equal(tok, "tok-2");
    iha_keystone_free(ks);
    /* No authentication after tok-2: neither one Keystone answered nor one that failed. */
    assert_int_equal(fake_requests(fk), 2);
    auth_log_get(&log, &ok, &failed, &last);
    assert_int_equal(ok, 2);
    assert_int_equal(failed, 0);
    fake_free(fk);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_schedule),
        cmocka_unit_test(test_retry),
        cmocka_unit_test(test_parse_time),
        cmocka_unit_test(test_urls),
        cmocka_unit_test(test_catalog),
        cmocka_unit_test(test_request_body),
        cmocka_unit_test(test_new_validates),
        cmocka_unit_test(test_cache_and_invalidate),
        cmocka_unit_test(test_denied_then_backoff),
        cmocka_unit_test(test_auth_hook_refused_password),
        cmocka_unit_test(test_one_shared_renewal),
        cmocka_unit_test(test_background_renewal_and_keystone_down),
    };
    int rc;

    curl_global_init(CURL_GLOBAL_DEFAULT);
    rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
