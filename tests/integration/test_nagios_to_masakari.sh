#!/usr/bin/env bash
# End to end: real Nagios 4 -> iha-notify -> iha-gateway -> real Masakari API.
#
# - compute-1's host check fails HARD at once: Nagios runs iha-notify, Masakari stores one
#   COMPUTE_HOST notification {event: STOPPED, host_status: NORMAL, cluster_status: OFFLINE}
# - compute-3 fails SOFT (max_check_attempts 3, long retry_interval): Nagios notifies
#   nothing and Masakari stores nothing for it
# - with the gateway stopped, compute-4 goes DOWN (passive result, HARD): the record lands in
#   iha-notify's spool; after the gateway is back, `iha-notify --flush` delivers it exactly
#   once, a second --flush sends nothing, and re-posting the record gets the remembered
#   answer ("replayed") without a second notification
# - a 0777 spool is refused by --flush with the chmod to run, and a record planted there
#   reaches neither the gateway nor Masakari
# Nagios runs iha-notify as the `nagios` user: the spool and token file belong to it.
# shellcheck disable=SC2119  # start_* take optional arguments
source "$(dirname "$0")/lib.sh"
it_init nagios_to_masakari

NOTIFY_BIN=${IHA_NOTIFY_BIN:-$IT_ROOT/build/iha-notify}
[[ -x "$NOTIFY_BIN" ]] || fail "iha-notify binary not found: $NOTIFY_BIN (set IHA_NOTIFY_BIN)"
HOST_PAYLOAD='{"event": "STOPPED", "host_status": "NORMAL", "cluster_status": "OFFLINE"}'

count_is() { [[ "$(masakari_count "$1")" == "$2" ]]; }
host_count() { masakari_count "select(.hostname == \"$1\")"; }
spool_files() { find "$SPOOL" -maxdepth 1 -name '*.json' -type f | sort; }
spool_has_file() { [[ -n "$(spool_files)" ]]; }
nagios_log_has() { grep -q -- "$1" "$NAGIOS_LOG"; }
as_nagios() { runuser -u nagios -- "$@"; }

# The nagios user must reach everything iha-notify touches inside the private work dir.
chmod 0711 "$WORK"
SPOOL="$WORK/iha-notify-spool"
TOKEN_FILE="$WORK/iha-notify.token"

start_masakari
seed_hosts seg1 compute-1 compute-3 compute-4
start_gateway
GW_KEEP_PORT=$GW_PORT
notify_setup "$TOKEN_FILE" "$SPOOL"

# The command definitions of deploy/nagios/commands.cfg, pointed at this test's files.
{ nagios_24x7; cat <<EOF
define command {
    command_name check_dummy
    command_line \$USER1\$/check_dummy \$ARG1\$ "\$ARG2\$"
}
define command {
    command_name notify-iha-host
    command_line $NOTIFY --host-name "\$HOSTNAME\$" --host-state "\$HOSTSTATE\$" --state-type "\$HOSTSTATETYPE\$" --notification-type "\$NOTIFICATIONTYPE\$" --output "\$HOSTOUTPUT\$" --host-address "\$HOSTADDRESS\$" --problem-id "\$HOSTPROBLEMID\$"
}
define command {
    command_name notify-iha-service
    command_line $NOTIFY --host-name "\$HOSTNAME\$" --service-desc "\$SERVICEDESC\$" --service-state "\$SERVICESTATE\$" --state-type "\$SERVICESTATETYPE\$" --notification-type "\$NOTIFICATIONTYPE\$" --output "\$SERVICEOUTPUT\$" --problem-id "\$SERVICEPROBLEMID\$"
}
define contact {
    contact_name                  iha-gateway
    alias                         Instance HA gateway
    host_notifications_enabled    1
    service_notifications_enabled 1
    host_notification_period      24x7
    service_notification_period   24x7
    host_notification_options     d,u,r,f,s
    service_notification_options  w,u,c,r,f,s
    host_notification_commands    notify-iha-host
    service_notification_commands notify-iha-service
}
define host {
    name                       compute-template
    register                   0
    address                    127.0.0.1
    check_period               24x7
    notification_period        24x7
    contacts                   iha-gateway
    notification_interval      0
    first_notification_delay   0
    notification_options       d,u,r,f,s
    check_interval             600
    retry_interval             600
    max_check_attempts         1
    active_checks_enabled      1
    passive_checks_enabled     1
}
define host {
    use                  compute-template
    host_name            compute-1
    alias                compute-1 (always DOWN, HARD at once)
    check_command        check_dummy!2!CRITICAL - simulated host down
    _MASAKARI_SEGMENT    seg1
}
define host {
    use                  compute-template
    host_name            compute-3
    alias                compute-3 (DOWN, but SOFT for 10 minutes)
    check_command        check_dummy!2!CRITICAL - simulated soft failure
    max_check_attempts   3
}
define host {
    use                  compute-template
    host_name            compute-4
    alias                compute-4 (UP until a passive DOWN arrives)
    check_command        check_dummy!0!OK - up
}
# Nagios refuses to start without a service; this one stays OK.
define service {
    host_name             compute-4
    service_description   nova-compute
    check_command         check_dummy!0!OK - nova-compute running
    check_period          24x7
    notification_period   24x7
    contacts              iha-gateway
    check_interval        600
    retry_interval        600
    max_check_attempts    1
    notification_interval 0
}
EOF
} >"$WORK/objects.cfg"

t_start=$EPOCHREALTIME
start_nagios "$WORK/objects.cfg"

# --- 1. HARD host failure -> one COMPUTE_HOST notification ----------------------------
wait_until 60 "a COMPUTE_HOST notification for compute-1 in Masakari" \
    count_is 'select(.type == "COMPUTE_HOST" and .hostname == "compute-1")' 1
ok "compute-1 reached Masakari $(awk -v a="$t_start" -v b="$EPOCHREALTIME" \
    'BEGIN { printf "%.1f", b - a }') s after Nagios started"
notes=$(masakari_notifications)
assert_json "$notes" "[.[] | select(.hostname == \"compute-1\")] | length == 1
    and .[0].payload == $HOST_PAYLOAD" "COMPUTE_HOST compute-1 with the evacuation payload"
assert_contains "$(cat "$NAGIOS_LOG")" "HOST NOTIFICATION: iha-gateway;compute-1;DOWN;notify-iha-host" \
    "Nagios logged the notification"
assert_contains "$(cat "$GW_DIR/gateway.log")" "nagios-host-down" "the gateway applied nagios-host-down"
assert_eq "$(spool_files | wc -l)" 0 "nothing spooled while the gateway was up"

# --- 2. SOFT failure -> nothing ------------------------------------------------------------
wait_until 30 "Nagios saw compute-3 fail SOFT" nagios_log_has "HOST ALERT: compute-3;DOWN;SOFT;1;"
sleep 3 # a notification would have run by now (compute-1's took well under that)
if nagios_log_has "HOST NOTIFICATION: iha-gateway;compute-3"; then
    fail "Nagios notified a SOFT state of compute-3"
fi
ok "Nagios sent no notification for the SOFT state"
assert_eq "$(host_count compute-3)" 0 "Masakari holds nothing for compute-3"

# --- 3. gateway down -> spool; back up -> --flush delivers exactly once --------------------
stop_gateway
nagios_cmd "PROCESS_HOST_CHECK_RESULT;compute-4;1;CRITICAL - compute-4 lost power"
wait_until 30 "the compute-4 record in the spool" spool_has_file
wait_until 30 "Nagios logged the compute-4 notification" \
    nagios_log_has "HOST NOTIFICATION: iha-gateway;compute-4;DOWN"
spooled=$(spool_files)
assert_eq "$(wc -l <<<"$spooled")" 1 "one spooled record"
record=$(cat "$spooled")
assert_json "$record" '.hostname == "compute-4" and .host_state == "DOWN" and .state_type == "HARD"
    and .notification_type == "PROBLEM" and (.record_id | test("^[0-9a-f]{32}$"))' \
    "the spooled record carries the macros and a record id"
assert_eq "$(stat -c %U "$spooled")" nagios "the spool file belongs to the nagios user"
assert_eq "$(host_count compute-4)" 0 "Masakari has nothing for compute-4 yet"

GW_PORT=$GW_KEEP_PORT start_gateway
t_flush=$EPOCHREALTIME
as_nagios $NOTIFY --flush || fail "iha-notify --flush exited $?"
ok "iha-notify --flush took $(awk -v a="$t_flush" -v b="$EPOCHREALTIME" \
    'BEGIN { printf "%.2f", b - a }') s"
assert_eq "$(spool_files | wc -l)" 0 "the spool is empty after --flush"
assert_eq "$(host_count compute-4)" 1 "Masakari holds exactly one notification for compute-4"
assert_json "$(masakari_notifications)" "[.[] | select(.hostname == \"compute-4\")][0]
    | .type == \"COMPUTE_HOST\" and .payload == $HOST_PAYLOAD" "COMPUTE_HOST compute-4"

as_nagios $NOTIFY --flush || fail "second iha-notify --flush exited $?"
sleep 1
assert_eq "$(host_count compute-4)" 1 "a second --flush sent nothing more"

# The same record again (a crash between the answer and the unlink): the remembered answer.
gw_post /api/v1/nagios "$record"
assert_eq "$HTTP_CODE" 200 "re-sent record: HTTP status"
assert_json "$HTTP_BODY" '.replayed == true' "re-sent record answered from memory"
assert_eq "$(host_count compute-4)" 1 "still exactly one notification for compute-4"

# Form-encoded, as from curl -d: a RECOVERY is dropped by its rule, with the reason.
http POST "$GW_URL/api/v1/nagios" - -H "Authorization: Bearer $GW_TOKEN" \
    --data-urlencode hostname=compute-4 --data-urlencode notification_type=RECOVERY \
    --data-urlencode host_state=UP --data-urlencode "output=OK - back"
assert_eq "$HTTP_CODE" 200 "form-encoded RECOVERY: HTTP status"
assert_json "$HTTP_BODY" '.results[0].result == "dropped"
    and .results[0].rule == "nagios-recovery-ignored"' "RECOVERY dropped by nagios-recovery-ignored"
assert_eq "$(masakari_count)" 2 "Masakari holds exactly the two expected notifications"

# --- a spool other local users can write is refused; a record planted there is not sent ----
loose="$WORK/loose-spool"
install -d -o nagios -g nagios -m 0777 "$loose"
printf '%s\n' '{"dialect":"nagios","what":"HOST","hostname":"compute-3","host_state":"DOWN",
  "state_type":"HARD","notification_type":"PROBLEM","record_id":"0000000000000000planted000000000"}' |
    jq -c . >"$loose/00000000000000000001-planted-1.json"
chmod 0644 "$loose/00000000000000000001-planted-1.json"
rc=0
as_nagios $NOTIFY --flush --spool-dir="$loose" 2>"$WORK/loose-flush.log" || rc=$?
assert_eq "$rc" 1 "--flush on a 0777 spool: exit status"
assert_contains "$(cat "$WORK/loose-flush.log")" "$loose has mode 0777" \
    "the refusal names the spool and its mode"
assert_contains "$(cat "$WORK/loose-flush.log")" "chmod 0700 $loose" "the refusal says how to fix it"
if grep -q "host=compute-3" "$GW_DIR/gateway.log"; then
    fail "the planted record reached the gateway: $(grep -m1 host=compute-3 "$GW_DIR/gateway.log")"
fi
ok "the planted record did not reach the gateway"
assert_eq "$(host_count compute-3)" 0 "Masakari holds nothing for compute-3"
assert_eq "$(find "$loose" -name '*.json' | wc -l)" 1 "the planted record is left where it was"

assert_loopback_only
it_pass
