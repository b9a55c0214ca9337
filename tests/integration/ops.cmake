# Operability integration tests (issue 7): metrics after a scripted sequence (promtool
# check metrics), reload (SIGHUP and POST /-/reload, under load), the status page in
# headless Chromium (screenshot kept in build/artifacts/), and the deploy/ files
# (systemd-analyze verify, YAML parse, promtool check rules); security: URLs with
# credentials refused, web.auth.disabled judged by resolved addresses, which routes are
# public. A missing optional tool
# makes its test skip with exit 77. Run only these: ctest -L ops --output-on-failure
foreach(t metrics reload status_page deploy url_credentials auth_disabled_resolved ops_auth
          auth_basic_busy slow_clients tls_listener)
  add_test(NAME integration/${t}
           COMMAND bash ${CMAKE_SOURCE_DIR}/tests/integration/test_${t}.sh)
  set_tests_properties(integration/${t} PROPERTIES
    LABELS "integration;ops"
    TIMEOUT 300
    SKIP_RETURN_CODE 77
    ENVIRONMENT "IHA_GATEWAY_BIN=$<TARGET_FILE:iha-gateway>;IHA_ARTIFACTS_DIR=${CMAKE_BINARY_DIR}/artifacts")
endforeach()
