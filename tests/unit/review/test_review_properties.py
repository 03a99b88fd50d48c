"""Properties over many random inputs (hypothesis): working-day windows, and random sequences of
moves that never leave the state machine's graph."""
from __future__ import annotations

from datetime import date, timedelta

from hypothesis import given, settings, strategies as st

from shared.errors import ZhichengError
from shared.workdays import add_working_days, is_working_day, publicity_window, working_days_between
from services.review import case as cases
from services.review.case import CaseState
from services.review.meeting import record_panel, record_votes, schedule_meeting
from tests.unit.review.journey import COMMITTEE, POLICY, T_ACCEPT, new_case

S = CaseState
EDGES = {
    (S.ACCEPTED, S.QUALIFIED), (S.ACCEPTED, S.QUALIFICATION_FAILED),
    (S.QUALIFIED, S.PRE_REVIEW_PUBLICITY), (S.PRE_REVIEW_PUBLICITY, S.AWAITING_MEETING),
    (S.PRE_REVIEW_PUBLICITY, S.WITHDRAWN), (S.AWAITING_MEETING, S.ON_DOCKET),
    (S.ON_DOCKET, S.PASSED), (S.ON_DOCKET, S.FAILED), (S.ON_DOCKET, S.AWAITING_MEETING),
    (S.PASSED, S.POST_REVIEW_PUBLICITY), (S.POST_REVIEW_PUBLICITY, S.AWAITING_PUBLICATION),
    (S.POST_REVIEW_PUBLICITY, S.WITHDRAWN), (S.AWAITING_PUBLICATION, S.PUBLISHED),
    (S.PUBLISHED, S.CERTIFICATE_ISSUED), (S.PUBLISHED, S.RECOMMENDATION_FORWARDED),
}

days_2023_2025 = st.dates(min_value=date(2023, 1, 1), max_value=date(2025, 11, 30))


@given(start=days_2023_2025, n=st.integers(min_value=1, max_value=30))
def test_a_window_holds_exactly_n_working_days_and_ends_on_one(start, n):
    window = publicity_window(start, n)
    assert is_working_day(window.last_day) and is_working_day(window.first_working_day)
    assert working_days_between(window.starts_on, window.last_day) == n
    assert window.first_working_day >= start


@given(start=days_2023_2025, n=st.integers(min_value=0, max_value=40))
def test_adding_working_days_then_counting_them_back_agrees(start, n):
    end = add_working_days(start, n)
    assert working_days_between(start + timedelta(days=1), end) == n
    if n:
        assert add_working_days(end, -n) <= start


MOVES = ["pass", "fail", "publicity", "object", "uphold", "dismiss", "end", "schedule", "panel",
         "votes", "publish", "certify", "forward", "supplement"]


# moves that make sense in a state: drawn most of the time, so sequences get deep
LIKELY = {
    S.ACCEPTED: ["pass", "pass", "fail", "supplement"],
    S.QUALIFIED: ["publicity", "supplement"],
    S.PRE_REVIEW_PUBLICITY: ["end", "end", "object", "dismiss", "uphold", "schedule"],
    S.AWAITING_MEETING: ["schedule", "supplement"],
    S.ON_DOCKET: ["panel", "votes", "votes", "supplement"],
    S.PASSED: ["publicity", "publish"],
    S.POST_REVIEW_PUBLICITY: ["end", "end", "object", "dismiss", "uphold", "publish"],
    S.AWAITING_PUBLICATION: ["publish"],
    S.PUBLISHED: ["certify", "forward"],
}


@settings(max_examples=400, deadline=None)
@given(recommendation=st.booleans(), data=st.data())
def test_random_moves_follow_the_graph_and_refusals_change_nothing(recommendation, data):
    c = new_case(recommendation=recommendation)
    now = T_ACCEPT
    meeting = None
    frozen_seen = False
    for _ in range(data.draw(st.integers(min_value=0, max_value=40))):
        likely = LIKELY.get(c.state)
        if likely and data.draw(st.integers(0, 9)) < 8:
            move = data.draw(st.sampled_from(likely))
        else:
            move = data.draw(st.sampled_from(MOVES))
        hours = data.draw(st.sampled_from([0, 1, 6, 30, 100, 200]))
        k = data.draw(st.integers(min_value=0, max_value=9))
        now = now + timedelta(hours=hours)
        before = c
        try:
            if move == "pass":
                c = cases.pass_qualification(c, now=now).case
            elif move == "fail":
                c = cases.fail_qualification(c, reasons=["理由"], now=now).case
            elif move == "publicity":
                c = cases.start_publicity(c, starts_on=now.date(), now=now, policy=POLICY).case
            elif move == "object":
                c = cases.file_objection(c, objection_id=f"o{len(c.objections)}", now=now).case
            elif move in ("uphold", "dismiss"):
                open_ = c.open_objections
                if not open_:
                    continue
                c = cases.resolve_objection(c, objection_id=open_[0].objection_id,
                                            resolution="upheld" if move == "uphold"
                                            else "dismissed", reason="理由", now=now).case
            elif move == "end":
                c = cases.end_publicity(c, now=now).case
            elif move == "schedule":
                s = schedule_meeting(meeting_id=f"m{now.timestamp()}", committee_id=COMMITTEE,
                                     starts_at=now + timedelta(days=2), cases=[c], panel_size=9,
                                     now=now)
                c, meeting = s.cases[0], s.meeting
            elif move == "panel":
                if meeting is None:
                    continue
                meeting = record_panel(meeting, panel_id=f"p-{meeting.meeting_id}",
                                       panel_size=9, now=now)
            elif move == "votes":
                if meeting is None:
                    continue
                c = record_votes(meeting, c, present=9, yes=k, no=9 - k, abstain=0, now=now,
                                 policy=POLICY).case
            elif move == "publish":
                c = cases.publish_result(c, now=now).case
            elif move == "certify":
                c = cases.issue_certificate(c, certificate_number="SY-2023-000001-X", now=now).case
            elif move == "forward":
                c = cases.forward_recommendation(c, now=now).case
            elif move == "supplement":
                cases.supplement_materials(c, document_kinds=["x"], now=now)
        except ZhichengError:
            assert c is before  # a refusal hands back nothing new
            continue
        if c.state is not before.state:
            assert (before.state, c.state) in EDGES, (before.state, c.state)
            assert not before.state.is_final
        if frozen_seen:
            assert c.materials_frozen  # once frozen, always frozen
        frozen_seen = c.materials_frozen
        if c.state is S.CERTIFICATE_ISSUED:
            assert not c.recommendation
        if c.state is S.RECOMMENDATION_FORWARDED:
            assert c.recommendation
        if c.state in (S.AWAITING_MEETING, S.ON_DOCKET):
            assert c.publicity(cases.PublicityPhase.PRE_REVIEW).ended_at is not None
        if c.state is S.PUBLISHED:
            assert c.publicity(cases.PublicityPhase.POST_REVIEW).ended_at is not None
