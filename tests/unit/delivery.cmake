# Delivery side: answer classification, dedupe, service token, the libcurl delivery thread.
iha_unit_test(test_classify iha_delivery)
iha_unit_test(test_dedupe iha_pipeline)
iha_unit_test(test_token_source iha_credentials)
iha_unit_test(test_delivery iha_delivery)
iha_unit_test(test_hashmap iha_base)
