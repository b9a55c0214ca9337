/* SPDX-License-Identifier: Apache-2.0 */
/** @file token_source.c @brief The service token, from a file re-read on change or from the
 * environment.
 */
#include "token_source.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

/* A token file larger than this is not a token file. */
#define TOKEN_FILE_MAX (64u * 1024u)

struct iha_token_source {
    const struct iha_token_provider *ops; /* non-NULL: everything below is unused */
    void *ops_cls;
    pthread_mutex_t lock;
    char *file;     /* NULL when the token comes from the environment */
    char *env_name; /* NULL when neither is configured */
    char *token;    /* last good token from the file, NUL-terminated; NULL if none */
    size_t token_len;
    bool have_stat; /* st_* describe the file the token was read from */
    dev_t st_dev;
    ino_t st_ino;
    off_t st_size;
    struct timespec st_mtim;
};

static void drop_token(struct iha_token_source *ts)
{
    if (ts->token) {
        iha_secret_wipe(ts->token, ts->token_len);
        free(ts->token);
    }
    ts->token = NULL;
    ts->token_len = 0;
}

enum iha_rc iha_token_source_new(const char *file, const char *env_name,
                                 struct iha_token_source **out)
{
    struct iha_token_source *ts = calloc(1, sizeof(*ts));

    *out = NULL;
    if (!ts)
        return IHA_E_NOMEM;
    if (pthread_mutex_init(&ts->lock, NULL) != 0) {
        free(ts);
        return IHA_E_NOMEM;
    }
    if (file && !(ts->file = strdup(file)))
        goto nomem;
    if (!file && env_name && !(ts->env_name = strdup(env_name)))
        goto nomem;
    *out = ts;
    return IHA_OK;
nomem:
    iha_token_source_free(ts);
    return IHA_E_NOMEM;
}

enum iha_rc iha_token_source_new_provider_steal(const struct iha_token_provider *ops, void *cls,
                                                struct iha_token_source **out)
{
    enum iha_rc rc;

    *out = NULL;
    if (!ops || !ops->token) {
        if (ops && ops->free)
            ops->free(cls);
        return IHA_E_INVAL;
    }
    rc = iha_token_source_new(NULL, NULL, out);
    if (rc != IHA_OK) {
        if (ops->free)
            ops->free(cls);
        return rc;
    }
    (*out)->ops = ops;
    (*out)->ops_cls = cls;
    return IHA_OK;
}

void iha_token_source_invalidate(struct iha_token_source *ts)
{
    if (!ts)
        return;
    if (ts->ops) {
        if (ts->ops->invalidate)
            ts->ops->invalidate(ts->ops_cls);
        return;
    }
    pthread_mutex_lock(&ts->lock);
    ts->have_stat = false; /* re-read the file even if its stat looks the same */
    pthread_mutex_unlock(&ts->lock);
}

void iha_token_source_free(struct iha_token_source *ts)
{
    if (!ts)
        return;
    if (ts->ops && ts->ops->free)
        ts->ops->free(ts->ops_cls);
    drop_token(ts);
    free(ts->file);
    free(ts->env_name);
    pthread_mutex_destroy(&ts->lock);
    free(ts);
}

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

/*
 * Trims surrounding whitespace of @p s[0..*len) in place. @return false when
 * nothing is left or a control character remains (it would split the header).
 */
static bool trim_token(char *s, size_t *len)
{
    size_t a = 0, b = *len;

    while (a < b && is_space(s[a]))
        a++;
    while (b > a && is_space(s[b - 1]))
        b--;
    if (a == b)
        return false;
    for (size_t i = a; i < b; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7F)
            return false;
    memmove(s, s + a, b - a);
    iha_secret_wipe(s + (b - a), *len - (b - a));
    *len = b - a;
    s[*len] = '\0';
    return true;
}

static bool same_file(const struct iha_token_source *ts, const struct stat *st)
{
    return ts->have_stat && ts->st_dev == st->st_dev && ts->st_ino == st->st_ino &&
           ts->st_size == st->st_size && ts->st_mtim.tv_sec == st->st_mtim.tv_sec &&
           ts->st_mtim.tv_nsec == st->st_mtim.tv_nsec;
}

/* Reads the token file if it changed. @return IHA_OK or IHA_E_IO (old token kept). */
static enum iha_rc refresh_file(struct iha_token_source *ts)
{
    enum iha_rc rc = IHA_E_IO;
    struct stat st;
    char *buf = NULL;
    size_t len = 0;
    int fd = -1;

    if (stat(ts->file, &st) != 0)
        goto cleanup;
    if (same_file(ts, &st) && ts->token)
        return IHA_OK;
    fd = open(ts->file, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > (off_t)TOKEN_FILE_MAX)
        goto cleanup;
    buf = malloc(TOKEN_FILE_MAX + 1);
    if (!buf)
        goto cleanup;
    for (;;) {
        ssize_t r = read(fd, buf + len, TOKEN_FILE_MAX + 1 - len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            goto cleanup;
        if (r == 0)
            break;
        len += (size_t)r;
        if (len > TOKEN_FILE_MAX)
            goto cleanup; /* grew while we read it */
    }
    /* An empty file is most likely being rewritten: keep the last good token. */
    if (!trim_token(buf, &len))
        goto cleanup;
    drop_token(ts);
    ts->token = buf;
    ts->token_len = len;
    buf = NULL;
    ts->have_stat = true;
    ts->st_dev = st.st_dev;
    ts->st_ino = st.st_ino;
    ts->st_size = st.st_size;
    ts->st_mtim = st.st_mtim;
    rc = IHA_OK;
cleanup:
    if (buf) {
        iha_secret_wipe(buf, TOKEN_FILE_MAX + 1);
        free(buf);
    }
    if (fd >= 0)
        close(fd);
    return rc;
}

static enum iha_rc write_header(const char *header_name, const char *token, size_t token_len,
                                char *out, size_t size)
{
    bool bearer = strcasecmp(header_name, "Authorization") == 0;
    int n;

    for (size_t i = 0; i < token_len; i++)
        if ((unsigned char)token[i] < 0x20 || token[i] == 0x7F)
            return IHA_E_NOTFOUND;
    n = snprintf(out, size, "%s: %s%.*s", header_name, bearer ? "Bearer " : "", (int)token_len,
                 token);
    if (n < 0 || (size_t)n >= size) {
        iha_secret_wipe(out, size);
        return IHA_E_LIMIT;
    }
    return IHA_OK;
}

/*
 * The provider writes the token right after the header prefix, so the token is never
 * copied through a second buffer. No lock: the provider is thread-safe and may block.
 */
static enum iha_rc provider_header(struct iha_token_source *ts, const char *header_name, char *out,
                                   size_t size)
{
    bool bearer = strcasecmp(header_name, "Authorization") == 0;
    enum iha_rc rc;
    size_t len;
    int n;

    n = snprintf(out, size, "%s: %s", header_name, bearer ? "Bearer " : "");
    if (n < 0 || (size_t)n >= size)
        return IHA_E_LIMIT;
    rc = ts->ops->token(ts->ops_cls, out + n, size - (size_t)n);
    if (rc == IHA_OK) {
        len = strnlen(out + n, size - (size_t)n);
        if (len == 0 || len == size - (size_t)n)
            rc = IHA_E_NOTFOUND;
        for (size_t i = 0; rc == IHA_OK && i < len; i++)
            if ((unsigned char)out[n + i] < 0x20 || out[n + i] == 0x7F)
                rc = IHA_E_NOTFOUND;
    }
    if (rc != IHA_OK)
        iha_secret_wipe(out, size);
    return rc;
}

enum iha_rc iha_token_source_header(struct iha_token_source *ts, const char *header_name, char *out,
                                    size_t size)
{
    enum iha_rc rc;

    if (!ts || !header_name || !out || size == 0)
        return IHA_E_NOTFOUND;
    if (ts->ops)
        return provider_header(ts, header_name, out, size);
    pthread_mutex_lock(&ts->lock);
    if (ts->file) {
        rc = refresh_file(ts);
        if (ts->token)
            rc = write_header(header_name, ts->token, ts->token_len, out, size);
    } else if (ts->env_name) {
        const char *v = getenv(ts->env_name);
        size_t a = 0, b = v ? strlen(v) : 0;
        while (a < b && is_space(v[a]))
            a++;
        while (b > a && is_space(v[b - 1]))
            b--;
        rc = a < b ? write_header(header_name, v + a, b - a, out, size) : IHA_E_NOTFOUND;
    } else {
        rc = IHA_E_NOTFOUND;
    }
    pthread_mutex_unlock(&ts->lock);
    return rc;
}

void iha_token_source_describe(const struct iha_token_source *ts, char *out, size_t size)
{
    if (!out || size == 0)
        return;
    if (ts && ts->ops) {
        out[0] = '\0';
        if (ts->ops->describe)
            ts->ops->describe(ts->ops_cls, out, size);
        else
            snprintf(out, size, "provider");
    } else if (!ts || (!ts->file && !ts->env_name)) {
        snprintf(out, size, "none");
    } else if (ts->file) {
        snprintf(out, size, "file %s", ts->file);
    } else {
        const char *v = getenv(ts->env_name);
        snprintf(out, size, "env %s (%s)", ts->env_name, v && *v ? "set" : "not set");
    }
}
