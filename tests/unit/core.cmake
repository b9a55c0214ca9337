iha_unit_test(test_notification ${CMAKE_SOURCE_DIR}/src/notification.c ${CMAKE_SOURCE_DIR}/src/rc.c)
iha_unit_test(test_alertmanager ${CMAKE_SOURCE_DIR}/adapters/alertmanager.c
              ${CMAKE_SOURCE_DIR}/src/record.c ${CMAKE_SOURCE_DIR}/src/rc.c)
iha_unit_test(test_native ${CMAKE_SOURCE_DIR}/adapters/native.c
              ${CMAKE_SOURCE_DIR}/src/notification.c ${CMAKE_SOURCE_DIR}/src/rc.c)
iha_unit_test(test_diag ${CMAKE_SOURCE_DIR}/src/diag.c ${CMAKE_SOURCE_DIR}/src/rc.c)
iha_unit_test(test_log ${CMAKE_SOURCE_DIR}/src/log.c)
