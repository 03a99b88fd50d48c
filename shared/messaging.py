"""Messaging: the broker topology, the outbox relay, and a consumer that never dies on bad input.

Topology (declared, idempotently, by every service before it publishes or consumes):

* ``<service>.events``: a durable topic exchange per service; routing key = event type.
* ``audit.events``: one durable queue bound with ``#`` to every service exchange.
* ``<service>.inbox``: a durable queue per consuming service, bound to the event types the
  catalogue lists it as a consumer of.
* ``intake.submissions``: the durable queue the upstream portal publishes applications to.
* ``zhicheng.dead-letters``: a direct exchange; each consumed queue ``Q`` has ``Q.dead-letters``
  bound with routing key ``Q``. Dead-lettered messages keep their body and carry the reason in
  the ``x-zhicheng-reason`` header.

An event message's body is one envelope (a JSON object) or, from a relay, a **group**: a JSON
array of envelopes of one event type, consecutive in the producer's outbox, routed by that type
and counted in the ``x-zhicheng-envelopes`` header. Consumers of events read both
(:func:`envelopes_in`); each envelope of a group is checked, processed, claimed and, if bad,
dead-lettered on its own, and the message is acknowledged once every envelope in it is settled.
A group is how a busy producer's batch costs the broker one publish and one delivery per
consumer instead of one per event.
"""
from __future__ import annotations

import collections
import contextlib
import json
import logging
import socket
import threading
import time
from datetime import datetime
from functools import partial
from typing import Any, Callable, Iterator

import eventlet
import orjson
from amqp import Message as AmqpMessage
from amqp import spec as amqp_spec
from amqp.exceptions import AMQPError
from amqp.method_framing import frame_writer
from eventlet.event import Event as GreenEvent
from eventlet.queue import Empty, LightQueue
from kombu import Connection, Exchange, Producer, Queue, binding
from nameko.exceptions import ContainerBeingKilled
from nameko.extensions import Entrypoint, SharedExtension
from nameko.messaging import QueueConsumer
from sqlalchemy import func, literal, select, text, update

from shared.clock import CHINA
from shared.config import DEFAULT_CONSUMER_LINGER_MS, SERVICES
from shared.db import CommittedEvent, Instant
from shared.errors import InvalidInput, ZhichengError
from shared.events import CATALOGUE, EventContractError
from shared.metrics import MetricsRegistry, ServiceMetrics

log = logging.getLogger(__name__)

AUDIT_QUEUE = "audit.events"
PORTAL_SUBMISSIONS_QUEUE = "intake.submissions"
DEAD_LETTER_EXCHANGE = Exchange("zhicheng.dead-letters", type="direct", durable=True)
ENVELOPES_HEADER = "x-zhicheng-envelopes"
# a relay's group stays well below any consumer's size limit (ZHICHENG_MAX_MESSAGE_BYTES)
GROUP_MAX_BYTES = 256 * 1024


def envelopes_in(body: bytes | str) -> list[Any]:
    """The envelopes an event message carries: one (a JSON object) or a relay's group (a JSON
    array). For readers outside the consumers (taps, tests); raises ValueError if not JSON."""
    obj = orjson.loads(body)
    return obj if isinstance(obj, list) else [obj]


def envelope_count(message) -> int:
    """How many envelopes a delivery says it carries (its header; 1 when absent or wrong)."""
    value = (message.headers or {}).get(ENVELOPES_HEADER, 1)
    return value if isinstance(value, int) and 1 <= value <= 100_000 else 1


def group_rows(rows, max_bytes: int = GROUP_MAX_BYTES) -> list[list]:
    """Outbox rows as the messages a relay publishes: consecutive rows of one exchange and
    event type share a message (the outbox's order is kept: a group never jumps a row of
    another type), up to ``max_bytes`` of envelopes each."""
    groups: list[list] = []
    size = 0
    for row in rows:
        last = groups[-1] if groups else None
        if last is not None and last[0].exchange == row.exchange \
                and last[0].event_type == row.event_type \
                and size + len(row.envelope) + 1 <= max_bytes:
            last.append(row)
            size += len(row.envelope) + 1
        else:
            groups.append([row])
            size = len(row.envelope) + 2
    return groups


def service_exchange(service: str) -> Exchange:
    return Exchange(f"{service}.events", type="topic", durable=True)


def inbox_queue_name(service: str) -> str:
    return f"{service}.inbox"


def dead_letter_queue(queue_name: str) -> Queue:
    return Queue(f"{queue_name}.dead-letters", exchange=DEAD_LETTER_EXCHANGE,
                 routing_key=queue_name, durable=True)


def audit_queue() -> Queue:
    return Queue(AUDIT_QUEUE, durable=True,
                 bindings=[binding(service_exchange(s), routing_key="#") for s in SERVICES])


def inbox_queue(service: str) -> Queue | None:
    consumed = CATALOGUE.consumed_by(service)
    if not consumed:
        return None
    return Queue(inbox_queue_name(service), durable=True,
                 bindings=[binding(service_exchange(t.producer), routing_key=t.name)
                           for t in consumed])


def portal_submissions_queue() -> Queue:
    return Queue(PORTAL_SUBMISSIONS_QUEUE, durable=True)


def consumed_queues() -> dict[str, Queue]:
    """Every queue some service consumes, by name."""
    queues = {AUDIT_QUEUE: audit_queue(), PORTAL_SUBMISSIONS_QUEUE: portal_submissions_queue()}
    for service in SERVICES:
        queue = inbox_queue(service)
        if queue is not None:
            queues[queue.name] = queue
    return queues


def queue_by_name(name: str) -> Queue:
    try:
        return consumed_queues()[name]
    except KeyError:
        raise ValueError(f"no queue {name!r} in the topology") from None


def declare_topology(channel) -> None:
    """Declare every exchange and queue (idempotent). Done before any publish, so no event can
    be routed nowhere because its consumers' queues do not exist yet."""
    for service in SERVICES:
        service_exchange(service)(channel).declare()
    DEAD_LETTER_EXCHANGE(channel).declare()
    for name, queue in consumed_queues().items():
        queue(channel).declare()
        dead_letter_queue(name)(channel).declare()


def broker_connection(amqp_uri: str, *, confirm: bool = True, timeout: float = 5.0) -> Connection:
    return Connection(amqp_uri, connect_timeout=timeout, heartbeat=0,
                      transport_options={"confirm_publish": confirm})


class FrameBatch:
    """Publishes many messages on a channel with one socket write: the relay's hot loop.

    Each message is persistent JSON (delivery mode 2, utf-8). py-amqp frames a
    ``basic.publish`` and writes it to the socket at once (and first polls the socket for a
    connection.blocked notice); here the frames are collected and written together when the
    block ends. The confirms are awaited by the caller as before, and a blocked connection is
    still noticed there, while it drains the confirms. Only for a connection no other thread
    writes to (the relay's own): the collected bytes are written outside py-amqp's write lock.
    """

    def __init__(self, channel) -> None:
        self.channel = channel
        self.connection = channel.connection  # py-amqp's Connection
        self.chunks: list[bytes] = []

    def write(self, data) -> None:  # the transport the frame writer is given
        self.chunks.append(bytes(data))  # a copy: the writer reuses its buffer

    def __enter__(self) -> "FrameBatch":
        self._real_writer = self.connection.frame_writer
        self.connection.frame_writer = frame_writer(self.connection, self)
        return self

    def publish(self, body: bytes, *, exchange: str, routing_key: str, message_id: str,
                headers: dict[str, Any]) -> None:
        message = AmqpMessage(body, content_type="application/json", content_encoding="utf-8",
                              delivery_mode=2, message_id=message_id,
                              application_headers=headers)
        # basic.publish: ticket, exchange, routing key, mandatory, immediate
        self.channel.send_method(amqp_spec.Basic.Publish, "Bssbb",
                                 (0, exchange, routing_key, False, False), message)

    def __exit__(self, exc_type, exc, tb) -> None:
        self.connection.frame_writer = self._real_writer
        if exc_type is None and self.chunks:
            self.connection.transport.write(b"".join(self.chunks))


class OutboxRelay:
    """Moves committed events from a service's outbox to its exchange, with publisher confirms.

    An outbox row is marked published only after the broker confirmed it, so an event is never
    lost after its transaction committed; a crash between confirm and mark republishes it, which
    idempotent consumers absorb. While the broker is unreachable events wait in the outbox and
    the relay retries with backoff.

    Two ways to find unpublished events: those its own process committed (``wake(events)``,
    handed over as written, so the busy path reads nothing back) and a sweep of the whole
    outbox (``published_at IS NULL``) at start, after a failure, on ``wake()`` without events,
    and every ``poll_seconds``. The sweep finds what other processes left (another replica, a
    crashed one, a CLI command); its cost on PostgreSQL grows with the rows published since the
    last vacuum (their old index entries stay until then), so the busy path stays off it. An
    event a sweep elsewhere takes in the moment before its own process publishes it goes out
    twice, which idempotent consumers absorb as they absorb a republish after a crash.
    """

    def __init__(self, database, amqp_uri: str, metrics: ServiceMetrics | None = None, *,
                 poll_seconds: float = 1.0, batch_size: int = 200,
                 max_group_bytes: int = GROUP_MAX_BYTES) -> None:
        self.database = database
        self.amqp_uri = amqp_uri
        self.metrics = metrics
        self.poll_seconds = poll_seconds
        self.batch_size = batch_size
        self.max_group_bytes = max_group_bytes
        self._wake = threading.Event()
        # events committed in this process, not yet published (as written to the outbox)
        self._committed: list[CommittedEvent] = []
        self._next_sweep = 0.0  # monotonic time of the next sweep; 0: at the next pass
        self._running = False
        self._connection: Connection | None = None
        self._producer: Producer | None = None
        self.broker_ok = False
        self.confirm_timeout = 30.0

    # committed events kept at most, in batches: beyond it (the broker has been away while work
    # went on) they are dropped and the next pass sweeps, which finds them all anyway
    MAX_LOOKUPS_IN_BATCHES = 20

    def wake(self, events: list[CommittedEvent] | tuple[CommittedEvent, ...] = ()) -> None:
        """A unit of work committed ``events`` to the outbox; without events: sweep now."""
        if events and len(self._committed) < self.MAX_LOOKUPS_IN_BATCHES * self.batch_size:
            self._committed.extend(events)
        else:
            self._committed.clear()
            self._next_sweep = 0.0
        self._wake.set()

    def sweep_due(self) -> bool:
        """Whether the next pass sweeps the whole outbox (see the class docstring)."""
        return time.monotonic() >= self._next_sweep

    def stop(self) -> None:
        self._running = False
        self._wake.set()

    def run(self) -> None:
        self._running = True
        backoff = 0.2
        while self._running:
            try:
                published = self.relay_once(sweep=self.sweep_due())
                backoff = 0.2
                if published >= self.batch_size or self._committed:
                    continue  # more waiting: go on at once
            except Exception as exc:  # broker or database trouble: wait and retry
                self.broker_ok = False
                self._next_sweep = 0.0  # what failed is found again by the sweep
                self._close()
                if self.metrics:
                    self.metrics.outbox_publish_failures.labels(self.metrics.service).inc()
                log.warning("outbox relay of %s: %s; retrying in %.1fs", self.database.service,
                            type(exc).__name__, backoff)
                self._sleep(backoff)
                backoff = min(backoff * 2, 5.0)
                continue
            self._wake.wait(self.poll_seconds)
            self._wake.clear()
        self._close()

    def _sleep(self, seconds: float) -> None:
        self._wake.wait(seconds)
        self._wake.clear()

    def _ensure_producer(self) -> Producer:
        if self._producer is None:
            # confirms are selected on the channel and awaited per batch, not per message
            connection = broker_connection(self.amqp_uri, confirm=False)
            connection.ensure_connection(max_retries=1)
            channel = connection.channel()
            declare_topology(channel)
            channel.confirm_select()
            channel.events["basic_ack"].add(self._on_ack)
            channel.events["basic_nack"].add(self._on_nack)
            self._connection, self._producer = connection, Producer(channel)
            self._delivery_tag = 0
            self._unconfirmed: dict[int, list[str]] = {}  # delivery tag -> its event ids
            self._nacked: list[str] = []
        return self._producer

    def _on_ack(self, delivery_tag: int, multiple: bool) -> None:
        if multiple:
            for tag in [t for t in self._unconfirmed if t <= delivery_tag]:
                del self._unconfirmed[tag]
        else:
            self._unconfirmed.pop(delivery_tag, None)

    def _on_nack(self, delivery_tag: int, multiple: bool) -> None:
        tags = [t for t in self._unconfirmed if t <= delivery_tag] if multiple else [delivery_tag]
        for tag in tags:
            if tag in self._unconfirmed:
                self._nacked.extend(self._unconfirmed.pop(tag))

    def _close(self) -> None:
        connection, self._connection, self._producer = self._connection, None, None
        if connection is not None:
            try:
                connection.close()
            except Exception:  # already broken
                pass

    def _publish_confirmed(self, rows) -> list[str]:
        """Publish ``rows`` and wait until the broker confirmed them; returns the confirmed
        event ids. Raises if the broker fails or refuses (nacks) any of them."""
        producer = self._ensure_producer()
        assert self._connection is not None
        sent: dict[int, list[str]] = {}
        with FrameBatch(producer.channel) as batch:
            for group in group_rows(rows, self.max_group_bytes):
                first = group[0]
                headers = {"event_type": first.event_type, "producer": self.database.service}
                if len(group) == 1:  # one envelope travels as itself
                    body, message_id = first.envelope.encode(), first.event_id
                else:
                    body = ("[" + ",".join(row.envelope for row in group) + "]").encode()
                    message_id = f"{first.event_id}+{len(group) - 1}"
                    headers[ENVELOPES_HEADER] = len(group)
                batch.publish(body, exchange=first.exchange, routing_key=first.event_type,
                              message_id=message_id, headers=headers)
                self._delivery_tag += 1
                ids = [row.event_id for row in group]
                self._unconfirmed[self._delivery_tag] = ids
                sent[self._delivery_tag] = ids
        deadline = time.monotonic() + self.confirm_timeout
        while any(tag in self._unconfirmed for tag in sent):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("the broker did not confirm in time")
            try:
                self._connection.drain_events(timeout=min(remaining, 1.0))
            except socket.timeout:
                continue
        published = [i for ids in sent.values() for i in ids]
        if self._nacked:
            nacked, self._nacked = set(self._nacked), []
            self._confirmed_before_failure = [i for i in published if i not in nacked]
            raise RuntimeError(f"the broker refused {len(nacked)} event(s)")
        return published

    def _mark_published(self, session, event_ids: list[str], now: datetime) -> None:
        """Mark ``event_ids`` published at ``now``; the first publication's time stays (a sweep
        elsewhere may have been first).

        The rows are found by ``event_id`` alone, and a mark already there is kept by
        ``coalesce``: with ``published_at IS NULL`` in the condition PostgreSQL's planner
        combines the unique index with ``ix_outbox_unpublished``, whose ``NULL`` range holds an
        entry for every row published since the last vacuum, and each mark walked them all
        (55 against 32 µs a row, round trip and commit included, in 1,500 marks of 20 rows on
        a table growing to 30,000)."""
        outbox = self.database.outbox
        session.execute(update(outbox).where(outbox.c.event_id.in_(event_ids))
                        .values(published_at=func.coalesce(outbox.c.published_at,
                                                           literal(now, Instant()))))

    def relay_once(self, *, sweep: bool = True) -> int:
        """Publish one batch of unpublished events; returns how many were confirmed. The batch
        is the oldest unpublished events of the outbox (``sweep``) or else those committed in
        this process since the last pass."""
        db = self.database
        outbox = db.outbox
        published_ids: list[str] = []
        if not sweep and not self._committed:
            return 0
        with db.sessionmaker() as session:
            if sweep:
                self._next_sweep = time.monotonic() + self.poll_seconds
                query = (select(outbox.c.event_id, outbox.c.event_type, outbox.c.exchange,
                                outbox.c.envelope)
                         .where(outbox.c.published_at.is_(None)).order_by(outbox.c.id)
                         .limit(self.batch_size))
                if db.is_postgres:
                    query = query.with_for_update(skip_locked=True)
                rows = session.execute(query).all()
                if len(rows) >= self.batch_size:
                    self._next_sweep = 0.0  # a backlog (after an outage, say): sweep on at once
            else:
                rows = self._committed[:self.batch_size]
                del self._committed[:self.batch_size]
            if not rows:
                session.rollback()
                if self.metrics and sweep:
                    self.metrics.outbox_backlog.labels(self.metrics.service).set(0)
                return 0
            error: Exception | None = None
            self._confirmed_before_failure: list[str] = []
            try:
                published_ids = self._publish_confirmed(rows)
                self.broker_ok = True
            except Exception as exc:
                error = exc
                published_ids = self._confirmed_before_failure
            if sweep and self._committed and published_ids:
                # this process's events the sweep took are not sent again
                done = set(published_ids)
                self._committed = [e for e in self._committed if e.event_id not in done]
            now = datetime.now(CHINA)
            if db.is_postgres:
                # the marks need no flush to disk before the relay goes on: a mark lost in a
                # crash republishes its events, which idempotent consumers absorb (as after a
                # crash between confirm and mark); the disk's flushes are left to the commits
                # that carry state, and to the broker's
                session.execute(text("SET LOCAL synchronous_commit = off"))
            if published_ids:
                self._mark_published(session, published_ids, now)
                if self.metrics:
                    types = {r.event_id: r.event_type for r in rows}
                    counts = collections.Counter(types[i] for i in published_ids)
                    for event_type, count in counts.items():
                        self.metrics.events_published.labels(db.service, event_type).inc(count)
            if error is not None:
                done = set(published_ids)
                failed = [r.event_id for r in rows if r.event_id not in done]
                session.execute(update(outbox).where(outbox.c.event_id.in_(failed))
                                .values(attempts=outbox.c.attempts + 1,
                                        last_error=type(error).__name__[:200]))
            session.commit()
        if self.metrics and sweep:
            # a short sweep published whole left nothing behind; only a full or failed one
            # needs the COUNT (a /metrics scrape always counts exactly)
            drained = error is None and len(rows) < self.batch_size
            self.metrics.outbox_backlog.labels(self.metrics.service).set(
                0 if drained else db.outbox_backlog())
        if error is not None:
            raise error
        return len(published_ids)


class DeadLetters(SharedExtension):
    """Publishes rejected messages to ``<queue>.dead-letters`` with the reason."""

    registry = MetricsRegistry()

    def setup(self) -> None:
        self.amqp_uri = self.container.config["AMQP_URI"]
        self._lock = eventlet.semaphore.Semaphore()
        self._connection: Connection | None = None
        self._producer: Producer | None = None

    def stop(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = self._producer = None

    def publish(self, queue_name: str, message, reason: str, detail: Any = None, *,
                body: bytes | None = None) -> None:
        """Dead-letter ``message`` (or ``body``: one envelope of a relay's group, which then
        travels as a message of its own) with ``reason``."""
        if body is None:
            body = message.body if isinstance(message.body, bytes) else str(message.body).encode()
        headers = {"x-zhicheng-reason": reason,
                   "x-zhicheng-original-queue": queue_name,
                   "x-zhicheng-detail": json.dumps(detail, ensure_ascii=False, default=str)[:2000]
                   if detail is not None else "",
                   "x-zhicheng-original-bytes": len(body)}
        with self._lock:
            try:
                if self._producer is None:
                    self._connection = broker_connection(self.amqp_uri)
                    channel = self._connection.channel()
                    declare_topology(channel)
                    self._producer = Producer(channel)
                self._producer.publish(body, exchange=DEAD_LETTER_EXCHANGE.name,
                                       routing_key=queue_name, delivery_mode=2, headers=headers,
                                       content_type=message.content_type or "application/octet-stream",
                                       content_encoding=message.content_encoding or "binary",
                                       retry=False)
            except Exception:
                self.stop()
                raise
        metrics = self.registry.metrics
        metrics.dead_letters.labels(metrics.service, queue_name, reason).inc()


class RawQueueConsumer(QueueConsumer):
    """nameko's queue consumer, handing providers the raw message (no decoding in the consumer
    thread, where a bad body would stop consumption)."""

    @property
    def prefetch_count(self) -> int:
        # basic.qos applies to the consumers started after it on the channel, and nameko starts
        # them all together: one prefetch for all, enough for the largest batch to fill while
        # the one before it is processed
        wanted = [getattr(p, "prefetch_wanted", 0) for p in self._providers]
        return max([self.container.max_workers, *wanted])

    def get_consumers(self, consumer_cls, channel):
        prefetch = self.prefetch_count
        for provider in self._providers:
            consumer = consumer_cls(queues=[provider.queue],
                                    on_message=partial(self._on_raw_message, provider))
            consumer.qos(prefetch_count=prefetch)
            self._consumers[provider] = consumer
        return self._consumers.values()

    def _on_raw_message(self, provider, message) -> None:
        receive = getattr(provider, "receive", None)
        if receive is not None:
            receive(message)  # a batching provider buffers it (no work in the consumer thread)
            return
        self.container.spawn_managed_thread(partial(provider.handle_raw_message, message),
                                            identifier=f"{type(provider).__name__}.raw")

    # nameko ignores only amqp's ConnectionError when it settles a message. When the broker
    # goes away the socket raises ConnectionResetError / BrokenPipeError (OSError): escaping a
    # worker thread, that killed the whole service container (found by tests/e2e/test_faults.py
    # restarting the broker). A message whose connection is lost is redelivered by the broker,
    # and handlers are idempotent, so there is nothing more to do than to say so.
    @staticmethod
    @contextlib.contextmanager
    def _redelivered_if_lost(what: str) -> Iterator[None]:
        try:
            yield
        except (OSError, AMQPError) as exc:
            log.warning("could not %s (%s); the broker will redeliver", what,
                        type(exc).__name__)

    def ack_message(self, message) -> None:
        with self._redelivered_if_lost("acknowledge a message"):
            super().ack_message(message)

    def ack_messages(self, messages: list, *, multiple: bool = False,
                     unsettled: list = ()) -> None:
        """Acknowledge several deliveries.

        ``multiple``: with as few frames as is safe. A frame with the multiple flag settles
        every delivery of its channel up to its tag, processed or not, so it is sent for the
        highest of ``messages`` below the lowest of ``unsettled`` (the deliveries this consumer
        holds and has not settled, ``messages`` apart); ``messages`` above that are acknowledged
        one by one. Only for a queue consumer with a single provider, whose ``unsettled`` then
        names every open delivery of the channel that can precede one of ``messages``, as
        :class:`BatchJsonConsumer` does. Otherwise one ack each (the frames are not gathered
        into one write here: other green threads write on this connection too).
        """
        by_channel: dict[Any, list] = {}
        for message in messages:
            by_channel.setdefault(message.channel, []).append(message)
        for channel, group in by_channel.items():
            if not channel.connection:
                continue  # the connection was lost: the broker redelivers these
            with self._redelivered_if_lost(f"acknowledge {len(group)} messages"):
                if multiple:
                    settling = {id(m) for m in group}
                    lowest_open = min((m.delivery_tag for m in unsettled
                                       if m.channel is channel and id(m) not in settling),
                                      default=None)
                    covered = [m for m in group
                               if lowest_open is None or m.delivery_tag < lowest_open]
                    if covered:
                        max(covered, key=lambda m: m.delivery_tag).ack(multiple=True)
                        for message in covered:
                            message._state = "ACK"  # kombu's record of the settlement
                    group = [m for m in group if not m.acknowledged]
                for message in group:
                    message.ack()

    def requeue_message(self, message) -> None:
        with self._redelivered_if_lost("requeue a message"):
            super().requeue_message(message)


class MessageRejected(Exception):
    """A message that can never be processed: dead-lettered with ``reason``."""

    def __init__(self, reason: str, detail: Any = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.detail = detail


Reader = Callable[[Any], Any]


class _Delivery:
    """One AMQP delivery and how many of its envelopes are still unsettled: it is acknowledged
    when the last of them is processed or dead-lettered, or requeued whole (once) when one
    fails for a reason of the service's own (database down, stopping)."""

    __slots__ = ("message", "pending", "group", "state")

    def __init__(self, message, pending: int = 1, group: bool = False) -> None:
        self.message = message
        self.pending = pending
        self.group = group
        self.state = "open"  # then "acked" or "requeued"


class BatchQueueConsumer(RawQueueConsumer):
    """The queue consumer of a service's batch consumers: a connection and channel of their
    own (nameko shares one per extension class), so a service's only batch consumer is alone
    on its channel and acknowledges each batch with one multiple ack, even when the service
    also consumes a queue one message at a time (intake: the portal's queue, and events)."""


class JsonConsumer(Entrypoint):
    """Consumes JSON messages from a topology queue.

    Bad messages (too large, not JSON, refused by ``reader``) go to the queue's dead-letter queue
    with the reason and are acknowledged: they never stop the consumer. A handler that raises a
    :class:`ZhichengError` rejected the message on its merits: dead-lettered too. Any other
    failure (database down, ...) requeues the message after a pause.

    With ``groups`` (the event consumers), a message whose body is a JSON array is a relay's
    group of envelopes: each is read, handled and judged on its own (a bad one is dead-lettered
    alone, as a message of its own), one after another, and the message is acknowledged once
    all of them are settled. A group that fails part-way is requeued whole; the envelopes
    handled before are then skipped as redeliveries (consumers claim event ids).
    """

    queue_consumer = RawQueueConsumer()
    dead_letters = DeadLetters()
    registry = MetricsRegistry()
    # a consumer whose deliveries are settled in arrival order may acknowledge a run of them
    # with one frame (see RawQueueConsumer.ack_messages)
    settles_in_order = False

    def __init__(self, queue_name: str, reader: Reader | None = None, *, groups: bool = False,
                 **kwargs) -> None:
        self.queue_name = queue_name
        self.reader = reader or (lambda body: body)
        self.groups = groups
        kwargs.setdefault("expected_exceptions", (ZhichengError,))
        super().__init__(**kwargs)

    def setup(self) -> None:
        self.queue = queue_by_name(self.queue_name)
        self.max_bytes = int(self.container.config.get("MAX_MESSAGE_BYTES", 1 << 20))
        self.queue_consumer.register_provider(self)

    def stop(self) -> None:
        self.queue_consumer.unregister_provider(self)
        super().stop()

    def _label(self, body: Any) -> str:
        if isinstance(body, dict) and isinstance(body.get("event_type"), str) \
                and body["event_type"] in CATALOGUE.types:
            return body["event_type"]
        return "unknown"

    def handle_raw_message(self, message) -> None:
        items = self._decode(message)
        if items:
            self._run_singly(items)

    def _worker_args(self, values: list) -> tuple:
        """The handler's arguments for ``values`` (one here; a batch consumer takes a list)."""
        (value,) = values
        return (value,)

    # -- reading a delivery

    def _decode(self, message) -> list[tuple[_Delivery, Any, Any]]:
        """``(delivery, parsed envelope, value for the handler)`` for each envelope that
        ``message`` carries and ``reader`` accepts; the rest were dead-lettered."""
        raw = message.body
        obj: Any = None
        delivery = _Delivery(message)
        try:
            if raw is None or len(raw) > self.max_bytes:
                raise MessageRejected("too_large", {"bytes": len(raw or b""),
                                                    "limit": self.max_bytes})
            try:
                # orjson: strict RFC 8259 (no NaN or Infinity, UTF-8 only), and several times
                # faster than the json module on every delivery
                obj = orjson.loads(raw)
            except (ValueError, UnicodeDecodeError):
                raise MessageRejected("not_json") from None
            if self.groups and isinstance(obj, list):
                if not obj:
                    raise MessageRejected("empty_group", {"message": "a group of no envelopes"})
                return self._decode_group(message, obj)
            value = self._read(obj)
        except MessageRejected as rejected:
            self._dead_letter(delivery, rejected.reason, rejected.detail, self._label(obj))
            return []
        return [(delivery, obj, value)]

    def _decode_group(self, message, objs: list) -> list[tuple[_Delivery, Any, Any]]:
        delivery = _Delivery(message, pending=len(objs), group=True)
        items = []
        for obj in objs:
            try:
                items.append((delivery, obj, self._read(obj)))
            except MessageRejected as rejected:
                if not self._dead_letter(delivery, rejected.reason, rejected.detail,
                                         self._label(obj), element=obj):
                    return []  # the whole message went back to the queue
        return items

    def _read(self, obj: Any) -> Any:
        try:
            return self.reader(obj)
        except EventContractError as exc:
            raise MessageRejected(exc.reason, {"message": str(exc), "errors": exc.errors}) \
                from None
        except InvalidInput as exc:
            raise MessageRejected("invalid_schema", exc.as_dict()["error"]) from None

    # -- settling deliveries

    def _settle(self, deliveries: list[_Delivery]) -> None:
        """One envelope of each of ``deliveries`` (a delivery once per envelope) is settled;
        acknowledge the deliveries that have none left."""
        done = []
        for delivery in deliveries:
            if delivery.state != "open":
                continue
            delivery.pending -= 1
            if delivery.pending <= 0:
                delivery.state = "acked"
                done.append(delivery.message)
        if done:
            # the consumers of one queue consumer share its channel: a multiple ack is ours
            # to send only when no other consumer has deliveries on it
            multiple = self.settles_in_order and len(self.queue_consumer._providers) == 1
            self.queue_consumer.ack_messages(done, multiple=multiple,
                                             unsettled=self._held() if multiple else ())

    def _held(self) -> list:
        """The deliveries this consumer holds unsettled that may precede a delivery it settles
        (see :meth:`RawQueueConsumer.ack_messages`); none for one that does not ack multiple."""
        return []

    def _requeue(self, deliveries: list[_Delivery]) -> None:
        for delivery in deliveries:
            if delivery.state == "open":
                delivery.state = "requeued"
                self.queue_consumer.requeue_message(delivery.message)

    def _dead_letter(self, delivery: _Delivery, reason: str, detail: Any, label: str, *,
                     element: Any = None) -> bool:
        """Dead-letter ``delivery`` (or, for a group, its envelope ``element`` alone) and
        settle it. False if the dead letter could not be published: the delivery is then
        requeued whole after a pause."""
        metrics = self.registry.metrics
        body = None if not delivery.group else json.dumps(element, ensure_ascii=False).encode()
        try:
            self.dead_letters.publish(self.queue_name, delivery.message, reason, detail,
                                      body=body)
        except Exception as exc:
            log.warning("could not dead-letter a message from %s (%s); requeueing",
                        self.queue_name, type(exc).__name__)
            eventlet.sleep(1.0)
            self._requeue([delivery])
            return False
        metrics.events_consumed.labels(metrics.service, label, "dead_lettered").inc()
        self._settle([delivery])
        return True

    def _refused(self, delivery: _Delivery, body, exc: BaseException) -> bool:
        """The handler failed on one envelope: a :class:`ZhichengError` refused it on its
        merits, so it is dead-lettered (True); any other failure is counted and left to the
        caller to requeue (False)."""
        if isinstance(exc, ZhichengError):
            self._dead_letter(delivery, "rejected", exc.as_dict()["error"], self._label(body),
                              element=body)
            return True
        metrics = self.registry.metrics
        metrics.events_consumed.labels(metrics.service, self._label(body), "failed").inc()
        return False

    # -- running the handler

    def _run_singly(self, items: list) -> None:
        for index, item in enumerate(items):
            outcome = self._run([item])
            if outcome == "requeued":
                self._requeue([delivery for delivery, _o, _v in items[index:]])
                return
            if outcome == "failed":
                # not the message's own fault (it would have been dead-lettered): the database
                # or the broker is in trouble, so the rest go back to the queue after a pause
                self._requeue_after_pause(items[index:])
                return

    def _requeue_after_pause(self, items: list) -> None:
        eventlet.sleep(1.0)  # e.g. the database is down: do not spin
        self._requeue([delivery for delivery, _obj, _value in items])

    def _run(self, items: list) -> str:
        """Run the handler on ``items``: ``processed``, ``dead_lettered``, ``requeued`` (the
        service is stopping) or ``failed`` (nothing settled: the caller decides)."""
        done = GreenEvent()
        try:
            self.container.spawn_worker(self, self._worker_args([v for _d, _o, v in items]), {},
                                        context_data={},
                                        handle_result=partial(self._result, items, done))
        except ContainerBeingKilled:
            self._requeue([delivery for delivery, _obj, _value in items])
            return "requeued"
        return done.wait()

    def _result(self, items, done, worker_ctx, result=None, exc_info=None):
        metrics = self.registry.metrics
        if exc_info is None:
            for _delivery, obj, _value in items:
                metrics.events_consumed.labels(metrics.service, self._label(obj),
                                               "processed").inc()
            self._settle([delivery for delivery, _obj, _value in items])
            done.send("processed")
        elif len(items) > 1:
            done.send("failed")  # retried one by one
        else:
            delivery, obj, _value = items[0]
            done.send("dead_lettered" if self._refused(delivery, obj, exc_info[1]) else "failed")
        return result, exc_info


class BatchJsonConsumer(JsonConsumer):
    """Consumes a topology queue in batches: the handler gets a list of up to ``batch_size``
    values (whatever has arrived, or arrives within ``CONSUMER_LINGER_MS`` of the first; a
    relay's group counts its envelopes, and is never split) and processes them in one
    transaction. One batch runs at a time per queue, in arrival order.

    A batch that fails is retried one envelope at a time, each then judged as
    :class:`JsonConsumer` judges one: a :class:`ZhichengError` dead-letters that envelope only;
    any other failure (database down, ...) requeues its message and the rest of the batch after
    one pause. A handler therefore must be all-or-nothing for its batch (one unit of work,
    committed at the end) and idempotent per envelope, as every consumer here is.
    """

    queue_consumer = BatchQueueConsumer()
    # A batch is settled with one multiple ack. Deliveries arrive in tag order and batches are
    # taken from them in that order, one at a time, and each is wholly settled before the next;
    # so when a delivery is settled, the only open deliveries of the channel with lower tags
    # are those of its own batch. One can be settled before the batch's earlier ones: a bad
    # message is dead-lettered (and acknowledged) while the batch is read, before the batch is
    # processed. The ack then covers no delivery of the batch that is still open (``_held``):
    # one that did would settle messages not yet processed, lost if the process died before
    # the batch committed.
    settles_in_order = True

    def __init__(self, queue_name: str, reader: Reader | None = None, *,
                 batch_size: int = 100, **kwargs) -> None:
        self.batch_size = batch_size
        super().__init__(queue_name, reader, **kwargs)

    @property
    def prefetch_wanted(self) -> int:
        return 2 * self.batch_size

    def setup(self) -> None:
        self._arrived: LightQueue = LightQueue()
        self._batch: list = []  # the deliveries of the batch being (or last) processed
        self.linger = float(self.container.config.get(
            "CONSUMER_LINGER_MS", DEFAULT_CONSUMER_LINGER_MS)) / 1000
        super().setup()

    def start(self) -> None:
        super().start()
        self.container.spawn_managed_thread(self._run_batches,
                                            identifier=f"{self.method_name}.batches")

    def receive(self, message) -> None:
        """Called in the queue consumer's thread for every delivery."""
        self._arrived.put(message)

    def _worker_args(self, values: list) -> tuple:
        return (values,)

    def _take_batch(self) -> list:
        """The next batch: the first delivery to arrive, what is already waiting, and what
        arrives within the linger after the first, up to ``batch_size`` envelopes (a group is
        taken whole, so a batch may end above it)."""
        messages = [self._arrived.get()]
        eventlet.sleep(0)  # let the consumer thread hand over what is already on the socket
        envelopes = envelope_count(messages[0])
        deadline = None
        while envelopes < self.batch_size:
            try:
                message = self._arrived.get_nowait()
            except Empty:
                if self.linger <= 0:
                    break
                if deadline is None:
                    deadline = time.monotonic() + self.linger
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                try:
                    message = self._arrived.get(timeout=remaining)
                except Empty:
                    break
            messages.append(message)
            envelopes += envelope_count(message)
        return messages

    def _run_batches(self) -> None:
        while True:
            messages = self._batch = self._take_batch()
            try:
                self._run_batch(messages)
            except Exception:  # a bug here must not stop consumption (nor kill the container)
                log.exception("batch consumer of %s failed; requeueing its messages",
                              self.queue_name)
                eventlet.sleep(1.0)
                for message in messages:
                    if not message.acknowledged:
                        self.queue_consumer.requeue_message(message)

    def _held(self) -> list:
        return [m for m in self._batch if not m.acknowledged]

    def _run_batch(self, messages: list) -> None:
        items = [item for message in messages for item in self._decode(message)]
        if items:
            metrics = self.registry.metrics
            metrics.consumer_batch_size.labels(metrics.service, self.queue_name).observe(
                len(items))
            if self._run(items) == "failed":
                if len(items) > 1:
                    self._run_singly(items)
                else:
                    self._requeue_after_pause(items)


consume_json = JsonConsumer.decorator
consume_json_batches = BatchJsonConsumer.decorator


def consume_events(queue_name: str, **kwargs):
    """Consume catalogue events (envelopes validated and upcast, one or a relay's group per
    message) from ``queue_name``."""
    return JsonConsumer.decorator(queue_name, reader=CATALOGUE.read, groups=True, **kwargs)


def consume_event_batches(queue_name: str, **kwargs):
    """Consume catalogue events from ``queue_name`` in batches (see :class:`BatchJsonConsumer`):
    the handler gets a list of validated, upcast envelopes."""
    return BatchJsonConsumer.decorator(queue_name, reader=CATALOGUE.read, groups=True,
                                       **kwargs)


def wait_for_broker(amqp_uri: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with broker_connection(amqp_uri, timeout=2) as conn:
                conn.ensure_connection(max_retries=1)
                return
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)
