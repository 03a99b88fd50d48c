"""What every zhicheng service is made of: its database (with migrations and outbox relay), its
clock, metrics and role checks, and the endpoints ops and demos use.

A service::

    class IntakeService(ServiceBase):
        name = "intake"
        db = Database(models.metadata)

        @http("POST", "/submissions")
        def submit(self, request): ...

gets ``/healthz``, ``/readyz``, ``/metrics`` and ``/admin/clock`` for free.
"""
from __future__ import annotations

import logging
import os
import socket
import time
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from nameko.dependency_providers import Config
from nameko.extensions import DependencyProvider, SharedExtension
from sqlalchemy import MetaData
from werkzeug.wrappers import Response

from shared.auth import Auth
from shared.clock import Clock, clock_from_setting, parse_instant
from shared.db import EmitContext, ServiceDatabase, UnitOfWork
from shared.errors import Forbidden, InvalidInput
from shared.messaging import GROUP_MAX_BYTES, OutboxRelay, broker_connection, declare_topology
from shared.metrics import CONTENT_TYPE_LATEST, Metrics, MetricsRegistry
from shared.migrations import upgrade
from shared.web import PUBLIC, http, read_json

log = logging.getLogger(__name__)


def code_version() -> str:
    try:
        return version("zhicheng")
    except PackageNotFoundError:  # running from a checkout without install
        return "0+unknown"


class ContainerClock(SharedExtension):
    """The container's clock: ``config["CLOCK_INSTANCE"]`` (tests), else ``ZHICHENG_CLOCK``."""

    def setup(self) -> None:
        instance = self.container.config.get("CLOCK_INSTANCE")
        self.clock: Clock = instance if instance is not None else \
            clock_from_setting(self.container.config.get("CLOCK"))


class ClockProvider(DependencyProvider):
    container_clock = ContainerClock()

    def get_dependency(self, worker_ctx) -> Clock:
        return self.container_clock.clock


class DatabaseAccess:
    """What a worker gets: units of work on the service database, continuing its correlation."""

    def __init__(self, database: ServiceDatabase, clock: Clock, context: EmitContext) -> None:
        self.database = database
        self.clock = clock
        self.context = context

    def unit_of_work(self) -> UnitOfWork:
        return self.database.unit_of_work(self.clock, EmitContext(self.context.correlation_id,
                                                                  self.context.causation_id))

    def ping(self) -> None:
        self.database.ping()


class Database(DependencyProvider):
    """The service's own database: migrated at start, outbox relayed while the service runs."""

    container_clock = ContainerClock()
    registry = MetricsRegistry()

    def __init__(self, metadata: MetaData) -> None:
        self.metadata = metadata

    def setup(self) -> None:
        config = self.container.config
        service = self.container.service_name
        self.database = ServiceDatabase(service, config["DATABASE_URL"], self.metadata)
        self.revision = upgrade(service, self.database.engine) \
            if config.get("MIGRATE_ON_START", True) else None
        # a group of envelopes stays within half of what any consumer accepts
        max_group = min(GROUP_MAX_BYTES, int(config.get("MAX_MESSAGE_BYTES", 1 << 20)) // 2)
        self.relay = OutboxRelay(self.database, config["AMQP_URI"], self.registry.metrics,
                                 poll_seconds=float(config.get("OUTBOX_POLL_SECONDS", 1.0)),
                                 max_group_bytes=max_group)
        self.database.on_commit(self.relay.wake)

    def start(self) -> None:
        self.container.spawn_managed_thread(self.relay.run, identifier="outbox-relay")
        if self.container.config.get("ANNOUNCE_START", True):
            self._announce_start()

    def _announce_start(self) -> None:
        service = self.container.service_name
        with self.database.unit_of_work(self.container_clock.clock) as uow:
            uow.emit(f"{service}_started", {
                "service": service, "version": code_version(),
                "instance": f"{socket.gethostname()}:{os.getpid()}",
                "schema_revision": self.revision})
            uow.commit()

    def stop(self) -> None:
        self.relay.stop()

    def kill(self) -> None:
        self.relay.stop()

    def get_dependency(self, worker_ctx) -> DatabaseAccess:
        data = worker_ctx.data or {}
        return DatabaseAccess(self.database, self.container_clock.clock,
                              EmitContext(correlation_id=data.get("correlation_id"),
                                          causation_id=None))


class BrokerProbe(DependencyProvider):
    """Declares the topology at start; readiness of the broker, checked with a fresh connection
    at most every two seconds."""

    def setup(self) -> None:
        self.amqp_uri = self.container.config["AMQP_URI"]
        self._checked_at = 0.0
        self._ok = False

    def start(self) -> None:
        # every queue and dead-letter queue exists before this service publishes or consumes;
        # if the broker is down now, the relay and consumers declare it when it is back
        try:
            with broker_connection(self.amqp_uri, timeout=5) as conn:
                declare_topology(conn.default_channel)
        except Exception as exc:
            log.warning("could not declare the broker topology at start (%s)",
                        type(exc).__name__)

    def get_dependency(self, worker_ctx) -> "BrokerProbe":
        return self

    def reachable(self) -> bool:
        now = time.monotonic()
        if now - self._checked_at > 2.0:
            try:
                with broker_connection(self.amqp_uri, timeout=2) as conn:
                    conn.ensure_connection(max_retries=1)
                self._ok = True
            except Exception:
                self._ok = False
            self._checked_at = now
        return self._ok


class ServiceBase:
    """Dependencies and endpoints every service has. Subclasses set ``name`` and ``db``."""

    name = "base"
    db: Database
    clock = ClockProvider()
    metrics = Metrics()
    auth = Auth()
    broker = BrokerProbe()
    config = Config()

    @http("GET", "/healthz", roles=PUBLIC)
    def healthz(self, request):
        """The process is up (liveness)."""
        return {"status": "ok", "service": self.name}

    @http("GET", "/readyz", roles=PUBLIC)
    def readyz(self, request):
        """Broker and database reachable (readiness)."""
        checks: dict[str, str] = {}
        try:
            self.db.ping()
            checks["database"] = "ok"
        except Exception as exc:
            checks["database"] = f"unreachable ({type(exc).__name__})"
        checks["broker"] = "ok" if self.broker.reachable() else "unreachable"
        ready = all(v == "ok" for v in checks.values())
        return (200 if ready else 503), {"status": "ready" if ready else "not ready",
                                         "service": self.name, "checks": checks}

    @http("GET", "/metrics", roles=PUBLIC)
    def prometheus_metrics(self, request):
        """Prometheus text exposition."""
        metrics = self.metrics
        metrics.outbox_backlog.labels(metrics.service).set(self.db.database.outbox_backlog())
        return Response(metrics.render(), status=200, content_type=CONTENT_TYPE_LATEST)

    @http("GET", "/admin/clock", roles=PUBLIC)
    def show_clock(self, request):
        return self.clock.describe()

    @http("PUT", "/admin/clock", roles=("operator",))
    def set_clock(self, request):
        """Set this service's clock (demos and tests). Needs clock control enabled and the
        operator role."""
        if not self.config.get("CLOCK_CONTROL"):
            raise Forbidden("clock control is disabled (ZHICHENG_CLOCK_CONTROL=1 enables it)",
                            code="clock_control_disabled")
        body: dict[str, Any] = read_json(request)
        if body.get("reset"):
            self.clock.reset()
            return self.clock.describe()
        try:
            moment = parse_instant(str(body["now"]))
        except (KeyError, ValueError):
            raise InvalidInput("give 'now' as an ISO 8601 instant, or 'reset': true",
                               details={"fields": {"now": ["ISO 8601 instant required"]}}) \
                from None
        self.clock.set(moment, frozen=bool(body.get("frozen", True)))
        return self.clock.describe()
