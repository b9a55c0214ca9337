# The event history and the status page (src/ops).
iha_unit_test(test_events iha_ops)
iha_unit_test(test_status_page iha_ops)
