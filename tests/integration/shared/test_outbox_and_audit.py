"""The outbox and the idempotent consumer against the real broker and database."""
import json
import socket

import eventlet
import pytest
from kombu import Connection, Exchange, Producer, Queue
from sqlalchemy import event, func, select

from services.audit.models import audit_records
from services.audit.service import AuditService
from services.intake import models as intake_models
from services.intake.service import IntakeService
from shared.db import ServiceDatabase
from shared.metrics import ServiceMetrics
from shared.messaging import (AUDIT_QUEUE, ENVELOPES_HEADER, OutboxRelay, declare_topology,
                              envelopes_in)
from shared.migrations import upgrade


def stored(audit, event_id):
    db = audit.database()
    with db.engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(audit_records)
                            .where(audit_records.c.event_id == event_id)).scalar_one()


def intake_database(databases):
    db = ServiceDatabase("intake", databases.url("intake"), intake_models.metadata)
    upgrade("intake", db.engine)
    return db


def probe_queue(amqp_uri, exchange="intake.events"):
    """A queue of the test's own, bound to a service exchange: sees what is published."""
    conn = Connection(amqp_uri)
    channel = conn.channel()
    declare_topology(channel)
    queue = Queue("probe", exchange=Exchange(exchange, type="topic", durable=True),
                  routing_key="#", exclusive=True)(channel)
    queue.declare()
    return conn, queue


def drain(queue, expected, timeout=10.0):
    got = []
    with eventlet.Timeout(timeout, False):
        while len(got) < expected:
            message = queue.get(no_ack=True)
            if message is None:
                eventlet.sleep(0.05)
                continue
            got.extend(envelopes_in(message.body))
    return got


def test_committed_event_reaches_audit_exactly_once_even_when_delivered_twice(
        start_service, amqp_uri, vhost, wait):
    audit = start_service(AuditService)
    intake = start_service(IntakeService)
    intake_db = intake.database()
    # intake announced itself through its outbox when it started
    with intake_db.engine.connect() as conn:
        envelope = json.loads(conn.execute(select(intake_db.outbox.c.envelope)).scalar_one())
    assert envelope["event_type"] == "intake_started"
    wait(lambda: stored(audit, envelope["event_id"]) == 1, message="event in audit")

    # the broker delivers the same message again (a relay crash between confirm and mark does)
    with Connection(amqp_uri) as conn:
        Producer(conn.channel()).publish(json.dumps(envelope).encode(), exchange="intake.events",
                                         routing_key="intake_started",
                                         content_type="application/json", delivery_mode=2)
    wait(lambda: audit.metric("zhicheng_events_consumed_total", event_type="intake_started",
                              outcome="processed") == 2, timeout=15,
         message="the duplicate consumed")
    assert stored(audit, envelope["event_id"]) == 1


def test_rolled_back_transaction_publishes_nothing(databases, amqp_uri, clock):
    db = intake_database(databases)
    conn, probe = probe_queue(amqp_uri)
    relay = OutboxRelay(db, amqp_uri)
    with pytest.raises(RuntimeError):
        with db.unit_of_work(clock) as uow:
            uow.emit("intake_started", {"service": "intake", "version": "t", "instance": "a",
                                        "schema_revision": None})
            raise RuntimeError("the use case failed after emitting")
    assert db.outbox_backlog() == 0
    assert relay.relay_once() == 0
    # a committed event does go out, so the probe would have seen one
    with db.unit_of_work(clock) as uow:
        committed = uow.emit("intake_started", {"service": "intake", "version": "t",
                                                "instance": "b", "schema_revision": None})
        uow.commit()
    assert relay.relay_once() == 1
    got = drain(probe, 1)
    assert [e["event_id"] for e in got] == [committed["event_id"]]
    eventlet.sleep(0.3)
    assert probe.get(no_ack=True) is None
    conn.close()


class FlakyBrokerLink:
    """A TCP proxy to RabbitMQ that a test can cut and restore: the broker becomes unreachable
    from the service's side while it keeps running."""

    def __init__(self, target=("127.0.0.1", 5672)):
        self.target = target
        self.server = eventlet.listen(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.up = False
        self.sockets = []
        eventlet.spawn_n(self._accept)

    def _accept(self):
        while True:
            client, _ = self.server.accept()
            if not self.up:
                client.close()
                continue
            upstream = eventlet.connect(self.target)
            self.sockets += [client, upstream]
            eventlet.spawn_n(self._pipe, client, upstream)
            eventlet.spawn_n(self._pipe, upstream, client)

    @staticmethod
    def _pipe(src, dst):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except (OSError, EOFError):
            pass
        finally:
            for s in (src, dst):
                try:
                    s.close()
                except OSError:
                    pass

    def cut(self):
        self.up = False
        for s in self.sockets:
            try:
                s.shutdown(socket.SHUT_RDWR)  # the pipes see end of stream and close both ends
            except OSError:
                pass
        self.sockets = []


def test_events_written_while_the_broker_is_unreachable_are_published_once_it_is_back(
        databases, amqp_uri, clock, vhost, wait):
    db = intake_database(databases)
    conn, probe = probe_queue(amqp_uri)
    link = FlakyBrokerLink()
    proxied_uri = amqp_uri.replace("127.0.0.1:5672", f"127.0.0.1:{link.port}")
    relay = OutboxRelay(db, proxied_uri, poll_seconds=0.1)
    db.on_commit(relay.wake)
    runner = eventlet.spawn(relay.run)
    try:
        emitted = []
        for i in range(5):
            with db.unit_of_work(clock) as uow:
                emitted.append(uow.emit("intake_started", {
                    "service": "intake", "version": "t", "instance": str(i),
                    "schema_revision": None})["event_id"])
                uow.commit()  # commits although the broker cannot be reached
        eventlet.sleep(1.0)
        assert db.outbox_backlog() == 5
        assert probe.get(no_ack=True) is None

        link.up = True  # the broker is back
        got = drain(probe, 5, timeout=15)
        assert sorted(e["event_id"] for e in got) == sorted(emitted)
        # marked published once confirmed (the probe may see a message before the mark commits)
        wait(lambda: db.outbox_backlog() == 0, message="outbox marked published")

        link.cut()  # and again: an event committed during a second outage also arrives
        with db.unit_of_work(clock) as uow:
            late = uow.emit("intake_started", {"service": "intake", "version": "t",
                                               "instance": "late", "schema_revision": None})
            uow.commit()
        eventlet.sleep(0.5)
        link.up = True
        assert [e["event_id"] for e in drain(probe, 1, timeout=15)] == [late["event_id"]]
    finally:
        relay.stop()
        runner.wait()
        conn.close()


@pytest.mark.parametrize("body, content_type, reason", [
    (b"{not json", "application/json", "not_json"),
    (json.dumps({"event_type": "intake_started"}).encode(), "application/json",
     "invalid_envelope"),
    (b"x" * (1024 * 1024 + 10), "application/octet-stream", "too_large"),
])
def test_malformed_messages_are_dead_lettered_with_a_reason_and_consumption_goes_on(
        start_service, amqp_uri, vhost, wait, body, content_type, reason):
    audit = start_service(AuditService)
    with Connection(amqp_uri) as conn:
        producer = Producer(conn.channel())
        producer.publish(body, exchange="", routing_key=AUDIT_QUEUE, content_type=content_type,
                         content_encoding="binary")
    dead = f"{AUDIT_QUEUE}.dead-letters"
    wait(lambda: vhost.count(dead) == 1, timeout=15, message="dead letter")
    with Connection(amqp_uri) as conn:
        message = Queue(dead)(conn.channel()).get(no_ack=True)
        assert message.headers["x-zhicheng-reason"] == reason
        assert message.headers["x-zhicheng-original-queue"] == AUDIT_QUEUE
        assert len(message.body) == len(body)
    # the consumer is still alive: a good event published afterwards is recorded
    with audit.database().engine.connect() as c:
        before = c.execute(select(func.count()).select_from(audit_records)).scalar_one()
    start_service(IntakeService)
    wait(lambda: stored_count(audit) > before, timeout=15, message="later event recorded")


def stored_count(audit):
    with audit.database().engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(audit_records)).scalar_one()


def test_the_relay_sends_a_run_of_one_event_type_as_one_message_and_audit_records_each(
        start_service, databases, amqp_uri, clock, wait):
    """A group (a JSON array of envelopes, counted in its header) for each run of one type in
    the outbox; audit, a consumer of everything, stores every envelope of it on its own."""
    audit = start_service(AuditService)
    db = intake_database(databases)
    conn, probe = probe_queue(amqp_uri)
    metrics = ServiceMetrics("intake")
    relay = OutboxRelay(db, amqp_uri, metrics)

    def started(instance):
        return uow.emit("intake_started", {"service": "intake", "version": "t",
                                           "instance": instance, "schema_revision": None})

    with db.unit_of_work(clock) as uow:
        emitted = [started("a"), started("b"), started("c"),
                   uow.emit("plan_loaded", {"year": 2023, "source": "t", "committee_count": 1,
                                            "counts": {}, "loaded_at": "2023-06-01"}),
                   started("d"), started("e")]
        uow.commit()
    assert relay.relay_once() == 6
    published = {labels["event_type"]: value for labels, value in (
        (sample.labels, sample.value) for family in metrics.registry.collect()
        if family.name == "zhicheng_events_published" for sample in family.samples
        if sample.name.endswith("_total"))}
    assert published == {"intake_started": 5.0, "plan_loaded": 1.0}
    messages = []
    with eventlet.Timeout(10, False):
        while len(messages) < 3:
            message = probe.get(no_ack=True)
            if message is None:
                eventlet.sleep(0.05)
                continue
            messages.append(message)
    assert [m.delivery_info["routing_key"] for m in messages] == \
        ["intake_started", "plan_loaded", "intake_started"]
    assert [m.headers.get(ENVELOPES_HEADER) for m in messages] == [3, None, 2]
    assert isinstance(json.loads(messages[1].body), dict), "one envelope travels as itself"
    got = [e for m in messages for e in envelopes_in(m.body)]
    assert got == [json.loads(json.dumps(e)) for e in emitted]
    assert db.outbox_backlog() == 0
    for envelope in emitted:
        wait(lambda: stored(audit, envelope["event_id"]) == 1, message="each in audit once")
    conn.close()


def _started(uow, instance):
    return uow.emit("intake_started", {"service": "intake", "version": "t", "instance": instance,
                                       "schema_revision": None})["event_id"]


def test_the_relay_looks_up_what_its_process_committed_and_sweeps_for_the_rest(
        databases, amqp_uri, clock):
    """Events committed through this process's database reach the relay as they were written
    (nothing is read back: no sweep, no lookup); events another process committed (here a
    second ServiceDatabase on the same database: a replica, a CLI command) wait for a sweep."""
    db = intake_database(databases)
    other_process = ServiceDatabase("intake", db.url, intake_models.metadata)
    conn, probe = probe_queue(amqp_uri)
    relay = OutboxRelay(db, amqp_uri, poll_seconds=60)
    db.on_commit(relay.wake)
    try:
        assert relay.relay_once() == 0  # the first pass is a sweep: nothing yet
        with other_process.unit_of_work(clock) as uow:
            elsewhere = _started(uow, "elsewhere")
            uow.commit()
        with db.unit_of_work(clock) as uow:
            here = [_started(uow, "a"), _started(uow, "b")]
            uow.commit()
        statements = []

        def seen(conn, cursor, statement, *args):
            statements.append(statement)

        event.listen(db.engine, "before_cursor_execute", seen)
        assert relay.relay_once(sweep=False) == 2  # the other process's row is not read
        event.remove(db.engine, "before_cursor_execute", seen)
        assert not [s for s in statements if s.lstrip().upper().startswith("SELECT")]
        assert [s.split()[0].upper() for s in statements if "outbox" in s] == ["UPDATE"]
        assert [e["event_id"] for e in drain(probe, 2)] == here
        assert relay.relay_once(sweep=False) == 0  # nothing more was committed here
        assert db.outbox_backlog() == 1
        assert relay.relay_once(sweep=True) == 1
        assert [e["event_id"] for e in drain(probe, 1)] == [elsewhere]
        assert db.outbox_backlog() == 0
        # an id looked up after a sweep published it is not sent twice
        with db.unit_of_work(clock) as uow:
            again = _started(uow, "c")
            uow.commit()
        assert relay.relay_once(sweep=True) == 1
        assert relay.relay_once(sweep=False) == 0
        assert [e["event_id"] for e in drain(probe, 1)] == [again]
        eventlet.sleep(0.3)
        assert probe.get(no_ack=True) is None
    finally:
        other_process.dispose()
        conn.close()


def test_a_backlog_of_many_batches_left_by_another_process_drains_without_waiting_for_polls(
        databases, amqp_uri, clock, wait):
    """A sweep that finds a full batch sweeps again at once: events left in the outbox (by a
    process that died, or during an outage) drain at the broker's pace, not one batch per
    OUTBOX_POLL_SECONDS; the running relay still finds its own process's events by id."""
    db = intake_database(databases)
    other_process = ServiceDatabase("intake", db.url, intake_models.metadata)
    with other_process.unit_of_work(clock) as uow:
        left = [_started(uow, f"left-{i}") for i in range(35)]
        uow.commit()
    conn, probe = probe_queue(amqp_uri)
    relay = OutboxRelay(db, amqp_uri, poll_seconds=30, batch_size=10)
    db.on_commit(relay.wake)
    runner = eventlet.spawn(relay.run)
    try:
        got = drain(probe, 35, timeout=10)
        assert sorted(e["event_id"] for e in got) == sorted(left)
        with db.unit_of_work(clock) as uow:
            mine = _started(uow, "mine")
            uow.commit()
        assert [e["event_id"] for e in drain(probe, 1, timeout=5)] == [mine]
        wait(lambda: db.outbox_backlog() == 0, message="outbox marked published")
    finally:
        relay.stop()
        runner.wait()
        other_process.dispose()
        conn.close()


def test_after_more_commits_than_the_relay_keeps_ids_of_it_sweeps_instead(
        databases, amqp_uri, clock):
    """While the broker is away the committed ids pile up; past a bound the relay drops them
    and sweeps, which finds those events and any other process's."""
    db = intake_database(databases)
    other_process = ServiceDatabase("intake", db.url, intake_models.metadata)
    conn, probe = probe_queue(amqp_uri)
    relay = OutboxRelay(db, amqp_uri, poll_seconds=60, batch_size=5)
    db.on_commit(relay.wake)
    try:
        assert relay.relay_once() == 0 and not relay.sweep_due()
        with other_process.unit_of_work(clock) as uow:
            elsewhere = _started(uow, "elsewhere")
            uow.commit()
        mine = []
        for i in range(relay.MAX_LOOKUPS_IN_BATCHES * relay.batch_size + 1):
            with db.unit_of_work(clock) as uow:
                mine.append(_started(uow, str(i)))
                uow.commit()
        assert relay.sweep_due()
        while relay.sweep_due():  # sweeps, batch after batch, oldest first
            relay.relay_once(sweep=True)
        got = [e["event_id"] for e in drain(probe, len(mine) + 1)]
        assert got == [elsewhere, *mine]
        assert db.outbox_backlog() == 0
    finally:
        other_process.dispose()
        conn.close()


def test_a_mark_keeps_the_first_publication_time_and_finds_its_rows_by_event_id_alone(
        databases, amqp_uri, clock):
    """An event published twice (a sweep elsewhere was first, or a republish after a crash)
    keeps the time of its first publication. On PostgreSQL the mark finds its rows through the
    unique index on ``event_id`` only: ``ix_outbox_unpublished`` holds an entry for every row
    published since the last vacuum in its NULL range, and a mark that walked it grew slower
    with every event the service published."""
    from datetime import timedelta

    db = intake_database(databases)
    relay = OutboxRelay(db, amqp_uri, poll_seconds=60)
    with db.unit_of_work(clock) as uow:
        first, second = _started(uow, "a"), _started(uow, "b")
        uow.commit()
    when = clock.now()
    with db.sessionmaker() as session:
        relay._mark_published(session, [first], when)
        session.commit()
    statements = []

    def seen(conn, cursor, statement, parameters, *args):
        statements.append((statement, parameters))

    event.listen(db.engine, "before_cursor_execute", seen)
    with db.sessionmaker() as session:
        relay._mark_published(session, [first, second], when + timedelta(minutes=5))
        session.commit()
    event.remove(db.engine, "before_cursor_execute", seen)
    with db.engine.connect() as conn:
        marks = dict(conn.execute(select(db.outbox.c.event_id, db.outbox.c.published_at)).all())
    assert marks == {first: when, second: when + timedelta(minutes=5)}
    assert db.outbox_backlog() == 0
    if db.is_postgres:
        [(statement, parameters)] = [s for s in statements if "outbox" in s[0]]
        with db.engine.connect() as conn:
            for sql in ("SET enable_seqscan = off", "ANALYZE outbox"):
                conn.exec_driver_sql(sql)
            plan = "\n".join(row[0] for row in conn.exec_driver_sql(
                "EXPLAIN " + statement, parameters))
        assert "ix_outbox_unpublished" not in plan and "uq_outbox_event_id" in plan, plan
