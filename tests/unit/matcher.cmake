# Label matchers and relabel-style extraction (src/mapping/matcher.c, relabel.c).
iha_unit_test(test_matcher iha_mapping)
iha_unit_test(test_relabel iha_mapping)
