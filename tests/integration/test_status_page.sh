#!/usr/bin/env bash
# The status page at "/" in headless Chromium (Debian package chromium): after one alert
# delivered to the real Masakari API and one that no rule maps, the rendered DOM has the
# row of the delivered notification with its gateway id and Masakari's notification_uuid,
# and the row of the dropped alert with its reason; ?hostname= filters. A screenshot is
# kept in build/artifacts/status-page.png for CI. Skips (77) without chromium.
# shellcheck disable=SC2119  # start_* take optional arguments
source "$(dirname "$0")/lib.sh"
it_init status_page

CHROMIUM=$(command -v chromium || command -v chromium-browser || true)
if [[ -z "$CHROMIUM" ]]; then
    echo "[status_page] SKIP: chromium not found (run scripts/install-deps.sh --test)" >&2
    IT_DONE=1
    exit 77
fi

start_masakari
seed_hosts seg1 compute-1
start_gateway

gw_post /api/v1/alertmanager "$(webhook_body alertname=HostDown severity=critical \
    hostname=compute-1 instance=compute-1:9100 job=node)"
assert_eq "$HTTP_CODE" 200 "delivered: HTTP status"
id=$(jq -r '.results[0].id' <<<"$HTTP_BODY")
wait_until 30 "the notification delivered" \
    gw_metric_is 'iha_gateway_deliveries_total{outcome="delivered",code="202"}' 1
uuid=$(curl -fsS "$MASAKARI_URL/v1/notifications" | jq -r '.notifications[0].notification_uuid')
[[ "$uuid" =~ ^[0-9a-f-]{36}$ ]] || fail "no notification_uuid from Masakari: $uuid"
gw_post /api/v1/alertmanager "$(webhook_body alertname=DiskAlmostFull severity=warning \
    instance=compute-1:9100)"
assert_outcomes "$HTTP_BODY" '. == ["dropped"]' "no rule: outcome"

# browse URL OUT_DOM [SCREENSHOT]: Chromium's DOM after load (and a screenshot).
browse() {
    local url=$1 out=$2 shot=${3:-} profile
    profile=$(mktemp -d "$WORK/chromium.XXXXXX")
    local args=(--headless --no-sandbox --disable-gpu --disable-background-networking
        --disable-component-update --disable-sync --no-first-run --disable-dev-shm-usage
        --user-data-dir="$profile")
    timeout 60 "$CHROMIUM" "${args[@]}" --dump-dom "$url" >"$out" 2>"$WORK/chromium.log" ||
        fail "chromium --dump-dom $url failed: $(tail -5 "$WORK/chromium.log")"
    if [[ -n "$shot" ]]; then
        timeout 60 "$CHROMIUM" "${args[@]}" --window-size=1400,1000 --screenshot="$shot" "$url" \
            >>"$WORK/chromium.log" 2>&1 || fail "chromium --screenshot failed"
    fi
}

# rows DOM: one JSON object per event row of the DOM: its data-* attributes and its text.
rows() {
    "$PY" - "$1" <<'PYEOF'
import html.parser, json, sys
class P(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.rows, self.cur, self.depth = [], None, 0
    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "tr" and "event" in (a.get("class") or "").split():
            self.cur = {k: v for k, v in a.items() if k.startswith("data-")}
            self.cur["text"] = ""
        elif tag == "td" and self.cur is not None:
            self.cur["text"] += " | "
    def handle_endtag(self, tag):
        if tag == "tr" and self.cur is not None:
            self.rows.append(self.cur)
            self.cur = None
    def handle_data(self, d):
        if self.cur is not None:
            self.cur["text"] += d
p = P()
p.feed(open(sys.argv[1], encoding="utf-8").read())
print(json.dumps(p.rows))
PYEOF
}

art=$(it_artifacts_dir)
rm -f "$art/status-page.png"
browse "$GW_URL/" "$WORK/page.html" "$art/status-page.png"
all=$(rows "$WORK/page.html")
log "rows: $(head -c 1500 <<<"$all")"
assert_json "$all" "map(select(.\"data-id\" == \"$id\"))[0] | .\"data-result\" == \"delivered\"
    and (.text | contains(\"$uuid\")) and (.text | contains(\"COMPUTE_HOST\"))
    and (.text | contains(\"HTTP 202\"))" "page: the delivered row with its uuid"
assert_json "$all" 'map(select(."data-result" == "dropped"))[0].text
    | contains("no rule matched") and contains("DiskAlmostFull")' "page: the dropped row with its reason"
grep -q '<pre id="config">' "$WORK/page.html" || fail "page: no configuration section"
if grep -q "$GW_TOKEN" "$WORK/page.html"; then fail "page: an inbound token is shown"; fi
ok "page: configuration shown, no inbound token"
[[ -s "$art/status-page.png" ]] || fail "no screenshot written"
[[ "$(head -c 8 "$art/status-page.png" | od -An -tx1 | tr -d ' \n')" == 89504e470d0a1a0a ]] ||
    fail "the screenshot is not a PNG"
ok "screenshot kept: $art/status-page.png ($(stat -c %s "$art/status-page.png") bytes)"

browse "$GW_URL/?hostname=compute-1" "$WORK/filtered.html"
filtered=$(rows "$WORK/filtered.html")
assert_json "$filtered" "length == 1 and .[0].\"data-id\" == \"$id\"" \
    "page ?hostname=compute-1: only the delivered row"
browse "$GW_URL/?hostname=compute-9" "$WORK/none.html"
assert_json "$(rows "$WORK/none.html")" 'length == 0' "page ?hostname=compute-9: no row"

# The gateway id reaches native senders too, also when Instance HA's answer is passed
# through (202) or the gateway answers a duplicate itself (409).
gw_post /v1/notifications '{"type": "PROCESS", "hostname": "compute-1", "payload":
    {"event": "STOPPED", "process_name": "nova-compute"}}'
assert_eq "$HTTP_CODE" 202 "native: HTTP status (Masakari's answer passed through)"
assert_json "$HTTP_BODY" '(.notification.gateway_id | length) > 0 and
    (.notification.notification_uuid | length) > 0' "native 202: gateway_id and notification_uuid"
nid=$(jq -r '.notification.gateway_id' <<<"$HTTP_BODY")
gw_post /v1/notifications '{"type": "COMPUTE_HOST", "hostname": "compute-1", "payload":
    {"event": "STOPPED", "host_status": "NORMAL", "cluster_status": "OFFLINE"}}'
assert_eq "$HTTP_CODE" 409 "native duplicate: HTTP status"
assert_json "$HTTP_BODY" '(.conflictingRequest.gateway_id | length) > 0' "native 409: gateway_id"
browse "$GW_URL/?hostname=compute-1" "$WORK/native.html"
assert_json "$(rows "$WORK/native.html")" "map(select(.\"data-id\" == \"$nid\"))[0].text
    | contains(\"$nid\")" "page: the native notification's row shows its gateway id"
it_pass
