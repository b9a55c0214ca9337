# Integration: a HostDown grouped by a real Alertmanager with alerts the gateway cannot
# read (a label over the limit, too many labels) and 1,200 unmapped ones reaches the real
# Masakari API. Run only this: ctest -R integration/alertmanager_big_group --output-on-failure
add_test(NAME integration/alertmanager_big_group
         COMMAND bash ${CMAKE_SOURCE_DIR}/tests/integration/test_alertmanager_big_group.sh)
set_tests_properties(integration/alertmanager_big_group PROPERTIES
  LABELS integration
  TIMEOUT 300
  ENVIRONMENT "IHA_GATEWAY_BIN=$<TARGET_FILE:iha-gateway>")
