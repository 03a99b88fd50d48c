"""Certificates issued at the same moment each get their own serial: a clash on the unique key
takes the next free serial instead of refusing the bureau."""
from datetime import date, datetime

from sqlalchemy import insert

from services.review import handlers, models
from services.review.certificate import certificate_number
from services.review.policy import ReviewPolicy
from services.review.repository import ReviewRepository
from shared.auth import Principal
from shared.clock import CHINA
from shared.db import ServiceDatabase
from shared.migrations import upgrade


def test_a_serial_taken_in_the_same_moment_moves_the_certificate_to_the_next_one(databases, clock):
    db = ServiceDatabase("review", databases.url("review"), models.metadata)
    upgrade("review", db.engine)
    policy = ReviewPolicy()
    bureau = Principal(subject="bureau-1", roles=frozenset({"bureau"}))
    case_id = "case-serial"
    with db.unit_of_work(clock) as uow:
        ReviewRepository(uow.session).add_case(published_case(case_id), clock.now())
        uow.commit()

    original = ReviewRepository.last_certificate_serial
    calls = {"n": 0}

    def stale_then_true(self, prefix, year):
        # the first look happens before a concurrent issue commits serial 1: it sees none
        calls["n"] += 1
        if calls["n"] == 1:
            self.session.execute(insert(models.certificates).values(
                number=certificate_number(prefix, year, 1), case_id="other-case",
                applicant_key="k" * 32, prefix=prefix, year=year, serial=1, title="工程师",
                specialty="水利规划设计", committee_name="R22", issued_on=date(2023, 12, 20),
                issued_at=clock.now()))
            return 0
        return original(self, prefix, year)

    ReviewRepository.last_certificate_serial = stale_then_true
    try:
        with db.unit_of_work(clock) as uow:
            _, cert = handlers.issue_certificate(uow, case_id, policy=policy, principal=bureau,
                                                 now=clock.now())
            uow.commit()
    finally:
        ReviewRepository.last_certificate_serial = original
    # serial 1 was taken while this issue looked: it took the next free one, not a 409
    assert cert.number != certificate_number(policy.certificate_prefix, 2023, 1)
    assert calls["n"] >= 2


def published_case(case_id):
    """A case whose result is published (the step before its certificate)."""
    from dataclasses import replace

    from services.review import case as cases

    opened = cases.open_case(case_id=case_id, submission_id="sub-" + case_id,
                             applicant_key="a" * 32, committee_id="R22", committee_name="R22",
                             title="工程师", specialty="水利规划设计", year=2023,
                             recommendation=False, now=datetime(2023, 7, 1, tzinfo=CHINA)).case
    return replace(opened, state=cases.CaseState.PUBLISHED,
                   published_at=datetime(2023, 12, 20, tzinfo=CHINA))
