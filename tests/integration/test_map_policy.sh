#!/usr/bin/env bash
# `iha-gateway map` shows the safety policy's decision for an input, with the default
# configuration (settle 10 s; more than 5 hosts trips the storm guard):
# - one HostDown -> sent after 10 s
# - eight HostDown in one webhook -> all held by the storm guard, saying why
# - a HostDown and its resolve in one input -> cancelled (flapped)
# - NovaComputeDown (PROCESS, not an evacuation) -> sent at once
# - with policy.enabled: false -> evacuations are sent at once
source "$(dirname "$0")/lib.sh"
it_init map_policy

BIN=${IHA_GATEWAY_BIN:-$IT_ROOT/build/iha-gateway}

# webhook ALERT_JSON...: an Alertmanager v4 webhook carrying the given alerts.
webhook() {
    jq -c -s '{receiver: "gw", status: "firing", alerts: ., groupLabels: {}, commonLabels: {},
        commonAnnotations: {}, externalURL: "http://127.0.0.1:9093", version: "4",
        groupKey: "{}:{}", truncatedAlerts: 0}' <<<"$*"
}
# alert NAME HOST [STATUS]
alert() {
    jq -c -n --arg n "$1" --arg h "$2" --arg s "${3:-firing}" '{status: $s,
        labels: {alertname: $n, severity: "critical", hostname: $h, instance: "\($h):9100",
                 service: "nova-compute"},
        annotations: {}, startsAt: "2026-12-05T10:00:00Z", endsAt: "0001-01-01T00:00:00Z",
        generatorURL: "", fingerprint: "f-\($h)"}'
}
decisions() {
    "$BIN" map --source=alertmanager "$@" 2>/dev/null |
        jq -c 'select(.notification) | {host: .notification.hostname, d: .policy.decision,
               r: .policy.reason, s: .policy.after_s}' | jq -s -c .
}

webhook "$(alert HostDown c1)" >"$WORK/one.json"
out=$(decisions "$WORK/one.json")
assert_json "$out" '. == [{"host":"c1","d":"sent","r":"","s":10}]' "one failure: sent after 10 s"

webhook "$(for i in 1 2 3 4 5 6 7 8; do alert HostDown "c$i"; done)" >"$WORK/storm.json"
out=$(decisions "$WORK/storm.json")
assert_json "$out" 'length == 8 and all(.[]; .d == "held" and .r == "storm")' \
    "eight failures at once: all held by the storm guard"
why=$("$BIN" map --source=alertmanager "$WORK/storm.json" 2>/dev/null | jq -r 'select(.notification)
    | .policy.why' | tail -1)
assert_eq "$why" "tripped: 8 hosts failed within 5m (more than 5)" "says why"

webhook "$(alert HostDown c1)" "$(alert HostDown c1 resolved)" >"$WORK/flap.json"
out=$(decisions "$WORK/flap.json")
assert_json "$out" '. == [{"host":"c1","d":"cancelled",
    "r":"its host resolved before it was sent (flapped)","s":0}]' "fire and resolve: cancelled"

webhook "$(alert NovaComputeDown c2)" >"$WORK/proc.json"
out=$(decisions "$WORK/proc.json")
assert_json "$out" '.[0].d == "sent at once (not an evacuation)"' "PROCESS: sent at once"

printf 'policy: {enabled: false}\n' >"$WORK/off.yml"
out=$(decisions --config.file="$WORK/off.yml" "$WORK/storm.json")
assert_json "$out" 'all(.[]; .d == "sent at once (policy.enabled is false)")' \
    "policy off: sent at once"
it_pass
