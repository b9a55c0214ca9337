#!/usr/bin/env bash
# Installs the build dependencies, builds iha-gateway and starts it with the
# embedded default configuration: listen on 127.0.0.1:9868, the shipped mapping
# rules, Instance HA at http://127.0.0.1:15868, the service token from
# $IHA_SERVICE_TOKEN or /etc/iha-gateway/service-token.
#
# Senders authenticate with a bearer token from /etc/iha-gateway/inbound-tokens;
# if that file does not exist, one random token is created and its path printed.
# Extra arguments are passed to iha-gateway (e.g. --instance-ha.url=...);
# --setup-only creates the group, directory and token file and exits (no build).
set -euo pipefail
cd "$(dirname "$0")/.."

# /etc/iha-gateway and its token files belong to root and the group iha-gateway
# (deploy/systemd/iha-gateway.sysusers.conf), which the systemd unit's dynamic user
# has as supplementary group: readable by the service, by nobody else.
etc=${IHA_ETC_DIR:-/etc/iha-gateway}
tokens=$etc/inbound-tokens
if ! getent group iha-gateway >/dev/null; then
    if command -v systemd-sysusers >/dev/null; then
        systemd-sysusers - <deploy/systemd/iha-gateway.sysusers.conf
    else
        groupadd --system iha-gateway
    fi
fi
install -d -m 0750 -g iha-gateway "$etc"
if [ ! -e "$tokens" ]; then
    (umask 027 && head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$tokens" && echo >>"$tokens")
    chgrp iha-gateway "$tokens"
    chmod 0640 "$tokens"
    echo "created $tokens: give this token to Alertmanager (http_config.authorization.credentials_file)" >&2
fi
# Files created by earlier versions (root, 0600) become readable by the service.
for f in "$tokens" "$etc/service-token"; do
    if [ -e "$f" ]; then chgrp iha-gateway "$f" && chmod 0640 "$f"; fi
done
if [ "${1:-}" = "--setup-only" ]; then
    exit 0
fi
bash scripts/install-deps.sh --build
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build --target iha-gateway iha-notify -j"$(nproc)"

if [ -z "${IHA_SERVICE_TOKEN:-}" ] && [ ! -r /etc/iha-gateway/service-token ]; then
    echo "note: no service token for Instance HA: set IHA_SERVICE_TOKEN or write /etc/iha-gateway/service-token" >&2
fi
exec ./build/iha-gateway "$@"
