#!/usr/bin/env python3
"""Offline checks of the rendered promptops chart, driven by helm/check.sh.

Runs inside the tools venv (PyYAML, jsonschema and kubernetes-validate are installed there).
Every check prints PASS/FAIL lines; the process exits 1 if any check failed.

Subcommands:
  k8s VERSION FILE...         strict schema validation of every core object against Kubernetes
                              VERSION (kubernetes-validate's schemas); an unknown kind is an error
                              unless it is a Prometheus Operator or KEDA custom resource
  crs OUT.json FILE...        structural check of ServiceMonitor / PrometheusRule / ScaledObject
                              objects (known fields only, required fields, types) and dump them
                              to OUT.json for the npm-package validator (crs.mjs)
  scalers OUT.yaml FILE...    every KEDA prometheus trigger's query written as a recording rule
                              for `promtool check rules`
  policy CONTRACT RELEASE FILE...   security, probes, ports, env names, labels and selectors
  collide FILE_A FILE_B       two releases in one namespace: no name clash, no selector overlap
  rules FILE OUT.yaml         extract the PrometheusRule spec into a promtool rules file
  dashboard FILE OUT.yaml     dashboard JSON parses; every PromQL expression written as a
                              recording rule for `promtool check rules`
  metrics CONTRACT FILE...    metric and label names used by the dashboard, the alerts and the
                              KEDA queries are the contract's
  values VALUES.yaml SCHEMA.json   every value is documented and described by the schema
  same DIR KUBE_VERSION NAME...  helm 3 renders the same objects as helm 4 (DIR/NAME-kVERSION.yaml
                              against DIR/NAME-helm3.yaml; generated secrets are ignored)
  dockerfile CONTRACT Dockerfile .dockerignore VALUES.yaml   the image matches the contract and
                              the chart (binary, port, non-root user, no HEALTHCHECK)
"""

import functools
import json
import re
import sys

import yaml

FAILED = False


def ok(msg):
    print(f"PASS {msg}")


def bad(msg):
    global FAILED
    FAILED = True
    print(f"FAIL {msg}")


def load_docs(path):
    with open(path) as f:
        return [d for d in yaml.safe_load_all(f) if d]


def kn(obj):
    return f"{obj.get('kind')}/{obj.get('metadata', {}).get('name')}"


# API groups of the custom resources the chart renders (checked by `crs` and crs.mjs instead).
CR_GROUPS = ("monitoring.coreos.com/", "keda.sh/")


def is_cr(d):
    return str(d.get("apiVersion", "")).startswith(CR_GROUPS)

# --------------------------------------------------------------------------------------------
# Kubernetes schemas


def cmd_k8s(version, *files):
    import kubernetes_validate.utils as kv

    # The library re-reads its (large) schema files for every object: cache them.
    kv.schema_contents = functools.lru_cache(maxsize=None)(kv.schema_contents)
    for path in files:
        docs = load_docs(path)
        core = [d for d in docs if not is_cr(d)]
        errors = []
        for d in core:
            try:
                kv.validate(d, version, strict=True)
            except kv.ValidationError as e:
                where = ".".join(str(p) for p in e.path)
                errors.append(f"{kn(d)}: {where}: {e.message}")
            except kv.SchemaNotFoundError as e:
                # kubernetes-validate only warns here; a warning is an error for us.
                errors.append(f"{kn(d)}: {e.message}")
            except kv.VersionNotSupportedError as e:
                errors.append(e.message)
        name = f"k8s {version} strict: {path} ({len(core)} objects)"
        if errors:
            bad(name)
            for e in errors:
                print(f"     {e}")
        else:
            ok(name)


# --------------------------------------------------------------------------------------------
# Custom resources: a structural check written here (the CRDs allow unknown fields, which the
# API server silently prunes, so a misspelt field would be lost without an error).

ANY = object()  # free-form map of strings (labels, annotations)
FREE = object()  # any value: a core type that crs.mjs validates against its own schema

OBJECT_META = {"name": str, "namespace": str, "labels": ANY, "annotations": ANY}
LABEL_SELECTOR = {"matchLabels": ANY, "matchExpressions": ANY}

SERVICE_MONITOR = {
    "apiVersion": str,
    "kind": str,
    "metadata": OBJECT_META,
    "spec": {
        "jobLabel": str,
        "selector": LABEL_SELECTOR,
        "namespaceSelector": {"any": bool, "matchNames": [str]},
        "endpoints": [
            {
                "port": str,
                "path": str,
                "scheme": str,
                "interval": str,
                "scrapeTimeout": str,
                "authorization": {"type": str, "credentials": {"name": str, "key": str}},
                "honorLabels": bool,
                "relabelings": ANY,
                "metricRelabelings": ANY,
            }
        ],
    },
}
SERVICE_MONITOR_REQUIRED = {"spec": ["selector", "endpoints"], "spec.endpoints[]": ["port"]}

PROMETHEUS_RULE = {
    "apiVersion": str,
    "kind": str,
    "metadata": OBJECT_META,
    "spec": {
        "groups": [
            {
                "name": str,
                "interval": str,
                "rules": [
                    {
                        "alert": str,
                        "record": str,
                        "expr": str,
                        "for": str,
                        "keep_firing_for": str,
                        "labels": ANY,
                        "annotations": ANY,
                    }
                ],
            }
        ]
    },
}
PROMETHEUS_RULE_REQUIRED = {"spec": ["groups"], "spec.groups[]": ["name", "rules"], "spec.groups[].rules[]": ["expr"]}

# KEDA 2.x ScaledObject (keda.sh/v1alpha1): the fields of its CRD the chart may render.
SCALED_OBJECT = {
    "apiVersion": str,
    "kind": str,
    "metadata": OBJECT_META,
    "spec": {
        "scaleTargetRef": {"apiVersion": str, "kind": str, "name": str, "envSourceContainerName": str},
        "pollingInterval": int,
        "cooldownPeriod": int,
        "initialCooldownPeriod": int,
        "idleReplicaCount": int,
        "minReplicaCount": int,
        "maxReplicaCount": int,
        "fallback": {"failureThreshold": int, "replicas": int},
        "advanced": {
            "restoreToOriginalReplicaCount": bool,
            "horizontalPodAutoscalerConfig": {"name": str, "behavior": FREE},
        },
        "triggers": [
            {
                "type": str,
                "name": str,
                "metricType": str,
                "useCachedMetrics": bool,
                "metadata": ANY,
                "authenticationRef": {"name": str, "kind": str},
            }
        ],
    },
}
SCALED_OBJECT_REQUIRED = {
    "spec": ["scaleTargetRef", "triggers"],
    "spec.scaleTargetRef": ["name"],
    "spec.triggers[]": ["type", "metadata"],
}
# Metadata of KEDA's prometheus scaler: the keys it reads, and those it cannot do without.
PROMETHEUS_SCALER_KEYS = {
    "serverAddress", "query", "threshold", "activationThreshold", "namespace", "customHeaders",
    "ignoreNullValues", "queryParameters", "unsafeSsl", "authModes", "timeout",
}
PROMETHEUS_SCALER_REQUIRED = ("serverAddress", "query", "threshold")


def check_scaled_object(d, errors):
    walk_shape(d, SCALED_OBJECT, "", errors)
    check_required(d, SCALED_OBJECT_REQUIRED, errors)
    spec = d.get("spec") or {}
    lo, hi = spec.get("minReplicaCount", 0), spec.get("maxReplicaCount", 100)
    if lo < 1:
        errors.append(f"minReplicaCount {lo}: the pods serve the API, so they must not scale to zero")
    if lo > hi:
        errors.append(f"minReplicaCount {lo} is above maxReplicaCount {hi}")
    for t in spec.get("triggers") or []:
        if t.get("metricType", "AverageValue") not in ("AverageValue", "Value", "Utilization"):
            errors.append(f"trigger {t.get('name')}: metricType {t['metricType']!r} is not one of KEDA's")
        if t.get("type") != "prometheus":
            continue
        meta = t.get("metadata") or {}
        for k in sorted(set(meta) - PROMETHEUS_SCALER_KEYS):
            errors.append(f"trigger {t.get('name')}: {k} is not a metadata key of the prometheus scaler")
        for k in PROMETHEUS_SCALER_REQUIRED:
            if not meta.get(k):
                errors.append(f"trigger {t.get('name')}: missing metadata {k}")
        if not re.match(r"^https?://\S+$", str(meta.get("serverAddress", ""))):
            errors.append(f"trigger {t.get('name')}: serverAddress {meta.get('serverAddress')!r} is not an http(s) URL")
        try:
            if float(meta.get("threshold", "")) <= 0:
                raise ValueError
        except ValueError:
            errors.append(f"trigger {t.get('name')}: threshold {meta.get('threshold')!r} is not a positive number")
        if meta.get("ignoreNullValues", "true") not in ("true", "false"):
            errors.append(f"trigger {t.get('name')}: ignoreNullValues {meta['ignoreNullValues']!r} is not true or false")


DURATION = re.compile(r"^(0|([0-9]+(ms|s|m|h|d|w|y))+)$")


def walk_shape(value, shape, path, errors):
    if shape is FREE:
        return
    if shape is ANY:
        if isinstance(value, dict) and not all(isinstance(v, str) for v in value.values()):
            errors.append(f"{path}: values must be strings")
        return
    if isinstance(shape, dict):
        if not isinstance(value, dict):
            errors.append(f"{path}: expected an object")
            return
        for k, v in value.items():
            if k not in shape:
                errors.append(f"{path}.{k}: unknown field")
            else:
                walk_shape(v, shape[k], f"{path}.{k}", errors)
    elif isinstance(shape, list):
        if not isinstance(value, list):
            errors.append(f"{path}: expected a list")
            return
        for i, v in enumerate(value):
            walk_shape(v, shape[0], f"{path}[{i}]", errors)
    elif not isinstance(value, shape) or (shape is int and isinstance(value, bool)):
        errors.append(f"{path}: expected {shape.__name__}, got {type(value).__name__}")


def check_required(obj, required, errors):
    def items(o, path):
        parts = path.split(".")
        cur = [o]
        for p in parts:
            nxt = []
            for c in cur:
                if p.endswith("[]"):
                    nxt.extend((c or {}).get(p[:-2]) or [])
                else:
                    if (c or {}).get(p) is not None:
                        nxt.append(c[p])
            cur = nxt
        return cur

    for path, keys in required.items():
        for it in items(obj, path):
            for k in keys:
                if not isinstance(it, dict) or it.get(k) in (None, "", []):
                    errors.append(f"{path}: missing {k}")


def cmd_crs(out, *files):
    found = []
    for path in files:
        for d in load_docs(path):
            if not is_cr(d):
                continue
            errors = []
            want = "keda.sh/v1alpha1" if d.get("kind") == "ScaledObject" else "monitoring.coreos.com/v1"
            if d["apiVersion"] != want:
                errors.append(f"apiVersion {d['apiVersion']} is not {want}")
            if d.get("kind") == "ScaledObject":
                check_scaled_object(d, errors)
            elif d.get("kind") == "ServiceMonitor":
                walk_shape(d, SERVICE_MONITOR, "", errors)
                check_required(d, SERVICE_MONITOR_REQUIRED, errors)
                for ep in d.get("spec", {}).get("endpoints", []):
                    for f in ("interval", "scrapeTimeout"):
                        if f in ep and not DURATION.match(ep[f]):
                            errors.append(f"endpoints.{f}: {ep[f]!r} is not a duration")
            elif d.get("kind") == "PrometheusRule":
                walk_shape(d, PROMETHEUS_RULE, "", errors)
                check_required(d, PROMETHEUS_RULE_REQUIRED, errors)
                for g in d.get("spec", {}).get("groups", []):
                    for r in g.get("rules", []):
                        if bool(r.get("alert")) == bool(r.get("record")):
                            errors.append(f"group {g.get('name')}: a rule needs exactly one of alert and record")
                        if "for" in r and not DURATION.match(r["for"]):
                            errors.append(f"rule {r.get('alert')}: for {r['for']!r} is not a duration")
            else:
                errors.append(f"unexpected custom resource kind {d.get('kind')}")
            name = f"custom resource structure: {path} {kn(d)}"
            if errors:
                bad(name)
                for e in errors:
                    print(f"     {e}")
            else:
                ok(name)
            found.append({"file": path, "object": d})
    with open(out, "w") as f:
        json.dump(found, f)


# --------------------------------------------------------------------------------------------
# Security, probes and the server contract


def pod_specs(docs):
    for d in docs:
        if d["kind"] == "Deployment":
            yield d, d["spec"]["template"]
        elif d["kind"] == "Job":
            yield d, d["spec"]["template"]


def selector_matches(selector, labels):
    """matchLabels only (all the chart uses); matchExpressions would make it fail loudly."""
    if not selector:
        return True
    if set(selector) - {"matchLabels"}:
        raise ValueError(f"unsupported selector {selector}")
    return all(labels.get(k) == v for k, v in (selector.get("matchLabels") or {}).items())


def cmd_policy(contract_path, release, *files):
    contract = json.load(open(contract_path))
    env_names = {e["name"] for e in contract["env"]}
    port, port_name = contract["port"], contract["port_name"]
    metrics_port_name = contract["metrics_port_name"]
    paths = contract["paths"]
    subcommands = set(contract["subcommands"])
    for path in files:
        docs = load_docs(path)
        errors = []
        for d in docs:
            labels = d["metadata"].get("labels") or {}
            if labels.get("app.kubernetes.io/instance") != release:
                errors.append(f"{kn(d)}: label app.kubernetes.io/instance is not {release!r}")
            if release not in d["metadata"]["name"]:
                errors.append(f"{kn(d)}: name does not contain the release name")
        for owner, tpl in pod_specs(docs):
            spec = tpl["spec"]
            psc = spec.get("securityContext") or {}
            if spec.get("automountServiceAccountToken") is not False:
                errors.append(f"{kn(owner)}: automountServiceAccountToken is not false")
            if (psc.get("seccompProfile") or {}).get("type") != "RuntimeDefault":
                errors.append(f"{kn(owner)}: pod seccompProfile is not RuntimeDefault")
            if psc.get("runAsNonRoot") is not True:
                errors.append(f"{kn(owner)}: pod runAsNonRoot is not true")
            tmp_volumes = {v["name"] for v in spec.get("volumes", []) if "emptyDir" in v}
            for c in spec.get("initContainers", []) + spec["containers"]:
                where = f"{kn(owner)} container {c['name']}"
                sc = c.get("securityContext") or {}
                if sc.get("readOnlyRootFilesystem") is not True:
                    errors.append(f"{where}: readOnlyRootFilesystem is not true")
                if sc.get("allowPrivilegeEscalation") is not False:
                    errors.append(f"{where}: allowPrivilegeEscalation is not false")
                if "ALL" not in ((sc.get("capabilities") or {}).get("drop") or []):
                    errors.append(f"{where}: capabilities do not drop ALL")
                if sc.get("runAsNonRoot") is False:
                    errors.append(f"{where}: runAsNonRoot is false")
                if not any(m["mountPath"] == "/tmp" and m["name"] in tmp_volumes for m in c.get("volumeMounts", [])):
                    errors.append(f"{where}: no writable emptyDir at /tmp")
                res = c.get("resources") or {}
                if not (res.get("requests") or {}).get("memory") or not (res.get("limits") or {}).get("memory"):
                    errors.append(f"{where}: memory request and limit must be set")
                if not c.get("args") or c["args"][0] not in subcommands:
                    errors.append(f"{where}: args {c.get('args')} do not start with a contract subcommand")
                for e in c.get("env", []):
                    if e["name"].startswith("PROMPTOPS_") and e["name"] not in env_names:
                        errors.append(f"{where}: env {e['name']} is not in the contract")
            if owner["kind"] == "Deployment":
                c = spec["containers"][0]
                if c["args"] != ["serve"]:
                    errors.append(f"{kn(owner)}: server args are {c['args']}, not ['serve']")
                if not any(p.get("name") == port_name and p.get("containerPort") == port for p in c.get("ports", [])):
                    errors.append(f"{kn(owner)}: no container port {port_name}={port}")
                if not any(p.get("name") == metrics_port_name and p.get("containerPort") != port for p in c.get("ports", [])):
                    errors.append(f"{kn(owner)}: no container port {metrics_port_name} apart from {port}")
                for probe, want in (("livenessProbe", paths["liveness"]), ("readinessProbe", paths["readiness"]), ("startupProbe", paths["liveness"])):
                    if probe not in c:
                        if probe != "startupProbe":
                            errors.append(f"{kn(owner)}: no {probe}")
                        continue
                    g = c[probe].get("httpGet") or {}
                    if g.get("path") != want or g.get("port") != port_name:
                        errors.append(f"{kn(owner)}: {probe} is {g}, want GET {want} on port {port_name}")
                pre = ((c.get("lifecycle") or {}).get("preStop") or {}).get("sleep")
                grace = spec.get("terminationGracePeriodSeconds", 30)
                if pre and pre["seconds"] >= grace:
                    errors.append(f"{kn(owner)}: preStop sleep {pre['seconds']}s is not shorter than the grace period {grace}s")
                env = {e["name"]: e.get("value") for e in c.get("env", [])}
                drain = int(env.get("PROMPTOPS_DRAIN_TIMEOUT") or 30)
                if grace <= (pre["seconds"] if pre else 0) + drain:
                    errors.append(f"{kn(owner)}: grace period {grace}s does not cover the preStop sleep and a drain of {drain}s")
                scalers = [kn(d) for d in docs if d["kind"] in ("HorizontalPodAutoscaler", "ScaledObject")]
                if len(scalers) > 1:
                    errors.append(f"{kn(owner)}: scaled by more than one autoscaler: {scalers}")
                if scalers and "replicas" in owner["spec"]:
                    errors.append(f"{kn(owner)}: sets replicas although {scalers[0]} scales it (every upgrade would reset them)")
                pod_labels = tpl["metadata"]["labels"]
                if not selector_matches(owner["spec"]["selector"], pod_labels):
                    errors.append(f"{kn(owner)}: selector does not match its pod template")
                if "app.kubernetes.io/instance" not in owner["spec"]["selector"]["matchLabels"]:
                    errors.append(f"{kn(owner)}: selector lacks app.kubernetes.io/instance")
        for d in docs:
            if d["kind"] == "ConfigMap" and not d["metadata"]["name"].endswith("-dashboard"):
                for k in d.get("data", {}):
                    if k.startswith("PROMPTOPS_") and k not in env_names:
                        errors.append(f"{kn(d)}: key {k} is not a contract env variable")
        deployments = [d for d in docs if d["kind"] == "Deployment"]
        server_pods = [d["spec"]["template"]["metadata"]["labels"] for d in deployments]
        job_pods = [d["spec"]["template"]["metadata"]["labels"] for d in docs if d["kind"] == "Job"]
        for d in docs:
            sel = None
            if d["kind"] == "Service":
                sel = {"matchLabels": d["spec"]["selector"]}
                for name in (port_name, metrics_port_name):
                    if not any(p.get("targetPort") == name for p in d["spec"]["ports"]):
                        errors.append(f"{kn(d)}: no port targeting {name}")
            elif d["kind"] in ("PodDisruptionBudget", "ServiceMonitor"):
                sel = d["spec"]["selector"]
            elif d["kind"] in ("HorizontalPodAutoscaler", "ScaledObject"):
                target = d["spec"]["scaleTargetRef"]
                if not any(target["name"] == x["metadata"]["name"] for x in deployments):
                    errors.append(f"{kn(d)}: scaleTargetRef {target['name']} is not the Deployment")
            if d["kind"] == "Ingress":
                for rule in d["spec"].get("rules", []):
                    for p in rule.get("http", {}).get("paths", []):
                        if p["backend"]["service"]["port"].get("name") != port_name:
                            errors.append(f"{kn(d)}: a path routes to {p['backend']['service']['port']}, not port {port_name}")
            if d["kind"] == "NetworkPolicy":
                for rule in d["spec"].get("ingress", []):
                    ports = {p.get("port") for p in rule.get("ports", [])}
                    if metrics_port_name in ports and len(ports) > 1:
                        errors.append(f"{kn(d)}: port {metrics_port_name} shares a rule with {ports - {metrics_port_name}}")
            if d["kind"] == "ServiceMonitor":
                services = [s for s in docs if s["kind"] == "Service"]
                if not any(selector_matches(sel, s["metadata"].get("labels") or {}) for s in services):
                    errors.append(f"{kn(d)}: selector matches no Service of the release")
                for ep in d["spec"]["endpoints"]:
                    if ep.get("path") != paths["metrics"] or ep.get("port") != metrics_port_name:
                        errors.append(f"{kn(d)}: endpoint {ep} is not {paths['metrics']} on {metrics_port_name}")
            elif sel is not None:
                if "app.kubernetes.io/instance" not in (sel.get("matchLabels") or {}):
                    errors.append(f"{kn(d)}: selector lacks app.kubernetes.io/instance")
                if not all(selector_matches(sel, p) for p in server_pods):
                    errors.append(f"{kn(d)}: selector does not match the server pods")
                if any(selector_matches(sel, p) for p in job_pods):
                    errors.append(f"{kn(d)}: selector also matches the migration Job's pods")
        name = f"policy and contract: {path}"
        if errors:
            bad(name)
            for e in errors:
                print(f"     {e}")
        else:
            ok(name)


def cmd_collide(file_a, file_b):
    a, b = load_docs(file_a), load_docs(file_b)
    errors = []
    names_a = {(d["kind"], d["metadata"]["name"]) for d in a}
    names_b = {(d["kind"], d["metadata"]["name"]) for d in b}
    for k, n in sorted(names_a & names_b):
        errors.append(f"both releases render {k}/{n}")

    def selectors(docs):
        for d in docs:
            s = d.get("spec") or {}
            if d["kind"] == "Service":
                yield kn(d), {"matchLabels": s["selector"]}
            elif d["kind"] in ("Deployment", "PodDisruptionBudget", "ServiceMonitor"):
                yield kn(d), s["selector"]
            elif d["kind"] == "NetworkPolicy":
                yield kn(d), s["podSelector"]

    def pods(docs):
        return [d["spec"]["template"]["metadata"]["labels"] for d in docs if d["kind"] in ("Deployment", "Job")] + [
            d["metadata"]["labels"] for d in docs if d["kind"] == "Service"
        ]

    for mine, other, label in ((a, b, "A"), (b, a, "B")):
        for name, sel in selectors(mine):
            for p in pods(other):
                if selector_matches(sel, p):
                    errors.append(f"release {label}'s {name} selects an object of the other release ({p})")
    name = f"two releases in one namespace do not collide: {file_a} {file_b}"
    if errors:
        bad(name)
        for e in errors:
            print(f"     {e}")
    else:
        ok(name)


# --------------------------------------------------------------------------------------------
# Alerts and dashboard


def cmd_rules(path, out):
    rules = [d for d in load_docs(path) if d.get("kind") == "PrometheusRule"]
    if len(rules) != 1:
        bad(f"exactly one PrometheusRule in {path} (found {len(rules)})")
        return
    with open(out, "w") as f:
        yaml.safe_dump(rules[0]["spec"], f, sort_keys=False)
    n = sum(len(g["rules"]) for g in rules[0]["spec"]["groups"])
    ok(f"PrometheusRule spec extracted to {out} ({n} rules)")


GRAFANA_VARS = re.compile(r"\$(__rate_interval|__interval|__range)\b|\$\{(__rate_interval|__interval|__range)\}")
OTHER_VARS = re.compile(r"\$\{?[A-Za-z_][A-Za-z0-9_]*\}?")


def dashboard_exprs(dash):
    def panels(ps):
        for p in ps:
            yield p
            yield from panels(p.get("panels", []))

    for p in panels(dash.get("panels", [])):
        for t in p.get("targets", []):
            if t.get("expr"):
                yield p, t


def find_dashboard(path):
    for d in load_docs(path):
        if d.get("kind") == "ConfigMap" and d["metadata"]["name"].endswith("-dashboard"):
            return d
    return None


def cmd_dashboard(path, out):
    cm = find_dashboard(path)
    if cm is None:
        bad(f"no dashboard ConfigMap in {path}")
        return
    errors = []
    groups = []
    for key, text in cm["data"].items():
        try:
            dash = json.loads(text)
        except json.JSONDecodeError as e:
            bad(f"dashboard {key} is valid JSON: {e}")
            continue
        ok(f"dashboard {key} is valid JSON ({len(dash.get('panels', []))} panels)")
        if "PROMPTOPS_DASHBOARD" in text:
            errors.append(f"{key}: unreplaced placeholder")
        uid = dash.get("uid") or ""
        if not re.match(r"^[a-zA-Z0-9_-]{1,40}$", uid):
            errors.append(f"{key}: uid {uid!r} is not a valid Grafana uid (40 characters at most)")
        ids = [p.get("id") for p in dash.get("panels", [])]
        if len(ids) != len(set(ids)):
            errors.append(f"{key}: duplicate panel ids")
        rules = []
        for p, t in dashboard_exprs(dash):
            expr = GRAFANA_VARS.sub("5m", t["expr"])
            expr = OTHER_VARS.sub("x", expr)
            rules.append({"record": f"dashboard:panel_{p['id']}_{t['refId'].lower()}", "expr": expr})
            if p.get("datasource", {}).get("uid") != "${datasource}":
                errors.append(f"{key}: panel {p.get('title')} does not use the $datasource variable")
        if not rules:
            errors.append(f"{key}: no PromQL expressions")
        groups.append({"name": f"dashboard-{key}", "rules": rules})
    with open(out, "w") as f:
        yaml.safe_dump({"groups": groups}, f, sort_keys=False)
    if errors:
        bad(f"dashboard structure in {path}")
        for e in errors:
            print(f"     {e}")
    else:
        ok(f"dashboard structure in {path}; {sum(len(g['rules']) for g in groups)} expressions written to {out}")


PROMQL_WORDS = {
    "by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless", "bool",
    "offset", "inf", "nan", "atan2",
}
TARGET_LABELS = {"namespace", "job", "instance", "pod", "service", "endpoint", "container"}


def promql_metric_names(expr):
    e = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    e = re.sub(r"'(?:[^'\\]|\\.)*'", "''", e)
    e = re.sub(r"\{[^}]*\}", " ", e)
    e = re.sub(r"\[[^\]]*\]", " ", e)
    e = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", e)
    e = re.sub(r"(?<![A-Za-z_:])[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)?", " ", e)
    names = set()
    for m in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", e):
        rest = e[m.end():].lstrip()
        if rest.startswith("(") or m.group(0).lower() in PROMQL_WORDS:
            continue  # a function, an aggregation or a keyword
        names.add(m.group(0))
    return names


def used_label_names(expr):
    names = set()
    for m in re.finditer(r"\{([^}]*)\}", expr):
        names.update(re.findall(r"([A-Za-z_][A-Za-z0-9_]*)\s*(?:=~|!~|!=|=)", m.group(1)))
    for m in re.finditer(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)", expr):
        names.update(n.strip() for n in m.group(1).split(",") if n.strip())
    return names


def used_label_values(expr):
    for m in re.finditer(r"([A-Za-z_:][A-Za-z0-9_:]*)\s*\{([^}]*)\}", expr):
        for lm in re.finditer(r'([A-Za-z_][A-Za-z0-9_]*)\s*=\s*"([^"]*)"', m.group(2)):
            yield m.group(1), lm.group(1), lm.group(2)


def scaler_queries(d):
    for t in d["spec"].get("triggers") or []:
        if t.get("type") == "prometheus" and (t.get("metadata") or {}).get("query"):
            yield f"ScaledObject {d['metadata']['name']} trigger {t.get('name')}", t["metadata"]["query"]


def cmd_scalers(out, *files):
    rules = []
    for path in files:
        for d in load_docs(path):
            if d.get("kind") == "ScaledObject":
                for i, (_, expr) in enumerate(scaler_queries(d)):
                    rules.append({"record": f"keda:{d['metadata']['name'].replace('-', '_')}_{i}", "expr": expr})
    with open(out, "w") as f:
        yaml.safe_dump({"groups": [{"name": "keda-queries", "rules": rules}]}, f, sort_keys=False)
    if rules:
        ok(f"{len(rules)} KEDA prometheus queries written to {out}")
    else:
        bad(f"no KEDA prometheus query in {files}")


def cmd_metrics(contract_path, *files):
    contract = json.load(open(contract_path))
    metrics = {m["name"]: m for m in contract["metrics"]}
    allowed = set(metrics)
    for m in contract["metrics"]:
        if m["type"] == "histogram":
            allowed |= {m["name"] + s for s in ("_bucket", "_sum", "_count")}
        elif m["type"] == "summary":
            allowed |= {m["name"] + s for s in ("_sum", "_count")}
    labels_ok = TARGET_LABELS | {"le"} | {l for m in contract["metrics"] for l in m["labels"]}
    exprs = []  # (where, expr)
    for path in files:
        for d in load_docs(path):
            if d.get("kind") == "PrometheusRule":
                for g in d["spec"]["groups"]:
                    for r in g["rules"]:
                        exprs.append((f"alert {r.get('alert') or r.get('record')}", r["expr"]))
            elif d.get("kind") == "ScaledObject":
                for where, expr in scaler_queries(d):
                    exprs.append((where, expr))
            elif d.get("kind") == "ConfigMap" and d["metadata"]["name"].endswith("-dashboard"):
                for key, text in d["data"].items():
                    dash = json.loads(text)
                    for p, t in dashboard_exprs(dash):
                        exprs.append((f"dashboard panel {p['title']!r}", t["expr"]))
                    for v in dash.get("templating", {}).get("list", []):
                        q = v.get("query")
                        q = q.get("query") if isinstance(q, dict) else q
                        if v.get("type") == "query" and q:
                            inner = re.sub(r"^label_values\((.*),\s*[A-Za-z_]+\)$", r"\1", q)
                            exprs.append((f"dashboard variable {v['name']}", inner))
    errors = []
    used = set()
    for where, expr in exprs:
        names = promql_metric_names(OTHER_VARS.sub("x", GRAFANA_VARS.sub("5m", expr)))
        if not names:
            errors.append(f"{where}: no metric name found in {expr!r}")
        for n in sorted(names - allowed):
            errors.append(f"{where}: metric {n} is not in the contract")
        used |= {re.sub(r"_(bucket|sum|count)$", "", n) if n not in metrics else n for n in names}
        for l in sorted(used_label_names(expr) - labels_ok):
            errors.append(f"{where}: label {l} is not a contract label")
        for metric, label, value in used_label_values(expr):
            base = re.sub(r"_(bucket|sum|count)$", "", metric) if metric not in metrics else metric
            m = metrics.get(base)
            if m is None:
                continue
            if label not in m["labels"] and label not in TARGET_LABELS:
                errors.append(f"{where}: {metric} has no label {label} in the contract")
            vals = (m.get("label_values") or {}).get(label)
            if vals and value not in vals:
                errors.append(f"{where}: {metric}{{{label}={value!r}}}: contract values are {vals}")
    unused = sorted(set(metrics) - used)
    if unused:
        errors.append(f"contract metrics shown nowhere (dashboard or alerts): {unused}")
    name = f"metric and label names of {len(exprs)} expressions are the contract's ({len(used)}/{len(metrics)} metrics used)"
    if errors:
        bad(name)
        for e in errors:
            print(f"     {e}")
    else:
        ok(name)


# --------------------------------------------------------------------------------------------
# values.yaml documentation and schema coverage


def cmd_values(values_path, schema_path):
    lines = open(values_path).read().splitlines()
    schema = json.load(open(schema_path))
    errors = []
    stack = []  # (indent, key, documented)
    key_re = re.compile(r"^(\s*)([A-Za-z_][A-Za-z0-9_-]*):(\s|$)")
    for i, line in enumerate(lines):
        m = key_re.match(line)
        if not m:
            continue
        indent, key = len(m.group(1)), m.group(2)
        # keys inside list items (e.g. ingress.hosts[].host) belong to an example, not a value
        parent = next((l for l in reversed(lines[:i]) if l.strip() and not l.lstrip().startswith("#")
                       and len(l) - len(l.lstrip()) < indent), "")
        if parent.lstrip().startswith("- "):
            continue
        while stack and stack[-1][0] >= indent:
            stack.pop()
        documented = i > 0 and lines[i - 1].lstrip().startswith("#")
        path = [k for _, k, _ in stack] + [key]
        if not documented and not any(d for _, _, d in stack):
            errors.append(f"values.yaml line {i + 1}: {'.'.join(path)} has no comment")
        stack.append((indent, key, documented))
        node = schema
        for k in path:
            props = node.get("properties") or {}
            if k in props:
                node = props[k]
                if "$ref" in node:
                    node = schema["definitions"][node["$ref"].split("/")[-1]]
            elif node.get("type") == "object" and node.get("additionalProperties") is not False:
                node = {}
                break
            elif node is schema or node.get("properties"):
                errors.append(f"values.yaml line {i + 1}: {'.'.join(path)} is not in values.schema.json")
                break
            else:
                break
    name = "values.yaml: every value documented and covered by values.schema.json"
    if errors:
        bad(name)
        for e in errors:
            print(f"     {e}")
    else:
        ok(name)


def cmd_same(directory, version, *names):
    def normalise(path):
        docs = {}
        for d in load_docs(path):
            if d.get("kind") == "Secret":
                # Values generated at install time differ between the two renders by design.
                for key in ("jwt-secret", "metrics-token", "master-key"):
                    if key in d.get("data", {}):
                        d["data"][key] = "<generated>"
            docs[kn(d)] = d
        return docs

    for name in names:
        four, three = f"{directory}/{name}-k{version}.yaml", f"{directory}/{name}-helm3.yaml"
        try:
            a, b = normalise(four), normalise(three)
        except Exception as e:  # helm 3 printed an error instead of YAML
            bad(f"helm 3 renders [{name}]: {e} / {open(three).read()[:300]}")
            continue
        diff = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))
        if diff:
            bad(f"helm 3 renders the same objects as helm 4 [{name}]: differences in {diff}")
        else:
            ok(f"helm 3 renders the same {len(a)} objects as helm 4 [{name}]")


def cmd_dockerfile(contract_path, dockerfile, dockerignore, values_path):
    contract = json.load(open(contract_path))
    text = open(dockerfile).read()
    # join continuation lines, drop comments
    text = re.sub(r"\\\n\s*", " ", text)
    lines = [l.strip() for l in text.splitlines() if l.strip() and not l.strip().startswith("#")]
    instr = [(l.split(None, 1)[0].upper(), (l.split(None, 1) + [""])[1]) for l in lines]
    stages = [a for i, a in instr if i == "FROM"]
    final = len(instr) - 1 - [i for i, _ in instr][::-1].index("FROM")
    last = instr[final:]
    values = yaml.safe_load(open(values_path))
    uid = values["podSecurityContext"]["runAsUser"]
    errors = []
    if len(stages) < 2:
        errors.append("not a multi-stage build")
    if not stages[0].startswith("rust:1.95"):
        errors.append(f"build stage is {stages[0]!r}, not rust:1.95")
    entry = [json.loads(a) for i, a in last if i == "ENTRYPOINT"]
    cmd = [json.loads(a) for i, a in last if i == "CMD"]
    if not entry or entry[-1][0] != contract["binary"]:
        errors.append(f"ENTRYPOINT is not {contract['binary']}")
    if (entry[-1][1:] if entry else []) + (cmd[-1] if cmd else []) != ["serve"]:
        errors.append("the default command is not `promptops serve`")
    if not any(i == "COPY" and a.endswith(contract["binary"]) for i, a in last):
        errors.append(f"the binary is not copied to {contract['binary']}")
    users = [a for i, a in last if i == "USER"]
    if not users or users[-1].split(":")[0] != str(uid):
        errors.append(f"USER is {users[-1] if users else None}, not the chart's runAsUser {uid}")
    if not any(i == "EXPOSE" and a.split("/")[0] == str(contract["port"]) for i, a in last):
        errors.append(f"EXPOSE {contract['port']} missing")
    if any(i == "HEALTHCHECK" for i, _ in instr):
        errors.append("HEALTHCHECK present (Kubernetes probes do that)")
    ignored = [l.strip() for l in open(dockerignore) if l.strip() and not l.startswith("#")]
    for needed in ("Cargo.toml", "Cargo.lock", "src", "cli", "tests"):
        if needed in ignored:
            errors.append(f".dockerignore excludes {needed}, which the build needs")
    if "**/target" not in ignored and "target" not in ignored:
        errors.append(".dockerignore does not exclude target/")
    name = "Dockerfile matches the contract and the chart (multi-stage, binary, serve, port, non-root user, no HEALTHCHECK)"
    if errors:
        bad(name)
        for e in errors:
            print(f"     {e}")
    else:
        ok(name)


def main():
    cmds = {
        "k8s": cmd_k8s, "crs": cmd_crs, "policy": cmd_policy, "collide": cmd_collide,
        "rules": cmd_rules, "dashboard": cmd_dashboard, "metrics": cmd_metrics, "values": cmd_values,
        "dockerfile": cmd_dockerfile, "same": cmd_same, "scalers": cmd_scalers,
    }
    if len(sys.argv) < 2 or sys.argv[1] not in cmds:
        print(__doc__)
        return 2
    cmds[sys.argv[1]](*sys.argv[2:])
    return 1 if FAILED else 0


if __name__ == "__main__":
    sys.exit(main())
