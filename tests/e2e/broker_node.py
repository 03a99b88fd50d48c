"""A RabbitMQ node of a test's own, so a test can stop and restart "the broker" without touching
the machine's broker (other tests, other developers' runs).

The node gets its own name (``zc-faults-<random>@localhost``), free AMQP and distribution
ports on 127.0.0.1, its data, logs and pid file under a temporary directory and no plugins
(no management listener to collide with the machine's). ``restart()`` stops the whole node
(``rabbitmqctl stop``: the Erlang VM exits, connections drop) and boots it again on the same
data directory, so durable queues and persistent messages survive as they would in production.

When no node of our own can be booted, :class:`MachineBroker` restarts the machine's broker
application (``rabbitmqctl stop_app && start_app``) under a lock file instead.
"""
from __future__ import annotations

import fcntl
import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

# Debian's /usr/sbin wrappers re-run the scripts as the rabbitmq user through su (then the
# node is not our child process); the real scripts live here.
SCRIPT_DIRS = ("/usr/lib/rabbitmq/bin", "/usr/local/lib/rabbitmq/bin")


class BrokerUnavailable(RuntimeError):
    pass


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _script(name: str) -> str | None:
    for folder in SCRIPT_DIRS:
        path = Path(folder) / name
        if path.is_file() and os.access(path, os.X_OK):
            return str(path)
    return shutil.which(name)


def _reachable(port: int, host: str = "127.0.0.1") -> bool:
    try:
        socket.create_connection((host, port), timeout=1).close()
        return True
    except OSError:
        return False


class BrokerNode:
    """``rabbitmq-server`` as a child process of the test, on ports of its own."""

    def __init__(self, base: Path | None = None) -> None:
        self.server = _script("rabbitmq-server")
        self.ctl = _script("rabbitmqctl")
        if not self.server or not self.ctl:
            raise BrokerUnavailable("rabbitmq-server / rabbitmqctl not installed")
        self.base = Path(base or tempfile.mkdtemp(prefix="zc-faults-rmq-"))
        self.base.chmod(0o755)
        self.name = f"zc-faults-{uuid.uuid4().hex[:8]}@localhost"
        self.port = _free_port()
        self.dist_port = _free_port()
        (self.base / "enabled_plugins").write_text("[].\n")
        self.env = dict(os.environ)
        self.env.update({
            "RABBITMQ_NODENAME": self.name,
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "RABBITMQ_MNESIA_BASE": str(self.base / "mnesia"),
            "RABBITMQ_LOG_BASE": str(self.base / "log"),
            "RABBITMQ_PID_FILE": str(self.base / "rabbitmq.pid"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.base / "enabled_plugins"),
            # no config files of the machine's node
            "RABBITMQ_CONFIG_FILE": str(self.base / "rabbitmq"),
            "RABBITMQ_ADVANCED_CONFIG_FILE": str(self.base / "advanced.config"),
            "RABBITMQ_CONF_ENV_FILE": str(self.base / "rabbitmq-env.conf"),
        })
        self.proc: subprocess.Popen | None = None

    @property
    def uri(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}/"

    def start(self, timeout: float = 60) -> None:
        out = open(self.base / "server.out", "ab")
        self.proc = subprocess.Popen([self.server], env=self.env, stdout=out,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while not _reachable(self.port):
            if self.proc.poll() is not None:
                raise BrokerUnavailable(f"rabbitmq-server exited with {self.proc.returncode}: "
                                        + (self.base / "server.out").read_text()[-2000:])
            if time.monotonic() > deadline:
                self.kill()
                raise BrokerUnavailable(f"rabbitmq-server not listening after {timeout:.0f}s")
            time.sleep(0.1)

    def rabbitmqctl(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
        return subprocess.run([self.ctl, "-n", self.name, *args], env=self.env,
                              capture_output=True, text=True, timeout=timeout)

    def stop(self, timeout: float = 60) -> None:
        """Stop the node gracefully (the Erlang VM exits)."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.rabbitmqctl("stop", timeout=timeout)
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def restart(self, down_seconds: float = 2.0) -> None:
        self.stop()
        time.sleep(down_seconds)
        self.start()

    def close(self) -> None:
        try:
            self.stop(timeout=30)
        finally:
            self.kill()
            shutil.rmtree(self.base, ignore_errors=True)


class MachineBroker:
    """The machine's broker (fallback): ``restart()`` runs ``rabbitmqctl stop_app`` and
    ``start_app`` while holding a lock file, so two such runs never interleave."""

    LOCK = Path(tempfile.gettempdir()) / "zhicheng-broker-restart.lock"

    def __init__(self, uri: str) -> None:
        self.uri = uri
        self.ctl = _script("rabbitmqctl") or "rabbitmqctl"

    def restart(self, down_seconds: float = 2.0) -> None:
        with open(self.LOCK, "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            subprocess.run([self.ctl, "stop_app"], check=True, capture_output=True, timeout=120)
            time.sleep(down_seconds)
            subprocess.run([self.ctl, "start_app"], check=True, capture_output=True, timeout=120)
            subprocess.run([self.ctl, "await_startup"], capture_output=True, timeout=120)

    def close(self) -> None:
        pass
