"""Each compliance monitor with an event sequence that triggers it and one that must not."""
import json
from datetime import datetime, timedelta
from fractions import Fraction

import pytest

from shared.clock import CHINA
from services.audit.monitors import (
    AuditEvent, CommitteeScope, DrawReproducible, EligibleExperts, EmergencyDrawCap,
    ExpertDisciplined, IntakeScope, MaterialsFrozen, MonitorSuite, PlanDeadlineFixed,
    PoolChangeApproved, PublicityBeforeMeeting, PublicityBeforeResult, ReapplicantAchievements,
    reference_replay,
)
from services.audit.policy import AuditPolicy, policy_from_settings

pytestmark = pytest.mark.unit

T0 = datetime(2023, 11, 1, 9, 0, tzinfo=CHINA)


def at(days=0, hours=0):
    return (T0 + timedelta(days=days, hours=hours)).isoformat()


class Stream:
    def __init__(self):
        self.n = 0
        self.events = []

    def __call__(self, event_type, **payload):
        self.n += 1
        self.events.append(AuditEvent(event_id=f"ev-{self.n}", event_type=event_type,
                                      occurred_at=T0 + timedelta(minutes=self.n), payload=payload))
        return self


def run(monitor, stream):
    out = []
    for event in stream.events:
        if event.event_type in monitor.event_types:
            out.extend(monitor.observe(event))
    return out


# --- 评前公示 -----------------------------------------------------------------------------
def test_meeting_held_before_pre_review_publicity_ended_is_a_violation():
    s = Stream()("publicity_started", case_ids=["C1", "C2"], stage="pre_review", ends_at=at(5))
    s("meeting_held", meeting_id="M1", committee_id="K7", case_ids=["C1", "C2"], held_at=at(3))
    found = run(PublicityBeforeMeeting(), s)
    assert [(f.rule.id, f.subject_id) for f in found] == [("AUDIT-PRE-REVIEW-PUBLICITY", "C1"),
                                                          ("AUDIT-PRE-REVIEW-PUBLICITY", "C2")]
    assert found[0].committee_id == "K7" and found[0].rule.clause == "三(二)"


def test_meeting_held_for_a_case_without_pre_review_publicity_is_a_violation():
    s = Stream()("meeting_held", meeting_id="M1", committee_id="K7", case_ids=["C9"], held_at=at(3))
    assert "no pre-review publicity" in run(PublicityBeforeMeeting(), s)[0].violation.detail


def test_meeting_held_after_pre_review_publicity_ended_is_fine():
    s = Stream()("publicity_started", case_ids=["C1"], stage="pre_review", ends_at=at(5))
    s("publicity_started", case_ids=["C1"], stage="post_review", ends_at=at(30))
    s("meeting_held", meeting_id="M1", committee_id="K7", case_ids=["C1"], held_at=at(5, 1))
    assert run(PublicityBeforeMeeting(), s) == []


# --- 评后公示 -----------------------------------------------------------------------------
def test_result_published_before_post_review_publicity_ended_is_a_violation():
    s = Stream()("publicity_started", case_ids=["C1"], stage="post_review", ends_at=at(10))
    s("result_published", case_id="C1", committee_id="K7", published_at=at(8), outcome="passed")
    assert [f.rule.id for f in run(PublicityBeforeResult(), s)] == ["AUDIT-POST-REVIEW-PUBLICITY"]


def test_result_published_after_post_review_publicity_is_fine():
    s = Stream()("publicity_started", case_ids=["C1"], stage="post_review", ends_at=at(10))
    s("publicity_started", case_ids=["C1"], stage="pre_review", ends_at=at(20))  # another stage
    s("result_published", case_id="C1", committee_id="K7", published_at=at(10), outcome="failed")
    assert run(PublicityBeforeResult(), s) == []


# --- 应急抽取 30% ----------------------------------------------------------------------------
def test_emergency_draws_above_thirty_percent_of_the_panel_are_a_violation():
    s = Stream()("panel_drawn", draw_id="D1", meeting_id="M1", committee_id="K7", panel_size=7,
                 expert_ids=list("abcdefg"), drawn_at=at(1))
    s("emergency_draw_made", draw_id="D2", meeting_id="M1", committee_id="K7", expert_ids=["h"],
      approval_id="A1", drawn_at=at(2))
    s("emergency_draw_made", draw_id="D3", meeting_id="M1", committee_id="K7", expert_ids=["i", "j"],
      approval_id="A2", drawn_at=at(2))
    found = run(EmergencyDrawCap(), s)
    assert [(f.subject_id, f.violation.field) for f in found] == [("D3", "seats")]
    assert found[0].violation.context["emergency_experts"] == 3


def test_an_emergency_draw_without_approval_is_a_violation():
    s = Stream()("panel_drawn", draw_id="D1", meeting_id="M1", committee_id="K7", panel_size=10,
                 expert_ids=list("abcdefghij"), drawn_at=at(1))
    s("emergency_draw_made", draw_id="D2", meeting_id="M1", committee_id="K7", expert_ids=["k"],
      approval_id=None, drawn_at=at(2))
    assert [f.violation.field for f in run(EmergencyDrawCap(), s)] == ["approval_id"]


def test_approved_emergency_draws_within_thirty_percent_are_fine():
    s = Stream()("panel_drawn", draw_id="D1", meeting_id="M1", committee_id="K7", panel_size=10,
                 expert_ids=list("abcdefghij"), drawn_at=at(1))
    s("emergency_draw_made", draw_id="D2", meeting_id="M1", expert_ids=["k", "l", "m"],
      approval_id="A1", drawn_at=at(2))
    s("emergency_draw_made", draw_id="D3", meeting_id="M2", panel_size=5, expert_ids=["n"],
      approval_id="A2", drawn_at=at(2))
    assert run(EmergencyDrawCap(), s) == []


def test_the_emergency_cap_comes_from_policy():
    s = Stream()("emergency_draw_made", draw_id="D2", meeting_id="M1", panel_size=10,
                 expert_ids=["k", "l", "m"], approval_id="A1", drawn_at=at(2))
    assert run(EmergencyDrawCap(AuditPolicy(emergency_draw_cap=Fraction(1, 5))), s)
    assert policy_from_settings({"AUDIT_POLICY_EMERGENCY_DRAW_CAP": "20%"}).emergency_draw_cap == Fraction(1, 5)


# --- 专家资格 -------------------------------------------------------------------------------
def pool(s):
    s("expert_enrolled", expert_id="X1", employer_id="U1", term_ends_on="2025-12-31")
    s("expert_enrolled", expert_id="X2", employer_id="U2", term_ends_on="2023-06-30")
    s("expert_enrolled", expert_id="X3", employer_id="U3", term_ends_on="2025-12-31")
    s("expert_enrolled", expert_id="X4", employer_id="U4", term_ends_on="2025-12-31")
    s("submission_accepted", case_id="C1", committee_id="K7", employer_id="U4")
    return s


def test_a_panel_with_expired_suspended_or_conflicting_experts_is_a_violation():
    s = pool(Stream())
    s("expert_suspended", expert_id="X3")
    s("conflict_declared", expert_id="X1", case_id="C1")
    s("panel_drawn", draw_id="D1", meeting_id="M1", committee_id="K7", panel_size=4,
      expert_ids=["X1", "X2", "X3", "X4"], case_ids=["C1"], drawn_at=at(1))
    found = {f.subject_id: f.violation.context["reasons"] for f in run(EligibleExperts(), s)}
    assert found == {"X1": ["declared conflict with case C1"], "X2": ["term expired"],
                     "X3": ["suspended"], "X4": ["same employer as case C1"]}


def test_a_panel_of_eligible_experts_is_fine():
    s = pool(Stream())
    s("expert_suspended", expert_id="X3")
    s("expert_reinstated", expert_id="X3")
    s("expert_term_renewed", expert_id="X2", term_ends_on="2026-06-30")
    s("conflict_declared", expert_id="X1", case_id="C2")
    s("meeting_scheduled", meeting_id="M1", committee_id="K7", case_ids=["C1"])
    s("panel_drawn", draw_id="D1", meeting_id="M1", committee_id="K7", panel_size=3,
      expert_ids=["X1", "X2", "X3"], drawn_at=at(1))
    assert run(EligibleExperts(), s) == []


# --- 随机种子复现 ----------------------------------------------------------------------------
def receipt(seed="ab" * 16):
    return {"seed": seed, "eligible_ids": [f"X{i}" for i in range(12)], "panel_size": 5}


def test_a_draw_whose_revealed_seed_does_not_reproduce_its_panel_is_a_violation():
    honest = reference_replay(receipt())
    s = Stream()("panel_drawn", draw_id="D1", meeting_id="M1", committee_id="K7", panel_size=5,
                 expert_ids=honest[:4] + [next(x for x in receipt()["eligible_ids"] if x not in honest)],
                 receipt=receipt(), drawn_at=at(1))
    s("panel_drawn", draw_id="D2", meeting_id="M2", committee_id="K7", panel_size=5,
      expert_ids=honest, receipt={"seed": "not hex"}, drawn_at=at(1))
    found = run(DrawReproducible(), s)
    assert [f.subject_id for f in found] == ["D1", "D2"]


def test_a_draw_reproduced_by_its_seed_is_fine():
    s = Stream()("panel_drawn", draw_id="D1", meeting_id="M1", committee_id="K7", panel_size=5,
                 expert_ids=list(reversed(reference_replay(receipt()))), receipt=receipt(), drawn_at=at(1))
    s("panel_drawn", draw_id="D2", meeting_id="M2", panel_size=5, expert_ids=["X1"], drawn_at=at(1))
    assert run(DrawReproducible(), s) == []


# --- 截止时间不得调整 --------------------------------------------------------------------------
def test_a_deadline_changed_after_publication_without_approval_is_a_violation():
    s = Stream()("plan_published", plan_id="P7", committee_id="K7", material_deadline="2023-08-31")
    s("plan_deadline_changed", plan_id="P7", committee_id="K7", approval_id=None)
    assert [f.subject_id for f in run(PlanDeadlineFixed(), s)] == ["P7"]


def test_a_deadline_changed_before_publication_or_with_approval_is_fine():
    s = Stream()("plan_deadline_changed", plan_id="P7", committee_id="K7", approval_id=None)
    s("plan_published", plan_id="P7", committee_id="K7", material_deadline="2023-08-31")
    s("plan_deadline_changed", plan_id="P7", committee_id="K7", approval_id="A9")
    assert run(PlanDeadlineFixed(), s) == []


# --- 材料不再补充 ----------------------------------------------------------------------------
def test_materials_changed_after_the_case_was_frozen_is_a_violation():
    s = Stream()("submission_accepted", case_id="C1", committee_id="K7")
    s("case_frozen", case_id="C1", frozen_at=at(3))
    s("materials_changed", case_id="C1", changed_at=at(3, 2))
    found = run(MaterialsFrozen(), s)
    assert [(f.subject_id, f.committee_id) for f in found] == [("C1", "K7")]


def test_materials_changed_before_freezing_or_on_another_case_is_fine():
    s = Stream()("materials_changed", case_id="C1", changed_at=at(1))
    s("case_frozen", case_id="C1", frozen_at=at(3))
    s("materials_changed", case_id="C2", changed_at=at(4))
    assert run(MaterialsFrozen(), s) == []


# --- 专家库调整备案 --------------------------------------------------------------------------
def test_a_pool_change_applied_without_approval_is_a_violation():
    s = Stream()("pool_change_requested", change_id="PC1", committee_id="K7")
    s("pool_change_applied", change_id="PC1", committee_id="K7")
    assert [f.subject_id for f in run(PoolChangeApproved(), s)] == ["PC1"]


def test_a_pool_change_applied_after_approval_is_fine():
    s = Stream()("pool_change_requested", change_id="PC1", committee_id="K7")
    s("pool_change_approved", change_id="PC1", approval_id="A1")
    s("pool_change_applied", change_id="PC1", committee_id="K7")
    assert run(PoolChangeApproved(), s) == []


# --- 属地受理 -------------------------------------------------------------------------------
SCOPES = {"K-HZW": CommitteeScope(regions=frozenset({"杭州湾上虞经济开发区"}),
                                  employer_kinds=frozenset({"private_industrial"})),
          "K-EDU": CommitteeScope(excluded_employer_kinds=frozenset({"self_appointing"}))}


def test_a_case_accepted_outside_the_committees_scope_is_a_violation():
    s = Stream()("submission_accepted", case_id="C1", committee_id="K-HZW", region="上虞区",
                 employer_kind="private_industrial")
    s("submission_accepted", case_id="C2", committee_id="K-HZW", region="杭州湾上虞经济开发区",
      employer_kind="state_owned")
    s("submission_accepted", case_id="C3", committee_id="K-EDU", employer_kind="self_appointing")
    assert [f.subject_id for f in run(IntakeScope(lambda c, y: SCOPES.get(c)), s)] == ["C1", "C2", "C3"]


def test_a_case_accepted_within_scope_is_fine():
    s = Stream()("submission_accepted", case_id="C1", committee_id="K-HZW",
                 region="杭州湾上虞经济开发区", employer_kind="private_industrial")
    s("submission_accepted", case_id="C3", committee_id="K-EDU", employer_kind="public_school")
    s("submission_accepted", case_id="C4", committee_id="K-UNKNOWN", region="elsewhere")
    assert run(IntakeScope(lambda c, y: SCOPES.get(c)), s) == []


# --- 上年度未通过人员 -------------------------------------------------------------------------
def test_a_reapplicant_passed_without_new_achievements_is_a_violation():
    s = Stream()("submission_accepted", case_id="C1", committee_id="K7", reapplicant=True,
                 new_achievement_count=0)
    s("result_published", case_id="C1", published_at=at(40), outcome="passed")
    found = run(ReapplicantAchievements(), s)
    assert [(f.subject_id, f.committee_id) for f in found] == [("C1", "K7")]


def test_a_reapplicant_with_new_achievements_or_who_failed_is_fine():
    s = Stream()("submission_accepted", case_id="C1", committee_id="K7", reapplicant=True,
                 new_achievement_count=2)
    s("submission_accepted", case_id="C2", committee_id="K7", reapplicant=True, new_achievement_count=0)
    s("submission_accepted", case_id="C3", committee_id="K7", reapplicant=False)
    s("result_published", case_id="C1", outcome="passed")
    s("result_published", case_id="C2", outcome="failed")
    s("result_published", case_id="C3", outcome="passed")
    assert run(ReapplicantAchievements(), s) == []


# --- 专家违纪通报 ----------------------------------------------------------------------------
def test_a_disciplined_expert_is_notified_to_their_unit():
    s = Stream()("expert_enrolled", expert_id="X1", employer_id="U1", term_ends_on="2025-12-31")
    s("expert_disciplined", expert_id="X1", reason="leaked_review_information")
    found = run(ExpertDisciplined(), s)
    assert [(f.subject_id, f.notify_unit) for f in found] == [("X1", "U1")]


def test_an_expert_who_was_not_disciplined_is_not_notified():
    s = Stream()("expert_enrolled", expert_id="X1", employer_id="U1", term_ends_on="2025-12-31")
    s("expert_suspended", expert_id="X1")
    assert run(ExpertDisciplined(), s) == []


# --- the suite ----------------------------------------------------------------------------
def test_the_suite_state_survives_a_json_round_trip():
    s = Stream()("publicity_started", case_ids=["C1"], stage="pre_review", ends_at=at(5))
    s("plan_published", plan_id="P7", committee_id="K7", material_deadline="2023-08-31")
    first = MonitorSuite.standard()
    first.run(s.events)
    second = MonitorSuite.standard()
    second.restore(json.loads(json.dumps(first.snapshot())))
    later = Stream()
    later.n = 100
    later("meeting_held", meeting_id="M1", committee_id="K7", case_ids=["C1"], held_at=at(4))
    later("plan_deadline_changed", plan_id="P7", committee_id="K7")
    assert sorted(f.rule.id for f in second.run(later.events)) == ["AUDIT-PLAN-DEADLINE",
                                                                  "AUDIT-PRE-REVIEW-PUBLICITY"]


def test_findings_never_carry_personal_fields_and_have_stable_keys():
    s = Stream()("meeting_held", meeting_id="M1", committee_id="K7", case_ids=["C1"], held_at=at(4),
                 applicant_name="张三", identity_number="330682199001011234")
    found = MonitorSuite.standard().run(s.events)
    text = json.dumps([f.as_dict() for f in found], ensure_ascii=False)
    assert "张三" not in text and "330682199001011234" not in text
    assert found[0].key == MonitorSuite.standard().run(s.events)[0].key
