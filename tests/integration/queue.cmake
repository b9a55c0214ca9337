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
