/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file fuzz_queue.c
 * @brief Fuzz target: recovery of a queue segment. A damaged data directory (a torn
 *        write, a bad disk, a hand edit) must be skipped region by region, never crash.
 *
 * The first byte chooses: odd, the rest is the segment as it is; even, the rest is a list
 * of records (type, low byte of the sequence, 16-bit little-endian length, payload) that
 * are framed with valid checksums, so the fuzzer reaches the payload decoding behind the
 * framing instead of stopping at a checksum it cannot guess.
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

/* Frames the record list in @p data into @p out (at least 2 * size + 64 bytes). */
static size_t frame_records(const uint8_t *data, size_t size, unsigned char *out)
{
    size_t used = 0;

    while (size >= 4) {
        size_t len = (size_t)data[2] | (size_t)data[3] << 8;

        if (len > size - 4)
            len = size - 4;
        used += iha_queue_frame((enum iha_qrec)(data[0] % 8), data[1], data + 4, len, out + used);
        data += 4 + len;
        size -= 4 + len;
    }
    return used;
}

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
    if (size && (data[0] & 1)) {
        if (write(fd, data + 1, size - 1) != (ssize_t)(size - 1))
            abort();
    } else if (size) {
        /* Every 4 input bytes may become a 24-byte header: room for that, and more. */
        unsigned char *seg = malloc(size * (IHA_QUEUE_HDR / 4 + 1) + 64);
        size_t n;

        if (!seg)
            abort();
        n = frame_records(data + 1, size - 1, seg);
        if (n && write(fd, seg, n) != (ssize_t)n)
            abort();
        free(seg);
    }
    close(fd);
    qc.dir = dir;
    if (iha_queue_open(&qc, &q, &err) == IHA_OK)
        iha_queue_close(q);
    return 0;
}
