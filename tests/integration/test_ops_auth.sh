#!/usr/bin/env bash
# Which routes answer without credentials. Public: /-/healthy, /-/ready, /metrics and the
# status page (its event list is bounded). The JSON APIs /api/v1/status and
# /api/v1/events need the same credentials as ingestion: an unauthenticated
# GET /api/v1/events?limit=10000 is refused with 401 before any rendering, and an
# authenticated one is capped at the events kept, the cap reported in X-Events-Limit.
# shellcheck disable=SC2119  # start_* take optional arguments
source "$(dirname "$0")/lib.sh"
it_init ops_auth

# No Masakari is needed: nothing is delivered.
MASAKARI_URL="http://127.0.0.1:15868"
start_gateway
auth=(-H "Authorization: Bearer $GW_TOKEN")

for path in /-/healthy /-/ready /metrics /; do
    http GET "$GW_URL$path"
    assert_eq "$HTTP_CODE" 200 "GET $path without credentials"
done
for path in "/api/v1/events?limit=10000" /api/v1/events /api/v1/status; do
    http GET "$GW_URL$path"
    assert_eq "$HTTP_CODE" 401 "GET $path without credentials"
    assert_json "$HTTP_BODY" '.code == 401' "GET $path without credentials: error body"
    http GET "$GW_URL$path" - -H "Authorization: Bearer wrong-token"
    assert_eq "$HTTP_CODE" 401 "GET $path with a wrong token"
done
http GET "$GW_URL/api/v1/status" - "${auth[@]}"
assert_eq "$HTTP_CODE" 200 "GET /api/v1/status with the token"
assert_json "$HTTP_BODY" '.instance_ha.url == "http://127.0.0.1:15868"' "status JSON with the token"
http GET "$GW_URL/api/v1/events?limit=10000" - "${auth[@]}" -D "$WORK/headers"
assert_eq "$HTTP_CODE" 200 "GET /api/v1/events?limit=10000 with the token"
assert_json "$HTTP_BODY" 'type == "array"' "events JSON with the token"
grep -qi '^X-Events-Limit: 1000' "$WORK/headers" ||
    fail "limit=10000 not reported as capped: $(tr -d '\r' <"$WORK/headers")"
ok "limit=10000 capped to the 1000 events kept (X-Events-Limit)"
http GET "$GW_URL/api/v1/events?limit=5" - "${auth[@]}" -D "$WORK/headers"
grep -qi '^X-Events-Limit: 5' "$WORK/headers" ||
    fail "limit=5 not reported: $(tr -d '\r' <"$WORK/headers")"
ok "limit=5 reported as applied"
it_pass
