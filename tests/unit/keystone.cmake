# Service token lifecycle: clouds.yaml/secure.yaml, Keystone v3 tokens and their renewal.
iha_unit_test(test_clouds iha_credentials)
iha_unit_test(test_keystone iha_credentials)
