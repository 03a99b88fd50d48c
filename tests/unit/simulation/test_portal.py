"""The simulated portal says what it means: its valid applications pass every intake rule and
each refusal case is refused by the rule it names (checked against intake's own domain)."""
from datetime import date, datetime

import pytest

from services.intake.application import Attempt, PerformanceArchive
from services.intake.plan import load_plan_year
from services.intake.rules import assess
from services.intake.schemas import APPLICATION_SCHEMA
from shared.clock import CHINA
from shared.personal import identity_problem
from shared.simulation.portal import REFUSALS, TEMPLATES, ApplicationFactory

IN_SEASON = datetime(2023, 7, 15, 10, 0, tzinfo=CHINA)


@pytest.fixture(scope="module")
def plan():
    p = load_plan_year(2023)
    p.publish(datetime(2023, 6, 1, tzinfo=CHINA))
    return p


@pytest.mark.parametrize("committee", sorted(TEMPLATES))
def test_valid_applications_pass_every_intake_rule(plan, committee):
    factory = ApplicationFactory(seed=7)
    for _ in range(20):
        app = APPLICATION_SCHEMA.load(factory.valid(committee))
        outcome = assess(app, plan, now=IN_SEASON)
        assert not outcome.violations, [v.as_dict() for v in outcome.violations]


@pytest.mark.parametrize("rule_id", sorted(REFUSALS))
def test_each_refusal_case_is_refused_by_the_rule_it_names(plan, rule_id):
    factory = ApplicationFactory(seed=11)
    app = APPLICATION_SCHEMA.load(factory.refused(rule_id))
    archive = None
    if rule_id == "INTAKE-REAPPLICANT":
        archive = PerformanceArchive(applicant_key="k", attempts=[
            Attempt(year=2022, committee_code="R22", title="工程师", outcome="failed",
                    decided_on=date(2022, 11, 20))])
    outcome = assess(app, plan, now=IN_SEASON, archive=archive)
    assert rule_id in {v.rule.id for v in outcome.violations}, \
        [v.as_dict() for v in outcome.violations]


def test_identity_numbers_are_valid_and_the_factory_is_deterministic():
    a, b = ApplicationFactory(seed=3), ApplicationFactory(seed=3)
    for _ in range(50):
        x, y = a.valid("D01"), b.valid("D01")
        assert x == y and identity_problem(x["applicant"]["identity_number"]) is None
    assert len({a.next_portal_id() for _ in range(10)}) == 10
