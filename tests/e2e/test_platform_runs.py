"""The foundation's promise: four services up, ready, measurable, and every start recorded."""
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
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


@pytest.mark.parametrize("sigint_ignored", [False, True], ids=["terminal", "script-background"])
def test_zhicheng_up_stops_every_service_on_ctrl_c(platform_env, sigint_ignored):
    """`make up` in a terminal, or started with `&` from a script (bash then starts it with
    SIGINT ignored): Ctrl-C reaches the whole process group, the services included. The
    launcher says it is stopping (not that a service died) and leaves no process behind."""
    def ignore_sigint():
        signal.signal(signal.SIGINT, signal.SIG_IGN)

    proc = subprocess.Popen([sys.executable, "-m", "shared.cli", "up", "--timeout", "60"],
                            env=platform_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True,
                            preexec_fn=ignore_sigint if sigint_ignored else None)
    lines = []
    try:
        for line in proc.stdout:
            lines.append(line)
            if "press Ctrl-C to stop" in line:
                break
        assert proc.poll() is None, "".join(lines)
        run_dir = Path(platform_env["ZHICHENG_VAR_DIR"]) / "run"
        pids = {s: int((run_dir / f"{s}.pid").read_text()) for s in SERVICES}
        os.killpg(proc.pid, signal.SIGINT)  # what a terminal sends on Ctrl-C
        rest, _ = proc.communicate(timeout=90)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    output = "".join(lines) + rest
    assert "stopping…" in output and "unexpectedly" not in output, output
    assert proc.returncode == 0, output
    for service, pid in pids.items():
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            continue
        raise AssertionError(f"{service} (pid {pid}) still runs")
