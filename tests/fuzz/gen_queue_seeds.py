#!/usr/bin/env python3
"""Writes the seed segments of the queue_record fuzz target (tests/fuzz/corpus/queue_record),
framed as src/queue/queue_record.c frames them (see the layout in src/queue/queue.h)."""
import json
import os
import struct
import sys


def crc32c(data):
    crc = 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


ENQUEUE, ATTEMPT, DONE, DEAD, DROPPED, NOP = range(1, 7)


def frame(rtype, seq, payload=b""):
    rest = struct.pack("<IB3xQ", len(payload), rtype, seq) + payload
    return b"IHQ1" + struct.pack("<I", crc32c(rest)) + rest


def record(seq, host, ntype="COMPUTE_HOST"):
    rec = {"type": ntype, "hostname": host, "payload": {"event": "STOPPED", "host_status": "NORMAL",
           "cluster_status": "OFFLINE"}, "generated_time": "2026-11-25T14:40:13Z",
           "id": "n%08d" % seq, "rule": "node-exporter-host-down", "received_ms": 1795000000000}
    return json.dumps(rec, separators=(",", ":"), sort_keys=True).encode()


def main(out):
    attempt = json.dumps({"at": "2026-11-25T14:40:14Z", "status": 500, "outcome": "retry"}).encode()
    seeds = {
        "live.seg": frame(ENQUEUE, 1, record(1, "compute-1")) + frame(ATTEMPT, 1, attempt),
        "ended.seg": frame(ENQUEUE, 2, record(2, "compute-2")) + frame(DONE, 2)
        + frame(ENQUEUE, 3, record(3, "compute-3", "PROCESS")) + frame(DEAD, 3)
        + frame(DROPPED, 4) + frame(ENQUEUE, 4, record(4, "compute-4")) + frame(NOP, 5),
        "torn-tail.seg": frame(ENQUEUE, 6, record(6, "compute-6")) + frame(ENQUEUE, 7, record(7, "c7"))[:40],
        "corrupt-middle.seg": frame(ENQUEUE, 8, record(8, "c8")) + b"\0garbage\xff" * 3
        + frame(ENQUEUE, 9, record(9, "c9", "VM")),
        "copy-then-attempts.seg": frame(ENQUEUE, 10, record(10, "c10")) + frame(ATTEMPT, 10, attempt)
        + frame(ENQUEUE, 10, record(10, "c10")) + frame(ATTEMPT, 10, attempt),
        "not-json.seg": frame(ENQUEUE, 11, b"{not json") + frame(ENQUEUE, 12, b"[1]")
        + frame(ATTEMPT, 12, b"x"),
    }
    os.makedirs(out, exist_ok=True)
    for name, data in seeds.items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "corpus", "queue_record"))
