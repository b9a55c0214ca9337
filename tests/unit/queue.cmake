# The durable queue (src/queue.c): framing, checksum, recovery, compaction, limits, control.
iha_unit_test(test_queue ${CMAKE_SOURCE_DIR}/src/queue.c ${CMAKE_SOURCE_DIR}/src/log.c
              ${CMAKE_SOURCE_DIR}/src/rc.c)
# Storage faults and a slow disk are injected by wrapping fdatasync (see test_queue.c).
target_link_options(test_queue PRIVATE -Wl,--wrap=fdatasync)
