# Mapping-rule tooling: lints, the alertname prefilter, `test-rules`, the shipped
# rule tests and the check-config golden files. The command-line tests run the built
# gateway, so they also run under the sanitizer build (label unit).
iha_unit_test(test_mapping_index iha_mapping)
iha_unit_test(test_lint iha_mapping)
target_compile_definitions(test_lint PRIVATE IHA_MAPPINGS="${CMAKE_SOURCE_DIR}/mappings")

# Every shipped rule file's tests (mappings/tests/NAME_test.yml; not mappings/*.yml, which
# the embed step compiles into the binary as rules).
file(GLOB IHA_SHIPPED_RULE_TESTS CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/mappings/tests/*_test.yml)
add_test(NAME unit/shipped_rule_tests
         COMMAND $<TARGET_FILE:iha-gateway> test-rules ${IHA_SHIPPED_RULE_TESTS})
add_test(NAME unit/test_rules_command
         COMMAND bash ${CMAKE_SOURCE_DIR}/tests/ruletest/test_ruletest.sh)
add_test(NAME unit/check_config_golden COMMAND bash ${CMAKE_SOURCE_DIR}/tests/golden/run.sh)
set_tests_properties(unit/shipped_rule_tests unit/test_rules_command unit/check_config_golden
                     PROPERTIES LABELS "unit;rules" TIMEOUT 120
                     ENVIRONMENT "IHA_GATEWAY_BIN=$<TARGET_FILE:iha-gateway>")
