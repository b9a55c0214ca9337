iha_unit_test(test_events ${CMAKE_SOURCE_DIR}/src/events.c ${CMAKE_SOURCE_DIR}/src/notification.c
              ${CMAKE_SOURCE_DIR}/src/rc.c)
iha_unit_test(test_status_page ${CMAKE_SOURCE_DIR}/src/status_page.c)
