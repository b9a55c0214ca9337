# The data types, adapters, diagnostics and logging.
iha_unit_test(test_notification iha_base)
iha_unit_test(test_alertmanager iha_adapters)
iha_unit_test(test_native iha_adapters)
iha_unit_test(test_diag iha_base)
iha_unit_test(test_log iha_base)
