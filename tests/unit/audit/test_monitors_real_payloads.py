"""The monitors on the payloads the other services actually emit (shared/events/<svc>.py):
each with a sequence that triggers it and one that must not."""
import hashlib
from datetime import datetime, timedelta

import pytest

from shared.clock import CHINA
from services.audit.monitors import (
    AuditEvent, DrawReproducible, EligibleExperts, EmergencyDrawCap, ExpertDisciplined,
    MaterialsFrozen, PlanDeadlineFixed, PoolChangeApproved, PublicityBeforeMeeting,
    PublicityBeforeResult, ReapplicantAchievements,
)

pytestmark = pytest.mark.unit

T0 = datetime(2023, 11, 1, 9, 0, tzinfo=CHINA)


def at(days=0, hours=0):
    return (T0 + timedelta(days=days, hours=hours)).isoformat()


class Stream:
    def __init__(self):
        self.events = []

    def __call__(self, event_type, **payload):
        n = len(self.events) + 1
        self.events.append(AuditEvent(f"ev-{n}", event_type, T0 + timedelta(minutes=n), payload))
        return self


def run(monitor, stream):
    return [f for e in stream.events if e.event_type in monitor.event_types for f in monitor.observe(e)]


def publicity(s, phase, closes, case="CASE-1"):
    return s("publicity_started", case_id=case, submission_id="SUB-1", committee_id="K7", at=at(0),
             phase=phase, starts_on="2023-11-01", first_working_day="2023-11-01", last_day="2023-11-07",
             working_days=5, opens_at=at(0), closes_at=closes)


# --- review: publicity, meetings, votes, results ----------------------------------------------
def test_votes_before_the_pre_review_notice_closed_are_a_violation_once():
    s = publicity(Stream(), "pre_review", at(7))
    s("meeting_scheduled", meeting_id="M1", committee_id="K7", starts_at=at(5), at=at(1), panel_size=7,
      case_ids=["CASE-1"], submission_ids=["SUB-1"])
    s("votes_recorded", case_id="CASE-1", submission_id="SUB-1", committee_id="K7", at=at(5),
      meeting_id="M1", outcome="passed")
    found = run(PublicityBeforeMeeting(), s)
    assert [(f.subject_id, f.event_id) for f in found] == [("CASE-1", "ev-2")]


def test_votes_without_any_pre_review_notice_are_a_violation():
    s = Stream()("votes_recorded", case_id="CASE-1", committee_id="K7", at=at(5), meeting_id="M1")
    assert len(run(PublicityBeforeMeeting(), s)) == 1


def test_a_meeting_after_the_pre_review_notice_closed_is_fine():
    s = publicity(Stream(), "pre_review", at(7))
    s("meeting_scheduled", meeting_id="M1", committee_id="K7", starts_at=at(8), at=at(1), panel_size=7,
      case_ids=["CASE-1"], submission_ids=["SUB-1"])
    s("votes_recorded", case_id="CASE-1", committee_id="K7", at=at(8), meeting_id="M1")
    assert run(PublicityBeforeMeeting(), s) == []


def test_a_result_published_before_the_post_review_notice_closed_is_a_violation():
    s = publicity(Stream(), "post_review", at(20))
    s("result_published", case_id="CASE-1", submission_id="SUB-1", committee_id="K7", at=at(19),
      title="工程师", specialty="建筑施工", year=2023, recommendation=False)
    assert [f.rule.id for f in run(PublicityBeforeResult(), s)] == ["AUDIT-POST-REVIEW-PUBLICITY"]


def test_a_result_published_after_the_post_review_notice_is_fine():
    s = publicity(Stream(), "post_review", at(20))
    s("result_published", case_id="CASE-1", submission_id="SUB-1", committee_id="K7", at=at(21))
    assert run(PublicityBeforeResult(), s) == []


def test_materials_supplemented_after_the_docket_froze_them_are_a_violation():
    s = Stream()("materials_frozen", case_id="CASE-1", submission_id="SUB-1", committee_id="K7",
                 at=at(3), meeting_id="M1")
    s("materials_supplemented", case_id="CASE-1", submission_id="SUB-1", committee_id="K7", at=at(4),
      document_kinds=["paper"])
    assert [f.committee_id for f in run(MaterialsFrozen(), s)] == ["K7"]


def test_materials_supplemented_before_the_docket_are_fine():
    s = Stream()("materials_supplemented", case_id="CASE-1", committee_id="K7", at=at(2), document_kinds=[])
    s("materials_frozen", case_id="CASE-1", committee_id="K7", at=at(3), meeting_id="M1")
    assert run(MaterialsFrozen(), s) == []


# --- intake: plans and re-applicants ------------------------------------------------------------
def test_a_published_plans_deadline_changed_without_approval_is_a_violation():
    s = Stream()("plan_published", year=2023, published_at=at(0), committee_codes=["K7"])
    s("plan_deadline_changed", year=2023, committee_code="K7", old_deadline="2023-08-31",
      new_deadline="2023-09-30", changed_at=at(1), plan_state="published", approval=None)
    found = run(PlanDeadlineFixed(), s)
    assert [(f.subject_id, f.committee_id) for f in found] == [("2023/K7", "K7")]


def test_a_draft_change_or_an_approved_change_is_fine():
    s = Stream()("plan_deadline_changed", year=2023, committee_code="K7", old_deadline="a",
                 new_deadline="b", changed_at=at(0), plan_state="draft", approval=None)
    s("plan_published", year=2023, published_at=at(1), committee_codes=["K7"])
    s("plan_deadline_changed", year=2023, committee_code="K7", old_deadline="b", new_deadline="c",
      changed_at=at(2), plan_state="published",
      approval={"approved_by": "bureau", "reason": "typhoon", "approved_at": at(2)})
    assert run(PlanDeadlineFixed(), s) == []


def reapplicant(s, count):
    s("applicant_failed", case_id="OLD", submission_id="SUB-0", committee_id="K7", at=at(-300),
      applicant_key="a" * 32, year=2022, title="工程师", specialty="x", stage="review", failed_rules=[])
    s("submission_accepted", submission_id="SUB-1", applicant_key="a" * 32, plan_year=2023,
      path="review", committee_code="K7", committee_name="n", title="工程师", specialty="x",
      new_achievement_count=count)
    s("case_opened", case_id="CASE-1", submission_id="SUB-1", committee_id="K7", at=at(1), year=2023,
      recommendation=False)
    s("case_decided", case_id="CASE-1", submission_id="SUB-1", committee_id="K7", at=at(30),
      meeting_id="M1", outcome="passed", failed_rules=[], recommendation=False)
    s("result_published", case_id="CASE-1", submission_id="SUB-1", committee_id="K7", at=at(40),
      title="工程师", specialty="x", year=2023, recommendation=False)
    return s


def test_last_years_failed_applicant_passing_without_new_achievements_is_a_violation():
    found = run(ReapplicantAchievements(), reapplicant(Stream(), 0))
    assert [(f.subject_id, f.committee_id) for f in found] == [("CASE-1", "K7")]


def test_a_reapplicants_decision_is_not_flagged_before_its_result_is_published():
    s = reapplicant(Stream(), 0)
    s.events = [e for e in s.events if e.event_type != "result_published"]
    assert run(ReapplicantAchievements(), s) == []


def test_a_reapplicant_with_new_achievements_or_an_unknown_count_is_not_flagged():
    assert run(ReapplicantAchievements(), reapplicant(Stream(), 3)) == []
    assert run(ReapplicantAchievements(), reapplicant(Stream(), None)) == []


# --- experts: pool, emergency draws, eligibility, reveals, discipline ---------------------------
def test_an_expert_registered_through_an_unapproved_change_request_is_a_violation():
    s = Stream()("pool_change_requested", request_id="R1", committee_id="K7", kind="add", expert_id="X9")
    s("expert_registered", expert_id="X9", committee_ids=["K7"], employer="U9", via="change_request",
      term_start="2023-01-01", term_end="2025-12-31")
    assert [f.subject_id for f in run(PoolChangeApproved(), s)] == ["X9"]


def test_approved_or_direct_registrations_are_fine():
    s = Stream()("pool_change_requested", request_id="R1", committee_id="K7", kind="add", expert_id="X9")
    s("pool_change_approved", request_id="R1", committee_id="K7", kind="add", expert_id="X9")
    s("expert_registered", expert_id="X9", committee_ids=["K7"], via="change_request")
    s("expert_registered", expert_id="X1", committee_ids=["K7"], via="direct")
    assert run(PoolChangeApproved(), s) == []


def emergency(s, approval_seats, seats, approval_id="A1"):
    s("panel_drawn", round_id="R1", panel_id="P1", meeting_id="M1", committee_id="K7", panel_size=10,
      reserves=2, panel_digest="d" * 64)
    if approval_seats:
        s("emergency_draw_approved", approval_id="A1", meeting_id="M1", seats=approval_seats,
          approved_by="bureau", reason="two experts ill")
    s("emergency_panel_drawn", round_id="R2", panel_id="P2", meeting_id="M1", committee_id="K7",
      panel_size=10, reserves=0, panel_digest="e" * 64, parent_round_id="R1", approval_id=approval_id,
      seats=seats)
    return s


def test_emergency_draws_without_approval_beyond_it_or_above_thirty_percent_are_violations():
    assert [f.violation.field for f in run(EmergencyDrawCap(), emergency(Stream(), 0, 2))] == ["approval_id"]
    assert [f.violation.field for f in run(EmergencyDrawCap(), emergency(Stream(), 2, 3))] == ["seats"]
    over = run(EmergencyDrawCap(), emergency(Stream(), 4, 4))
    assert [f.violation.context.get("emergency_experts") for f in over] == [4]


def test_an_approved_emergency_draw_within_thirty_percent_is_fine():
    assert run(EmergencyDrawCap(), emergency(Stream(), 3, 3)) == []


def test_the_meeting_panel_size_comes_from_the_emergency_round_when_the_panel_was_not_seen():
    s = Stream()("draw_committed", round_id="R2", kind="emergency", meeting_id="M1", committee_id="K7",
                 panel_size=2, emergency={"meeting_panel_size": 9, "seats_before": 0, "share_percent": 30})
    s("emergency_draw_approved", approval_id="A1", meeting_id="M1", seats=2)
    s("emergency_panel_drawn", round_id="R2", meeting_id="M1", committee_id="K7", panel_size=2,
      approval_id="A1", seats=2)
    assert run(EmergencyDrawCap(), s) == []


def revealed(s, panel):
    s("expert_registered", expert_id="X1", employer="U1", term_end="2025-12-31", via="direct")
    s("expert_registered", expert_id="X2", employer="U2", term_end="2023-06-30", via="direct")
    s("expert_registered", expert_id="X3", employer="U3", term_end="2025-12-31", via="direct")
    s("expert_registered", expert_id="X4", employer="APPLICANT-EMPLOYER", term_end="2025-12-31", via="direct")
    s("expert_registered", expert_id="X5", employer="U5", term_end="2025-12-31", via="direct")
    s("expert_disciplined", expert_id="X3", unit="U3", misconduct="leak", sanction="suspend")
    s("panel_requested", meeting_id="M1", committee_id="K7", starts_at=at(5), panel_size=3,
      applicants=[{"applicant_ref": "SUB-1", "employer": "APPLICANT-EMPLOYER"}],
      declared_conflicts={"X5": ["SUB-1"]})
    s("draw_seed_revealed", round_id="R1", meeting_id="M1", commitment_digest="c" * 64, seed="0" * 64,
      secrets={}, beacon_value=None, panel=panel, reserves=[], revealed_at=at(5))
    return s


def test_a_revealed_panel_with_expired_suspended_or_conflicting_experts_is_a_violation():
    found = {f.subject_id for f in run(EligibleExperts(), revealed(Stream(), ["X1", "X2", "X3", "X4", "X5"]))}
    assert found == {"X2", "X3", "X4", "X5"}


def test_a_revealed_panel_of_eligible_experts_is_fine():
    assert run(EligibleExperts(), revealed(Stream(), ["X1"])) == []


class FakeTools:
    """Stand-in hashing with the same shape as services/experts/draw.py."""

    @staticmethod
    def party_commitment(digest, party, secret_hex):
        return hashlib.sha256(f"{digest}|{party}|{secret_hex}".encode()).hexdigest()

    @staticmethod
    def derive_seed(digest, reveals, beacon):
        return hashlib.sha256(f"{digest}|{sorted(reveals.items())}|{beacon}".encode()).digest()

    @staticmethod
    def panel_digest(panel, reserves):
        return hashlib.sha256(f"{list(panel)}|{list(reserves)}".encode()).hexdigest()


def round_events(tools, *, secret_b="bb", seed=None, panel=("X1", "X2", "X3")):
    s = Stream()
    digest = "c" * 64
    s("draw_committed", round_id="R1", commitment_digest=digest, panel_size=3, reserves=1,
      parties=["committee_office", "supervisor"], committee_id="K7", meeting_id="M1")
    s("draw_party_committed", round_id="R1", party="committee_office",
      party_commitment=tools.party_commitment(digest, "committee_office", "aa"))
    s("draw_party_committed", round_id="R1", party="supervisor",
      party_commitment=tools.party_commitment(digest, "supervisor", "bb"))
    s("panel_drawn", round_id="R1", panel_id="P1", meeting_id="M1", committee_id="K7", panel_size=3,
      panel_digest=tools.panel_digest(["X1", "X2", "X3"], ["X4"]))
    secrets = {"committee_office": "aa", "supervisor": secret_b}
    honest_seed = tools.derive_seed(digest, secrets, None).hex()
    s("draw_seed_revealed", round_id="R1", meeting_id="M1", commitment_digest=digest,
      seed=seed or honest_seed, secrets=secrets, beacon_value=None, panel=list(panel), reserves=["X4"])
    return s


def test_a_reveal_that_does_not_reproduce_the_committed_draw_is_a_violation():
    for bad in (dict(secret_b="cc"), dict(seed="1" * 64), dict(panel=("X1", "X2", "X9"))):
        found = run(DrawReproducible(tools=FakeTools), round_events(FakeTools, **bad))
        assert [f.subject_id for f in found] == ["R1"], bad


def test_a_reveal_that_reproduces_the_committed_draw_is_fine():
    assert run(DrawReproducible(tools=FakeTools), round_events(FakeTools)) == []


def test_the_experts_services_own_draw_hashing_is_used_when_present():
    tools = pytest.importorskip("services.experts.draw")
    assert run(DrawReproducible(), round_events(tools)) == []
    assert len(run(DrawReproducible(), round_events(tools, secret_b="cc"))) == 1


def test_a_disciplined_expert_is_notified_to_the_unit_the_experts_service_names():
    s = Stream()("expert_disciplined", expert_id="X1", unit="绍兴某设计院", misconduct="leak",
                 sanction="remove", meeting_id="M1", recorded_by="bureau", rule="EXPERTS-DISCIPLINE")
    assert [(f.subject_id, f.notify_unit) for f in run(ExpertDisciplined(), s)] == [("X1", "绍兴某设计院")]


# --- intake: scope from the published plan -------------------------------------------------------
def accepted(s, title, specialty, year=2023, committee="R22"):
    return s("submission_accepted", submission_id=f"SUB-{len(s.events)}", applicant_key="a" * 32,
             plan_year=year, path="review", committee_code=committee, committee_name="n",
             title=title, specialty=specialty)


def test_a_case_accepted_outside_the_committees_published_titles_or_specialties_is_a_violation():
    from services.audit.monitors import IntakeScope, plan_scopes

    s = accepted(Stream(), "主任医师", "水利规划设计")
    accepted(s, "工程师", "临床医学")
    found = run(IntakeScope(plan_scopes), s)
    assert [f.violation.context["problems"] for f in found] == [
        ["title 主任医师 is not one the committee reviews"],
        ["specialty 临床医学 outside the committee's scope"]]


def test_a_case_within_the_published_plan_or_of_an_unknown_year_is_not_flagged():
    from services.audit.monitors import IntakeScope, plan_scopes

    s = accepted(Stream(), "工程师", "水利规划设计")
    accepted(s, "高级工程师", "运行管理")
    accepted(s, "主任医师", "x", year=1999)
    accepted(s, "主任医师", "x", committee="NO-SUCH")
    assert run(IntakeScope(plan_scopes), s) == []
