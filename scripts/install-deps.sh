#!/usr/bin/env bash
# Installs what iha-gateway needs on Debian 12, idempotently.
#
#   scripts/install-deps.sh [--build] [--test]
#
#   --build  compilers and libraries to build the gateway and its unit tests
#   --test   the real peers the integration tests run: masakari-api,
#            prometheus-alertmanager, keystone (with python3-openstackclient),
#            nagios4-core + monitoring-plugins-basic, plus jq, curl and sqlite3;
#            prometheus (promtool), chromium (status page), systemd
#            (systemd-analyze verify) and python3-yaml for the operability tests
#   (no option = --build)
#
# Must run as root (CI does). Before installing, it writes /usr/sbin/policy-rc.d
# (exit 101) if absent, so that package scripts do not start masakari-api or
# alertmanager as system services listening on all addresses. apt-get update runs
# at most once per invocation, and not at all when every package is present.
set -euo pipefail

BUILD_PKGS=(build-essential cmake pkg-config libmicrohttpd-dev libgnutls28-dev libjansson-dev
            libcurl4-openssl-dev libyaml-dev libpcre2-dev libcmocka-dev clang-format
            clang-tools clang libclang-rt-14-dev)
TEST_PKGS=(masakari-api prometheus-alertmanager jq curl openssl sqlite3 keystone python3-openstackclient
           nagios4-core monitoring-plugins-basic prometheus chromium systemd python3-yaml)

want_build=0
want_test=0
for arg in "$@"; do
    case "$arg" in
        --build) want_build=1 ;;
        --test) want_test=1 ;;
        -h|--help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "install-deps.sh: unknown option: $arg" >&2; exit 2 ;;
    esac
done
if [[ $want_build -eq 0 && $want_test -eq 0 ]]; then
    want_build=1
fi

pkgs=()
[[ $want_build -eq 1 ]] && pkgs+=("${BUILD_PKGS[@]}")
[[ $want_test -eq 1 ]] && pkgs+=("${TEST_PKGS[@]}")

# A package counts as present only when dpkg says "install ok installed".
missing=()
for p in "${pkgs[@]}"; do
    status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
    if [[ "$status" != "install ok installed" ]]; then
        missing+=("$p")
    fi
done

if [[ ${#missing[@]} -eq 0 ]]; then
    echo "install-deps: all ${#pkgs[@]} packages present"
    exit 0
fi

if [[ $(id -u) -ne 0 ]]; then
    echo "install-deps: missing packages: ${missing[*]}" >&2
    echo "install-deps: run as root (sudo $0 $*) to install them" >&2
    exit 1
fi

if [[ ! -e /usr/sbin/policy-rc.d ]]; then
    echo "install-deps: writing /usr/sbin/policy-rc.d (services are not started by packages)"
    printf '#!/bin/sh\n# written by iha-gateway scripts/install-deps.sh: no service starts from package scripts\nexit 101\n' \
        > /usr/sbin/policy-rc.d
    chmod 0755 /usr/sbin/policy-rc.d
fi

export DEBIAN_FRONTEND=noninteractive
echo "install-deps: installing: ${missing[*]}"
apt-get update -q
apt-get install -y -q --no-install-recommends "${missing[@]}"
echo "install-deps: done"
