#!/usr/bin/env bash
# Keystone service tokens against the real Keystone and the real Masakari API with
# auth_strategy = keystone (issue 5):
#   - an application credential with the admin role delivers (202 stored), with the
#     Instance HA URL discovered from the service catalog;
#   - tokens that expire after 60 s are renewed with no failed delivery across expiry;
#   - Keystone stopped while the cached token is valid: delivery continues;
#   - every Keystone authentication is counted in iha_gateway_token_renewals_total{result};
#   - a user with only `member` gets Masakari's 403 (naming the policy) in the log and the
#     dead-letter entry, and a native sender gets 503 saying so;
#   - a wrong password is reported as refused credentials, without the password;
#   - clouds.yaml + secure.yaml (private files via OS_CLIENT_CONFIG_FILE/OS_CLIENT_SECURE_FILE).
source "$(dirname "$0")/lib.sh"
it_init keystone_service_token

command -v keystone-manage >/dev/null && command -v openstack >/dev/null ||
    fail "keystone or python3-openstackclient missing (scripts/install-deps.sh --test)"

KEYSTONE_TOKEN_EXPIRATION=60 start_keystone
GW_PW="gw-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
MEMBER_PW="mb-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
ks_admin user create --domain Default --password "$GW_PW" iha-gateway >/dev/null
ks_admin role add --project service --user iha-gateway admin
ks_admin user create --domain Default --password "$MEMBER_PW" iha-member >/dev/null
ks_admin role add --project service --user iha-member member
APPCRED=$(ks_os iha-gateway "$GW_PW" service application credential create iha-gw -f json)
AC_ID=$(jq -r .id <<<"$APPCRED")
AC_SECRET=$(jq -r .secret <<<"$APPCRED")
[[ -n "$AC_ID" && -n "$AC_SECRET" && "$AC_SECRET" != null ]] || fail "no application credential"
ok "application credential $AC_ID for iha-gateway (admin on service)"

start_masakari_keystone
HOSTS=()
for i in $(seq 1 30); do HOSTS+=("compute-$i"); done
seed_hosts seg1 "${HOSTS[@]}"

# The catalog entry for endpoint discovery, as the install guide registers it.
ks_register_endpoint instance-ha masakari "$MASAKARI_URL/v1/%(tenant_id)s"
assert_contains "$(ks_admin endpoint list --service instance-ha -f value -c URL)" \
    "$MASAKARI_URL/v1/" "instance-ha endpoint registered"
# Tokens live 60 s here: read Masakari with a fresh admin token each time.
admin_count() { masakari_count_token "$(ks_token admin "$KEYSTONE_ADMIN_PW" admin)"; }

SECRET_FILE="$WORK/app-cred-secret"
(umask 077 && printf '%s\n' "$AC_SECRET" >"$SECRET_FILE")

N=0
STORED=0
# post_host: one HostDown webhook for the next host (answered once stored durably); sets
# HTTP_CODE/HTTP_BODY, HOST.
post_host() {
    N=$((N + 1))
    HOST="compute-$N"
    gw_post /api/v1/alertmanager "$(webhook_body alertname=HostDown severity=critical \
        instance="$HOST:9100")"
    assert_eq "$HTTP_CODE" 200 "$HOST: webhook answer"
}
# post_native: the Instance HA payload for the next host on /v1/notifications, answered
# with Instance HA's own answer.
post_native() {
    N=$((N + 1))
    HOST="compute-$N"
    gw_post /v1/notifications "$(jq -c -n --arg h "$HOST" --arg t "$(date -u +%FT%TZ)" '
        {notification: {type: "COMPUTE_HOST", hostname: $h, generated_time: $t,
         payload: {event: "STOPPED", host_status: "NORMAL", cluster_status: "OFFLINE"}}}')"
}
_stored_is() { [[ "$(admin_count)" == "$1" ]]; }
# expect_stored: one more notification is in Masakari within 15 s.
expect_stored() {
    STORED=$((STORED + 1))
    wait_until 15 "$HOST stored in Masakari ($STORED notifications)" _stored_is "$STORED"
    ok "$HOST stored in Masakari"
}

# Masakari behind Keystone answers slowly on a loaded machine (token validation); the
# attempt count below must not depend on that, so the delivery timeout is generous.
export GW_IHA_EXTRA="  timeout: 60s"
# ---- application credential, URL from the catalog, renewal across expiry ----------
start_gateway_auth "    type: application_credential
    auth_url: $KEYSTONE_URL/v3
    application_credential_id: $AC_ID
    application_credential_secret_file: $SECRET_FILE
    region_name: RegionOne" discover
assert_contains "$(cat "$GW_DIR/gateway.log")" \
    "instance_ha.url discovered from the service catalog" "URL discovered from the catalog"
assert_contains "$(grep 'discovered' "$GW_DIR/gateway.log")" "url=$MASAKARI_URL" \
    "discovered URL is Masakari's base URL"

T_RENEW=$SECONDS
while ((SECONDS - T_RENEW < 66)); do
    post_host
    expect_stored
    sleep 4
done
RENEWED=$(grep -c 'keystone: service token renewed' "$GW_DIR/gateway.log" || true)
((RENEWED >= 1)) || fail "no token renewal logged within 66 s of 60 s tokens"
ok "token renewed $RENEWED time(s) in $((SECONDS - T_RENEW)) s, every delivery succeeded"
if grep -q 'http_code=401' "$GW_DIR/gateway.log"; then
    fail "a delivery was refused with 401 across token expiry"
fi
ok "no 401 from Instance HA across token expiry"
# The first token and at least one renewal, none failed.
RENEWALS=$(gw_metric 'iha_gateway_token_renewals_total{result="success"}')
((RENEWALS >= 2)) || fail "iha_gateway_token_renewals_total{result=\"success\"} is $RENEWALS, want >= 2"
ok "iha_gateway_token_renewals_total{result=\"success\"} = $RENEWALS"
assert_metric 'iha_gateway_token_renewals_total{result="failure"}' 0
assert_eq "$(grep -c 'msg="delivery attempt"' "$GW_DIR/gateway.log")" "$N" \
    "one delivery attempt per notification"
assert_eq "$(grep 'msg="delivery attempt"' "$GW_DIR/gateway.log" | grep -c 'outcome=delivered')" \
    "$N" "every attempt was delivered"

# ---- Keystone stopped while the cached token is valid -------------------------------
post_native # Masakari's keystonemiddleware validates (and caches) the current token
assert_eq "$HTTP_CODE" 202 "$HOST: Instance HA's 202 through the gateway"
STORED=$((STORED + 1))
stop_keystone
post_native
assert_eq "$HTTP_CODE" 202 "$HOST: 202 with Keystone stopped (cached token)"
STORED=$((STORED + 1))
restart_keystone
assert_eq "$(admin_count)" "$STORED" "Masakari stored them"
if grep -q "$AC_SECRET" "$GW_DIR/gateway.log"; then fail "the secret appears in the log"; fi
ok "the application credential secret never appears in the log"
stop_gateway

# ---- a member-only user: Masakari's 403 surfaced --------------------------------------
start_gateway_auth "    type: password
    auth_url: $KEYSTONE_URL
    username: iha-member
    password: \"$MEMBER_PW\"
    project_name: service"
# The first authentication runs in the background after start: wait for its verdict.
wait_until 20 "the gateway to warn that the member token has no admin role" \
    grep -q "has no 'admin' role" "$GW_DIR/gateway.log"
ok "missing admin role warned"
post_native
log "answer for the member user: $HTTP_CODE $HTTP_BODY"
# The 403 is final: the native sender is told 503 with Instance HA's message, not "queued".
assert_eq "$HTTP_CODE" 503 "$HOST: native answer to Instance HA's 403"
assert_json "$HTTP_BODY" '.serviceUnavailable.code == 503' "a serviceUnavailable fault"
assert_contains "$(jq -r .serviceUnavailable.message <<<"$HTTP_BODY")" \
    "Policy doesn't allow os_masakari_api:notifications:create" "the answer names the policy"
assert_contains "$(jq -r .serviceUnavailable.message <<<"$HTTP_BODY")" \
    "not allowed to create notifications" "the answer says the service user is not allowed"
assert_contains "$(jq -r .serviceUnavailable.message <<<"$HTTP_BODY")" "dead-lettered" \
    "the answer says the notification was dead-lettered"
GW_ID=$(jq -r '.serviceUnavailable.gateway_id // empty' <<<"$HTTP_BODY")
[[ -n "$GW_ID" ]] || fail "no gateway_id in the 503 answer: $HTTP_BODY"
ok "the 503 answer carries the gateway id $GW_ID"
wait_until 15 "the 403 is logged" grep -q 'http_code=403' "$GW_DIR/gateway.log"
assert_contains "$(grep 'msg="delivery attempt"' "$GW_DIR/gateway.log")" \
    "Policy doesn't allow os_masakari_api:notifications:create" "the log names the policy"
# The operator sees Masakari's 403 in the dead-letter entry, as the answer said.
dead_list() { "${IHA_GATEWAY_BIN:-$IT_ROOT/build/iha-gateway}" deadletter list \
    --storage.path="$GW_DIR/storage" 2>&1; }
_dead_has() { [[ "$(dead_list)" == *"$1"* ]]; }
wait_until 10 "$GW_ID in the dead letters" _dead_has "$GW_ID"
DEAD=$(dead_list) || true
assert_contains "$DEAD" "os_masakari_api:notifications:create" \
    "the dead-letter entry names the policy"
assert_contains "$DEAD" "$GW_ID" "the dead-letter entry is the one the answer named"
if grep -q "$MEMBER_PW" "$GW_DIR/gateway.log"; then fail "the password appears in the log"; fi
ok "the password never appears in the log"
stop_gateway

# ---- wrong password: refused credentials, said once ------------------------------------
start_gateway_auth "    type: password
    auth_url: $KEYSTONE_URL
    username: iha-gateway
    password: not-the-password
    project_name: service"
post_native
wait_until 15 "Instance HA's 401 is logged" grep -q 'http_code=401' "$GW_DIR/gateway.log"
ok "$HOST: refused by Instance HA without a token"
sleep 3 # the queue retries: the refusal must still be logged only once
assert_eq "$(grep -c 'state=credentials_refused' "$GW_DIR/gateway.log")" 1 \
    "refused credentials logged once"
FAILURES=$(gw_metric 'iha_gateway_token_renewals_total{result="failure"}')
((FAILURES >= 1)) || fail "iha_gateway_token_renewals_total{result=\"failure\"} is $FAILURES"
ok "iha_gateway_token_renewals_total{result=\"failure\"} = $FAILURES"
assert_metric 'iha_gateway_token_renewals_total{result="success"}' 0
if grep -q 'not-the-password' "$GW_DIR/gateway.log"; then fail "the password appears in the log"; fi
ok "the wrong password never appears in the log"
stop_gateway

# ---- clouds.yaml + secure.yaml ----------------------------------------------------------
CLOUD_DIR="$WORK/openstack"
mkdir -p "$CLOUD_DIR"
cat >"$CLOUD_DIR/clouds.yaml" <<YAML
clouds:
  other:
    auth: {auth_url: "http://127.0.0.1:9/v3"}
  iha:
    auth_type: v3applicationcredential
    auth:
      auth_url: $KEYSTONE_URL/v3
      application_credential_id: $AC_ID
    region_name: RegionOne
    interface: public
YAML
(umask 077 && cat >"$CLOUD_DIR/secure.yaml" <<YAML
clouds:
  iha:
    auth:
      application_credential_secret: "$AC_SECRET"
YAML
)
export OS_CLIENT_CONFIG_FILE="$CLOUD_DIR/clouds.yaml" OS_CLIENT_SECURE_FILE="$CLOUD_DIR/secure.yaml"
start_gateway_auth "    type: cloud
    cloud: iha" discover
unset OS_CLIENT_CONFIG_FILE OS_CLIENT_SECURE_FILE
assert_contains "$(grep 'service token from Keystone' "$GW_DIR/gateway.log")" \
    "cloud iha in $CLOUD_DIR/clouds.yaml + $CLOUD_DIR/secure.yaml" "cloud entry resolved"
post_host
expect_stored

assert_loopback_only
it_pass
