#!/usr/bin/env bash
# HTTP basic auth under load, as Alertmanager meets it (it drops an alert answered 4xx
# and retries one answered 5xx):
#  (a) a correct credential that cannot be verified now is answered 503 with
#      Retry-After, never 401;
#  (b) a slow password hash (bcrypt cost 15) does not hold /-/healthy or a
#      bearer-token ingest: both are answered while the hash runs;
#  (c) a verified credential survives POST /-/reload: no second hash;
#  (d) one client cycling wrong passwords does not spend another client's budget.
# shellcheck disable=SC2119  # start_* take optional arguments
source "$(dirname "$0")/lib.sh"
it_init auth_basic_busy

command -v python3 >/dev/null || { log "SKIP: python3 missing"; exit 77; }
# bcrypt hashes with libxcrypt (through Python's crypt module); ROUNDS = 2^cost.
bcrypt() {
    python3 -W ignore -c 'import crypt, sys
print(crypt.crypt(sys.argv[1], crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=int(sys.argv[2]))))' "$1" "$2"
}

N_USERS=20
users="    basic_auth_users:"$'\n'
for i in $(seq 1 "$N_USERS"); do
    users+="      u$i: \"$(bcrypt "pw-$i" 16)\""$'\n'
done
users+="      fresh: \"$(bcrypt pw-fresh 16)\""$'\n'
users+="      slow: \"$(bcrypt pw-slow 32768)\""$'\n'
GW_AUTH_EXTRA=${users%$'\n'}
export GW_AUTH_EXTRA

# Nothing is delivered: Masakari is not needed.
MASAKARI_URL="http://127.0.0.1:15869"
start_gateway
bearer=(-H "Authorization: Bearer $GW_TOKEN")

basic() { printf 'Authorization: Basic %s' "$(printf '%s' "$1" | base64 -w0)"; }

# (a) Twenty different correct credentials in a row from one client, right after start
# (nothing cached): each is 200, or 503 with Retry-After. Never 401.
n200=0 n503=0
for i in $(seq 1 "$N_USERS"); do
    code=$(curl -s -o /dev/null -D "$WORK/h.$i" -w '%{http_code}' --max-time 30 \
        -H "$(basic "u$i:pw-$i")" "$GW_URL/api/v1/status")
    case "$code" in
        200) n200=$((n200 + 1)) ;;
        503)
            grep -qi '^Retry-After: [0-9]' "$WORK/h.$i" ||
                fail "u$i: 503 without Retry-After: $(tr -d '\r' <"$WORK/h.$i")"
            n503=$((n503 + 1))
            ;;
        *) fail "u$i: a correct credential was answered $code" ;;
    esac
done
log "20 new correct credentials: $n200 x 200, $n503 x 503"
[[ $n503 -ge 1 ]] || fail "20 new credentials in a row from one client were all verified at once"
ok "a correct credential beyond the budget is answered 503 with Retry-After, never 401"
assert_eq "$(gw_metric 'iha_gateway_auth_basic_busy_total')" "$n503" \
    "iha_gateway_auth_basic_busy_total"

# (b) The slow credential (cost 15, about 2 s here) is verified while other requests
# are answered: /-/healthy and a bearer-token request complete first.
curl -s -o "$WORK/slow.body" -w '%{http_code}' --max-time 60 --interface 127.0.0.3 \
    -H "$(basic slow:pw-slow)" "$GW_URL/api/v1/status" >"$WORK/slow.code" &
slow_pid=$!
wait_until 10 "the slow verification to start" \
    gw_metric_is iha_gateway_auth_basic_verifications_pending 1
http GET "$GW_URL/-/healthy"
assert_eq "$HTTP_CODE" 200 "/-/healthy while a slow hash runs"
http GET "$GW_URL/api/v1/status" - "${bearer[@]}"
assert_eq "$HTTP_CODE" 200 "bearer-token request while a slow hash runs"
kill -0 "$slow_pid" 2>/dev/null ||
    fail "the slow verification finished before the other requests were answered"
ok "/-/healthy and a bearer request were answered while the slow hash ran"
wait "$slow_pid" || true
assert_eq "$(cat "$WORK/slow.code")" 200 "the slow credential, once verified"

# (c) The verified credential is kept over a reload: no new hash.
accepted=$(gw_metric 'iha_gateway_auth_basic_verifications_total{result="accepted"}')
gw_reload
assert_eq "$HTTP_CODE" 200 "POST /-/reload"
http GET "$GW_URL/api/v1/status" - -H "$(basic slow:pw-slow)"
assert_eq "$HTTP_CODE" 200 "the slow credential after a reload"
assert_eq "$(gw_metric 'iha_gateway_auth_basic_verifications_total{result="accepted"}')" \
    "$accepted" "password hashes computed for it after the reload"

# (d) 127.0.0.2 cycles 60 wrong passwords; a new correct credential from 127.0.0.4 is
# still verified (200), and the wrong ones got 401 or 503, nothing else.
for i in $(seq 1 60); do
    curl -s -o /dev/null -w '%{http_code}\n' --max-time 30 --interface 127.0.0.2 \
        -H "$(basic "u1:wrong-$i")" "$GW_URL/api/v1/status"
done >"$WORK/flood.codes"
bad=$(grep -cvE '^(401|503)$' "$WORK/flood.codes" || true)
assert_eq "$bad" 0 "wrong passwords answered other than 401/503"
http GET "$GW_URL/api/v1/status" - --interface 127.0.0.4 -H "$(basic fresh:pw-fresh)"
assert_eq "$HTTP_CODE" 200 "a new correct credential from another client after the flood"
it_pass
