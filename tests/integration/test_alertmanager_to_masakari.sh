#!/usr/bin/env bash
# End to end: real Alertmanager -> iha-gateway -> real Masakari API.
#
# - a HostDown alert for compute-1 pushed into Alertmanager ends as exactly one
#   COMPUTE_HOST notification {event: STOPPED, host_status: NORMAL, cluster_status: OFFLINE}
# - Alertmanager's repeats and direct re-posts of the same webhook do not create a second one
# - NovaComputeDown for compute-2 ends as one PROCESS {event: STOPPED, process_name: nova-compute}
# - Alertmanager never saw a failed delivery; everything listened on loopback only
# shellcheck disable=SC2119  # start_* take optional arguments
source "$(dirname "$0")/lib.sh"
it_init alertmanager_to_masakari

HOST_PAYLOAD='{"event": "STOPPED", "host_status": "NORMAL", "cluster_status": "OFFLINE"}'
PROC_PAYLOAD='{"event": "STOPPED", "process_name": "nova-compute"}'

# count_is JQ_SELECT N: exactly N stored notifications match.
count_is() { [[ "$(masakari_count "$1")" == "$2" ]]; }

# am_log_count MSG: "Notify success" or "Notify for alerts failed" lines so far.
am_log_count() { grep -c -- "msg=\"$1\"" "$AM_DIR/alertmanager.log" || true; }
# am_successes_at_least N: Alertmanager logged at least N successful deliveries.
am_successes_at_least() { (($(am_log_count "Notify success") >= $1)); }

start_masakari
seed_hosts seg1 compute-1 compute-2
start_gateway
# repeat_interval 3s: Alertmanager re-sends the unchanged group every few seconds,
# like a long outage does with the default 4h.
AM_REPEAT_INTERVAL=3s start_alertmanager

# --- 1. HostDown -> one COMPUTE_HOST notification ---------------------------------
am_add_alert alertname=HostDown severity=critical hostname=compute-1 \
    instance=compute-1:9100 job=node
wait_until 30 "a COMPUTE_HOST notification for compute-1 in Masakari" \
    count_is 'select(.type == "COMPUTE_HOST" and .hostname == "compute-1")' 1
notes=$(masakari_notifications)
assert_json "$notes" 'length == 1' "Masakari holds exactly one notification"
assert_json "$notes" ".[0].type == \"COMPUTE_HOST\" and .[0].hostname == \"compute-1\"
    and .[0].payload == $HOST_PAYLOAD" "COMPUTE_HOST compute-1 with the evacuation payload"
assert_json "$notes" '.[0].status == "new"' "stored as new (no engine)"
first_uuid=$(jq -r '.[0].notification_uuid' <<<"$notes")

# --- 2. repeats: Alertmanager re-sends, the same webhook posted directly twice --------
success_before=$(am_log_count "Notify success")
wait_until 30 "Alertmanager repeated the HostDown notification twice" \
    am_successes_at_least $((success_before + 2))
ok "Alertmanager repeated the notification ($(am_log_count "Notify success") successes)"

body=$(webhook_body alertname=HostDown severity=critical hostname=compute-1 \
    instance=compute-1:9100 job=node)
for i in 1 2; do
    gw_post /api/v1/alertmanager "$body"
    assert_eq "$HTTP_CODE" 200 "direct re-post #$i of the HostDown webhook: HTTP status"
    assert_outcomes "$HTTP_BODY" 'length == 1 and all(.[]; . == "deduplicated" or . == "duplicate")' \
        "re-post #$i is a duplicate"
done
# The same alert pushed into Alertmanager again (a second Prometheus sending it).
am_add_alert alertname=HostDown severity=critical hostname=compute-1 \
    instance=compute-1:9100 job=node
sleep 4 # past one group_interval: whatever Alertmanager sends has been sent
notes=$(masakari_notifications)
assert_json "$notes" 'length == 1' "still exactly one notification after the repeats"
assert_json "$notes" ".[0].notification_uuid == \"$first_uuid\"" "and it is the first one"

# --- 3. NovaComputeDown for compute-2 -> one PROCESS notification -----------------
am_add_alert alertname=NovaComputeDown severity=critical hostname=compute-2 \
    instance=compute-2:9100 job=openstack service=nova-compute
wait_until 30 "a PROCESS notification for compute-2 in Masakari" \
    count_is 'select(.type == "PROCESS" and .hostname == "compute-2")' 1
notes=$(masakari_notifications)
assert_json "$notes" "[.[] | select(.type == \"PROCESS\")] | length == 1
    and .[0].hostname == \"compute-2\" and .[0].payload == $PROC_PAYLOAD" \
    "PROCESS compute-2 {event: STOPPED, process_name: nova-compute}"
assert_json "$notes" 'length == 2' "two notifications in total"
sleep 4 # one more repeat cycle of both groups
assert_json "$(masakari_notifications)" 'length == 2' "still two after another repeat cycle"

# --- 4. resolving HostDown is answered 2xx and evacuates nothing more ------------
am_add_alert --resolved alertname=HostDown severity=critical hostname=compute-1 \
    instance=compute-1:9100 job=node
wait_until 30 "Alertmanager flushed the resolved HostDown" \
    grep -qE 'msg=flushing alerts=\[HostDown\[[0-9a-f]+\]\[resolved\]\]' "$AM_DIR/alertmanager.log"
sleep 1 # its delivery result is logged right after; section 5 checks it succeeded
assert_json "$(masakari_notifications)" \
    "[.[] | select(.type == \"COMPUTE_HOST\" and .payload.event == \"STOPPED\")] | length == 1" \
    "still one COMPUTE_HOST STOPPED after the resolution"

# --- 5. Alertmanager saw only successes ---------------------------------------------
failed=$(am_log_count "Notify for alerts failed")
if [[ "$failed" != 0 ]]; then
    grep -- 'Notify for alerts failed' "$AM_DIR/alertmanager.log" | tail -n 5 >&2
    fail "Alertmanager logged $failed failed notification(s)"
fi
ok "Alertmanager logged no failed notification ($(am_log_count "Notify success") successes)"
assert_loopback_only

it_pass
