"""Scheduling a meeting (评审会议), its panel, and the materials freeze (三(三))."""
from __future__ import annotations

from datetime import timedelta

import pytest

from shared.errors import Conflict, RuleRefused
from services.review import case as cases
from services.review.case import CaseState
from services.review.meeting import MeetingState, record_panel, record_votes, schedule_meeting
from tests.unit.review.journey import (
    COMMITTEE, MEETING_AT, POLICY, T_PANEL, T_SCHEDULE, T_VOTE, drive,
)

pytestmark = pytest.mark.unit


def two_waiting():
    return drive(CaseState.AWAITING_MEETING, case_id="a").case, \
        drive(CaseState.AWAITING_MEETING, case_id="b").case


def test_scheduling_puts_the_docket_on_the_meeting_freezes_materials_and_asks_for_a_panel():
    a, b = two_waiting()
    s = schedule_meeting(meeting_id="m1", committee_id=COMMITTEE, starts_at=MEETING_AT,
                         cases=[a, b], panel_size=9, now=T_SCHEDULE)
    assert s.meeting.state is MeetingState.SCHEDULED and s.meeting.docket == ("a", "b")
    assert all(c.state is CaseState.ON_DOCKET and c.materials_frozen for c in s.cases)
    assert [e.event_type for e in s.events] == [
        "meeting_scheduled", "materials_frozen", "materials_frozen", "panel_requested"]
    assert s.events[0].payload["case_ids"] == ["a", "b"]
    assert s.events[-1].payload["panel_size"] == 9
    assert s.events[-1].payload["specialties"] == ["机电制造"]
    # applicants travel by case id with their employer (回避), never by applicant key
    assert s.events[-1].payload["applicants"] == [
        {"applicant_ref": "a", "employer": "绍兴某机电有限公司a"},
        {"applicant_ref": "b", "employer": "绍兴某机电有限公司b"}]
    assert "applicant-a" not in repr(s.events)


def test_materials_of_a_docketed_case_cannot_be_supplemented():
    a, _ = two_waiting()
    s = schedule_meeting(meeting_id="m1", committee_id=COMMITTEE, starts_at=MEETING_AT,
                         cases=[a], panel_size=9, now=T_SCHEDULE)
    with pytest.raises(RuleRefused) as caught:
        cases.supplement_materials(s.cases[0], document_kinds=["缺失的论文"], now=T_SCHEDULE)
    violation = caught.value.violations[0]
    assert violation.rule.id == "REVIEW-MATERIALS-FROZEN" and violation.rule.clause == "三(三)"
    assert violation.context["meeting_id"] == "m1"


def test_scheduling_refuses_with_every_failing_case_and_changes_nothing():
    ready = drive(CaseState.AWAITING_MEETING, case_id="ok").case
    early = drive(CaseState.PRE_REVIEW_PUBLICITY, case_id="early").case
    done = drive(CaseState.FAILED, case_id="done").case
    with pytest.raises(RuleRefused) as caught:
        schedule_meeting(meeting_id="m1", committee_id=COMMITTEE, starts_at=MEETING_AT,
                         cases=[ready, early, done], panel_size=9, now=T_SCHEDULE)
    found = [(v.rule.id, v.context.get("case_id")) for v in caught.value.violations]
    assert found == [("REVIEW-MEETING-AFTER-PUBLICITY", "early"), ("REVIEW-CASE-FLOW", "done")]
    assert ready.state is CaseState.AWAITING_MEETING and not ready.materials_frozen


def test_scheduling_refuses_an_empty_docket_a_past_date_a_duplicate_and_no_panel():
    a, _ = two_waiting()
    with pytest.raises(RuleRefused) as caught:
        schedule_meeting(meeting_id="m1", committee_id=COMMITTEE, starts_at=T_SCHEDULE,
                         cases=[], panel_size=0, now=T_SCHEDULE)
    assert {v.field for v in caught.value.violations} == {"docket", "starts_at", "panel_size"}
    assert {v.rule.id for v in caught.value.violations} == {"REVIEW-MEETING-DOCKET"}
    with pytest.raises(RuleRefused) as caught:
        schedule_meeting(meeting_id="m1", committee_id=COMMITTEE, starts_at=MEETING_AT,
                         cases=[a, a], panel_size=9, now=T_SCHEDULE)
    assert caught.value.violations[0].context["case_ids"] == ["a"]


def test_a_meeting_cannot_start_before_the_pre_review_notice_closed():
    a, _ = two_waiting()
    closes = a.publicity(cases.PublicityPhase.PRE_REVIEW).window.closes_at
    with pytest.raises(RuleRefused) as caught:
        cases.place_on_docket(a, meeting_id="m", committee_id=COMMITTEE,
                              starts_at=closes - timedelta(hours=1), now=closes)
    assert caught.value.rule == "REVIEW-MEETING-AFTER-PUBLICITY"


def test_votes_wait_for_the_panel_and_the_meeting_to_start():
    a, _ = two_waiting()
    s = schedule_meeting(meeting_id="m1", committee_id=COMMITTEE, starts_at=MEETING_AT,
                         cases=[a], panel_size=9, now=T_SCHEDULE)
    with pytest.raises(RuleRefused) as caught:
        record_votes(s.meeting, s.cases[0], present=9, yes=9, no=0, abstain=0,
                     now=MEETING_AT - timedelta(minutes=1), policy=POLICY)
    assert [v.field for v in caught.value.violations] == ["panel", "now"]
    assert {v.rule.id for v in caught.value.violations} == {"REVIEW-MEETING-PANEL"}
    meeting = record_panel(s.meeting, panel_id="p1", panel_size=9, now=T_PANEL)
    assert meeting.state is MeetingState.PANEL_DRAWN and meeting.panel_size == 9
    t = record_votes(meeting, s.cases[0], present=9, yes=9, no=0, abstain=0, now=T_VOTE,
                     policy=POLICY)
    assert t.case.state is CaseState.PASSED


def test_quorum_is_checked_against_the_drawn_panel():
    a, _ = two_waiting()
    s = schedule_meeting(meeting_id="m1", committee_id=COMMITTEE, starts_at=MEETING_AT,
                         cases=[a], panel_size=9, now=T_SCHEDULE)
    meeting = record_panel(s.meeting, panel_id="p1", panel_size=7, now=T_PANEL)
    t = record_votes(meeting, s.cases[0], present=5, yes=4, no=1, abstain=0, now=T_VOTE,
                     policy=POLICY)
    assert t.case.state is CaseState.PASSED  # 5 of 7 >= 4.67; 4 of 5 >= 3.33


def test_the_same_panel_twice_changes_nothing_and_a_different_one_conflicts():
    s = drive(CaseState.ON_DOCKET)
    assert record_panel(s.meeting, panel_id="panel-1", panel_size=9, now=T_VOTE) == s.meeting
    with pytest.raises(Conflict):
        record_panel(s.meeting, panel_id="panel-2", panel_size=9, now=T_VOTE)


def test_votes_for_a_case_on_another_docket_are_refused():
    s = drive(CaseState.ON_DOCKET)
    other = drive(CaseState.ON_DOCKET, case_id="other").case
    from dataclasses import replace
    other = replace(other, meeting_id="meeting-9")
    with pytest.raises(RuleRefused) as caught:
        record_votes(s.meeting, other, present=9, yes=9, no=0, abstain=0, now=T_VOTE,
                     policy=POLICY)
    assert caught.value.rule == "REVIEW-CASE-FLOW"


def test_an_inconsistent_tally_is_refused_with_the_panel_rules_together():
    s = drive(CaseState.ON_DOCKET)
    with pytest.raises(RuleRefused) as caught:
        record_votes(s.meeting, s.case, present=10, yes=10, no=0, abstain=0, now=T_VOTE,
                     policy=POLICY)
    assert caught.value.rule == "REVIEW-VOTE-TALLY"
    assert s.case.state is CaseState.ON_DOCKET
