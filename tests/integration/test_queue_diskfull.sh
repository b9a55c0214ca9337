#!/usr/bin/env bash
# Durable queue (issue 4), disk full: the data directory on a small tmpfs that is then
# filled. The gateway answers 503 and says why in /-/ready and its log, does not crash,
# stores nothing it could not write; when space is freed it accepts again, and what it
# accepted before and after is delivered, with no damaged record.
# Skipped (exit 77) when tmpfs cannot be mounted (not root, no CAP_SYS_ADMIN).
# shellcheck disable=SC2119
source "$(dirname "$0")/lib.sh"
it_init queue_diskfull

MNT="$WORK/small"
mkdir -p "$MNT"
if ! mount -t tmpfs -o size=2m,mode=0700 tmpfs "$MNT" 2>"$WORK/mount.err"; then
    echo "[queue_diskfull] SKIP: cannot mount a tmpfs ($(cat "$WORK/mount.err")); run as root" >&2
    IT_DONE=1
    exit 77
fi
_df_exit() {
    local rc=$?
    stop_named gateway
    umount -l "$MNT" 2>/dev/null
    (exit "$rc")
    _it_exit
}
trap _df_exit EXIT

start_masakari
seed_many_hosts seg1 df 40
export GW_STORAGE="$MNT/data"
start_gateway

post_host() {
    gw_post /api/v1/alertmanager "$(webhook_body alertname=HostDown severity=critical \
        hostname="$1" instance="$1":9100 job=node)"
}
post_host df-0
assert_eq "$HTTP_CODE" 200 "before filling: df-0 accepted"

# fill the file system
dd if=/dev/zero of="$MNT/filler" bs=64k 2>/dev/null || true
log "tmpfs: $(df -h "$MNT" | tail -n 1)"
# What still fits into pages the segment already holds is stored and answered 200; the
# first write that needs a new page fails and must be answered 503.
accepted=(df-0)
for ((i = 1; i < 30; i++)); do
    post_host "df-$i"
    [[ "$HTTP_CODE" == 200 ]] || break
    accepted+=("df-$i")
done
log "disk full: $HTTP_CODE after ${#accepted[@]} accepted: $HTTP_BODY"
assert_eq "$HTTP_CODE" 503 "disk full: HTTP status (Alertmanager retries)"
refused=df-$i
assert_contains "$HTTP_BODY" "No space left" "disk full: the reply says why"
http GET "$GW_URL/-/ready"
assert_eq "$HTTP_CODE" 503 "disk full: /-/ready"
assert_contains "$HTTP_BODY" "No space left" "disk full: /-/ready says why"
post_host df-39
assert_eq "$HTTP_CODE" 503 "disk full: a second request is refused too"
http GET "$GW_URL/-/healthy"
assert_eq "$HTTP_CODE" 200 "disk full: the gateway is alive"
grep -q 'storage failed; answering 503' "$GW_DIR/gateway.log" || fail "no storage error in the log"
ok "the log says storage failed"

rm -f "$MNT/filler"
ready() { curl -fsS -o /dev/null --max-time 2 "$GW_URL/-/ready"; }
wait_until 10 "/-/ready after space was freed" ready
ok "ready again after space was freed"
post_host "$refused"
assert_eq "$HTTP_CODE" 200 "after freeing: $refused (refused before) accepted"
accepted+=("$refused")
stored() { [[ "$(masakari_count)" -ge ${#accepted[@]} ]]; }
wait_until 30 "every accepted notification stored" stored
assert_eq "$(masakari_count 'select(.hostname == "df-39")')" 0 "df-39 (answered 503) was not stored"
wait_until 10 "queue drained" gw_queue_empty

stop_gateway
start_gateway
grep -q 'msg="queue recovered".*damaged_regions=0' "$GW_DIR/gateway.log" ||
    fail "restart: damaged records in the queue: $(grep 'queue recovered' "$GW_DIR/gateway.log")"
ok "restart on the same directory: no damaged record"
sleep 2
assert_eq "$(masakari_count)" "${#accepted[@]}" "exactly the ${#accepted[@]} accepted ones in Masakari"
assert_eq "$(masakari_per_host | awk '$2 != 1')" "" "each exactly once"
it_pass
