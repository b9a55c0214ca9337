/* SPDX-License-Identifier: Apache-2.0 */
/** @file queue_compact.c @brief Durable queue: compaction, deleting old segments. */
/*
 * Compaction deletes the oldest segments once they are mostly dead, copying their live
 * records forward first. Separate because its ordering rules (oldest first, each
 * deletion durable before the next) are what keeps ended notifications ended.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "queue_int.h"

/*
 * The oldest segment, when compacting it is worth it: some run of the oldest segments
 * (starting with it) holds at most half live bytes, so copying their live records forward
 * costs no more than the space it frees. Only ever the oldest: a later segment may hold
 * the end markers of notifications enqueued in an earlier one, and deleting it while the
 * earlier one is kept would bring those notifications back at the next start. Copies
 * count as fully live, so with no traffic this reaches a fixed point. Called under lock.
 */
static struct seg *compact_pick(struct iha_queue *q)
{
    uint64_t live = 0, size = 0;

    for (struct seg *s = q->segs; s && s != q->active; s = s->next) {
        live += s->live_bytes;
        size += s->size;
        if (live * 2 <= size)
            return q->segs;
    }
    return NULL;
}

/* Deletes old segments oldest first, copying their live records forward. */
void iha_queue_compact(struct iha_queue *q)
{
    char path[DIRLEN + 64], qdir[DIRLEN + 16];

    iha_queue_path_of(q, "queue", qdir, sizeof(qdir));
    for (;;) {
        struct seg *s;
        struct iha_buf copy = {0};
        int e = 0;

        pthread_mutex_lock(&q->lock);
        s = compact_pick(q);
        if (!s) {
            pthread_mutex_unlock(&q->lock);
            break;
        }
        if (s->live > 0) {
            bool ok = true;
            for (struct entry *en = q->head; en && ok; en = en->next) {
                char *text;
                if (en->seg != s)
                    continue;
                text = json_dumps(en->record, JSON_COMPACT);
                ok = text &&
                     iha_queue_buf_frame(&copy, IHA_QREC_ENQUEUE, en->seq, text, strlen(text));
                free(text);
                for (size_t i = 0; ok && i < json_array_size(en->attempts); i++) {
                    text = json_dumps(json_array_get(en->attempts, i), JSON_COMPACT);
                    ok = text &&
                         iha_queue_buf_frame(&copy, IHA_QREC_ATTEMPT, en->seq, text, strlen(text));
                    free(text);
                }
                if (ok && en->hold) {
                    text = json_dumps(en->hold, JSON_COMPACT);
                    ok = text &&
                         iha_queue_buf_frame(&copy, IHA_QREC_HOLD, en->seq, text, strlen(text));
                    free(text);
                }
            }
            pthread_mutex_unlock(&q->lock);
            if (!ok || !iha_queue_append_sync(q, &copy, &e)) {
                iha_buf_free(&copy);
                break; /* try again on a later pass */
            }
            pthread_mutex_lock(&q->lock);
            q->active->size += copy.len;
            q->disk_bytes += copy.len;
            for (struct entry *en = q->head; en; en = en->next) {
                /* What the copy holds for it (attempts noted since then are in marks). */
                if (en->seg != s)
                    continue;
                iha_queue_entry_move(en, q->active, iha_queue_entry_copy_size(en));
            }
            iha_buf_free(&copy);
        }
        pthread_mutex_unlock(&q->lock);
        /* Nothing refers to it now; only this thread changes the list of segments. */
        iha_queue_seg_path(q, s->base, path, sizeof(path));
        if (unlink(path) != 0 && errno != ENOENT) {
            /* Kept in the list: nothing newer may go while it could be read again. */
            IHA_LOG(IHA_LOG_WARN, "queue: cannot delete a completed segment", "segment", path,
                    "detail", strerror(errno));
            break;
        }
        /* Each deletion durable before the next: a newer one may hold this one's markers. */
        (void)iha_queue_fsync_dir(qdir);
        pthread_mutex_lock(&q->lock);
        q->segs = s->next;
        q->disk_bytes -= s->size;
        pthread_mutex_unlock(&q->lock);
        free(s);
    }
}
