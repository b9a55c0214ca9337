/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file spool.h
 * @brief iha-notify's durable spool: one file per record, delivered oldest first.
 *
 * Layout of the spool directory (default /var/spool/iha-notify, persistent across reboots):
 *   <20-digit ns time>-<record id>-<pid>.json   a record waiting, compact JSON + newline
 *   .tmp-*                                        being written (ignored; removed after 1 h)
 *   .lock                                         flock(2) held while flushing
 *   corrupt/                                      files that were not a record
 *   rejected/                                     records the gateway refused for good (4xx)
 * A record is written to a temporary file, fsync'ed, renamed into place and the directory
 * fsync'ed: after iha_spool_write() returns IHA_OK the record survives a crash or power loss.
 * The names sort by creation time, so a flush delivers oldest first. Only the holder of the
 * lock flushes, so two invocations never send the same file concurrently; a record sent
 * twice anyway (a crash between the answer and the unlink) carries the same record id and
 * the gateway answers it without a second notification.
 *
 * Trust: the directory must be owned by iha-notify's effective user or root and not be
 * writable by group or others, or iha_spool_open() refuses it (such a user could plant a
 * record or swap one for a symlink). Nothing in it is opened through a symlink: a record
 * name that is a symlink or not a regular file is moved to corrupt/ unread, a .lock that is
 * not a regular file stops the flush, and corrupt/ or rejected/ must be real directories.
 */
#ifndef IHA_NOTIFY_SPOOL_H
#define IHA_NOTIFY_SPOOL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "rc.h"

/** Files larger than this are not records. */
#define IHA_SPOOL_MAX_FILE (1024 * 1024)
/** Files looked at per flush (the rest wait for the next one). */
#define IHA_SPOOL_MAX_BATCH 10000

struct iha_spool;

/** What a delivery attempt of one record came to. */
enum iha_spool_verdict {
    IHA_SPOOL_DELIVERED, /**< 2xx: remove the file */
    IHA_SPOOL_REJECTED,  /**< refused for good (4xx but 401/403/408/429): move to rejected/ */
    IHA_SPOOL_RETRY,     /**< transport error, 5xx, 401/403/408/429: keep it, stop flushing */
};

/** Exit codes, as Checkmk reads them (Nagios and Icinga 2 only log them). */
enum iha_notify_exit {
    IHA_NOTIFY_EXIT_OK = 0,        /**< delivered or spooled */
    IHA_NOTIFY_EXIT_TEMPORARY = 1, /**< neither delivered nor spooled; retry */
    IHA_NOTIFY_EXIT_PERMANENT = 2, /**< bad input or refused by the gateway */
};

/** @return the verdict for an HTTP status; 0 means the request got no answer. */
enum iha_spool_verdict iha_spool_classify(long http_code);

/**
 * @return the exit code for a new record: @p verdict of its delivery attempt (or
 *         IHA_SPOOL_RETRY when none was made), @p spooled whether it is now in the spool.
 */
enum iha_notify_exit iha_notify_exit_code(enum iha_spool_verdict verdict, bool spooled);

/**
 * Opens (creating the last path component with mode 0750 if missing) the spool at @p dir
 * (copied), and checks it before anything is created in it (see "Trust" above).
 * @return IHA_OK; IHA_E_IO with @p err (not a directory, no permission); IHA_E_AUTH with
 *         @p err naming the path, its owner or mode and the chown/chmod to run, when another
 *         local user controls it.
 */
enum iha_rc iha_spool_open(const char *dir, struct iha_spool **out,
                           struct iha_err *err) IHA_MUST_CHECK;

/** Releases the lock if held and frees @p s. NULL-safe. */
void iha_spool_close(struct iha_spool *s);

/**
 * Stores @p record durably (see the file comment).
 * @return IHA_OK; IHA_E_IO (with @p err: disk full, permissions); IHA_E_NOMEM.
 */
enum iha_rc iha_spool_write(struct iha_spool *s, const json_t *record,
                            struct iha_err *err) IHA_MUST_CHECK;

/**
 * Takes the flush lock, waiting up to @p wait_ms.
 * @return IHA_OK; IHA_E_LIMIT when another process held it all along; IHA_E_IO (cannot
 *         open .lock, or it is a symlink or not a regular file).
 */
enum iha_rc iha_spool_lock(struct iha_spool *s, unsigned wait_ms) IHA_MUST_CHECK;

/** Releases the lock. Harmless when not held. */
void iha_spool_unlock(struct iha_spool *s);

/** Delivers one record; called by iha_spool_flush() with the lock held. */
typedef enum iha_spool_verdict (*iha_spool_send_fn)(void *cls, const json_t *record,
                                                    long long deadline_ms);

struct iha_spool_stats {
    size_t delivered, rejected, corrupt;
    size_t left;  /**< records still spooled when the flush ended */
    bool stopped; /**< a delivery said RETRY (or the deadline passed) */
};

/**
 * Delivers spooled records oldest first until the spool is empty, a delivery says
 * IHA_SPOOL_RETRY, or the monotonic clock (ms, see iha_spool_now_ms()) passes
 * @p deadline_ms. Requires the lock (IHA_E_INVAL otherwise).
 * @return IHA_OK (see @p st); IHA_E_IO (directory unreadable); IHA_E_NOMEM; IHA_E_INVAL.
 */
enum iha_rc iha_spool_flush(struct iha_spool *s, iha_spool_send_fn send, void *cls,
                            long long deadline_ms, struct iha_spool_stats *st,
                            struct iha_err *err) IHA_MUST_CHECK;

/** @return the number of records waiting (not counting corrupt/ and rejected/), or 0. */
size_t iha_spool_count(struct iha_spool *s);

/** @return CLOCK_MONOTONIC in milliseconds. */
long long iha_spool_now_ms(void);

#endif
