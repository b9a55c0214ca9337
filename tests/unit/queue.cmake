# The durable queue (src/queue): framing, checksum, recovery, compaction, limits, control.
iha_unit_test(test_queue iha_queue)
# Storage faults and a slow disk are injected by wrapping fdatasync (see test_queue.c).
target_link_options(test_queue PRIVATE -Wl,--wrap=fdatasync)
