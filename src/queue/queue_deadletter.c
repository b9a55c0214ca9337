/* SPDX-License-Identifier: Apache-2.0 */
/** @file queue_deadletter.c @brief Durable queue: the dead-letter file. */
/*
 * The dead-letter file (deadletter.jsonl): the line written for a dead notification and
 * the append that survives torn lines. Separate because it is a second file with its
 * own format, read by operators rather than by recovery.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "queue_int.h"

/* ---- dead letters ---- */

void iha_queue_deadletter_path(const char *dir, char *out, size_t size)
{
    int n = snprintf(out, size, "%s/deadletter.jsonl", dir);
    if (n < 0 || (size_t)n >= size)
        out[0] = '\0';
}

bool iha_queue_deadletter_write(struct iha_queue *q, const struct iha_buf *b, int *err_no)
{
    char path[DIRLEN + 32];
    int fd;
    bool ok;

    if (b->len == 0)
        return true;
    iha_queue_deadletter_path(q->dir, path, sizeof(path));
    /* O_NOFOLLOW: a symlink planted here must not redirect the append elsewhere */
    fd = open(path, O_RDWR | O_CREAT | O_APPEND | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) {
        *err_no = errno;
        return false;
    }
    {
        struct stat st;
        off_t before = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) ? st.st_size : -1;
        char last = '\n';

        if (before < 0) {
            *err_no = EINVAL;
            close(fd);
            return false;
        }
        /* a torn line left by a crash or a failed cut must not swallow the next one */
        if (before > 0 && pread(fd, &last, 1, before - 1) == 1 && last != '\n')
            ok = iha_queue_write_all(fd, (const unsigned char *)"\n", 1);
        else
            ok = true;
        ok = ok && iha_queue_write_all(fd, (const unsigned char *)b->p, b->len) &&
             fdatasync(fd) == 0;
        if (!ok) {
            *err_no = errno;
            IHA_IGNORE(ftruncate(fd, before),
                       "if the cut fails the partial line stays: readers skip lines that do not "
                       "parse, and the next write starts on a new line");
        }
    }
    close(fd);
    return ok;
}

enum iha_rc iha_queue_deadletter_note(struct iha_queue *q, const json_t *line)
{
    struct iha_buf b = {0};
    char *text = json_dumps(line, JSON_COMPACT);
    int e = 0;
    enum iha_rc rc = IHA_E_NOMEM;

    if (text && iha_buf_put(&b, text, strlen(text)) && iha_buf_put(&b, "\n", 1))
        rc = iha_queue_deadletter_write(q, &b, &e) ? IHA_OK : IHA_E_IO;
    free(text);
    iha_buf_free(&b);
    return rc;
}

/* Refuses a deadletter.jsonl that is not a regular file (a symlink planted there). */
enum iha_rc iha_queue_deadletter_check(const char *dir, struct iha_err *err)
{
    char path[DIRLEN + 32];
    struct stat st;

    iha_queue_deadletter_path(dir, path, sizeof(path));
    if (lstat(path, &st) != 0)
        return errno == ENOENT ? IHA_OK : IHA_E_IO;
    if (S_ISREG(st.st_mode) && iha_queue_trusted_uid(st.st_uid))
        return IHA_OK;
    iha_err_set(err, "storage.path",
                "%s is %s (owner uid %u): refusing to write dead letters through it; remove it "
                "(rm %s) and check the directory",
                path, S_ISLNK(st.st_mode) ? "a symlink" : "not a regular file of ours",
                (unsigned)st.st_uid, path);
    return IHA_E_AUTH;
}

json_t *iha_queue_deadletter_line(const struct entry *e, const json_t *info)
{
    json_t *line = info ? json_deep_copy(info) : json_object();
    char now[40];
    struct tm tm;
    time_t t = time(NULL);

    if (!line)
        return NULL;
    gmtime_r(&t, &tm);
    strftime(now, sizeof(now), "%Y-%m-%dT%H:%M:%SZ", &tm);
    json_object_set_new(line, "dead_lettered_at", json_string(now));
    json_object_set_new(line, "seq", json_integer((json_int_t)e->seq));
    if (json_object_get(e->record, "id"))
        json_object_set(line, "id", json_object_get(e->record, "id"));
    json_object_set(line, "notification", e->record);
    json_object_set(line, "attempts", e->attempts);
    json_object_set_new(line, "attempts_total", json_integer(e->n_attempts));
    return line;
}
