"""An official's refused attempt (a ``*_refused`` event, shared/refusals.py) is reportable: the
matching monitor raises its rule for it; a refusal by another rule is not that monitor's."""
import pytest

from services.audit.monitors import (
    EmergencyDrawCap, MaterialsFrozen, MonitorSuite, PlanDeadlineFixed, PublicityBeforeMeeting,
)
from tests.unit.audit.test_monitors import Stream, at, run

pytestmark = pytest.mark.unit


def refused(**payload):
    return {"refused_at": at(1), "attempted_by": "clerk", **payload}


def test_a_refused_unapproved_deadline_change_is_a_plan_deadline_violation():
    s = Stream()("plan_published", year=2023, committee_codes=["R22"], published_at=at(0))
    s("plan_deadline_change_refused", **refused(year=2023, committee_code="R22",
                                                new_deadline="2023-09-30",
                                                rules=["INTAKE-PLAN-DEADLINE-FROZEN"]))
    found = run(PlanDeadlineFixed(), s)
    assert [(f.rule.id, f.subject_id, f.committee_id) for f in found] == [
        ("AUDIT-PLAN-DEADLINE", "2023/R22", "R22")]
    assert "refused" in found[0].violation.detail


def test_a_deadline_change_refused_for_another_rule_is_no_plan_deadline_violation():
    s = Stream()("plan_deadline_change_refused", **refused(
        year=2023, committee_code="R22", new_deadline="2024-01-31",
        rules=["INTAKE-PLAN-YEAR-END"]))
    assert run(PlanDeadlineFixed(), s) == []


def test_a_refused_meeting_before_publicity_ended_is_a_pre_review_violation():
    s = Stream()("meeting_scheduling_refused", **refused(
        committee_id="R22", starts_at=at(2), case_ids=["C1"],
        rules=["REVIEW-MEETING-AFTER-PUBLICITY"]))
    found = run(PublicityBeforeMeeting(), s)
    assert [(f.rule.id, f.subject_id) for f in found] == [("AUDIT-PRE-REVIEW-PUBLICITY", "C1")]


def test_a_refused_materials_change_after_freeze_is_a_materials_frozen_violation():
    s = Stream()("materials_frozen", case_id="C1", submission_id="S1", committee_id="R22",
                 meeting_id="M1", at=at(0))
    s("materials_supplement_refused", **refused(case_id="C1", committee_id="R22",
                                                document_kinds=["x"],
                                                rules=["REVIEW-MATERIALS-FROZEN"]))
    found = run(MaterialsFrozen(), s)
    assert [(f.rule.id, f.subject_id) for f in found] == [("AUDIT-MATERIALS-FROZEN", "C1")]


@pytest.mark.parametrize("rule", ["EXPERTS-EMERGENCY-CAP", "EXPERTS-EMERGENCY-APPROVAL"])
def test_a_refused_emergency_draw_beyond_cap_or_approval_is_an_emergency_violation(rule):
    s = Stream()("emergency_draw_refused", **refused(meeting_id="M1", stage="approval", seats=1,
                                                     approval_id=None, rules=[rule]))
    found = run(EmergencyDrawCap(), s)
    assert [(f.rule.id, f.subject_id) for f in found] == [("AUDIT-EMERGENCY-DRAW", "M1")]


def test_the_standard_suite_watches_every_refusal_event():
    assert {"plan_deadline_change_refused", "meeting_scheduling_refused",
            "materials_supplement_refused", "emergency_draw_refused"} <= \
        MonitorSuite.standard().event_types
