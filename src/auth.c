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

/* A token file larger than this is refused: it is a list of secrets, not a data set. */
#define TOKENS_FILE_MAX (1024 * 1024)
#define TOKENS_MAX 1024
/* An Authorization header longer than this is not a credential we could have issued. */
#define AUTH_HEADER_MAX 4096
/* Entries per verification cache (one for accepted, one for refused credentials). */
#define CACHE_SLOTS 16
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

struct cache_slot {
    char *value; /**< the exact header value; a secret, wiped on eviction */
    size_t len;
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
    struct crypt_data *cd;    /**< ~32 KiB, allocated once */
    long long hash_window_ms; /**< start of the current one-second hashing budget */
    unsigned hash_used;       /**< uncached hash computations in that second */
};

/*
 * A bcrypt verification costs tens of milliseconds on the one HTTP thread; a sender
 * cycling wrong passwords must not be able to stall every other sender with them.
 */
#define HASHES_PER_SECOND 4

static void wipe(void *p, size_t len)
{
    if (p && len)
        explicit_bzero(p, len);
}

static void free_secret(char *s, size_t len)
{
    if (!s)
        return;
    wipe(s, len);
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
        a->cd = calloc(1, sizeof(*a->cd));
        if (!a->cd)
            goto cleanup;
    }
    tokens_refresh(a);
    *out = a;
    return IHA_OK;

cleanup:
    iha_auth_free(a);
    return rc;
}

static void cache_clear(struct cache *c)
{
    for (size_t i = 0; i < CACHE_SLOTS; i++) {
        free_secret(c->slot[i].value, c->slot[i].len);
        c->slot[i].value = NULL;
        c->slot[i].len = 0;
    }
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
    if (a->cd) {
        wipe(a->cd, sizeof(*a->cd));
        free(a->cd);
    }
    free(a->tokens_file);
    free(a);
}

/* Looks at every slot so the time taken does not tell which one matched. */
static bool cache_has(const struct cache *c, const char *v, size_t len)
{
    bool hit = false;

    for (size_t i = 0; i < CACHE_SLOTS; i++)
        if (c->slot[i].value)
            hit |= iha_auth_equal(c->slot[i].value, c->slot[i].len, v, len);
    return hit;
}

static void cache_put(struct cache *c, const char *v, size_t len)
{
    struct cache_slot *s = &c->slot[c->next];
    char *copy = malloc(len + 1);

    if (!copy)
        return; /* only a missed optimisation */
    memcpy(copy, v, len);
    copy[len] = '\0';
    free_secret(s->value, s->len);
    s->value = copy;
    s->len = len;
    c->next = (c->next + 1) % CACHE_SLOTS;
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

static bool verify_password(struct iha_auth *a, const char *hash, size_t hash_len,
                            const char *password)
{
    const char *out;
    bool ok;

    memset(a->cd, 0, sizeof(*a->cd));
    out = crypt_r(password, hash, a->cd);
    /* libxcrypt signals failure with NULL or a string starting with '*'. */
    ok = out && out[0] == '$' && iha_auth_equal(out, strlen(out), hash, hash_len);
    wipe(a->cd, sizeof(*a->cd));
    return ok;
}

static enum iha_auth_result check_basic(struct iha_auth *a, const char *header, size_t header_len,
                                        const char *b64, size_t len, char *why, size_t why_size)
{
    unsigned char *plain = NULL;
    size_t plain_cap = len / 4 * 3 + 4;
    long plain_len;
    const char *colon;
    const struct user *found = NULL;
    enum iha_auth_result res = IHA_AUTH_INVALID;
    bool ok;

    if (a->n_users == 0) {
        set_why(why, why_size, "basic authentication is not configured");
        return IHA_AUTH_INVALID;
    }
    if (cache_has(&a->good, header, header_len))
        return IHA_AUTH_OK;
    if (cache_has(&a->bad, header, header_len)) {
        set_why(why, why_size, "invalid user name or password");
        return IHA_AUTH_INVALID;
    }
    plain = malloc(plain_cap);
    if (!plain) {
        set_why(why, why_size, "out of memory");
        return IHA_AUTH_INVALID;
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
    if (now_ms() - a->hash_window_ms >= 1000) {
        a->hash_window_ms = now_ms();
        a->hash_used = 0;
    }
    if (a->hash_used >= HASHES_PER_SECOND) {
        /* Not cached as bad: the credential may be right once the burst is over. */
        set_why(why, why_size, "too many new basic credentials this second; retry later");
        goto cleanup;
    }
    a->hash_used++;
    if (found) {
        ok = verify_password(a, found->hash, found->hash_len, colon + 1);
    } else {
        /* An unknown name costs as much as a wrong password: no user enumeration by timing. */
        (void)verify_password(a, a->users[0].hash, a->users[0].hash_len, colon + 1);
        ok = false;
    }
    if (ok) {
        cache_put(&a->good, header, header_len);
        res = IHA_AUTH_OK;
    } else {
        cache_put(&a->bad, header, header_len);
        set_why(why, why_size, "invalid user name or password");
    }

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

enum iha_auth_result iha_auth_check(struct iha_auth *a, const char *authorization, char *why,
                                    size_t why_size)
{
    const char *cred;
    size_t len;
    size_t header_len;

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
        return check_basic(a, authorization, header_len, cred, len, why, why_size);
    }
    set_why(why, why_size, "unsupported authorization scheme (use Bearer or Basic)");
    return IHA_AUTH_INVALID;
}
