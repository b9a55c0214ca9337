#!/usr/bin/env bash
# Durable queue (issue 4), crashes: the gateway is killed with SIGKILL at a random moment
# while a bounded load of distinct notifications arrives (LibvirtDomainCrashed webhooks, each
# with its own instance uuid, over 6 hosts; several rounds, same data directory); after the
# last restart every notification that got a 2xx is stored in Masakari exactly once, and
# none is stored twice.
# shellcheck disable=SC2119
source "$(dirname "$0")/lib.sh"
it_init queue_crash

ROUNDS=${IHA_TEST_CRASH_ROUNDS:-4}
PER_ROUND=400 # at most; the crash comes first
start_masakari
seed_many_hosts seg1 cr 6
export GW_STORAGE="$WORK/gateway-data"
ACKS="$WORK/acks"
: >"$ACKS"

# load URL FIRST COUNT: posts VM failures with instance uuids 00000000-...-FIRST.. with 4
# concurrent senders, one "UUID CODE" line per request in $ACKS (000 = no answer); stops
# early when the gateway is gone.
cat >"$WORK/load.py" <<'PYEOF'
import json, sys, threading, time, urllib.request, urllib.error
url, token, first, count, out = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
lock = threading.Lock()
hosts = ["00000000-0000-4000-8000-%012d" % i for i in range(first, first + count)]
def body(u):
    h = "cr-%d" % (int(u[-12:]) % 6)
    labels = {"alertname": "LibvirtDomainCrashed", "severity": "critical", "hostname": h,
              "uuid": u, "instance": h + ":9177", "job": "libvirt"}
    return json.dumps({"receiver": "gw", "status": "firing", "version": "4",
        "alerts": [{"status": "firing", "labels": labels, "annotations": {},
                    "startsAt": "2026-11-25T14:40:13Z", "endsAt": "0001-01-01T00:00:00Z",
                    "fingerprint": u[-16:]}],
        "groupLabels": {}, "commonLabels": labels, "commonAnnotations": {},
        "externalURL": "http://127.0.0.1", "groupKey": u, "truncatedAlerts": 0}).encode()
def worker(k):
    dead = 0
    for h in hosts[k::4]:
        code = "000"
        try:
            req = urllib.request.Request(url, data=body(h), headers={
                "Content-Type": "application/json", "Authorization": "Bearer " + token})
            with urllib.request.urlopen(req, timeout=10) as r:
                code = str(r.status)
        except urllib.error.HTTPError as e:
            code = str(e.code)
        except Exception:
            dead += 1
        with lock:
            with open(out, "a") as f:
                f.write("%s %s\n" % (h, code))
        if dead >= 3:
            return
        time.sleep(0.05)  # a bounded load: about 80 notifications per second
ts = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
[t.start() for t in ts]
[t.join() for t in ts]
PYEOF

for ((r = 0; r < ROUNDS; r++)); do
    GW_MAX_BACKOFF=1s start_gateway
    "$PY" "$WORK/load.py" "$GW_URL/api/v1/alertmanager" "$GW_TOKEN" $((r * PER_ROUND)) \
        "$PER_ROUND" "$ACKS" &
    loader=$!
    # a random moment within the load: 0.3-1.5 s
    sleep "$((RANDOM % 2)).$(printf '%03d' $((RANDOM % 1000)))"
    sleep 0.3
    kill9_gateway
    wait "$loader" || true
    acked=$(awk -v lo=$((r * PER_ROUND)) -v hi=$(((r + 1) * PER_ROUND)) \
        '{ n_ = substr($1, 25) + 0; if (n_ >= lo && n_ < hi && $2 ~ /^2/) n++ } END { print n + 0 }' "$ACKS")
    log "round $((r + 1)): $acked acknowledged before the crash"
    ((acked < PER_ROUND)) || fail "round $((r + 1)): the load ended before the crash; raise PER_ROUND"
done

GW_MAX_BACKOFF=1s start_gateway
grep -q 'msg="queue recovered"' "$GW_DIR/gateway.log" || fail "no recovery line in the log"
ok "recovered: $(grep -o 'msg="queue recovered".*' "$GW_DIR/gateway.log")"
wait_until 60 "the queue drained after the last restart" gw_queue_empty
sleep 2

acked=$(awk '$2 ~ /^2/ { print $1 }' "$ACKS" | sort -u)
n_acked=$(grep -c . <<<"$acked" || true)
((n_acked > 0)) || fail "no request was acknowledged at all; the load did not reach the gateway"
stored=$(masakari_vm_uuids)
twice=$(uniq -d <<<"$stored")
assert_eq "$twice" "" "no notification stored more than once"
missing=$(comm -23 <(echo "$acked") <(echo "$stored"))
assert_eq "$missing" "" "every acknowledged notification ($n_acked) is in Masakari"
log "Masakari holds $(grep -c . <<<"$stored") notifications for $n_acked acknowledged ones (the rest were in flight at a crash)"
assert_eq "$(gw_cli deadletter list 2>/dev/null)" "" "nothing dead-lettered"
it_pass
