#!/usr/bin/env bash
# Plugin output that looks like an option stays data: real Nagios 4 -> iha-notify in the
# classic positional form -> iha-gateway -> real Masakari API.
#
# $HOSTOUTPUT$ / $SERVICEOUTPUT$ are what a check plugin printed, so a compromised host
# controls them. Here the plugin prints option-like text:
# - compute-5 (host DOWN):         --url=http://127.0.0.1:<rogue>/steal
# - compute-6 (host DOWN):         --token-file=/etc/hostname
# - compute-7 nova-compute (CRIT): --url=http://127.0.0.1:<rogue>/steal-service
# - compute-8 (host DOWN, forced check while the gateway is down): --url=<rogue>/steal-spooled
# Each notification must reach Masakari through the configured gateway URL with the
# configured token and the rogue listener (owned by this test) must receive nothing. The
# record spooled for compute-8 carries the output verbatim, and --flush delivers it.
# shellcheck disable=SC2119  # start_* take optional arguments
source "$(dirname "$0")/lib.sh"
it_init nagios_output_injection

NOTIFY_BIN=${IHA_NOTIFY_BIN:-$IT_ROOT/build/iha-notify}
[[ -x "$NOTIFY_BIN" ]] || fail "iha-notify binary not found: $NOTIFY_BIN (set IHA_NOTIFY_BIN)"
HOST_PAYLOAD='{"event": "STOPPED", "host_status": "NORMAL", "cluster_status": "OFFLINE"}'

count_of() { masakari_count "select(.type == \"$1\" and .hostname == \"$2\")"; }
spool_files() { find "$SPOOL" -maxdepth 1 -name '*.json' | sort; }
rogue_requests() { cat "$ROGUE_LOG" 2>/dev/null || true; }
# The notification went somewhere: Masakari, the rogue listener or the spool.
settled() {
    [[ "$(count_of "$1" "$2")" -gt 0 || -s "$ROGUE_LOG" || -n "$(spool_files)" ]]
}
assert_no_rogue_request() {
    [[ -z "$(rogue_requests)" ]] ||
        fail "$1: the rogue listener received: $(head -c 1000 "$ROGUE_LOG")"
    ok "$1: nothing reached the rogue listener"
}

chmod 0711 "$WORK"
SPOOL="$WORK/iha-notify-spool"
TOKEN_FILE="$WORK/iha-notify.token"

# A listener that records every request it gets and answers 200, as a thief would.
ROGUE_DIR=$(_new_dir rogue)
ROGUE_PORT=$(free_port)
ROGUE_LOG="$ROGUE_DIR/requests.log"
cat >"$ROGUE_DIR/rogue.py" <<'PYEOF'
import http.server, sys
port, logf = int(sys.argv[1]), sys.argv[2]
class H(http.server.BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass
    def do_any(self):
        n = int(self.headers.get("Content-Length", "0") or 0)
        body = self.rfile.read(n) if n else b""
        with open(logf, "a") as f:
            f.write("%s %s authorization=%s body=%s\n" % (self.command, self.path,
                    "yes" if self.headers.get("Authorization") else "no", body[:300]))
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")
    do_GET = do_POST = do_PUT = do_any
http.server.ThreadingHTTPServer(("127.0.0.1", port), H).serve_forever()
PYEOF
require_port_free "$ROGUE_PORT" rogue-listener
"$PY" "$ROGUE_DIR/rogue.py" "$ROGUE_PORT" "$ROGUE_LOG" >"$ROGUE_DIR/rogue.log" 2>&1 </dev/null &
_track rogue $!
wait_until 20 "the rogue listener is up" port_busy "$ROGUE_PORT"
ROGUE_URL="http://127.0.0.1:$ROGUE_PORT"
# The listener works: what reaches it is recorded (then forgotten).
curl -fsS -o /dev/null --max-time 5 "$ROGUE_URL/probe" || fail "the rogue listener does not answer"
[[ -s "$ROGUE_LOG" ]] || fail "the rogue listener did not record the probe"
: >"$ROGUE_LOG"
ok "the rogue listener at $ROGUE_URL records requests"

start_masakari
seed_hosts seg1 compute-5 compute-6 compute-7 compute-8
start_gateway
GW_KEEP_PORT=$GW_PORT
notify_setup "$TOKEN_FILE" "$SPOOL"

OUT5="--url=$ROGUE_URL/steal"
OUT6="--token-file=/etc/hostname"
OUT7="--url=$ROGUE_URL/steal-service"
OUT8="--url=$ROGUE_URL/steal-spooled"

# A plugin that prints its first argument and exits with its second, like any check whose
# output the monitored host shapes.
cat >"$WORK/check_echo" <<'EOF'
#!/bin/sh
printf '%s\n' "$1"
exit "$2"
EOF
chmod 0755 "$WORK/check_echo"

{ nagios_24x7; cat <<EOF
define command {
    command_name check_echo
    command_line $WORK/check_echo "\$ARG1\$" \$ARG2\$
}
# The classic positional form: OUTPUT comes after the options.
define command {
    command_name notify-iha-host
    command_line $NOTIFY host "\$HOSTNAME\$" "\$HOSTSTATE\$" "\$NOTIFICATIONTYPE\$" "\$HOSTOUTPUT\$" "\$LONGDATETIME\$"
}
define command {
    command_name notify-iha-service
    command_line $NOTIFY service "\$HOSTNAME\$" "\$SERVICEDESC\$" "\$SERVICESTATE\$" "\$NOTIFICATIONTYPE\$" "\$SERVICEOUTPUT\$" "\$LONGDATETIME\$"
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
    host_name            compute-5
    check_command        check_echo!$OUT5!2
}
define host {
    use                  compute-template
    host_name            compute-6
    check_command        check_echo!$OUT6!2
}
define host {
    use                  compute-template
    host_name            compute-7
    check_command        check_echo!OK - up!0
}
# No scheduled check: only the forced one below, while the gateway is down.
define host {
    use                   compute-template
    host_name             compute-8
    check_command         check_echo!$OUT8!2
    active_checks_enabled 0
}
define service {
    host_name             compute-7
    service_description   nova-compute
    check_command         check_echo!$OUT7!2
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

start_nagios "$WORK/objects.cfg"

# --- host output "--url=<rogue>" ------------------------------------------------------------
wait_until 60 "compute-5's notification went somewhere" settled COMPUTE_HOST compute-5
assert_no_rogue_request "host output $OUT5"
wait_until 30 "a COMPUTE_HOST notification for compute-5 in Masakari" \
    test "$(count_of COMPUTE_HOST compute-5)" -eq 1
assert_json "$(masakari_notifications)" "[.[] | select(.hostname == \"compute-5\")]
    | length == 1 and .[0].payload == $HOST_PAYLOAD" "COMPUTE_HOST compute-5 with its payload"
assert_contains "$(cat "$NAGIOS_LOG")" "HOST NOTIFICATION: iha-gateway;compute-5;DOWN;notify-iha-host;$OUT5" \
    "Nagios passed the plugin output to iha-notify"

# --- host output "--token-file=/etc/hostname" -----------------------------------------------
wait_until 60 "compute-6's notification went somewhere" settled COMPUTE_HOST compute-6
assert_eq "$(spool_files | wc -l)" 0 "compute-6: nothing spooled (the gateway took the token)"
wait_until 30 "a COMPUTE_HOST notification for compute-6 in Masakari" \
    test "$(count_of COMPUTE_HOST compute-6)" -eq 1

# --- service output "--url=<rogue>" ---------------------------------------------------------
wait_until 60 "compute-7's nova-compute notification went somewhere" settled PROCESS compute-7
assert_no_rogue_request "service output $OUT7"
wait_until 30 "a PROCESS notification for compute-7 in Masakari" \
    test "$(count_of PROCESS compute-7)" -eq 1

assert_eq "$(spool_files | wc -l)" 0 "nothing spooled while the gateway was up"

# --- gateway down: the record is spooled with the output as it came --------------------------
stop_gateway
nagios_cmd "SCHEDULE_FORCED_HOST_CHECK;compute-8;$(date +%s)"
wait_until 60 "compute-8's notification went somewhere" settled COMPUTE_HOST compute-8
assert_no_rogue_request "host output $OUT8 with the gateway down"
spooled=$(spool_files)
assert_eq "$(wc -l <<<"$spooled")" 1 "one spooled record"
assert_json "$(cat "$spooled")" ".hostname == \"compute-8\" and .host_state == \"DOWN\"
    and .notification_type == \"PROBLEM\" and .output == $(jq -n --arg v "$OUT8" '$v')" \
    "the spooled record carries the plugin output verbatim"
GW_PORT=$GW_KEEP_PORT start_gateway
runuser -u nagios -- $NOTIFY --flush || fail "iha-notify --flush exited $?"
assert_eq "$(spool_files | wc -l)" 0 "the spool is empty after --flush"
wait_until 30 "--flush delivered compute-8 to Masakari" \
    test "$(count_of COMPUTE_HOST compute-8)" -eq 1

assert_no_rogue_request "at the end"
assert_eq "$(masakari_count)" 4 "Masakari holds exactly the four expected notifications"
assert_loopback_only
it_pass
