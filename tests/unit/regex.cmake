# Anchored, RE2-portable regexes (src/base/regexp.c) and the bounded text writer
# (src/base/strbuf.c).
iha_unit_test(test_regex iha_base)
iha_unit_test(test_strbuf iha_base)
