#!/usr/bin/env python3
"""The JSON half of ./dev/deploy-check (standard library only: no YAML parser is assumed; kubectl
turns the manifests into JSON first).

  objects FILE                   the objects of FILE (concatenated JSON objects, or a List) as one
                                 JSON List on stdout
  get FILE KIND NAME             one object of FILE
  crd-equal FILE NAME REFERENCE  the CRD NAME in FILE equals the one in REFERENCE
  lint FILE                      what every install promises (see lint below)
  settings FILE HOST [CA_B64]    the install's settings reached the objects
  pod FILE DEPLOYMENT NS [bad]   a Pod in NS from DEPLOYMENT's pod template; `bad`: without
                                 runAsNonRoot anywhere (Pod Security must refuse it)
  dashboard FILE                 the Grafana dashboard FILE queries ${datasource} only and names
                                 only metrics the console and the controller export (see dashboard)
"""
import json
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Where the metrics are registered (prometheus-client): one Registry::with_prefix each.
METRICS_SOURCES = ("cluster/src/metrics.rs", "controller/src/metrics.rs")


def objects(path):
    """Every object in FILE: kubectl prints one JSON document per object, or a List."""
    text = open(path).read()
    decoder = json.JSONDecoder()
    found, i = [], 0
    while True:
        while i < len(text) and text[i].isspace():
            i += 1
        if i >= len(text):
            break
        doc, i = decoder.raw_decode(text, i)
        if doc.get("kind", "").endswith("List") and "items" in doc:
            found.extend(doc["items"])
        else:
            found.append(doc)
    return found


def get(objs, kind, name):
    hits = [o for o in objs if o.get("kind") == kind and o["metadata"]["name"] == name]
    if len(hits) != 1:
        sys.exit(f"{len(hits)} objects {kind}/{name} (want 1)")
    return hits[0]


def fail(problems):
    for p in problems:
        print(f"  {p}", file=sys.stderr)
    sys.exit(1 if problems else 0)


def lint(objs):
    """Not emitted: the local-config settings. Every workload: requests and limits, probes on
    /healthz and /readyz (its own; a sidecar's may differ), the restricted securityContext,
    hostname spread, a ServiceAccount token (all of them talk to the apiserver), a read-only root
    file system with a writable /tmp."""
    problems = []
    for o in objs:
        notes = (o["metadata"].get("annotations") or {})
        if notes.get("config.kubernetes.io/local-config") == "true":
            problems.append(f"{o['kind']}/{o['metadata']['name']} is local-config but was emitted")
    deployments = [o for o in objs if o["kind"] == "Deployment"]
    if not deployments:
        problems.append("no Deployment")
    for d in deployments:
        name = d["metadata"]["name"]
        spec = d["spec"]["template"]["spec"]
        where = f"Deployment {name}"
        if spec.get("automountServiceAccountToken") is not True:
            problems.append(f"{where}: automountServiceAccountToken is not true")
        psc = spec.get("securityContext") or {}
        for key, want in (("runAsNonRoot", True), ("runAsUser", 65532), ("runAsGroup", 65532)):
            if psc.get(key) != want:
                problems.append(f"{where}: securityContext.{key} is {psc.get(key)!r}, not {want!r}")
        if (psc.get("seccompProfile") or {}).get("type") != "RuntimeDefault":
            problems.append(f"{where}: no RuntimeDefault seccompProfile")
        spread = spec.get("topologySpreadConstraints") or []
        if not any(c.get("topologyKey") == "kubernetes.io/hostname"
                   and c.get("whenUnsatisfiable") == "ScheduleAnyway" for c in spread):
            problems.append(f"{where}: no kubernetes.io/hostname ScheduleAnyway spread")
        for c in spec["containers"]:
            cw = f"{where}, container {c['name']}"
            res = c.get("resources") or {}
            for part in ("requests", "limits"):
                for r in ("cpu", "memory"):
                    if r not in (res.get(part) or {}):
                        problems.append(f"{cw}: no {part}.{r}")
            sc = c.get("securityContext") or {}
            if sc.get("allowPrivilegeEscalation") is not False:
                problems.append(f"{cw}: allowPrivilegeEscalation is not false")
            if sc.get("readOnlyRootFilesystem") is not True:
                problems.append(f"{cw}: readOnlyRootFilesystem is not true")
            if (sc.get("capabilities") or {}).get("drop") != ["ALL"]:
                problems.append(f"{cw}: capabilities do not drop ALL")
            if not any(m.get("mountPath") == "/tmp" for m in c.get("volumeMounts") or []):
                problems.append(f"{cw}: no writable /tmp")
            for probe in ("livenessProbe", "readinessProbe"):
                if not (c.get(probe) or {}).get("httpGet"):
                    problems.append(f"{cw}: no HTTP {probe}")
            if c["name"] == name:  # the workload itself (not a sidecar): its own endpoints
                for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
                    got = ((c.get(probe) or {}).get("httpGet") or {}).get("path")
                    if got != path:
                        problems.append(f"{cw}: {probe} on {got!r}, not {path}")
                if not c["image"].startswith("registry.example.com/novasphere/"):
                    problems.append(f"{cw}: image {c['image']} is not under the placeholder registry")
    fail(problems)


def settings(objs, host, ca=None):
    """The host reached the Ingress (rule and TLS) and the console's public URL; the CA (if
    given) the APIService."""
    problems = []
    ingress = get(objs, "Ingress", "wukong-console")
    if ingress["spec"]["rules"][0]["host"] != host:
        problems.append(f"Ingress rule host {ingress['spec']['rules'][0]['host']}")
    if ingress["spec"]["tls"][0]["hosts"] != [host]:
        problems.append(f"Ingress TLS hosts {ingress['spec']['tls'][0]['hosts']}")
    console = get(objs, "Deployment", "wukong-console")
    env = {e["name"]: e.get("value") for c in console["spec"]["template"]["spec"]["containers"]
           for e in c.get("env") or []}
    if env.get("WUKONG_PUBLIC_URL") != f"https://{host}":
        problems.append(f"WUKONG_PUBLIC_URL {env.get('WUKONG_PUBLIC_URL')}")
    if ca is not None:
        got = get(objs, "APIService", "v1.subresources.kubevirt.io")["spec"].get("caBundle")
        if got != ca:
            problems.append("the APIService's caBundle is not the install's CA")
    fail(problems)


def pod(objs, deployment, namespace, bad=False):
    """The Pod the Deployment's ReplicaSet would create, in NAMESPACE."""
    d = get(objs, "Deployment", deployment)
    template = d["spec"]["template"]
    spec = json.loads(json.dumps(template["spec"]))
    if bad:
        spec.get("securityContext", {}).pop("runAsNonRoot", None)
        for c in spec["containers"]:
            (c.get("securityContext") or {}).pop("runAsNonRoot", None)
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": f"{deployment}-check" + ("-bad" if bad else ""),
            "namespace": namespace,
            "labels": template["metadata"].get("labels", {}),
        },
        "spec": spec,
    }


def exported_metrics():
    """The names Prometheus stores for every metric registered in METRICS_SOURCES, as
    prometheus-client writes them: PREFIX_NAME, plus _total for a counter, _bucket, _sum and
    _count for a histogram, nothing for a gauge. The kind is read from the declaration of the
    variable registered (`let x = Family::<_, Counter>::default();`, `Histogram::new(...)`), or is
    a gauge for the console's `gauge("name", ...)` helper."""
    names = {}
    for source in METRICS_SOURCES:
        text = open(os.path.join(ROOT, source)).read()
        prefixes = re.findall(r'Registry::with_prefix\(\s*"([^"]+)"\s*\)', text)
        if len(prefixes) != 1:
            sys.exit(f"{source}: {len(prefixes)} Registry::with_prefix calls (want 1)")
        prefix = prefixes[0] + "_"
        found = []
        string = r'"(?:[^"\\]|\\.)*"'
        for name, var in re.findall(
                r'\.register\(\s*"([a-z0-9_]+)"\s*,\s*' + string + r'\s*,\s*(\w+)\.clone\(\)', text):
            decl = re.search(r'let\s+(?:mut\s+)?' + var + r'\s*(?::[^=]+)?=\s*([^;]+);', text)
            if not decl:
                sys.exit(f"{source}: cannot find how {var} (registered as {name}) is declared")
            d = decl.group(1)
            kind = ("histogram" if "Histogram" in d else "counter" if "Counter" in d
                    else "gauge" if "Gauge" in d else None)
            if kind is None:
                sys.exit(f"{source}: {name}: not a Counter, Histogram or Gauge: {d.strip()}")
            found.append((name, kind))
        found += [(name, "gauge") for name in re.findall(r'(?<![\w.])gauge\(\s*"([a-z0-9_]+)"', text)]
        if not found:
            sys.exit(f"{source}: no metric registrations found")
        for name, kind in found:
            full = prefix + name
            suffixes = {"counter": ["_total"], "histogram": ["_bucket", "_sum", "_count"],
                        "gauge": [""]}[kind]
            for suffix in suffixes:
                names[full + suffix] = f"{source}: {kind} {name}"
    return names


# PromQL words that are not metric names: functions are recognised by their "(", these not.
PROMQL_WORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "and", "or",
                "unless", "bool", "offset", "inf", "nan"}


def metric_names(expr):
    """The metric names an expression (or a label_values() variable query) reads."""
    e = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)          # strings: label values, regexes
    e = re.sub(r"\{[^{}]*\}", "", e)                         # label matchers
    e = re.sub(r"\[[^\[\]]*\]", "", e)                       # ranges and subqueries
    e = re.sub(r"\$\{[^}]*\}|\$\w+", "", e)                   # Grafana variables
    # by (...), without (...), on (...), ignoring (...), group_left/right (...): label names
    # (gone, `sum by (le) (x)` reads as the call `sum (x)`)
    e = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)", " ", e)
    # label_values(metric, label): the label is not a metric
    e = re.sub(r"\blabel_values\s*\(([^(),]*),\s*\w+\s*\)", r"(\1)", e)
    e = re.sub(r"\blabel_values\s*\(\s*\w+\s*\)", "", e)
    words = re.findall(r"(?<![\w.])([A-Za-z_:][A-Za-z0-9_:]*)\s*(\(?)", e)
    return [w for w, call in words if not call and w.lower() not in PROMQL_WORDS]


def dashboard(path):
    """Every panel (rows aside) and every target queries the data source variable ${datasource};
    the variables include a Prometheus data source `datasource` and `namespace`; every query
    names at least one metric and only metrics the console or the controller exports."""
    board = json.load(open(path))
    exported = exported_metrics()
    problems = []

    def uid_of(ds):
        return ds.get("uid") if isinstance(ds, dict) else ds

    variables = {v.get("name"): v for v in (board.get("templating") or {}).get("list", [])}
    ds = variables.get("datasource")
    if not ds or ds.get("type") != "datasource" or ds.get("query") != "prometheus":
        problems.append("no Prometheus data source variable named datasource")
    if "namespace" not in variables:
        problems.append("no namespace variable")
    queries = []
    for name, v in variables.items():
        if v.get("type") == "query":
            if uid_of(v.get("datasource")) != "${datasource}":
                problems.append(f"variable {name}: data source is not ${{datasource}}")
            q = v.get("query")
            queries.append((f"variable {name}", q.get("query") if isinstance(q, dict) else q))
    panels = list(board.get("panels") or [])
    for p in list(panels):
        panels.extend(p.get("panels") or [])  # a collapsed row holds its panels
    ids = [p.get("id") for p in panels]
    if len(set(ids)) != len(ids):
        problems.append(f"panel ids are not unique: {ids}")
    charts = [p for p in panels if p.get("type") != "row"]
    if not charts:
        problems.append("no panels")
    for p in charts:
        where = f"panel {p.get('id')} {p.get('title')!r}"
        if uid_of(p.get("datasource")) != "${datasource}":
            problems.append(f"{where}: data source {p.get('datasource')!r}, not ${{datasource}}")
        if "gridPos" not in p:
            problems.append(f"{where}: no gridPos")
        if not p.get("targets"):
            problems.append(f"{where}: no targets")
        for t in p.get("targets") or []:
            if "datasource" in t and uid_of(t["datasource"]) != "${datasource}":
                problems.append(f"{where}, target {t.get('refId')}: data source is not ${{datasource}}")
            queries.append((f"{where}, target {t.get('refId')}", t.get("expr")))
    for where, expr in queries:
        if not expr:
            problems.append(f"{where}: no expression")
            continue
        names = metric_names(expr)
        if not names:
            problems.append(f"{where}: names no metric: {expr}")
        for n in names:
            if n not in exported:
                problems.append(f"{where}: {n} is not a metric the console or the controller exports")
    fail(problems)


def main(argv):
    cmd, path, *rest = argv
    if cmd == "dashboard":
        return dashboard(path)
    objs = objects(path)
    if cmd == "objects":
        print(json.dumps({"apiVersion": "v1", "kind": "List", "items": objs}))
    elif cmd == "get":
        print(json.dumps(get(objs, rest[0], rest[1])))
    elif cmd == "crd-equal":
        name, reference = rest
        mine = get(objs, "CustomResourceDefinition", name)
        ref = get(objects(reference), "CustomResourceDefinition", name)
        if mine != ref:
            keys = sorted(k for k in set(mine) | set(ref) if mine.get(k) != ref.get(k))
            sys.exit(f"CRD {name} differs from the reference in {keys}")
    elif cmd == "lint":
        lint(objs)
    elif cmd == "settings":
        settings(objs, rest[0], rest[1] if len(rest) > 1 else None)
    elif cmd == "pod":
        print(json.dumps(pod(objs, rest[0], rest[1], bad=len(rest) > 2 and rest[2] == "bad")))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
