# Delivery side: answer classification, dedupe, service token, the libcurl delivery thread,
# the options every outbound POST sets.
iha_unit_test(test_classify iha_delivery)
iha_unit_test(test_dedupe iha_pipeline)
iha_unit_test(test_token_source iha_credentials)
iha_unit_test(test_delivery iha_delivery)
# Link seam: a test stretches the delivery backoff to tell a kick from a natural retry.
target_link_options(test_delivery PRIVATE -Wl,--wrap=iha_delivery_make_due)
iha_unit_test(test_hashmap iha_base)
iha_unit_test(test_curl_setup iha_base)
