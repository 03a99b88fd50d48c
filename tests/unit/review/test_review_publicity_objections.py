"""Public notices (公示) across the 2023 National Day holiday, and objections (异议)."""
from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest

from shared.clock import CHINA
from shared.errors import Conflict, InvalidInput, NotFound, RuleRefused
from shared.workdays import CalendarOutOfRange
from services.review import case as cases
from services.review.case import CaseState, ObjectionResolution
from services.review.meeting import schedule_meeting
from tests.unit.review.journey import (
    COMMITTEE, POLICY, T_IN_POST, T_IN_PRE, T_PRE_STARTED, drive,
)

pytestmark = pytest.mark.unit


def at(y, m, d, hh=9, mm=0):
    return datetime(y, m, d, hh, mm, tzinfo=CHINA)


def test_pre_review_window_across_national_day_ends_after_the_make_up_weekend():
    s = drive(CaseState.QUALIFIED)
    t = cases.start_publicity(s.case, starts_on=date(2023, 9, 27), now=T_PRE_STARTED, policy=POLICY)
    window = t.case.current_publicity.window
    # 09-27 Wed, 09-28 Thu, [09-29..10-06 holiday], 10-07 Sat (调休), 10-08 Sun (调休), 10-09 Mon
    assert window.last_day == date(2023, 10, 9)
    with pytest.raises(RuleRefused):
        cases.end_publicity(t.case, now=at(2023, 10, 9, 23, 59))
    assert cases.end_publicity(t.case, now=at(2023, 10, 10, 0, 0)).case.state is \
        CaseState.AWAITING_MEETING


def test_a_window_counted_on_weekdays_only_would_end_too_early():
    s = drive(CaseState.QUALIFIED)
    t = cases.start_publicity(s.case, starts_on=date(2023, 9, 27), now=T_PRE_STARTED, policy=POLICY)
    # five calendar weekdays from 09-27 end on 10-03, in the middle of the holiday
    with pytest.raises(RuleRefused) as caught:
        cases.end_publicity(t.case, now=at(2023, 10, 4))
    assert caught.value.rule == "REVIEW-PUBLICITY-RUNNING"


def test_a_notice_announced_during_the_holiday_counts_from_the_make_up_saturday():
    s = drive(CaseState.QUALIFIED)
    t = cases.start_publicity(s.case, starts_on=date(2023, 10, 1), now=at(2023, 9, 28),
                              policy=POLICY)
    window = t.case.current_publicity.window
    assert window.first_working_day == date(2023, 10, 7)
    assert window.last_day == date(2023, 10, 11)


def test_a_notice_in_a_year_without_calendar_data_is_refused_clearly():
    s = drive(CaseState.QUALIFIED)
    with pytest.raises(CalendarOutOfRange):
        cases.start_publicity(s.case, starts_on=date(2099, 3, 2), now=T_PRE_STARTED, policy=POLICY)


def test_an_objection_during_the_window_holds_the_case_past_its_end():
    s = drive(CaseState.PRE_REVIEW_PUBLICITY)
    held = cases.file_objection(s.case, objection_id="o1", now=T_IN_PRE).case
    assert held.is_held
    closes = held.current_publicity.window.closes_at
    assert not cases.is_publicity_due(held, closes + timedelta(days=3))
    with pytest.raises(RuleRefused) as caught:
        cases.end_publicity(held, now=closes + timedelta(days=3))
    assert [v.rule.id for v in caught.value.violations] == ["REVIEW-OBJECTION-HOLDS"]


def test_a_held_case_cannot_go_on_a_docket_and_both_reasons_are_given():
    s = drive(CaseState.PRE_REVIEW_PUBLICITY)
    held = cases.file_objection(s.case, objection_id="o1", now=T_IN_PRE).case
    with pytest.raises(RuleRefused) as caught:
        schedule_meeting(meeting_id="m", committee_id=COMMITTEE, starts_at=at(2023, 10, 20),
                         cases=[held], panel_size=9, now=at(2023, 10, 12))
    assert [v.rule.id for v in caught.value.violations] == [
        "REVIEW-MEETING-AFTER-PUBLICITY", "REVIEW-OBJECTION-HOLDS"]


def test_refuses_an_objection_after_the_window_closed():
    s = drive(CaseState.PRE_REVIEW_PUBLICITY)
    closes = s.case.current_publicity.window.closes_at
    with pytest.raises(RuleRefused) as caught:
        cases.file_objection(s.case, objection_id="late", now=closes)
    assert caught.value.rule == "REVIEW-OBJECTION-WINDOW"
    # the last second of the last day is still in time
    t = cases.file_objection(s.case, objection_id="just", now=closes - timedelta(seconds=1))
    assert t.case.is_held


def test_refuses_an_objection_before_the_window_opens():
    s = drive(CaseState.QUALIFIED)
    later = cases.start_publicity(s.case, starts_on=date(2023, 10, 16), now=at(2023, 10, 10),
                                  policy=POLICY).case
    with pytest.raises(RuleRefused) as caught:
        cases.file_objection(later, objection_id="early", now=at(2023, 10, 13))
    assert caught.value.rule == "REVIEW-OBJECTION-WINDOW"


def test_an_upheld_objection_withdraws_the_case_with_its_reason():
    s = drive(CaseState.PRE_REVIEW_PUBLICITY)
    held = cases.file_objection(s.case, objection_id="o1", now=T_IN_PRE).case
    t = cases.resolve_objection(held, objection_id="o1", resolution=ObjectionResolution.UPHELD,
                                reason="论文存在抄袭", now=T_IN_PRE + timedelta(days=1))
    assert t.case.state is CaseState.WITHDRAWN and t.case.withdrawal_reason == "论文存在抄袭"
    assert [e.event_type for e in t.events] == ["objection_resolved", "case_withdrawn"]
    assert t.events[0].payload["resolution"] == "upheld"


def test_an_upheld_objection_needs_a_reason():
    s = drive(CaseState.PRE_REVIEW_PUBLICITY)
    held = cases.file_objection(s.case, objection_id="o1", now=T_IN_PRE).case
    with pytest.raises(RuleRefused) as caught:
        cases.resolve_objection(held, objection_id="o1", resolution="upheld", reason=" ",
                                now=T_IN_PRE)
    assert caught.value.rule == "REVIEW-OBJECTION-RESOLUTION"


def test_a_dismissed_objection_inside_the_window_lets_the_notice_run_on():
    s = drive(CaseState.PRE_REVIEW_PUBLICITY)
    held = cases.file_objection(s.case, objection_id="o1", now=T_IN_PRE).case
    t = cases.resolve_objection(held, objection_id="o1", resolution="dismissed", reason="",
                                now=T_IN_PRE + timedelta(hours=2))
    assert t.case.state is CaseState.PRE_REVIEW_PUBLICITY and not t.case.is_held
    assert [e.event_type for e in t.events] == ["objection_resolved"]
    assert cases.is_publicity_due(t.case, t.case.current_publicity.window.closes_at)


def test_a_dismissed_objection_after_the_window_ends_the_notice_at_once():
    s = drive(CaseState.POST_REVIEW_PUBLICITY)
    held = cases.file_objection(s.case, objection_id="o1", now=T_IN_POST).case
    after = held.current_publicity.window.closes_at + timedelta(days=2)
    t = cases.resolve_objection(held, objection_id="o1", resolution="dismissed", reason="不属实",
                                now=after)
    assert t.case.state is CaseState.AWAITING_PUBLICATION
    assert [e.event_type for e in t.events] == ["objection_resolved", "publicity_ended"]


def test_a_case_with_two_objections_stays_held_until_both_are_resolved():
    s = drive(CaseState.POST_REVIEW_PUBLICITY)
    c = cases.file_objection(s.case, objection_id="o1", now=T_IN_POST).case
    c = cases.file_objection(c, objection_id="o2", now=T_IN_POST + timedelta(hours=1)).case
    after = c.current_publicity.window.closes_at + timedelta(days=1)
    c = cases.resolve_objection(c, objection_id="o1", resolution="dismissed", reason="", now=after).case
    assert c.state is CaseState.POST_REVIEW_PUBLICITY and c.is_held
    with pytest.raises(RuleRefused) as caught:
        cases.publish_result(c, now=after)
    assert [v.rule.id for v in caught.value.violations] == [
        "REVIEW-PUBLICATION-AFTER-PUBLICITY", "REVIEW-OBJECTION-HOLDS"]
    c = cases.resolve_objection(c, objection_id="o2", resolution="dismissed", reason="", now=after).case
    assert c.state is CaseState.AWAITING_PUBLICATION


def test_an_objection_is_resolved_only_once():
    s = drive(CaseState.PRE_REVIEW_PUBLICITY)
    c = cases.file_objection(s.case, objection_id="o1", now=T_IN_PRE).case
    c = cases.file_objection(c, objection_id="o2", now=T_IN_PRE).case
    c = cases.resolve_objection(c, objection_id="o1", resolution="dismissed", reason="",
                                now=T_IN_PRE).case
    with pytest.raises(RuleRefused) as caught:
        cases.resolve_objection(c, objection_id="o1", resolution="upheld", reason="x", now=T_IN_PRE)
    assert caught.value.rule == "REVIEW-OBJECTION-RESOLUTION"


def test_unknown_or_duplicate_objections_and_bad_resolutions_are_errors():
    s = drive(CaseState.PRE_REVIEW_PUBLICITY)
    c = cases.file_objection(s.case, objection_id="o1", now=T_IN_PRE).case
    with pytest.raises(Conflict):
        cases.file_objection(c, objection_id="o1", now=T_IN_PRE)
    with pytest.raises(NotFound):
        cases.resolve_objection(c, objection_id="nope", resolution="dismissed", reason="",
                                now=T_IN_PRE)
    with pytest.raises(InvalidInput):
        cases.resolve_objection(c, objection_id="o1", resolution="maybe", reason="", now=T_IN_PRE)


def test_no_publication_before_the_post_review_notice_has_ended():
    s = drive(CaseState.POST_REVIEW_PUBLICITY)
    with pytest.raises(RuleRefused) as caught:
        cases.publish_result(s.case, now=s.case.current_publicity.window.closes_at
                             - timedelta(minutes=1))
    assert caught.value.rule == "REVIEW-PUBLICATION-AFTER-PUBLICITY"
    assert "三(二)" == caught.value.violations[0].rule.clause


def test_no_meeting_before_the_pre_review_notice_has_ended():
    s = drive(CaseState.PRE_REVIEW_PUBLICITY)
    with pytest.raises(RuleRefused) as caught:
        schedule_meeting(meeting_id="m", committee_id=COMMITTEE, starts_at=at(2023, 10, 20),
                         cases=[s.case], panel_size=9, now=T_IN_PRE)
    violation = caught.value.violations[0]
    assert violation.rule.id == "REVIEW-MEETING-AFTER-PUBLICITY" and violation.rule.clause == "三(二)"
    assert violation.context["case_id"] == "case-1"
