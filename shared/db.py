"""Persistence every service shares: engines, the transactional outbox, processed-event records,
and the unit of work that ties state changes and the events they cause into one transaction.

A service's ``models.py`` declares its own tables on its own ``MetaData`` and calls
:func:`messaging_tables` on it, so each service database holds its ``outbox`` and
``processed_events`` next to its state.
"""
from __future__ import annotations

import contextlib
import itertools
import json
import logging
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable, Iterator

from sqlalchemy import (BigInteger, Column, DateTime, Index, Integer, MetaData, String, Table,
                        Text, TypeDecorator, create_engine, event, func, insert, select, text)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from shared.clock import CHINA, Clock
from shared.events import CATALOGUE, build_envelope

log = logging.getLogger(__name__)

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

class Instant(TypeDecorator):
    """A timezone-aware instant on every backend: stored as UTC, read back in China time.
    (SQLite's DateTime drops the zone; PostgreSQL keeps it as timestamptz.)"""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given for a timezone-aware column")
        value = value.astimezone(timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        return value.astimezone(CHINA)


# SQLite has no BIGINT autoincrement; use INTEGER there so ids still autoincrement.
BigId = BigInteger().with_variant(Integer(), "sqlite")


def new_metadata() -> MetaData:
    return MetaData(naming_convention=NAMING_CONVENTION)


def messaging_tables(metadata: MetaData) -> tuple[Table, Table]:
    """Add ``outbox`` and ``processed_events`` to a service's metadata."""
    outbox = Table(
        "outbox", metadata,
        Column("id", BigId, primary_key=True, autoincrement=True),
        Column("event_id", String(36), nullable=False, unique=True),
        Column("event_type", String(64), nullable=False),
        Column("exchange", String(64), nullable=False),
        Column("envelope", Text, nullable=False),
        Column("created_at", Instant(), nullable=False),
        Column("published_at", Instant(), nullable=True),
        Column("attempts", Integer, nullable=False, default=0),
        Column("last_error", String(200), nullable=True),
        Index("ix_outbox_unpublished", "published_at", "id"),
    )
    processed = Table(
        "processed_events", metadata,
        Column("consumer", String(64), primary_key=True),
        Column("event_id", String(36), primary_key=True),
        Column("event_type", String(64), nullable=False),
        Column("processed_at", Instant(), nullable=False),
    )
    return outbox, processed


def make_engine(url: str) -> Engine:
    """An engine for a service database. SQLite gets WAL and a busy timeout so the relay and the
    workers of one process can share the file."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record):  # pragma: no cover - trivial
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()
        return engine
    return create_engine(url, pool_size=10, max_overflow=20, pool_pre_ping=True)


@dataclass
class EmitContext:
    """Where the events of a unit of work come from (for correlation and causation ids)."""

    correlation_id: str | None = None
    causation_id: str | None = None


def insert_ignoring_conflicts(session: Session, table: Table, **conflict: Any):
    """``INSERT … ON CONFLICT DO NOTHING`` in the session's dialect (PostgreSQL or SQLite);
    ``conflict``: on_conflict_do_nothing's arguments (e.g. index_elements)."""
    dialect_insert = pg_insert if session.get_bind().dialect.name == "postgresql" \
        else sqlite_insert
    return dialect_insert(table).on_conflict_do_nothing(**conflict)


def insert_rows(session: Session, table: Table, rows: list[dict[str, Any]]) -> None:
    """``session.execute(insert(table), rows)`` for the hot paths (a batch's records, cases,
    submissions, outbox events), through the driver's own batch path and still through
    SQLAlchemy's connection (its transaction, and its exceptions: IntegrityError on a duplicate
    key): on SQLite the module's ``executemany``; on PostgreSQL one multi-row ``VALUES``
    statement with every row's values as its parameters.

    SQLAlchemy's executemany builds a parameter dictionary per row and calls each type's bind
    processing value by value through its compiled statement; here each row is one tuple and
    only the columns whose type processes values (``Instant``, SQLite's dates and times) are
    processed, with the same processors, so the stored values are the same. The rows name the
    same columns; a table whose omitted columns have Python-side defaults goes the usual way.
    """
    if not rows:
        return
    names = list(rows[0])
    if any(c.default is not None and c.name not in rows[0] for c in table.columns):
        session.execute(insert(table), rows)
        return
    connection = session.connection()
    dialect = connection.dialect
    columns = [(name, table.c[name].type.dialect_impl(dialect).bind_processor(dialect))
               for name in names]
    values = [tuple(row[name] if process is None else process(row[name])
                    for name, process in columns) for row in rows]
    quote = dialect.identifier_preparer.quote
    head = (f"INSERT INTO {dialect.identifier_preparer.format_table(table)} "
            f"({', '.join(quote(name) for name in names)}) VALUES ")
    if dialect.name == "postgresql":  # psycopg2 (format paramstyle): one statement, no round trips
        row = "(" + ", ".join(["%s"] * len(names)) + ")"
        connection.exec_driver_sql(head + ", ".join([row] * len(values)),
                                   tuple(itertools.chain.from_iterable(values)))
    else:
        connection.exec_driver_sql(head + "(" + ", ".join("?" * len(names)) + ")", values)


def values_present(session: Session, column: Column, values: list[Any]) -> set[Any]:
    """Which of ``values`` the table holds in ``column`` (one query per 500 values)."""
    found: set[Any] = set()
    for i in range(0, len(values), 500):
        found.update(session.execute(
            select(column).where(column.in_(values[i:i + 500]))).scalars())
    return found


class UnitOfWork:
    """One transaction: state changes plus the events they cause (written to the outbox).

    ::

        with db.unit_of_work() as uow:
            uow.session.add(...)
            uow.emit("submission_accepted", {...})
            uow.commit()

    Leaving the block without ``commit()`` rolls everything back, events included. After a
    commit the outbox relay is woken so events leave promptly. Emitted events are written to the
    outbox together, in one statement just before the commit (same transaction); a unit of work
    that starts over after a failure calls :meth:`rollback`, which forgets them too.
    """

    def __init__(self, database: "ServiceDatabase", clock: Clock,
                 context: EmitContext | None = None) -> None:
        self.database = database
        self.clock = clock
        self.context = context or EmitContext()
        self.session: Session | None = None
        self.emitted: list[dict[str, Any]] = []
        self._outbox_rows: list[dict[str, Any]] = []
        self._outbox_generation = 0  # changes whenever the pending rows are written or dropped
        self.committed = False

    def __enter__(self) -> "UnitOfWork":
        self.session = self.database.sessionmaker()
        self.emitted = []
        self._outbox_rows = []
        self.committed = False
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        assert self.session is not None
        try:
            if not self.committed:
                self.session.rollback()
        finally:
            self.session.close()

    def caused_by(self, envelope: dict[str, Any]) -> "UnitOfWork":
        """Events emitted from now on continue the incoming event's correlation."""
        self.context = EmitContext(correlation_id=envelope.get("correlation_id"),
                                   causation_id=envelope.get("event_id"))
        return self

    def emit(self, event_type: str, payload: dict[str, Any], *,
             occurred_at: datetime | None = None) -> dict[str, Any]:
        """Record an event in the outbox, in this transaction. Returns the envelope."""
        assert self.session is not None, "emit() outside the unit of work"
        spec = CATALOGUE.get(event_type)
        if spec.producer != self.database.service:
            raise ValueError(f"{self.database.service} cannot emit {event_type} "
                             f"(produced by {spec.producer})")
        CATALOGUE.check_payload(event_type, payload)
        envelope = build_envelope(
            event_type=event_type, version=spec.version, producer=spec.producer, payload=payload,
            occurred_at=occurred_at or self.clock.now(),
            correlation_id=self.context.correlation_id, causation_id=self.context.causation_id)
        self._outbox_rows.append(dict(
            event_id=envelope["event_id"], event_type=event_type, exchange=spec.exchange,
            envelope=json.dumps(envelope, ensure_ascii=False, sort_keys=True),
            created_at=self.clock.now(), attempts=0))
        self.emitted.append(envelope)
        return envelope

    def claim(self, envelope: dict[str, Any], consumer: str | None = None) -> bool:
        """Record that this consumer processes ``envelope``, in this transaction.

        Returns False when it was processed before (a redelivery): the caller then does nothing.
        One statement, insert-unless-present: a concurrent duplicate waits for the first
        transaction and then sees its row (PostgreSQL), or is serialised by the file lock (SQLite).
        """
        assert self.session is not None
        consumer = consumer or self.database.service
        values = dict(consumer=consumer, event_id=envelope["event_id"],
                      event_type=envelope["event_type"], processed_at=self.clock.now())
        return bool(self._insert_claims([values]))

    def claim_new(self, envelopes: list[dict[str, Any]],
                  consumer: str | None = None) -> list[dict[str, Any]]:
        """:meth:`claim` for a batch in one statement: the envelopes not processed before, in
        order, each once (a redelivery, or a repeat within ``envelopes``, is left out)."""
        assert self.session is not None
        if not envelopes:
            return []
        consumer = consumer or self.database.service
        now = self.clock.now()
        rows = {e["event_id"]: dict(consumer=consumer, event_id=e["event_id"],
                                    event_type=e["event_type"], processed_at=now)
                for e in envelopes}
        claimed = self._insert_claims(list(rows.values()))
        fresh = []
        for envelope in envelopes:
            if envelope["event_id"] in claimed:
                claimed.discard(envelope["event_id"])  # the first of a repeated id only
                fresh.append(envelope)
        return fresh

    def _insert_claims(self, rows: list[dict[str, Any]]) -> set[str]:
        # a constant statement with the rows as parameters: compiled once, not per call
        assert self.session is not None
        table = self.database.processed
        result = self.session.execute(insert_ignoring_conflicts(self.session, table)
                                      .returning(table.c.event_id), rows)
        return {row[0] for row in result}

    @contextlib.contextmanager
    def independent_requests(self) -> Iterator[Callable[[], None]]:
        """A block that handles several independent requests (a batch from a queue), calling
        the yielded ``next_request()`` before each: their events go to the outbox in runs of
        one type (every request's first events, by type, then every request's second, ...),
        each request's own events still in the order it emitted them. Events of independent
        requests do not depend on each other, and a run is what the relay sends as one message
        (``shared.messaging.group_rows``): a batch of applications then costs the broker a
        publish per event type, not one per event."""
        start = len(self._outbox_rows)
        positions: list[int] = []  # each row's index within its request
        requests = [start]

        def next_request() -> None:
            requests.append(len(self._outbox_rows))

        generation = self._outbox_generation
        yield next_request
        if generation != self._outbox_generation:
            return  # flushed or rolled back inside the block: the rows are not all here
        rows = self._outbox_rows[start:]
        if not rows:
            return
        marks = requests[1:] + [len(self._outbox_rows)]
        first = requests[0]
        for end in marks:
            positions.extend(range(end - first))
            first = end
        rank: dict[tuple[int, str], int] = {}
        for position, row in zip(positions, rows):
            rank.setdefault((position, row["event_type"]), len(rank))
        order = sorted(range(len(rows)),
                       key=lambda i: (positions[i], rank[positions[i], rows[i]["event_type"]], i))
        self._outbox_rows[start:] = [rows[i] for i in order]

    def flush_events(self) -> None:
        """Write the events emitted so far to the outbox (done by :meth:`commit`)."""
        assert self.session is not None
        if self._outbox_rows:
            rows, self._outbox_rows = self._outbox_rows, []
            self._outbox_generation += 1
            insert_rows(self.session, self.database.outbox, rows)

    def rollback(self) -> None:
        """Undo everything so far, emitted events included; the unit of work goes on."""
        assert self.session is not None
        self.session.rollback()
        self.emitted = []
        self._outbox_rows = []
        self._outbox_generation += 1

    def commit(self) -> None:
        assert self.session is not None
        self.flush_events()
        self.session.commit()
        self.committed = True
        if self.emitted:
            self.database.notify_committed([envelope["event_id"] for envelope in self.emitted])


class ServiceDatabase:
    """A service's database: engine, sessions, and its messaging tables."""

    def __init__(self, service: str, url: str, metadata: MetaData) -> None:
        self.service = service
        self.url = url
        self.metadata = metadata
        self.engine = make_engine(url)
        self.sessionmaker = sessionmaker(bind=self.engine, expire_on_commit=False)
        self.outbox = metadata.tables["outbox"]
        self.processed = metadata.tables["processed_events"]
        self._listeners: list[Callable[[list[str]], None]] = []

    @property
    def is_postgres(self) -> bool:
        return self.engine.dialect.name == "postgresql"

    def on_commit(self, listener: Callable[[list[str]], None]) -> None:
        """Call ``listener`` with the event ids of each unit of work that committed events."""
        self._listeners.append(listener)

    def notify_committed(self, event_ids: list[str]) -> None:
        for listener in self._listeners:
            listener(event_ids)

    def unit_of_work(self, clock: Clock, context: EmitContext | None = None) -> UnitOfWork:
        return UnitOfWork(self, clock, context)

    def ping(self) -> None:
        with self.engine.connect() as conn:
            conn.execute(text("SELECT 1"))

    def outbox_backlog(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(
                select(func.count()).select_from(self.outbox)
                .where(self.outbox.c.published_at.is_(None))).scalar_one())

    def dispose(self) -> None:
        self.engine.dispose()

