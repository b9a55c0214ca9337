# Service token lifecycle: clouds.yaml/secure.yaml, Keystone v3 tokens and their renewal.
iha_unit_test(test_clouds ${CMAKE_SOURCE_DIR}/src/clouds.c ${CMAKE_SOURCE_DIR}/src/yaml_tree.c
              ${CMAKE_SOURCE_DIR}/src/diag.c ${CMAKE_SOURCE_DIR}/src/secret.c
              ${CMAKE_SOURCE_DIR}/src/rc.c)
iha_unit_test(test_keystone ${CMAKE_SOURCE_DIR}/src/keystone.c ${CMAKE_SOURCE_DIR}/src/tls.c
              ${CMAKE_SOURCE_DIR}/src/secret.c ${CMAKE_SOURCE_DIR}/src/log.c
              ${CMAKE_SOURCE_DIR}/src/rc.c)
