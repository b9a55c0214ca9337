/* SPDX-License-Identifier: Apache-2.0 */
/** @file auth.c @brief Bearer tokens from a file and HTTP basic auth with a verification cache. */
#include "auth.h"

#include <crypt.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"
#include "secret.h"
#include "siphash.h"

/* A token file larger than this is refused: it is a list of secrets, not a data set. */
#define TOKENS_FILE_MAX (1024 * 1024)
#define TOKENS_MAX 1024
/* An Authorization header longer than this is not a credential we could have issued. */
#define AUTH_HEADER_MAX 4096
/* Entries per verification cache (one for accepted, one for refused credentials). */
#define CACHE_SLOTS 64
#define RECHECK_MS 1000

struct token {
    char *s;
    size_t len;
};

struct user {
    char *name;
    size_t name_len;
    char *hash;
    size_t hash_len;
};

/*
 * A credential is remembered by a keyed hash of its header, never the header itself:
 * what sits in memory cannot be replayed. 128 bits from two SipHash keys.
 */
struct tag {
    uint64_t h[2];
};

struct cache_slot {
    bool used;
    struct tag tag;
    uint64_t user; /**< user_print() of the user it opened; 0 for refused credentials */
};

struct cache {
    struct cache_slot slot[CACHE_SLOTS];
    size_t next; /**< round-robin eviction */
};

struct iha_auth {
    bool disabled;
    char *tokens_file;
    struct token *tokens;
    size_t n_tokens;
    bool file_seen; /**< the identity below describes the loaded file */
    struct timespec mtime;
    off_t size;
    ino_t ino;
    dev_t dev;
    long long last_check_ms; /**< monotonic; -1 = never */
    bool warned_read;
    struct user *users;
    size_t n_users;
    struct cache good;
    struct cache bad;
    struct iha_sipkey key[2]; /**< for tags; handed on by iha_auth_adopt_cache() */
};

/*
 * One password verification, computed away from the HTTP thread. It carries copies of
 * what it checks against, so it does not depend on the iha_auth that made it (a reload
 * may replace that one while the hash runs).
 */
struct iha_auth_job {
    struct tag tag;
    struct iha_sipkey key[2]; /**< the keys @c tag was made with */
    uint64_t user;            /**< user_print() of the named user; 0 if there is none */
    char *hash;               /**< the crypt(3) hash checked against */
    char *password;           /**< a secret, wiped once used */
    size_t password_cap;
    bool ran;
    bool ok;
};

static void free_secret(char *s, size_t len)
{
    if (!s)
        return;
    iha_secret_wipe(s, len);
    free(s);
}

/* Signed, because -1 marks "never checked". */
static long long now_ms(void)
{
    return (long long)iha_clock_ms();
}

bool iha_auth_equal(const char *a, size_t alen, const char *b, size_t blen)
{
    size_t n = alen > blen ? alen : blen;
    volatile unsigned char diff = (unsigned char)(alen != blen);

    for (size_t i = 0; i < n; i++) {
        unsigned char ca = i < alen ? (unsigned char)a[i] : 0;
        unsigned char cb = i < blen ? (unsigned char)b[i] : 0;
        diff |= (unsigned char)(ca ^ cb);
    }
    return diff == 0;
}

static void tokens_clear(struct iha_auth *a)
{
    for (size_t i = 0; i < a->n_tokens; i++)
        free_secret(a->tokens[i].s, a->tokens[i].len);
    free(a->tokens);
    a->tokens = NULL;
    a->n_tokens = 0;
}

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

/* Splits @p text into tokens; @p text is left intact (the caller wipes it). */
static enum iha_rc tokens_parse(const char *text, size_t len, struct token **out, size_t *n_out)
{
    struct token *toks = NULL;
    size_t n = 0;
    size_t pos = 0;
    enum iha_rc rc = IHA_OK;

    while (pos < len) {
        size_t start = pos;
        size_t end;

        while (pos < len && text[pos] != '\n')
            pos++;
        end = pos;
        if (pos < len)
            pos++;
        while (start < end && is_space(text[start]))
            start++;
        while (end > start && is_space(text[end - 1]))
            end--;
        if (start == end || text[start] == '#')
            continue;
        if (n == TOKENS_MAX) {
            rc = IHA_E_LIMIT;
            goto cleanup;
        }
        if (!toks) {
            toks = calloc(TOKENS_MAX, sizeof(*toks));
            if (!toks) {
                rc = IHA_E_NOMEM;
                goto cleanup;
            }
        }
        toks[n].s = malloc(end - start + 1);
        if (!toks[n].s) {
            rc = IHA_E_NOMEM;
            goto cleanup;
        }
        memcpy(toks[n].s, text + start, end - start);
        toks[n].s[end - start] = '\0';
        toks[n].len = end - start;
        n++;
    }
    *out = toks;
    *n_out = n;
    toks = NULL;
    n = 0;

cleanup:
    for (size_t i = 0; i < n; i++)
        free_secret(toks[i].s, toks[i].len);
    free(toks);
    return rc;
}

static enum iha_rc read_file(int fd, size_t size, char **out, size_t *len_out)
{
    char *buf;
    size_t len = 0;

    if (size > TOKENS_FILE_MAX)
        return IHA_E_LIMIT;
    buf = malloc(size + 1);
    if (!buf)
        return IHA_E_NOMEM;
    while (len < size) {
        ssize_t r = read(fd, buf + len, size - len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            free_secret(buf, size + 1);
            return IHA_E_IO;
        }
        if (r == 0)
            break;
        len += (size_t)r;
    }
    buf[len] = '\0';
    *out = buf;
    *len_out = len;
    return IHA_OK;
}

static bool same_file(const struct iha_auth *a, const struct stat *st)
{
    return a->file_seen && st->st_mtim.tv_sec == a->mtime.tv_sec &&
           st->st_mtim.tv_nsec == a->mtime.tv_nsec && st->st_size == a->size &&
           st->st_ino == a->ino && st->st_dev == a->dev;
}

static void warn_read(struct iha_auth *a, const char *error)
{
    if (!a->warned_read)
        IHA_LOG(IHA_LOG_WARN, "cannot read bearer tokens file, keeping the last tokens", "file",
                a->tokens_file, "error", error);
    a->warned_read = true;
}

/* Re-reads the token file when its identity changed; at most one stat(2) per RECHECK_MS. */
static void tokens_refresh(struct iha_auth *a)
{
    struct stat st;
    long long now = now_ms();
    char *text = NULL;
    size_t text_len = 0;
    struct token *toks = NULL;
    size_t n = 0;
    enum iha_rc rc;
    int fd = -1;

    if (!a->tokens_file)
        return;
    if (a->last_check_ms >= 0 && now - a->last_check_ms < RECHECK_MS)
        return;
    a->last_check_ms = now;

    if (stat(a->tokens_file, &st) != 0) {
        if (errno == ENOENT) {
            /* Removing the file revokes every token. */
            if (a->file_seen)
                IHA_LOG(IHA_LOG_WARN, "bearer tokens file removed, no token is valid", "file",
                        a->tokens_file);
            tokens_clear(a);
            a->file_seen = false;
        } else {
            warn_read(a, strerror(errno));
        }
        return;
    }
    if (same_file(a, &st))
        return;
    fd = open(a->tokens_file, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || fstat(fd, &st) != 0 || st.st_size < 0) {
        warn_read(a, strerror(errno));
        goto cleanup;
    }
    rc = read_file(fd, (size_t)st.st_size, &text, &text_len);
    if (rc == IHA_OK)
        rc = tokens_parse(text, text_len, &toks, &n);
    if (rc != IHA_OK) {
        warn_read(a, iha_rc_str(rc));
        goto cleanup;
    }
    tokens_clear(a);
    a->tokens = toks;
    a->n_tokens = n;
    a->file_seen = true;
    a->mtime = st.st_mtim;
    a->size = st.st_size;
    a->ino = st.st_ino;
    a->dev = st.st_dev;
    a->warned_read = false;
    IHA_LOG(IHA_LOG_INFO, "bearer tokens loaded", "file", a->tokens_file);

cleanup:
    free_secret(text, text_len);
    if (fd >= 0)
        close(fd);
}

enum iha_rc iha_auth_new(bool disabled, const char *tokens_file, const struct iha_basic_user *users,
                         size_t n_users, struct iha_auth **out)
{
    struct iha_auth *a;
    enum iha_rc rc = IHA_E_NOMEM;

    *out = NULL;
    a = calloc(1, sizeof(*a));
    if (!a)
        return IHA_E_NOMEM;
    a->disabled = disabled;
    a->last_check_ms = -1;
    if (tokens_file) {
        a->tokens_file = strdup(tokens_file);
        if (!a->tokens_file)
            goto cleanup;
    }
    if (n_users) {
        a->users = calloc(n_users, sizeof(*a->users));
        if (!a->users)
            goto cleanup;
        for (size_t i = 0; i < n_users; i++) {
            if (!users[i].name || !users[i].hash) {
                rc = IHA_E_INVAL;
                goto cleanup;
            }
            a->n_users++;
            a->users[i].name = strdup(users[i].name);
            a->users[i].hash = strdup(users[i].hash);
            if (!a->users[i].name || !a->users[i].hash)
                goto cleanup;
            a->users[i].name_len = strlen(users[i].name);
            a->users[i].hash_len = strlen(users[i].hash);
        }
    }
    iha_sipkey_random(&a->key[0]);
    iha_sipkey_random(&a->key[1]);
    tokens_refresh(a);
    *out = a;
    return IHA_OK;

cleanup:
    iha_auth_free(a);
    return rc;
}

static void cache_clear(struct cache *c)
{
    iha_secret_wipe(c, sizeof(*c));
}

static struct tag tag_of(const struct iha_sipkey key[2], const char *v, size_t len)
{
    struct tag t = {{iha_siphash(&key[0], v, len), iha_siphash(&key[1], v, len)}};

    return t;
}

/* Names a user and its hash together: a changed password hash is another user here. */
static uint64_t user_print(const struct iha_sipkey key[2], const struct user *u)
{
    uint64_t p =
        iha_siphash(&key[0], u->name, u->name_len + 1) ^ iha_siphash(&key[1], u->hash, u->hash_len);

    return p ? p : 1; /* 0 means "no user" */
}

void iha_auth_free(struct iha_auth *a)
{
    if (!a)
        return;
    tokens_clear(a);
    for (size_t i = 0; i < a->n_users; i++) {
        free(a->users[i].name);
        free_secret(a->users[i].hash, a->users[i].hash_len);
    }
    free(a->users);
    cache_clear(&a->good);
    cache_clear(&a->bad);
    iha_secret_wipe(a->key, sizeof(a->key));
    free(a->tokens_file);
    free(a);
}

/*
 * Looks at every slot so the time taken does not tell which one matched.
 * @return the slot's user print (non-zero for good entries), 1 for a refused one, 0 if none.
 */
static uint64_t cache_find(const struct cache *c, const struct tag *t)
{
    uint64_t found = 0;

    for (size_t i = 0; i < CACHE_SLOTS; i++) {
        uint64_t d = (c->slot[i].tag.h[0] ^ t->h[0]) | (c->slot[i].tag.h[1] ^ t->h[1]);
        uint64_t hit = (uint64_t)(c->slot[i].used && d == 0);
        uint64_t v = c->slot[i].user ? c->slot[i].user : 1;
        found |= (0 - hit) & v;
    }
    return found;
}

static void cache_put(struct cache *c, const struct tag *t, uint64_t user)
{
    struct cache_slot *s = &c->slot[c->next];

    s->used = true;
    s->tag = *t;
    s->user = user;
    c->next = (c->next + 1) % CACHE_SLOTS;
}

/* @return the user whose print is @p print, or NULL. */
static const struct user *user_by_print(const struct iha_auth *a, uint64_t print)
{
    const struct user *found = NULL;

    for (size_t i = 0; i < a->n_users; i++)
        if (user_print(a->key, &a->users[i]) == print && !found)
            found = &a->users[i];
    return found;
}

static int b64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

/*
 * Strict standard base64 (padding optional, nothing after it). @p out must hold
 * len / 4 * 3 + 3 bytes. @return the decoded length, or -1.
 */
static long b64_decode(const char *in, size_t len, unsigned char *out)
{
    uint32_t acc = 0;
    unsigned bits = 0;
    size_t o = 0;
    size_t pad = 0;

    while (len > 0 && in[len - 1] == '=' && pad < 2) {
        len--;
        pad++;
    }
    if (pad && (len + pad) % 4 != 0)
        return -1;
    if (len % 4 == 1)
        return -1;
    for (size_t i = 0; i < len; i++) {
        int v = b64_value((unsigned char)in[i]);
        if (v < 0)
            return -1;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (unsigned char)(acc >> bits);
        }
    }
    /* Leftover bits must be zero, otherwise two encodings would decode alike. */
    if (bits && (acc & ((1u << bits) - 1)) != 0)
        return -1;
    return (long)o;
}

static void set_why(char *why, size_t size, const char *s)
{
    if (why && size)
        snprintf(why, size, "%s", s);
}

static enum iha_auth_result check_bearer(struct iha_auth *a, const char *tok, size_t len, char *why,
                                         size_t why_size)
{
    bool ok = false;

    tokens_refresh(a);
    if (a->n_tokens == 0) {
        set_why(why, why_size, "no bearer token is configured");
        return IHA_AUTH_INVALID;
    }
    for (size_t i = 0; i < a->n_tokens; i++)
        ok |= iha_auth_equal(a->tokens[i].s, a->tokens[i].len, tok, len);
    if (!ok) {
        set_why(why, why_size, "invalid bearer token");
        return IHA_AUTH_INVALID;
    }
    return IHA_AUTH_OK;
}

static void job_free(struct iha_auth_job *job)
{
    if (!job)
        return;
    free(job->hash);
    free_secret(job->password, job->password_cap);
    iha_secret_wipe(job, sizeof(*job));
    free(job);
}

void iha_auth_job_free(struct iha_auth_job *job)
{
    job_free(job);
}

/* A job for @p password against @p u (or, for an unknown name, the first user's hash). */
static struct iha_auth_job *job_new(const struct iha_auth *a, const struct tag *t,
                                    const struct user *u, const char *password, size_t len)
{
    struct iha_auth_job *job = calloc(1, sizeof(*job));
    const struct user *against = u ? u : &a->users[0];

    if (!job)
        return NULL;
    job->tag = *t;
    memcpy(job->key, a->key, sizeof(job->key));
    job->user = u ? user_print(a->key, u) : 0;
    job->hash = strdup(against->hash);
    job->password_cap = len + 1;
    job->password = malloc(job->password_cap);
    if (!job->hash || !job->password) {
        job_free(job);
        return NULL;
    }
    memcpy(job->password, password, len);
    job->password[len] = '\0';
    return job;
}

void iha_auth_job_run(struct iha_auth_job *job)
{
    struct crypt_data *cd = calloc(1, sizeof(*cd));
    const char *out;

    job->ran = true;
    job->ok = false;
    if (cd) {
        out = crypt_r(job->password, job->hash, cd);
        /* libxcrypt signals failure with NULL or a string starting with '*'. */
        job->ok = job->user != 0 && out && out[0] == '$' &&
                  iha_auth_equal(out, strlen(out), job->hash, strlen(job->hash));
        iha_secret_wipe(cd, sizeof(*cd));
        free(cd);
    }
    iha_secret_wipe(job->password, job->password_cap);
}

enum iha_auth_result iha_auth_job_finish(struct iha_auth *a, struct iha_auth_job *job,
                                         bool *accepted, char *why, size_t why_size)
{
    bool same_keys = memcmp(job->key, a->key, sizeof(a->key)) == 0;
    bool user_same = !job->user || (same_keys && user_by_print(a, job->user));

    *accepted = false;
    if (!job->ran) {
        set_why(why, why_size, "the gateway is shutting down; retry later");
        return IHA_AUTH_BUSY;
    }
    *accepted = job->ok;
    /*
     * A reload changed this user (or its keys) while the hash ran: the verdict was
     * about the old configuration. Retrying is right for both verdicts.
     */
    if (!same_keys || !user_same) {
        set_why(why, why_size, "the user changed while its password was checked; retry");
        return IHA_AUTH_BUSY;
    }
    if (job->ok) {
        cache_put(&a->good, &job->tag, job->user);
        return IHA_AUTH_OK;
    }
    cache_put(&a->bad, &job->tag, 0);
    set_why(why, why_size, "invalid user name or password");
    return IHA_AUTH_INVALID;
}

void iha_auth_adopt_cache(struct iha_auth *a, const struct iha_auth *old)
{
    if (!a || !old)
        return;
    memcpy(a->key, old->key, sizeof(a->key));
    cache_clear(&a->good);
    cache_clear(&a->bad);
    for (size_t i = 0; i < CACHE_SLOTS; i++) {
        const struct cache_slot *s = &old->good.slot[i];
        if (s->used && user_by_print(a, s->user))
            cache_put(&a->good, &s->tag, s->user);
    }
}

static enum iha_auth_result check_basic(struct iha_auth *a, const char *header, size_t header_len,
                                        const char *b64, size_t len, struct iha_auth_job **job,
                                        char *why, size_t why_size)
{
    unsigned char *plain = NULL;
    size_t plain_cap = len / 4 * 3 + 4;
    long plain_len;
    const char *colon;
    const struct user *found = NULL;
    enum iha_auth_result res = IHA_AUTH_INVALID;
    struct tag t;
    uint64_t hit;

    if (a->n_users == 0) {
        set_why(why, why_size, "basic authentication is not configured");
        return IHA_AUTH_INVALID;
    }
    t = tag_of(a->key, header, header_len);
    hit = cache_find(&a->good, &t);
    if (hit && user_by_print(a, hit))
        return IHA_AUTH_OK;
    if (cache_find(&a->bad, &t)) {
        set_why(why, why_size, "invalid user name or password");
        return IHA_AUTH_INVALID;
    }
    plain = malloc(plain_cap);
    if (!plain) {
        set_why(why, why_size, "out of memory; retry later");
        return IHA_AUTH_BUSY;
    }
    plain_len = b64_decode(b64, len, plain);
    if (plain_len < 0) {
        set_why(why, why_size, "malformed basic credentials");
        goto cleanup;
    }
    plain[plain_len] = '\0';
    colon = memchr(plain, ':', (size_t)plain_len);
    if (!colon || memchr(plain, '\0', (size_t)plain_len)) {
        set_why(why, why_size, "malformed basic credentials");
        goto cleanup;
    }
    for (size_t i = 0; i < a->n_users; i++) {
        const struct user *u = &a->users[i];
        if (iha_auth_equal(u->name, u->name_len, (const char *)plain,
                           (size_t)(colon - (const char *)plain)) &&
            !found)
            found = u;
    }
    /* An unknown name costs a hash as a wrong password does: no user enumeration by time. */
    *job = job_new(a, &t, found, colon + 1,
                   (size_t)plain_len - (size_t)(colon + 1 - (const char *)plain));
    if (!*job) {
        set_why(why, why_size, "out of memory; retry later");
        res = IHA_AUTH_BUSY;
        goto cleanup;
    }
    res = IHA_AUTH_VERIFY;

cleanup:
    free_secret((char *)plain, plain_cap);
    return res;
}

/* Case-insensitive scheme match followed by at least one space. @return the credential. */
static const char *scheme(const char *h, const char *name)
{
    size_t n = strlen(name);

    if (strncasecmp(h, name, n) != 0 || (h[n] != ' ' && h[n] != '\t'))
        return NULL;
    h += n;
    while (*h == ' ' || *h == '\t')
        h++;
    return h;
}

enum iha_auth_result iha_auth_check(struct iha_auth *a, const char *authorization,
                                    struct iha_auth_job **job, char *why, size_t why_size)
{
    const char *cred;
    size_t len;
    size_t header_len;

    *job = NULL;
    set_why(why, why_size, "");
    if (a->disabled)
        return IHA_AUTH_OK;
    if (!a->tokens_file && a->n_users == 0) {
        set_why(why, why_size, "no credentials are configured on the gateway");
        return IHA_AUTH_MISSING;
    }
    if (!authorization || !*authorization) {
        set_why(why, why_size, "missing Authorization header");
        return IHA_AUTH_MISSING;
    }
    header_len = strnlen(authorization, AUTH_HEADER_MAX + 1);
    if (header_len > AUTH_HEADER_MAX) {
        set_why(why, why_size, "Authorization header too long");
        return IHA_AUTH_INVALID;
    }
    if ((cred = scheme(authorization, "Bearer")) != NULL) {
        len = strlen(cred);
        while (len && is_space(cred[len - 1]))
            len--;
        if (!len) {
            set_why(why, why_size, "empty bearer token");
            return IHA_AUTH_INVALID;
        }
        return check_bearer(a, cred, len, why, why_size);
    }
    if ((cred = scheme(authorization, "Basic")) != NULL) {
        len = strlen(cred);
        while (len && is_space(cred[len - 1]))
            len--;
        return check_basic(a, authorization, header_len, cred, len, job, why, why_size);
    }
    set_why(why, why_size, "unsupported authorization scheme (use Bearer or Basic)");
    return IHA_AUTH_INVALID;
}
