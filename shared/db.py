"""Persistence every service shares: engines, the transactional outbox, processed-event records,
and the unit of work that ties state changes and the events they cause into one transaction.

A service's ``models.py`` declares its own tables on its own ``MetaData`` and calls
:func:`messaging_tables` on it, so each service database holds its ``outbox`` and
``processed_events`` next to its state.
"""
from __future__ import annotations

import contextlib
import itertools
import logging
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable, Iterator, NamedTuple

import orjson
from sqlalchemy import exc
from sqlalchemy import (BigInteger, Boolean, Column, Date, DateTime, Enum, Index, Integer,
                        LargeBinary, MetaData, String, Table, Text, TypeDecorator, create_engine,
                        event, func, insert, select, text)
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
    # LIFO: the connections a steady load uses stay the same few, and the rest go idle (and are
    # the ones pinged when next used)
    engine = create_engine(url, pool_size=10, max_overflow=20, pool_use_lifo=True)
    _ping_when_idle(engine, PING_AFTER_IDLE_SECONDS)
    return engine


# A pooled connection unused for this long is pinged before it is handed out again.
PING_AFTER_IDLE_SECONDS = 2.0


def _ping_when_idle(engine: Engine, idle_seconds: float) -> None:
    """SQLAlchemy's pessimistic disconnect handling (what ``pool_pre_ping`` does) for a
    connection that sat in the pool for ``idle_seconds`` or more: one that went stale (the
    database restarted, a proxy dropped it) is replaced before use. ``pool_pre_ping`` pings at
    every checkout, a round trip more per transaction on a busy service, whose connections
    were in use a moment ago; a connection that dies while in use fails that transaction under
    either, and the pool then drops its connections (SQLAlchemy's disconnect handling)."""

    @event.listens_for(engine, "checkin")
    def _checked_in(_dbapi_connection, record) -> None:
        record.info["zhicheng_idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checked_out(dbapi_connection, record, _proxy) -> None:
        since = record.info.get("zhicheng_idle_since")
        if since is None or time.monotonic() - since < idle_seconds:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)  # raises when the connection is gone
        except Exception as error:
            if engine.dialect.is_disconnect(error, dbapi_connection, None):
                # the pool discards this connection and hands out another
                raise exc.DisconnectionError(str(error)) from error
            raise


class CommittedEvent(NamedTuple):
    """An event a unit of work wrote to the outbox, as written (what the relay publishes)."""

    event_id: str
    event_type: str
    exchange: str
    envelope: str


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
    submissions, outbox events), through one statement of the driver's and still through
    SQLAlchemy's connection (its transaction, and its exceptions: IntegrityError on a duplicate
    key): on SQLite the module's ``executemany``; on PostgreSQL the rows as one JSON document
    that the server turns into rows of the table's type (``jsonb_populate_recordset``).

    Why JSON on PostgreSQL: psycopg2 writes every parameter into the statement's text, quoting
    each in C and Python, and the server then parses and analyses every value of a multi-row
    ``VALUES`` as an expression (half of its time on such a statement). One document (orjson)
    is quoted once and read by one function: measured on audit's records, the client's time
    per row halves and the server's falls by about a sixth. Each value goes through its
    column type's input function, as a quoted literal does. A table with a floating-point or
    decimal column keeps the ``VALUES`` form (JSON has no NaN, and no exact decimals).

    SQLAlchemy's executemany builds a parameter dictionary per row and calls each type's bind
    processing value by value through its compiled statement; here only the columns whose type
    processes values (``Instant``, SQLite's dates and times) are processed, with the same
    processors, so the stored values are the same. The rows name the same columns; a table
    whose omitted columns have Python-side defaults goes the usual way.
    """
    if not rows:
        return
    if _python_defaults_left_out(table, rows[0]):
        session.execute(insert(table), rows)
        return
    if _insert_from_json(session, table, rows) is not None:
        return
    connection = session.connection()
    dialect = connection.dialect
    names = list(rows[0])
    processors = [table.c[name].type.dialect_impl(dialect).bind_processor(dialect)
                  for name in names]
    values = [tuple(value if process is None else process(value)
                    for process, value in zip(processors, (row[n] for n in names)))
              for row in rows]
    preparer = dialect.identifier_preparer
    head = (f"INSERT INTO {preparer.format_table(table)} "
            f"({', '.join(preparer.quote(name) for name in names)}) VALUES ")
    if dialect.name == "postgresql":  # psycopg2 (format paramstyle): one statement, no round trips
        row = "(" + ", ".join(["%s"] * len(names)) + ")"
        connection.exec_driver_sql(head + ", ".join([row] * len(values)),
                                   tuple(itertools.chain.from_iterable(values)))
    else:
        connection.exec_driver_sql(head + "(" + ", ".join("?" * len(names)) + ")", values)


def insert_new_rows(session: Session, table: Table, rows: list[dict[str, Any]], key: Column,
                    conflict: list[Column] | None = None) -> set[Any]:
    """Insert the rows that are not there yet (``ON CONFLICT DO NOTHING``, on ``conflict``'s
    columns or any unique key) and return their ``key`` values: a batch's claims, or cases
    added to a frame. One statement on either database; on PostgreSQL the rows travel as one
    JSON document, as in :func:`insert_rows` (SQLAlchemy's executemany with ``RETURNING``
    builds every row's parameters through the compiled statement, the costliest part of a
    consumer's claim)."""
    if not rows:
        return set()
    if not _python_defaults_left_out(table, rows[0]):
        quote = session.get_bind().dialect.identifier_preparer.quote
        on = f" ({', '.join(quote(c.name) for c in conflict)})" if conflict else ""
        result = _insert_from_json(session, table, rows,
                                   f" ON CONFLICT{on} DO NOTHING RETURNING {quote(key.name)}")
        if result is not None:
            return {row[0] for row in result}
    statement = insert_ignoring_conflicts(
        session, table, **({"index_elements": conflict} if conflict else {}))
    return {row[0] for row in session.execute(statement.returning(key), rows)}


def _python_defaults_left_out(table: Table, row: dict[str, Any]) -> bool:
    """Whether the rows leave out a column whose default SQLAlchemy computes in Python (they
    then go through SQLAlchemy's own insert, which applies it)."""
    return any(c.default is not None and c.name not in row for c in table.columns)


def _insert_from_json(session: Session, table: Table, rows: list[dict[str, Any]],
                      tail: str = ""):
    """On PostgreSQL, ``INSERT … SELECT`` the rows from one JSON document (see
    :func:`insert_rows`), with ``tail`` after it (``ON CONFLICT …``); its result. None where
    that path does not apply: another database, or a column type JSON cannot carry."""
    connection = session.connection()
    dialect = connection.dialect
    if dialect.name != "postgresql":
        return None
    names = list(rows[0])
    impls = [table.c[name].type.dialect_impl(dialect) for name in names]
    if not all(_json_safe(impl) for impl in impls):
        return None
    converted = [(name, convert) for name, convert in
                 ((name, _to_json_value(impl, dialect)) for name, impl in zip(names, impls))
                 if convert is not None]
    if converted:  # a copy of each row with those columns' values converted
        rows = [{**row, **{name: convert(row[name]) for name, convert in converted}}
                for row in rows]
    preparer = dialect.identifier_preparer
    target = preparer.format_table(table)
    listed = ", ".join(preparer.quote(name) for name in names)
    # (keys beyond the named columns are not selected from the document)
    return connection.exec_driver_sql(
        f"INSERT INTO {target} ({listed}) SELECT {listed} "
        f"FROM jsonb_populate_recordset(NULL::{target}, %s::jsonb){tail}",
        (orjson.dumps(rows).decode(),))


def _json_safe(impl) -> bool:
    """A column type whose values JSON carries to PostgreSQL's input function unchanged: text,
    integers, booleans, dates and times, bytes (as bytea's hex text)."""
    base = impl.impl if isinstance(impl, TypeDecorator) else impl
    return isinstance(base, (String, Integer, Boolean, Date, DateTime, LargeBinary)) \
        and not isinstance(base, Enum)


def _to_json_value(impl, dialect) -> Callable[[Any], Any] | None:
    """How a value of this column type goes into the JSON document (None: as it is)."""
    base = impl.impl if isinstance(impl, TypeDecorator) else impl
    if isinstance(base, LargeBinary):
        return lambda value: None if value is None else "\\x" + bytes(value).hex()
    return impl.bind_processor(dialect)  # e.g. Instant: the instant in UTC


def values_present(session: Session, column: Column, values: list[Any]) -> set[Any]:
    """Which of ``values`` the table holds in ``column`` (one query per 500 values).

    On PostgreSQL a text column is matched against one array parameter (``= ANY(%s)``, the
    same index scan as ``IN``): SQLAlchemy's ``IN`` expands into a bound parameter per value,
    each processed and quoted on its own, a cost paid on every batch a consumer takes."""
    found: set[Any] = set()
    connection = session.connection()
    dialect = connection.dialect
    if dialect.name == "postgresql" and isinstance(column.type, String) \
            and not isinstance(column.type, Enum):
        preparer = dialect.identifier_preparer
        statement = (f"SELECT {preparer.quote(column.name)} FROM "
                     f"{preparer.format_table(column.table)} "
                     f"WHERE {preparer.quote(column.name)} = ANY(%s)")
        for i in range(0, len(values), 500):
            found.update(row[0] for row in connection.exec_driver_sql(
                statement, ([v if isinstance(v, str) else str(v)
                             for v in values[i:i + 500] if v is not None],)))
        return found
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
        self._written: list[dict[str, Any]] = []  # outbox rows written in this transaction
        self._outbox_generation = 0  # changes whenever the pending rows are written or dropped
        self.committed = False

    def __enter__(self) -> "UnitOfWork":
        self.session = self.database.sessionmaker()
        self.emitted = []
        self._outbox_rows = []
        self._written = []
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
        # the outbox text is what the relay publishes: compact JSON with sorted keys (orjson,
        # several times faster than the json module on a hot path; consumers parse it, and
        # audit hashes its own canonical encoding of what it parsed)
        self._outbox_rows.append(dict(
            event_id=envelope["event_id"], event_type=event_type, exchange=spec.exchange,
            envelope=orjson.dumps(envelope, option=orjson.OPT_SORT_KEYS).decode(),
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
        assert self.session is not None
        table = self.database.processed
        return insert_new_rows(self.session, table, rows, table.c.event_id)

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
            self._written.extend(rows)

    def rollback(self) -> None:
        """Undo everything so far, emitted events included; the unit of work goes on."""
        assert self.session is not None
        self.session.rollback()
        self.emitted = []
        self._outbox_rows = []
        self._written = []
        self._outbox_generation += 1

    def commit(self) -> None:
        assert self.session is not None
        self.flush_events()
        self.session.commit()
        self.committed = True
        written, self._written = self._written, []
        if written:
            self.database.notify_committed([
                CommittedEvent(r["event_id"], r["event_type"], r["exchange"], r["envelope"])
                for r in written])


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

    def on_commit(self, listener: Callable[[list[CommittedEvent]], None]) -> None:
        """Call ``listener`` with the events (as written to the outbox) of each unit of work that
        committed events."""
        self._listeners.append(listener)

    def notify_committed(self, events: list[CommittedEvent]) -> None:
        for listener in self._listeners:
            listener(events)

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

