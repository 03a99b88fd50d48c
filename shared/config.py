"""Settings from environment variables, with defaults that work on a fresh clone.

| variable | default | meaning |
|---|---|---|
| ``AMQP_URI`` | ``amqp://guest:guest@127.0.0.1:5672/`` | the RabbitMQ broker |
| ``<SERVICE>_DATABASE_URL`` | ``sqlite:///var/<service>.db`` | each service's own database |
| ``ZHICHENG_VAR_DIR`` | ``./var`` | SQLite files, pid files, dev secrets |
| ``ZHICHENG_HTTP_HOST`` | ``127.0.0.1`` | address the HTTP ports bind to |
| ``<SERVICE>_PORT`` | intake 8001, review 8002, experts 8003, audit 8004 | HTTP port |
| ``ZHICHENG_JWT_SECRET`` | generated into ``var/jwt.secret`` on first use | HS256 key for role tokens |
| ``ZHICHENG_CLOCK`` | real time | ``2023-09-01T09:00:00+08:00`` fixes the clock, ``running:<instant>`` starts it there |
| ``ZHICHENG_CLOCK_CONTROL`` | ``0`` | ``1`` lets an operator token set the clock over HTTP (demos) |
| ``ZHICHENG_OUTBOX_POLL_SECONDS`` | ``1.0`` | how often the outbox relay sweeps for events its process did not commit |
| ``ZHICHENG_CONSUMER_BATCH`` | ``100`` | most envelopes a busy queue's consumer handles in one transaction (a group is never split) |
| ``ZHICHENG_CONSUMER_LINGER_MS`` | ``20`` | how long a batch consumer that has a message waits for more before it starts its transaction (0: never waits) |
| ``ZHICHENG_MAX_MESSAGE_BYTES`` | ``1048576`` | larger AMQP messages are dead-lettered |
| ``LOG_LEVEL`` | ``INFO`` | |
"""
from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

SERVICES: tuple[str, ...] = ("intake", "review", "experts", "audit")
DEFAULT_PORTS = {"intake": 8001, "review": 8002, "experts": 8003, "audit": 8004}
DEFAULT_AMQP_URI = "amqp://guest:guest@127.0.0.1:5672/"
# A batch consumer holding one message waits this long for more before its transaction: under
# load a batch then amortises its commit, its reads and its relay round over more messages;
# when idle, a message waits at most this long per service it passes.
DEFAULT_CONSUMER_LINGER_MS = 20


def _env(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    return value if value not in (None, "") else default


def consumer_batch_size() -> int:
    """Most envelopes a batch consumer (portal submissions, review's inbox, audit) takes into one
    transaction (it waits for a batch to fill no longer than its linger). 1 gives one
    transaction per message."""
    value = int(_env("ZHICHENG_CONSUMER_BATCH", "100"))  # type: ignore[arg-type]
    if not 1 <= value <= 1000:
        raise ValueError("ZHICHENG_CONSUMER_BATCH must be between 1 and 1000")
    return value


def consumer_linger_ms() -> float:
    """``ZHICHENG_CONSUMER_LINGER_MS``: how long a batch consumer holding a message waits for
    more before it starts its transaction (0 to 1000 ms; 0 never waits)."""
    raw = _env("ZHICHENG_CONSUMER_LINGER_MS", str(DEFAULT_CONSUMER_LINGER_MS))
    try:
        value = float(raw)  # type: ignore[arg-type]
    except ValueError:
        raise ValueError(f"ZHICHENG_CONSUMER_LINGER_MS must be a number of milliseconds, "
                         f"not {raw!r}") from None
    if not 0 <= value <= 1000:
        raise ValueError("ZHICHENG_CONSUMER_LINGER_MS must be between 0 and 1000")
    return value


def var_dir() -> Path:
    return Path(_env("ZHICHENG_VAR_DIR", "var")).resolve()


def database_url(service: str) -> str:
    if service not in SERVICES:
        raise ValueError(f"unknown service {service!r}")
    default = f"sqlite:///{var_dir() / (service + '.db')}"
    return _env(f"{service.upper()}_DATABASE_URL", default)  # type: ignore[return-value]


def http_port(service: str) -> int:
    return int(_env(f"{service.upper()}_PORT", str(DEFAULT_PORTS[service])))  # type: ignore[arg-type]


def jwt_secret() -> str:
    """The role-token key: from ``ZHICHENG_JWT_SECRET``, else a per-checkout dev key in var/."""
    value = _env("ZHICHENG_JWT_SECRET")
    if value:
        return value
    path = var_dir() / "jwt.secret"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(48))
    return path.read_text().strip()


@dataclass
class Settings:
    """Everything a service process needs, read once from the environment."""

    service: str
    amqp_uri: str = field(default_factory=lambda: _env("AMQP_URI", DEFAULT_AMQP_URI))  # type: ignore[arg-type]
    http_host: str = field(default_factory=lambda: _env("ZHICHENG_HTTP_HOST", "127.0.0.1"))  # type: ignore[arg-type]
    clock: str | None = field(default_factory=lambda: _env("ZHICHENG_CLOCK"))
    clock_control: bool = field(default_factory=lambda: _env("ZHICHENG_CLOCK_CONTROL", "0") == "1")
    outbox_poll_seconds: float = field(
        default_factory=lambda: float(_env("ZHICHENG_OUTBOX_POLL_SECONDS", "1.0")))  # type: ignore[arg-type]
    max_message_bytes: int = field(
        default_factory=lambda: int(_env("ZHICHENG_MAX_MESSAGE_BYTES", str(1 << 20))))  # type: ignore[arg-type]
    consumer_linger_ms: float = field(default_factory=lambda: consumer_linger_ms())

    @property
    def database_url(self) -> str:
        return database_url(self.service)

    @property
    def http_port(self) -> int:
        return http_port(self.service)

    def nameko_config(self) -> dict:
        """The config dict a nameko container of this service runs with."""
        return {
            "AMQP_URI": self.amqp_uri,
            "WEB_SERVER_ADDRESS": f"{self.http_host}:{self.http_port}",
            "DATABASE_URL": self.database_url,
            "JWT_SECRET": jwt_secret(),
            "CLOCK": self.clock,
            "CLOCK_CONTROL": self.clock_control,
            "OUTBOX_POLL_SECONDS": self.outbox_poll_seconds,
            "MAX_MESSAGE_BYTES": self.max_message_bytes,
            "CONSUMER_LINGER_MS": self.consumer_linger_ms,
            "max_workers": 10,
        }
