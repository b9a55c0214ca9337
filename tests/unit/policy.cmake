# The safety policy: settle time, flap damping, storm guard, rate limit, dead man's switch.
iha_unit_test(test_policy iha_policy)
