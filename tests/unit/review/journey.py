"""Builders that drive a review case through its moves to any state, on a 2023 timeline.

Imported by the review unit tests as ``tests.unit.review.journey``.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from shared.clock import CHINA
from services.review import case as cases
from services.review.case import Case, CaseState
from services.review.meeting import Meeting, record_panel, record_votes, schedule_meeting
from services.review.rules import ReviewPolicy

POLICY = ReviewPolicy()
COMMITTEE = "sx-jidian-zhongji"  # 绍兴市机电制造工程技术人员中级专业技术职务任职资格评审委员会


def at(y, m, d, hh=9, mm=0):
    return datetime(y, m, d, hh, mm, tzinfo=CHINA)


T_ACCEPT = at(2023, 9, 20)
T_QUALIFY = at(2023, 9, 25)
T_PRE_STARTED = at(2023, 9, 26, 17)
PRE_STARTS_ON = date(2023, 9, 27)        # window 09-27, 09-28, 10-07, 10-08, 10-09
T_IN_PRE = at(2023, 9, 28, 10)
T_PRE_END = at(2023, 10, 10, 9)
T_SCHEDULE = at(2023, 10, 10, 10)
MEETING_AT = at(2023, 10, 20, 9)
T_PANEL = at(2023, 10, 12, 9)
T_VOTE = at(2023, 10, 20, 11)
T_POST_STARTED = at(2023, 10, 20, 15)
POST_STARTS_ON = date(2023, 10, 23)      # window 10-23 .. 10-27
T_IN_POST = at(2023, 10, 24, 10)
T_POST_END = at(2023, 10, 30, 9)
T_PUBLISH = at(2023, 10, 30, 10)
T_CERTIFY = at(2023, 10, 31, 9)


@dataclass
class Scenario:
    case: Case
    meeting: Meeting | None
    now: datetime


def new_case(case_id="case-1", *, recommendation=False, committee=COMMITTEE) -> Case:
    return cases.open_case(
        case_id=case_id, submission_id=f"sub-{case_id}", applicant_key=f"applicant-{case_id}",
        committee_id=committee, committee_name="绍兴市机电制造工程技术人员中级评委会",
        title="高级工程师（推荐）" if recommendation else "工程师", specialty="机电制造",
        year=2023, recommendation=recommendation, now=T_ACCEPT,
        employer=f"绍兴某机电有限公司{case_id}").case


def drive(state: CaseState, *, recommendation=None, case_id="case-1") -> Scenario:
    """A case in ``state``, reached through the allowed moves only (a recommendation case when
    the state is recommendation_forwarded, unless told)."""
    if recommendation is None:
        recommendation = state is CaseState.RECOMMENDATION_FORWARDED
    c = new_case(case_id, recommendation=recommendation)
    meeting = None
    if state is CaseState.ACCEPTED:
        return Scenario(c, None, T_ACCEPT)
    if state is CaseState.QUALIFICATION_FAILED:
        return Scenario(cases.fail_qualification(c, reasons=["任职年限不足"], now=T_QUALIFY).case,
                        None, T_QUALIFY)
    c = cases.pass_qualification(c, now=T_QUALIFY).case
    if state is CaseState.QUALIFIED:
        return Scenario(c, None, T_QUALIFY)
    c = cases.start_publicity(c, starts_on=PRE_STARTS_ON, now=T_PRE_STARTED, policy=POLICY).case
    if state is CaseState.PRE_REVIEW_PUBLICITY:
        return Scenario(c, None, T_IN_PRE)
    if state is CaseState.WITHDRAWN:
        c = cases.file_objection(c, objection_id="obj-1", now=T_IN_PRE).case
        c = cases.resolve_objection(c, objection_id="obj-1", resolution="upheld",
                                    reason="业绩材料不实", now=T_IN_PRE + timedelta(hours=1)).case
        return Scenario(c, None, T_IN_PRE + timedelta(hours=1))
    c = cases.end_publicity(c, now=T_PRE_END).case
    if state is CaseState.AWAITING_MEETING:
        return Scenario(c, None, T_PRE_END)
    scheduled = schedule_meeting(meeting_id="meeting-1", committee_id=COMMITTEE,
                                 starts_at=MEETING_AT, cases=[c], panel_size=9, now=T_SCHEDULE)
    c, meeting = scheduled.cases[0], scheduled.meeting
    meeting = record_panel(meeting, panel_id="panel-1", panel_size=9, now=T_PANEL)
    if state is CaseState.ON_DOCKET:
        return Scenario(c, meeting, T_VOTE)
    if state is CaseState.FAILED:
        c = record_votes(meeting, c, present=9, yes=5, no=3, abstain=1, now=T_VOTE,
                         policy=POLICY).case
        return Scenario(c, meeting, T_VOTE)
    c = record_votes(meeting, c, present=9, yes=6, no=2, abstain=1, now=T_VOTE, policy=POLICY).case
    if state is CaseState.PASSED:
        return Scenario(c, meeting, T_VOTE)
    c = cases.start_publicity(c, starts_on=POST_STARTS_ON, now=T_POST_STARTED, policy=POLICY).case
    if state is CaseState.POST_REVIEW_PUBLICITY:
        return Scenario(c, meeting, T_IN_POST)
    c = cases.end_publicity(c, now=T_POST_END).case
    if state is CaseState.AWAITING_PUBLICATION:
        return Scenario(c, meeting, T_POST_END)
    c = cases.publish_result(c, now=T_PUBLISH).case
    if state is CaseState.PUBLISHED:
        return Scenario(c, meeting, T_PUBLISH)
    if state is CaseState.CERTIFICATE_ISSUED:
        return Scenario(cases.issue_certificate(c, certificate_number="SY-2023-000001-X",
                                                now=T_CERTIFY).case, meeting, T_CERTIFY)
    if state is CaseState.RECOMMENDATION_FORWARDED:
        return Scenario(cases.forward_recommendation(c, now=T_CERTIFY).case, meeting, T_CERTIFY)
    raise AssertionError(state)
