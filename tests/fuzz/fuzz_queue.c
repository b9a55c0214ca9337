/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file fuzz_queue.c
 * @brief Fuzz target: recovery of a queue segment. A damaged data directory (a torn
 *        write, a bad disk, a hand edit) must be skipped region by region, never crash.
 */
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "queue.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* One data directory per process, made once: the segment in it is rewritten per input. */
static char dir[64];

static int make_dir(void)
{
    char sub[96];

    snprintf(dir, sizeof(dir), "/tmp/iha-fuzz-queue.XXXXXX");
    if (!mkdtemp(dir))
        return -1;
    snprintf(sub, sizeof(sub), "%s/queue", dir);
    return mkdir(sub, 0700);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[128];
    struct iha_queue_config qc = {.read_only = true};
    struct iha_queue *q = NULL;
    struct iha_err err = {0};
    int fd;

    iha_log_setup(IHA_LOG_ERROR, IHA_LOG_LOGFMT);
    if (!dir[0] && make_dir() != 0)
        abort();
    snprintf(path, sizeof(path), "%s/queue/%020llu.seg", dir, 1ULL);
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0)
        abort();
    if (size && write(fd, data, size) != (ssize_t)size)
        abort();
    close(fd);
    qc.dir = dir;
    if (iha_queue_open(&qc, &q, &err) == IHA_OK)
        iha_queue_close(q);
    return 0;
}
