# Anchored, RE2-portable regexes (src/regexp.c) and the bounded text writer (src/strbuf.c).
iha_unit_test(test_regex ${CMAKE_SOURCE_DIR}/src/regexp.c ${CMAKE_SOURCE_DIR}/src/rc.c)
iha_unit_test(test_strbuf ${CMAKE_SOURCE_DIR}/src/strbuf.c)
