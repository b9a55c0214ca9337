# Label matchers and relabel-style extraction (src/mapping/matcher.c, extract.c).
iha_unit_test(test_matcher iha_mapping)
iha_unit_test(test_extract iha_mapping)
