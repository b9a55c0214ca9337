# Label matchers and relabel-style extraction (src/matcher.c, src/relabel.c).
iha_unit_test(test_matcher ${CMAKE_SOURCE_DIR}/src/matcher.c ${CMAKE_SOURCE_DIR}/src/regexp.c
              ${CMAKE_SOURCE_DIR}/src/strbuf.c ${CMAKE_SOURCE_DIR}/src/record.c
              ${CMAKE_SOURCE_DIR}/src/rc.c)
iha_unit_test(test_relabel ${CMAKE_SOURCE_DIR}/src/relabel.c ${CMAKE_SOURCE_DIR}/src/regexp.c
              ${CMAKE_SOURCE_DIR}/src/strbuf.c ${CMAKE_SOURCE_DIR}/src/record.c
              ${CMAKE_SOURCE_DIR}/src/rc.c)
