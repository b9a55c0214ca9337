#!/usr/bin/env bash
# The gateway's HTTP contract against a real Masakari API, by direct requests:
# unknown host (final rejection), malformed JSON (400 naming the position), missing
# or wrong token (401), native Instance HA bodies (flat, wrapped, project path),
# duplicates, a host on maintenance, and — against Debian's unpatched masakari-api
# that answers every create with 500 — 503 after the retry budget.
# shellcheck disable=SC2119  # start_* take optional arguments
source "$(dirname "$0")/lib.sh"
it_init gateway_contract

HOST_PAYLOAD='{"event": "STOPPED", "host_status": "NORMAL", "cluster_status": "OFFLINE"}'

# is_final CODE: an answer after which Alertmanager does not retry, and that is no
# auth/routing error: 2xx, or 400/409/422.
is_final() { [[ "$1" =~ ^(200|202|204|400|409|422)$ ]]; }

start_masakari
seed_hosts seg1 compute-1 compute-2 compute-3
start_gateway

# --- unknown host: a final rejection carrying Masakari's message --------------------
gw_post /api/v1/alertmanager "$(webhook_body alertname=HostDown severity=critical \
    hostname=no-such-host instance=no-such-host:9100 job=node)"
log "unknown host: $HTTP_CODE $HTTP_BODY"
is_final "$HTTP_CODE" || fail "unknown host: expected a final answer (2xx/4xx), got $HTTP_CODE: $HTTP_BODY"
ok "unknown host: final answer $HTTP_CODE"
assert_json "$HTTP_BODY" 'type == "object"' "unknown host: the body is a JSON object"
assert_outcomes "$HTTP_BODY" 'index("rejected") != null' "unknown host: outcome rejected"
assert_contains "$HTTP_BODY" "could not be found" "unknown host: Masakari's message is in the reply"
assert_eq "$(masakari_count)" 0 "unknown host: Masakari stored nothing"

# --- malformed JSON: 400 with a JSON body naming the position -----------------------
gw_post /api/v1/alertmanager '{"version": "4", "status": "firing", "alerts": [}'
log "malformed JSON: $HTTP_CODE $HTTP_BODY"
assert_eq "$HTTP_CODE" 400 "malformed JSON: HTTP status"
assert_json "$HTTP_BODY" 'type == "object"' "malformed JSON: the body is JSON"
assert_json "$HTTP_BODY" 'tostring | test("position|column|line|offset"; "i")' \
    "malformed JSON: the body names the position"
gw_post /v1/notifications '{"type": "COMPUTE_HOST", "hostname": '
assert_eq "$HTTP_CODE" 400 "malformed JSON on /v1/notifications: HTTP status"
assert_json "$HTTP_BODY" 'tostring | test("position|column|line|offset"; "i")' \
    "malformed JSON on /v1/notifications: the body names the position"

# --- authentication: missing or wrong token -> 401, nothing delivered ---------------
body=$(webhook_body alertname=HostDown severity=critical hostname=compute-1 \
    instance=compute-1:9100 job=node)
http POST "$GW_URL/api/v1/alertmanager" "$body"
assert_eq "$HTTP_CODE" 401 "no token: HTTP status"
http POST "$GW_URL/api/v1/alertmanager" "$body" -H "Authorization: Bearer wrong-$GW_TOKEN"
assert_eq "$HTTP_CODE" 401 "wrong token: HTTP status"
http POST "$GW_URL/v1/notifications" '{"type": "COMPUTE_HOST", "hostname": "compute-1",
    "payload": {"event": "STOPPED", "host_status": "NORMAL", "cluster_status": "OFFLINE"}}'
assert_eq "$HTTP_CODE" 401 "no token on /v1/notifications: HTTP status"
assert_eq "$(masakari_count)" 0 "unauthenticated requests delivered nothing"

# --- native flat body -> 202 with Masakari's notification ---------------------------
gw_post /v1/notifications "{\"type\": \"COMPUTE_HOST\", \"hostname\": \"compute-2\",
    \"payload\": $HOST_PAYLOAD}"
log "native flat: $HTTP_CODE $HTTP_BODY"
assert_eq "$HTTP_CODE" 202 "native flat body: HTTP status"
assert_json "$HTTP_BODY" '.notification.notification_uuid | type == "string" and length > 0' \
    "native flat body: notification_uuid in the reply"
uuid=$(jq -r .notification.notification_uuid <<<"$HTTP_BODY")
assert_json "$(masakari_notifications)" "[.[] | select(.notification_uuid == \"$uuid\")] | length == 1
    and (.[] | select(.notification_uuid == \"$uuid\") | .type == \"COMPUTE_HOST\"
         and .hostname == \"compute-2\" and .payload == $HOST_PAYLOAD)" \
    "native flat body: stored in Masakari as sent"

# the same again: Masakari's duplicate answer (409 "is duplicate."), nothing new stored
gw_post /v1/notifications "{\"type\": \"COMPUTE_HOST\", \"hostname\": \"compute-2\",
    \"payload\": $HOST_PAYLOAD}"
log "native duplicate: $HTTP_CODE $HTTP_BODY"
assert_eq "$HTTP_CODE" 409 "native duplicate: HTTP status"
assert_contains "$HTTP_BODY" "is duplicate" "native duplicate: Masakari's duplicate message"
assert_eq "$(masakari_count)" 1 "native duplicate: still one notification"

# --- native wrapped body on the project path, with its own generated_time -----------
gtime=$(date -u +%Y-%m-%dT%H:%M:%SZ)
gw_post /v1/someproject/notifications "{\"notification\": {\"type\": \"PROCESS\",
    \"hostname\": \"compute-2\", \"generated_time\": \"$gtime\",
    \"payload\": {\"event\": \"STOPPED\", \"process_name\": \"nova-compute\"}}}"
log "native project path: $HTTP_CODE $HTTP_BODY"
assert_eq "$HTTP_CODE" 202 "POST /v1/someproject/notifications: HTTP status"
uuid=$(jq -r '.notification.notification_uuid // empty' <<<"$HTTP_BODY")
[[ -n "$uuid" ]] || fail "project path: no notification_uuid in $HTTP_BODY"
assert_json "$(masakari_notifications)" ".[] | select(.notification_uuid == \"$uuid\")
    | .type == \"PROCESS\" and .hostname == \"compute-2\"
    and .payload == {\"event\": \"STOPPED\", \"process_name\": \"nova-compute\"}
    and (.generated_time | startswith(\"${gtime%Z}\"))" \
    "project path: PROCESS stored with the sender's generated_time"

# --- invalid native body (schema): 400, nothing stored -----------------------------
gw_post /v1/notifications '{"type": "COMPUTE_HOST", "hostname": "compute-1",
    "payload": {"event": "DOWN"}}'
log "native bad enum: $HTTP_CODE $HTTP_BODY"
assert_eq "$HTTP_CODE" 400 "native body with event DOWN: HTTP status"
assert_eq "$(masakari_count 'select(.hostname == "compute-1")')" 0 \
    "native bad enum: nothing stored for compute-1"

# --- a host on maintenance: outcome maintenance, nothing stored ---------------------
set_maintenance compute-3
gw_post /api/v1/alertmanager "$(webhook_body alertname=HostDown severity=critical \
    hostname=compute-3 instance=compute-3:9100 job=node)"
log "maintenance: $HTTP_CODE $HTTP_BODY"
is_final "$HTTP_CODE" || fail "maintenance: expected a final answer, got $HTTP_CODE: $HTTP_BODY"
assert_eq "$HTTP_CODE" 200 "maintenance: HTTP status (not an error of the sender)"
assert_outcomes "$HTTP_BODY" 'index("maintenance") != null' "maintenance: outcome maintenance"
assert_contains "$HTTP_BODY" "maintenance" "maintenance: Masakari's reason in the reply"
assert_eq "$(masakari_count 'select(.hostname == "compute-3")')" 0 \
    "maintenance: nothing stored for compute-3"

# --- the happy path over the webhook, for contrast ---------------------------------
gw_post /api/v1/alertmanager "$body"
log "HostDown compute-1: $HTTP_CODE $HTTP_BODY"
assert_eq "$HTTP_CODE" 200 "HostDown compute-1: HTTP status"
assert_outcomes "$HTTP_BODY" '. == ["delivered"]' "HostDown compute-1: outcome delivered"
assert_eq "$(masakari_count 'select(.hostname == "compute-1" and .type == "COMPUTE_HOST")')" 1 \
    "HostDown compute-1: stored"
stop_gateway
stop_masakari

# --- stock Debian masakari-api (every create 500): 503 after the retry budget -------
IHA_TEST_MASAKARI_UNPATCHED=1 start_masakari
seed_hosts seg1 compute-1 compute-2
GW_RETRY_FOR=2s start_gateway

t0=$EPOCHREALTIME
gw_post /api/v1/alertmanager "$body"
secs=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')
log "500s from Masakari, webhook: $HTTP_CODE after ${secs}s: $HTTP_BODY"
assert_eq "$HTTP_CODE" 503 "Masakari answering 500: webhook HTTP status"
assert_outcomes "$HTTP_BODY" 'index("retry") != null' "Masakari answering 500: outcome retry"
awk -v s="$secs" 'BEGIN { exit !(s >= 1.0 && s < 30) }' ||
    fail "Masakari answering 500: answered after ${secs}s, expected the 2s retry budget"
ok "503 came after ${secs}s (retry_for 2s)"

t0=$EPOCHREALTIME
gw_post /v1/notifications "{\"type\": \"COMPUTE_HOST\", \"hostname\": \"compute-2\",
    \"payload\": $HOST_PAYLOAD}"
secs=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')
log "500s from Masakari, native: $HTTP_CODE after ${secs}s: $HTTP_BODY"
assert_eq "$HTTP_CODE" 503 "Masakari answering 500: native HTTP status"
assert_eq "$(masakari_count)" 0 "Masakari answering 500: nothing stored"
n500=$(cat "$MASAKARI_DIR"/log/*.log | grep -c '"POST /v1/notifications HTTP/1.1" status: 500' || true)
((n500 >= 2)) || fail "Masakari logged $n500 POSTs answered 500; expected retries (>= 2)"
ok "Masakari answered $n500 POSTs with 500 (the gateway retried)"
grep -q "Unexpected API Error" "$GW_DIR/gateway.log" ||
    fail "the gateway log does not show Masakari's 500 message (Unexpected API Error)"
ok "the gateway log shows Masakari's 500 message"

it_pass
