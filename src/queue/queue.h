/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file queue.h
 * @brief The durable on-disk queue between dedupe and delivery: append-only,
 *        checksummed segment files with group commit, recovery and compaction.
 *
 * Data directory layout (storage.path):
 *
 *     DIR/lock                  flock(2)ed by the running daemon (one daemon per directory)
 *     DIR/queue/NNNN.seg        segments, named after the first sequence number they may hold
 *     DIR/deadletter.jsonl      one JSON line per dead-lettered notification (and requeue notes)
 *     DIR/control/NAME.cmd      commands from `iha-gateway queue|deadletter ...`; the daemon
 *                               answers each in NAME.done and removes NAME.cmd
 *
 * A record is a 24-byte header followed by its payload:
 *
 *     0  magic "IHQ1"   4  crc32c of bytes 8..end   8  payload length (LE u32)
 *     12 type (u8), 3 zero bytes                     16 sequence number (LE u64)
 *
 * Types: ENQUEUE (payload: the notification as JSON), ATTEMPT (one delivery attempt),
 * DONE / DEAD / DROPPED (completion markers), NOP (a probe), HOLD (the safety policy
 * holds the entry back, payload {"reason": ...}, or lets it go again, {"reason": ""};
 * the last one counts). An ENQUEUE without a completion marker is live and is delivered
 * again after a restart, unless its last HOLD holds it.
 *
 * Durability: iha_queue_push() frames the record into the pending batch; one
 * committer thread writes the batch and fdatasync()s it once for every push in it
 * (group commit), then calls each push's callback. Only then may the sender be told
 * 2xx. A failed write or sync (ENOSPC, EROFS, EIO) truncates the segment back, fails
 * the batch's pushes with IHA_E_IO and marks the queue unhealthy until a later write
 * succeeds (the committer probes every second). Completion markers are retried until
 * they are durable; losing one to a crash only causes a redelivery, which Instance HA
 * answers with 409 duplicate because the body is byte-identical.
 *
 * Recovery (iha_queue_open()): every segment is scanned; a record whose checksum or
 * framing is wrong is reported and skipped by searching for the next valid header, so a
 * torn tail or a corrupt record in the middle loses only itself. A sequence number seen
 * with a completion marker stays ended: an ENQUEUE of it anywhere (before or after the
 * marker, in any segment) is ignored. Each open starts a new segment, so nothing is ever
 * appended after damaged bytes. Compaction deletes old segments strictly oldest first
 * (a newer segment may hold the markers of an older one's notifications), copying the
 * live records (ENQUEUE and kept ATTEMPTs) forward first, when the oldest run of
 * segments is at most half live; copies count as live, so an idle queue writes nothing.
 * A copy replaces the attempts listed before it, so a crash between a copy and the
 * deletion of the original does not list attempts twice.
 */
#ifndef IHA_QUEUE_H
#define IHA_QUEUE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rc.h"

#define IHA_QUEUE_HDR 24u
#define IHA_QUEUE_RECORD_MAX (256u * 1024u) /**< payload bytes */

enum iha_qrec {
    IHA_QREC_ENQUEUE = 1,
    IHA_QREC_ATTEMPT = 2,
    IHA_QREC_DONE = 3,    /**< delivered, duplicate or maintenance: ended at Instance HA */
    IHA_QREC_DEAD = 4,    /**< dead-lettered (line in deadletter.jsonl) */
    IHA_QREC_DROPPED = 5, /**< dropped by the operator */
    IHA_QREC_NOP = 6,
    IHA_QREC_HOLD = 7, /**< held back by the safety policy, or released again */
};

/** CRC-32C (Castagnoli) of @p len bytes, continuing from @p crc (start with 0). */
uint32_t iha_crc32c(uint32_t crc, const void *buf, size_t len);

/**
 * Frames one record into @p out (IHA_QUEUE_HDR + @p len bytes).
 * @return bytes written, 0 when @p len exceeds IHA_QUEUE_RECORD_MAX.
 */
size_t iha_queue_frame(enum iha_qrec type, uint64_t seq, const void *payload, size_t len,
                       unsigned char *out);

/** One parsed record; @c payload points into the parsed buffer. */
struct iha_qrecord {
    enum iha_qrec type;
    uint64_t seq;
    const unsigned char *payload;
    size_t len;
};

/**
 * Parses the record at the start of @p buf.
 * @return IHA_OK (@p rec set, @p used = its size); IHA_E_NOTFOUND when @p len is too
 *         short for the record (a torn tail when at end of file); IHA_E_PARSE when the
 *         magic, type, length or checksum is wrong.
 */
enum iha_rc iha_queue_parse(const unsigned char *buf, size_t len, struct iha_qrecord *rec,
                            size_t *used) IHA_MUST_CHECK;

struct iha_queue;

/**
 * A command from the CLI (control directory), run on the committer thread. Writes a
 * one-line answer into @p answer. @return true when it succeeded.
 */
typedef bool (*iha_queue_control_fn)(void *cls, const char *cmd, const char *id, char *answer,
                                     size_t answer_size);

/** Called on the committer thread when the queue becomes healthy or unhealthy. */
typedef void (*iha_queue_health_fn)(void *cls, bool healthy, const char *why);

struct iha_queue_config {
    const char *dir;        /**< data directory (created if missing, mode 0700) */
    uint64_t max_bytes;     /**< bound on segment bytes on disk; 0 = 256 MiB */
    size_t max_entries;     /**< bound on live notifications; 0 = 10000 */
    uint64_t segment_bytes; /**< rotate the active segment beyond this; 0 = 4 MiB */
    bool read_only;         /**< CLI inspection: no lock, no thread, no writes */
};

/** Statistics of the recovery scan, for logs and tests. */
struct iha_queue_stats {
    size_t segments;
    size_t records;
    size_t live;            /**< enqueued without a completion marker */
    size_t corrupt;         /**< damaged regions skipped */
    uint64_t skipped_bytes; /**< bytes in those regions */
    uint64_t disk_bytes;    /**< segment bytes on disk */
};

/**
 * Opens the data directory, takes its lock (unless read-only), recovers and (unless
 * read-only) starts a new active segment and the committer thread. Damaged regions
 * are logged with segment and offset.
 * @return IHA_OK; IHA_E_IO (cannot create or read, @p err says what); IHA_E_AUTH when
 *         another daemon holds the lock; IHA_E_NOMEM.
 */
enum iha_rc iha_queue_open(const struct iha_queue_config *cfg, struct iha_queue **out,
                           struct iha_err *err) IHA_MUST_CHECK;

/** The daemon's callbacks, each with its own context (they serve different owners). */
struct iha_queue_callbacks {
    iha_queue_control_fn control; /**< may be NULL: commands are not read */
    void *control_cls;            /**< passed to @c control only (the pipeline) */
    iha_queue_health_fn health;   /**< may be NULL */
    void *health_cls;             /**< passed to @c health only */
};

/**
 * Sets (copies) the control and health callbacks; NULL @p cbs clears both. Control
 * commands are only read once a control callback is set. Call before traffic starts.
 */
void iha_queue_set_callbacks(struct iha_queue *q, const struct iha_queue_callbacks *cbs);

/**
 * Runs the pending control commands now, on the calling thread (at start, before
 * recovered entries are handed to delivery, so a drop sent while the daemon was down
 * takes effect first). Serialised with the committer's own polling.
 */
void iha_queue_run_control(struct iha_queue *q);

/** Flushes pending markers (bounded), stops the thread, releases the lock, frees. NULL-safe. */
void iha_queue_close(struct iha_queue *q);

/** @return the recovery statistics (disk_bytes and live are current). */
struct iha_queue_stats iha_queue_stats(struct iha_queue *q);

/**
 * Called once per push from the committer thread: IHA_OK when the record is durable,
 * IHA_E_IO when it could not be stored (the entry is gone; @p why says why).
 */
typedef void (*iha_queue_done_fn)(void *cls, enum iha_rc rc, uint64_t seq, const char *why);

/**
 * Appends an ENQUEUE record with @p record (a JSON object, serialised compactly and
 * kept in memory while live) under a fresh sequence number returned in @p seq.
 * @return IHA_OK (@p cb will run exactly once); IHA_E_LIMIT when max_entries or
 *         max_bytes is reached; IHA_E_INVAL (read-only queue, record too large);
 *         IHA_E_NOMEM. On failure @p cb is not called. Thread-safe.
 */
enum iha_rc iha_queue_push(struct iha_queue *q, const json_t *record, iha_queue_done_fn cb,
                           void *cls, uint64_t *seq) IHA_MUST_CHECK;

/**
 * Like iha_queue_push(), but returns only once the record is durable or has failed, so
 * the caller can tell the truth (the operator's `deadletter requeue`). On the committer
 * thread (a control callback) the pending batch is committed right here; on another
 * thread it waits for the committer. Not from a push callback. Refused while the queue
 * is closing.
 * @return IHA_OK (stored; @p seq set); IHA_E_IO (the write or sync failed, or the queue is
 *         closing: nothing is stored; @p why says why); else what iha_queue_push() returns.
 */
enum iha_rc iha_queue_push_durable(struct iha_queue *q, const json_t *record, uint64_t *seq,
                                   char *why, size_t why_size) IHA_MUST_CHECK;

/**
 * Ends the live entry @p seq with marker @p type (DONE, DEAD or DROPPED) and @p info
 * (JSON object, may be NULL). For DEAD, @p info is written as a line to
 * deadletter.jsonl (with "seq", "id", "notification", "attempts" and "dead_lettered_at"
 * added) and synced before the marker. The entry leaves the live set at once; the
 * marker becomes durable with the next batch (retried if a write fails), which always
 * comes after the entry's own ENQUEUE record.
 * @return IHA_OK; IHA_E_NOTFOUND (not live: already ended); IHA_E_LIMIT (pushed but not
 *         stored yet: its push callback has not run; nothing changed, try again shortly);
 *         IHA_E_NOMEM. Thread-safe.
 */
enum iha_rc iha_queue_complete(struct iha_queue *q, uint64_t seq, enum iha_qrec type,
                               const json_t *info) IHA_MUST_CHECK;

/**
 * Records one delivery attempt of @p seq (JSON object, copied; the newest 32 are kept
 * per entry and listed in the dead-letter record). Not awaited; while the queue is
 * unhealthy the attempt is kept in memory only (only end markers wait to be written).
 * Thread-safe.
 */
void iha_queue_note_attempt(struct iha_queue *q, uint64_t seq, const json_t *attempt);

/**
 * Records that the safety policy holds the live entry @p seq back (@p hold: an object
 * with a non-empty "reason", copied) or released it (@p hold NULL). Not awaited: it rides
 * with the next batch, also while storage fails (it waits in memory like an end marker).
 * A hold lost to a crash only sends the entry through the policy again after the restart.
 * @return IHA_OK; IHA_E_NOTFOUND (not live); IHA_E_INVAL (no reason); IHA_E_NOMEM.
 * Thread-safe.
 */
enum iha_rc iha_queue_hold(struct iha_queue *q, uint64_t seq, const json_t *hold) IHA_MUST_CHECK;

/** A live entry as seen by iha_queue_foreach() / iha_queue_find(); valid during the call. */
struct iha_queue_item {
    uint64_t seq;
    const json_t *record;   /**< the ENQUEUE payload */
    const json_t *attempts; /**< array, newest last */
    unsigned n_attempts;    /**< total, also those no longer kept */
    const json_t *hold;     /**< the safety policy's hold ({"reason", ...}); NULL: not held */
};

typedef void (*iha_queue_visit_fn)(void *cls, const struct iha_queue_item *it);

/** Visits every live entry in sequence order. Do not call queue functions from @p fn. */
void iha_queue_foreach(struct iha_queue *q, iha_queue_visit_fn fn, void *cls);

/**
 * Finds the live entry whose record "id" equals @p id or whose sequence number is
 * @p id in decimal, and visits it. @return IHA_OK; IHA_E_NOTFOUND; IHA_E_LIMIT when it
 * is pushed but not stored yet (@p seq is set, @p fn is not called; try again shortly).
 */
enum iha_rc iha_queue_find(struct iha_queue *q, const char *id, uint64_t *seq,
                           iha_queue_visit_fn fn, void *cls) IHA_MUST_CHECK;

/**
 * @return true when @p seq is live and stored (not ended, its push callback ran or runs
 *         now). Thread-safe.
 */
bool iha_queue_live(struct iha_queue *q, uint64_t seq);

/** @return true and a copy of the reason in @p why when writes are failing. */
bool iha_queue_unhealthy(struct iha_queue *q, char *why, size_t why_size);

/** @return the data directory (borrowed, valid until iha_queue_close()). */
const char *iha_queue_dir(const struct iha_queue *q);

/** @return the path of deadletter.jsonl under @p dir in @p out. */
void iha_queue_deadletter_path(const char *dir, char *out, size_t size);

/**
 * Appends one JSON line (a requeue note) to deadletter.jsonl and syncs it, from the
 * committer thread's control callback. @return IHA_OK or IHA_E_IO.
 */
enum iha_rc iha_queue_deadletter_note(struct iha_queue *q, const json_t *line) IHA_MUST_CHECK;

/**
 * CLI side of the control directory: writes a command for the daemon and waits up to
 * @p wait_ms for its answer. @return 0 answered OK, 1 answered with an error, 2 the
 * daemon did not answer (the command stays queued and runs at its next start; @p
 * answer says so), 3 the command could not be written.
 */
int iha_queue_send_control(const char *dir, const char *cmd, const char *id, unsigned wait_ms,
                           char *answer, size_t answer_size);

/** @return true when a daemon holds the lock of @p dir. */
bool iha_queue_daemon_running(const char *dir);

#endif
