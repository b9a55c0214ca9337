# The safety policy: settle time, flap damping, storm guard, rate limit, dead man's switch.
iha_unit_test(test_policy iha_policy)
# The failover segments (the storm guard's failure domains) read from Instance HA.
iha_unit_test(test_segments iha_policy)
