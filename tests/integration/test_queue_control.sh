#!/usr/bin/env bash
# The operator's queue commands against a RUNNING gateway and the real Masakari API:
# `deadletter list|requeue` on a notification dead-lettered for an unknown host (then
# registered), `queue list|show|retry|drop` on notifications queued while Masakari is
# stopped; what Masakari stored afterwards. Then SIGTERM while a native sender waits for
# the first attempt of a stored notification (Masakari hung with SIGSTOP): the sender is
# answered 202 "queued", and the next start delivers it once.
# shellcheck disable=SC2119  # start_* take optional arguments
source "$(dirname "$0")/lib.sh"
it_init queue_control

HOST_PAYLOAD='{"event": "STOPPED", "host_status": "NORMAL", "cluster_status": "OFFLINE"}'
host_down() {
    webhook_body alertname=HostDown severity=critical hostname="$1" instance="$1:9100" job=node
}
stored_for() { masakari_count "select(.hostname == \"$1\")"; }
stored_is() { [[ "$(stored_for "$1")" == "$2" ]]; }
dl_line() { gw_cli deadletter list 2>/dev/null | jq -c "select(.id == \"$1\")"; }
dl_has() { [[ -n "$(dl_line "$1")" ]]; }
q_line() { gw_cli queue list 2>/dev/null | jq -c "select(.id == \"$1\")"; }
q_attempted() { q_line "$1" | jq -e '.attempts_total >= 1' >/dev/null; }

start_masakari
seed_hosts seg1 compute-1 compute-2
GW_STORAGE="$WORK/storage" # kept across the restart at the end
GW_RETRY_FOR=10m GW_STORAGE_EXTRA="  max_age: 1h" start_gateway

# --- deadletter list | requeue ------------------------------------------------------
gw_post /api/v1/alertmanager "$(host_down late-host)"
assert_eq "$HTTP_CODE" 200 "unknown host: HTTP status"
assert_outcomes "$HTTP_BODY" '. == ["queued"]' "unknown host: queued"
dead_id=$(jq -r '.results[0].id' <<<"$HTTP_BODY")
wait_until 30 "the unknown-host notification dead-lettered" dl_has "$dead_id"
assert_json "$(dl_line "$dead_id")" '.hostname == "late-host" and .http_code == 400 and
    .outcome == "rejected" and (has("requeued_as") | not)' "deadletter list shows it (400)"
out=$(gw_cli deadletter requeue no-such-id 2>&1) && fail "requeue of an unknown id succeeded: $out"
assert_contains "$out" "no dead-lettered notification no-such-id" "requeue of an unknown id"

seed_hosts seg1 late-host
out=$(gw_cli deadletter requeue "$dead_id" 2>&1) || fail "deadletter requeue $dead_id: $out"
log "requeue: $out"
assert_contains "$out" "$dead_id requeued as " "deadletter requeue answers requeued"
new_id=$(sed -n 's/.* requeued as \([^ ]*\) .*/\1/p' <<<"$out")
[[ -n "$new_id" && "$new_id" != "$dead_id" ]] || fail "no new id in: $out"
wait_until 30 "Masakari stored the requeued notification" stored_is late-host 1
assert_json "$(dl_line "$dead_id")" ".requeued_as == \"$new_id\"" \
    "deadletter list shows requeued_as"
out=$(gw_cli deadletter requeue "$dead_id" 2>&1) && fail "a second requeue succeeded: $out"
assert_contains "$out" "was requeued already" "a second requeue is refused"

# --- queue list | show | retry | drop -----------------------------------------------
pause_masakari
gw_post /api/v1/alertmanager "$(host_down compute-1)"
assert_outcomes "$HTTP_BODY" '. == ["queued"]' "compute-1 queued while Masakari is down"
drop_id=$(jq -r '.results[0].id' <<<"$HTTP_BODY")
gw_post /api/v1/alertmanager "$(host_down compute-2)"
assert_outcomes "$HTTP_BODY" '. == ["queued"]' "compute-2 queued while Masakari is down"
keep_id=$(jq -r '.results[0].id' <<<"$HTTP_BODY")
wait_until 20 "a failed attempt of $keep_id" q_attempted "$keep_id"
assert_eq "$(gw_cli queue list 2>/dev/null | wc -l)" 2 "queue list shows two entries"
assert_json "$(q_line "$drop_id")" '.hostname == "compute-1" and .type == "COMPUTE_HOST"' \
    "queue list shows compute-1"
show=$(gw_cli queue show "$keep_id" 2>/dev/null) || fail "queue show $keep_id"
assert_json "$show" ".id == \"$keep_id\" and .hostname == \"compute-2\" and
    (.attempts | length) >= 1 and .attempts[-1].outcome == \"retry\"" \
    "queue show lists the failed attempts"

out=$(gw_cli queue retry "$keep_id" 2>&1) || fail "queue retry $keep_id: $out"
assert_contains "$out" "$keep_id (seq " "queue retry names the entry"
assert_contains "$out" "is being retried now" "queue retry answers retried now"
out=$(gw_cli queue drop "$drop_id" 2>&1) || fail "queue drop $drop_id: $out"
assert_contains "$out" "$drop_id (seq " "queue drop names the entry"
assert_contains "$out" ") dropped" "queue drop answers dropped"
assert_eq "$(q_line "$drop_id")" "" "the dropped entry left the queue"
assert_eq "$(gw_cli queue list 2>/dev/null | wc -l)" 1 "one entry left"
out=$(gw_cli queue drop "$drop_id" 2>&1) && fail "a second drop succeeded: $out"
assert_contains "$out" "no queued notification $drop_id" "a second drop is refused"

resume_masakari
wait_until 30 "Masakari stored compute-2" stored_is compute-2 1
wait_until 10 "the queue drained" gw_queue_empty
sleep 2 # a late delivery of the dropped entry would have happened by now
assert_eq "$(stored_for compute-1)" 0 "the dropped notification never reached Masakari"
assert_eq "$(stored_for compute-2)" 1 "compute-2 stored once"
assert_eq "$(stored_for late-host)" 1 "late-host stored once"

# --- SIGTERM while a native sender waits for a stored notification -------------------
clear_notifications
mpids=()
for entry in "${IT_PIDS[@]}"; do
    if [[ "${entry%%:*}" == masakari ]]; then
        mapfile -t -O "${#mpids[@]}" mpids < <(_descendants "${entry#*:}")
        mpids+=("${entry#*:}")
    fi
done
kill -STOP "${mpids[@]}"
log "masakari: stopped with SIGSTOP (connections hang)"
curl -sS -o "$WORK/native.body" -w '%{http_code}' --max-time 60 -X POST \
    -H "Authorization: Bearer $GW_TOKEN" -H 'Content-Type: application/json' \
    --data-binary "{\"type\": \"COMPUTE_HOST\", \"hostname\": \"compute-1\",
        \"payload\": $HOST_PAYLOAD}" "$GW_URL/v1/notifications" >"$WORK/native.code" 2>&1 &
curl_pid=$!
native_stored() { grep -q 'msg="notification queued".*host=compute-1' "$GW_DIR/gateway.log"; }
wait_until 20 "the native notification stored" native_stored
sleep 1 # its first attempt is under way (hanging)
gwpid=$(gw_pid || true)
[[ -n "$gwpid" ]] || fail "no gateway pid"
kill -TERM "$gwpid"
wait "$curl_pid" || true
kill -CONT "${mpids[@]}"
log "masakari: resumed with SIGCONT"
code=$(cat "$WORK/native.code")
body=$(cat "$WORK/native.body" 2>/dev/null || true)
log "native answer at SIGTERM: $code $body"
assert_eq "$code" 202 "native request stored when SIGTERM arrives: HTTP status"
assert_json "$body" '.notification.status == "queued" and .notification.hostname == "compute-1"
    and (.notification.gateway_id | length) > 0' "native request at SIGTERM: answered queued"
wait_until 15 "the gateway exited" eval "! _running $gwpid"
stop_named gateway
GW_PORT=""
GW_RETRY_FOR=10m GW_STORAGE_EXTRA="  max_age: 1h" start_gateway
wait_until 30 "Masakari stored the notification after the restart" stored_is compute-1 1
wait_until 10 "the queue drained" gw_queue_empty
assert_eq "$(stored_for compute-1)" 1 "compute-1 stored once"
# A data directory other local users can write is refused at start, with the fix named.
stop_named gateway
loose="$WORK/loose-data"
mkdir -p "$loose" && chmod 0777 "$loose"
sed "s|^  path: .*|  path: $loose|" "$GW_DIR/config.yml" >"$WORK/loose.yml"
rc=0
IHA_SERVICE_TOKEN=unused timeout 20 "${IHA_GATEWAY_BIN:-$IT_ROOT/build/iha-gateway}" \
    --config.file="$WORK/loose.yml" >"$WORK/loose.log" 2>&1 </dev/null || rc=$?
log "start on a 0777 data directory: exit $rc"
[[ $rc -ne 0 && $rc -ne 124 ]] || fail "the gateway did not refuse a 0777 data directory (exit $rc)"
assert_contains "$(cat "$WORK/loose.log")" "$loose has mode 0777" "refusal names the directory and mode"
assert_contains "$(cat "$WORK/loose.log")" "chmod 0700 $loose" "refusal says how to fix it"
it_pass
