#!/usr/bin/env bash
# The safety policy's other signals, end to end with the real Alertmanager and Masakari
# (20 hosts in two segments); each part starts a fresh gateway and Alertmanager:
#
# 1. scrape outage: every node's HostDown fires together -> nothing that would evacuate
#    reaches Masakari (all 20 held); the monitoring recovers (every alert resolves) ->
#    every held evacuation is cancelled, nothing is left to release
# 2. flapping: one host fires and resolves three times a few seconds apart -> nothing is
#    evacuated, it is shown as flapping
# 3. rate limit (burst 1, one per 4 s): four distinct failures under the guard's bounds all
#    arrive in Masakari, spaced by the bucket, in the order they were released
# 4. dead man's switch: Watchdog stops -> a single host failure is held; Watchdog returns
#    -> it is released (auto_release 2s)
# shellcheck disable=SC2119  # start_* take optional arguments
source "$(dirname "$0")/lib.sh"
it_init policy_signals

HOSTS_A=(a01 a02 a03 a04 a05 a06 a07 a08 a09 a10 a11 a12 a13 a14)
HOSTS_B=(b01 b02 b03 b04 b05 b06)

count_is() { [[ "$(masakari_count "$1")" == "$2" ]]; }
holds() { curl -fsS --max-time 10 -H "Authorization: Bearer $GW_TOKEN" "$GW_URL/api/v1/holds"; }
holds_match() { holds | jq -e "$1" >/dev/null; }
host_down() {
    am_add_alert alertname=HostDown severity=critical hostname="$1" instance="$1:9100" job=node
}
host_up() {
    am_add_alert --resolved alertname=HostDown severity=critical hostname="$1" \
        instance="$1:9100" job=node
}
log_has() { grep -q -- "$1" "$GW_DIR/gateway.log"; }

# fresh POLICY_SECTION: a new gateway (empty queue) and Alertmanager, no notifications.
fresh() {
    stop_named alertmanager
    stop_gateway
    clear_notifications
    export GW_POLICY="$1"
    start_alertmanager
    start_gateway
}

start_masakari
seed_hosts seg-a "${HOSTS_A[@]}"
seed_hosts seg-b "${HOSTS_B[@]}"

# --- 1. scrape outage: all 20 at once ---------------------------------------------------
fresh "policy: {settle: 10s}"
am_hosts_down "${HOSTS_A[@]}" "${HOSTS_B[@]}"
wait_until 40 "all 20 evacuations held" holds_match \
    '[.notifications[] | select(.state == "held" and .reason == "storm")] | length == 20'
sleep 12
assert_eq "$(masakari_count 'select(.type == "COMPUTE_HOST")')" 0 \
    "no evacuation reached Masakari during the outage"
am_hosts_down --resolved "${HOSTS_A[@]}" "${HOSTS_B[@]}"
wait_until 40 "every held evacuation cancelled once the hosts resolved" holds_match \
    '.notifications == []'
assert_eq "$(masakari_count)" 0 "still nothing in Masakari"
assert_eq "$(gw_cli queue list 2>/dev/null | wc -l)" 0 "nothing left in the queue"
ok "outage over: $(grep -c 'msg="evacuation cancelled"' "$GW_DIR/gateway.log") cancelled"

# --- 2. flapping: fire and resolve three times ------------------------------------------
fresh "policy: {settle: 10s, flapping: {count: 3, window: 10m, settle: 2m}}"
for i in 1 2 3; do
    host_down b01
    wait_until 20 "b01 fired (#$i) reached the gateway" holds_match \
        '[.notifications[] | select(.host == "b01")] | length == 1'
    host_up b01
    wait_until 20 "b01 resolved (#$i) cancelled its evacuation" holds_match \
        '[.notifications[] | select(.host == "b01")] | length == 0'
done
assert_json "$(holds)" '.flapping_hosts == ["b01"]' "b01 is shown as flapping"
host_down b01
wait_until 20 "b01's next failure is held as flapping" holds_match \
    '[.notifications[] | select(.host == "b01" and .state == "held" and .reason == "flapping")]
     | length == 1'
sleep 12 # past the ordinary settle time
assert_eq "$(masakari_count)" 0 "nothing evacuated for the flapping host"

# --- 3. rate limit: burst 1, one more every 4 s -----------------------------------------
fresh "policy: {settle: 1s, storm: {max_hosts: 10}, rate_limit: {burst: 1, interval: 4s}}"
# Spread over both segments: 4 of seg-b's 6 would trip the guard by its share.
am_hosts_down a02 a03 b02 b03
wait_until 60 "all four evacuations stored" count_is 'select(.type == "COMPUTE_HOST")' 4
released=$(grep -o 'msg="evacuation released to delivery".*host=[ab]0[23]' "$GW_DIR/gateway.log" |
    grep -o 'host=[ab]0[23]' | cut -d= -f2 | tr '\n' ' ')
stored=$(masakari_notifications | jq -r 'sort_by(.created_at)[] | .hostname' | tr '\n' ' ')
assert_eq "$stored" "$released" "stored in the order the bucket released them"
gaps=$(masakari_notifications | jq -c '[sort_by(.created_at)[] | .created_at
    | sub("\\.[0-9]+"; "") | sub("Z$"; "") | strptime("%Y-%m-%dT%H:%M:%S") | mktime]
    | [range(1; length) as $i | .[$i] - .[$i - 1]]')
assert_json "$gaps" 'length == 3 and min >= 3' "spaced by the bucket (gaps $gaps s, interval 4 s)"

# --- 4. dead man's switch ----------------------------------------------------------------
AM_REPEAT_INTERVAL=2s fresh "policy:
  settle: 1s
  storm: {auto_release: 2s}
  heartbeat: {alertname: Watchdog, missing_after: 6s}"
am_add_alert alertname=Watchdog severity=none
sleep 2
host_down a01
wait_until 30 "a01 evacuated while the heartbeat is there" count_is '.' 1
am_add_alert --resolved alertname=Watchdog severity=none
wait_until 30 "the gateway noticed the heartbeat is missing" holds_match \
    '.heartbeat.state == "missing"'
host_down a02
wait_until 20 "a02 held for the missing heartbeat" holds_match \
    '[.notifications[] | select(.host == "a02" and .reason == "deadman")] | length == 1'
sleep 4
assert_eq "$(masakari_count 'select(.hostname == "a02")')" 0 "a02 not evacuated meanwhile"
am_add_alert alertname=Watchdog severity=none
wait_until 30 "a02 released once the heartbeat returned" count_is 'select(.hostname == "a02")' 1
assert_json "$(holds)" '.heartbeat.state == "ok" and .notifications == []' "heartbeat ok again"
it_pass
