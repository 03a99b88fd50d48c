"""The platform as separate processes (``zhicheng serve <svc>``), as `make up` runs it, on a
fresh vhost and fresh databases. Tests drive it only through HTTP and AMQP."""
import os
import signal
import subprocess
import sys
import time

import pytest
import requests

from shared.config import SERVICES


class Platform:
    def __init__(self, env: dict[str, str], ports: dict[str, int], log_dir) -> None:
        self.env = env
        self.ports = ports
        self.log_dir = log_dir
        self.procs: dict[str, subprocess.Popen] = {}

    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.ports[service]}"

    def start(self, service: str) -> None:
        log = open(self.log_dir / f"{service}.log", "ab")
        self.procs[service] = subprocess.Popen(
            [sys.executable, "-m", "shared.cli", "serve", service], env=self.env, stdout=log,
            stderr=subprocess.STDOUT)

    def wait_ready(self, services=SERVICES, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        pending = set(services)
        while pending and time.monotonic() < deadline:
            for service in list(pending):
                if self.procs[service].poll() is not None:
                    pytest.fail(f"{service} exited with {self.procs[service].returncode}:\n"
                                + (self.log_dir / f"{service}.log").read_text()[-3000:])
                try:
                    if requests.get(self.url(service) + "/readyz", timeout=1).ok:
                        pending.discard(service)
                except requests.RequestException:
                    pass
            time.sleep(0.2)
        if pending:
            pytest.fail(f"not ready after {timeout}s: {sorted(pending)}")

    def stop(self, service: str, sig=signal.SIGTERM, timeout: float = 30) -> int:
        proc = self.procs[service]
        if proc.poll() is None:
            proc.send_signal(sig)
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        return proc.returncode


@pytest.fixture
def platform(vhost, databases, tmp_path, jwt_secret, port):
    ports = {s: port() for s in SERVICES}
    env = {k: v for k, v in os.environ.items() if not k.endswith("_DATABASE_URL")}
    env.update({"AMQP_URI": vhost.uri, "ZHICHENG_JWT_SECRET": jwt_secret,
                "ZHICHENG_VAR_DIR": str(tmp_path / "var"), "ZHICHENG_CLOCK_CONTROL": "1",
                "ZHICHENG_OUTBOX_POLL_SECONDS": "0.2", "LOG_LEVEL": "WARNING",
                "PYTHONWARNINGS": "ignore"})
    for service in SERVICES:
        env[f"{service.upper()}_PORT"] = str(ports[service])
        env[f"{service.upper()}_DATABASE_URL"] = databases.url(service)
    p = Platform(env, ports, tmp_path)
    for service in SERVICES:
        p.start(service)
    p.wait_ready()
    yield p
    for service in SERVICES:
        p.stop(service)
