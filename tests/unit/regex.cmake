# Anchored, RE2-portable regexes (src/base/regexp.c), the bounded text writer
# (src/base/strbuf.c) and the growable, capped byte buffer (src/base/buf.c).
iha_unit_test(test_regex iha_base)
iha_unit_test(test_strbuf iha_base)
iha_unit_test(test_buf iha_base)
