iha_unit_test(test_metrics iha_ops)
# The live configuration (reload, status, redaction) on the whole running gateway.
iha_unit_test(test_reload iha_daemon)
