"""Recording a batch of events in one transaction (as audit's consumer does) keeps every promise
of recording them one by one: each event once, a verifiable chain continuing across batches, the
monitors' findings once, and a failed batch leaving no trace."""
import json

import pytest
from sqlalchemy import func, select

from services.audit import handlers
from services.audit.models import audit_cases, audit_records, audit_violations
from tests.integration.audit.audit_support import (
    T0, a_case_story, audit_database, audit_log, envelope, record,
)


def record_batch(db, log, clock, envelopes):
    with db.unit_of_work(clock) as uow:
        return handlers.record_events(uow, log, envelopes, received_at=clock.now())


def stored(db):
    with db.engine.connect() as conn:
        return [(r.position, r.event_id) for r in conn.execute(
            select(audit_records.c.position, audit_records.c.event_id)
            .order_by(audit_records.c.position))]


def verify(db, log):
    return handlers.verify_store(db.engine, log.settings.signer.public_key)


@pytest.fixture
def store(databases):
    db = audit_database(databases)
    yield db
    db.dispose()


def meetings(n, start=0):
    return [envelope("meeting_scheduled", "review", start + i, meeting_id=f"M{start + i}",
                     committee_id="K7", case_ids=[f"C{start + i}"]) for i in range(n)]


def test_batches_chain_on_from_each_other_and_from_single_records(store, clock):
    log = audit_log()
    first, second, third = meetings(5), meetings(7, 5), meetings(1, 12)
    assert record_batch(store, log, clock, first) == 5
    assert record(store, log, clock, third[0]) is True
    assert record_batch(store, log, clock, second) == 7
    assert [p for p, _ in stored(store)] == list(range(13))
    assert [e for _, e in stored(store)] == [e["event_id"] for e in first + third + second]
    report = verify(store, log)
    assert report["intact"] and report["records"] == 13
    # a process that starts now reads the same head from the store
    fresh = audit_log()
    assert record_batch(store, fresh, clock, meetings(2, 20)) == 2
    assert verify(store, fresh)["intact"]


def test_redeliveries_in_and_across_batches_are_stored_once(store, clock):
    log = audit_log()
    events = meetings(4)
    assert record_batch(store, log, clock, events[:2]) == 2
    # a redelivery of an earlier batch's event, and a repeat inside the batch itself
    assert record_batch(store, log, clock, [events[1], events[2], events[2], events[3]]) == 2
    assert [e for _, e in stored(store)] == [e["event_id"] for e in events]
    assert verify(store, log)["records"] == 4


def test_findings_in_a_batch_are_stored_once_and_announced(store, clock):
    log = audit_log()
    story = a_case_story("C1")
    early = envelope("meeting_held", "review", 20, meeting_id="M2", committee_id="K7",
                     case_ids=["C1"], held_at=T0.replace(day=3).isoformat())
    assert record_batch(store, log, clock, story[:2] + [early, early]) == 3
    with store.engine.connect() as conn:
        violations = conn.execute(select(audit_violations.c.rule_id)).scalars().all()
        notices = [json.loads(r) for r in conn.execute(
            select(store.outbox.c.envelope)
            .where(store.outbox.c.event_type == "notice_issued")).scalars()]
        cases = conn.execute(select(audit_cases.c.case_id)).scalars().all()
    assert violations == ["AUDIT-PRE-REVIEW-PUBLICITY"]
    assert len(notices) == 1 and notices[0]["causation_id"] == early["event_id"]
    assert cases == ["C1"]


def test_a_failed_batch_stores_nothing_and_the_next_one_continues_the_chain(store, clock,
                                                                          monkeypatch):
    log = audit_log()
    record_batch(store, log, clock, meetings(3))
    broken = meetings(3, 3)

    def fail(*_args, **_kwargs):
        raise RuntimeError("the database went away mid-batch")

    monkeypatch.setattr(handlers.repo, "insert_records", fail)
    with pytest.raises(RuntimeError):
        record_batch(store, log, clock, broken)
    monkeypatch.undo()
    with store.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(audit_records)).scalar_one() == 3
    # the retry (the consumer's, one by one or as a batch) stores them after the first three
    assert record_batch(store, log, clock, broken) == 3
    assert [p for p, _ in stored(store)] == list(range(6))
    assert verify(store, log)["intact"]
