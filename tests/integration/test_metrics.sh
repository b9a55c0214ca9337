#!/usr/bin/env bash
# GET /metrics after a scripted sequence against the real Masakari API: one alert
# delivered, the same alert again (deduplicated), one alert no rule maps (dropped,
# reason no_rule), one for a host Masakari does not know (400, dead-lettered). Every
# counter must have exactly the expected value, `promtool check metrics` must accept the
# exposition, and every log line about a notification must carry its gateway id.
# shellcheck disable=SC2119  # start_* take optional arguments
source "$(dirname "$0")/lib.sh"
it_init metrics

command -v promtool >/dev/null ||
    fail "promtool not found (Debian package prometheus; run scripts/install-deps.sh --test)"

start_masakari
seed_hosts seg1 compute-1
start_gateway

# Nothing happened yet: the fixed families are there at 0.
assert_metric 'iha_gateway_notifications_queued_total' 0
assert_metric 'iha_gateway_config_last_reload_successful' 1
assert_metric "iha_gateway_build_info{version=\"$("${IHA_GATEWAY_BIN:-$IT_ROOT/build/iha-gateway}" \
    --version | awk '{print $2}')\"}" 1

host_down() {
    webhook_body alertname=HostDown severity=critical hostname="$1" instance="$1:9100" job=node
}

# 1. delivered
gw_post /api/v1/alertmanager "$(host_down compute-1)"
assert_eq "$HTTP_CODE" 200 "delivered: HTTP status"
id1=$(jq -r '.results[0].id' <<<"$HTTP_BODY")
[[ "$id1" =~ ^[A-Za-z0-9_-]+$ ]] || fail "delivered: no gateway id in the answer: $HTTP_BODY"
ok "delivered: the answer carries the gateway id $id1"
wait_until 30 "the first notification delivered" \
    gw_metric_is 'iha_gateway_deliveries_total{outcome="delivered",code="202"}' 1

# 2. the same alert again: deduplicated
gw_post /api/v1/alertmanager "$(host_down compute-1)"
assert_eq "$HTTP_CODE" 200 "duplicate: HTTP status"
assert_outcomes "$HTTP_BODY" '. == ["deduplicated"]' "duplicate: outcome"
id2=$(jq -r '.results[0].id' <<<"$HTTP_BODY")

# 3. no rule maps it
gw_post /api/v1/alertmanager "$(webhook_body alertname=DiskAlmostFull severity=warning \
    instance=compute-1:9100)"
assert_eq "$HTTP_CODE" 200 "no rule: HTTP status"
assert_outcomes "$HTTP_BODY" '. == ["dropped"]' "no rule: outcome"

# 4. a host Masakari does not know: 400, dead-lettered
gw_post /api/v1/alertmanager "$(host_down no-such-host)"
assert_eq "$HTTP_CODE" 200 "unknown host: HTTP status"
id4=$(jq -r '.results[0].id' <<<"$HTTP_BODY")
wait_until 30 "the unknown-host notification dead-lettered" \
    gw_metric_is 'iha_gateway_notifications_dead_lettered_total' 1

text=$(gw_metrics)
printf '%s\n' "$text" >"$WORK/metrics.txt"
assert_metric 'iha_gateway_alerts_received_total{source="alertmanager",status="firing"}' 4
assert_metric 'iha_gateway_alerts_mapped_total{rule="node-down"}' 3
assert_metric 'iha_gateway_alerts_dropped_total{reason="no_rule",rule=""}' 1
assert_metric 'iha_gateway_notifications_deduplicated_total' 1
assert_metric 'iha_gateway_notifications_queued_total' 2
assert_metric 'iha_gateway_deliveries_total{outcome="delivered",code="202"}' 1
assert_metric 'iha_gateway_deliveries_total{outcome="rejected",code="400"}' 1
assert_metric 'iha_gateway_notifications_dead_lettered_total' 1
assert_metric 'iha_gateway_queue_depth' 0
assert_metric 'iha_gateway_queue_oldest_age_seconds' 0
assert_metric 'iha_gateway_delivery_latency_seconds_count' 2
assert_metric 'iha_gateway_delivery_latency_seconds_bucket{le="+Inf"}' 2
assert_metric 'iha_gateway_http_requests_total{route="/api/v1/alertmanager",code="200"}' 4
assert_metric 'iha_gateway_config_reloads_total{result="failure"}' 0
assert_metric 'iha_gateway_token_renewals_total{result="success"}' 0
n_delivery_series=$(grep -c '^iha_gateway_deliveries_total{' <<<"$text")
assert_eq "$n_delivery_series" 2 "exactly two delivery series (nothing retried)"
assert_eq "$(masakari_count)" 1 "Masakari stored exactly one notification"

if ! promtool check metrics <"$WORK/metrics.txt" >"$WORK/promtool.log" 2>&1; then
    fail "promtool check metrics: $(cat "$WORK/promtool.log")"
fi
ok "promtool check metrics accepts the exposition"
ct=$(curl -fsS -o /dev/null -w '%{content_type}' "$GW_URL/metrics")
assert_eq "$ct" "text/plain; version=0.0.4; charset=utf-8" "/metrics Content-Type"

# The gateway id: in every log line about the notification, and in the events.
for id in "$id1" "$id4"; do
    n=$(grep -c -- "$id" "$GW_DIR/gateway.log" || true)
    ((n >= 3)) || fail "gateway id $id is in only $n log lines"
done
bad=$(grep -E 'host=(compute-1|no-such-host)' "$GW_DIR/gateway.log" |
    grep -vE "id=($id1|$id2|$id4)( |$)" | grep -v 'msg="alert dropped"' || true)
[[ -z "$bad" ]] || fail "log lines about a notification without its gateway id: $bad"
ok "every log line naming the hosts carries the notification's gateway id"
http GET "$GW_URL/api/v1/events?limit=10" - -H "Authorization: Bearer $GW_TOKEN"
assert_json "$HTTP_BODY" "map(select(.id == \"$id1\"))[0] | .result == \"delivered\" and
    (.attempts[0].notification_uuid | length) > 0" "events: the delivered one with its uuid"
assert_json "$HTTP_BODY" "map(select(.id == \"$id4\"))[0] | .result == \"dead\"" \
    "events: the unknown host is dead"
assert_json "$HTTP_BODY" 'map(select(.result == "dropped"))[0].reason == "no rule matched"' \
    "events: the dropped alert with its reason"
it_pass
