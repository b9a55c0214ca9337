#!/usr/bin/env bash
# Installs the build dependencies, builds iha-gateway and starts it with the
# embedded default configuration: listen on 127.0.0.1:9868, the shipped mapping
# rules, Instance HA at http://127.0.0.1:15868, the service token from
# $IHA_SERVICE_TOKEN or /etc/iha-gateway/service-token.
#
# Senders authenticate with a bearer token from /etc/iha-gateway/inbound-tokens;
# if that file does not exist, one random token is created and its path printed.
# Extra arguments are passed to iha-gateway (e.g. --instance-ha.url=...).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh --build
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build --target iha-gateway iha-notify -j"$(nproc)"

tokens=/etc/iha-gateway/inbound-tokens
if [ ! -e "$tokens" ]; then
    install -d -m 0750 /etc/iha-gateway
    umask 077
    head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$tokens"
    echo >>"$tokens"
    echo "created $tokens: give this token to Alertmanager (http_config.authorization.credentials_file)" >&2
fi
if [ -z "${IHA_SERVICE_TOKEN:-}" ] && [ ! -r /etc/iha-gateway/service-token ]; then
    echo "note: no service token for Instance HA: set IHA_SERVICE_TOKEN or write /etc/iha-gateway/service-token" >&2
fi
exec ./build/iha-gateway "$@"
