"""Applications handled as a batch (one unit of work, as the portal queue's consumer does) get the
same answers, rows and events as one at a time, including replays, a reused portal id and one
applicant twice within the batch."""
from __future__ import annotations

import json
from datetime import datetime

import pytest
from sqlalchemy import func, select

from services.intake import handlers, models
from services.intake.service import read_portal_message
from shared.clock import CHINA, Clock
from shared.db import ServiceDatabase
from shared.errors import Conflict
from shared.migrations import upgrade
from shared.simulation.portal import REFUSALS, ApplicationFactory
from intake_payloads import review_application

KEY = b"batch-test-person-key"
CLOCK = Clock(fixed=datetime(2023, 7, 15, 9, 0, tzinfo=CHINA))


def intake_db(url: str) -> ServiceDatabase:
    db = ServiceDatabase("intake", url, models.metadata)
    upgrade("intake", db.engine)
    with db.unit_of_work(CLOCK) as uow:
        handlers.publish_plan(uow, 2023, CLOCK.now())
        uow.commit()
    return db


@pytest.fixture
def db(databases):
    database = intake_db(databases.url("intake"))
    yield database
    database.dispose()


def items(bodies):
    out = []
    for body in bodies:
        message = read_portal_message(json.loads(json.dumps(body, ensure_ascii=False)))
        out.append((message["application"], message["hash"]))
    return out


def as_batch(db, bodies):
    with db.unit_of_work(CLOCK) as uow:
        answers = handlers.submit_batch(uow, items(bodies), channel="amqp", now=CLOCK.now(),
                                        applicant_secret=KEY)
        uow.commit()
    return answers


def one_at_a_time(db, bodies):
    answers = []
    for app, raw_hash in items(bodies):
        with db.unit_of_work(CLOCK) as uow:
            answers.append(handlers.submit(uow, app, raw_hash=raw_hash, channel="amqp",
                                           now=CLOCK.now(), applicant_secret=KEY))
            uow.commit()
    return answers


def count(db, table) -> int:
    with db.engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar_one()


def events(db) -> list[tuple[str, str]]:
    with db.engine.connect() as conn:
        rows = conn.execute(select(models.metadata.tables["outbox"].c.envelope)
                            .order_by(models.metadata.tables["outbox"].c.id)).scalars()
        return [(e["event_type"], e["payload"].get("portal_id")) for e in map(json.loads, rows)
                if e["event_type"] not in ("plan_loaded", "plan_published")]


def by_application(events: list[tuple[str, str]]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for kind, portal_id in events:
        out.setdefault(portal_id, []).append(kind)
    return out


def test_a_batch_answers_as_one_at_a_time_does(databases):
    factory = ApplicationFactory(seed=7, prefix="B")
    bodies = [factory.valid(t) for t in ("R22", "D01", "D02") * 4]
    bodies += [factory.refused(rule) for rule in sorted(REFUSALS)]
    batched = intake_db(databases.url("intake"))
    single = intake_db(databases.url("intake_single"))
    try:
        got = as_batch(batched, bodies)
        want = one_at_a_time(single, bodies)
        assert [(a.body["status"], a.body["rules"]) for a in got] == \
            [(a.body["status"], a.body["rules"]) for a in want]
        assert {a.body["status"] for a in got} == {"accepted", "rejected"}
        for table in (models.submissions, models.materials, models.archive_achievements):
            assert count(batched, table) == count(single, table) > 0
        # the same events; each application's in the same order; the batch's in runs of a
        # type (what the relay sends as one message each)
        assert sorted(events(batched)) == sorted(events(single))
        assert by_application(events(batched)) == by_application(events(single))
        kinds = [kind for kind, _portal_id in events(batched)]
        runs = [kind for i, kind in enumerate(kinds) if i == 0 or kinds[i - 1] != kind]
        assert len(runs) == len(set(runs)) == len(set(kinds)) > 2, runs
        assert runs[0] == "submission_received"
    finally:
        batched.dispose()
        single.dispose()


def test_a_replay_within_the_batch_gets_the_first_answer_and_stores_nothing_more(db):
    first, again = as_batch(db, [review_application("R-1"), review_application("R-1")])
    assert not first.replayed and again.replayed
    assert again.body["submission_id"] == first.body["submission_id"]
    assert count(db, models.submissions) == 1
    assert events(db) == [("submission_received", "R-1"), ("submission_accepted", "R-1")]


def test_a_reused_portal_id_within_the_batch_refuses_the_batch_and_stores_none_of_it(db):
    other = review_application("R-2", specialty="水利施工")
    with pytest.raises(Conflict) as refused:
        as_batch(db, [review_application("R-3"), review_application("R-2"), other])
    assert refused.value.code == "portal_id_reused"
    assert count(db, models.submissions) == 0 and events(db) == []


def test_one_applicant_twice_in_a_batch_has_each_achievement_archived_once(db):
    achievement = {"title": "某水库除险加固设计", "dated": "2022-05-01", "representative": True}
    later = {"title": "某灌区续建配套设计", "dated": "2023-03-01", "representative": True}
    as_batch(db, [review_application("R-4", achievements=[achievement]),
                  review_application("R-5", achievements=[achievement, later])])
    with db.engine.connect() as conn:
        titles = sorted(conn.execute(select(models.archive_achievements.c.title)).scalars())
    assert titles == sorted([achievement["title"], later["title"]])
