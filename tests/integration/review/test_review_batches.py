"""Review's inbox handled as a batch in one transaction (as its consumer does): each event once,
one case per submission, even when the batch repeats an event or a submission."""
from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from services.review import handlers, models
from shared.db import ServiceDatabase
from shared.events import build_envelope
from shared.migrations import upgrade
from tests.integration.review.test_review_case_through_broker import at, submission


@pytest.fixture
def db(databases):
    database = ServiceDatabase("review", databases.url("review"), models.metadata)
    upgrade("review", database.engine)
    yield database
    database.dispose()


def accepted(submission_id):
    return build_envelope(event_type="submission_accepted", version=1, producer="intake",
                          payload=submission(submission_id), occurred_at=at(2023, 9, 1))


def consume(db, clock, envelopes):
    with db.unit_of_work(clock) as uow:
        handlers.handle_inbox(uow, envelopes, clock.now())
        uow.commit()


def cases(db):
    with db.engine.connect() as conn:
        return sorted(conn.execute(select(models.cases.c.submission_id)).scalars())


def opened(db):
    with db.engine.connect() as conn:
        rows = conn.execute(select(db.outbox.c.envelope)
                            .where(db.outbox.c.event_type == "case_opened")).scalars()
        return [json.loads(r) for r in rows]


def test_a_batch_opens_one_case_per_submission_and_each_event_once(db, clock):
    a, b, again_b = accepted("S-1"), accepted("S-2"), accepted("S-2")  # again_b: a new event id
    consume(db, clock, [a, b, a, again_b])
    assert cases(db) == ["S-1", "S-2"]
    events = opened(db)
    assert len(events) == 2
    assert {e["causation_id"] for e in events} == {a["event_id"], b["event_id"]}
    # the same events redelivered later, with a new submission among them
    consume(db, clock, [b, accepted("S-3"), again_b])
    assert cases(db) == ["S-1", "S-2", "S-3"] and len(opened(db)) == 3


def test_a_submission_whose_case_exists_already_opens_nothing_in_a_later_batch(db, clock):
    consume(db, clock, [accepted("S-9")])
    consume(db, clock, [accepted("S-9"), accepted("S-10")])
    assert cases(db) == ["S-10", "S-9"] and len(opened(db)) == 2
