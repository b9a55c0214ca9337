/* SPDX-License-Identifier: Apache-2.0 */
/** @file queue_control.c @brief Durable queue: the control directory (daemon and CLI sides). */
/*
 * The control directory: the daemon runs the command files the CLI drops there
 * (queue retry|drop, deadletter requeue) and answers each; the CLI side writes a command
 * and waits for its answer. Both sides are here because they share one file protocol.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "queue_int.h"

#define CTL_MAX 64 /* control commands handled per poll */
#define CTL_BYTES 4096

/* ---- control directory ---- */

static const char *owner_s(uid_t uid, char *buf, size_t size)
{
    snprintf(buf, size, "%u", (unsigned)uid);
    return buf;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void write_answer(const char *path, bool ok, const char *answer)
{
    char tmp[DIRLEN + 400];
    json_t *j = json_pack("{s:b,s:s}", "ok", ok, "answer", answer);
    char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
    int fd, n;

    json_decref(j);
    n = snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    if (!text || n < 0 || (size_t)n >= sizeof(tmp)) {
        free(text);
        return;
    }
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd >= 0) {
        bool w = iha_queue_write_all(fd, (const unsigned char *)text, strlen(text));
        close(fd);
        if (!w || rename(tmp, path) != 0)
            unlink(tmp);
    }
    free(text);
}

/*
 * Runs the pending control commands. An answer is written only once the end markers the
 * command queued are durable. @p committer: called from the committer's tick, which
 * skips a round while iha_queue_run_control() holds the directory (it waits for this
 * thread to sync its markers).
 */
void iha_queue_poll_control(struct iha_queue *q, bool committer)
{
    char cdir[DIRLEN + 16];
    char *names[CTL_MAX];
    size_t n = 0;
    DIR *d;
    struct dirent *de;
    iha_queue_control_fn fn;
    void *cls;

    pthread_mutex_lock(&q->lock);
    fn = q->cb.control;
    cls = q->cb.control_cls;
    pthread_mutex_unlock(&q->lock);
    if (!fn)
        return;
    iha_queue_path_of(q, "control", cdir, sizeof(cdir));
    if (committer) {
        if (pthread_mutex_trylock(&q->ctl_lock) != 0)
            return;
    } else {
        pthread_mutex_lock(&q->ctl_lock);
    }
    d = opendir(cdir);
    while (d && (de = readdir(d)) && n < CTL_MAX) {
        size_t l = strlen(de->d_name);
        if (l > 4 && de->d_name[0] != '.' && strcmp(de->d_name + l - 4, ".cmd") == 0 &&
            (names[n] = strdup(de->d_name)))
            n++;
    }
    if (d)
        closedir(d);
    if (n)
        qsort(names, n, sizeof(names[0]), cmp_str);
    for (size_t i = 0; i < n; i++) {
        char path[DIRLEN + 300], done[DIRLEN + 300], answer[512] = "";
        size_t len = 0;
        unsigned char *text;
        json_t *j;
        bool ok = false;
        int a, b;
        uid_t owner = 0;
        char own[24];

        a = snprintf(path, sizeof(path), "%s/%s", cdir, names[i]);
        b = snprintf(done, sizeof(done), "%s/%.*s.done", cdir, (int)(strlen(names[i]) - 4),
                     names[i]);
        if (a < 0 || (size_t)a >= sizeof(path) || b < 0 || (size_t)b >= sizeof(done))
            continue;
        text = iha_queue_read_file(path, &len, &owner);
        if (text && !iha_queue_trusted_uid(owner)) {
            /* only the gateway's user (or root, via the CLI) may command it */
            IHA_LOG(IHA_LOG_WARN,
                    "queue: ignoring a control file not written by the gateway's user", "file",
                    path, "owner_uid", owner_s(owner, own, sizeof(own)));
            free(text);
            unlink(path);
            continue;
        }
        j = text && len < CTL_BYTES ? json_loadb((const char *)text, len, 0, NULL) : NULL;
        free(text);
        if (json_is_string(json_object_get(j, "cmd")) && json_is_string(json_object_get(j, "id"))) {
            uint64_t ticket;
            ok = fn(cls, json_string_value(json_object_get(j, "cmd")),
                    json_string_value(json_object_get(j, "id")), answer, sizeof(answer));
            pthread_mutex_lock(&q->lock);
            ticket = q->ends_queued;
            pthread_mutex_unlock(&q->lock);
            if (!iha_queue_wait_synced(q, ticket)) {
                size_t l = strlen(answer);
                char why[256];
                (void)iha_queue_unhealthy(q, why, sizeof(why));
                snprintf(answer + l, sizeof(answer) - l,
                         "; but its end marker is not on disk yet (%.200s): it is retried, and a "
                         "restart before then brings the notification back",
                         why[0] ? why : "storage is slow");
                ok = false;
            }
        } else {
            snprintf(answer, sizeof(answer), "malformed command file %s", names[i]);
        }
        json_decref(j);
        write_answer(done, ok, answer);
        unlink(path);
        IHA_LOG(ok ? IHA_LOG_INFO : IHA_LOG_WARN, "queue: control command", "file", names[i],
                "result", answer);
    }
    pthread_mutex_unlock(&q->ctl_lock);
    for (size_t i = 0; i < n; i++)
        free(names[i]);
}

void iha_queue_run_control(struct iha_queue *q)
{
    iha_queue_poll_control(q, false);
}

/* ---- CLI side ---- */

bool iha_queue_daemon_running(const char *dir)
{
    char path[DIRLEN + 16];
    int fd, n = snprintf(path, sizeof(path), "%s/lock", dir);
    bool running = false;

    if (n < 0 || (size_t)n >= sizeof(path))
        return false;
    fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return false;
    if (flock(fd, LOCK_SH | LOCK_NB) != 0)
        running = errno == EWOULDBLOCK;
    close(fd);
    return running;
}

int iha_queue_send_control(const char *dir, const char *cmd, const char *id, unsigned wait_ms,
                           char *answer, size_t answer_size)
{
    char cdir[DIRLEN + 16], name[128], tmp[DIRLEN + 200], path[DIRLEN + 200], done[DIRLEN + 200];
    struct timespec ts;
    json_t *j = json_pack("{s:s,s:s}", "cmd", cmd, "id", id);
    char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
    int fd, status = 3;
    bool running;
    long long end;

    json_decref(j);
    answer[0] = '\0';
    snprintf(cdir, sizeof(cdir), "%s/control", dir);
    if (!text || (mkdir(cdir, 0700) != 0 && errno != EEXIST)) {
        snprintf(answer, answer_size, "cannot use %s: %s", cdir, strerror(errno));
        free(text);
        return 3;
    }
    clock_gettime(CLOCK_REALTIME, &ts);
    snprintf(name, sizeof(name), "%013lld-%d-%06ld",
             (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000, (int)getpid(),
             ts.tv_nsec / 1000 % 1000000);
    snprintf(tmp, sizeof(tmp), "%s/.%s.tmp", cdir, name);
    snprintf(path, sizeof(path), "%s/%s.cmd", cdir, name);
    snprintf(done, sizeof(done), "%s/%s.done", cdir, name);
    fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd >= 0 && geteuid() == 0) {
        /* root's 0600 file would be unreadable by a daemon running as its service user */
        struct stat st;
        if (stat(cdir, &st) == 0 && st.st_uid != 0 && fchown(fd, st.st_uid, st.st_gid) != 0) {
            close(fd);
            fd = -1;
        }
    }
    if (fd < 0 || !iha_queue_write_all(fd, (const unsigned char *)text, strlen(text)) ||
        fsync(fd) != 0 || rename(tmp, path) != 0) {
        snprintf(answer, answer_size, "cannot write %s: %s", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        unlink(tmp);
        free(text);
        return 3;
    }
    close(fd);
    free(text);
    (void)iha_queue_fsync_dir(cdir);
    running = iha_queue_daemon_running(dir);
    end = iha_queue_mono_ms() + wait_ms;
    while (running && iha_queue_mono_ms() < end) {
        size_t len = 0;
        unsigned char *d = iha_queue_read_file(done, &len, NULL);
        if (d) {
            json_t *a = json_loadb((const char *)d, len, 0, NULL);
            free(d);
            unlink(done);
            snprintf(answer, answer_size, "%s",
                     json_string_value(json_object_get(a, "answer"))
                         ? json_string_value(json_object_get(a, "answer"))
                         : "");
            status = json_is_true(json_object_get(a, "ok")) ? 0 : 1;
            json_decref(a);
            return status;
        }
        usleep(50 * 1000);
    }
    snprintf(answer, answer_size, "%s; the command is kept in %s and runs when the daemon reads it",
             running ? "the daemon did not answer in time"
                     : "no daemon is running on this "
                       "directory",
             path);
    return 2;
}
