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
        # IT_CACERT: the CA of a TLS listener under test.
        if curl -fsS -o /dev/null --max-time 2 ${IT_CACERT:+--cacert "$IT_CACERT"} "$url" \
            2>/dev/null; then
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
# now if the gateway is not started yet) with Authorization: Bearer GW_TOKEN;
# AM_HTTP_EXTRA adds lines to its http_config: (indented by ten, e.g. a tls_config:).
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
${AM_HTTP_EXTRA:-}
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

# am_hosts_down [--resolved] HOST...: one POST /api/v2/alerts with a HostDown alert per host,
# so Alertmanager sees them together, as a scrape outage or a switch failure does.
am_hosts_down() {
    local flag=() h body
    if [[ "${1:-}" == --resolved ]]; then
        flag=(--resolved)
        shift
    fi
    body=$(for h in "$@"; do
        _alert_json "${flag[@]}" alertname=HostDown severity=critical hostname="$h" \
            instance="$h:9100" job=node
    done | jq -c -s .)
    http POST "$AM_URL/api/v2/alerts" "$body"
    [[ "$HTTP_CODE" == 200 ]] || fail "POST $AM_URL/api/v2/alerts: $HTTP_CODE $HTTP_BODY"
    log "alertmanager: HostDown ${flag[*]} posted for $# hosts: $*"
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
# GW_RETRY_FOR (default 5s) sets instance_ha.retry_for. The durable queue lives in
# GW_STORAGE (default: a fresh $GW_DIR/data; set it to keep the queue across restarts),
# GW_MAX_BACKOFF (default 2s) caps its retry backoff, GW_STORAGE_EXTRA adds indented
# lines to the storage: section (e.g. "  max_age: 10s"), GW_IHA_EXTRA to instance_ha:,
# GW_AUTH_EXTRA to web.auth: (e.g. a basic_auth_users: block, indented by four),
# GW_WEB_EXTRA to web: (indented by two). GW_SCHEME=https for a TLS listener (with
# IT_CACERT naming the CA that signed its certificate). GW_POLICY is the whole policy:
# section; by default the safety policy is off, so that the tests of the other stages
# see an evacuation go at once (the policy's own tests set it).
start_gateway() {
    local bin=${IHA_GATEWAY_BIN:-$IT_ROOT/build/iha-gateway}
    [[ -x "$bin" ]] || fail "gateway binary not found: $bin (set IHA_GATEWAY_BIN)"
    [[ -n "$MASAKARI_URL" ]] || fail "start_gateway before start_masakari"
    if [[ -z "$GW_PORT" ]]; then
        GW_PORT=$(free_port)
    fi
    _gw_token
    GW_URL="${GW_SCHEME:-http}://127.0.0.1:$GW_PORT"
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
${GW_AUTH_EXTRA:-}
${GW_WEB_EXTRA:-}
instance_ha:
  url: "$MASAKARI_URL"
  dialect: masakari
  retry_for: ${GW_RETRY_FOR:-5s}
${GW_IHA_EXTRA:-}
dedupe:
  window: 180s
storage:
  path: ${GW_STORAGE:-$GW_DIR/data}
  max_backoff: ${GW_MAX_BACKOFF:-2s}
${GW_STORAGE_EXTRA:-}
${GW_POLICY:-policy: {enabled: false\}}
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

# ---------------------------------------------------------------------------
# Nagios 4 (real-peers.md §3; nagios4-core, no web UI, no TCP port)

NAGIOS_DIR=""
NAGIOS_CMD=""
NAGIOS_LOG=""

# start_nagios OBJECTS_CFG: a private state dir owned by the nagios user, the settings of
# real-peers.md §3.3 (interval_length 1, environment macros on, nothing retained), the given
# object definitions; runs nagios4 in the foreground and waits until it opened the command
# FIFO. Sets NAGIOS_DIR, NAGIOS_CMD (the FIFO) and NAGIOS_LOG.
start_nagios() {
    local objects=$1
    command -v nagios4 >/dev/null || fail "nagios4 not installed (scripts/install-deps.sh --test)"
    NAGIOS_DIR=$(_new_dir nagios)
    NAGIOS_CMD="$NAGIOS_DIR/rw/nagios.cmd"
    NAGIOS_LOG="$NAGIOS_DIR/nagios.log"
    mkdir -p "$NAGIOS_DIR/rw" "$NAGIOS_DIR/spool/checkresults" "$NAGIOS_DIR/tmp"
    cp "$objects" "$NAGIOS_DIR/objects.cfg"
    printf '$USER1$=/usr/lib/nagios/plugins\n' >"$NAGIOS_DIR/resource.cfg"
    {
        echo "log_file=$NAGIOS_LOG"
        echo "cfg_file=$NAGIOS_DIR/objects.cfg"
        echo "resource_file=$NAGIOS_DIR/resource.cfg"
        echo "object_cache_file=$NAGIOS_DIR/objects.cache"
        echo "precached_object_file=$NAGIOS_DIR/objects.precache"
        echo "status_file=$NAGIOS_DIR/status.dat"
        echo "command_file=$NAGIOS_CMD"
        echo "query_socket=$NAGIOS_DIR/rw/nagios.qh"
        echo "lock_file=$NAGIOS_DIR/nagios.lock"
        echo "temp_file=$NAGIOS_DIR/nagios.tmp"
        echo "temp_path=$NAGIOS_DIR/tmp"
        echo "check_result_path=$NAGIOS_DIR/spool/checkresults"
        echo "state_retention_file=$NAGIOS_DIR/retention.dat"
        printf '%s\n' nagios_user=nagios nagios_group=nagios check_external_commands=1 \
            interval_length=1 enable_environment_macros=1 max_host_check_spread=1 \
            max_service_check_spread=1 check_result_reaper_frequency=1 \
            host_inter_check_delay_method=n service_inter_check_delay_method=n \
            retain_state_information=0 use_retained_program_state=0 notification_timeout=30 \
            date_format=iso8601 use_syslog=0 check_for_updates=0 bare_update_check=0 \
            enable_flap_detection=0 log_notifications=1 log_passive_checks=1 \
            passive_host_checks_are_soft=0
        echo "illegal_macro_output_chars=\`~\$&|'\"<>"
    } >"$NAGIOS_DIR/nagios.cfg"
    chown -R nagios:nagios "$NAGIOS_DIR"
    nagios4 -v "$NAGIOS_DIR/nagios.cfg" >"$NAGIOS_DIR/verify.log" 2>&1 ||
        fail "nagios4 -v: $(tail -n 20 "$NAGIOS_DIR/verify.log")"
    log "nagios: starting (state in $NAGIOS_DIR)"
    nagios4 "$NAGIOS_DIR/nagios.cfg" >"$NAGIOS_DIR/stdout.log" 2>&1 </dev/null &
    local pid=$!
    _track nagios "$pid"
    wait_until 30 "nagios opened its command file" test -p "$NAGIOS_CMD"
    kill -0 "$pid" 2>/dev/null || fail "nagios exited at start"
    log "nagios: running (pid $pid)"
}

# nagios_cmd 'COMMAND;ARGS': one external command through the FIFO (real-peers.md §3.5).
nagios_cmd() {
    [[ -p "$NAGIOS_CMD" ]] || fail "nagios_cmd before start_nagios"
    printf '[%s] %s\n' "$(date +%s)" "$1" >"$NAGIOS_CMD"
    log "nagios: command $1"
}

# notify_setup TOKEN_FILE SPOOL: iha-notify's token file (the gateway's token, 0400
# nagios) and spool directory (0750 nagios), as deploy/nagios sets them up; sets NOTIFY to
# the command line that reaches this test's gateway.
notify_setup() {
    local token_file=$1 spool=$2
    printf '# token for iha-notify\n%s\n' "$GW_TOKEN" >"$token_file"
    install -d -o nagios -g nagios -m 0750 "$spool"
    chown nagios:nagios "$token_file"
    chmod 0400 "$token_file"
    NOTIFY="$NOTIFY_BIN --url=$GW_URL/api/v1/nagios --token-file=$token_file --spool-dir=$spool"
}

# nagios_24x7: the object definition of the always-on timeperiod every test config uses.
nagios_24x7() {
    cat <<'EOF2'
define timeperiod {
    timeperiod_name 24x7
    alias           always
    sunday          00:00-24:00
    monday          00:00-24:00
    tuesday         00:00-24:00
    wednesday       00:00-24:00
    thursday        00:00-24:00
    friday          00:00-24:00
    saturday        00:00-24:00
}
EOF2
}

stop_nagios() {
    stop_named nagios
}

# ---------------------------------------------------------------------------
# Keystone (real-peers.md §4) and Masakari with auth_strategy = keystone (§1.6)

KEYSTONE_PORT=""
KEYSTONE_URL=""
KEYSTONE_DIR=""
KEYSTONE_ADMIN_PW=""
KEYSTONE_SERVICE_PW=""

# start_keystone: private keystone.conf (sqlite, fernet; [token] expiration from
# KEYSTONE_TOKEN_EXPIRATION, default 3600), db_sync, fernet/credential setup, bootstrap,
# keystone-wsgi-public on 127.0.0.1, then the service project and the masakari service
# user (admin on service) that keystonemiddleware uses. Sets KEYSTONE_*.
start_keystone() {
    KEYSTONE_DIR=$(_new_dir keystone)
    KEYSTONE_PORT=$(free_port)
    KEYSTONE_URL="http://127.0.0.1:$KEYSTONE_PORT"
    KEYSTONE_ADMIN_PW="adm-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
    KEYSTONE_SERVICE_PW="svc-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
    mkdir -p "$KEYSTONE_DIR/log" "$KEYSTONE_DIR/fernet-keys" "$KEYSTONE_DIR/credential-keys"
    cat >"$KEYSTONE_DIR/keystone.conf" <<EOF
[DEFAULT]
log_dir = $KEYSTONE_DIR/log
[database]
connection = sqlite:///$KEYSTONE_DIR/keystone.sqlite
[token]
provider = fernet
expiration = ${KEYSTONE_TOKEN_EXPIRATION:-3600}
[identity]
password_hash_rounds = 4
[fernet_tokens]
key_repository = $KEYSTONE_DIR/fernet-keys
[fernet_receipts]
key_repository = $KEYSTONE_DIR/fernet-keys
[credential]
key_repository = $KEYSTONE_DIR/credential-keys
EOF
    local km=(keystone-manage --config-file "$KEYSTONE_DIR/keystone.conf")
    log "keystone: db_sync, fernet_setup, credential_setup, bootstrap"
    {
        timeout 120 "${km[@]}" db_sync &&
            timeout 60 "${km[@]}" fernet_setup --keystone-user root --keystone-group root &&
            timeout 60 "${km[@]}" credential_setup --keystone-user root --keystone-group root &&
            timeout 120 "${km[@]}" bootstrap --bootstrap-password "$KEYSTONE_ADMIN_PW" \
                --bootstrap-admin-url "$KEYSTONE_URL/v3/" \
                --bootstrap-internal-url "$KEYSTONE_URL/v3/" \
                --bootstrap-public-url "$KEYSTONE_URL/v3/" \
                --bootstrap-region-id RegionOne
    } >"$KEYSTONE_DIR/setup.log" 2>&1 || fail "keystone setup failed"
    _keystone_serve
    ks_admin project create --domain Default service >/dev/null
    ks_admin user create --domain Default --password "$KEYSTONE_SERVICE_PW" masakari >/dev/null
    ks_admin role add --project service --user masakari admin
    log "keystone: ready (service project, masakari service user)"
}

# _keystone_serve: (re)starts keystone-wsgi-public on KEYSTONE_PORT with KEYSTONE_DIR.
_keystone_serve() {
    require_port_free "$KEYSTONE_PORT" keystone
    log "keystone: starting keystone-wsgi-public on $KEYSTONE_URL"
    OS_KEYSTONE_CONFIG_DIR="$KEYSTONE_DIR" OS_KEYSTONE_CONFIG_FILES="$KEYSTONE_DIR/keystone.conf" \
        keystone-wsgi-public --host 127.0.0.1 --port "$KEYSTONE_PORT" \
        >>"$KEYSTONE_DIR/wsgi.log" 2>&1 </dev/null &
    local pid=$!
    _track keystone "$pid"
    wait_http_ok 60 "$KEYSTONE_URL/v3" "$pid" keystone
}

# stop_keystone / restart_keystone: same port, same database and keys (tokens stay valid).
stop_keystone() { stop_named keystone; }
restart_keystone() { _keystone_serve; }

# ks_os USER PASSWORD PROJECT ARGS...: the openstack CLI as USER scoped to PROJECT.
# Retries "database is locked" (real-peers.md §4.4) a few times.
ks_os() {
    local user=$1 pw=$2 project=$3 i out
    shift 3
    for i in 1 2 3 4 5; do
        if out=$(OS_AUTH_URL="$KEYSTONE_URL/v3" OS_IDENTITY_API_VERSION=3 OS_USERNAME="$user" \
            OS_PASSWORD="$pw" OS_PROJECT_NAME="$project" OS_USER_DOMAIN_NAME=Default \
            OS_PROJECT_DOMAIN_NAME=Default OS_REGION_NAME=RegionOne OS_CLOUD= \
            OS_CLIENT_CONFIG_FILE=/nonexistent timeout 60 openstack "$@" 2>"$KEYSTONE_DIR/cli.err"); then
            printf '%s' "$out"
            return 0
        fi
        if ! grep -q 'database is locked' "$KEYSTONE_DIR/cli.err"; then
            break
        fi
        sleep 1
    done
    fail "openstack $*: $(tail -3 "$KEYSTONE_DIR/cli.err")"
}

# ks_admin ARGS...: the openstack CLI as the bootstrap admin.
ks_admin() { ks_os admin "$KEYSTONE_ADMIN_PW" admin "$@"; }

# ks_token USER PASSWORD PROJECT: prints a project-scoped token (X-Subject-Token).
ks_token() {
    local body
    body=$(jq -c -n --arg u "$1" --arg p "$2" --arg pr "$3" '
        {auth: {identity: {methods: ["password"], password: {user: {name: $u,
         domain: {name: "Default"}, password: $p}}},
         scope: {project: {name: $pr, domain: {name: "Default"}}}}}')
    curl -sS --max-time 30 -D - -o /dev/null -H 'Content-Type: application/json' \
        --data-binary "$body" "$KEYSTONE_URL/v3/auth/tokens" |
        tr -d '\r' | awk -F': ' 'tolower($1) == "x-subject-token" { print $2 }'
}

# start_masakari_keystone: start_masakari, then the same instance restarted with
# auth_strategy = keystone against KEYSTONE_URL (same port, db and launcher).
start_masakari_keystone() {
    [[ -n "$KEYSTONE_URL" ]] || fail "start_masakari_keystone before start_keystone"
    start_masakari
    stop_named masakari
    local conf="$MASAKARI_DIR/masakari.conf"
    sed -i 's/^auth_strategy = noauth2$/auth_strategy = keystone/' "$conf"
    cat >>"$conf" <<EOF
[keystone_authtoken]
www_authenticate_uri = $KEYSTONE_URL
auth_url = $KEYSTONE_URL
auth_type = password
project_domain_name = Default
user_domain_name = Default
project_name = service
username = masakari
password = $KEYSTONE_SERVICE_PW
region_name = RegionOne
EOF
    require_port_free "$MASAKARI_PORT" masakari-api
    log "masakari: restarting with auth_strategy = keystone on $MASAKARI_URL"
    (cd "$MASAKARI_DIR" && exec "$PY" "$MASAKARI_DIR/masakari_launcher.py" --config-file "$conf") \
        >>"$MASAKARI_DIR/stdout.log" 2>&1 </dev/null &
    local pid=$!
    _track masakari "$pid"
    wait_http_ok 60 "$MASAKARI_URL/" "$pid" masakari-api
    log "masakari: ready with keystone auth (pid $pid)"
}

# masakari_count_token TOKEN [JQ_SELECT]: stored notifications, read with TOKEN.
masakari_count_token() {
    local notes
    notes=$(curl -fsS --max-time 30 -H "X-Auth-Token: $1" "$MASAKARI_URL/v1/notifications") ||
        fail "GET $MASAKARI_URL/v1/notifications with a token failed"
    jq "[.notifications[] | ${2:-.}] | length" <<<"$notes"
}

# start_gateway_auth AUTH_YAML [URL|discover] [EXTRA_ARGS...]: like start_gateway with
# the given instance_ha.auth block (indented 4 spaces already) and instance_ha.url =
# URL (default MASAKARI_URL), or no url at all with "discover". No IHA_SERVICE_TOKEN.
start_gateway_auth() {
    local auth=$1 url=${2:-$MASAKARI_URL}
    shift
    [[ $# -gt 0 ]] && shift
    local bin=${IHA_GATEWAY_BIN:-$IT_ROOT/build/iha-gateway}
    [[ -x "$bin" ]] || fail "gateway binary not found: $bin (set IHA_GATEWAY_BIN)"
    if [[ -z "$GW_PORT" ]]; then
        GW_PORT=$(free_port)
    fi
    _gw_token
    GW_URL="${GW_SCHEME:-http}://127.0.0.1:$GW_PORT"
    GW_DIR=$(_new_dir gateway)
    (
        umask 077
        printf '# inbound bearer tokens\n%s\n' "$GW_TOKEN" >"$GW_DIR/inbound-tokens"
    )
    local url_line="  url: \"$url\""
    [[ "$url" == discover ]] && url_line="  # url: from the service catalog"
    cat >"$GW_DIR/config.yml" <<EOF
web:
  listen_address: "127.0.0.1:$GW_PORT"
  auth:
    bearer_tokens_file: $GW_DIR/inbound-tokens
${GW_AUTH_EXTRA:-}
${GW_WEB_EXTRA:-}
instance_ha:
$url_line
  dialect: masakari
  retry_for: ${GW_RETRY_FOR:-5s}
${GW_IHA_EXTRA:-}
  auth:
$auth
dedupe:
  window: 180s
storage:
  path: $GW_DIR/storage
${GW_POLICY:-policy: {enabled: false\}}
EOF
    require_port_free "$GW_PORT" iha-gateway
    log "gateway: starting $bin on $GW_URL (Keystone auth)"
    (cd "$GW_DIR" && env -u IHA_SERVICE_TOKEN "$bin" --config.file="$GW_DIR/config.yml" \
        --log.level=debug "$@") >"$GW_DIR/gateway.log" 2>&1 </dev/null &
    local pid=$!
    _track gateway "$pid"
    wait_http_ok 60 "$GW_URL/-/ready" "$pid" iha-gateway
    log "gateway: ready (pid $pid)"
}

# ks_register_endpoint TYPE NAME URL: adds a service and its public endpoint in RegionOne.
# `openstack service create` fails with "database is locked" on this sqlite setup
# (real-peers.md §4.4), so the rows go straight into keystone's database while Keystone
# is stopped, and Keystone is started again (same port, keys and tokens).
ks_register_endpoint() {
    stop_keystone
    "$PY" - "$KEYSTONE_DIR/keystone.sqlite" "$1" "$2" "$3" <<'PYEOF' || fail "ks_register_endpoint"
import json, sqlite3, sys, uuid
db = sqlite3.connect(sys.argv[1], timeout=30)
svc = uuid.uuid4().hex
db.execute("INSERT INTO service (id, type, enabled, extra) VALUES (?, ?, 1, ?)",
           (svc, sys.argv[2], json.dumps({"name": sys.argv[3]})))
db.execute("INSERT INTO endpoint (id, legacy_endpoint_id, interface, service_id, url, extra,"
           " enabled, region_id) VALUES (?, NULL, 'public', ?, ?, '{}', 1, 'RegionOne')",
           (uuid.uuid4().hex, svc, sys.argv[4]))
db.commit()
db.close()
PYEOF
    restart_keystone
    log "keystone: $1 endpoint $3 registered"
}

# ---------------------------------------------------------------------------
# durable queue helpers (issue 4)

# pause_masakari: stops masakari-api but keeps its port, database and config, so
# resume_masakari brings back the same instance (an Instance HA outage).
pause_masakari() {
    stop_named masakari
}

# resume_masakari: starts the paused masakari-api again on the same port and database.
resume_masakari() {
    [[ -n "$MASAKARI_DIR" && -n "$MASAKARI_PORT" ]] || fail "resume_masakari before start_masakari"
    require_port_free "$MASAKARI_PORT" masakari-api
    log "masakari: resuming on $MASAKARI_URL"
    (cd "$MASAKARI_DIR" && exec "$PY" "$MASAKARI_DIR/masakari_launcher.py" \
        --config-file "$MASAKARI_DIR/masakari.conf") >>"$MASAKARI_DIR/stdout.log" 2>&1 </dev/null &
    local pid=$!
    _track masakari "$pid"
    wait_http_ok 60 "$MASAKARI_URL/" "$pid" masakari-api
    log "masakari: ready again (pid $pid)"
}

# kill9_gateway: SIGKILL the gateway (a crash: no shutdown code runs).
kill9_gateway() {
    local entry keep=()
    for entry in "${IT_PIDS[@]}"; do
        if [[ "${entry%%:*}" == gateway ]]; then
            kill -KILL "${entry#*:}" 2>/dev/null || true
            wait "${entry#*:}" 2>/dev/null || true
            log "gateway: killed with SIGKILL (pid ${entry#*:})"
        else
            keep+=("$entry")
        fi
    done
    IT_PIDS=("${keep[@]+"${keep[@]}"}")
    GW_PORT="" GW_URL=""
}

# gw_cli ARGS...: runs the gateway's command line (queue/deadletter) on the gateway's storage.
gw_cli() {
    "${IHA_GATEWAY_BIN:-$IT_ROOT/build/iha-gateway}" "$@" --storage.path="${GW_STORAGE:-$GW_DIR/data}"
}

# gw_queue_empty: `iha-gateway queue list` shows nothing pending.
gw_queue_empty() { [[ -z "$(gw_cli queue list 2>/dev/null)" ]]; }

# seed_many_hosts SEGMENT PREFIX COUNT: hosts PREFIX-0 .. PREFIX-(COUNT-1).
seed_many_hosts() {
    local i hosts=()
    for ((i = 0; i < $3; i++)); do hosts+=("$2-$i"); done
    seed_hosts "$1" "${hosts[@]}"
}

# masakari_per_host: prints "HOST COUNT" for every host with stored notifications.
masakari_per_host() {
    masakari_notifications | jq -r 'group_by(.hostname)[] | "\(.[0].hostname) \(length)"'
}

# start_fault_proxy: a small HTTP proxy in front of MASAKARI_URL that injects faults the
# real API cannot produce on demand. Sets PROXY_URL and PROXY_FAULTS (a file: one fault per
# line, consumed by successive POST .../notifications; empty = pass through). Faults:
#   500         answer 500 without forwarding
#   500-stored  forward (Masakari stores it), then answer 500 instead of its answer
#   hang        forward, then hold the connection 30 s without answering
#   reset       forward, then send half a response and reset the connection (RST)
# Each POST is logged to $PROXY_DIR/proxy.log as "POST <fault> <Masakari's status>".
start_fault_proxy() {
    PROXY_DIR=$(_new_dir proxy)
    PROXY_PORT=$(free_port)
    PROXY_URL="http://127.0.0.1:$PROXY_PORT"
    PROXY_FAULTS="$PROXY_DIR/faults"
    : >"$PROXY_FAULTS"
    cat >"$PROXY_DIR/proxy.py" <<'PYEOF'
import http.client, http.server, socket, struct, sys, threading, time
port, upstream, faults, logf = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
host, uport = upstream.split("//")[1].split(":")
lock = threading.Lock()
def next_fault():
    with lock:
        with open(faults) as f:
            lines = [l.strip() for l in f if l.strip()]
        if not lines:
            return "pass"
        with open(faults, "w") as f:
            f.write("".join(l + "\n" for l in lines[1:]))
        return lines[0]
def forward(method, path, headers, body):
    c = http.client.HTTPConnection(host, int(uport), timeout=60)
    c.request(method, path, body=body, headers={k: v for k, v in headers.items()
                                                if k.lower() not in ("host", "connection")})
    r = c.getresponse()
    data = r.read()
    c.close()
    return r.status, data
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a):
        pass
    def reply(self, status, data):
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
    def do_GET(self):
        self.reply(*forward("GET", self.path, dict(self.headers), None))
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        fault = next_fault() if self.path.endswith("/notifications") else "pass"
        status, data = "-", b""
        if fault != "500":
            status, data = forward("POST", self.path, dict(self.headers), body)
        with open(logf, "a") as f:
            f.write("POST %s %s\n" % (fault, status))
        if fault in ("500", "500-stored"):
            self.reply(500, b'{"masakariFault": {"code": 500, "message": "injected fault"}}')
        elif fault == "hang":
            time.sleep(30)
            self.close_connection = True
        elif fault == "reset":
            self.wfile.write(b"HTTP/1.1 202 Accepted\r\nContent-Type: application/json\r\n"
                             b"Content-Length: 400\r\n\r\n{\"notification\": {\"id")
            self.wfile.flush()
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
            self.close_connection = True
        else:
            self.reply(status, data)
class S(http.server.ThreadingHTTPServer):
    daemon_threads = True
S(("127.0.0.1", port), H).serve_forever()
PYEOF
    require_port_free "$PROXY_PORT" fault-proxy
    "$PY" "$PROXY_DIR/proxy.py" "$PROXY_PORT" "$MASAKARI_URL" "$PROXY_FAULTS" \
        "$PROXY_DIR/proxy.log" >"$PROXY_DIR/proxy-stdout.log" 2>&1 </dev/null &
    local pid=$!
    _track proxy "$pid"
    wait_http_ok 20 "$PROXY_URL/" "$pid" fault-proxy
    log "fault proxy: $PROXY_URL -> $MASAKARI_URL (pid $pid)"
}

# masakari_vm_uuids: the instance_uuid of every stored VM notification, sorted (repeats
# kept), from GET /v1/notifications (one page: Masakari returns up to 1000; more fails).
masakari_vm_uuids() {
    "$PY" - "$MASAKARI_URL" <<'PYEOF' || fail "masakari_vm_uuids"
import json, sys, urllib.request
with urllib.request.urlopen(sys.argv[1] + "/v1/notifications", timeout=30) as r:
    page = json.load(r)["notifications"]
if len(page) >= 1000:
    sys.exit("more than one page of notifications")
print("\n".join(sorted(n["payload"].get("instance_uuid", "") for n in page if n["type"] == "VM")))
PYEOF
}

# ---------------------------------------------------------------------------
# operability helpers (issue 7): metrics, reload, status page

# gw_metrics: prints GET /metrics of the gateway.
gw_metrics() {
    curl -fsS --max-time 10 ${IT_CACERT:+--cacert "$IT_CACERT"} "$GW_URL/metrics" || fail "GET $GW_URL/metrics failed"
}

# gw_metric SERIES: the value of one series of GET /metrics, written exactly as the
# exposition writes it (labels in registration order), e.g.
# 'iha_gateway_deliveries_total{outcome="delivered",code="202"}'; 0 when absent.
gw_metric() {
    gw_metrics | awk -v s="$1" '$1 == s { v = $2 } END { print (v == "" ? 0 : v) }'
}

# gw_metric_is SERIES VALUE: true when the series has VALUE now (for wait_until).
gw_metric_is() { [[ "$(gw_metric "$1")" == "$2" ]]; }

# assert_metric SERIES VALUE
assert_metric() { assert_eq "$(gw_metric "$1")" "$2" "metric $1"; }

# gw_reload: POST /-/reload with the bearer token; sets HTTP_CODE and HTTP_BODY.
gw_reload() { http POST "$GW_URL/-/reload" - -H "Authorization: Bearer $GW_TOKEN"; }

# gw_pid: the PID of the running gateway started by start_gateway.
gw_pid() {
    local entry
    for entry in "${IT_PIDS[@]}"; do
        [[ "${entry%%:*}" == gateway ]] && echo "${entry#*:}"
    done
}

# it_artifacts_dir: build/artifacts of the source tree (kept for CI), created if needed.
it_artifacts_dir() {
    local d=${IHA_ARTIFACTS_DIR:-$IT_ROOT/build/artifacts}
    mkdir -p "$d"
    echo "$d"
}
