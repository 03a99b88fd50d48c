"""The foundation's promise: four services up, ready, measurable, and every start recorded."""
import signal

import requests
from prometheus_client.parser import text_string_to_metric_families

from shared.config import SERVICES


def test_four_services_are_ready_serve_metrics_and_their_events_reach_audit(
        platform, auth_header, wait):
    for service in SERVICES:
        ready = requests.get(platform.url(service) + "/readyz", timeout=5)
        assert ready.status_code == 200, (service, ready.text)
        families = list(text_string_to_metric_families(
            requests.get(platform.url(service) + "/metrics", timeout=5).text))
        assert any(f.name == "zhicheng_workers_active" for f in families)

    inspector = auth_header("inspector")

    def recorded_types():
        r = requests.get(platform.url("audit") + "/records?limit=100", headers=inspector,
                         timeout=5)
        return {item["event"]["event_type"] for item in r.json()["items"]}

    wait(lambda: {f"{s}_started" for s in SERVICES} <= recorded_types(), timeout=20,
         message="every service's start event in audit")


def test_services_stop_cleanly_on_sigterm(platform):
    for service in SERVICES:
        assert platform.stop(service, signal.SIGTERM) == 0, \
            (platform.log_dir / f"{service}.log").read_text()[-2000:]
