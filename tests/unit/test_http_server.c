/* SPDX-License-Identifier: Apache-2.0 */
/** @file test_http_server.c @brief The real MHD server on 127.0.0.1, driven with libcurl. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "test_util.h"
#include "test_gate.h"

#include <crypt.h>
#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "auth.h"
#include "http_server.h"
#include "log.h"

#define MAX_BODY (64 * 1024)
#define USER "alertmanager"
#define PASSWORD "s3cret-pw"

enum fake_mode { REPLY_SYNC, REPLY_ASYNC, REPLY_RACE, REPLY_HOLD, FAIL_PARSE, FAIL_LIMIT };

#define MAX_THREADS 256

struct fake {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    enum fake_mode mode;
    unsigned port;
    int calls;
    enum iha_source source;
    char *body_text;
    iha_reply_fn reply;
    void *reply_cls;
    pthread_t threads[MAX_THREADS];
    size_t n_threads;
    long health_during; /* status of /-/healthy fetched while a reply was outstanding */
    const char *error;  /* what went wrong on the HTTP thread; asserted on the test thread */
};

struct ts {
    struct iha_http *h;
    struct iha_auth *auth;
    struct fake fake;
    char dir[64];
    char tokens[128];
    char hash[128];
    unsigned port;
};

struct resp {
    long status;
    char *body;
    size_t len;
    char allow[128];
    char www[128];
    char ctype[128];
    CURLcode cc;
};

/* ---- helpers ----------------------------------------------------------------------------- */

static char *read_fixture(const char *rel, size_t *len)
{
    char path[512];
    FILE *f;
    char *buf;
    long n;

    snprintf(path, sizeof(path), "%s/%s", IHA_FIXTURES, rel);
    f = fopen(path, "rb");
    assert_non_null(f);
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    n = ftell(f);
    assert_true(n > 0);
    rewind(f);
    buf = malloc((size_t)n + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    buf[n] = '\0';
    fclose(f);
    *len = (size_t)n;
    return buf;
}

static size_t on_body(char *p, size_t sz, size_t n, void *ud)
{
    struct resp *r = ud;
    char *nb = realloc(r->body, r->len + sz * n + 1);

    if (!nb)
        return 0;
    r->body = nb;
    memcpy(r->body + r->len, p, sz * n);
    r->len += sz * n;
    r->body[r->len] = '\0';
    return sz * n;
}

static void grab_header(const char *line, size_t n, const char *name, char *dst, size_t size)
{
    size_t k = strlen(name);

    if (n > k + 1 && strncasecmp(line, name, k) == 0 && line[k] == ':') {
        const char *v = line + k + 1;
        size_t vl = n - k - 1;
        while (vl && (*v == ' '))
            v++, vl--;
        while (vl && (v[vl - 1] == '\r' || v[vl - 1] == '\n'))
            vl--;
        if (vl >= size)
            vl = size - 1;
        memcpy(dst, v, vl);
        dst[vl] = '\0';
    }
}

static size_t on_header(char *p, size_t sz, size_t n, void *ud)
{
    struct resp *r = ud;

    grab_header(p, sz * n, "Allow", r->allow, sizeof(r->allow));
    grab_header(p, sz * n, "WWW-Authenticate", r->www, sizeof(r->www));
    grab_header(p, sz * n, "Content-Type", r->ctype, sizeof(r->ctype));
    return sz * n;
}

struct chunk_src {
    const char *data;
    size_t len;
    size_t pos;
};

static size_t on_read(char *buf, size_t sz, size_t n, void *ud)
{
    struct chunk_src *s = ud;
    size_t k = sz * n;

    /* Small pieces so the server sees many upload calls. */
    if (k > 1000)
        k = 1000;
    if (k > s->len - s->pos)
        k = s->len - s->pos;
    memcpy(buf, s->data + s->pos, k);
    s->pos += k;
    return k;
}

struct req_opts {
    const char *method; /* default GET, or POST when a body is given */
    const char *path;
    const char *headers[8];
    const char *body;
    size_t body_len;
    bool has_body;
    bool chunked;
    bool expect_100; /* default: Expect disabled */
};

static void do_request(unsigned port, const struct req_opts *o, struct resp *r)
{
    CURL *c = curl_easy_init();
    struct curl_slist *hl = NULL;
    char url[1200];
    struct chunk_src src = {0};

    memset(r, 0, sizeof(*r));
    assert_non_null(c);
    snprintf(url, sizeof(url), "http://127.0.0.1:%u%s", port, o->path);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 20000L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
    for (size_t i = 0; i < 8 && o->headers[i]; i++)
        hl = curl_slist_append(hl, o->headers[i]);
    if (!o->expect_100)
        hl = curl_slist_append(hl, "Expect:");
    if (o->has_body) {
        if (o->chunked) {
            src.data = o->body;
            src.len = o->body_len;
            curl_easy_setopt(c, CURLOPT_POST, 1L);
            curl_easy_setopt(c, CURLOPT_READFUNCTION, on_read);
            curl_easy_setopt(c, CURLOPT_READDATA, &src);
            hl = curl_slist_append(hl, "Transfer-Encoding: chunked");
        } else {
            curl_easy_setopt(c, CURLOPT_POSTFIELDS, o->body);
            curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)o->body_len);
        }
    }
    if (o->method && strcmp(o->method, "HEAD") == 0)
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    else if (o->method)
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, o->method);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
    r->cc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
    curl_slist_free_all(hl);
    curl_easy_cleanup(c);
}

static void resp_free(struct resp *r)
{
    free(r->body);
    r->body = NULL;
}

/* GET or HEAD without a body. */
static void get(unsigned port, const char *method, const char *path, struct resp *r)
{
    struct req_opts o = {.method = method, .path = path};

    do_request(port, &o, r);
}

/* POST a JSON body with an optional Authorization header value. */
static void post(unsigned port, const char *path, const char *auth, const char *body,
                 struct resp *r)
{
    char ah[512];
    struct req_opts o = {.path = path, .body = body, .body_len = strlen(body), .has_body = true};

    o.headers[0] = "Content-Type: application/json";
    if (auth) {
        snprintf(ah, sizeof(ah), "Authorization: %s", auth);
        o.headers[1] = ah;
    }
    do_request(port, &o, r);
}

static json_t *parse_body(const struct resp *r)
{
    json_error_t e;
    json_t *j;

    assert_non_null(r->body);
    j = json_loadb(r->body, r->len, 0, &e);
    if (!j)
        fail_msg("not JSON: %s (%s)", r->body, e.text);
    return j;
}

/* Asserts a gateway-format error body and returns its detail (copied into @p out). */
static void assert_gateway_error(const struct resp *r, int code, char *out, size_t size)
{
    json_t *j = parse_body(r);

    assert_int_equal(json_integer_value(json_object_get(j, "code")), code);
    assert_non_null(json_string_value(json_object_get(j, "error")));
    assert_non_null(json_string_value(json_object_get(j, "field")));
    assert_non_null(json_string_value(json_object_get(j, "detail")));
    if (out)
        snprintf(out, size, "%s", json_string_value(json_object_get(j, "detail")));
    json_decref(j);
    assert_string_equal(r->ctype, "application/json");
}

/* Asserts an Instance HA fault body {"<fault>": {"code": N, "message": ...}}. */
static void assert_fault(const struct resp *r, const char *fault, int code, char *out, size_t size)
{
    json_t *j = parse_body(r);
    json_t *f = json_object_get(j, fault);

    if (!f)
        fail_msg("no \"%s\" in %s", fault, r->body);
    assert_int_equal(json_integer_value(json_object_get(f, "code")), code);
    assert_non_null(json_string_value(json_object_get(f, "message")));
    if (out)
        snprintf(out, size, "%s", json_string_value(json_object_get(f, "message")));
    json_decref(j);
}

/* ---- fake ingest ------------------------------------------------------------------------- */

struct async_job {
    struct fake *f;
    iha_reply_fn reply;
    void *cls;
    unsigned jitter_ms;
    bool check_health;
    int seq;
};

static void *async_reply(void *arg)
{
    struct async_job *job = arg;
    struct fake *f = job->f;
    struct resp r;

    /*
     * The jitter is the test: racing replies land before, during and after the suspend of
     * their request, which no gate can produce (the suspend is inside the server).
     */
    if (job->jitter_ms)
        test_sleep_ms(job->jitter_ms);
    if (job->check_health) {
        /* The MHD thread must still serve others while this request waits. */
        get(f->port, NULL, "/-/healthy", &r);
        pthread_mutex_lock(&f->lock);
        f->health_during = r.status;
        pthread_mutex_unlock(&f->lock);
        resp_free(&r);
    }
    job->reply(job->cls, 202, json_pack("{s:s, s:i}", "result", "accepted later", "seq", job->seq));
    free(job);
    return NULL;
}

static enum iha_rc fake_ingest(void *cls, enum iha_source source, const json_t *body,
                               iha_reply_fn reply, void *reply_cls, struct iha_err *err)
{
    struct fake *f = cls;
    enum iha_rc rc = IHA_OK;

    pthread_mutex_lock(&f->lock);
    f->calls++;
    f->source = source;
    free(f->body_text);
    f->body_text = json_dumps(body, JSON_COMPACT | JSON_SORT_KEYS);
    switch (f->mode) {
    case REPLY_SYNC:
        reply(reply_cls, 200,
              json_pack("{s:s, s:s}", "result", "ok", "source", iha_source_name(source)));
        break;
    case REPLY_ASYNC:
    case REPLY_RACE: {
        struct async_job *job = malloc(sizeof(*job));

        /* This runs on the HTTP thread: no cmocka assertion here, the test checks error. */
        if (!job || f->n_threads >= MAX_THREADS) {
            f->error = !job ? "out of memory for an async job" : "too many async jobs";
            free(job);
            rc = IHA_E_NOMEM;
            break;
        }
        job->f = f;
        job->reply = reply;
        job->cls = reply_cls;
        job->check_health = f->mode == REPLY_ASYNC;
        /* Racing replies land before, during and after the suspend. */
        job->jitter_ms = f->mode == REPLY_RACE ? (unsigned)(f->calls % 5) : 0;
        job->seq = (int)json_integer_value(json_object_get(body, "seq"));
        if (pthread_create(&f->threads[f->n_threads], NULL, async_reply, job) != 0) {
            f->error = "no thread for an async job";
            free(job);
            rc = IHA_E_NOMEM;
            break;
        }
        f->n_threads++;
        break;
    }
    case REPLY_HOLD:
        f->reply = reply;
        f->reply_cls = reply_cls;
        break;
    case FAIL_PARSE:
        iha_err_set(err, "alerts[0].labels", "labels must be an object");
        rc = IHA_E_PARSE;
        break;
    case FAIL_LIMIT:
        iha_err_set(err, NULL, "queue full");
        rc = IHA_E_LIMIT;
        break;
    }
    pthread_cond_broadcast(&f->cond);
    pthread_mutex_unlock(&f->lock);
    return rc;
}

static int fake_calls(struct fake *f)
{
    int n;

    pthread_mutex_lock(&f->lock);
    n = f->calls;
    pthread_mutex_unlock(&f->lock);
    return n;
}

/* ---- fixture ----------------------------------------------------------------------------- */

static int setup(void **state)
{
    struct ts *t = calloc(1, sizeof(*t));
    struct iha_basic_user user;
    struct iha_http_config cfg;
    struct iha_err err;
    const char *salt;
    const char *hash;

    assert_non_null(t);
    snprintf(t->dir, sizeof(t->dir), "/tmp/iha-http-XXXXXX");
    assert_non_null(mkdtemp(t->dir));
    snprintf(t->tokens, sizeof(t->tokens), "%s/tokens", t->dir);
    test_replace_file(t->tokens, "# inbound tokens\ntok-alpha\n\n   tok-beta  \n");
    salt = crypt_gensalt("$2b$", 4, NULL, 0);
    assert_non_null(salt);
    hash = crypt(PASSWORD, salt);
    assert_non_null(hash);
    assert_int_equal(hash[0], '$');
    snprintf(t->hash, sizeof(t->hash), "%s", hash);
    user.name = (char *)USER;
    user.hash = t->hash;
    assert_int_equal(iha_auth_new(false, t->tokens, &user, 1, &t->auth), IHA_OK);

    pthread_mutex_init(&t->fake.lock, NULL);
    pthread_cond_init(&t->fake.cond, NULL);
    memset(&cfg, 0, sizeof(cfg));
    cfg.listen_address = "127.0.0.1:0";
    cfg.max_body = MAX_BODY;
    cfg.read_timeout_s = 10;
    cfg.auth = t->auth;
    cfg.ingest = fake_ingest;
    cfg.ingest_cls = &t->fake;
    assert_int_equal(iha_http_start(&cfg, &t->h, &err), IHA_OK);
    t->port = iha_http_port(t->h);
    assert_true(t->port > 0);
    t->fake.port = t->port;
    iha_http_set_ready(t->h, true, NULL);
    *state = t;
    return 0;
}

static int teardown(void **state)
{
    struct ts *t = *state;
    char path[160];
    int rc = 0;

    iha_http_stop(t->h);
    for (size_t i = 0; i < t->fake.n_threads; i++)
        pthread_join(t->fake.threads[i], NULL);
    if (t->fake.error) {
        print_error("on the HTTP thread: %s\n", t->fake.error);
        rc = -1;
    }
    iha_auth_free(t->auth);
    free(t->fake.body_text);
    pthread_cond_destroy(&t->fake.cond);
    pthread_mutex_destroy(&t->fake.lock);
    unlink(t->tokens);
    snprintf(path, sizeof(path), "%s.tmp", t->tokens);
    unlink(path);
    rmdir(t->dir);
    free(t);
    return rc;
}

/* ---- tests ------------------------------------------------------------------------------- */

static void test_healthy(void **state)
{
    struct ts *t = *state;
    struct resp r;

    get(t->port, NULL, "/-/healthy", &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "OK");
    resp_free(&r);
    get(t->port, "HEAD", "/-/healthy", &r);
    assert_int_equal(r.cc, CURLE_OK);
    assert_int_equal(r.status, 200);
    assert_null(r.body);
    resp_free(&r);
}

/* web.auth.disabled is judged on the bound socket too, whatever the name resolved to. */
static void test_bound_loopback(void **state)
{
    struct ts *t = *state;
    struct iha_http_config cfg;
    struct iha_http *any = NULL;
    struct iha_err err = {0};

    assert_true(iha_http_bound_loopback(t->h));
    memset(&cfg, 0, sizeof(cfg));
    cfg.listen_address = ":0";
    cfg.max_body = MAX_BODY;
    cfg.read_timeout_s = 10;
    cfg.auth = t->auth;
    cfg.ingest = fake_ingest;
    cfg.ingest_cls = &t->fake;
    assert_int_equal(iha_http_start(&cfg, &any, &err), IHA_OK);
    assert_false(iha_http_bound_loopback(any));
    iha_http_stop(any);
    assert_false(iha_http_bound_loopback(NULL));
}

static void test_ready(void **state)
{
    struct ts *t = *state;
    struct resp r;
    char detail[256];

    get(t->port, NULL, "/-/ready", &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "OK");
    resp_free(&r);

    iha_http_set_ready(t->h, false, "loading mapping rules");
    get(t->port, NULL, "/-/ready", &r);
    assert_int_equal(r.status, 503);
    assert_gateway_error(&r, 503, detail, sizeof(detail));
    assert_string_equal(detail, "loading mapping rules");
    resp_free(&r);

    iha_http_set_ready(t->h, false, "Instance HA unreachable");
    get(t->port, NULL, "/-/ready", &r);
    assert_int_equal(r.status, 503);
    assert_non_null(strstr(r.body, "Instance HA unreachable"));
    resp_free(&r);

    iha_http_set_ready(t->h, true, NULL);
    get(t->port, NULL, "/-/ready", &r);
    assert_int_equal(r.status, 200);
    resp_free(&r);
}

static void test_not_found(void **state)
{
    struct ts *t = *state;
    struct resp r;
    static const char *const paths[] = {
        "/nope",
        "/api/v1/alertmanager/",
        "/api/v1/alertmanagers",
        "/-/healthy/x",
    };
    static const char *const v1_paths[] = {
        "/v1/notificationz",
        "/v1/bad.id/notifications",
        "/v1//notifications",
        "/v1/a/b/notifications",
        "/v1/"
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
        "/notifications", /* 65 characters */
    };

    for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
        post(t->port, paths[i], "Bearer tok-alpha", "{}", &r);
        assert_int_equal(r.status, 404);
        assert_gateway_error(&r, 404, NULL, 0);
        resp_free(&r);
    }
    for (size_t i = 0; i < sizeof(v1_paths) / sizeof(v1_paths[0]); i++) {
        post(t->port, v1_paths[i], "Bearer tok-alpha", "{}", &r);
        assert_int_equal(r.status, 404);
        assert_fault(&r, "itemNotFound", 404, NULL, 0);
        resp_free(&r);
    }
    assert_int_equal(fake_calls(&t->fake), 0);
}

static void test_method_not_allowed(void **state)
{
    struct ts *t = *state;
    struct resp r;

    get(t->port, NULL, "/api/v1/alertmanager", &r);
    assert_int_equal(r.status, 405);
    assert_string_equal(r.allow, "POST");
    assert_gateway_error(&r, 405, NULL, 0);
    resp_free(&r);

    get(t->port, "PUT", "/v1/notifications", &r);
    assert_int_equal(r.status, 405);
    assert_string_equal(r.allow, "POST");
    assert_fault(&r, "badMethod", 405, NULL, 0);
    resp_free(&r);

    post(t->port, "/-/healthy", NULL, "{}", &r);
    assert_int_equal(r.status, 405);
    assert_string_equal(r.allow, "GET, HEAD");
    resp_free(&r);

    get(t->port, "DELETE", "/-/ready", &r);
    assert_int_equal(r.status, 405);
    assert_string_equal(r.allow, "GET, HEAD");
    resp_free(&r);
    assert_int_equal(fake_calls(&t->fake), 0);
}

static void post_with_ct(unsigned port, const char *path, const char *ct_header, struct resp *r)
{
    struct req_opts o = {.path = path, .body = "{}", .body_len = 2, .has_body = true};

    o.headers[0] = ct_header;
    o.headers[1] = "Authorization: Bearer tok-alpha";
    do_request(port, &o, r);
}

static void test_unsupported_media_type(void **state)
{
    struct ts *t = *state;
    struct resp r;

    post_with_ct(t->port, "/api/v1/alertmanager", "Content-Type: text/plain", &r);
    assert_int_equal(r.status, 415);
    assert_gateway_error(&r, 415, NULL, 0);
    resp_free(&r);

    /* curl's default for -d */
    post_with_ct(t->port, "/v1/notifications", "X-Nothing: 1", &r);
    assert_int_equal(r.status, 415);
    assert_fault(&r, "badMediaType", 415, NULL, 0);
    resp_free(&r);

    post_with_ct(t->port, "/api/v1/alertmanager", "Content-Type: application/jsonx", &r);
    assert_int_equal(r.status, 415);
    resp_free(&r);
    assert_int_equal(fake_calls(&t->fake), 0);

    post_with_ct(t->port, "/api/v1/alertmanager", "Content-Type: Application/JSON; charset=utf-8",
                 &r);
    assert_int_equal(r.status, 200);
    resp_free(&r);

    /* No Content-Type at all is accepted, as Instance HA does. */
    post_with_ct(t->port, "/api/v1/alertmanager", "Content-Type:", &r);
    assert_int_equal(r.status, 200);
    resp_free(&r);
    assert_int_equal(fake_calls(&t->fake), 2);
}

static char *big_json(size_t n)
{
    char *b = malloc(n + 1);

    assert_non_null(b);
    memset(b, ' ', n);
    b[0] = '{';
    b[n - 1] = '}';
    b[n] = '\0';
    return b;
}

static void test_too_large_content_length(void **state)
{
    struct ts *t = *state;
    struct resp r;
    char detail[256];
    char *body = big_json(MAX_BODY + 1);
    struct req_opts o = {
        .path = "/api/v1/alertmanager", .body = body, .body_len = MAX_BODY + 1, .has_body = true};

    o.headers[0] = "Content-Type: application/json";
    o.headers[1] = "Authorization: Bearer tok-alpha";
    do_request(t->port, &o, &r);
    assert_int_equal(r.cc, CURLE_OK);
    assert_int_equal(r.status, 413);
    assert_gateway_error(&r, 413, detail, sizeof(detail));
    assert_non_null(strstr(detail, "65536"));
    resp_free(&r);

    o.expect_100 = true;
    o.headers[2] = "Expect: 100-continue";
    do_request(t->port, &o, &r);
    assert_int_equal(r.cc, CURLE_OK);
    assert_int_equal(r.status, 413);
    resp_free(&r);

    o.path = "/v1/notifications";
    o.expect_100 = false;
    o.headers[2] = NULL;
    do_request(t->port, &o, &r);
    assert_int_equal(r.status, 413);
    assert_fault(&r, "overLimit", 413, NULL, 0);
    resp_free(&r);
    assert_int_equal(fake_calls(&t->fake), 0);

    /* Exactly at the limit is accepted. */
    o.path = "/api/v1/alertmanager";
    o.body_len = MAX_BODY;
    body[MAX_BODY - 1] = '}';
    do_request(t->port, &o, &r);
    assert_int_equal(r.status, 200);
    resp_free(&r);
    assert_int_equal(fake_calls(&t->fake), 1);
    free(body);
}

static void test_too_large_chunked(void **state)
{
    struct ts *t = *state;
    struct resp r;
    char *body = big_json(3 * MAX_BODY);
    struct req_opts o = {.path = "/api/v1/alertmanager",
                         .body = body,
                         .body_len = 3 * MAX_BODY,
                         .has_body = true,
                         .chunked = true};

    o.headers[0] = "Content-Type: application/json";
    o.headers[1] = "Authorization: Bearer tok-alpha";
    do_request(t->port, &o, &r);
    assert_int_equal(r.cc, CURLE_OK);
    assert_int_equal(r.status, 413);
    assert_gateway_error(&r, 413, NULL, 0);
    resp_free(&r);
    assert_int_equal(fake_calls(&t->fake), 0);

    /* A chunked body under the limit arrives whole. */
    free(body);
    body = strdup("{\"version\":\"4\",\"alerts\":[{\"status\":\"firing\"}],\"pad\":\""
                  "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
                  "\"}");
    o.body = body;
    o.body_len = strlen(body);
    do_request(t->port, &o, &r);
    assert_int_equal(r.status, 200);
    resp_free(&r);
    assert_int_equal(fake_calls(&t->fake), 1);
    pthread_mutex_lock(&t->fake.lock);
    assert_non_null(strstr(t->fake.body_text, "\"version\":\"4\""));
    pthread_mutex_unlock(&t->fake.lock);
    free(body);
}

static void test_bad_json(void **state)
{
    struct ts *t = *state;
    struct resp r;
    char detail[512];

    post(t->port, "/api/v1/alertmanager", "Bearer tok-alpha", "{\"a\": 1,\n \"b\": }", &r);
    assert_int_equal(r.status, 400);
    assert_gateway_error(&r, 400, detail, sizeof(detail));
    assert_non_null(strstr(detail, "invalid JSON at line 2 column 7 (position 16): "));
    resp_free(&r);

    post(t->port, "/api/v1/alertmanager", "Bearer tok-alpha", "{\"a\":1,\"a\":2}", &r);
    assert_int_equal(r.status, 400);
    assert_gateway_error(&r, 400, detail, sizeof(detail));
    assert_non_null(strstr(detail, "invalid JSON at line 1"));
    assert_non_null(strstr(detail, "duplicate"));
    resp_free(&r);

    post(t->port, "/v1/notifications", "Bearer tok-alpha", "", &r);
    assert_int_equal(r.status, 400);
    assert_fault(&r, "badRequest", 400, detail, sizeof(detail));
    assert_non_null(strstr(detail, "invalid JSON at line"));
    resp_free(&r);
    assert_int_equal(fake_calls(&t->fake), 0);
}

static void test_auth_missing_and_wrong(void **state)
{
    struct ts *t = *state;
    struct resp r;
    json_t *j;

    post(t->port, "/api/v1/alertmanager", NULL, "{}", &r);
    assert_int_equal(r.status, 401);
    assert_string_equal(r.www, "Bearer realm=\"iha-gateway\"");
    assert_gateway_error(&r, 401, NULL, 0);
    resp_free(&r);

    post(t->port, "/api/v1/alertmanager", "Bearer tok-wrong-secret", "{}", &r);
    assert_int_equal(r.status, 401);
    assert_string_equal(r.www, "Bearer realm=\"iha-gateway\"");
    assert_null(strstr(r.body, "tok-wrong-secret"));
    resp_free(&r);

    post(t->port, "/api/v1/alertmanager", "Token tok-alpha", "{}", &r);
    assert_int_equal(r.status, 401);
    resp_free(&r);

    /* Keystone's shape on the Instance HA routes. */
    post(t->port, "/v1/notifications", "Bearer nope", "{}", &r);
    assert_int_equal(r.status, 401);
    assert_string_equal(r.www, "Bearer realm=\"iha-gateway\"");
    j = parse_body(&r);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "error"), "code")), 401);
    assert_string_equal(json_string_value(json_object_get(json_object_get(j, "error"), "title")),
                        "Unauthorized");
    json_decref(j);
    resp_free(&r);

    /* Authentication comes before the body is looked at. */
    post(t->port, "/api/v1/alertmanager", NULL, "{not json", &r);
    assert_int_equal(r.status, 401);
    resp_free(&r);
    assert_int_equal(fake_calls(&t->fake), 0);
}

static void test_auth_token_ok(void **state)
{
    struct ts *t = *state;
    struct resp r;

    post(t->port, "/api/v1/alertmanager", "Bearer tok-alpha", "{}", &r);
    assert_int_equal(r.status, 200);
    resp_free(&r);
    post(t->port, "/api/v1/alertmanager", "bearer tok-beta", "{}", &r);
    assert_int_equal(r.status, 200);
    resp_free(&r);
    assert_int_equal(fake_calls(&t->fake), 2);
}

/* @return the status of an empty Alertmanager POST with @p auth. */
static long post_status(unsigned port, const char *auth)
{
    struct resp r;

    post(port, "/api/v1/alertmanager", auth, "{}", &r);
    resp_free(&r);
    return r.status;
}

static void test_token_file_change(void **state)
{
    struct ts *t = *state;
    struct resp r;

    post(t->port, "/api/v1/alertmanager", "Bearer tok-gamma", "{}", &r);
    assert_int_equal(r.status, 401);
    resp_free(&r);
    test_replace_file(t->tokens, "tok-gamma\n");
    /* The file is looked at once a second: the new token works within the bound. */
    assert_eventually(post_status(t->port, "Bearer tok-gamma") == 200);
    post(t->port, "/api/v1/alertmanager", "Bearer tok-alpha", "{}", &r);
    assert_int_equal(r.status, 401);
    resp_free(&r);
}

static void test_basic_auth(void **state)
{
    struct ts *t = *state;
    struct resp r;
    char cred[128], hdr[192];

    test_base64(USER ":" PASSWORD, cred, sizeof(cred));
    snprintf(hdr, sizeof(hdr), "Basic %s", cred);
    post(t->port, "/api/v1/alertmanager", hdr, "{}", &r);
    assert_int_equal(r.status, 200);
    resp_free(&r);
    /* second time from the cache */
    post(t->port, "/api/v1/alertmanager", hdr, "{}", &r);
    assert_int_equal(r.status, 200);
    resp_free(&r);

    test_base64(USER ":wrong", cred, sizeof(cred));
    snprintf(hdr, sizeof(hdr), "Basic %s", cred);
    post(t->port, "/api/v1/alertmanager", hdr, "{}", &r);
    assert_int_equal(r.status, 401);
    assert_null(strstr(r.body, "wrong"));
    resp_free(&r);

    test_base64("nobody:" PASSWORD, cred, sizeof(cred));
    snprintf(hdr, sizeof(hdr), "Basic %s", cred);
    post(t->port, "/api/v1/alertmanager", hdr, "{}", &r);
    assert_int_equal(r.status, 401);
    resp_free(&r);
    assert_int_equal(fake_calls(&t->fake), 2);
}

static void test_sync_reply(void **state)
{
    struct ts *t = *state;
    struct resp r;
    json_t *j;

    post(t->port, "/api/v1/alertmanager", "Bearer tok-alpha", "{\"x\": [1, 2]}", &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.ctype, "application/json");
    j = parse_body(&r);
    assert_string_equal(json_string_value(json_object_get(j, "result")), "ok");
    assert_string_equal(json_string_value(json_object_get(j, "source")), "alertmanager");
    json_decref(j);
    resp_free(&r);
    pthread_mutex_lock(&t->fake.lock);
    assert_int_equal(t->fake.source, IHA_SOURCE_ALERTMANAGER);
    assert_string_equal(t->fake.body_text, "{\"x\":[1,2]}");
    pthread_mutex_unlock(&t->fake.lock);
}

static void test_async_reply(void **state)
{
    struct ts *t = *state;
    struct resp r;
    json_t *j;

    /* The reply comes from another thread, after a /-/healthy the server served meanwhile. */
    t->fake.mode = REPLY_ASYNC;
    post(t->port, "/api/v1/alertmanager", "Bearer tok-alpha", "{}", &r);
    assert_int_equal(r.status, 202);
    j = parse_body(&r);
    assert_string_equal(json_string_value(json_object_get(j, "result")), "accepted later");
    json_decref(j);
    resp_free(&r);
    /* The request was suspended, not blocking: /-/healthy was served meanwhile. */
    assert_int_equal(t->fake.health_during, 200);

    /* The same connection-level machinery works again afterwards. */
    post(t->port, "/v1/notifications", "Bearer tok-alpha", "{}", &r);
    assert_int_equal(r.status, 202);
    resp_free(&r);
}

struct racer {
    unsigned port;
    int first;
    int n;
    int ok;
    pthread_t th;
};

static void *racer_thread(void *arg)
{
    struct racer *rc = arg;
    char body[64];
    struct resp r;

    for (int i = 0; i < rc->n; i++) {
        int seq = rc->first + i;
        json_t *j;
        snprintf(body, sizeof(body), "{\"seq\": %d}", seq);
        post(rc->port, "/api/v1/alertmanager", "Bearer tok-alpha", body, &r);
        if (r.status == 202 && r.body) {
            j = json_loads(r.body, 0, NULL);
            /* Each request gets its own reply, never another's. */
            if (j && json_integer_value(json_object_get(j, "seq")) == seq)
                rc->ok++;
            json_decref(j);
        }
        resp_free(&r);
    }
    return NULL;
}

/* Many requests answered from other threads at the moment they suspend. */
static void test_async_reply_race(void **state)
{
    struct ts *t = *state;
    struct racer racers[8];
    int total = 0;

    t->fake.mode = REPLY_RACE;
    for (int i = 0; i < 8; i++) {
        racers[i] = (struct racer){.port = t->port, .first = i * 1000, .n = 25};
        assert_int_equal(pthread_create(&racers[i].th, NULL, racer_thread, &racers[i]), 0);
    }
    for (int i = 0; i < 8; i++) {
        pthread_join(racers[i].th, NULL);
        total += racers[i].ok;
    }
    assert_int_equal(total, 200);
    assert_int_equal(fake_calls(&t->fake), 200);
}

static void test_ingest_errors(void **state)
{
    struct ts *t = *state;
    struct resp r;
    json_t *j;
    char msg[512];

    t->fake.mode = FAIL_PARSE;
    post(t->port, "/api/v1/alertmanager", "Bearer tok-alpha", "{}", &r);
    assert_int_equal(r.status, 400);
    j = parse_body(&r);
    assert_string_equal(json_string_value(json_object_get(j, "detail")),
                        "labels must be an object");
    assert_string_equal(json_string_value(json_object_get(j, "field")), "alerts[0].labels");
    json_decref(j);
    resp_free(&r);

    post(t->port, "/v1/notifications", "Bearer tok-alpha", "{}", &r);
    assert_int_equal(r.status, 400);
    assert_fault(&r, "badRequest", 400, msg, sizeof(msg));
    assert_non_null(strstr(msg, "labels must be an object"));
    assert_non_null(strstr(msg, "alerts[0].labels"));
    resp_free(&r);

    t->fake.mode = FAIL_LIMIT;
    post(t->port, "/api/v1/alertmanager", "Bearer tok-alpha", "{}", &r);
    assert_int_equal(r.status, 503);
    assert_gateway_error(&r, 503, msg, sizeof(msg));
    assert_string_equal(msg, "queue full");
    resp_free(&r);
}

static void test_v1_routes_native(void **state)
{
    struct ts *t = *state;
    struct resp r;
    const char *body = "{\"notification\":{\"type\":\"COMPUTE_HOST\",\"hostname\":\"compute-1\"}}";

    post(t->port, "/v1/0123456789abcdef_PROJ-x/notifications", "Bearer tok-alpha", body, &r);
    assert_int_equal(r.status, 200);
    resp_free(&r);
    pthread_mutex_lock(&t->fake.lock);
    assert_int_equal(t->fake.calls, 1);
    assert_int_equal(t->fake.source, IHA_SOURCE_NATIVE);
    assert_non_null(strstr(t->fake.body_text, "compute-1"));
    pthread_mutex_unlock(&t->fake.lock);

    post(t->port, "/v1/notifications", "Bearer tok-alpha", body, &r);
    assert_int_equal(r.status, 200);
    resp_free(&r);
    assert_int_equal(t->fake.source, IHA_SOURCE_NATIVE);
    assert_int_equal(fake_calls(&t->fake), 2);
}

static void test_alertmanager_fixture(void **state)
{
    struct ts *t = *state;
    struct resp r;
    size_t len;
    char *body = read_fixture("alertmanager/001-am-plain.json", &len);
    struct req_opts o = {
        .path = "/api/v1/alertmanager", .body = body, .body_len = len, .has_body = true};
    json_t *sent, *got;

    o.headers[0] = "User-Agent: Alertmanager/0.25.0";
    o.headers[1] = "Content-Type: application/json";
    o.headers[2] = "Authorization: Bearer tok-beta";
    do_request(t->port, &o, &r);
    assert_int_equal(r.status, 200);
    resp_free(&r);

    pthread_mutex_lock(&t->fake.lock);
    assert_int_equal(t->fake.calls, 1);
    assert_int_equal(t->fake.source, IHA_SOURCE_ALERTMANAGER);
    sent = json_loadb(body, len, 0, NULL);
    got = json_loads(t->fake.body_text, 0, NULL);
    pthread_mutex_unlock(&t->fake.lock);
    assert_non_null(sent);
    assert_non_null(got);
    assert_true(json_equal(sent, got));
    assert_string_equal(json_string_value(json_object_get(
                            json_array_get(json_object_get(got, "alerts"), 0), "fingerprint")),
                        "8fbae207f6dc4421");
    json_decref(sent);
    json_decref(got);
    free(body);
}

struct client {
    unsigned port;
    struct resp r;
    pthread_t th;
};

static void *client_thread(void *arg)
{
    struct client *c = arg;

    post(c->port, "/api/v1/alertmanager", "Bearer tok-alpha", "{}", &c->r);
    return NULL;
}

static void wait_calls(struct fake *f, int n)
{
    pthread_mutex_lock(&f->lock);
    while (f->calls < n)
        pthread_cond_wait(&f->cond, &f->lock);
    pthread_mutex_unlock(&f->lock);
}

struct late {
    struct fake *f;
    unsigned status;
};

/* @return whether the server at @p port answers /-/healthy within a short bound. */
static bool server_answers(unsigned port)
{
    CURL *c = curl_easy_init();
    char url[64];
    long status = 0;

    if (!c)
        return true; /* cannot tell: keep polling */
    snprintf(url, sizeof(url), "http://127.0.0.1:%u/-/healthy", port);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 200L);
    if (curl_easy_perform(c) == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(c);
    return status == 200;
}

static void *late_reply(void *arg)
{
    struct late *l = arg;
    bool stopping;

    /*
     * Waits until the stop has begun (the server no longer takes requests), so the reply
     * lands while the stop waits for it. Not an assertion: this is not the test thread.
     */
    TEST_POLL_UNTIL(stopping, !server_answers(l->f->port), TEST_WAIT_MS, TEST_POLL_MS);
    if (!stopping)
        print_error("the server still answered after %u ms of stopping\n", TEST_WAIT_MS);
    l->f->reply(l->f->reply_cls, l->status, json_pack("{s:b}", "late", 1));
    return NULL;
}

/* A reply arriving while the server stops is still delivered. */
static void test_stop_waits_for_reply(void **state)
{
    struct ts *t = *state;
    struct client c = {.port = t->port};
    struct late l = {.f = &t->fake, .status = 200};
    pthread_t th;

    t->fake.mode = REPLY_HOLD;
    assert_int_equal(pthread_create(&c.th, NULL, client_thread, &c), 0);
    wait_calls(&t->fake, 1);
    assert_int_equal(pthread_create(&th, NULL, late_reply, &l), 0);
    iha_http_stop(t->h);
    t->h = NULL;
    pthread_join(th, NULL);
    pthread_join(c.th, NULL);
    assert_int_equal(c.r.status, 200);
    assert_non_null(strstr(c.r.body, "\"late\":true"));
    resp_free(&c.r);
}

/* Without a reply the stop answers 503 after its bound; the late reply is dropped safely. */
static void test_stop_abandons(void **state)
{
    struct ts *t = *state;
    struct client c = {.port = t->port};
    char detail[256];

    t->fake.mode = REPLY_HOLD;
    assert_int_equal(pthread_create(&c.th, NULL, client_thread, &c), 0);
    wait_calls(&t->fake, 1);
    iha_http_stop(t->h);
    t->h = NULL;
    pthread_join(c.th, NULL);
    assert_int_equal(c.r.status, 503);
    assert_gateway_error(&c.r, 503, detail, sizeof(detail));
    assert_non_null(strstr(detail, "shutting down"));
    resp_free(&c.r);
    /* The pipeline answers after the server is gone. */
    t->fake.reply(t->fake.reply_cls, 200, json_object());
}

static void test_listen_addresses(void **state)
{
    struct ts *t = *state;
    struct iha_http_config cfg = {.max_body = 1024,
                                  .read_timeout_s = 5,
                                  .auth = t->auth,
                                  .ingest = fake_ingest,
                                  .ingest_cls = &t->fake};
    struct iha_http *h2 = NULL;
    struct iha_err err;
    char addr[64];
    struct resp r;

    assert_true(iha_http_is_loopback("127.0.0.1:9868"));
    assert_true(iha_http_is_loopback("127.3.2.1:1"));
    assert_true(iha_http_is_loopback("localhost:9868"));
    assert_true(iha_http_is_loopback("[::1]:9868"));
    assert_false(iha_http_is_loopback(":9868"));
    assert_false(iha_http_is_loopback("0.0.0.0:9868"));
    assert_false(iha_http_is_loopback("10.0.0.1:9868"));
    assert_false(iha_http_is_loopback("[::]:9868"));
    assert_false(iha_http_is_loopback("example.org:9868"));
    assert_false(iha_http_is_loopback("127.0.0.1"));
    assert_false(iha_http_is_loopback("127.0.0.1:99999"));

    static const char *const bad[] = {"",       "nohost",  "1.2.3.4:",       "1.2.3.4:x",
                                      "::1:80", "[::1]80", "1.2.3.4:123456", "[]:80"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cfg.listen_address = bad[i];
        iha_err_clear(&err);
        assert_int_equal(iha_http_start(&cfg, &h2, &err), IHA_E_INVAL);
        assert_null(h2);
        assert_true(err.msg[0] != '\0');
    }

    /* The port of the running server is taken. */
    snprintf(addr, sizeof(addr), "127.0.0.1:%u", t->port);
    cfg.listen_address = addr;
    iha_err_clear(&err);
    assert_int_equal(iha_http_start(&cfg, &h2, &err), IHA_E_IO);
    assert_null(h2);
    assert_non_null(strstr(err.msg, addr));

    cfg.listen_address = "localhost:0";
    assert_int_equal(iha_http_start(&cfg, &h2, &err), IHA_OK);
    iha_http_set_ready(h2, true, NULL);
    get(iha_http_port(h2), NULL, "/-/ready", &r);
    assert_int_equal(r.status, 200);
    resp_free(&r);
    iha_http_stop(h2);
    h2 = NULL;

    /* Not ready until told otherwise. */
    cfg.listen_address = ":0";
    assert_int_equal(iha_http_start(&cfg, &h2, &err), IHA_OK);
    get(iha_http_port(h2), NULL, "/-/ready", &r);
    assert_int_equal(r.status, 503);
    resp_free(&r);
    iha_http_stop(h2);
    h2 = NULL;

    cfg.listen_address = "[::1]:0";
    if (iha_http_start(&cfg, &h2, &err) == IHA_OK) {
        unsigned port = iha_http_port(h2);
        CURL *c = curl_easy_init();
        long status = 0;
        snprintf(addr, sizeof(addr), "http://[::1]:%u/-/healthy", port);
        curl_easy_setopt(c, CURLOPT_URL, addr);
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
        curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 5000L);
        assert_int_equal(curl_easy_perform(c), CURLE_OK);
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
        assert_int_equal(status, 200);
        curl_easy_cleanup(c);
        iha_http_stop(h2);
    } else {
        print_message("IPv6 loopback unavailable: %s\n", err.msg);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_healthy, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ready, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bound_loopback, setup, teardown),
        cmocka_unit_test_setup_teardown(test_not_found, setup, teardown),
        cmocka_unit_test_setup_teardown(test_method_not_allowed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unsupported_media_type, setup, teardown),
        cmocka_unit_test_setup_teardown(test_too_large_content_length, setup, teardown),
        cmocka_unit_test_setup_teardown(test_too_large_chunked, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_json, setup, teardown),
        cmocka_unit_test_setup_teardown(test_auth_missing_and_wrong, setup, teardown),
        cmocka_unit_test_setup_teardown(test_auth_token_ok, setup, teardown),
        cmocka_unit_test_setup_teardown(test_token_file_change, setup, teardown),
        cmocka_unit_test_setup_teardown(test_basic_auth, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sync_reply, setup, teardown),
        cmocka_unit_test_setup_teardown(test_async_reply, setup, teardown),
        cmocka_unit_test_setup_teardown(test_async_reply_race, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ingest_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_v1_routes_native, setup, teardown),
        cmocka_unit_test_setup_teardown(test_alertmanager_fixture, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stop_waits_for_reply, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stop_abandons, setup, teardown),
        cmocka_unit_test_setup_teardown(test_listen_addresses, setup, teardown),
    };
    int rc;

    signal(SIGPIPE, SIG_IGN);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    /* IHA_TEST_LOG=1 shows the server's request and rejection lines. */
    iha_log_setup(getenv("IHA_TEST_LOG") ? IHA_LOG_DEBUG : IHA_LOG_ERROR, IHA_LOG_LOGFMT);
    rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
