#!/usr/bin/env bash
# Durable queue (issue 4), faults the real API cannot produce on demand, from a proxy in
# front of the real Masakari API: 5xx, a 500 after Masakari stored the row, a hang past the
# gateway's timeout (after storing), a reset in the middle of the response. Each
# notification still arrives exactly once.
# shellcheck disable=SC2119
source "$(dirname "$0")/lib.sh"
it_init queue_faults

start_masakari
seed_hosts seg1 f-500 f-stored f-hang f-reset f-mix
start_fault_proxy
GW_MAX_BACKOFF=1s GW_IHA_EXTRA="  timeout: 2s
  connect_timeout: 1s" start_gateway --instance-ha.url="$PROXY_URL"

# send HOST FAULTS...: queue the faults for the next POSTs, send a host failure for HOST,
# wait until Masakari holds it and the queue is empty, and check it is there once.
send() {
    local host=$1
    shift
    printf '%s\n' "$@" >"$PROXY_FAULTS"
    gw_post /api/v1/alertmanager "$(webhook_body alertname=HostDown severity=critical \
        hostname="$host" instance="$host":9100 job=node)"
    assert_eq "$HTTP_CODE" 200 "$host: HTTP status (queued)"
    stored() { [[ "$(masakari_count "select(.hostname == \"$1\")")" -ge 1 ]]; }
    wait_until 40 "$host stored in Masakari" stored "$host"
    wait_until 20 "the queue drained after $host" gw_queue_empty
    [[ ! -s "$PROXY_FAULTS" ]] || fail "$host: not every injected fault was used: $(cat "$PROXY_FAULTS")"
    sleep 1
    assert_eq "$(masakari_count "select(.hostname == \"$host\")")" 1 "$host: stored exactly once"
}

send f-500 500 500
send f-stored 500-stored
send f-hang hang
send f-reset reset
send f-mix 500 reset 500-stored hang
log "proxy log: $(tr '\n' ';' <"$PROXY_DIR/proxy.log")"
# the ambiguous failures were retried and Masakari answered those retries 409 duplicate
n409=$(grep -c ' 409$' "$PROXY_DIR/proxy.log" || true)
((n409 >= 5)) || fail "expected >= 5 retries answered 409 duplicate after ambiguous failures, got $n409"
ok "$n409 retries after ambiguous failures were answered 409 duplicate (idempotent)"
grep -q 'outcome=duplicate' "$GW_DIR/gateway.log" || fail "no duplicate outcome in the gateway log"
ok "the gateway counted Masakari's 409 duplicate as delivered"
assert_eq "$(masakari_count)" 5 "Masakari holds exactly 5 notifications"
assert_eq "$(gw_cli deadletter list 2>/dev/null)" "" "nothing dead-lettered"
it_pass
