"""Fixtures for every test: a fresh RabbitMQ vhost, fresh service databases (SQLite files, or
PostgreSQL databases when ZHICHENG_TEST_POSTGRES=1), a settable clock, role tokens, and service
containers started in-process on free ports.

nameko needs eventlet's monkey patching before anything opens a socket (NAMEKO-NOTES).
"""
import warnings as _warnings

_warnings.filterwarnings("ignore", message=".*Eventlet is deprecated.*")
import eventlet  # noqa: E402

eventlet.monkey_patch()

import os  # noqa: E402
import socket  # noqa: E402
import uuid  # noqa: E402
import warnings  # noqa: E402
from datetime import datetime, timedelta, timezone  # noqa: E402
from urllib.parse import quote  # noqa: E402

import pytest  # noqa: E402
import requests  # noqa: E402

from shared.clock import CHINA, Clock  # noqa: E402

warnings.filterwarnings("ignore", message=".*Eventlet is deprecated.*")

TEST_JWT_SECRET = "test-secret-" + uuid.uuid4().hex
MGMT_URL = os.environ.get("ZHICHENG_TEST_RABBIT_MGMT", "http://127.0.0.1:15672")
MGMT_AUTH = ("guest", "guest")
AMQP_HOST = os.environ.get("ZHICHENG_TEST_AMQP_HOST", "127.0.0.1:5672")
PG_ADMIN_URL = os.environ.get("ZHICHENG_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
USE_POSTGRES = os.environ.get("ZHICHENG_TEST_POSTGRES") == "1"


def pytest_collection_modifyitems(config, items):
    """Mark tests by folder, so `-m unit` / `-m integration` select them."""
    for item in items:
        path = str(item.fspath)
        for marker in ("unit", "integration", "e2e", "deploy"):
            if f"{os.sep}tests{os.sep}{marker}{os.sep}" in path:
                item.add_marker(getattr(pytest.mark, marker))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- broker -------------------------------------------------------------------------------------

class Vhost:
    """A RabbitMQ vhost of its own, created through the management API and deleted after."""

    def __init__(self) -> None:
        self.name = "zhicheng-test-" + uuid.uuid4().hex[:12]
        self.uri = f"amqp://guest:guest@{AMQP_HOST}/{quote(self.name, safe='')}"

    def create(self) -> None:
        r = requests.put(f"{MGMT_URL}/api/vhosts/{self.name}", auth=MGMT_AUTH, timeout=10)
        r.raise_for_status()
        r = requests.put(f"{MGMT_URL}/api/permissions/{self.name}/guest", auth=MGMT_AUTH,
                         json={"configure": ".*", "write": ".*", "read": ".*"}, timeout=10)
        r.raise_for_status()

    def delete(self) -> None:
        requests.delete(f"{MGMT_URL}/api/vhosts/{self.name}", auth=MGMT_AUTH, timeout=10)

    def count(self, queue: str) -> int:
        """Messages ready in ``queue`` now (a passive declare: exact, unlike the management
        API's sampled statistics)."""
        from amqp.exceptions import NotFound
        from kombu import Connection

        with Connection(self.uri) as conn:
            try:
                return conn.default_channel.queue_declare(queue, passive=True).message_count
            except NotFound:
                return 0


@pytest.fixture
def vhost():
    try:
        requests.get(f"{MGMT_URL}/api/overview", auth=MGMT_AUTH, timeout=5).raise_for_status()
    except requests.RequestException as exc:
        pytest.fail(f"RabbitMQ management API unreachable at {MGMT_URL} ({exc}); run "
                    f"`rabbitmq-plugins enable rabbitmq_management` (the .ci/run script does)")
    v = Vhost()
    v.create()
    yield v
    v.delete()


@pytest.fixture
def amqp_uri(vhost):
    return vhost.uri


# -- databases ----------------------------------------------------------------------------------

class Databases:
    """Creates one database per service for a test."""

    def __init__(self, tmp_path) -> None:
        self.tmp_path = tmp_path
        self.created: list[str] = []

    def url(self, service: str) -> str:
        if not USE_POSTGRES:
            return f"sqlite:///{self.tmp_path / (service + '.db')}"
        import psycopg2

        name = f"zt_{uuid.uuid4().hex[:10]}_{service}"
        conn = psycopg2.connect(PG_ADMIN_URL)
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(f'CREATE DATABASE "{name}"')
        conn.close()
        self.created.append(name)
        base = PG_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg2://", 1)
        return f"{base}/{name}"

    def drop_all(self) -> None:
        if not self.created:
            return
        import psycopg2

        conn = psycopg2.connect(PG_ADMIN_URL)
        conn.autocommit = True
        with conn.cursor() as cur:
            for name in self.created:
                cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.close()


@pytest.fixture
def databases(tmp_path):
    dbs = Databases(tmp_path)
    yield dbs
    dbs.drop_all()


# -- clock and roles ----------------------------------------------------------------------------

@pytest.fixture
def clock():
    """A clock fixed at 2023-06-01 09:00 China time; tests move it."""
    return Clock(fixed=datetime(2023, 6, 1, 9, 0, tzinfo=CHINA))


@pytest.fixture
def jwt_secret():
    return TEST_JWT_SECRET


@pytest.fixture
def port():
    """A factory of free TCP ports on 127.0.0.1."""
    return free_port


@pytest.fixture
def token():
    from shared.auth import issue_token

    def make(*roles: str, subject: str = "tester", committees=()) -> str:
        return issue_token(TEST_JWT_SECRET, subject, roles, now=datetime.now(timezone.utc),
                           ttl=timedelta(hours=1), committees=committees)
    return make


@pytest.fixture
def auth_header(token):
    def make(*roles: str, **kwargs) -> dict[str, str]:
        return {"Authorization": "Bearer " + token(*roles, **kwargs)}
    return make


# -- service containers -------------------------------------------------------------------------

def metric_value(service, name: str, **labels) -> float:
    """A sample of a running service's metric (0 when it was never recorded)."""
    registry = next(d for d in service.container.dependencies
                    if type(d).__name__ == "Metrics").metrics.registry
    return registry.get_sample_value(name, {"service": service.container.service_name,
                                            **labels}) or 0.0


class RunningService:
    def __init__(self, container, port: int, config: dict) -> None:
        self.container = container
        self.port = port
        self.config = config
        self.url = f"http://127.0.0.1:{port}"

    def database(self):
        """The service's ServiceDatabase (for assertions on stored state)."""
        for dep in self.container.dependencies:
            if type(dep).__name__ == "Database":
                return dep.database
        raise LookupError("service has no Database")

    def metric(self, name: str, **labels) -> float:
        return metric_value(self, name, **labels)


@pytest.fixture
def service_config(amqp_uri, databases, clock):
    def make(service: str, **overrides) -> dict:
        config = {
            "AMQP_URI": amqp_uri,
            "DATABASE_URL": databases.url(service),
            "WEB_SERVER_ADDRESS": f"127.0.0.1:{free_port()}",
            "JWT_SECRET": TEST_JWT_SECRET,
            "CLOCK_INSTANCE": clock,
            "CLOCK_CONTROL": True,
            "OUTBOX_POLL_SECONDS": 0.2,
            "max_workers": 10,
        }
        config.update(overrides)
        return config
    return make


@pytest.fixture
def start_service(service_config):
    from nameko.containers import ServiceContainer

    started: list = []

    def start(service_cls, **overrides) -> RunningService:
        config = service_config(service_cls.name, **overrides)
        container = ServiceContainer(service_cls, config)
        container.start()
        started.append(container)
        port = int(config["WEB_SERVER_ADDRESS"].rsplit(":", 1)[1])
        return RunningService(container, port, config)

    yield start
    for container in reversed(started):
        try:
            with eventlet.Timeout(20):
                container.stop()
        except BaseException:
            container.kill()


def wait_for(predicate, timeout: float = 10.0, interval: float = 0.05, message: str = ""):
    """Poll until ``predicate()`` is truthy; returns its value or fails the test."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {message or predicate}")
        eventlet.sleep(interval)


@pytest.fixture
def wait():
    return wait_for
