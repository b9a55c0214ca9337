#!/usr/bin/env bash
# Reload (SIGHUP and POST /-/reload) against a running gateway and the real Masakari API:
# a valid change (a new rule file) takes effect; an invalid one (a rule whose regex does
# not compile) is refused with the reason (500 "failed to reload config: ...", log line,
# iha_gateway_config_last_reload_successful 0) and the old rules still map; settings
# that need a restart (instance_ha.tls among them) are named by key; and under a bounded
# load of requests during a series of reloads no request fails.
# shellcheck disable=SC2119  # start_* take optional arguments
source "$(dirname "$0")/lib.sh"
it_init reload

start_masakari
seed_hosts seg1 compute-1 compute-2 compute-3
start_gateway
mkdir -p "$GW_DIR/rules"

# custom_rule NAME: a rule file mapping CustomDown{severity="critical"} to an evacuation.
custom_rule() {
    cat <<EOR
rules:
  - name: $1
    matchers:
      - alertname = "CustomDown"
      - severity = "critical"
    type: COMPUTE_HOST
    hostname:
      source_labels: [hostname]
    firing:
      payload:
        event: STOPPED
        host_status: NORMAL
        cluster_status: OFFLINE
EOR
}
custom_down() { webhook_body alertname=CustomDown severity=critical hostname="$1"; }

# Before: the shipped rules do not know CustomDown.
gw_post /api/v1/alertmanager "$(custom_down compute-1)"
assert_outcomes "$HTTP_BODY" '. == ["dropped"]' "before reload: CustomDown is dropped"

# --- a valid change by SIGHUP: a new rule file -----------------------------------------
custom_rule custom-a >"$GW_DIR/rules/custom.yml"
printf '\nmapping:\n  rule_files: ["%s/rules/*.yml"]\n' "$GW_DIR" >>"$GW_DIR/config.yml"
kill -HUP "$(gw_pid)"
wait_until 10 "the SIGHUP reload" gw_metric_is 'iha_gateway_config_reloads_total{result="success"}' 1
assert_metric 'iha_gateway_config_last_reload_successful' 1
gw_post /api/v1/alertmanager "$(custom_down compute-1)"
assert_eq "$HTTP_CODE" 200 "after SIGHUP: HTTP status"
assert_outcomes "$HTTP_BODY" '. == ["queued"]' "after SIGHUP: CustomDown is queued"
assert_json "$HTTP_BODY" '.results[0].rule == "custom-a"' "after SIGHUP: mapped by the new rule"
wait_until 20 "compute-1 stored by Masakari" \
    gw_metric_is 'iha_gateway_deliveries_total{outcome="delivered",code="202"}' 1
http GET "$GW_URL/api/v1/status" - -H "Authorization: Bearer $GW_TOKEN"
assert_json "$HTTP_BODY" '.rules == ["custom-a"] and .reload.last_successful' \
    "status: the new rules are listed"

# --- an invalid change by POST /-/reload: refused, the old rules stay -------------------
printf 'rules:\n  - name: broken\n    matchers: [%s]\n    type: COMPUTE_HOST\n' \
    "'alertname =~ \"(\"'" >"$GW_DIR/rules/zz-broken.yml"
gw_reload
assert_eq "$HTTP_CODE" 500 "invalid reload: HTTP status"
assert_json "$HTTP_BODY" '.error | startswith("failed to reload config: ") and contains("zz-broken.yml")' \
    "invalid reload: the answer names the broken file"
assert_metric 'iha_gateway_config_last_reload_successful' 0
assert_metric 'iha_gateway_config_reloads_total{result="failure"}' 1
grep -q 'msg="configuration reload failed; the previous configuration stays in force"' \
    "$GW_DIR/gateway.log" || fail "no log line for the failed reload"
ok "invalid reload: logged"
gw_post /api/v1/alertmanager "$(custom_down compute-2)"
assert_outcomes "$HTTP_BODY" '. == ["queued"]' "after the refused reload: the old rules still map"
assert_json "$HTTP_BODY" '.results[0].rule == "custom-a"' "after the refused reload: rule custom-a"
http POST "$GW_URL/-/reload"
assert_eq "$HTTP_CODE" 401 "POST /-/reload without a token: HTTP status"
rm -f "$GW_DIR/rules/zz-broken.yml"

# --- restart-only settings are reported by their keys, the rest applies -----------------
sed -i "s/^  listen_address: .*/  listen_address: \"127.0.0.1:1\"/" "$GW_DIR/config.yml"
sed -i "s|^  retry_for: .*|  retry_for: 7s\n  tls:\n    ca_file: /etc/ssl/certs/ca-certificates.crt|" \
    "$GW_DIR/config.yml"
gw_reload
assert_eq "$HTTP_CODE" 200 "restart-only change: HTTP status"
assert_json "$HTTP_BODY" '.status == "success" and (.detail | contains("web.listen_address"))' \
    "restart-only change: reported"
assert_json "$HTTP_BODY" \
    '.restart_required == ["web.listen_address", "instance_ha.retry_for", "instance_ha.tls.ca_file"]' \
    "restart-only change: every changed key named, instance_ha.tls included"
assert_json "$HTTP_BODY" '.detail | contains("instance_ha.tls.ca_file")' \
    "restart-only change: the detail names instance_ha.tls.ca_file"
grep -q 'msg="changed settings need a restart to apply" settings="web.listen_address, instance_ha.retry_for, instance_ha.tls.ca_file"' \
    "$GW_DIR/gateway.log" || fail "no log line naming the settings that need a restart"
ok "restart-only change: logged"
assert_metric 'iha_gateway_config_last_reload_successful' 1

# --- reloads under a bounded load: no request fails ------------------------------------
# Four senders, 40 requests each (an alert that maps, one no rule maps, a native body),
# while the rule file flips between two valid versions, reloaded by SIGHUP and POST.
sender() {
    local i code body
    for ((i = 0; i < 40; i++)); do
        case $((i % 3)) in
            0) body=$(custom_down compute-3) ;;
            1) body=$(webhook_body alertname=Unmapped instance=x:1) ;;
            2) body='{"type": "PROCESS", "hostname": "compute-3", "payload": {"event": "STOPPED", "process_name": "nova-compute"}}' ;;
        esac
        if ((i % 3 == 2)); then
            code=$(curl -sS -o /dev/null -w '%{http_code}' --max-time 30 \
                -H "Authorization: Bearer $GW_TOKEN" -H 'Content-Type: application/json' \
                --data-binary "$body" "$GW_URL/v1/notifications" || echo 000)
        else
            code=$(curl -sS -o /dev/null -w '%{http_code}' --max-time 30 \
                -H "Authorization: Bearer $GW_TOKEN" -H 'Content-Type: application/json' \
                --data-binary "$body" "$GW_URL/api/v1/alertmanager" || echo 000)
        fi
        echo "$code"
    done >"$WORK/sender.$1"
}
pids=""
for s in 1 2 3 4; do
    sender "$s" &
    pids+=" $!"
done
n_reloads=0
for ((k = 0; k < 10; k++)); do
    custom_rule "custom-$((k % 2))" >"$GW_DIR/rules/custom.yml"
    if ((k % 2)); then
        kill -HUP "$(gw_pid)"
    else
        gw_reload
        [[ "$HTTP_CODE" == 200 ]] || fail "reload $k under load: $HTTP_CODE $HTTP_BODY"
    fi
    n_reloads=$((n_reloads + 1))
    sleep 0.15
done
# shellcheck disable=SC2086
wait $pids
codes=$(cat "$WORK"/sender.* | sort | uniq -c | tr -s ' ' | sed 's/^ //')
log "answers during reloads: $(tr '\n' ';' <<<"$codes")"
total=$(cat "$WORK"/sender.* | wc -l)
assert_eq "$total" 160 "every request was answered"
bad=$(cat "$WORK"/sender.* | grep -vE '^(200|202|409)$' || true)
[[ -z "$bad" ]] || fail "requests failed during reloads: $(sort "$WORK"/sender.* | uniq -c)"
ok "no request failed during $n_reloads reloads ($(tr '\n' ' ' <<<"$codes"))"
# 1 SIGHUP + 1 restart-only + 10 here; the last SIGHUP may still be running.
wait_until 10 "every reload counted" gw_metric_is 'iha_gateway_config_reloads_total{result="success"}' 12
kill -0 "$(gw_pid)" || fail "the gateway died"
http GET "$GW_URL/api/v1/status" - -H "Authorization: Bearer $GW_TOKEN"
assert_json "$HTTP_BODY" '.rules == ["custom-1"] and (.reload.restart_required | index("web.listen_address")) != null' \
    "status: the last rules and the pending restart"
it_pass
