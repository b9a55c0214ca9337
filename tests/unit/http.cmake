# HTTP ingress: the libmicrohttpd server and inbound authentication.
iha_unit_test(test_http_server iha_ingress)
iha_unit_test(test_auth iha_ingress)
iha_unit_test(test_conn_guard iha_ingress)
# Link seam: the test counts crypt_r calls to prove the verification cache works.
target_link_options(test_auth PRIVATE -Wl,--wrap=crypt_r)
