# Integration tests: bash scripts that start the real peers (masakari-api with the
# Debian 12 workaround, prometheus-alertmanager) on 127.0.0.1 and drive the built
# gateway. They need the packages of scripts/install-deps.sh --test.
# Run only these: ctest -L integration --output-on-failure
set(IHA_INTEGRATION_TESTS
    alertmanager_to_masakari
    gateway_contract)

foreach(t ${IHA_INTEGRATION_TESTS})
  add_test(NAME integration/${t}
           COMMAND bash ${CMAKE_SOURCE_DIR}/tests/integration/test_${t}.sh)
  set_tests_properties(integration/${t} PROPERTIES
    LABELS integration
    TIMEOUT 300
    ENVIRONMENT "IHA_GATEWAY_BIN=$<TARGET_FILE:iha-gateway>")
endforeach()
