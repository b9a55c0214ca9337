#!/usr/bin/env bash
# TLS on the listener (web.tls_server_config), with the real Alertmanager:
#  (a) VerifyClientCertIfGiven: Alertmanager with a client certificate (http_config.tls_config
#      with ca_file, cert_file, key_file) and Alertmanager without one both deliver a HostDown
#      over https, which ends in the real Masakari; a client certificate from another CA is
#      refused 401; plain HTTP on the port gets no answer;
#  (b) the certificate is renewed by replacing its files: new connections get the new one,
#      without a restart or a reload;
#  (c) RequireAndVerifyClientCert and min_version TLS13: no client certificate is 401, a
#      trusted one is served, a client capped at TLS 1.2 cannot connect.
# shellcheck disable=SC2119  # start_* take optional arguments
source "$(dirname "$0")/lib.sh"
it_init tls_listener

command -v openssl >/dev/null || { log "SKIP: openssl missing"; exit 77; }

PKI="$WORK/pki"
mkdir -p "$PKI"
# ca NAME: a self-signed CA.
ca() {
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
        -subj "/CN=$1" -keyout "$PKI/$1.key" -out "$PKI/$1.crt" 2>/dev/null ||
        fail "openssl: CA $1"
}
# cert NAME CA SAN: a certificate signed by CA.
cert() {
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$1" \
        -keyout "$PKI/$1.key" -out "$PKI/$1.csr" 2>/dev/null || fail "openssl: key $1"
    printf 'subjectAltName=%s\n' "$3" >"$PKI/$1.ext"
    openssl x509 -req -in "$PKI/$1.csr" -CA "$PKI/$2.crt" -CAkey "$PKI/$2.key" \
        -CAcreateserial -days 2 -extfile "$PKI/$1.ext" -out "$PKI/$1.crt" 2>/dev/null ||
        fail "openssl: certificate $1"
}
ca ca
ca rogue-ca
cert server ca IP:127.0.0.1
cert server2 ca IP:127.0.0.1
cert alertmanager ca DNS:alertmanager
cert rogue rogue-ca DNS:rogue
mkdir -p "$PKI/live"
cp "$PKI/server.crt" "$PKI/server.key" "$PKI/live/"

export IT_CACERT="$PKI/ca.crt"
GW_SCHEME=https
tls_config() {
    GW_WEB_EXTRA="  tls_server_config:
    cert_file: $PKI/live/server.crt
    key_file: $PKI/live/server.key
    client_ca_file: $PKI/ca.crt
    client_auth_type: $1${2:+
    min_version: $2}"
}
serial_of() { openssl x509 -noout -serial -in "$1" | cut -d= -f2; }
served_serial() {
    openssl s_client -connect "127.0.0.1:$GW_PORT" -CAfile "$PKI/ca.crt" </dev/null 2>/dev/null |
        openssl x509 -noout -serial 2>/dev/null | cut -d= -f2
}
status_code() {
    curl -s -o /dev/null -w '%{http_code}' --max-time 10 --cacert "$PKI/ca.crt" "$@" \
        -H "Authorization: Bearer $GW_TOKEN" "$GW_URL/api/v1/status" || true
}
count_is() { [[ "$(masakari_count "$1")" == "$2" ]]; }

# --- (a) -------------------------------------------------------------------------------
start_masakari
seed_hosts seg1 compute-1 compute-2
tls_config VerifyClientCertIfGiven
start_gateway
AM_HTTP_EXTRA="          tls_config:
            ca_file: $PKI/ca.crt
            cert_file: $PKI/alertmanager.crt
            key_file: $PKI/alertmanager.key" \
    start_alertmanager "$GW_URL/api/v1/alertmanager"
am1_url=$AM_URL
am_add_alert alertname=HostDown severity=critical hostname=compute-1 instance=compute-1:9100
wait_until 60 "COMPUTE_HOST compute-1 in Masakari, sent by Alertmanager with a client certificate" \
    count_is 'select(.type == "COMPUTE_HOST" and .hostname == "compute-1")' 1
ok "Alertmanager with a client certificate delivers over https"

AM_HTTP_EXTRA="          tls_config:
            ca_file: $PKI/ca.crt" start_alertmanager "$GW_URL/api/v1/alertmanager"
[[ "$AM_URL" != "$am1_url" ]] || fail "the second Alertmanager did not start"
am_add_alert alertname=HostDown severity=critical hostname=compute-2 instance=compute-2:9100
wait_until 60 "COMPUTE_HOST compute-2 in Masakari, sent by Alertmanager without a client certificate" \
    count_is 'select(.type == "COMPUTE_HOST" and .hostname == "compute-2")' 1
ok "Alertmanager without a client certificate delivers over https (VerifyClientCertIfGiven)"

assert_eq "$(status_code --cert "$PKI/alertmanager.crt" --key "$PKI/alertmanager.key")" 200 \
    "a trusted client certificate"
assert_eq "$(status_code --cert "$PKI/rogue.crt" --key "$PKI/rogue.key")" 401 \
    "a client certificate from another CA"
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "http://127.0.0.1:$GW_PORT/-/healthy" ||
    true)
[[ "$code" != 200 ]] || fail "plain HTTP was served on the TLS port"
ok "plain HTTP on the TLS port is not served"

# --- (b) -------------------------------------------------------------------------------
old=$(served_serial)
assert_eq "$old" "$(serial_of "$PKI/server.crt")" "the certificate served at start"
cp "$PKI/server2.key" "$PKI/live/server.key.new"
cp "$PKI/server2.crt" "$PKI/live/server.crt.new"
mv "$PKI/live/server.key.new" "$PKI/live/server.key"
mv "$PKI/live/server.crt.new" "$PKI/live/server.crt"
new=$(serial_of "$PKI/server2.crt")
wait_until 10 "the renewed certificate to be served" bash -c "[[ \$(openssl s_client \
    -connect 127.0.0.1:$GW_PORT -CAfile $PKI/ca.crt </dev/null 2>/dev/null |
    openssl x509 -noout -serial | cut -d= -f2) == $new ]]"
ok "the renewed certificate is served without a restart or a reload"
grep -q 'msg="TLS certificate renewed"' "$GW_DIR/gateway.log" || fail "no log line for the renewal"
stop_named gateway

# --- (c) -------------------------------------------------------------------------------
tls_config RequireAndVerifyClientCert TLS13
start_gateway
assert_eq "$(status_code)" 401 "no client certificate (RequireAndVerifyClientCert)"
assert_eq "$(status_code --cert "$PKI/alertmanager.crt" --key "$PKI/alertmanager.key")" 200 \
    "a trusted client certificate (RequireAndVerifyClientCert)"
code=$(status_code --tls-max 1.2 --cert "$PKI/alertmanager.crt" --key "$PKI/alertmanager.key")
assert_eq "$code" 000 "a client capped at TLS 1.2 (min_version TLS13)"
it_pass
