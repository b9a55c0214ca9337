#!/usr/bin/env bash
# The gateway's HTTP contract against a real Masakari API, by direct requests:
# unknown host (2xx queued, then dead-lettered with Masakari's message), malformed JSON
# (400 naming the position), missing or wrong token (401), native Instance HA bodies
# (flat, wrapped, project path), duplicates, a host on maintenance (queued, ended as
# maintenance), and — against Debian's unpatched masakari-api that answers every create
# with 500 — 2xx queued at once, retried with backoff, dead-lettered after storage.max_age.
# shellcheck disable=SC2119  # start_* take optional arguments
source "$(dirname "$0")/lib.sh"
it_init gateway_contract

HOST_PAYLOAD='{"event": "STOPPED", "host_status": "NORMAL", "cluster_status": "OFFLINE"}'

# is_final CODE: an answer after which Alertmanager does not retry, and that is no
# auth/routing error: 2xx, or 400/409/422.
is_final() { [[ "$1" =~ ^(200|202|204|400|409|422)$ ]]; }

# deadletter_has ID TEXT: the gateway's dead-letter file has a record of ID containing TEXT.
deadletter_has() {
    grep -F "\"id\":\"$1\"" "$GW_DIR/data/deadletter.jsonl" 2>/dev/null | grep -qF -- "$2"
}
# gw_logged ID OUTCOME: the gateway logged the end of notification ID with OUTCOME.
gw_logged() { grep -E "msg=\"notification (outcome|dead-lettered)\" id=$1 .*outcome=$2" "$GW_DIR/gateway.log"; }

start_masakari
seed_hosts seg1 compute-1 compute-2 compute-3
start_gateway

# --- unknown host: 2xx once queued, then dead-lettered with Masakari's message -------
gw_post /api/v1/alertmanager "$(webhook_body alertname=HostDown severity=critical \
    hostname=no-such-host instance=no-such-host:9100 job=node)"
log "unknown host: $HTTP_CODE $HTTP_BODY"
assert_eq "$HTTP_CODE" 200 "unknown host: HTTP status (durably queued)"
assert_json "$HTTP_BODY" 'type == "object"' "unknown host: the body is a JSON object"
assert_outcomes "$HTTP_BODY" '. == ["queued"]' "unknown host: outcome queued"
unknown_id=$(jq -r '.results[0].id' <<<"$HTTP_BODY")
wait_until 20 "the unknown-host notification in the dead-letter file" \
    deadletter_has "$unknown_id" "could not be found"
ok "unknown host: dead-lettered with Masakari's message"
dl=$("${IHA_GATEWAY_BIN:-$IT_ROOT/build/iha-gateway}" deadletter list --storage.path="$GW_DIR/data" 2>/dev/null)
assert_json "$dl" "select(.id == \"$unknown_id\") | .http_code == 400 and .outcome == \"rejected\"
    and .hostname == \"no-such-host\"" "unknown host: iha-gateway deadletter list shows it (400)"
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

# --- a host on maintenance: queued, ends as maintenance (not dead-lettered) ----------
set_maintenance compute-3
gw_post /api/v1/alertmanager "$(webhook_body alertname=HostDown severity=critical \
    hostname=compute-3 instance=compute-3:9100 job=node)"
log "maintenance: $HTTP_CODE $HTTP_BODY"
is_final "$HTTP_CODE" || fail "maintenance: expected a final answer, got $HTTP_CODE: $HTTP_BODY"
assert_eq "$HTTP_CODE" 200 "maintenance: HTTP status (not an error of the sender)"
assert_outcomes "$HTTP_BODY" '. == ["queued"]' "maintenance: outcome queued"
maint_id=$(jq -r '.results[0].id' <<<"$HTTP_BODY")
wait_until 20 "the maintenance outcome in the gateway log" gw_logged "$maint_id" maintenance
assert_contains "$(gw_logged "$maint_id" maintenance)" "under maintenance" \
    "maintenance: Masakari's reason in the gateway log"
if deadletter_has "$maint_id" ""; then fail "maintenance: dead-lettered, expected ended"; fi
ok "maintenance: not dead-lettered"
assert_eq "$(masakari_count 'select(.hostname == "compute-3")')" 0 \
    "maintenance: nothing stored for compute-3"

# --- the happy path over the webhook, for contrast ---------------------------------
gw_post /api/v1/alertmanager "$body"
log "HostDown compute-1: $HTTP_CODE $HTTP_BODY"
assert_eq "$HTTP_CODE" 200 "HostDown compute-1: HTTP status"
assert_outcomes "$HTTP_BODY" '. == ["queued"]' "HostDown compute-1: outcome queued"
count_c1() { [[ "$(masakari_count 'select(.hostname == "compute-1" and .type == "COMPUTE_HOST")')" == 1 ]]; }
wait_until 20 "HostDown compute-1 stored in Masakari" count_c1
ok "HostDown compute-1: stored"
queued=$("${IHA_GATEWAY_BIN:-$IT_ROOT/build/iha-gateway}" queue list --storage.path="$GW_DIR/data" 2>/dev/null)
assert_eq "$queued" "" "iha-gateway queue list: nothing left in the queue"
stop_gateway
stop_masakari

# --- stock Debian masakari-api (every create 500): queued, retried, dead-lettered -----
IHA_TEST_MASAKARI_UNPATCHED=1 start_masakari
seed_hosts seg1 compute-1 compute-2
GW_MAX_BACKOFF=1s GW_STORAGE_EXTRA="  max_age: 6s" start_gateway

t0=$EPOCHREALTIME
gw_post /api/v1/alertmanager "$body"
secs=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')
log "500s from Masakari, webhook: $HTTP_CODE after ${secs}s: $HTTP_BODY"
assert_eq "$HTTP_CODE" 200 "Masakari answering 500: webhook HTTP status (durably queued)"
assert_outcomes "$HTTP_BODY" '. == ["queued"]' "Masakari answering 500: outcome queued"
awk -v s="$secs" 'BEGIN { exit !(s < 5) }' ||
    fail "Masakari answering 500: answered after ${secs}s; the answer must not wait for delivery"
ok "answered after ${secs}s, without waiting for Masakari"
c1_id=$(jq -r '.results[0].id' <<<"$HTTP_BODY")

t0=$EPOCHREALTIME
gw_post /v1/notifications "{\"type\": \"COMPUTE_HOST\", \"hostname\": \"compute-2\",
    \"payload\": $HOST_PAYLOAD}"
secs=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')
log "500s from Masakari, native: $HTTP_CODE after ${secs}s: $HTTP_BODY"
assert_eq "$HTTP_CODE" 202 "Masakari answering 500: native HTTP status (queued)"
assert_json "$HTTP_BODY" '.notification.status == "queued" and (.notification.gateway_id | length > 0)' \
    "Masakari answering 500: native reply is the queued notification"
c2_id=$(jq -r '.notification.gateway_id' <<<"$HTTP_BODY")
wait_until 30 "both notifications dead-lettered after max_age 6s" \
    eval 'deadletter_has "$c1_id" "storage.max_age" && deadletter_has "$c2_id" "storage.max_age"'
ok "both dead-lettered after storage.max_age"
assert_json "$(grep -F "\"id\":\"$c1_id\"" "$GW_DIR/data/deadletter.jsonl")" \
    '.http_code == 500 and (.attempts | length >= 2) and all(.attempts[]; .http_code == 500)' \
    "the dead-letter record lists every attempt's 500"
assert_eq "$(masakari_count)" 0 "Masakari answering 500: nothing stored"
n500=$(cat "$MASAKARI_DIR"/log/*.log | grep -c '"POST /v1/notifications HTTP/1.1" status: 500' || true)
((n500 >= 2)) || fail "Masakari logged $n500 POSTs answered 500; expected retries (>= 2)"
ok "Masakari answered $n500 POSTs with 500 (the gateway retried)"
grep -q "Unexpected API Error" "$GW_DIR/gateway.log" ||
    fail "the gateway log does not show Masakari's 500 message (Unexpected API Error)"
ok "the gateway log shows Masakari's 500 message"

it_pass
