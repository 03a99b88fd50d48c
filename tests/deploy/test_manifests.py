"""The Kubernetes manifests and the container image definition.

Renders base, overlays/dev and overlays/prod with kustomize and runs deploy/k8s/check_manifests.py
on them (the same checks as deploy/k8s/validate.sh in CI), then pins the properties the platform
relies on. Tools come from deploy/k8s/install-tools.sh; without them these tests skip with the
reason, or fail when ZHICHENG_REQUIRE_DEPLOY_TOOLS=1 (CI).
"""

from __future__ import annotations

import base64
import copy
import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.deploy

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"


def _load_checker():
    spec = importlib.util.spec_from_file_location("zhicheng_check_manifests", K8S / "check_manifests.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


cm = _load_checker()


def _missing(message: str):
    if os.environ.get("ZHICHENG_REQUIRE_DEPLOY_TOOLS") == "1":
        pytest.fail(message)
    pytest.skip(f"{message}; run deploy/k8s/install-tools.sh")


def _require(call, *args, **kwargs):
    try:
        return call(*args, **kwargs)
    except cm.ToolMissing as exc:
        _missing(str(exc))


@pytest.fixture(scope="module")
def rendered() -> dict[str, list[dict]]:
    kustomize = _require(cm.find_kustomize)
    subprocess.run([str(K8S / "overlays" / "dev" / "generate-dev-secrets.sh")], check=True,
                   env={**os.environ, "PYTHON": sys.executable}, capture_output=True)
    return {target: cm.render(target, kustomize) for target in cm.TARGETS}


def objects(objs: list[dict], kind: str, name: str | None = None) -> list[dict]:
    return [o for o in objs if o["kind"] == kind and (name is None or o["metadata"]["name"] == name)]


def one(objs: list[dict], kind: str, name: str) -> dict:
    (found,) = objects(objs, kind, name)
    return found


def policy_errors(target: str, objs: list[dict]) -> list[str]:
    return cm.check_target(target, objs, schemas=False).errors


def container(objs: list[dict], deployment: str) -> dict:
    return one(objs, "Deployment", deployment)["spec"]["template"]["spec"]["containers"][0]


# ------------------------------------------------------------------ every rendered manifest


@pytest.mark.parametrize("target", cm.TARGETS)
def test_every_target_passes_kubernetes_schemas_custom_resource_schemas_and_our_rules(rendered, target):
    report = _require(cm.check_target, target, rendered[target])
    assert report.errors == []


def test_strict_schema_validation_rejects_a_misspelt_field(rendered):
    objs = copy.deepcopy(rendered["overlays/prod"])
    c = container(objs, "intake")
    c["readinesProbe"] = c.pop("readinessProbe")
    report = cm.Report("overlays/prod")
    _require(cm.check_core_schemas, objs, report, cm.DEFAULT_K8S_VERSION)
    assert any("Deployment/intake" in e and "readinesProbe" in e for e in report.errors)


def test_custom_resource_validator_rejects_a_database_without_an_owner(rendered):
    objs = copy.deepcopy(rendered["overlays/prod"])
    del one(objs, "Database", "zhicheng-audit")["spec"]["owner"]
    report = cm.Report("overlays/prod")
    _require(cm.check_custom_resources, objs, report)
    assert any("Database/zhicheng-audit" in e and "owner" in e for e in report.errors)


# ------------------------------------------------------------------ the checker catches mistakes


def test_checker_rejects_a_container_with_a_writable_root_filesystem(rendered):
    objs = copy.deepcopy(rendered["overlays/dev"])
    container(objs, "review")["securityContext"]["readOnlyRootFilesystem"] = False
    assert any("Deployment/review" in e and "readOnlyRootFilesystem" in e
               for e in policy_errors("overlays/dev", objs))


def test_checker_rejects_a_readiness_probe_that_does_not_check_readyz(rendered):
    objs = copy.deepcopy(rendered["overlays/dev"])
    container(objs, "experts")["readinessProbe"]["httpGet"]["path"] = "/healthz"
    assert any("Deployment/experts" in e and "/readyz" in e for e in policy_errors("overlays/dev", objs))


def test_checker_rejects_a_prod_image_that_is_not_pinned(rendered):
    objs = copy.deepcopy(rendered["overlays/prod"])
    container(objs, "audit")["image"] = "registry.example.com/zhicheng/zhicheng:latest"
    assert any("Deployment/audit" in e and "pinned" in e for e in policy_errors("overlays/prod", objs))


def test_checker_rejects_a_secret_rendered_into_prod(rendered):
    objs = copy.deepcopy(rendered["overlays/prod"])
    objs.append({"apiVersion": "v1", "kind": "Secret",
                 "metadata": {"name": "zhicheng-jwt", "namespace": "zhicheng"},
                 "stringData": {"secret": "oops"}})
    assert any("must not render Secrets" in e for e in policy_errors("overlays/prod", objs))


def test_checker_rejects_a_connection_url_using_an_undefined_variable(rendered):
    objs = copy.deepcopy(rendered["overlays/dev"])
    env = container(objs, "intake")["env"]
    url = next(v for v in env if v["name"] == "AMQP_URI")
    url["value"] = url["value"].replace("$(AMQP_HOST)", "$(AMQP_HOSTNAME)")
    assert any("AMQP_HOSTNAME" in e for e in policy_errors("overlays/dev", objs))


def test_checker_rejects_a_service_port_that_targets_no_container_port(rendered):
    objs = copy.deepcopy(rendered["overlays/dev"])
    one(objs, "Service", "intake")["spec"]["ports"][1]["targetPort"] = "metrics"
    assert any("Service/intake" in e and "targetPort 'metrics'" in e
               for e in policy_errors("overlays/dev", objs))


def test_checker_rejects_the_audit_signing_key_given_to_another_service(rendered):
    objs = copy.deepcopy(rendered["overlays/prod"])
    audit_key = next(v for v in container(objs, "audit")["env"] if v["name"] == "ZHICHENG_AUDIT_SIGNING_KEY")
    container(objs, "intake")["env"].append(copy.deepcopy(audit_key))
    assert any("Deployment/intake" in e and "ZHICHENG_AUDIT_SIGNING_KEY" in e
               for e in policy_errors("overlays/prod", objs))


def test_promtool_rejects_an_alert_expression_that_does_not_parse(rendered):
    objs = copy.deepcopy(rendered["overlays/prod"])
    rule = one(objs, "PrometheusRule", "zhicheng-alerts")["spec"]["groups"][1]["rules"][0]
    rule["expr"] = "max by (service (zhicheng_outbox_backlog) > 100"
    report = cm.Report("overlays/prod")
    _require(cm.check_alert_rules, objs, report)
    assert any("promtool check rules failed" in e for e in report.errors)


# ------------------------------------------------------------------ what the platform relies on


def test_each_service_runs_its_own_command_on_its_own_port_with_probes(rendered):
    objs = rendered["overlays/prod"]
    for svc, port in cm.SERVICES.items():
        c = container(objs, svc)
        assert c["args"] == ["serve", svc]
        assert c["ports"] == [{"name": "http", "containerPort": port, "protocol": "TCP"}]
        assert c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
        assert c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
        service = one(objs, "Service", svc)
        assert {p["name"]: p["targetPort"] for p in service["spec"]["ports"]} == {"http": "http", "metrics": "http"}


def test_services_reach_their_own_database_and_the_broker_through_composed_urls(rendered):
    objs = rendered["overlays/dev"]
    config = objects(objs, "ConfigMap")[0]["data"]
    for svc in cm.SERVICES:
        env = {v["name"]: v for v in container(objs, svc)["env"]}
        url = env[f"{svc.upper()}_DATABASE_URL"]["value"]
        resolved = re.sub(r"\$\((\w+)\)", lambda m: config.get(m.group(1), f"<{m.group(1)}>"), url)
        assert resolved == (f"postgresql+psycopg2://<DB_USER>:<DB_PASSWORD>@zhicheng-postgres-rw:5432/"
                            f"{svc}?sslmode=require")
        assert env["DB_USER"]["valueFrom"]["secretKeyRef"]["name"] == f"zhicheng-{svc}-db"
        amqp = re.sub(r"\$\((\w+)\)", lambda m: config.get(m.group(1), f"<{m.group(1)}>"), env["AMQP_URI"]["value"])
        assert amqp == "amqp://<AMQP_USER>:<AMQP_PASSWORD>@zhicheng-rabbitmq:5672/%2F"
    assert config["ZHICHENG_CLOCK"] == ""


def test_each_service_gets_its_own_database_and_login_role(rendered):
    objs = rendered["overlays/dev"]
    cluster = one(objs, "Cluster", "zhicheng-postgres")
    initdb = cluster["spec"]["bootstrap"]["initdb"]
    owners = {initdb["database"]: initdb["owner"]}
    owners |= {d["spec"]["name"]: d["spec"]["owner"] for d in objects(objs, "Database")}
    assert owners == {svc: svc for svc in cm.SERVICES}
    for svc in cm.SERVICES:
        secret = one(objs, "Secret", f"zhicheng-{svc}-db")
        assert base64.b64decode(secret["data"]["username"]).decode() == svc
        assert secret["metadata"]["labels"]["cnpg.io/reload"] == "true"


def test_prod_scales_each_service_from_three_replicas_and_sets_no_fixed_count(rendered):
    objs = rendered["overlays/prod"]
    for svc in cm.SERVICES:
        hpa = one(objs, "HorizontalPodAutoscaler", svc)
        assert hpa["spec"]["minReplicas"] == 3 and hpa["spec"]["maxReplicas"] >= 3
        assert "replicas" not in one(objs, "Deployment", svc)["spec"]
        assert one(objs, "PodDisruptionBudget", svc)["spec"]["maxUnavailable"] == 1
    assert one(objs, "RabbitmqCluster", "zhicheng-rabbitmq")["spec"]["replicas"] == 3
    assert one(objs, "Cluster", "zhicheng-postgres")["spec"]["instances"] == 3


def test_dev_runs_one_of_everything_without_the_optional_components(rendered):
    objs = rendered["overlays/dev"]
    for svc in cm.SERVICES:
        assert one(objs, "Deployment", svc)["spec"]["replicas"] == 1
        assert container(objs, svc)["image"] == "zhicheng:dev"
    kinds = {o["kind"] for o in objs}
    assert not kinds & {"HorizontalPodAutoscaler", "NetworkPolicy", "ServiceMonitor", "PrometheusRule"}


def test_prod_generates_no_secrets_and_expects_them_by_name(rendered):
    objs = rendered["overlays/prod"]
    assert objects(objs, "Secret") == []
    referenced = {v["valueFrom"]["secretKeyRef"]["name"]
                  for svc in cm.SERVICES for v in container(objs, svc)["env"]
                  if "secretKeyRef" in v.get("valueFrom", {})}
    assert referenced == cm.EXTERNAL_SECRETS | cm.OPERATOR_SECRETS


def test_default_deny_covers_every_pod_and_leaves_dns_open(rendered):
    objs = rendered["overlays/prod"]
    deny = one(objs, "NetworkPolicy", "default-deny-all")["spec"]
    assert deny == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    dns = one(objs, "NetworkPolicy", "allow-dns")["spec"]["egress"][0]["ports"]
    assert {(p["protocol"], p["port"]) for p in dns} == {("UDP", 53), ("TCP", 53)}
    services = one(objs, "NetworkPolicy", "zhicheng-services")["spec"]
    egress_ports = {p["port"] for rule in services["egress"] for p in rule["ports"]}
    assert {5672, 5432} <= egress_ports
    sources = [rule["from"][0] for rule in services["ingress"]]
    assert {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}} in sources


def test_rabbitmq_cluster_uses_only_known_fields_and_a_tested_cluster_size(rendered):
    # No registry ships a RabbitmqCluster schema, so pin what we use against the operator's API
    # (rabbitmq.com/v1beta1 RabbitmqClusterSpec) here.
    for target in ("overlays/dev", "overlays/prod"):
        spec = one(rendered[target], "RabbitmqCluster", "zhicheng-rabbitmq")["spec"]
        assert set(spec) <= {"replicas", "resources", "persistence", "service", "rabbitmq", "image",
                             "override", "tls", "affinity", "tolerations"}
        assert spec["replicas"] in (1, 3, 5)  # the sizes the operator is tested with
        assert set(spec["persistence"]) <= {"storage", "storageClassName"}
        assert set(spec["service"]) <= {"type", "annotations"}
        # The operator derives RabbitMQ's memory watermark from the limit: keep request == limit.
        assert spec["resources"]["requests"]["memory"] == spec["resources"]["limits"]["memory"]


def test_alert_rules_watch_backlog_dead_letters_violations_and_availability(rendered):
    groups = cm.rule_groups(rendered["overlays/prod"])
    alerts = {r["alert"]: r for g in groups for r in g["rules"]}
    assert {"ZhichengOutboxBacklogHigh", "ZhichengDeadLetters", "ZhichengViolationRaised",
            "ZhichengServiceDown", "ZhichengServiceAbsent"} <= set(alerts)
    assert "zhicheng_violations_raised_total" in alerts["ZhichengViolationRaised"]["expr"]
    assert alerts["ZhichengServiceDown"]["labels"]["severity"] == "critical"
    report = cm.Report("overlays/prod")
    _require(cm.check_alert_rules, rendered["overlays/prod"], report)
    assert report.errors == []


# ------------------------------------------------------------------ the image


def _dockerfile() -> list[str]:
    text = (ROOT / "Dockerfile").read_text()
    return [line.strip() for line in text.replace("\\\n", " ").splitlines()
            if line.strip() and not line.strip().startswith("#")]


def test_image_is_multi_stage_python_311_slim_and_runs_zhicheng_as_an_unprivileged_user():
    lines = _dockerfile()
    stages = [line for line in lines if line.startswith("FROM ")]
    assert len(stages) >= 2
    assert any(re.match(r"ARG PYTHON_IMAGE=python:3\.11-slim", line) for line in lines)
    users = [line for line in lines if line.startswith("USER ")]
    assert users and users[-1] == "USER 10001:10001"
    assert 'ENTRYPOINT ["zhicheng"]' in lines
    assert 'CMD ["serve", "intake"]' in lines or 'CMD ["serve","intake"]' in lines


def test_image_bakes_in_no_secret_settings():
    secret_words = re.compile(r"(SECRET|PASSWORD|SIGNING_KEY|DATABASE_URL|AMQP_URI)", re.I)
    for line in _dockerfile():
        if line.startswith(("ENV ", "ARG ", "LABEL ")):
            assert not secret_words.search(line), line


def test_build_context_includes_every_python_package_and_excludes_local_state():
    ignore = [line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()
              if line.strip() and not line.startswith("#")]
    assert ignore[0] == "*"  # allow-list: nothing enters the image unless named below
    allowed = {line[1:].rstrip("/") for line in ignore if line.startswith("!")}
    # the packages `pip install .` ships (pyproject's find.include), not every folder
    import fnmatch
    import tomllib

    include = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"][
        "packages"]["find"]["include"]
    packages = {p.parent.name for p in ROOT.glob("*/__init__.py")
                if any(fnmatch.fnmatch(p.parent.name, pattern) for pattern in include)}
    assert packages, "no top-level Python package found"
    assert packages <= allowed, f"add to .dockerignore: {sorted(packages - allowed)}"
    assert "pyproject.toml" in allowed
    assert not allowed & {".git", ".venv", "var", "tests", "deploy"}
