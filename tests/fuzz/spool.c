/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file spool.c
 * @brief Fuzz target: a file in iha-notify's spool directory, read back by a flush
 *        (iha_spool_flush) and handed to a sender that does what the gateway does with
 *        the record (iha_nagios_parse). Anything not a record must be moved aside, never
 *        crash the flush.
 */
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz_util.h"
#include "nagios.h"
#include "spool.h"

static char dir[256];
static struct iha_spool *spool;

static void remove_dir(void)
{
    iha_spool_close(spool);
    fuzz_rmtree(dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    struct iha_err err;

    fuzz_quiet();
    fuzz_tmpdir(dir, sizeof(dir), "spool");
    if (iha_spool_open(dir, &spool, &err) != IHA_OK || iha_spool_lock(spool, 0) != IHA_OK)
        abort();
    atexit(remove_dir);
    return 0;
}

static enum iha_spool_verdict deliver(void *cls, const json_t *record, long long deadline_ms)
{
    struct iha_alert *alerts = NULL;
    struct iha_err err;
    size_t n = 0;
    char *body = json_dumps(record, JSON_COMPACT);

    free(body);
    if (iha_nagios_parse(record, &alerts, &n, &err) != IHA_OK)
        return IHA_SPOOL_REJECTED;
    iha_nagios_free(alerts, n);
    return IHA_SPOOL_DELIVERED;
}

static void empty_sub(const char *sub)
{
    char path[320];

    snprintf(path, sizeof(path), "%s/%s/00000000001795000000-fuzz-1.json", dir, sub);
    IHA_IGNORE(unlink(path), "absent unless the flush moved the file there");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[320];
    struct iha_spool_stats st;
    struct iha_err err;
    int fd;

    snprintf(path, sizeof(path), "%s/00000000001795000000-fuzz-1.json", dir);
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0 || (size && write(fd, data, size) != (ssize_t)size))
        abort();
    close(fd);
    if (iha_spool_flush(spool, deliver, NULL, iha_spool_now_ms() + 60000, &st, &err) != IHA_OK)
        abort();
    /* Every file ends delivered, rejected or corrupt: never left to block the spool. */
    if (st.delivered + st.rejected + st.corrupt != 1 || st.left != 0)
        abort();
    empty_sub("corrupt");
    empty_sub("rejected");
    return 0;
}
