# Nagios-family ingress: the adapter, the form decoder, remembered answers per record id,
# and iha-notify's macro parsing and spool.
set(IHA_NOTIFY_DIR ${CMAKE_SOURCE_DIR}/src/notify)
iha_unit_test(test_nagios ${CMAKE_SOURCE_DIR}/adapters/nagios.c ${CMAKE_SOURCE_DIR}/src/record.c
              ${CMAKE_SOURCE_DIR}/src/rc.c ${CMAKE_SOURCE_DIR}/src/form.c
              ${CMAKE_SOURCE_DIR}/src/redelivery.c)
iha_unit_test(test_notify_macros ${IHA_NOTIFY_DIR}/macros.c ${CMAKE_SOURCE_DIR}/src/rc.c)
target_include_directories(test_notify_macros PRIVATE ${IHA_NOTIFY_DIR})
iha_unit_test(test_spool ${IHA_NOTIFY_DIR}/spool.c ${CMAKE_SOURCE_DIR}/src/rc.c)
target_include_directories(test_spool PRIVATE ${IHA_NOTIFY_DIR})

