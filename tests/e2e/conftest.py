"""The platform as separate processes (``zhicheng serve <svc>``), as `make up` runs it, on a
fresh vhost and fresh databases. Tests drive it only through HTTP and AMQP."""
import os

import pytest

from shared.config import SERVICES
from shared.launcher import NotReady, Platform


@pytest.fixture
def platform_env(vhost, databases, tmp_path, jwt_secret, port):
    env = {k: v for k, v in os.environ.items() if not k.endswith("_DATABASE_URL")}
    env.update({"AMQP_URI": vhost.uri, "ZHICHENG_JWT_SECRET": jwt_secret,
                "ZHICHENG_PERSON_KEY": "test-person-key-" + jwt_secret[-8:],
                "ZHICHENG_VAR_DIR": str(tmp_path / "var"), "ZHICHENG_CLOCK_CONTROL": "1",
                "ZHICHENG_OUTBOX_POLL_SECONDS": "0.2", "LOG_LEVEL": "WARNING",
                "PYTHONWARNINGS": "ignore"})
    for service in SERVICES:
        env[f"{service.upper()}_PORT"] = str(port())
        env[f"{service.upper()}_DATABASE_URL"] = databases.url(service)
    return env


@pytest.fixture
def platform(platform_env, tmp_path):
    p = Platform(platform_env, log_dir=tmp_path / "log")
    p.start_all()
    try:
        p.wait_ready()
    except NotReady as exc:
        p.stop_all()
        pytest.fail(str(exc))
    yield p
    p.stop_all()
