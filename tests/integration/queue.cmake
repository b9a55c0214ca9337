# Durable queue integration tests (issue 4): Instance HA outage, crashes (SIGKILL under
# load), injected faults from a proxy in front of the real Masakari API, disk full (tmpfs;
# skipped with exit 77 when mount is not permitted).
foreach(t queue_outage queue_crash queue_faults queue_diskfull)
  add_test(NAME integration/${t}
           COMMAND bash ${CMAKE_SOURCE_DIR}/tests/integration/test_${t}.sh)
  set_tests_properties(integration/${t} PROPERTIES
    LABELS integration
    TIMEOUT 300
    SKIP_RETURN_CODE 77
    ENVIRONMENT "IHA_GATEWAY_BIN=$<TARGET_FILE:iha-gateway>")
endforeach()
# The operator's queue and dead-letter commands against a running gateway; SIGTERM while a
# native sender waits for a stored notification.
add_test(NAME integration/queue_control
         COMMAND bash ${CMAKE_SOURCE_DIR}/tests/integration/test_queue_control.sh)
set_tests_properties(integration/queue_control PROPERTIES
  LABELS integration
  TIMEOUT 300
  ENVIRONMENT "IHA_GATEWAY_BIN=$<TARGET_FILE:iha-gateway>")
