# Integration: real nagios4 (nagios4-core, monitoring-plugins-basic) runs iha-notify, the
# gateway maps the record, the real Masakari API stores it; plus the spool and --flush.
# Needs the packages of scripts/install-deps.sh --test. Run: ctest -R nagios --output-on-failure
add_test(NAME integration/nagios_to_masakari
         COMMAND bash ${CMAKE_SOURCE_DIR}/tests/integration/test_nagios_to_masakari.sh)
set_tests_properties(integration/nagios_to_masakari PROPERTIES
  LABELS integration
  TIMEOUT 300
  ENVIRONMENT "IHA_GATEWAY_BIN=$<TARGET_FILE:iha-gateway>;IHA_NOTIFY_BIN=$<TARGET_FILE:iha-notify>")

# Real Nagios runs iha-notify as an event handler on a SOFT then a HARD state of one problem:
# the HARD record must reach Masakari; a different record under a known id is processed.
add_test(NAME integration/nagios_soft_then_hard
         COMMAND bash ${CMAKE_SOURCE_DIR}/tests/integration/test_nagios_soft_then_hard.sh)
set_tests_properties(integration/nagios_soft_then_hard PROPERTIES
  LABELS integration
  TIMEOUT 300
  ENVIRONMENT "IHA_GATEWAY_BIN=$<TARGET_FILE:iha-gateway>;IHA_NOTIFY_BIN=$<TARGET_FILE:iha-notify>")

# Plugin output that looks like an option (--url=, --token-file=) in the positional form of
# real Nagios' notification commands stays data: nothing reaches a rogue listener.
add_test(NAME integration/nagios_output_injection
         COMMAND bash ${CMAKE_SOURCE_DIR}/tests/integration/test_nagios_output_injection.sh)
set_tests_properties(integration/nagios_output_injection PROPERTIES
  LABELS integration
  TIMEOUT 300
  ENVIRONMENT "IHA_GATEWAY_BIN=$<TARGET_FILE:iha-gateway>;IHA_NOTIFY_BIN=$<TARGET_FILE:iha-notify>")
