#!/usr/bin/env bash
# The failover segment client against the real masakari-api (noauth2, sqlite): segments and
# hosts seeded into Masakari's database are read with their names, uuids and sizes, through
# Masakari's own paging (limit and marker) when the page limit is small; a refresh picks up a
# new host; with Masakari stopped, lookups still answer from the last snapshot, the status
# shows the error and the log says it once, without the token; after Masakari is back the
# next refresh succeeds. The client is driven by segments_probe (tests only).
source "$(dirname "$0")/lib.sh"
it_init segments

PROBE_BIN=${IHA_SEGMENTS_PROBE:-$IT_ROOT/build/tests/segments_probe}
[[ -x "$PROBE_BIN" ]] || fail "segments_probe not found: $PROBE_BIN (set IHA_SEGMENTS_PROBE)"
TOKEN="static-token-$RANDOM$RANDOM$RANDOM"
PROBE_DIR=""
PROBE_PID=""
PROBE_OUT=""

# probe_start ARGS...: starts the probe against MASAKARI_URL with the static token and reads
# its first line ({"ready": ..., "status": ...}) into PROBE_OUT.
probe_start() {
    PROBE_DIR=$(_new_dir probe)
    (
        umask 077
        printf '%s\n' "$TOKEN" >"$PROBE_DIR/token"
    )
    coproc PROBE { exec "$PROBE_BIN" --url "$MASAKARI_URL" --token-file "$PROBE_DIR/token" \
        "$@" 2>"$PROBE_DIR/probe.log"; }
    _track probe "$PROBE_PID"
    probe_read
}

# probe_read: the probe's next line into PROBE_OUT (bounded).
probe_read() {
    PROBE_OUT=""
    if ! IFS= read -r -t 90 PROBE_OUT <&"${PROBE[0]}"; then
        fail "no answer from segments_probe"
    fi
}

# probe CMD: sends one command and reads its answer into PROBE_OUT.
probe() {
    printf '%s\n' "$1" >&"${PROBE[1]}"
    probe_read
}

# probe_quit: ends the probe and checks it exits 0.
probe_quit() {
    local pid=$PROBE_PID rc=0
    printf 'quit\n' >&"${PROBE[1]}"
    wait_until 30 "segments_probe to exit" _gone "$pid"
    wait "$pid" || rc=$?
    assert_eq "$rc" 0 "segments_probe exit status"
    stop_named probe
}
_gone() { ! _running "$1"; }

# remember_uuids: every segment's uuid as Masakari lists it, kept for when it is stopped.
declare -A SEG_UUID=()
remember_uuids() {
    local name uuid
    while read -r name uuid; do
        SEG_UUID[$name]=$uuid
    done < <(curl -fsS --max-time 30 "$MASAKARI_URL/v1/segments" |
        jq -r '.segments[] | "\(.name) \(.uuid)"')
}
seg_uuid() { echo "${SEG_UUID[$1]:?no uuid remembered for segment $1}"; }

# expect_host HOST SEGMENT SIZE: the probe's last lookup answered HOST with SEGMENT of SIZE.
expect_host() {
    assert_json "$PROBE_OUT" ".[\"$1\"] == {segment: \"$2\", uuid: \"$(seg_uuid "$2")\", hosts: $3}" \
        "$1 is in $2 ($3 hosts)"
}

# segment_gets: the client's GET requests (with a limit) in masakari-api's log so far.
segment_gets() {
    cat "$MASAKARI_DIR"/log/*.log 2>/dev/null | grep -cE '"GET /v1/segments[^ ]*limit=' || true
}

start_masakari
seed_many_hosts rack-a a 10
seed_many_hosts rack-b b 10
remember_uuids

log "--- two segments of 10 hosts, Masakari's default page"
probe_start
assert_json "$PROBE_OUT" '.ready == true' "the first snapshot is in"
assert_json "$PROBE_OUT" '.status.segments == 2 and .status.hosts == 20' "2 segments, 20 hosts"
probe "lookup a-3 b-7 a-9 c-0 A-3"
expect_host a-3 rack-a 10
expect_host b-7 rack-b 10
expect_host a-9 rack-a 10
assert_json "$PROBE_OUT" '.["c-0"].error == "notfound"' "an unknown host is not found"
assert_json "$PROBE_OUT" '.["A-3"].error == "notfound"' "host names match exactly"
probe_quit

log "--- 60 more hosts in 3 segments, 4 items a page"
seed_many_hosts rack-c c 30
seed_many_hosts rack-d d 24
seed_many_hosts rack-e e 8
remember_uuids
before=$(segment_gets)
probe_start --page-limit 4
assert_json "$PROBE_OUT" '.ready == true and .status.segments == 5 and .status.hosts == 82' \
    "5 segments, 82 hosts through pages of 4"
probe "lookup a-0 b-9 c-0 c-29 d-0 d-23 e-7"
expect_host a-0 rack-a 10
expect_host b-9 rack-b 10
expect_host c-0 rack-c 30
expect_host c-29 rack-c 30
expect_host d-0 rack-d 24
expect_host d-23 rack-d 24
expect_host e-7 rack-e 8
# segments 4+1; hosts a 4+4+2, b 4+4+2, c 7x4+2, d 6x4+0, e 4+4+0: 2+3+3+8+7+3 requests
assert_eq "$(($(segment_gets) - before))" 26 "GET requests of one paged refresh"
assert_contains "$(cat "$MASAKARI_DIR"/log/*.log)" "/hosts?limit=4&marker=" \
    "host pages asked for with a marker"

log "--- a new host, picked up by a refresh"
seed_hosts rack-e e-new
probe refresh
assert_json "$PROBE_OUT" '.refresh == "ok" and .status.hosts == 83' "the refresh sees 83 hosts"
probe "lookup e-new e-0"
expect_host e-new rack-e 9
expect_host e-0 rack-e 9

log "--- Masakari stopped after the first snapshot"
pause_masakari
probe refresh
assert_json "$PROBE_OUT" '.refresh == "I/O error"' "the refresh fails"
assert_json "$PROBE_OUT" '.status.ready == true and .status.segments == 5 and .status.hosts == 83' \
    "the status still counts the last snapshot"
assert_json "$PROBE_OUT" '.status.consecutive_failures >= 1' "the status counts the failure"
assert_json "$PROBE_OUT" '.status.last_error | test("^GET /v1/segments\\?limit=4: .*(onnect|refused)")' \
    "the status shows the error"
assert_json "$PROBE_OUT" '.status.last_success | test("^[0-9]{4}-[0-9]{2}-[0-9]{2}T")' \
    "the status keeps the last success"
probe refresh
assert_json "$PROBE_OUT" '.refresh == "I/O error" and .status.consecutive_failures >= 2' \
    "a second refresh fails too"
probe "lookup a-3 e-new c-29"
expect_host a-3 rack-a 10
expect_host e-new rack-e 9
expect_host c-29 rack-c 30
warns=$(grep -c 'level=warn msg="segments: cannot refresh the failover segments' \
    "$PROBE_DIR/probe.log" || true)
assert_eq "$warns" 1 "warning lines for the outage"
assert_contains "$(cat "$PROBE_DIR/probe.log")" "snapshot=\"5 segments, 83 hosts" \
    "the warning names the snapshot still in force"
if grep -q "$TOKEN" "$PROBE_DIR/probe.log"; then
    fail "the token is in the probe's log"
fi
ok "the token is not in the log"

log "--- Masakari back"
resume_masakari
probe refresh
assert_json "$PROBE_OUT" '.refresh == "ok" and .status.consecutive_failures == 0' "the refresh works again"
assert_contains "$(cat "$PROBE_DIR/probe.log")" 'msg="segments: failover segments refreshed again"' \
    "the recovery is logged"
if grep -q "$TOKEN" <<<"$PROBE_OUT"; then
    fail "the token is in the status"
fi
probe_quit
it_pass
