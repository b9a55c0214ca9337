# shellcheck shell=bash
# Helpers for the iha-gateway integration tests (sourced, not run).
#
# Each test script does:
#     source "$(dirname "$0")/lib.sh"
#     it_init NAME
#     start_masakari; seed_hosts seg1 compute-1 ...; start_gateway; ...
#     it_pass
#
# Everything binds 127.0.0.1, every wait has a deadline, every process is
# stopped by the PID this file saved, and the private work dir under
# ${TMPDIR:-/tmp} is removed on exit (kept when IHA_TEST_KEEP=1). On failure the
# tail of every log is printed.
#
# Environment:
#   IHA_GATEWAY_BIN              the gateway binary (ctest sets it; default build/iha-gateway)
#   IHA_TEST_MASAKARI_UNPATCHED  1 = run Debian's masakari-api as shipped (every create
#                                answers 500, LP #2030976) instead of the launcher
#   IHA_TEST_KEEP                1 = keep the work dir
#   IHA_TEST_LOG_LINES           lines of each log printed on failure (default 60)

set -euo pipefail

IT_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
IT_ROOT=$(cd "$IT_LIB_DIR/../.." && pwd)
PY=/usr/bin/python3   # Debian's python: it sees masakari in dist-packages

IT_NAME=""
WORK=""
IT_PIDS=()        # "name:pid" of everything we started, stopped in reverse order
IT_USED_PORTS=" "
IT_CHECKS=0
IT_DONE=0
IT_T0=$EPOCHREALTIME

MASAKARI_PORT=""
MASAKARI_URL=""
MASAKARI_DIR=""
MASAKARI_DB=""
AM_PORT=""
AM_URL=""
AM_DIR=""
GW_PORT=""
GW_URL=""
GW_DIR=""
GW_TOKEN=""

# ---------------------------------------------------------------------------
# logging and assertions

log() { printf '[%s %6.1fs] %s\n' "${IT_NAME:-it}" "$(_elapsed)" "$*" >&2; }
_elapsed() { awk -v a="$IT_T0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }'; }

# fail MESSAGE...: prints the message and ends the test (the EXIT trap cleans up).
fail() {
    printf '\n[%s] FAIL: %s\n' "${IT_NAME:-it}" "$*" >&2
    exit 1
}

ok() {
    IT_CHECKS=$((IT_CHECKS + 1))
    log "ok: $*"
}

# assert_eq ACTUAL EXPECTED WHAT
assert_eq() {
    if [[ "$1" != "$2" ]]; then
        fail "$3: expected '$2', got '$1'"
    fi
    ok "$3 = '$2'"
}

# assert_json JSON JQ_FILTER WHAT: the filter must yield true.
assert_json() {
    local json=$1 filter=$2 what=$3
    if ! jq -e "$filter" >/dev/null 2>&1 <<<"$json"; then
        fail "$what: '$filter' is not true for: $(head -c 2000 <<<"$json")"
    fi
    ok "$what"
}

# assert_contains HAYSTACK NEEDLE WHAT
assert_contains() {
    if [[ "$1" != *"$2"* ]]; then
        fail "$3: '$2' not found in: $(head -c 2000 <<<"$1")"
    fi
    ok "$3"
}

# ---------------------------------------------------------------------------
# set-up and tear-down

# it_init NAME: private work dir, traps, tool checks.
it_init() {
    IT_NAME=$1
    local t
    for t in curl jq awk "$PY"; do
        command -v "$t" >/dev/null || fail "missing tool: $t (run scripts/install-deps.sh --test)"
    done
    WORK=$(mktemp -d "${TMPDIR:-/tmp}/iha-it.${IT_NAME}.XXXXXX")
    trap _it_exit EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    log "work dir $WORK"
}

# it_pass: the last line of a passing test.
it_pass() {
    IT_DONE=1
    log "PASS ($IT_CHECKS checks)"
}

_it_exit() {
    local rc=$?
    trap - EXIT INT TERM
    set +e
    if [[ $rc -eq 0 && $IT_DONE -ne 1 ]]; then
        echo "[$IT_NAME] FAIL: the test ended without it_pass" >&2
        rc=1
    fi
    if [[ $rc -ne 0 ]]; then
        _print_logs
    fi
    _stop_all
    if [[ -n "$WORK" && -d "$WORK" ]]; then
        if [[ "${IHA_TEST_KEEP:-0}" == 1 ]]; then
            echo "[$IT_NAME] kept $WORK" >&2
        else
            rm -rf "$WORK"
        fi
    fi
    printf '[%s] %s in %.1fs\n' "$IT_NAME" "$([[ $rc -eq 0 ]] && echo passed || echo FAILED)" \
        "$(_elapsed)" >&2
    exit "$rc"
}

_print_logs() {
    local n=${IHA_TEST_LOG_LINES:-60} f
    [[ -n "$WORK" && -d "$WORK" ]] || return 0
    while IFS= read -r f; do
        [[ -s "$f" ]] || continue
        echo "----- tail -n $n ${f#"$WORK"/} -----" >&2
        tail -n "$n" "$f" >&2
    done < <(find "$WORK" -name '*.log' ! -name 'masakari-manage.log' -type f | sort)
    echo "----- end of logs -----" >&2
}

# _children PID: the direct children of PID (from /proc; no procps needed).
_children() {
    local f st
    if [[ -r "/proc/$1/task/$1/children" ]]; then
        for f in /proc/"$1"/task/*/children; do
            cat "$f" 2>/dev/null
        done | tr ' ' '\n' | grep -E '^[0-9]+$' || true
        return 0
    fi
    # kernels without CONFIG_PROC_CHILDREN: field 4 of /proc/*/stat is the parent
    for f in /proc/[0-9]*/stat; do
        st=$(cat "$f" 2>/dev/null) || continue
        st=${st##*) }
        st=${st#* }
        if [[ "${st%% *}" == "$1" ]]; then
            f=${f#/proc/}
            echo "${f%/stat}"
        fi
    done
}

# _descendants PID: every descendant PID, children first.
_descendants() {
    local child
    for child in $(_children "$1"); do
        _descendants "$child"
        echo "$child"
    done
}

# _running PID: the process exists and is not a zombie.
_running() {
    local st
    st=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    st=${st##*) }
    [[ "${st%% *}" != Z ]]
}

# stop_pid NAME PID: TERM the process and its descendants, KILL after 10 s.
stop_pid() {
    local name=$1 pid=$2 p
    kill -0 "$pid" 2>/dev/null || return 0
    log "stopping $name (pid $pid)"
    local all
    all="$(_descendants "$pid") $pid"
    # shellcheck disable=SC2086
    kill -TERM $all 2>/dev/null || true
    local deadline=$((SECONDS + 10))
    while ((SECONDS < deadline)); do
        local alive=0
        for p in $all; do
            if _running "$p"; then
                alive=1
            fi
        done
        ((alive)) || break
        sleep 0.1
    done
    for p in $all; do
        if kill -0 "$p" 2>/dev/null; then
            kill -KILL "$p" 2>/dev/null || true
        fi
    done
    wait "$pid" 2>/dev/null || true
}

# stop_named NAME: stops what was started under NAME (e.g. "gateway").
stop_named() {
    local i entry keep=()
    for ((i = ${#IT_PIDS[@]} - 1; i >= 0; i--)); do
        entry=${IT_PIDS[i]}
        if [[ "${entry%%:*}" == "$1" ]]; then
            stop_pid "$1" "${entry#*:}"
        fi
    done
    for entry in "${IT_PIDS[@]}"; do
        [[ "${entry%%:*}" == "$1" ]] || keep+=("$entry")
    done
    IT_PIDS=("${keep[@]+"${keep[@]}"}")
}

_stop_all() {
    local i entry
    for ((i = ${#IT_PIDS[@]} - 1; i >= 0; i--)); do
        entry=${IT_PIDS[i]}
        stop_pid "${entry%%:*}" "${entry#*:}"
    done
    IT_PIDS=()
}

_track() { IT_PIDS+=("$1:$2"); }

# _new_dir NAME: creates and prints $WORK/NAME, or NAME-2, NAME-3... when taken
# (a peer restarted within one test gets fresh state and its own logs).
_new_dir() {
    local d="$WORK/$1" i=2
    while [[ -e "$d" ]]; do
        d="$WORK/$1-$i"
        i=$((i + 1))
    done
    mkdir -p "$d"
    echo "$d"
}

# ---------------------------------------------------------------------------
# ports and waits

# port_busy PORT: true when something listens on 127.0.0.1:PORT or it cannot be bound.
port_busy() {
    "$PY" - "$1" <<'PYEOF'
import socket, sys
port = int(sys.argv[1])
c = socket.socket()
c.settimeout(0.5)
try:
    c.connect(("127.0.0.1", port))
    sys.exit(0)            # someone listens: busy
except OSError:
    pass
finally:
    c.close()
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
try:
    s.bind(("127.0.0.1", port))
except OSError:
    sys.exit(0)            # cannot bind: busy
finally:
    s.close()
sys.exit(1)
PYEOF
}

# free_port: prints a port in 20000-32767 (below Linux's ephemeral range) that is free
# on 127.0.0.1 and was not handed out before in this test.
free_port() {
    local i p
    for ((i = 0; i < 100; i++)); do
        p=$((20000 + RANDOM % 12768))
        [[ "$IT_USED_PORTS" == *" $p "* ]] && continue
        if ! port_busy "$p"; then
            IT_USED_PORTS+="$p "
            echo "$p"
            return 0
        fi
    done
    fail "no free port found on 127.0.0.1"
}

# require_port_free PORT WHAT: refuses to start a peer on a busy port.
require_port_free() {
    if port_busy "$1"; then
        fail "$2: port 127.0.0.1:$1 is busy; refusing to start"
    fi
}

# wait_until SECONDS WHAT COMMAND...: polls COMMAND every 0.2 s until it succeeds.
wait_until() {
    local secs=$1 what=$2
    shift 2
    local deadline
    deadline=$(($(date +%s%N) + secs * 1000000000))
    while true; do
        if "$@" >/dev/null 2>&1; then
            return 0
        fi
        if (($(date +%s%N) > deadline)); then
            fail "timed out after ${secs}s waiting for: $what"
        fi
        sleep 0.2
    done
}

# wait_http_ok SECONDS URL PID WHAT: polls URL for a 2xx while PID lives.
wait_http_ok() {
    local secs=$1 url=$2 pid=$3 what=$4
    local deadline
    deadline=$(($(date +%s%N) + secs * 1000000000))
    while true; do
        if curl -fsS -o /dev/null --max-time 2 "$url" 2>/dev/null; then
            return 0
        fi
        if ! kill -0 "$pid" 2>/dev/null; then
            fail "$what exited before $url answered"
        fi
        if (($(date +%s%N) > deadline)); then
            fail "timed out after ${secs}s waiting for $what at $url"
        fi
        sleep 0.2
    done
}

# ---------------------------------------------------------------------------
# HTTP

HTTP_CODE=""
HTTP_BODY=""

# http METHOD URL [BODY [CURL_ARGS...]]: sets HTTP_CODE and HTTP_BODY. BODY "-" = none.
http() {
    local method=$1 url=$2 body=${3:--}
    shift 2
    [[ $# -gt 0 ]] && shift
    local out="$WORK/.http_body"
    local args=(-sS -o "$out" -w '%{http_code}' --max-time 60 -X "$method")
    if [[ "$body" != "-" ]]; then
        args+=(-H 'Content-Type: application/json' --data-binary @-)
    fi
    HTTP_CODE=$(printf '%s' "$body" | curl "${args[@]}" "$@" "$url" 2>"$WORK/.http_err") ||
        HTTP_CODE="000"
    HTTP_BODY=$(cat "$out" 2>/dev/null || true)
    rm -f "$out"
}

# ---------------------------------------------------------------------------
# Masakari API (real-peers.md §1)

# start_masakari: private conf and sqlite db, db sync, launcher (or stock script when
# IHA_TEST_MASAKARI_UNPATCHED=1), waits for GET / = 200. Sets MASAKARI_*.
start_masakari() {
    MASAKARI_DIR=$(_new_dir masakari)
    MASAKARI_PORT=$(free_port)
    MASAKARI_URL="http://127.0.0.1:$MASAKARI_PORT"
    MASAKARI_DB="$MASAKARI_DIR/masakari.sqlite"
    mkdir -p "$MASAKARI_DIR/log" "$MASAKARI_DIR/lock"
    cp /etc/masakari/api-paste.ini "$MASAKARI_DIR/api-paste.ini"
    cat >"$MASAKARI_DIR/masakari.conf" <<EOF
[DEFAULT]
auth_strategy = noauth2
transport_url = fake://
masakari_api_listen = 127.0.0.1
masakari_api_listen_port = $MASAKARI_PORT
masakari_api_workers = 1
state_path = $MASAKARI_DIR
log_dir = $MASAKARI_DIR/log
duplicate_notification_detection_interval = 180
[wsgi]
api_paste_config = $MASAKARI_DIR/api-paste.ini
[database]
connection = sqlite:///$MASAKARI_DB
[oslo_concurrency]
lock_path = $MASAKARI_DIR/lock
[oslo_messaging_notifications]
driver = noop
[coordination]
backend_url =
EOF
    log "masakari: db sync"
    if ! timeout 120 masakari-manage --config-file "$MASAKARI_DIR/masakari.conf" db sync \
        >"$MASAKARI_DIR/db-sync.log" 2>&1; then
        fail "masakari-manage db sync failed"
    fi

    # The Debian 12 workaround (real-peers.md §1.3): read_deleted=None -> 'no'.
    cat >"$MASAKARI_DIR/masakari_launcher.py" <<'PYEOF'
"""Test-only launcher for masakari-api 14.0.2 on Debian 12 (LP #2030976).

oslo.messaging 14.0.3 rebuilds the request context with read_deleted=None when it
emits a versioned notification; masakari 14.0.2's setter rejects None, so every
create answers 500. Map None to 'no' (what upstream 17.0.0 does) and start the API.
"""
import sys

from masakari import context

_orig = context.RequestContext.read_deleted


def _set_read_deleted(self, value):
    _orig.fset(self, "no" if value is None else value)


context.RequestContext.read_deleted = property(_orig.fget, _set_read_deleted, _orig.fdel)

from masakari.cmd import api  # noqa: E402

sys.exit(api.main())
PYEOF

    require_port_free "$MASAKARI_PORT" masakari-api
    local cmd
    if [[ "${IHA_TEST_MASAKARI_UNPATCHED:-0}" == 1 ]]; then
        log "masakari: starting UNPATCHED masakari-api (creates answer 500) on $MASAKARI_URL"
        cmd=("$PY" /usr/bin/masakari-api --config-file "$MASAKARI_DIR/masakari.conf")
    else
        log "masakari: starting masakari-api (launcher workaround) on $MASAKARI_URL"
        cmd=("$PY" "$MASAKARI_DIR/masakari_launcher.py" --config-file "$MASAKARI_DIR/masakari.conf")
    fi
    (cd "$MASAKARI_DIR" && exec "${cmd[@]}") >"$MASAKARI_DIR/stdout.log" 2>&1 </dev/null &
    local pid=$!
    _track masakari "$pid"
    wait_http_ok 60 "$MASAKARI_URL/" "$pid" masakari-api
    log "masakari: ready (pid $pid)"
}

# _masakari_sql PYTHON_BODY ARGS...: runs Python with `db` (sqlite3 connection) and
# `args`, committing afterwards.
_masakari_sql() {
    local body=$1
    shift
    "$PY" - "$MASAKARI_DB" "$@" <<PYEOF
import datetime, sqlite3, sys, uuid
db = sqlite3.connect(sys.argv[1], timeout=30)
args = sys.argv[2:]
now = datetime.datetime.utcnow().strftime("%Y-%m-%d %H:%M:%S.%f")
$body
db.commit()
db.close()
PYEOF
}

# seed_hosts SEGMENT HOST...: inserts the segment (if absent) and hosts into sqlite
# (real-peers.md §1.4: the hosts API needs Nova).
seed_hosts() {
    [[ -n "$MASAKARI_DB" ]] || fail "seed_hosts before start_masakari"
    _masakari_sql '
seg_name, hosts = args[0], args[1:]
row = db.execute("SELECT uuid FROM failover_segments WHERE name=? AND deleted=0", (seg_name,)).fetchone()
if row:
    seg = row[0]
else:
    seg = str(uuid.uuid4())
    db.execute("INSERT INTO failover_segments (created_at, deleted, uuid, name, service_type,"
               " enabled, description, recovery_method) VALUES (?, 0, ?, ?, ?, 1, ?, ?)",
               (now, seg, seg_name, "COMPUTE", "iha-gateway integration test", "auto"))
for h in hosts:
    db.execute("INSERT INTO hosts (created_at, deleted, uuid, name, reserved, type,"
               " control_attributes, on_maintenance, failover_segment_id)"
               " VALUES (?, 0, ?, ?, 0, ?, ?, 0, ?)",
               (now, str(uuid.uuid4()), h, "COMPUTE", "SSH", seg))
' "$@" || fail "seed_hosts $*"
    log "masakari: segment $1 with hosts: ${*:2}"
}

# set_maintenance HOST [0|1]: sets the host's on_maintenance flag in sqlite.
set_maintenance() {
    local host=$1 flag=${2:-1}
    _masakari_sql '
cur = db.execute("UPDATE hosts SET on_maintenance=? WHERE name=? AND deleted=0",
                 (int(args[1]), args[0]))
if cur.rowcount != 1:
    sys.exit("no such host: " + args[0])
' "$host" "$flag" || fail "set_maintenance $host"
    log "masakari: $host on_maintenance=$flag"
}

# clear_notifications: deletes every stored notification (resets duplicate detection).
clear_notifications() {
    _masakari_sql 'db.execute("DELETE FROM notifications")' || fail "clear_notifications"
}

# masakari_notifications: prints GET /v1/notifications (no microversion header: 1.0
# needs no engine) as a JSON array, each notification with an added "hostname"
# resolved from its source_host_uuid through GET /v1/segments/{id}/hosts.
masakari_notifications() {
    local notes segs hosts="[]" seg
    notes=$(curl -fsS --max-time 30 "$MASAKARI_URL/v1/notifications") ||
        fail "GET $MASAKARI_URL/v1/notifications failed"
    segs=$(curl -fsS --max-time 30 "$MASAKARI_URL/v1/segments" | jq -r '.segments[].uuid') ||
        fail "GET $MASAKARI_URL/v1/segments failed"
    for seg in $segs; do
        hosts=$(jq -s '.[0] + .[1].hosts' <(echo "$hosts") \
            <(curl -fsS --max-time 30 "$MASAKARI_URL/v1/segments/$seg/hosts")) ||
            fail "GET $MASAKARI_URL/v1/segments/$seg/hosts failed"
    done
    jq --argjson hosts "$hosts" '
        ($hosts | map({(.uuid): .name}) | add // {}) as $names
        | .notifications | map(. + {hostname: $names[.source_host_uuid]})' <<<"$notes"
}

# masakari_count [JQ_SELECT]: number of stored notifications matching the select
# expression (default all), e.g. masakari_count 'select(.type=="PROCESS")'.
masakari_count() {
    masakari_notifications | jq "[.[] | ${1:-.}] | length"
}

# masakari_post_raw BODY: POST /v1/notifications straight to Masakari.
masakari_post_raw() {
    http POST "$MASAKARI_URL/v1/notifications" "$1" -H 'X-Auth-Token: ignored-in-noauth2'
}

# ---------------------------------------------------------------------------
# Alertmanager (real-peers.md §2)

# start_alertmanager [WEBHOOK_URL]: the webhook goes to the gateway (GW_PORT is picked
# now if the gateway is not started yet) with Authorization: Bearer GW_TOKEN.
start_alertmanager() {
    if [[ -z "$GW_PORT" ]]; then
        GW_PORT=$(free_port)
    fi
    _gw_token
    local url=${1:-http://127.0.0.1:$GW_PORT/api/v1/alertmanager}
    AM_DIR=$(_new_dir alertmanager)
    AM_PORT=$(free_port)
    AM_URL="http://127.0.0.1:$AM_PORT"
    mkdir -p "$AM_DIR/data"
    cat >"$AM_DIR/alertmanager.yml" <<EOF
global:
  resolve_timeout: 5m
route:
  receiver: gw
  group_by: ['alertname', 'instance']
  group_wait: 1s
  group_interval: 3s
  repeat_interval: ${AM_REPEAT_INTERVAL:-1h}
receivers:
  - name: gw
    webhook_configs:
      - url: $url
        send_resolved: true
        http_config:
          authorization:
            type: Bearer
            credentials: $GW_TOKEN
EOF
    amtool check-config "$AM_DIR/alertmanager.yml" >"$AM_DIR/check-config.log" 2>&1 ||
        fail "amtool check-config: $(cat "$AM_DIR/check-config.log")"
    require_port_free "$AM_PORT" alertmanager
    log "alertmanager: starting on $AM_URL, webhook $url"
    prometheus-alertmanager \
        --config.file="$AM_DIR/alertmanager.yml" \
        --storage.path="$AM_DIR/data" \
        --web.listen-address="127.0.0.1:$AM_PORT" \
        --web.external-url="$AM_URL" \
        --cluster.listen-address= \
        --log.level=debug \
        >"$AM_DIR/alertmanager.log" 2>&1 </dev/null &
    local pid=$!
    _track alertmanager "$pid"
    wait_http_ok 30 "$AM_URL/-/ready" "$pid" alertmanager
    log "alertmanager: ready (pid $pid)"
}

# _alert_json [--resolved] LABEL=VALUE...: one alert as Alertmanager's API takes it.
_alert_json() {
    local ends="" starts
    starts=$(date -u +%Y-%m-%dT%H:%M:%S.000Z)
    if [[ "${1:-}" == --resolved ]]; then
        # Alertmanager refuses startsAt >= endsAt
        starts=$(date -u -d '-60 seconds' +%Y-%m-%dT%H:%M:%S.000Z)
        ends=$(date -u +%Y-%m-%dT%H:%M:%S.000Z)
        shift
    fi
    local kv labels='{}'
    for kv in "$@"; do
        [[ "$kv" == *=* ]] || fail "label '$kv' is not NAME=VALUE"
        labels=$(jq -c --arg k "${kv%%=*}" --arg v "${kv#*=}" '. + {($k): $v}' <<<"$labels")
    done
    jq -c -n --argjson labels "$labels" --arg ends "$ends" \
        --arg starts "$starts" '
        {labels: $labels, annotations: {summary: "integration test"},
         startsAt: $starts, generatorURL: "http://127.0.0.1/iha-it"}
        + (if $ends == "" then {} else {endsAt: $ends} end)'
}

# am_add_alert [--resolved] LABEL=VALUE...: POST /api/v2/alerts with one alert.
am_add_alert() {
    local body
    body="[$(_alert_json "$@")]"
    http POST "$AM_URL/api/v2/alerts" "$body"
    [[ "$HTTP_CODE" == 200 ]] || fail "POST $AM_URL/api/v2/alerts: $HTTP_CODE $HTTP_BODY"
    log "alertmanager: alert posted: $*"
}

# ---------------------------------------------------------------------------
# the gateway

_gw_token() {
    if [[ -z "$GW_TOKEN" ]]; then
        GW_TOKEN="it-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
    fi
}

# start_gateway [EXTRA_ARGS...]: writes the config (instance_ha.url = Masakari),
# the inbound token file, starts IHA_GATEWAY_BIN and waits for /-/ready.
# GW_RETRY_FOR (default 5s) sets instance_ha.retry_for.
start_gateway() {
    local bin=${IHA_GATEWAY_BIN:-$IT_ROOT/build/iha-gateway}
    [[ -x "$bin" ]] || fail "gateway binary not found: $bin (set IHA_GATEWAY_BIN)"
    [[ -n "$MASAKARI_URL" ]] || fail "start_gateway before start_masakari"
    if [[ -z "$GW_PORT" ]]; then
        GW_PORT=$(free_port)
    fi
    _gw_token
    GW_URL="http://127.0.0.1:$GW_PORT"
    GW_DIR=$(_new_dir gateway)
    (
        umask 077
        printf '# inbound bearer tokens\n%s\n' "$GW_TOKEN" >"$GW_DIR/inbound-tokens"
    )
    cat >"$GW_DIR/config.yml" <<EOF
web:
  listen_address: "127.0.0.1:$GW_PORT"
  auth:
    bearer_tokens_file: $GW_DIR/inbound-tokens
instance_ha:
  url: "$MASAKARI_URL"
  dialect: masakari
  retry_for: ${GW_RETRY_FOR:-5s}
dedupe:
  window: 180s
EOF
    require_port_free "$GW_PORT" iha-gateway
    log "gateway: starting $bin on $GW_URL"
    IHA_SERVICE_TOKEN=it-service-token-ignored-by-noauth2 \
        "$bin" --config.file="$GW_DIR/config.yml" --log.level=debug "$@" \
        >"$GW_DIR/gateway.log" 2>&1 </dev/null &
    local pid=$!
    _track gateway "$pid"
    wait_http_ok 30 "$GW_URL/-/ready" "$pid" iha-gateway
    log "gateway: ready (pid $pid)"
}

# gw_post PATH BODY [CURL_ARGS...]: POST to the gateway with the bearer token.
gw_post() {
    local path=$1 body=$2
    shift 2
    http POST "$GW_URL$path" "$body" -H "Authorization: Bearer $GW_TOKEN" "$@"
}

# webhook_body [--resolved] LABEL=VALUE...: an Alertmanager v4 webhook with one alert.
webhook_body() {
    local status=firing ends="0001-01-01T00:00:00Z"
    if [[ "${1:-}" == --resolved ]]; then
        status=resolved
        ends=$(date -u +%Y-%m-%dT%H:%M:%SZ)
        shift
    fi
    local kv labels='{}'
    for kv in "$@"; do
        labels=$(jq -c --arg k "${kv%%=*}" --arg v "${kv#*=}" '. + {($k): $v}' <<<"$labels")
    done
    jq -c -n --argjson labels "$labels" --arg status "$status" --arg ends "$ends" '
        {receiver: "gw", status: $status,
         alerts: [{status: $status, labels: $labels,
                   annotations: {summary: "integration test"},
                   startsAt: "2026-11-25T14:40:13.000Z", endsAt: $ends,
                   generatorURL: "http://127.0.0.1/iha-it", fingerprint: "0123456789abcdef"}],
         groupLabels: {alertname: $labels.alertname}, commonLabels: $labels,
         commonAnnotations: {summary: "integration test"},
         externalURL: "http://127.0.0.1:9093", version: "4",
         groupKey: "{}:{alertname=\"\($labels.alertname)\"}", truncatedAlerts: 0}'
}

# outcomes JSON: the per-notification outcomes ("outcome" or "result" members of the
# objects in the reply's lists) of a gateway reply, as a compact JSON array.
outcomes() {
    jq -c '[.. | arrays | .[] | objects | (.outcome // .result) | strings]' <<<"$1" 2>/dev/null ||
        echo '[]'
}

# assert_outcomes JSON JQ_FILTER WHAT: JQ_FILTER applied to the outcome list must be true,
# e.g. assert_outcomes "$HTTP_BODY" 'index("rejected") != null' "rejected".
assert_outcomes() {
    local list
    list=$(outcomes "$1")
    if ! jq -e "$2" >/dev/null 2>&1 <<<"$list"; then
        fail "$3: outcomes $list do not satisfy '$2'; body: $(head -c 2000 <<<"$1")"
    fi
    ok "$3 (outcomes $list)"
}

# stop_gateway / stop_masakari / stop_alertmanager: stop by saved PID; the next
# start_* gets a fresh port and state dir.
stop_gateway() {
    stop_named gateway
    GW_PORT="" GW_URL=""
}
stop_masakari() {
    stop_named masakari
    MASAKARI_PORT="" MASAKARI_URL="" MASAKARI_DB=""
}
stop_alertmanager() {
    stop_named alertmanager
    AM_PORT="" AM_URL=""
}

# assert_loopback_only: no process we started listens on anything but 127.0.0.1/::1.
assert_loopback_only() {
    local pids="" entry p
    for entry in "${IT_PIDS[@]}"; do
        p=${entry#*:}
        pids+=" $p $(_descendants "$p" | tr '\n' ' ')"
    done
    local bad
    # shellcheck disable=SC2086
    bad=$("$PY" - $pids <<'PYEOF'
import os, sys
inodes = {}
for pid in sys.argv[1:]:
    try:
        for fd in os.listdir("/proc/%s/fd" % pid):
            try:
                link = os.readlink("/proc/%s/fd/%s" % (pid, fd))
            except OSError:
                continue
            if link.startswith("socket:["):
                inodes[link[8:-1]] = pid
    except OSError:
        pass
bad = []
for table in ("/proc/net/tcp", "/proc/net/tcp6"):
    with open(table) as f:
        next(f)
        for line in f:
            cols = line.split()
            local, state, inode = cols[1], cols[3], cols[9]
            if state != "0A" or inode not in inodes:     # 0A = LISTEN
                continue
            addr = local.split(":")[0]
            if addr not in ("0100007F", "00000000000000000000000001000000"):
                bad.append("pid %s listens on %s" % (inodes[inode], local))
print("\n".join(bad))
PYEOF
)
    [[ -z "$bad" ]] || fail "non-loopback listeners: $bad"
    ok "every listener of ours is on loopback"
}
