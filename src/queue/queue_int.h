/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file queue_int.h
 * @brief Private to src/queue: the queue's state and the functions its parts share.
 *
 * The queue is split by job over queue.c (core), queue_record.c, queue_storage.c,
 * queue_recover.c, queue_commit.c, queue_compact.c, queue_deadletter.c and
 * queue_control.c. Never include this from outside src/queue: queue.h is the module's
 * public face.
 *
 * Threads and locks: q->lock guards the fields marked so in struct iha_queue. Segments
 * are written, and the list of segments changed, only by the committer thread, or by
 * open before it starts and close after it stopped. q->ctl_lock serialises control
 * polling; it is taken before q->lock, never while holding it.
 */
#ifndef IHA_QUEUE_INT_H
#define IHA_QUEUE_INT_H

#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "buf.h"
#include "queue.h"
#include "rc.h"

#define DIRLEN 3072

struct seg {
    uint64_t base;
    uint64_t size;
    size_t live;
    uint64_t live_bytes;
    struct seg *next;
};

struct entry {
    uint64_t seq;
    json_t *record;
    json_t *attempts;
    unsigned n_attempts;
    json_t *hold;    /* the last HOLD payload while it holds; NULL: not held */
    struct seg *seg; /* NULL until durable */
    /*
     * What copying it forward would write: its ENQUEUE record plus its kept ATTEMPT
     * records and its HOLD, counted as live bytes of @c seg (wherever the attempts physically are:
     * compaction goes oldest first, so by the time a later segment is considered the
     * attempts it holds for entries enqueued earlier have been superseded by a copy).
     */
    size_t bytes;
    struct entry *hnext, *prev, *next;
};

/* Sequence numbers seen ended during recovery (open addressing, seq + 1; 0 = empty). */
struct tombs {
    uint64_t *v;
    size_t cap, n;
};

struct waiter {
    iha_queue_done_fn cb;
    void *cls;
    uint64_t seq;
    struct waiter *next;
};

struct iha_queue {
    char dir[DIRLEN];
    uint64_t max_bytes;
    size_t max_entries;
    uint64_t segment_bytes;
    bool read_only;
    int lock_fd;

    pthread_mutex_t lock;
    pthread_cond_t cond;
    /* guarded by lock */
    struct iha_buf enq, marks, dead;
    size_t mark_ends;     /* end markers in marks */
    uint64_t ends_queued; /* end markers handed to the committer, ever */
    uint64_t ends_synced; /* of those, durable (markers stay in order) */
    pthread_cond_t synced;
    struct tombs tombs; /* recovery only */
    struct waiter *waiters, **wtail;
    struct entry **table;
    size_t mask;
    struct entry *head, *tail;
    size_t live;
    uint64_t next_seq;
    struct seg *segs, *active;
    uint64_t disk_bytes;
    bool stop;
    bool healthy;
    char why[256];
    struct iha_queue_callbacks cb;
    struct iha_queue_stats stats;

    pthread_mutex_t ctl_lock; /* control directory polling */
    /* under lock: the committer writes its own id when it starts, so that a call can tell
     * whether it runs on the committer without reading @c thread, which main writes */
    pthread_t committer;
    bool committer_known;
    /* committer thread only */
    int fd;
    /* main only (open and close) */
    pthread_t thread;
    /* written before the committer exists, read-only afterwards */
    bool started;
};

/** @return true on the committer thread. Takes @c lock. */
bool iha_queue_on_committer(struct iha_queue *q);

/* ---- queue_record.c: buffers of framed records ---- */

bool iha_queue_buf_frame(struct iha_buf *b, enum iha_qrec type, uint64_t seq, const char *payload,
                         size_t len);

/* ---- queue_storage.c: the data directory ---- */

/* DIR/@p sub into @p out; empty when it does not fit. */
void iha_queue_path_of(const struct iha_queue *q, const char *sub, char *out, size_t size);
/* The path of the segment starting at @p base; empty when it does not fit. */
void iha_queue_seg_path(const struct iha_queue *q, uint64_t base, char *out, size_t size);
int iha_queue_fsync_dir(const char *path);
bool iha_queue_write_all(int fd, const unsigned char *p, size_t len);
bool iha_queue_trusted_uid(uid_t uid);
unsigned char *iha_queue_read_file(const char *path, size_t *len, uid_t *owner);
/* Creates and checks the data directory and takes its lock (q->lock_fd); not read-only. */
enum iha_rc iha_queue_storage_prepare(struct iha_queue *q, struct iha_err *err) IHA_MUST_CHECK;

/* ---- queue.c: the index of live entries (callers hold q->lock, or run before the thread) ---- */

struct entry *iha_queue_lookup(struct iha_queue *q, uint64_t seq);
void iha_queue_entry_insert(struct iha_queue *q, struct entry *e);
void iha_queue_entry_unlink(struct iha_queue *q, struct entry *e);
void iha_queue_entry_free(struct entry *e);
void iha_queue_entry_move(struct entry *e, struct seg *to, size_t bytes);
size_t iha_queue_framed_size(const json_t *j);
void iha_queue_add_attempt(struct entry *e, const json_t *a, size_t size);
/* Sets (a copy of @p hold, or NULL when its reason is empty) as the entry's hold. */
void iha_queue_set_hold(struct entry *e, const json_t *hold);
/* The bytes of what a compaction copy writes for @p e. */
size_t iha_queue_entry_copy_size(const struct entry *e);

/* ---- queue_recover.c ---- */

/* Scans every segment into the index (open, before the committer starts). */
enum iha_rc iha_queue_recover(struct iha_queue *q, struct iha_err *err) IHA_MUST_CHECK;

/* ---- queue_commit.c: the active segment and the committer thread ---- */

enum iha_rc iha_queue_open_active(struct iha_queue *q, struct iha_err *err) IHA_MUST_CHECK;
bool iha_queue_append_sync(struct iha_queue *q, const struct iha_buf *b, int *err_no);
void iha_queue_commit_once(struct iha_queue *q, struct iha_buf *marks, struct iha_buf *enq,
                           struct iha_buf *dead, size_t ends, struct waiter *ws);
void iha_queue_commit_pending(struct iha_queue *q);
bool iha_queue_wait_synced(struct iha_queue *q, uint64_t ticket);
/* The committer thread's body (pthread_create from iha_queue_open()). */
void *iha_queue_committer(void *arg);
long long iha_queue_mono_ms(void);

/* ---- queue_compact.c (committer thread, or open) ---- */

void iha_queue_compact(struct iha_queue *q);

/* ---- queue_deadletter.c ---- */

/* Appends the lines in @p b to deadletter.jsonl and syncs them; a failed append is cut back. */
bool iha_queue_deadletter_write(struct iha_queue *q, const struct iha_buf *b, int *err_no);
enum iha_rc iha_queue_deadletter_check(const char *dir, struct iha_err *err) IHA_MUST_CHECK;
/* The dead-letter line of @p e (owned by the caller); NULL when out of memory. */
json_t *iha_queue_deadletter_line(const struct entry *e, const json_t *info);

/* ---- queue_control.c ---- */

void iha_queue_poll_control(struct iha_queue *q, bool committer);

#endif
