# HTTP ingress: the libmicrohttpd server and inbound authentication.
iha_unit_test(test_http_server ${CMAKE_SOURCE_DIR}/src/http_server.c ${CMAKE_SOURCE_DIR}/src/auth.c
              ${CMAKE_SOURCE_DIR}/src/auth_verifier.c ${CMAKE_SOURCE_DIR}/src/siphash.c
              ${CMAKE_SOURCE_DIR}/src/log.c ${CMAKE_SOURCE_DIR}/src/rc.c
              ${CMAKE_SOURCE_DIR}/src/record.c ${CMAKE_SOURCE_DIR}/src/form.c
              ${CMAKE_SOURCE_DIR}/src/metrics.c ${CMAKE_SOURCE_DIR}/src/events.c
              ${CMAKE_SOURCE_DIR}/src/status_page.c ${CMAKE_SOURCE_DIR}/src/notification.c
              ${CMAKE_SOURCE_DIR}/src/listen_addr.c)
target_link_libraries(test_http_server PRIVATE m)
iha_unit_test(test_auth ${CMAKE_SOURCE_DIR}/src/auth.c ${CMAKE_SOURCE_DIR}/src/auth_verifier.c
              ${CMAKE_SOURCE_DIR}/src/siphash.c ${CMAKE_SOURCE_DIR}/src/log.c
              ${CMAKE_SOURCE_DIR}/src/rc.c)
# Link seam: the test counts crypt_r calls to prove the verification cache works.
target_link_options(test_auth PRIVATE -Wl,--wrap=crypt_r)
