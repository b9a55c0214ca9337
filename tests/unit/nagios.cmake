# Nagios-family ingress: the adapter, the form decoder, remembered answers per record id,
# and iha-notify's macro parsing and spool.
iha_unit_test(test_nagios iha_adapters iha_pipeline)
iha_unit_test(test_notify_macros iha_notify)
iha_unit_test(test_spool iha_notify)
