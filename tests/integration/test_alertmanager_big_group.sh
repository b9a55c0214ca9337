#!/usr/bin/env bash
# A HostDown that shares its Alertmanager group with alerts the gateway cannot read.
#
# - a real Alertmanager group (one webhook) of a HostDown for compute-1 and one alert with
#   a label value over 4096 bytes: Masakari stores the COMPUTE_HOST notification for
#   compute-1; the other alert alone is dropped (log line naming the label,
#   iha_gateway_alerts_dropped_total{reason="over_limit"}); Alertmanager saw no failure
# - a real group of 1,203 alerts (1,200 that no rule maps, one over-long label, one with
#   131 labels, HostDown compute-2): compute-2 is stored, the two oversized alerts alone
#   are dropped
# - such a group posted directly: 200, the HostDown queued, each oversized alert listed
#   as dropped with its field; a body over web.max_request_bytes (8 MiB): 413
# shellcheck disable=SC2119  # start_* take optional arguments
source "$(dirname "$0")/lib.sh"
it_init alertmanager_big_group

BIG=$(head -c 5000 /dev/zero | tr '\0' x) # one label value over the 4096-byte limit

# group_json HOST INSTANCE NOISE: the alerts of one group (alertname HostDown and the same
# instance, so Alertmanager groups them), as POST /api/v2/alerts takes them: NOISE alerts
# no rule maps (severity warning), then, when NOISE > 0, one with 131 labels, then one with
# an over-long label and the HostDown for HOST.
group_json() {
    jq -c -n --arg big "$BIG" --arg host "$1" --arg inst "$2" --argjson noise "$3" '
        def alert($labels): {labels: ({alertname: "HostDown", instance: $inst} + $labels),
                             annotations: {summary: "integration test"},
                             generatorURL: "http://127.0.0.1/iha-it"};
        [range($noise) | alert({severity: "warning", hostname: "noise-\(.)"})]
        + (if $noise > 0 then [alert(({severity: "critical", hostname: "noise-many"}
              + ([range(127) | {key: "l\(.)", value: "v"}] | from_entries)))] else [] end)
        + [alert({severity: "critical", hostname: "noise-big", runbook: $big})]
        + [alert({severity: "critical", hostname: $host, job: "node"})]'
}

# stored HOST: Masakari holds exactly one COMPUTE_HOST notification for HOST.
stored() {
    [[ "$(masakari_count "select(.type == \"COMPUTE_HOST\" and .hostname == \"$1\")")" == 1 ]]
}

# am_failures: "Notify for alerts failed" lines in Alertmanager's log.
am_failures() { grep -c 'msg="Notify for alerts failed"' "$AM_DIR/alertmanager.log" || true; }

# dropped_logged WHAT FIELD_REGEX REASON_PART: the gateway logged an alert dropped for FIELD.
dropped_logged() {
    grep -E "msg=\"alert dropped\" alert=HostDown .*field=\"?alerts\\[[0-9]+\\]\\.$2\"? .*$3" \
        "$GW_DIR/gateway.log" >/dev/null || fail "no log line dropping the alert with $1"
    ok "the gateway logged the alert with $1 as dropped, naming the field"
}

start_masakari
seed_hosts seg1 compute-1 compute-2 compute-3
start_gateway
start_alertmanager

# --- 1. HostDown grouped with one alert whose label is over the limit ---------------
http POST "$AM_URL/api/v2/alerts" "$(group_json compute-1 rack0 0)"
assert_eq "$HTTP_CODE" 200 "Alertmanager took the two alerts"
wait_until 30 "a COMPUTE_HOST notification for compute-1 in Masakari" stored compute-1
notes=$(masakari_notifications)
assert_json "$notes" 'length == 1' "Masakari holds exactly one notification"
assert_json "$notes" '.[0].type == "COMPUTE_HOST" and .[0].hostname == "compute-1"
    and .[0].payload.event == "STOPPED" and .[0].payload.host_status == "NORMAL"' \
    "COMPUTE_HOST compute-1 with the evacuation payload"
dropped_logged "the over-long label" 'labels\.runbook' '5000 bytes, limit 4096'
assert_metric 'iha_gateway_alerts_dropped_total{reason="over_limit",rule=""}' 1
assert_eq "$(am_failures)" 0 "Alertmanager logged no failed notification"

# --- 2. a group of 1,203 alerts ---------------------------------------------------
http POST "$AM_URL/api/v2/alerts" "$(group_json compute-2 rack1 1200)"
assert_eq "$HTTP_CODE" 200 "Alertmanager took the 1,203 alerts"
wait_until 60 "a COMPUTE_HOST notification for compute-2 in Masakari" stored compute-2
dropped_logged "131 labels" 'labels' '131 labels, more than the limit of 128'
assert_metric 'iha_gateway_alerts_dropped_total{reason="over_limit",rule=""}' 3
assert_metric 'iha_gateway_alerts_dropped_total{reason="no_rule",rule=""}' 1200
assert_json "$(masakari_notifications)" 'length == 2' "two notifications in Masakari"
assert_eq "$(am_failures)" 0 "Alertmanager logged no failed notification"
if grep -q 'msg="alert dropped".*field=.*labels\.hostname' "$GW_DIR/gateway.log"; then
    fail "an alert was dropped for its hostname label"
fi

# --- 3. such a group posted directly: the answer lists each alert -------------------
body=$(group_json compute-3 rack2 1200 | jq -c '{receiver: "gw", status: "firing",
    version: "4", groupKey: "{}:{alertname=\"HostDown\", instance=\"rack2\"}",
    truncatedAlerts: 0, groupLabels: {alertname: "HostDown", instance: "rack2"},
    commonLabels: {}, commonAnnotations: {}, externalURL: "http://127.0.0.1:9093",
    alerts: [.[] | . + {status: "firing", startsAt: "2026-11-25T14:40:13.000Z",
                        endsAt: "0001-01-01T00:00:00Z"}]}')
gw_post /api/v1/alertmanager "$body"
assert_eq "$HTTP_CODE" 200 "a direct post of the group: HTTP status"
assert_json "$HTTP_BODY" '.counts.queued == 1 and .counts.dropped == 1202' \
    "one queued, the others dropped"
assert_json "$HTTP_BODY" '[.results[] | select(.alert == 1202)][0]
    | .result == "queued" and .hostname == "compute-3"' "the HostDown is queued"
assert_json "$HTTP_BODY" '[.results[] | select(.alert == 1201)][0]
    | .result == "dropped" and .field == "alerts[1201].labels.runbook"
      and (.reason | contains("5000 bytes"))' "the over-long label is named in the answer"
assert_json "$HTTP_BODY" '[.results[] | select(.alert == 1200)][0]
    | .result == "dropped" and .field == "alerts[1200].labels"' \
    "the alert with too many labels is named in the answer"
wait_until 30 "a COMPUTE_HOST notification for compute-3 in Masakari" stored compute-3

# --- 4. a body over web.max_request_bytes (8 MiB) is refused whole -----------------
huge="{\"version\":\"4\",\"alerts\":[],\"pad\":\"$(head -c $((9 * 1024 * 1024)) /dev/zero | tr '\0' y)\"}"
gw_post /api/v1/alertmanager "$huge"
assert_eq "$HTTP_CODE" 413 "a 9 MiB body"
assert_json "$(masakari_notifications)" 'length == 3' "three notifications in total"
assert_loopback_only

it_pass
