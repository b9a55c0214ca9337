# One listen-address parser for check-config and the daemon (src/base/listen_addr.c).
iha_unit_test(test_listen_addr iha_ingress)
