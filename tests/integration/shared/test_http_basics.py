"""Every service's HTTP basics: health, readiness, metrics, errors, clock control."""
import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from services.audit.service import AuditService
from services.experts.service import ExpertsService
from services.intake.service import IntakeService
from services.review.service import ReviewService


@pytest.mark.parametrize("service_cls", [IntakeService, ReviewService, ExpertsService,
                                         AuditService])
def test_service_answers_health_readiness_and_metrics(start_service, service_cls):
    svc = start_service(service_cls)
    assert requests.get(svc.url + "/healthz", timeout=5).json()["status"] == "ok"
    ready = requests.get(svc.url + "/readyz", timeout=5)
    assert ready.status_code == 200 and ready.json()["checks"] == {"database": "ok",
                                                                   "broker": "ok"}
    metrics = requests.get(svc.url + "/metrics", timeout=5)
    assert metrics.headers["Content-Type"].startswith("text/plain")
    families = {f.name for f in text_string_to_metric_families(metrics.text)}
    assert {"zhicheng_entrypoint_latency_seconds", "zhicheng_outbox_backlog",
            "zhicheng_events_published"} <= families


def test_readiness_fails_when_the_broker_is_unreachable(start_service):
    svc = start_service(AuditService)
    svc.container.dependencies  # started fine; now point the probe at a closed port
    probe = next(d for d in svc.container.dependencies if type(d).__name__ == "BrokerProbe")
    probe.amqp_uri = "amqp://guest:guest@127.0.0.1:1/"
    probe._checked_at = 0
    r = requests.get(svc.url + "/readyz", timeout=10)
    assert r.status_code == 503 and r.json()["checks"]["broker"] == "unreachable"


def test_errors_are_json_without_python_details(start_service, auth_header):
    svc = start_service(AuditService)
    for method, path, status, code in [("GET", "/nowhere", 404, "not_found"),
                                       ("DELETE", "/healthz", 405, "method_not_allowed"),
                                       ("GET", "/records", 401, "unauthenticated")]:
        r = requests.request(method, svc.url + path, timeout=5)
        assert r.status_code == status
        assert r.json()["error"]["code"] == code and set(r.json()["error"]) == {
            "code", "message", "rule", "details"}
        assert "Traceback" not in r.text and "Error:" not in r.text
    r = requests.get(svc.url + "/records", headers=auth_header("portal"), timeout=5)
    assert r.status_code == 403


def test_clock_is_settable_only_by_an_operator(start_service, auth_header, clock):
    svc = start_service(AuditService)
    r = requests.put(svc.url + "/admin/clock", json={"now": "2023-10-08T09:00:00+08:00"},
                     headers=auth_header("inspector"), timeout=5)
    assert r.status_code == 403
    r = requests.put(svc.url + "/admin/clock", json={"now": "2023-10-08T09:00:00+08:00"},
                     headers=auth_header("operator"), timeout=5)
    assert r.status_code == 200 and clock.now().isoformat() == "2023-10-08T09:00:00+08:00"
    r = requests.put(svc.url + "/admin/clock", json={"now": "soon"},
                     headers=auth_header("operator"), timeout=5)
    assert r.status_code == 400 and r.json()["error"]["details"]["fields"]["now"]


def test_clock_control_is_off_unless_enabled(start_service, auth_header):
    svc = start_service(AuditService, CLOCK_CONTROL=False)
    r = requests.put(svc.url + "/admin/clock", json={"now": "2023-10-08"},
                     headers=auth_header("operator"), timeout=5)
    assert r.status_code == 403 and r.json()["error"]["code"] == "clock_control_disabled"
