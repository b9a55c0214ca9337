# Delivery side: answer classification, dedupe, service token, the libcurl delivery thread.
iha_unit_test(test_classify ${CMAKE_SOURCE_DIR}/src/classify.c)
iha_unit_test(test_dedupe ${CMAKE_SOURCE_DIR}/src/dedupe.c ${CMAKE_SOURCE_DIR}/src/siphash.c
              ${CMAKE_SOURCE_DIR}/src/notification.c ${CMAKE_SOURCE_DIR}/src/rc.c)
iha_unit_test(test_secret ${CMAKE_SOURCE_DIR}/src/secret.c ${CMAKE_SOURCE_DIR}/src/rc.c)
iha_unit_test(test_delivery ${CMAKE_SOURCE_DIR}/src/delivery.c ${CMAKE_SOURCE_DIR}/src/tls.c ${CMAKE_SOURCE_DIR}/src/hashmap.c
              ${CMAKE_SOURCE_DIR}/src/siphash.c ${CMAKE_SOURCE_DIR}/src/classify.c
              ${CMAKE_SOURCE_DIR}/src/secret.c ${CMAKE_SOURCE_DIR}/src/notification.c
              ${CMAKE_SOURCE_DIR}/src/log.c ${CMAKE_SOURCE_DIR}/src/rc.c)
iha_unit_test(test_hashmap ${CMAKE_SOURCE_DIR}/src/hashmap.c ${CMAKE_SOURCE_DIR}/src/siphash.c)
