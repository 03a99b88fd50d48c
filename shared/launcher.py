"""Start the four services as separate processes (``zhicheng serve <svc>``) and wait until they
are ready: used by ``zhicheng up``, the end-to-end tests and the benchmarks."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterable

import requests

from shared.config import SERVICES


class NotReady(RuntimeError):
    pass


class Platform:
    """The services as processes with a given environment, logging to ``log_dir``."""

    def __init__(self, env: dict[str, str] | None = None, log_dir: Path | str = "var/log",
                 ports: dict[str, int] | None = None, detach: bool = False) -> None:
        self.env = dict(os.environ if env is None else env)
        self.log_dir = Path(log_dir)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.ports = ports or {s: int(self.env.get(f"{s.upper()}_PORT", 8001 + i))
                               for i, s in enumerate(SERVICES)}
        for service, port in self.ports.items():
            self.env[f"{service.upper()}_PORT"] = str(port)
        self.detach = detach
        self.procs: dict[str, subprocess.Popen] = {}

    def url(self, service: str) -> str:
        host = self.env.get("ZHICHENG_HTTP_HOST", "127.0.0.1")
        host = "127.0.0.1" if host in ("", "0.0.0.0") else host
        return f"http://{host}:{self.ports[service]}"

    def log_path(self, service: str) -> Path:
        return self.log_dir / f"{service}.log"

    def start(self, service: str) -> subprocess.Popen:
        log = open(self.log_path(service), "ab")
        proc = subprocess.Popen([sys.executable, "-m", "shared.cli", "serve", service],
                                env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=self.detach)
        self.procs[service] = proc
        return proc

    def start_all(self, services: Iterable[str] = SERVICES) -> None:
        for service in services:
            self.start(service)

    def ready(self, service: str) -> bool:
        try:
            return requests.get(self.url(service) + "/readyz", timeout=1).ok
        except requests.RequestException:
            return False

    def wait_ready(self, services: Iterable[str] = SERVICES, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        pending = set(services)
        while pending and time.monotonic() < deadline:
            for service in sorted(pending):
                proc = self.procs.get(service)
                if proc is not None and proc.poll() is not None:
                    raise NotReady(f"{service} exited with {proc.returncode}; its log ends:\n"
                                   + self.log_path(service).read_text()[-3000:])
                if self.ready(service):
                    pending.discard(service)
            time.sleep(0.2)
        if pending:
            raise NotReady(f"not ready after {timeout:.0f}s: {', '.join(sorted(pending))}")

    def stop(self, service: str, sig: int = signal.SIGTERM, timeout: float = 30) -> int | None:
        proc = self.procs.get(service)
        if proc is None:
            return None
        if proc.poll() is None:
            proc.send_signal(sig)
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        return proc.returncode

    def kill(self, service: str) -> None:
        """``kill -9``: no chance to finish anything."""
        self.stop(service, sig=signal.SIGKILL, timeout=10)

    def restart(self, service: str, timeout: float = 60) -> None:
        self.start(service)
        self.wait_ready([service], timeout=timeout)

    def stop_all(self) -> None:
        for service in list(self.procs):
            self.stop(service)

    def alive(self) -> dict[str, bool]:
        return {s: p.poll() is None for s, p in self.procs.items()}
