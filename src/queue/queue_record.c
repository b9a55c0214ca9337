/* SPDX-License-Identifier: Apache-2.0 */
/** @file queue_record.c @brief Durable queue: the record format (framing, CRC-32C) and buffers. */
/*
 * The on-disk record format on its own: the bytes every other part writes and reads,
 * kept apart so the format can be read (and tested) without the queue's state.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "queue_int.h"

#define MAGIC 0x31514849u /* "IHQ1" little-endian */

/* ---- CRC-32C and framing ---- */

static uint32_t crc_table[256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static void crc_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = (c & 1u) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
        crc_table[i] = c;
    }
}

uint32_t iha_crc32c(uint32_t crc, const void *buf, size_t len)
{
    const unsigned char *p = buf;

    pthread_once(&crc_once, crc_init);
    crc = ~crc;
    while (len--)
        crc = crc_table[(crc ^ *p++) & 0xFFu] ^ (crc >> 8);
    return ~crc;
}

static void put32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static void put64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static uint32_t get32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get64(const unsigned char *p)
{
    return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32;
}

size_t iha_queue_frame(enum iha_qrec type, uint64_t seq, const void *payload, size_t len,
                       unsigned char *out)
{
    if (len > IHA_QUEUE_RECORD_MAX)
        return 0;
    put32(out, MAGIC);
    put32(out + 8, (uint32_t)len);
    out[12] = (unsigned char)type;
    out[13] = out[14] = out[15] = 0;
    put64(out + 16, seq);
    if (len)
        memcpy(out + IHA_QUEUE_HDR, payload, len);
    put32(out + 4, iha_crc32c(0, out + 8, IHA_QUEUE_HDR - 8 + len));
    return IHA_QUEUE_HDR + len;
}

enum iha_rc iha_queue_parse(const unsigned char *buf, size_t len, struct iha_qrecord *rec,
                            size_t *used)
{
    uint32_t plen;

    if (len < IHA_QUEUE_HDR)
        return len >= 4 && get32(buf) != MAGIC ? IHA_E_PARSE : IHA_E_NOTFOUND;
    if (get32(buf) != MAGIC || buf[13] || buf[14] || buf[15] || buf[12] < IHA_QREC_ENQUEUE ||
        buf[12] > IHA_QREC_HOLD)
        return IHA_E_PARSE;
    plen = get32(buf + 8);
    if (plen > IHA_QUEUE_RECORD_MAX)
        return IHA_E_PARSE;
    if (len - IHA_QUEUE_HDR < plen)
        return IHA_E_NOTFOUND;
    if (iha_crc32c(0, buf + 8, IHA_QUEUE_HDR - 8 + plen) != get32(buf + 4))
        return IHA_E_PARSE;
    rec->type = (enum iha_qrec)buf[12];
    rec->seq = get64(buf + 16);
    rec->payload = buf + IHA_QUEUE_HDR;
    rec->len = plen;
    *used = IHA_QUEUE_HDR + plen;
    return IHA_OK;
}

/* ---- buffers ---- */

/* Frames a record onto @p b. */
bool iha_queue_buf_frame(struct iha_buf *b, enum iha_qrec type, uint64_t seq, const char *payload,
                         size_t len)
{
    char *at;

    if (len > IHA_QUEUE_RECORD_MAX)
        return false;
    at = iha_buf_room(b, IHA_QUEUE_HDR + len);
    if (!at)
        return false;
    iha_buf_wrote(b, iha_queue_frame(type, seq, payload, len, (unsigned char *)at));
    return true;
}
