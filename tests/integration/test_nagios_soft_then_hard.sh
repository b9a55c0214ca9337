#!/usr/bin/env bash
# Real Nagios 4 runs iha-notify as compute-5's host event handler, which Nagios also runs on
# SOFT states. compute-5 fails SOFT (attempt 1), then HARD (attempt 2) with the same problem
# id and state-change time. The SOFT record is dropped; the HARD one must still reach
# Masakari as COMPUTE_HOST, not be answered with the SOFT record's remembered "dropped".
# Then two records under one record id with different content (as an older iha-notify
# spooled them): the second is processed, reaches Masakari, and the gateway logs a warning.
# shellcheck disable=SC2119  # start_* take optional arguments
source "$(dirname "$0")/lib.sh"
it_init nagios_soft_then_hard

NOTIFY_BIN=${IHA_NOTIFY_BIN:-$IT_ROOT/build/iha-notify}
[[ -x "$NOTIFY_BIN" ]] || fail "iha-notify binary not found: $NOTIFY_BIN (set IHA_NOTIFY_BIN)"
HOST_PAYLOAD='{"event": "STOPPED", "host_status": "NORMAL", "cluster_status": "OFFLINE"}'

host_count() { masakari_count "select(.type == \"COMPUTE_HOST\" and .hostname == \"$1\")"; }
host_count_is() { [[ "$(host_count "$1")" == "$2" ]]; }
nagios_log_has() { grep -q -- "$1" "$NAGIOS_LOG"; }

chmod 0711 "$WORK"
SPOOL="$WORK/iha-notify-spool"
TOKEN_FILE="$WORK/iha-notify.token"

start_masakari
seed_hosts seg1 compute-5 compute-6 compute-7
start_gateway
notify_setup "$TOKEN_FILE" "$SPOOL"

# The event handler gets no $NOTIFICATIONTYPE$; the rest comes from the NAGIOS_* environment
# (HOSTSTATE, HOSTSTATETYPE, HOSTATTEMPT, HOSTPROBLEMID, LASTHOSTSTATECHANGE).
{ nagios_24x7; cat <<EOF
define command {
    command_name check_dummy
    command_line \$USER1\$/check_dummy \$ARG1\$ "\$ARG2\$"
}
define command {
    command_name iha-event-handler
    command_line $NOTIFY --notification-type PROBLEM
}
define contact {
    contact_name                  nobody
    alias                         nobody
    host_notifications_enabled    0
    service_notifications_enabled 0
    host_notification_period      24x7
    service_notification_period   24x7
    host_notification_options     n
    service_notification_options  n
    host_notification_commands    iha-event-handler
    service_notification_commands iha-event-handler
}
define host {
    host_name              compute-5
    alias                  compute-5 (DOWN: SOFT 1, then HARD 2)
    address                127.0.0.1
    check_command          check_dummy!2!CRITICAL - simulated host down
    check_period           24x7
    notification_period    24x7
    contacts               nobody
    notifications_enabled  0
    event_handler          iha-event-handler
    event_handler_enabled  1
    check_interval         600
    retry_interval         3
    max_check_attempts     2
    active_checks_enabled  1
}
define service {
    host_name             compute-5
    service_description   nova-compute
    check_command         check_dummy!0!OK - nova-compute running
    check_period          24x7
    notification_period   24x7
    contacts              nobody
    check_interval        600
    retry_interval        600
    max_check_attempts    1
    notifications_enabled 0
}
EOF
} >"$WORK/objects.cfg"

start_nagios "$WORK/objects.cfg"
wait_until 30 "Nagios saw compute-5 fail SOFT" nagios_log_has "HOST ALERT: compute-5;DOWN;SOFT;1;"
# The next (retry) check now rather than on Nagios' schedule: it fails again, HARD.
nagios_cmd "SCHEDULE_FORCED_HOST_CHECK;compute-5;$(date +%s)"
wait_until 30 "Nagios saw compute-5 fail HARD" nagios_log_has "HOST ALERT: compute-5;DOWN;HARD;2;"
wait_until 30 "Nagios ran the event handler for the HARD state" \
    nagios_log_has "HOST EVENT HANDLER: compute-5;DOWN;HARD;2;"
wait_until 30 "a COMPUTE_HOST notification for compute-5 in Masakari" host_count_is compute-5 1
assert_json "$(masakari_notifications)" "[.[] | select(.hostname == \"compute-5\")][0]
    | .type == \"COMPUTE_HOST\" and .payload == $HOST_PAYLOAD" "COMPUTE_HOST compute-5 for the HARD state"
assert_contains "$(cat "$GW_DIR/gateway.log")" "nagios-soft-state-ignored" \
    "the SOFT record was dropped by its rule"

# --- a different record under a known record id -------------------------------------------
RID=0123456789abcdef0123456789abcdef
soft='{"dialect":"nagios","what":"HOST","hostname":"compute-6","host_state":"DOWN",
  "state_type":"SOFT","attempt":"1","notification_type":"PROBLEM","problem_id":"9",
  "state_change":"1795617731","record_id":"'$RID'"}'
hard=$(jq -c '.state_type = "HARD" | .attempt = "3"' <<<"$soft")
gw_post /api/v1/nagios "$soft"
assert_eq "$HTTP_CODE" 200 "SOFT record: HTTP status"
assert_json "$HTTP_BODY" '.results[0].result == "dropped"' "SOFT record dropped"
gw_post /api/v1/nagios "$soft"
assert_json "$HTTP_BODY" '.replayed == true' "the same SOFT record again: answered from memory"
gw_post /api/v1/nagios "$hard"
assert_eq "$HTTP_CODE" 200 "HARD record under the same id: HTTP status"
assert_json "$HTTP_BODY" '(.replayed // false) == false' "HARD record under the same id not replayed"
wait_until 30 "a COMPUTE_HOST notification for compute-6 in Masakari" host_count_is compute-6 1
assert_contains "$(cat "$GW_DIR/gateway.log")" "record id already answered for a different record" \
    "the gateway logged a warning for the different record"
# --- Checkmk's documented host context (no HOSTSTATETYPE, no MAXHOSTATTEMPTS) -------------
cmk_notify() {
    env -i PATH="$PATH" OMD_SITE=it NOTIFY_WHAT=HOST NOTIFY_CONTACTNAME=iha \
        NOTIFY_NOTIFICATIONTYPE="$1" NOTIFY_HOSTNAME=compute-7 NOTIFY_HOSTADDRESS=127.0.0.1 \
        NOTIFY_HOSTSTATE="$2" NOTIFY_LASTHOSTSTATE=UP NOTIFY_HOSTOUTPUT="CRIT - lost 100%" \
        NOTIFY_LASTHOSTSTATECHANGE=1795617731 NOTIFY_HOSTPROBLEMID=211 \
        NOTIFY_HOSTNOTIFICATIONNUMBER=1 $NOTIFY --dialect checkmk
}
cmk_notify ACKNOWLEDGEMENT DOWN || fail "iha-notify (Checkmk ACKNOWLEDGEMENT) exited $?"
cmk_notify PROBLEM UNREACH || fail "iha-notify (Checkmk UNREACH) exited $?"
assert_eq "$(host_count compute-7)" 0 "Checkmk ACKNOWLEDGEMENT and UNREACH send nothing"
cmk_notify PROBLEM DOWN || fail "iha-notify (Checkmk DOWN) exited $?"
wait_until 30 "a COMPUTE_HOST notification for compute-7 in Masakari" host_count_is compute-7 1
assert_json "$(masakari_notifications)" "[.[] | select(.hostname == \"compute-7\")][0]
    | .type == \"COMPUTE_HOST\" and .payload == $HOST_PAYLOAD" "Checkmk host DOWN: COMPUTE_HOST compute-7"
assert_eq "$(masakari_count)" 3 "Masakari holds exactly the three expected notifications"

assert_loopback_only
it_pass
