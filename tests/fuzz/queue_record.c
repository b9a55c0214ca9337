/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file queue_record.c
 * @brief Fuzz target: a queue segment file as recovery reads it at start (iha_queue_open
 *        read-only over a data directory holding the input as its one segment, which frames
 *        records with iha_queue_parse and decodes their payloads), then the live entries
 *        listed as `iha-gateway queue list` does. A corrupt file must never crash.
 *
 * Records carry a CRC-32C, which random mutation almost never gets right; the custom
 * mutator below recomputes the checksum of every well-framed record in three mutations out
 * of four, so payloads and record sequences are explored while damaged framing still is.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz_util.h"
#include "queue.h"

size_t LLVMFuzzerMutate(uint8_t *data, size_t size, size_t max_size);
size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size, unsigned int seed);

#define MAGIC 0x31514849u /* "IHQ1" read as a little-endian u32 */

static char dir[256];
static char seg[320];

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void fix_checksums(uint8_t *data, size_t size)
{
    size_t off = 0;

    while (off + IHA_QUEUE_HDR <= size) {
        uint32_t plen = get32(data + off + 8);

        if (get32(data + off) != MAGIC || plen > IHA_QUEUE_RECORD_MAX ||
            size - off - IHA_QUEUE_HDR < plen) {
            off++;
            continue;
        }
        put32(data + off + 4, iha_crc32c(0, data + off + 8, IHA_QUEUE_HDR - 8 + plen));
        off += IHA_QUEUE_HDR + plen;
    }
}

size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size, unsigned int seed)
{
    size = LLVMFuzzerMutate(data, size, max_size);
    if (seed % 4 != 0)
        fix_checksums(data, size);
    return size;
}

static void remove_dir(void)
{
    fuzz_rmtree(dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    char qdir[300];

    fuzz_quiet();
    fuzz_tmpdir(dir, sizeof(dir), "queue");
    atexit(remove_dir);
    snprintf(qdir, sizeof(qdir), "%s/queue", dir);
    if (mkdir(qdir, 0700) != 0)
        abort();
    snprintf(seg, sizeof(seg), "%s/00000000000000000001.seg", qdir);
    return 0;
}

static void visit(void *cls, const struct iha_queue_item *it)
{
    char *text = json_dumps(it->record, JSON_COMPACT);

    (*(size_t *)cls) += it->n_attempts + (text ? strlen(text) : 0);
    free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct iha_queue_config cfg = {.dir = dir, .read_only = true};
    struct iha_queue *q = NULL;
    struct iha_queue_stats st;
    struct iha_err err;
    size_t seen = 0;
    uint64_t seq;
    int fd = open(seg, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

    if (fd < 0)
        abort();
    if (size && write(fd, data, size) != (ssize_t)size)
        abort();
    close(fd);
    if (iha_queue_open(&cfg, &q, &err) != IHA_OK)
        return 0;
    st = iha_queue_stats(q);
    if (st.segments != 1 || st.skipped_bytes > size)
        abort();
    iha_queue_foreach(q, visit, &seen);
    IHA_IGNORE(iha_queue_find(q, "1", &seq, visit, &seen), "only its safety is tested");
    iha_queue_close(q);
    return 0;
}
