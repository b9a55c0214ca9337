# yaml_tree, mapping rules and configuration.
iha_unit_test(test_yaml_tree iha_base)
iha_unit_test(test_mapping iha_mapping)
target_compile_definitions(test_mapping PRIVATE IHA_MAPPINGS="${CMAKE_SOURCE_DIR}/mappings")
iha_unit_test(test_config iha_config)
target_compile_definitions(test_config PRIVATE IHA_MAPPINGS="${CMAKE_SOURCE_DIR}/mappings")
