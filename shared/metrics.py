"""Prometheus metrics of one service process.

Label values are bounded sets (service, entrypoint, event type, outcome, rule id, reason codes):
never an identity number, a name, an id of a case or free text.
"""
from __future__ import annotations

import time
from typing import Sequence

from nameko.extensions import DependencyProvider, SharedExtension
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client import CONTENT_TYPE_LATEST  # noqa: F401  (re-exported for the /metrics view)

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class ServiceMetrics:
    """The standard metrics every service exposes, plus domain metrics created on demand."""

    def __init__(self, service: str) -> None:
        self.service = service
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.entrypoint_calls = Counter(
            "zhicheng_entrypoint_calls", "Worker runs by entrypoint and outcome "
            "(ok, refused = a client or rule error, error = an unexpected failure)",
            ["service", "entrypoint", "outcome"], registry=r)
        self.entrypoint_latency = Histogram(
            "zhicheng_entrypoint_latency_seconds", "Worker run time by entrypoint",
            ["service", "entrypoint"], buckets=LATENCY_BUCKETS, registry=r)
        self.workers_active = Gauge("zhicheng_workers_active", "Workers running now",
                                    ["service"], registry=r)
        self.events_published = Counter(
            "zhicheng_events_published", "Events relayed from the outbox to the broker, by type",
            ["service", "event_type"], registry=r)
        self.events_consumed = Counter(
            "zhicheng_events_consumed", "Events consumed, by type and outcome "
            "(processed, failed, dead_lettered)", ["service", "event_type", "outcome"], registry=r)
        self.dead_letters = Counter(
            "zhicheng_dead_letters", "Messages moved to a dead-letter queue, by queue and reason",
            ["service", "queue", "reason"], registry=r)
        self.consumer_batch_size = Histogram(
            "zhicheng_consumer_batch_size", "Envelopes handed to one batch consumer run, by queue",
            ["service", "queue"], buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500), registry=r)
        self.outbox_backlog = Gauge("zhicheng_outbox_backlog",
                                    "Committed events not yet confirmed by the broker",
                                    ["service"], registry=r)
        self.outbox_publish_failures = Counter(
            "zhicheng_outbox_publish_failures", "Relay attempts that failed (broker unreachable, "
            "nacked)", ["service"], registry=r)
        self._custom: dict[str, object] = {}
        self.workers_active.labels(service)
        self.outbox_backlog.labels(service)

    def counter(self, name: str, documentation: str, labels: Sequence[str] = ()) -> Counter:
        """A domain counter (``service`` label added first); created once, then reused."""
        metric = self._custom.get(name)
        if metric is None:
            metric = Counter(name, documentation, ["service", *labels], registry=self.registry)
            self._custom[name] = metric
        return metric  # type: ignore[return-value]

    def gauge(self, name: str, documentation: str, labels: Sequence[str] = ()) -> Gauge:
        metric = self._custom.get(name)
        if metric is None:
            metric = Gauge(name, documentation, ["service", *labels], registry=self.registry)
            self._custom[name] = metric
        return metric  # type: ignore[return-value]

    def render(self) -> bytes:
        return generate_latest(self.registry)


class MetricsRegistry(SharedExtension):
    """One :class:`ServiceMetrics` per container, shared by entrypoints and providers."""

    _metrics: ServiceMetrics | None = None

    @property
    def metrics(self) -> ServiceMetrics:
        # created on first use: extensions' setup order is not defined
        if self._metrics is None:
            self._metrics = ServiceMetrics(self.container.service_name)
        return self._metrics


class Metrics(DependencyProvider):
    """Times every worker and injects the service's metrics for domain counters."""

    registry = MetricsRegistry()

    def setup(self) -> None:
        self._started: dict[int, float] = {}

    @property
    def metrics(self) -> ServiceMetrics:
        return self.registry.metrics

    def get_dependency(self, worker_ctx) -> ServiceMetrics:
        return self.registry.metrics

    def worker_setup(self, worker_ctx) -> None:
        self._started[id(worker_ctx)] = time.perf_counter()
        self.metrics.workers_active.labels(self.metrics.service).inc()

    def worker_result(self, worker_ctx, result=None, exc_info=None) -> None:
        from shared.errors import ZhichengError

        m = self.metrics
        started = self._started.pop(id(worker_ctx), None)
        name = worker_ctx.entrypoint.method_name
        if started is not None:
            m.entrypoint_latency.labels(m.service, name).observe(time.perf_counter() - started)
        if exc_info is None:
            outcome = "ok"
        elif isinstance(exc_info[1], ZhichengError):
            outcome = "refused"
        else:
            outcome = "error"
        m.entrypoint_calls.labels(m.service, name, outcome).inc()
        m.workers_active.labels(m.service).dec()
