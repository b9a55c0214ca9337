#!/usr/bin/env bash
# Durable queue benchmark: accepted notifications/s and p99 accept latency with the queue's
# fsync group commit on a real disk, against the same run with the data directory on tmpfs
# (fsync is free there), and the ratio disk/tmpfs. Interleaved rounds; medians.
#
#   bench/queue_bench.sh [BUILD_DIR] [ROUNDS] [SECONDS] [CONNECTIONS]
#   defaults: build 3 5 32; DISK_DIR (default /var/tmp) holds the on-disk data directory.
#
# Delivery goes to a listener that accepts connections and never answers, so the delivery
# thread costs the same little in both runs and what differs is storage alone.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-$ROOT/build}
ROUNDS=${2:-3}
SECS=${3:-5}
CONNS=${4:-32}
GW=$BUILD/iha-gateway
LOAD=$BUILD/bench/queue_bench
[[ -x $GW && -x $LOAD ]] || { echo "build first: cmake --build $BUILD --target iha-gateway queue_bench" >&2; exit 2; }

WORK=$(mktemp -d /tmp/iha-qbench.XXXXXX)
DISK=$(mktemp -d "${DISK_DIR:-/var/tmp}/iha-qbench-disk.XXXXXX")
SHM=$(mktemp -d /dev/shm/iha-qbench.XXXXXX)
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    rm -rf "$WORK" "$DISK" "$SHM"
}
trap cleanup EXIT

port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
BLACKHOLE=$(port)
/usr/bin/python3 -c "import socket,time; s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(('127.0.0.1',$BLACKHOLE)); s.listen(4096); time.sleep(1e9)" &
PIDS+=($!)

# run_once DATA_DIR TAG: prints the load generator's line.
run_once() {
    local data=$1 tag=$2 p
    rm -rf "$data"
    p=$(port)
    cat >"$WORK/config.yml" <<CFG
web:
  listen_address: "127.0.0.1:$p"
  auth:
    disabled: true
instance_ha:
  url: "http://127.0.0.1:$BLACKHOLE"
  timeout: 60s
dedupe:
  max_entries: 10000000
storage:
  path: $data
  max_entries: 2000000
  max_bytes: 1GiB
  segment_bytes: 64MiB
log:
  level: error
CFG
    taskset -c 1 "$GW" --config.file="$WORK/config.yml" >"$WORK/gw-$tag.log" 2>&1 &
    local gw=$!
    for _ in $(seq 100); do curl -fs -o /dev/null "http://127.0.0.1:$p/-/ready" && break; sleep 0.05; done
    taskset -c 0 "$LOAD" "http://127.0.0.1:$p/api/v1/alertmanager" "$CONNS" "$SECS" "$tag-$RANDOM"
    kill "$gw" 2>/dev/null || echo "gateway exited early: $(tail -n 3 "$WORK/gw-$tag.log")" >&2
    wait "$gw" 2>/dev/null || true
}

field() { sed -n "s/.*$1=\([0-9.]*\).*/\1/p" <<<"$2"; }
median() { sort -g | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }

echo "# iha-gateway durable queue benchmark: $ROUNDS rounds x ${SECS}s, $CONNS connections"
echo "# disk: $(df -hT "$DISK" | tail -n 1 | awk '{ print $1, $2 }')   tmpfs: /dev/shm   cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2)"
declare -a dr dp tr tp rr pr
for ((r = 1; r <= ROUNDS; r++)); do
    d=$(run_once "$DISK/data" disk)
    t=$(run_once "$SHM/data" tmpfs)
    echo "round $r  disk:  $d"
    echo "round $r  tmpfs: $t"
    dr+=("$(field rate "$d")") dp+=("$(field p99_ms "$d")")
    tr+=("$(field rate "$t")") tp+=("$(field p99_ms "$t")")
    rr+=("$(awk -v a="${dr[-1]}" -v b="${tr[-1]}" 'BEGIN { printf "%.3f", (b > 0) ? a / b : 0 }')")
    pr+=("$(awk -v a="${dp[-1]}" -v b="${tp[-1]}" 'BEGIN { printf "%.2f", (b > 0) ? a / b : 0 }')")
done
printf '\n%-28s %12s %12s %10s\n' "median of $ROUNDS rounds" "disk+fsync" "tmpfs" "ratio"
printf '%-28s %12s %12s %10s\n' "accepted notifications/s" "$(printf '%s\n' "${dr[@]}" | median)" \
    "$(printf '%s\n' "${tr[@]}" | median)" "$(printf '%s\n' "${rr[@]}" | median)"
printf '%-28s %12s %12s %10s\n' "p99 accept latency (ms)" "$(printf '%s\n' "${dp[@]}" | median)" \
    "$(printf '%s\n' "${tp[@]}" | median)" "$(printf '%s\n' "${pr[@]}" | median)"
