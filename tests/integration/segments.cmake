# The failover segment client (src/policy/segments.h) against the real masakari-api: a
# test-only probe drives the client; the script seeds segments and hosts into Masakari's
# database, pages through them with a small limit and stops Masakari under the client.
add_executable(segments_probe ${CMAKE_SOURCE_DIR}/tests/integration/segments_probe.c)
target_link_libraries(segments_probe PRIVATE iha_policy)
add_test(NAME integration/segments
         COMMAND bash ${CMAKE_SOURCE_DIR}/tests/integration/test_segments.sh)
set_tests_properties(integration/segments PROPERTIES
  LABELS integration
  TIMEOUT 300
  ENVIRONMENT "IHA_SEGMENTS_PROBE=$<TARGET_FILE:segments_probe>")
