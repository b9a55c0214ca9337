# One listen-address parser for check-config and the daemon (src/listen_addr.c).
iha_unit_test(test_listen_addr)
target_link_libraries(test_listen_addr PRIVATE iha_core)
