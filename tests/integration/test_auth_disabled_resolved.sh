#!/usr/bin/env bash
# web.auth.disabled is allowed only when the listener binds loopback addresses. A name is
# judged by what it resolves to, not by its spelling: with /etc/hosts mapping "localhost"
# to this machine's non-loopback address (in a private mount namespace), check-config and
# the daemon refuse web.auth.disabled on "localhost:PORT"; with the real /etc/hosts
# (localhost = 127.0.0.1) the same config starts and answers on 127.0.0.1.
# Skips (77) where unshare or a non-loopback address is not available.
source "$(dirname "$0")/lib.sh"

bin=${IHA_GATEWAY_BIN:-$(dirname "$0")/../../build/iha-gateway}
addr=$(hostname -I 2>/dev/null | tr ' ' '\n' | grep -E '^[0-9.]+$' | grep -v '^127\.' | head -1)
if [[ -z "$addr" ]] || ! command -v unshare >/dev/null; then
    echo "no non-loopback IPv4 address or no unshare: skipping" >&2
    exit 77
fi
it_init auth_disabled_resolved
dir=$(_new_dir gw)
port=$(free_port)
printf '%s localhost\n' "$addr" >"$dir/hosts"
cat >"$dir/config.yml" <<EOC
web:
  listen_address: "localhost:$port"
  auth:
    disabled: true
instance_ha:
  url: "http://127.0.0.1:15868"
storage:
  path: $dir/data
EOC

# in_ns CMD...: runs CMD with $dir/hosts as /etc/hosts, in a private mount namespace.
in_ns() {
    # shellcheck disable=SC2016  # expanded by the inner sh
    unshare -rm sh -c 'mount --bind "$0" /etc/hosts && exec "$@"' "$dir/hosts" "$@"
}
if ! in_ns getent ahosts localhost 2>/dev/null | grep -q "^$addr "; then
    log "cannot remap localhost in a private mount namespace: skipping"
    IT_DONE=1
    exit 77
fi
ok "in the namespace localhost resolves to $addr"

rc=0
out=$(in_ns "$bin" check-config "$dir/config.yml" 2>&1) || rc=$?
[[ $rc -ne 0 ]] || fail "check-config accepted web.auth.disabled on localhost = $addr: $out"
assert_contains "$out" "web.auth.disabled: only allowed when web.listen_address is a loopback" \
    "check-config refuses web.auth.disabled on localhost = $addr"

IHA_SERVICE_TOKEN=unused in_ns "$bin" --config.file="$dir/config.yml" >"$dir/gateway.log" 2>&1 \
    </dev/null &
pid=$!
_track gateway-ns "$pid"
for _ in $(seq 1 100); do
    kill -0 "$pid" 2>/dev/null || break
    if curl -fsS -o /dev/null --max-time 2 "http://$addr:$port/-/ready" 2>/dev/null; then
        http POST "http://$addr:$port/api/v1/alertmanager" "$(printf '{"alerts":[]}')"
        fail "the gateway serves $addr:$port with authentication disabled (POST answered $HTTP_CODE)"
    fi
    sleep 0.1
done
kill -0 "$pid" 2>/dev/null && fail "the gateway neither refused nor served $addr:$port"
rc=0
wait "$pid" || rc=$?
[[ $rc -ne 0 ]] || fail "the daemon exited 0"
grep -qE 'web\.auth\.disabled(: only allowed| is allowed only)' "$dir/gateway.log" ||
    fail "the daemon exited $rc without saying why: $(head -c 1000 "$dir/gateway.log")"
ok "the daemon refuses web.auth.disabled on localhost = $addr (exit $rc)"

# Control: the real /etc/hosts maps localhost to 127.0.0.1; the same config starts.
IHA_SERVICE_TOKEN=unused "$bin" --config.file="$dir/config.yml" >"$dir/gateway2.log" 2>&1 </dev/null &
pid=$!
_track gateway "$pid"
wait_http_ok 30 "http://127.0.0.1:$port/-/ready" "$pid" iha-gateway
http GET "http://127.0.0.1:$port/api/v1/status"
assert_eq "$HTTP_CODE" 200 "localhost = 127.0.0.1, authentication disabled: /api/v1/status"

it_pass
