# Integration test of the Keystone service token: real Keystone (sqlite, fernet,
# 60 s tokens) and real masakari-api with auth_strategy = keystone, on 127.0.0.1. Needs
# the packages of scripts/install-deps.sh --test (keystone, python3-openstackclient).
# Run only this: ctest -R integration/keystone --output-on-failure
add_test(NAME integration/keystone_service_token
         COMMAND bash ${CMAKE_SOURCE_DIR}/tests/integration/test_keystone_service_token.sh)
set_tests_properties(integration/keystone_service_token PROPERTIES
  LABELS integration
  # Keystone's and Masakari's own set-up (db_sync, bootstrap, WSGI start) is most of the
  # run: about 160 s alone, over 300 s on a busy machine. A guard against a hang only.
  TIMEOUT 900
  ENVIRONMENT "IHA_GATEWAY_BIN=$<TARGET_FILE:iha-gateway>")
