# yaml_tree, mapping rules and configuration.
set(IHA_MAPPING_TEST_SOURCES
    ${CMAKE_SOURCE_DIR}/src/mapping.c ${CMAKE_SOURCE_DIR}/src/yaml_tree.c
    ${CMAKE_SOURCE_DIR}/src/matcher.c ${CMAKE_SOURCE_DIR}/src/relabel.c
    ${CMAKE_SOURCE_DIR}/src/regexp.c ${CMAKE_SOURCE_DIR}/src/strbuf.c
    ${CMAKE_SOURCE_DIR}/src/notification.c ${CMAKE_SOURCE_DIR}/src/record.c
    ${CMAKE_SOURCE_DIR}/src/diag.c ${CMAKE_SOURCE_DIR}/src/rc.c ${CMAKE_SOURCE_DIR}/src/log.c)

iha_unit_test(test_yaml_tree ${CMAKE_SOURCE_DIR}/src/yaml_tree.c ${CMAKE_SOURCE_DIR}/src/diag.c
              ${CMAKE_SOURCE_DIR}/src/rc.c)
iha_unit_test(test_mapping ${IHA_MAPPING_TEST_SOURCES})
target_compile_definitions(test_mapping PRIVATE IHA_MAPPINGS="${CMAKE_SOURCE_DIR}/mappings")
# The top-level ${CMAKE_BINARY_DIR}/embedded_rules.c is produced by a custom command
# that only targets of the top directory can depend on (policy CMP0118 is OLD with
# cmake_minimum_required 3.18), so generate the same table here from the same inputs.
# VERBATIM keeps the ';'-separated FILES list one argument (without it the shell
# splits the command at each ';').
set(IHA_TEST_EMBED_C ${CMAKE_CURRENT_BINARY_DIR}/embedded_rules_test.c)
add_custom_command(
  OUTPUT ${IHA_TEST_EMBED_C}
  COMMAND ${CMAKE_COMMAND} -DOUT=${IHA_TEST_EMBED_C} "-DFILES=${IHA_SHIPPED_RULES}"
          -P ${CMAKE_SOURCE_DIR}/scripts/embed.cmake
  DEPENDS ${IHA_SHIPPED_RULES} ${CMAKE_SOURCE_DIR}/scripts/embed.cmake
  COMMENT "Embedding shipped mapping rules for test_config"
  VERBATIM)
iha_unit_test(test_config ${IHA_MAPPING_TEST_SOURCES} ${CMAKE_SOURCE_DIR}/src/config.c
              ${CMAKE_SOURCE_DIR}/src/listen_addr.c
              ${IHA_TEST_EMBED_C})
target_compile_definitions(test_config PRIVATE IHA_MAPPINGS="${CMAKE_SOURCE_DIR}/mappings")
