"""Every move of the review case state machine, allowed and refused."""
from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta

import pytest

from shared.errors import InvalidInput, RuleRefused
from services.review import case as cases
from services.review.case import CaseState, PublicityPhase
from services.review.meeting import record_votes
from tests.unit.review.journey import (
    COMMITTEE, MEETING_AT, POLICY, T_ACCEPT, drive, new_case,
)

pytestmark = pytest.mark.unit

S = CaseState

# The expected table, written out independently of case.ALLOWED_FROM.
EXPECTED_ALLOWED = {
    "pass_qualification": {S.ACCEPTED},
    "fail_qualification": {S.ACCEPTED},
    "start_publicity": {S.QUALIFIED, S.PASSED},
    "file_objection": {S.PRE_REVIEW_PUBLICITY, S.POST_REVIEW_PUBLICITY},
    "resolve_objection": {S.PRE_REVIEW_PUBLICITY, S.POST_REVIEW_PUBLICITY},
    "end_publicity": {S.PRE_REVIEW_PUBLICITY, S.POST_REVIEW_PUBLICITY},
    "supplement_materials": {S.ACCEPTED, S.QUALIFIED, S.PRE_REVIEW_PUBLICITY, S.AWAITING_MEETING},
    "place_on_docket": {S.AWAITING_MEETING},
    "record_votes": {S.ON_DOCKET},
    "publish_result": {S.AWAITING_PUBLICATION},
    "issue_certificate": {S.PUBLISHED},
    "forward_recommendation": {S.PUBLISHED},
}

# States whose materials are frozen (they have been on a meeting's docket).
FROZEN = {S.ON_DOCKET, S.PASSED, S.FAILED, S.POST_REVIEW_PUBLICITY, S.AWAITING_PUBLICATION,
          S.PUBLISHED, S.CERTIFICATE_ISSUED, S.RECOMMENDATION_FORWARDED}


def attempt(move, scenario):
    c, now = scenario.case, scenario.now + timedelta(minutes=1)
    if move == "pass_qualification":
        return cases.pass_qualification(c, now=now)
    if move == "fail_qualification":
        return cases.fail_qualification(c, reasons=["学历不符"], now=now)
    if move == "start_publicity":
        return cases.start_publicity(c, starts_on=now.date() + timedelta(days=1), now=now,
                                     policy=POLICY)
    if move == "file_objection":
        return cases.file_objection(c, objection_id="obj-x", now=now)
    if move == "resolve_objection":
        return cases.resolve_objection(c, objection_id="obj-x", resolution="dismissed",
                                       reason="", now=now)
    if move == "end_publicity":
        return cases.end_publicity(c, now=now + timedelta(days=60))
    if move == "supplement_materials":
        return cases.supplement_materials(c, document_kinds=["业绩证明"], now=now)
    if move == "place_on_docket":
        return cases.place_on_docket(c, meeting_id="meeting-2", committee_id=COMMITTEE,
                                     starts_at=now + timedelta(days=10), now=now)
    if move == "record_votes":
        meeting = scenario.meeting or drive(S.ON_DOCKET).meeting
        return record_votes(meeting, c, present=9, yes=9, no=0, abstain=0,
                            now=max(now, MEETING_AT + timedelta(hours=1)), policy=POLICY)
    if move == "publish_result":
        return cases.publish_result(c, now=now)
    if move == "issue_certificate":
        return cases.issue_certificate(c, certificate_number="SY-2023-000002-X", now=now)
    if move == "forward_recommendation":
        return cases.forward_recommendation(c, now=now)
    raise AssertionError(move)


def expected_refusal_rule(move, state):
    if move == "place_on_docket" and state in {S.ACCEPTED, S.QUALIFIED, S.PRE_REVIEW_PUBLICITY}:
        return "REVIEW-MEETING-AFTER-PUBLICITY"
    if move == "publish_result" and state in {S.PASSED, S.POST_REVIEW_PUBLICITY}:
        return "REVIEW-PUBLICATION-AFTER-PUBLICITY"
    if move == "supplement_materials" and state in FROZEN:
        return "REVIEW-MATERIALS-FROZEN"
    return "REVIEW-CASE-FLOW"


def test_the_implemented_table_matches_the_expected_table():
    assert {m: set(s) for m, s in cases.ALLOWED_FROM.items() if m != "record_decision"} == {
        m: s for m, s in EXPECTED_ALLOWED.items() if m != "record_votes"}
    assert set(cases.ALLOWED_FROM["record_decision"]) == EXPECTED_ALLOWED["record_votes"]


REFUSED = [(m, s) for m in EXPECTED_ALLOWED for s in CaseState if s not in EXPECTED_ALLOWED[m]]


@pytest.mark.parametrize("move,state", REFUSED, ids=[f"{m}-from-{s.value}" for m, s in REFUSED])
def test_refuses_a_move_the_state_does_not_allow_and_changes_nothing(move, state):
    scenario = drive(state)
    before = scenario.case
    snapshot = replace(before)
    with pytest.raises(RuleRefused) as caught:
        attempt(move, scenario)
    rules = [v.rule.id for v in caught.value.violations]
    assert rules[0] == expected_refusal_rule(move, state)
    assert caught.value.status == 422 and caught.value.rule == rules[0]
    assert scenario.case == snapshot and scenario.case.state is state


def test_every_state_is_reachable_and_final_states_allow_no_move():
    for state in CaseState:
        assert drive(state).case.state is state
    finals = {s for s in CaseState if s.is_final}
    assert finals == {S.QUALIFICATION_FAILED, S.FAILED, S.CERTIFICATE_ISSUED,
                      S.RECOMMENDATION_FORWARDED, S.WITHDRAWN}
    for move, allowed in EXPECTED_ALLOWED.items():
        assert not allowed & finals, move


# --- the allowed moves, one by one --------------------------------------------------------------

def test_opening_a_case_records_acceptance():
    t = cases.open_case(case_id="c9", submission_id="s9", applicant_key="a9", committee_id=COMMITTEE,
                        committee_name="x", title="工程师", specialty="机电", year=2023,
                        recommendation=False, now=T_ACCEPT)
    assert t.case.state is S.ACCEPTED and [e.event_type for e in t.events] == ["case_opened"]


def test_opening_a_case_without_a_submission_is_invalid():
    with pytest.raises(InvalidInput):
        cases.open_case(case_id="c9", submission_id="", applicant_key="a9", committee_id=COMMITTEE,
                        committee_name="x", title="工程师", specialty="机电", year=2023,
                        recommendation=False, now=T_ACCEPT)


def test_passes_qualification_review_from_accepted():
    s = drive(S.ACCEPTED)
    t = cases.pass_qualification(s.case, now=s.now)
    assert t.case.state is S.QUALIFIED
    assert [e.event_type for e in t.events] == ["qualification_passed"]
    assert t.events[0].payload["case_id"] == "case-1"


def test_fails_qualification_review_with_its_reasons():
    s = drive(S.ACCEPTED)
    t = cases.fail_qualification(s.case, reasons=["任职年限不足", " ", "学历不符"], now=s.now)
    assert t.case.state is S.QUALIFICATION_FAILED and t.case.closed_at == s.now
    assert t.case.qualification_reasons == ("任职年限不足", "学历不符")
    assert t.events[0].event_type == "qualification_failed"
    assert t.events[0].payload["reasons"] == ["任职年限不足", "学历不符"]


def test_refuses_a_qualification_failure_without_reasons():
    s = drive(S.ACCEPTED)
    with pytest.raises(RuleRefused) as caught:
        cases.fail_qualification(s.case, reasons=["  "], now=s.now)
    assert caught.value.rule == "REVIEW-QUALIFICATION-REASONS"


def test_refusal_lists_every_failed_rule_not_only_the_first():
    s = drive(S.QUALIFIED)
    with pytest.raises(RuleRefused) as caught:
        cases.fail_qualification(s.case, reasons=[], now=s.now)
    assert [v.rule.id for v in caught.value.violations] == [
        "REVIEW-CASE-FLOW", "REVIEW-QUALIFICATION-REASONS"]


def test_starts_pre_review_publicity_for_a_qualified_case():
    s = drive(S.QUALIFIED)
    t = cases.start_publicity(s.case, starts_on=date(2023, 9, 27), now=s.now, policy=POLICY)
    assert t.case.state is S.PRE_REVIEW_PUBLICITY
    assert t.case.current_publicity.phase is PublicityPhase.PRE_REVIEW
    payload = t.events[0].payload
    assert t.events[0].event_type == "publicity_started"
    assert payload["phase"] == "pre_review" and payload["last_day"] == "2023-10-09"
    assert payload["working_days"] == 5


def test_starts_post_review_publicity_for_a_passed_case():
    s = drive(S.PASSED)
    t = cases.start_publicity(s.case, starts_on=date(2023, 10, 23), now=s.now, policy=POLICY)
    assert t.case.state is S.POST_REVIEW_PUBLICITY
    assert t.events[0].payload["phase"] == "post_review"
    assert t.events[0].payload["last_day"] == "2023-10-27"


def test_refuses_publicity_shorter_than_five_working_days():
    s = drive(S.QUALIFIED)
    with pytest.raises(RuleRefused) as caught:
        cases.start_publicity(s.case, starts_on=date(2023, 9, 27), now=s.now, policy=POLICY,
                              working_days=4)
    assert caught.value.rule == "REVIEW-PUBLICITY-DAYS"


def test_allows_publicity_longer_than_the_minimum():
    s = drive(S.QUALIFIED)
    t = cases.start_publicity(s.case, starts_on=date(2023, 9, 27), now=s.now, policy=POLICY,
                              working_days=7)
    assert t.case.current_publicity.window.last_day == date(2023, 10, 11)


def test_refuses_a_backdated_publicity():
    s = drive(S.QUALIFIED)
    with pytest.raises(RuleRefused) as caught:
        cases.start_publicity(s.case, starts_on=s.now.date() - timedelta(days=1), now=s.now,
                              policy=POLICY)
    assert caught.value.rule == "REVIEW-PUBLICITY-START"


def test_ends_publicity_after_its_window_moving_to_the_next_step():
    pre = drive(S.PRE_REVIEW_PUBLICITY)
    closes = pre.case.current_publicity.window.closes_at
    t = cases.end_publicity(pre.case, now=closes)
    assert t.case.state is S.AWAITING_MEETING
    assert t.events[0].event_type == "publicity_ended" and t.events[0].payload["phase"] == "pre_review"
    post = drive(S.POST_REVIEW_PUBLICITY)
    t = cases.end_publicity(post.case, now=post.case.current_publicity.window.closes_at)
    assert t.case.state is S.AWAITING_PUBLICATION


def test_refuses_to_end_publicity_one_second_before_its_window_closes():
    pre = drive(S.PRE_REVIEW_PUBLICITY)
    closes = pre.case.current_publicity.window.closes_at
    with pytest.raises(RuleRefused) as caught:
        cases.end_publicity(pre.case, now=closes - timedelta(seconds=1))
    assert caught.value.rule == "REVIEW-PUBLICITY-RUNNING"
    assert not cases.is_publicity_due(pre.case, closes - timedelta(seconds=1))
    assert cases.is_publicity_due(pre.case, closes)


def test_supplements_materials_before_the_docket():
    for state in (S.ACCEPTED, S.QUALIFIED, S.PRE_REVIEW_PUBLICITY, S.AWAITING_MEETING):
        s = drive(state)
        t = cases.supplement_materials(s.case, document_kinds=["继续教育证明"], now=s.now)
        assert t.case == s.case
        assert t.events[0].event_type == "materials_supplemented"


def test_places_a_case_on_a_docket_and_freezes_its_materials():
    s = drive(S.AWAITING_MEETING)
    t = cases.place_on_docket(s.case, meeting_id="m", committee_id=COMMITTEE,
                              starts_at=MEETING_AT, now=s.now)
    assert t.case.state is S.ON_DOCKET and t.case.materials_frozen
    assert t.case.meeting_id == "m"
    assert [e.event_type for e in t.events] == ["materials_frozen"]


def test_refuses_a_docket_of_another_committee():
    s = drive(S.AWAITING_MEETING)
    with pytest.raises(RuleRefused) as caught:
        cases.place_on_docket(s.case, meeting_id="m", committee_id="other", starts_at=MEETING_AT,
                              now=s.now)
    assert caught.value.rule == "REVIEW-MEETING-COMMITTEE"


def test_records_votes_that_pass_the_case():
    s = drive(S.ON_DOCKET)
    t = record_votes(s.meeting, s.case, present=9, yes=6, no=3, abstain=0, now=s.now, policy=POLICY)
    assert t.case.state is S.PASSED
    assert [e.event_type for e in t.events] == ["votes_recorded", "case_decided"]
    assert t.events[1].payload["outcome"] == "passed"


def test_records_votes_that_fail_the_case_and_the_applicant_for_next_year():
    s = drive(S.ON_DOCKET)
    t = record_votes(s.meeting, s.case, present=9, yes=5, no=4, abstain=0, now=s.now, policy=POLICY)
    assert t.case.state is S.FAILED and t.case.state.is_final
    assert [e.event_type for e in t.events] == ["votes_recorded", "case_decided", "applicant_failed"]
    failed = t.events[2].payload
    assert failed["applicant_key"] == "applicant-case-1" and failed["year"] == 2023
    assert failed["failed_rules"] == ["REVIEW-PASS-THRESHOLD"]


def test_without_quorum_the_case_waits_for_another_meeting_with_materials_still_frozen():
    s = drive(S.ON_DOCKET)
    t = record_votes(s.meeting, s.case, present=5, yes=5, no=0, abstain=0, now=s.now, policy=POLICY)
    assert t.case.state is S.AWAITING_MEETING and t.case.materials_frozen
    assert t.case.meeting_id is None
    assert [e.event_type for e in t.events] == ["votes_recorded"]
    assert t.events[0].payload["outcome"] == "no_quorum"
    assert t.events[0].payload["failed_rules"] == ["REVIEW-QUORUM"]
    with pytest.raises(RuleRefused) as caught:
        cases.supplement_materials(t.case, document_kinds=["论文"], now=s.now)
    assert caught.value.rule == "REVIEW-MATERIALS-FROZEN"
    again = cases.place_on_docket(t.case, meeting_id="m2", committee_id=COMMITTEE,
                                  starts_at=s.now + timedelta(days=7), now=s.now)
    assert again.case.state is S.ON_DOCKET and again.events == ()  # already frozen


def test_publishes_after_the_post_review_publicity():
    s = drive(S.AWAITING_PUBLICATION)
    t = cases.publish_result(s.case, now=s.now)
    assert t.case.state is S.PUBLISHED and t.case.published_at == s.now
    assert t.events[0].event_type == "result_published"


def test_issues_a_certificate_for_a_published_review_case():
    s = drive(S.PUBLISHED)
    t = cases.issue_certificate(s.case, certificate_number="SY-2023-000001-X", now=s.now)
    assert t.case.state is S.CERTIFICATE_ISSUED
    assert t.events[0].event_type == "certificate_issued"
    assert t.events[0].payload["certificate_number"] == "SY-2023-000001-X"


def test_forwards_a_published_recommendation_case_instead_of_a_certificate():
    s = drive(S.PUBLISHED, recommendation=True)
    with pytest.raises(RuleRefused) as caught:
        cases.issue_certificate(s.case, certificate_number="SY-2023-000001-X", now=s.now)
    assert caught.value.rule == "REVIEW-RECOMMENDATION"
    t = cases.forward_recommendation(s.case, now=s.now, forwarded_to="浙江省高级评委会")
    assert t.case.state is S.RECOMMENDATION_FORWARDED
    assert t.events[0].event_type == "recommendation_forwarded"


def test_refuses_to_forward_a_review_case():
    s = drive(S.PUBLISHED)
    with pytest.raises(RuleRefused) as caught:
        cases.forward_recommendation(s.case, now=s.now)
    assert caught.value.rule == "REVIEW-RECOMMENDATION"


def test_every_move_records_its_history():
    s = drive(S.CERTIFICATE_ISSUED)
    path = [to for _, to, _ in s.case.history]
    assert path == ["qualified", "pre_review_publicity", "awaiting_meeting", "on_docket", "passed",
                    "post_review_publicity", "awaiting_publication", "published",
                    "certificate_issued"]


def test_naive_times_are_refused():
    s = drive(S.ACCEPTED)
    with pytest.raises(ValueError):
        cases.pass_qualification(s.case, now=s.now.replace(tzinfo=None))


def test_events_carry_no_personal_data():
    s = drive(S.PRE_REVIEW_PUBLICITY)
    t = cases.file_objection(s.case, objection_id="o", now=s.now, grounds="张三 反映其论文抄袭")
    for event in t.events:
        assert "张三" not in repr(event.payload)
        assert "grounds" not in event.payload
    assert new_case().applicant_key == "applicant-case-1"
