iha_unit_test(test_metrics ${CMAKE_SOURCE_DIR}/src/metrics.c ${CMAKE_SOURCE_DIR}/src/rc.c)
target_link_libraries(test_metrics PRIVATE m)
# The live configuration (reload, status, redaction): linked with the whole core.
iha_unit_test(test_reload)
target_link_libraries(test_reload PRIVATE iha_core)
