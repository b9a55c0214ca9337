#!/usr/bin/env bash
# Credentials written into the userinfo of a URL (http://user:secret@host) would be shown
# to anyone who can read the status page, /api/v1/status, the reload answer or the log.
# The gateway refuses such a URL: at start-up with a file:line:column message that says
# where credentials go, and on reload (the running configuration stays). The secret
# string must appear nowhere: not in the answers, not in the log.
# shellcheck disable=SC2119  # start_* take optional arguments
source "$(dirname "$0")/lib.sh"
it_init url_credentials

SECRET="s3cr3t-$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')"
BAD_URL="http://iha-user:$SECRET@127.0.0.1:15868"
bin=${IHA_GATEWAY_BIN:-$IT_ROOT/build/iha-gateway}

# assert_no_secret WHAT TEXT: TEXT must not contain the secret.
assert_no_secret() {
    if grep -qF -- "$SECRET" <<<"$2"; then
        fail "$1 shows the URL password: $(grep -F -- "$SECRET" <<<"$2" | head -c 400)"
    fi
    ok "$1: no password"
}

# --- start-up with a URL carrying credentials: refused ---------------------------------
# No Masakari is needed: the gateway must not get as far as delivering.
MASAKARI_URL="http://127.0.0.1:15868"
start_gateway
good_url=$MASAKARI_URL
dir=$(_new_dir badstart)
port=$(free_port)
sed -e "s|^  url: .*|  url: \"$BAD_URL\"|" -e "s|127.0.0.1:$GW_PORT|127.0.0.1:$port|" \
    -e "s|^  path: .*|  path: $dir/data|" "$GW_DIR/config.yml" >"$dir/config.yml"
IHA_SERVICE_TOKEN=it-service-token-ignored-by-noauth2 "$bin" --config.file="$dir/config.yml" >"$dir/gateway.log" 2>&1 </dev/null &
pid=$!
_track badstart "$pid"
# Bounded: either it exits (refused) or it answers (the defect).
for _ in $(seq 1 100); do
    kill -0 "$pid" 2>/dev/null || break
    if curl -fsS -o /dev/null --max-time 2 "http://127.0.0.1:$port/-/ready" 2>/dev/null; then
        http GET "http://127.0.0.1:$port/"
        assert_no_secret "status page of a gateway started with a credentials URL" "$HTTP_BODY"
        http GET "http://127.0.0.1:$port/api/v1/status"
        assert_no_secret "/api/v1/status of a gateway started with a credentials URL" "$HTTP_BODY"
        assert_no_secret "start-up log" "$(cat "$dir/gateway.log")"
        fail "the gateway started with credentials in instance_ha.url"
    fi
    sleep 0.1
done
kill -0 "$pid" 2>/dev/null && fail "the gateway neither refused the URL nor became ready"
rc=0
wait "$pid" || rc=$?
[[ $rc -ne 0 ]] || fail "start-up with a credentials URL exited 0"
ok "start-up with a credentials URL refused (exit $rc)"
startlog=$(cat "$dir/gateway.log")
assert_contains "$startlog" "config.yml:" "start-up error names the file"
grep -qE 'config\.yml:[0-9]+:[0-9]+: error: instance_ha\.url: .*instance_ha\.auth' <<<"$startlog" ||
    fail "start-up error lacks file:line:column or the hint to instance_ha.auth: $startlog"
ok "start-up error has file:line:column and says where credentials go"
assert_no_secret "start-up error" "$startlog"

# --- the same URL given as --instance-ha.url: refused -----------------------------------
sed -e "s|127.0.0.1:$GW_PORT|127.0.0.1:$port|" -e "s|^  path: .*|  path: $dir/data|" \
    "$GW_DIR/config.yml" >"$dir/good.yml"
rc=0
out=$(IHA_SERVICE_TOKEN=unused timeout 20 "$bin" --config.file="$dir/good.yml" \
    --instance-ha.url="$BAD_URL" 2>&1 </dev/null) || rc=$?
[[ $rc -ne 0 ]] || fail "--instance-ha.url with credentials: exit 0"
assert_contains "$out" "--instance-ha.url" "--instance-ha.url with credentials: refused, named"
assert_no_secret "--instance-ha.url error" "$out"

# --- reload with a URL carrying credentials: refused, the old URL stays ----------------
sed -i "s|^  url: .*|  url: \"$BAD_URL\"|" "$GW_DIR/config.yml"
gw_reload
assert_eq "$HTTP_CODE" 500 "reload with a credentials URL: HTTP status"
assert_no_secret "reload answer" "$HTTP_BODY"
assert_contains "$HTTP_BODY" "instance_ha.auth" "reload answer says where credentials go"
http GET "$GW_URL/api/v1/status" -H "Authorization: Bearer $GW_TOKEN"
assert_no_secret "/api/v1/status after the refused reload" "$HTTP_BODY"
assert_json "$HTTP_BODY" ".instance_ha.url == \"$good_url\"" "/api/v1/status: the old URL stays"
http GET "$GW_URL/"
assert_no_secret "status page after the refused reload" "$HTTP_BODY"
kill -HUP "$(gw_pid)"
wait_until 10 "the SIGHUP reload to fail" gw_metric_is 'iha_gateway_config_reloads_total{result="failure"}' 2
assert_no_secret "gateway log" "$(cat "$GW_DIR/gateway.log")"

it_pass
