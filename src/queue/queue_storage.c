/* SPDX-License-Identifier: Apache-2.0 */
/** @file queue_storage.c @brief Durable queue: the data directory, its paths, checks and lock. */
/*
 * The data directory as a place to trust: its paths, reads and writes that never follow
 * a symlink, and the checks and lock taken before anything in it is used. Separate
 * because every other part relies on these rules and none of them is about the queue.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "queue_int.h"

void iha_queue_path_of(const struct iha_queue *q, const char *sub, char *out, size_t size)
{
    int n = snprintf(out, size, "%s/%s", q->dir, sub);
    if (n < 0 || (size_t)n >= size)
        out[0] = '\0';
}

void iha_queue_seg_path(const struct iha_queue *q, uint64_t base, char *out, size_t size)
{
    int n = snprintf(out, size, "%s/queue/%020llu.seg", q->dir, (unsigned long long)base);
    if (n < 0 || (size_t)n >= size)
        out[0] = '\0';
}

int iha_queue_fsync_dir(const char *path)
{
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int rc;

    if (fd < 0)
        return -1;
    rc = fsync(fd);
    close(fd);
    return rc;
}

bool iha_queue_write_all(int fd, const unsigned char *p, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return false;
        }
        if (n == 0) {
            errno = EIO;
            return false;
        }
        p += n;
        len -= (size_t)n;
    }
    return true;
}

/* A file owned by someone else than the gateway's user or root is not ours to trust. */
bool iha_queue_trusted_uid(uid_t uid)
{
    return uid == geteuid() || uid == 0;
}

/*
 * Reads a regular file of the data directory; a symlink is not followed. @p owner (may
 * be NULL) receives the file's owner.
 */
unsigned char *iha_queue_read_file(const char *path, size_t *len, uid_t *owner)
{
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    struct stat st;
    unsigned char *p = NULL;
    size_t got = 0;

    *len = 0;
    if (fd < 0)
        return NULL;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || !(p = malloc((size_t)st.st_size + 1)))
        goto out;
    if (owner)
        *owner = st.st_uid;
    while (got < (size_t)st.st_size) {
        ssize_t n = read(fd, p + got, (size_t)st.st_size - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
    }
out:
    close(fd);
    *len = got;
    return p;
}

static int mkdir_p(const char *path)
{
    char tmp[DIRLEN];
    size_t len = strlen(path);

    if (len == 0 || len >= sizeof(tmp))
        return -1;
    memcpy(tmp, path, len + 1);
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(tmp, 0755) != 0 && errno != EEXIST)
            return -1;
        *p = '/';
    }
    if (mkdir(tmp, 0700) != 0 && errno != EEXIST)
        return -1;
    return 0;
}

/* @return whether @p gid is the gateway's group (e.g. a Kubernetes fsGroup). */
static bool own_group(gid_t gid)
{
    gid_t groups[64];
    int n = getgroups(64, groups);

    if (gid == getegid())
        return true;
    for (int i = 0; i < n; i++) {
        if (groups[i] == gid)
            return true;
    }
    return false;
}

/*
 * Refuses a directory another local user controls: owned by someone else than the
 * gateway's user or root, or writable by others (world, or a group that is not ours).
 * Refused rather than tightened: files may already have been planted, and the operator
 * should look. @p nofollow: the path must not be a symlink (subdirectories).
 */
static enum iha_rc check_dir(const char *path, bool nofollow, struct iha_err *err)
{
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC | (nofollow ? O_NOFOLLOW : 0));
    struct stat st;

    if (fd < 0 || fstat(fd, &st) != 0) {
        iha_err_set(err, "storage.path", "cannot open directory %s: %s%s", path, strerror(errno),
                    errno == ELOOP || errno == ENOTDIR ? " (it must be a directory, not a symlink)"
                                                       : "");
        if (fd >= 0)
            close(fd);
        return IHA_E_IO;
    }
    close(fd);
    if (!iha_queue_trusted_uid(st.st_uid)) {
        iha_err_set(err, "storage.path",
                    "%s is owned by uid %u, not by the gateway's user (uid %u) or root: that user "
                    "could change the queue; chown %u %s && chmod 0700 %s, or choose another "
                    "directory",
                    path, (unsigned)st.st_uid, (unsigned)geteuid(), (unsigned)geteuid(), path,
                    path);
        return IHA_E_AUTH;
    }
    if ((st.st_mode & S_IWOTH) || ((st.st_mode & S_IWGRP) && !own_group(st.st_gid))) {
        iha_err_set(err, "storage.path",
                    "%s has mode %04o: other local users could queue control commands or replace "
                    "files in it; check its contents, then chmod 0700 %s",
                    path, (unsigned)(st.st_mode & 07777), path);
        return IHA_E_AUTH;
    }
    return IHA_OK;
}

/*
 * Creates the data directory and its subdirectories, refuses them when another local
 * user controls them, and takes the lock, before anything is read or written in them.
 */
enum iha_rc iha_queue_storage_prepare(struct iha_queue *q, struct iha_err *err)
{
    char path[DIRLEN + 16];
    enum iha_rc rc;

    if (mkdir_p(q->dir) != 0) {
        iha_err_set(err, "storage.path", "cannot create %s: %s", q->dir, strerror(errno));
        return IHA_E_IO;
    }
    /* before anything is created in it */
    rc = check_dir(q->dir, false, err);
    if (rc != IHA_OK)
        return rc;
    iha_queue_path_of(q, "queue", path, sizeof(path));
    if (mkdir(path, 0700) != 0 && errno != EEXIST) {
        iha_err_set(err, "storage.path", "cannot create %s: %s", path, strerror(errno));
        return IHA_E_IO;
    }
    iha_queue_path_of(q, "control", path, sizeof(path));
    if (mkdir(path, 0700) != 0 && errno != EEXIST) {
        iha_err_set(err, "storage.path", "cannot create %s: %s", path, strerror(errno));
        return IHA_E_IO;
    }
    iha_queue_path_of(q, "queue", path, sizeof(path));
    rc = check_dir(path, true, err);
    iha_queue_path_of(q, "control", path, sizeof(path));
    if (rc == IHA_OK)
        rc = check_dir(path, true, err);
    if (rc == IHA_OK)
        rc = iha_queue_deadletter_check(q->dir, err);
    if (rc != IHA_OK)
        return rc;
    iha_queue_path_of(q, "lock", path, sizeof(path));
    q->lock_fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (q->lock_fd < 0) {
        iha_err_set(err, "storage.path", "cannot open %s: %s", path, strerror(errno));
        return IHA_E_IO;
    }
    if (flock(q->lock_fd, LOCK_EX | LOCK_NB) != 0) {
        iha_err_set(err, "storage.path", "%s is in use by another iha-gateway (lock %s)", q->dir,
                    path);
        return IHA_E_AUTH;
    }
    return IHA_OK;
}
