#!/usr/bin/env bash
# The deploy/ files: the systemd unit passes `systemd-analyze verify` (with ExecStart
# pointing at the built binary); the Kubernetes manifests parse as YAML and pass a
# schema-free sanity check (kinds, probes, mounts match volumes, the PVC exists, the
# embedded config parses); the Prometheus rules pass `promtool check rules` and use only
# metric names the gateway exports; the scrape snippet passes `promtool check config`;
# the example config passes `iha-gateway check-config`; the man pages render.
# Exits 77 (skipped) at the end when systemd-analyze is missing, after the other checks.
source "$(dirname "$0")/lib.sh"
it_init deploy

BIN=${IHA_GATEWAY_BIN:-$IT_ROOT/build/iha-gateway}
D=$IT_ROOT/deploy
skip=""

# --- the example config ------------------------------------------------------------------
out=$("$BIN" check-config --lint=none "$D/iha-gateway.yml" 2>&1) ||
    fail "check-config deploy/iha-gateway.yml: $out"
assert_contains "$out" "SUCCESS" "deploy/iha-gateway.yml passes check-config"
grep -qE '^storage:' "$D/iha-gateway.yml" || fail "deploy/iha-gateway.yml has no storage section"
ok "deploy/iha-gateway.yml has the storage section"

# --- systemd -------------------------------------------------------------------------------
unit=$D/systemd/iha-gateway.service
grep -q '^StateDirectory=iha-gateway$' "$unit" || fail "unit: no StateDirectory=iha-gateway"
grep -q -- '--storage.path=/var/lib/iha-gateway' "$unit" || fail "unit: no --storage.path"
for k in DynamicUser=yes ProtectSystem=strict NoNewPrivileges=yes 'RestrictAddressFamilies=' \
    'ExecReload=/bin/kill -HUP $MAINPID'; do
    grep -qF -- "$k" "$unit" || fail "unit: missing $k"
done
ok "unit: state directory, storage path, reload and hardening present"
if command -v systemd-analyze >/dev/null; then
    mkdir -p "$WORK/systemd"
    NOTIFY_BIN=$(dirname "$BIN")/iha-notify
    for f in "$D"/systemd/*.service "$D"/systemd/*.timer; do
        sed -e "s#/usr/local/bin/iha-gateway#$BIN#g" -e "s#/usr/local/bin/iha-notify#$NOTIFY_BIN#g" \
            "$f" >"$WORK/systemd/${f##*/}"
    done
    for f in "$WORK"/systemd/*; do
        u=${f##*/}
        if ! (cd "$WORK/systemd" && systemd-analyze verify --man=no "./$u") \
            >"$WORK/verify-$u.log" 2>&1; then
            fail "systemd-analyze verify $u: $(cat "$WORK/verify-$u.log")"
        fi
        # Warnings (unknown keys, bad values) do not change the exit status; units of the
        # host that verify loads along (e.g. keystone.service) are not ours to judge.
        if grep -q "${u%.*}\." "$WORK/verify-$u.log"; then
            fail "systemd-analyze verify complains: $(grep "${u%.*}\." "$WORK/verify-$u.log")"
        fi
        ok "systemd-analyze verify accepts deploy/systemd/$u"
    done
else
    skip="systemd-analyze not found (Debian package systemd)"
fi

# --- the unit's user reads what the documented install creates ----------------------------
# systemd is not PID 1 here: emulate the unit (DynamicUser=yes: an unnamed uid/gid;
# SupplementaryGroups=iha-gateway) with setpriv, after scripts/run.sh --setup-only has
# created the group (deploy/systemd/iha-gateway.sysusers.conf) and the token file.
if [[ $(id -u) -eq 0 ]] && command -v setpriv >/dev/null; then
    grep -qx 'SupplementaryGroups=iha-gateway' "$unit" || fail "unit: no SupplementaryGroups=iha-gateway"
    base=$(mktemp -d /tmp/iha-it-deploy-user.XXXXXX)
    chmod 0755 "$base"
    etc=$base/etc
    IHA_ETC_DIR=$etc bash "$IT_ROOT/scripts/run.sh" --setup-only >"$WORK/setup.log" 2>&1 ||
        fail "scripts/run.sh --setup-only: $(cat "$WORK/setup.log")"
    gid=$(getent group iha-gateway | cut -d: -f3)
    [[ -n $gid ]] || fail "the documented install created no group iha-gateway"
    dyn=61868 # in systemd's DynamicUser range 61184-65519
    install -d -o "$dyn" -g "$dyn" -m 0700 "$base/state"
    port=$(free_port)
    printf 'web:\n  listen_address: "127.0.0.1:%s"\n  auth:\n    bearer_tokens_file: %s\nstorage:\n  path: %s\n' \
        "$port" "$etc/inbound-tokens" "$base/state" >"$etc/iha-gateway.yml"
    chgrp iha-gateway "$etc/iha-gateway.yml"
    chmod 0640 "$etc/iha-gateway.yml"
    IHA_SERVICE_TOKEN=unused setpriv --reuid="$dyn" --regid="$dyn" --groups="$gid" \
        "$BIN" --config.file="$etc/iha-gateway.yml" >"$WORK/unit-user.log" 2>&1 </dev/null &
    upid=$!
    _track gateway-unit-user "$upid"
    wait_http_ok 30 "http://127.0.0.1:$port/-/ready" "$upid" "iha-gateway as the unit's user"
    token=$(grep -v '^#' "$etc/inbound-tokens" | head -n1)
    http POST "http://127.0.0.1:$port/api/v1/alertmanager" \
        "$(webhook_body alertname=NovaComputeDown severity=critical instance=compute-1:9100)" \
        -H "Authorization: Bearer $token"
    [[ $HTTP_CODE == 2* ]] ||
        fail "sender with the installed token got $HTTP_CODE as the unit's user: $HTTP_BODY $(tail -5 "$WORK/unit-user.log")"
    ok "the unit's user reads the installed token file: a sender gets $HTTP_CODE"
    stop_pid gateway-unit-user "$upid"
    rm -rf "$base"
else
    skip="${skip:+$skip; }not root or no setpriv: the unit's user was not emulated"
fi

# --- container ------------------------------------------------------------------------------
cf=$D/container/Containerfile
grep -E '^ENTRYPOINT' "$cf" | grep -qF -- '--config.file=/etc/iha-gateway/iha-gateway.yml' ||
    fail "Containerfile: ENTRYPOINT does not read the documented mount /etc/iha-gateway/iha-gateway.yml"
grep -qF -- '-v ./iha-gateway.yml:/etc/iha-gateway/iha-gateway.yml' "$cf" ||
    fail "Containerfile: the documented mount path changed"
grep -qE '^HEALTHCHECK' "$cf" && ! grep -qE 'podman build --format docker' "$cf" &&
    fail "Containerfile: HEALTHCHECK without 'podman build --format docker' (OCI drops it)"
[[ -f $IT_ROOT/.containerignore ]] || fail "no .containerignore: build/ goes into the build context"
grep -qx 'build\*/' "$IT_ROOT/.containerignore" || fail ".containerignore does not exclude build*/"
ok "container: entry point reads the mounted config, docker format, .containerignore"

# --- Kubernetes ---------------------------------------------------------------------------
"$PY" - "$D"/kubernetes/*.yaml <<'PYEOF' || fail "Kubernetes manifests"
import sys, yaml
docs = []
for path in sys.argv[1:]:
    with open(path) as f:
        docs += [(path, d) for d in yaml.safe_load_all(f) if d is not None]
def need(cond, what):
    if not cond:
        sys.exit("kubernetes: " + what)
kinds = {}
for path, d in docs:
    need(isinstance(d, dict), f"{path}: a document is not a mapping")
    for k in ("apiVersion", "kind", "metadata"):
        need(k in d, f"{path}: a document has no {k}")
    need(d["metadata"].get("name"), f"{path}: {d['kind']} without metadata.name")
    kinds.setdefault(d["kind"], []).append(d)
for k in ("Deployment", "Service", "ConfigMap", "Secret", "PersistentVolumeClaim"):
    need(k in kinds, f"no {k}")
cm = {d["metadata"]["name"]: d for d in kinds["ConfigMap"]}
pvcs = {d["metadata"]["name"] for d in kinds["PersistentVolumeClaim"]}
secrets = {d["metadata"]["name"] for d in kinds["Secret"]}
for dep in kinds["Deployment"]:
    spec = dep["spec"]["template"]["spec"]
    vols = {v["name"]: v for v in spec.get("volumes", [])}
    sel = dep["spec"]["selector"]["matchLabels"]
    labels = dep["spec"]["template"]["metadata"]["labels"]
    need(all(labels.get(k) == v for k, v in sel.items()), "selector does not match the pod labels")
    for c in spec["containers"]:
        need(c.get("image"), "container without image")
        tag = c["image"].rsplit("/", 1)[-1].partition(":")[2]
        need(tag and tag != "latest", "image %s: pin a version tag, not :latest" % c["image"])
        need(c.get("imagePullPolicy") == "IfNotPresent",
             "image %s: imagePullPolicy must be IfNotPresent" % c["image"])
        need(c["livenessProbe"]["httpGet"]["path"] == "/-/healthy", "liveness probe not /-/healthy")
        need(c["readinessProbe"]["httpGet"]["path"] == "/-/ready", "readiness probe not /-/ready")
        for m in c.get("volumeMounts", []):
            need(m["name"] in vols, f"mount {m['name']} has no volume")
        mounts = {m["mountPath"] for m in c.get("volumeMounts", [])}
        need("/var/lib/iha-gateway" in mounts, "no volume on the data directory")
        need("--storage.path=/var/lib/iha-gateway" in c.get("args", []), "no --storage.path")
    for v in vols.values():
        if "persistentVolumeClaim" in v:
            need(v["persistentVolumeClaim"]["claimName"] in pvcs, "PVC of a volume is missing")
        if "configMap" in v:
            need(v["configMap"]["name"] in cm, "ConfigMap of a volume is missing")
            for it in v["configMap"].get("items", []):
                need(it["key"] in cm[v["configMap"]["name"]]["data"], f"ConfigMap key {it['key']}")
        if "secret" in v:
            need(v["secret"]["secretName"] in secrets, "Secret of a volume is missing")
for name, d in cm.items():
    for key, text in d.get("data", {}).items():
        if key.endswith((".yml", ".yaml")):
            need(isinstance(yaml.safe_load(text), dict), f"ConfigMap {name} key {key} is not YAML")
svc_ports = [p for s in kinds["Service"] for p in s["spec"]["ports"]]
need(svc_ports, "the Service has no port")
print("kubernetes: %d documents OK" % len(docs))
PYEOF
ok "Kubernetes manifests parse and are consistent"

# --- Prometheus ---------------------------------------------------------------------------
if command -v promtool >/dev/null; then
    promtool check rules "$D/prometheus/iha-gateway.rules.yml" >"$WORK/rules.log" 2>&1 ||
        fail "promtool check rules: $(cat "$WORK/rules.log")"
    ok "promtool check rules accepts deploy/prometheus/iha-gateway.rules.yml"
    promtool check config "$D/prometheus/scrape.yml" >"$WORK/scrape.log" 2>&1 ||
        fail "promtool check config: $(cat "$WORK/scrape.log")"
    ok "promtool check config accepts deploy/prometheus/scrape.yml"
else
    fail "promtool not found (Debian package prometheus; run scripts/install-deps.sh --test)"
fi
"$PY" -c 'import sys, yaml; [yaml.safe_load(open(p)) for p in sys.argv[1:]]' \
    "$D"/prometheus/*.yml || fail "deploy/prometheus: YAML"
families=$(grep -oE '"iha_gateway_[a-z_]+"' "$IT_ROOT/src/ops/metrics.c" | tr -d '"' | sort -u)
for name in $(grep -oE 'iha_gateway_[a-z_]+' "$D/prometheus/iha-gateway.rules.yml" | sort -u); do
    base=$(sed -E 's/_(bucket|count|sum)$//' <<<"$name")
    grep -qx "$base" <<<"$families" || grep -qx "$name" <<<"$families" ||
        fail "the alert rules use $name, which the gateway does not export"
done
ok "the alert rules use only exported metric names"

# --- man pages --------------------------------------------------------------------------
for m in iha-gateway iha-notify; do
    page="$IT_ROOT/docs/man/$m.1"
    [[ -s "$page" ]] || fail "docs/man/$m.1 missing"
    if command -v groff >/dev/null; then
        warn=$(groff -man -Tutf8 -ww -z "$page" 2>&1) || fail "$m.1: groff failed: $warn"
        [[ -z "$warn" ]] || fail "$m.1: groff warnings: $warn"
    fi
done
for f in $("$BIN" --help | grep -oE -- '--[a-z][a-z.-]+' | sort -u); do
    grep -qF -- "$(sed 's/-/\\-/g' <<<"$f")" "$IT_ROOT/docs/man/iha-gateway.1" ||
        grep -qF -- "$f" "$IT_ROOT/docs/man/iha-gateway.1" || fail "iha-gateway.1 lacks $f"
done
ok "iha-gateway.1 documents every flag of --help"

if [[ -n "$skip" ]]; then
    IT_DONE=1
    echo "[deploy] SKIP: $skip; every other check passed" >&2
    exit 77
fi
it_pass
