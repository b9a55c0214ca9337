/* SPDX-License-Identifier: Apache-2.0 */
/** @file spool.c @brief Durable spool of notification records (see spool.h). */
#include "spool.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"

#define NAME_MAX_LEN 160
#define RECORD_ID_IN_NAME 64
/* A temporary file this old belongs to a writer that died. */
#define STALE_TMP_S 3600

struct iha_spool {
    char *dir;
    int dirfd;
    int lockfd; /* -1 until locked once */
    bool locked;
};

long long iha_spool_now_ms(void)
{
    return (long long)iha_clock_ms();
}

enum iha_spool_verdict iha_spool_classify(long http_code)
{
    if (http_code >= 200 && http_code < 300)
        return IHA_SPOOL_DELIVERED;
    /* Credentials, timeouts and rate limits are fixed on the gateway's side; keep the record. */
    if (http_code == 401 || http_code == 403 || http_code == 408 || http_code == 429)
        return IHA_SPOOL_RETRY;
    if (http_code >= 400 && http_code < 500)
        return IHA_SPOOL_REJECTED;
    return IHA_SPOOL_RETRY;
}

enum iha_notify_exit iha_notify_exit_code(enum iha_spool_verdict verdict, bool spooled)
{
    if (verdict == IHA_SPOOL_DELIVERED)
        return IHA_NOTIFY_EXIT_OK;
    if (verdict == IHA_SPOOL_REJECTED)
        return IHA_NOTIFY_EXIT_PERMANENT;
    return spooled ? IHA_NOTIFY_EXIT_OK : IHA_NOTIFY_EXIT_TEMPORARY;
}

/*
 * Refuses a spool another local user controls: owned by someone else than iha-notify's
 * effective user or root, or writable by group or others. Such a user could plant records
 * (a host DOWN that evacuates a healthy host) or swap files for symlinks. Group write is
 * refused too: the monitoring group often has other members (a web UI, other daemons).
 * Refused rather than tightened: files may already have been planted, and the operator
 * should look.
 */
static enum iha_rc check_dir(int fd, const char *dir, struct iha_err *err)
{
    struct stat st;
    uid_t me = geteuid();

    if (fstat(fd, &st) != 0) {
        iha_err_set(err, dir, "cannot stat spool directory %s: %s", dir, strerror(errno));
        return IHA_E_IO;
    }
    if (st.st_uid != me && st.st_uid != 0) {
        iha_err_set(err, dir,
                    "spool directory %s is owned by uid %u, not by iha-notify's user (uid %u) or "
                    "root: that user could plant or replace records; run iha-notify as its owner, "
                    "or chown %u %s && chmod 0700 %s, or choose another --spool-dir",
                    dir, (unsigned)st.st_uid, (unsigned)me, (unsigned)me, dir, dir);
        return IHA_E_AUTH;
    }
    if (st.st_mode & (S_IWGRP | S_IWOTH)) {
        iha_err_set(err, dir,
                    "spool directory %s has mode %04o: other local users could plant or replace "
                    "records in it; check its contents, then chmod 0700 %s",
                    dir, (unsigned)(st.st_mode & 07777), dir);
        return IHA_E_AUTH;
    }
    return IHA_OK;
}

enum iha_rc iha_spool_open(const char *dir, struct iha_spool **out, struct iha_err *err)
{
    struct iha_spool *s = NULL;
    enum iha_rc rc = IHA_E_NOMEM;

    *out = NULL;
    s = calloc(1, sizeof(*s));
    if (!s)
        goto cleanup;
    s->dirfd = -1;
    s->lockfd = -1;
    s->dir = strdup(dir);
    if (!s->dir)
        goto cleanup;
    rc = IHA_E_IO;
    if (mkdir(dir, 0750) != 0 && errno != EEXIST) {
        iha_err_set(err, dir, "cannot create spool directory %s: %s", dir, strerror(errno));
        goto cleanup;
    }
    s->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (s->dirfd < 0) {
        iha_err_set(err, dir, "cannot open spool directory %s: %s", dir, strerror(errno));
        goto cleanup;
    }
    /* On the descriptor every later file operation goes through, before any is made. */
    rc = check_dir(s->dirfd, dir, err);
    if (rc != IHA_OK)
        goto cleanup;
    *out = s;
    s = NULL;
    rc = IHA_OK;
cleanup:
    iha_spool_close(s);
    return rc;
}

void iha_spool_close(struct iha_spool *s)
{
    if (!s)
        return;
    iha_spool_unlock(s);
    if (s->lockfd >= 0)
        close(s->lockfd);
    if (s->dirfd >= 0)
        close(s->dirfd);
    free(s->dir);
    free(s);
}

static enum iha_rc write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return IHA_E_IO;
        p += w;
        n -= (size_t)w;
    }
    return IHA_OK;
}

enum iha_rc iha_spool_write(struct iha_spool *s, const json_t *record, struct iha_err *err)
{
    const char *rid = json_string_value(json_object_get(record, "record_id"));
    char id[RECORD_ID_IN_NAME + 1];
    char name[NAME_MAX_LEN], tmp[NAME_MAX_LEN + 8];
    struct timespec ts;
    char *text = NULL;
    size_t i = 0, len;
    int fd = -1, n;
    enum iha_rc rc = IHA_E_NOMEM;

    /* The id only helps a human find a file; keep it to safe characters. */
    for (; rid && rid[i] && i < RECORD_ID_IN_NAME; i++) {
        char c = rid[i];
        id[i] = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ? c : 'x';
    }
    id[i] = '\0';
    clock_gettime(CLOCK_REALTIME, &ts);
    n = snprintf(name, sizeof(name), "%020lld-%s-%ld.json",
                 (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec, i ? id : "noid", (long)getpid());
    if (n < 0 || (size_t)n >= sizeof(name))
        return IHA_E_LIMIT;
    n = snprintf(tmp, sizeof(tmp), ".tmp-%s", name);
    if (n < 0 || (size_t)n >= sizeof(tmp))
        return IHA_E_LIMIT;
    text = json_dumps(record, JSON_COMPACT);
    if (!text)
        goto cleanup;
    len = strlen(text);
    rc = IHA_E_IO;
    fd = openat(s->dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0640);
    if (fd < 0) {
        iha_err_set(err, s->dir, "cannot create %s/%s: %s", s->dir, tmp, strerror(errno));
        goto cleanup;
    }
    if (write_all(fd, text, len) != IHA_OK || write_all(fd, "\n", 1) != IHA_OK || fsync(fd) != 0) {
        iha_err_set(err, s->dir, "cannot write %s/%s: %s", s->dir, tmp, strerror(errno));
        goto cleanup;
    }
    if (close(fd) != 0) {
        fd = -1;
        iha_err_set(err, s->dir, "cannot write %s/%s: %s", s->dir, tmp, strerror(errno));
        goto cleanup;
    }
    fd = -1;
    if (renameat(s->dirfd, tmp, s->dirfd, name) != 0) {
        iha_err_set(err, s->dir, "cannot rename %s in %s: %s", tmp, s->dir, strerror(errno));
        goto cleanup;
    }
    /* The rename is durable only once the directory is. */
    if (fsync(s->dirfd) != 0) {
        iha_err_set(err, s->dir, "cannot sync %s: %s", s->dir, strerror(errno));
        goto cleanup;
    }
    rc = IHA_OK;
cleanup:
    if (fd >= 0)
        close(fd);
    if (rc != IHA_OK && rc != IHA_E_NOMEM)
        (void)unlinkat(s->dirfd, tmp, 0);
    free(text);
    return rc;
}

enum iha_rc iha_spool_lock(struct iha_spool *s, unsigned wait_ms)
{
    long long deadline = iha_spool_now_ms() + wait_ms;

    if (s->locked)
        return IHA_OK;
    if (s->lockfd < 0) {
        struct stat st;
        /* A symlink here must not make us create or lock a file elsewhere. */
        s->lockfd =
            openat(s->dirfd, ".lock", O_RDWR | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0640);
        if (s->lockfd < 0)
            return IHA_E_IO;
        if (fstat(s->lockfd, &st) != 0 || !S_ISREG(st.st_mode)) {
            close(s->lockfd);
            s->lockfd = -1;
            return IHA_E_IO;
        }
    }
    for (;;) {
        if (flock(s->lockfd, LOCK_EX | LOCK_NB) == 0) {
            s->locked = true;
            return IHA_OK;
        }
        if (errno != EWOULDBLOCK && errno != EINTR)
            return IHA_E_IO;
        if (iha_spool_now_ms() >= deadline)
            return IHA_E_LIMIT;
        {
            struct timespec ts = {0, 50 * 1000000L};
            nanosleep(&ts, NULL);
        }
    }
}

void iha_spool_unlock(struct iha_spool *s)
{
    if (s && s->locked) {
        (void)flock(s->lockfd, LOCK_UN);
        s->locked = false;
    }
}

static bool is_record_name(const char *n)
{
    size_t l = strlen(n);

    return n[0] != '.' && l > 5 && l < NAME_MAX_LEN && strcmp(n + l - 5, ".json") == 0;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/*
 * Lists record names (sorted, owned) and removes stale temporary files.
 * @return IHA_OK, IHA_E_IO, IHA_E_NOMEM.
 */
static enum iha_rc list_records(struct iha_spool *s, char ***names, size_t *n)
{
    int fd = dup(s->dirfd);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    struct dirent *e;
    char **v = NULL;
    size_t cnt = 0;
    enum iha_rc rc = IHA_E_NOMEM;
    time_t now = time(NULL);

    *names = NULL;
    *n = 0;
    if (!d) {
        if (fd >= 0)
            close(fd);
        return IHA_E_IO;
    }
    rewinddir(d);
    v = calloc(IHA_SPOOL_MAX_BATCH, sizeof(*v));
    if (!v)
        goto cleanup;
    while ((e = readdir(d)) != NULL) {
        if (strncmp(e->d_name, ".tmp-", 5) == 0) {
            struct stat st;
            if (fstatat(s->dirfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
                now - st.st_mtime > STALE_TMP_S)
                (void)unlinkat(s->dirfd, e->d_name, 0);
            continue;
        }
        if (!is_record_name(e->d_name) || cnt >= IHA_SPOOL_MAX_BATCH)
            continue;
        v[cnt] = strdup(e->d_name);
        if (!v[cnt])
            goto cleanup;
        cnt++;
    }
    qsort(v, cnt, sizeof(*v), cmp_names);
    *names = v;
    *n = cnt;
    v = NULL;
    rc = IHA_OK;
cleanup:
    if (v) {
        for (size_t i = 0; i < cnt; i++)
            free(v[i]);
        free(v);
    }
    closedir(d);
    return rc;
}

static void free_names(char **names, size_t n)
{
    for (size_t i = 0; names && i < n; i++)
        free(names[i]);
    free(names);
}

/* Moves @p name into the subdirectory @p sub (created on demand, never through a symlink). */
static void move_aside(struct iha_spool *s, const char *name, const char *sub)
{
    int subfd;

    if (mkdirat(s->dirfd, sub, 0750) != 0 && errno != EEXIST)
        return;
    subfd = openat(s->dirfd, sub, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (subfd < 0) {
        fprintf(stderr, "iha-notify: cannot move %s/%s aside: %s/%s: %s\n", s->dir, name, s->dir,
                sub,
                errno == ELOOP || errno == ENOTDIR ? "not a directory (a symlink?); remove it"
                                                   : strerror(errno));
        return;
    }
    if (renameat(s->dirfd, name, subfd, name) == 0) {
        IHA_IGNORE(fsync(subfd), "a lost move only means the file is looked at again");
        IHA_IGNORE(fsync(s->dirfd), "a lost move only means the file is looked at again");
        fprintf(stderr, "iha-notify: moved %s/%s to %s/%s/%s\n", s->dir, name, s->dir, sub, name);
    }
    close(subfd);
}

/* @return the record in file @p name (new reference), or NULL when it is not one. */
static json_t *read_record(struct iha_spool *s, const char *name)
{
    /* O_NONBLOCK: a FIFO planted under a record name must not hang the flush. */
    int fd = openat(s->dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    struct stat st;
    char *buf = NULL;
    size_t got = 0;
    json_t *j = NULL;

    if (fd < 0)
        return NULL;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size <= 0 ||
        st.st_size > IHA_SPOOL_MAX_FILE)
        goto cleanup;
    buf = malloc((size_t)st.st_size);
    if (!buf)
        goto cleanup;
    while (got < (size_t)st.st_size) {
        ssize_t r = read(fd, buf + got, (size_t)st.st_size - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            goto cleanup;
        got += (size_t)r;
    }
    j = json_loadb(buf, got, JSON_REJECT_DUPLICATES, NULL);
    if (j && (!json_is_object(j) || !json_is_string(json_object_get(j, "record_id")) ||
              !json_is_string(json_object_get(j, "hostname")))) {
        json_decref(j);
        j = NULL;
    }
cleanup:
    free(buf);
    close(fd);
    return j;
}

enum iha_rc iha_spool_flush(struct iha_spool *s, iha_spool_send_fn send, void *cls,
                            long long deadline_ms, struct iha_spool_stats *st, struct iha_err *err)
{
    char **names = NULL;
    size_t n = 0, i;
    enum iha_rc rc;

    memset(st, 0, sizeof(*st));
    if (!s->locked) {
        iha_err_set(err, s->dir, "flush without the spool lock");
        return IHA_E_INVAL;
    }
    rc = list_records(s, &names, &n);
    if (rc != IHA_OK) {
        iha_err_set(err, s->dir, "cannot read spool directory %s", s->dir);
        return rc;
    }
    for (i = 0; i < n; i++) {
        json_t *rec;
        enum iha_spool_verdict v;

        if (iha_spool_now_ms() >= deadline_ms) {
            st->stopped = true;
            break;
        }
        rec = read_record(s, names[i]);
        if (!rec) {
            /* Gone meanwhile (another flusher without our lock cannot exist) or not a record. */
            if (faccessat(s->dirfd, names[i], F_OK, AT_SYMLINK_NOFOLLOW) == 0) {
                move_aside(s, names[i], "corrupt");
                st->corrupt++;
            }
            continue;
        }
        v = send(cls, rec, deadline_ms);
        json_decref(rec);
        if (v == IHA_SPOOL_DELIVERED) {
            if (unlinkat(s->dirfd, names[i], 0) == 0)
                (void)fsync(s->dirfd);
            st->delivered++;
        } else if (v == IHA_SPOOL_REJECTED) {
            move_aside(s, names[i], "rejected");
            st->rejected++;
        } else {
            st->stopped = true;
            break;
        }
    }
    st->left = n - i;
    free_names(names, n);
    return IHA_OK;
}

size_t iha_spool_count(struct iha_spool *s)
{
    char **names = NULL;
    size_t n = 0;

    if (list_records(s, &names, &n) != IHA_OK)
        return 0;
    free_names(names, n);
    return n;
}
