# The safety policy against the real Alertmanager and Masakari: the storm guard (held,
# visible, kept across kill -9, released by the operator), a monitoring outage, flapping,
# the rate limit and the dead man's switch.
foreach(t policy_storm policy_signals map_policy)
  add_test(NAME integration/${t}
           COMMAND bash ${CMAKE_SOURCE_DIR}/tests/integration/test_${t}.sh)
  set_tests_properties(integration/${t} PROPERTIES
    LABELS integration
    TIMEOUT 300
    ENVIRONMENT "IHA_GATEWAY_BIN=$<TARGET_FILE:iha-gateway>")
endforeach()
