#!/usr/bin/env bash
# Slow clients (slowloris) cannot lock senders out of the listener:
#  (a) 500 clients trickling their headers from ten loopback addresses; a sender with a
#      token is still served within a second, every time;
#  (b) 64 such clients from the sender's own address (a local user on Alertmanager's
#      host); the sender is still served within a second;
#  (c) the slow clients were closed by the gateway, and the metric says why.
# shellcheck disable=SC2119  # start_* take optional arguments
source "$(dirname "$0")/lib.sh"
it_init slow_clients

command -v python3 >/dev/null || { log "SKIP: python3 missing"; exit 77; }
ulimit -n 4096 2>/dev/null || true

# Nothing is delivered: Masakari is not needed.
MASAKARI_URL="http://127.0.0.1:15869"
start_gateway
body=$(webhook_body alertname=Unmapped instance=compute-1:9100)

# slow_start N SOURCES: starts the slow clients, waits until all have connected once.
slow_start() {
    local status="$WORK/slow.$RANDOM"
    python3 "$IT_ROOT/tests/integration/slow_clients.py" 127.0.0.1 "$GW_PORT" "$1" "$2" \
        "$status" 120 >"$status.log" 2>&1 &
    SLOW_PID=$!
    _track slow_clients "$SLOW_PID"
    wait_until 30 "$1 slow clients to connect" \
        bash -c "[[ -f $status ]] && awk -F'[= ]' '{ exit !(\$2 >= $1) }' $status"
    sleep 3 # they now hold their connections, trickling a byte a second
    log "slow clients: $(cat "$status")"
}

# served WHAT: five requests in a row, each answered 200 within a second.
served() {
    local i code
    for i in 1 2 3 4 5; do
        code=$(curl -s -o "$WORK/answer.json" -w '%{http_code}' --max-time 1 \
            -H "Authorization: Bearer $GW_TOKEN" -H 'Content-Type: application/json' \
            --data-binary "$body" "$GW_URL/api/v1/alertmanager") || true
        [[ "$code" == 200 ]] || fail "$1: request $i answered '$code' (curl gave up after 1 s?)"
    done
    assert_json "$(cat "$WORK/answer.json")" '.counts.dropped == 1' "the answer to the sender"
    ok "$1: five requests served, each within a second"
}

slow_start 500 127.0.0.2,127.0.0.3,127.0.0.4,127.0.0.5,127.0.0.6,127.0.0.7,127.0.0.8,127.0.0.9,127.0.0.10,127.0.0.11
served "500 slow clients on ten addresses"
stop_pid slow_clients "$SLOW_PID"

slow_start 64 127.0.0.1
served "64 slow clients on the sender's own address"
stop_pid slow_clients "$SLOW_PID"

limit=$(gw_metric 'iha_gateway_http_connections_closed_total{reason="untrusted_limit"}')
deadline=$(gw_metric 'iha_gateway_http_connections_closed_total{reason="deadline"}')
log "closed by the gateway: $limit over the caps, $deadline past the deadline"
[[ "${limit:-0}" -gt 0 ]] || fail "no slow client was closed over the caps"
ok "slow clients were closed to make room, and counted"
it_pass
