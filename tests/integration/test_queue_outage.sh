#!/usr/bin/env bash
# Durable queue (issue 4), Instance HA outage: with the real Masakari API stopped, N distinct
# host failures all get 2xx from the gateway; once Masakari is back, all N are stored in it
# exactly once within the backoff bound (storage.max_backoff 2s + one attempt).
# shellcheck disable=SC2119
source "$(dirname "$0")/lib.sh"
it_init queue_outage

N=${IHA_TEST_OUTAGE_N:-20}
start_masakari
seed_many_hosts seg1 out "$N"
GW_MAX_BACKOFF=2s start_gateway
pause_masakari

for ((i = 0; i < N; i++)); do
    gw_post /api/v1/alertmanager "$(webhook_body alertname=HostDown severity=critical \
        hostname=out-$i instance=out-$i:9100 job=node)"
    [[ "$HTTP_CODE" == 200 ]] || fail "host failure out-$i during the outage: $HTTP_CODE $HTTP_BODY"
    assert_outcomes "$HTTP_BODY" '. == ["queued"]' "out-$i: 2xx while Instance HA is down (queued)"
done
ok "all $N host failures answered 2xx during the outage"
sleep 3 # a few failed attempts (connection refused) per notification
grep -q 'msg="delivery attempt".*outcome=retry' "$GW_DIR/gateway.log" ||
    fail "no failed delivery attempt was logged during the outage"
ok "the gateway retried during the outage"
assert_eq "$(gw_cli queue list 2>/dev/null | wc -l)" "$N" "iha-gateway queue list shows $N pending"

resume_masakari
t0=$EPOCHREALTIME
all_stored() { [[ "$(masakari_count)" -ge "$N" ]]; }
# bound: max backoff 2s (+20 % jitter) between attempts, one attempt each, Masakari's pace
wait_until 30 "all $N notifications stored in Masakari" all_stored
secs=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')
ok "all $N stored ${secs}s after Masakari came back"
wait_until 10 "the gateway's queue drained" gw_queue_empty
sleep 2 # any duplicate POST would have happened by now
per_host=$(masakari_per_host)
assert_eq "$(wc -l <<<"$per_host")" "$N" "one host entry per failure"
assert_eq "$(awk '$2 != 1' <<<"$per_host")" "" "every host exactly once"
assert_eq "$(masakari_count)" "$N" "Masakari holds exactly $N notifications"
it_pass
