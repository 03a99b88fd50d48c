"""The expert pool: configuration numbers, terms, change approvals, reports, discipline, 回避."""
from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from fractions import Fraction

import pytest

from experts_builders import NOW, identity_number, make_committee, make_expert
from services.experts import pool, rules
from services.experts.pool import (ChangeStatus, DocketApplicant, ExclusionReason, ExpertStatus,
                                   MeetingDocket)
from services.experts.rules import CommitteeScope, CommitteeTier
from shared.errors import Conflict, InvalidInput, RuleRefused

pytestmark = pytest.mark.unit


@pytest.fixture
def committee():
    return make_committee()


def rule_ids(exc: RuleRefused) -> list[str]:
    return [v.rule.id for v in exc.violations]


# --- configuration -------------------------------------------------------------------------------

def test_default_pool_minimums_follow_national_regulation():
    p = rules.DEFAULT_POLICY
    assert p.pool_minimum(CommitteeTier.SENIOR, CommitteeScope.SERIES) == 25
    assert p.pool_minimum(CommitteeTier.SENIOR, CommitteeScope.SPECIALTY) == 11
    assert p.pool_minimum(CommitteeTier.INTERMEDIATE, CommitteeScope.SERIES) == 15
    assert p.pool_minimum(CommitteeTier.INTERMEDIATE, CommitteeScope.SPECIALTY) == 7
    assert p.pool_minimum(CommitteeTier.JUNIOR, CommitteeScope.SERIES) == 7


def test_policy_from_configuration_overrides_only_the_keys_given():
    p = rules.policy_from_mapping({"pool_minimums": {"senior": {"series": 31}},
                                   "outside_share_min": "1/2", "emergency_share_percent": 20})
    assert p.pool_minimum(CommitteeTier.SENIOR, CommitteeScope.SERIES) == 31
    assert p.pool_minimum(CommitteeTier.SENIOR, CommitteeScope.SPECIALTY) == 11
    assert p.outside_share_min == Fraction(1, 2)
    assert p.emergency_cap(11) == 2
    assert p.term_max_years == 3


def test_policy_refuses_a_draw_with_fewer_than_two_randomness_parties():
    with pytest.raises(InvalidInput):
        rules.policy_from_mapping({"min_draw_parties": 1})


def test_policy_refuses_unknown_keys():
    with pytest.raises(InvalidInput):
        rules.policy_from_mapping({"emergency_percent": 30})


@pytest.mark.parametrize("panel,cap", [(11, 3), (10, 3), (9, 2), (7, 2), (5, 1), (3, 0),
                                       (13, 3), (15, 4), (21, 6)])
def test_emergency_cap_is_thirty_percent_of_the_panel_rounded_down(panel, cap):
    assert rules.DEFAULT_POLICY.emergency_cap(panel) == cap


# --- identity numbers ---------------------------------------------------------------------------

def test_identity_number_checksum_is_verified():
    good = identity_number(7)
    assert rules.identity_number_valid(good)
    wrong_check = good[:-1] + ("0" if good[-1] != "0" else "1")
    assert not rules.identity_number_valid(wrong_check)
    assert not rules.identity_number_valid("33060419701301001X")  # month 13
    assert not rules.identity_number_valid("12345")


def test_identity_number_mask_hides_birth_date_and_serial():
    masked = rules.mask_identity_number(identity_number(7))
    assert "19700101" not in masked and masked.startswith("3306") and len(masked) == 18


# --- terms (任期为三年) --------------------------------------------------------------------------

def test_accepts_a_term_of_exactly_three_years():
    e = make_expert(1, term_start=date(2023, 1, 1), term_end=date(2025, 12, 31))
    assert pool.validate_expert(e) is e


def test_refuses_a_term_longer_than_three_years():
    e = make_expert(1, term_start=date(2023, 1, 1), term_end=date(2026, 1, 1))
    with pytest.raises(RuleRefused) as exc:
        pool.validate_expert(e)
    assert rule_ids(exc.value) == ["EXPERTS-POOL-TERM"]
    assert exc.value.violations[0].context["latest_end"] == "2025-12-31"


def test_refuses_a_term_that_ends_before_it_starts():
    e = make_expert(1, term_start=date(2023, 6, 1), term_end=date(2023, 5, 1))
    with pytest.raises(RuleRefused) as exc:
        pool.validate_expert(e)
    assert rule_ids(exc.value) == ["EXPERTS-POOL-TERM"]


def test_malformed_record_error_never_quotes_the_identity_number_or_name():
    bad = make_expert(1, identity_number="330604197001010011", name="王五", specialties=frozenset())
    with pytest.raises(InvalidInput) as exc:
        pool.validate_expert(bad)
    text = repr(exc.value.as_dict())
    assert "330604197001010011" not in text and "王五" not in text
    assert set(exc.value.details) == {"identity_number", "specialties"}


def test_terms_expire_by_the_clock():
    e = make_expert(1, term_end=date(2025, 12, 31))
    assert pool.expire_terms([e], date(2025, 12, 31)) == []
    [expired] = pool.expire_terms([e], date(2026, 1, 1))
    assert expired.status is ExpertStatus.EXPIRED
    assert e.status_on(date(2026, 1, 1)) is ExpertStatus.EXPIRED
    assert e.status_on(date(2025, 12, 31)) is ExpertStatus.ACTIVE


def test_already_expired_or_removed_experts_do_not_expire_again():
    gone = [make_expert(1, status=ExpertStatus.EXPIRED), make_expert(2, status=ExpertStatus.REMOVED)]
    assert pool.expire_terms(gone, date(2030, 1, 1)) == []


# --- pool report ----------------------------------------------------------------------------------

def test_pool_meeting_size_and_outside_share_minimums_reports_no_violation(committee):
    experts = [make_expert(i) for i in range(7)]
    report = pool.pool_report(committee, experts, date(2023, 6, 1))
    assert report.size == 7 and report.minimum == 7 and report.meets_minimums
    assert report.outside_unit == 7
    assert report.as_dict()["by_source"]["enterprise"] == 7


def test_pool_report_names_the_shortfall_and_the_outside_share_together(committee):
    inside = [make_expert(i, employer="绍兴市 经信局") for i in range(4)]   # same unit, spaced
    outside = [make_expert(10 + i) for i in range(1)]
    report = pool.pool_report(committee, inside + outside, date(2023, 6, 1))
    assert [v.rule.id for v in report.violations] == ["EXPERTS-POOL-SIZE",
                                                      "EXPERTS-POOL-OUTSIDE-SHARE"]
    assert report.shortfall == 2
    assert "short by 2" in report.violations[0].detail
    assert report.outside_share == Fraction(1, 5)


def test_pool_report_counts_only_active_members_in_term(committee):
    experts = [make_expert(i) for i in range(7)]
    experts[0] = replace(experts[0], status=ExpertStatus.SUSPENDED)
    experts[1] = replace(experts[1], committees=frozenset({"OTHER"}))
    experts[2] = replace(experts[2], term_start=date(2023, 7, 1))
    report = pool.pool_report(committee, experts, date(2023, 6, 1))
    assert report.size == 4 and not report.meets_minimums


def test_senior_series_pool_needs_twenty_five():
    c = make_committee(tier=CommitteeTier.SENIOR, scope=CommitteeScope.SERIES)
    assert not pool.pool_report(c, [make_expert(i) for i in range(24)], date(2023, 6, 1)).meets_minimums
    assert pool.pool_report(c, [make_expert(i) for i in range(25)], date(2023, 6, 1)).meets_minimums


# --- change requests (备案同意) -------------------------------------------------------------------

def test_registering_directly_during_the_pool_term_is_refused(committee):
    with pytest.raises(RuleRefused) as exc:
        pool.register_directly(committee, make_expert(1, committees=frozenset()), date(2023, 6, 1))
    assert rule_ids(exc.value) == ["EXPERTS-POOL-CHANGE-APPROVAL"]


def test_registering_directly_while_the_pool_is_being_formed_is_allowed(committee):
    e = pool.register_directly(committee, make_expert(1, committees=frozenset()), date(2022, 12, 1))
    assert committee.committee_id in e.committees


def _add_request(committee, n=50):
    return pool.request_change(request_id="CR1", committee=committee, kind="add", current=None,
                               proposed=make_expert(n, committees=frozenset()),
                               reason="补充企业专家", requested_by="committee_office", now=NOW)


def test_a_pending_addition_does_not_change_the_pool(committee):
    experts = [make_expert(i) for i in range(6)]
    request = _add_request(committee)
    assert request.status is ChangeStatus.PENDING
    report = pool.pool_report(committee, experts, date(2023, 9, 1))
    assert report.size == 6 and not report.meets_minimums


def test_an_approved_addition_enters_the_pool(committee):
    experts = [make_expert(i) for i in range(6)]
    decided, added = pool.approve_change(_add_request(committee), None, approver="bureau", now=NOW)
    assert decided.status is ChangeStatus.APPROVED and decided.decided_by == "bureau"
    assert pool.pool_report(committee, experts + [added], date(2023, 9, 1)).size == 7


def test_a_rejected_addition_never_changes_the_pool(committee):
    request = _add_request(committee)
    rejected = pool.reject_change(request, approver="bureau", now=NOW, note="材料不全")
    assert rejected.status is ChangeStatus.REJECTED
    with pytest.raises(Conflict):
        pool.approve_change(rejected, None, approver="bureau", now=NOW)


def test_a_request_is_decided_only_once(committee):
    decided, _ = pool.approve_change(_add_request(committee), None, approver="bureau", now=NOW)
    with pytest.raises(Conflict):
        pool.reject_change(decided, approver="bureau", now=NOW)


def test_an_approved_change_updates_the_expert(committee):
    current = make_expert(1)
    proposed = replace(current, employer="新单位")
    request = pool.request_change(request_id="CR2", committee=committee, kind="update",
                                  current=current, proposed=proposed, reason="工作单位变更",
                                  requested_by="committee_office", now=NOW)
    _, updated = pool.approve_change(request, current, approver="bureau", now=NOW)
    assert updated.employer == "新单位"


def test_an_approved_removal_takes_the_expert_out_of_the_pool(committee):
    current = make_expert(1)
    request = pool.request_change(request_id="CR3", committee=committee, kind="remove",
                                  current=current, proposed=None, reason="调离",
                                  requested_by="committee_office", now=NOW)
    _, removed = pool.approve_change(request, current, approver="bureau", now=NOW)
    assert committee.committee_id not in removed.committees
    assert removed.status is ExpertStatus.REMOVED


def test_a_change_request_with_a_too_long_term_is_refused_when_filed(committee):
    with pytest.raises(RuleRefused) as exc:
        pool.request_change(request_id="CR4", committee=committee, kind="add", current=None,
                            proposed=make_expert(9, term_end=date(2026, 6, 1)), reason="新增",
                            requested_by="committee_office", now=NOW)
    assert rule_ids(exc.value) == ["EXPERTS-POOL-TERM"]


def test_a_change_request_states_its_reason(committee):
    with pytest.raises(InvalidInput):
        pool.request_change(request_id="CR5", committee=committee, kind="add", current=None,
                            proposed=make_expert(9), reason="  ", requested_by="x", now=NOW)


# --- discipline (违反评审纪律、泄露评审信息) --------------------------------------------------------

def test_a_leak_removes_the_expert_and_names_the_unit_to_notify():
    e = make_expert(3, employer="绍兴某机电有限公司")
    after, notice = pool.record_discipline(e, misconduct="leak", sanction="remove",
                                           recorded_by="committee_office", now=NOW,
                                           meeting_id="M1")
    assert after.status is ExpertStatus.REMOVED
    assert notice.unit == "绍兴某机电有限公司" and notice.rule == "EXPERTS-DISCIPLINE"
    assert e.identity_number not in repr(notice) and e.name not in repr(notice)


def test_a_discipline_violation_can_suspend_and_the_suspended_expert_is_not_eligible():
    e = make_expert(3)
    after, notice = pool.record_discipline(e, misconduct="discipline_violation",
                                           sanction="suspend", recorded_by="bureau", now=NOW)
    assert after.status is ExpertStatus.SUSPENDED
    docket = MeetingDocket("C-JIDIAN", "M1", date(2023, 11, 20), frozenset({"机电制造"}))
    assert pool.assess_eligibility([after], docket).exclusions[0].reasons == (
        ExclusionReason.SUSPENDED,)
    assert pool.reinstate(after).status is ExpertStatus.ACTIVE


def test_a_removed_expert_cannot_be_disciplined_again():
    e = make_expert(3, status=ExpertStatus.REMOVED)
    with pytest.raises(Conflict):
        pool.record_discipline(e, misconduct="leak", sanction="remove", recorded_by="b", now=NOW)


# --- eligibility (回避 and the rest) ---------------------------------------------------------------

def _docket(**kw):
    values = dict(committee_id="C-JIDIAN", meeting_id="M1", meeting_date=date(2023, 11, 20),
                  specialties=frozenset({"机电制造", "系统集成"}),
                  applicants=(DocketApplicant("A1", "绍兴某机电有限公司"),
                              DocketApplicant("A2", "上虞某电机厂")))
    values.update(kw)
    return MeetingDocket(**values)


def test_same_employer_as_an_applicant_is_excluded_even_with_spacing_or_width_differences():
    e = make_expert(1, employer="绍兴某机电 有限公司")
    f = make_expert(2, employer="上虞某电机厂")  # full-width letters would fold too
    result = pool.assess_eligibility([e, f], _docket())
    assert result.eligible == ()
    assert {x.reasons for x in result.exclusions} == {(ExclusionReason.SAME_EMPLOYER,)}


def test_declared_relatives_and_conflicts_are_excluded():
    relative = make_expert(1, declared_relatives=frozenset({"A2"}))
    conflict = make_expert(2, declared_conflicts=frozenset({"绍兴某机电有限公司"}))
    meeting_only = make_expert(3)
    fine = make_expert(4)
    docket = _docket(declared_conflicts={"E00003": frozenset({"A1"})})
    result = pool.assess_eligibility([fine, relative, conflict, meeting_only], docket)
    assert result.eligible == ("E00004",)
    reasons = {x.expert_id: x.reasons for x in result.exclusions}
    assert reasons == {"E00001": (ExclusionReason.DECLARED_RELATIVE,),
                       "E00002": (ExclusionReason.DECLARED_CONFLICT,),
                       "E00003": (ExclusionReason.DECLARED_CONFLICT,)}


def test_every_reason_for_an_exclusion_is_listed():
    e = make_expert(1, employer="上虞某电机厂", committees=frozenset({"OTHER"}),
                    specialties=frozenset({"黄酒酿造"}), term_end=date(2023, 10, 31),
                    status=ExpertStatus.SUSPENDED)
    [x] = pool.assess_eligibility([e], _docket()).exclusions
    assert set(x.reasons) == {ExclusionReason.SAME_EMPLOYER, ExclusionReason.NOT_IN_POOL,
                              ExclusionReason.SPECIALTY_NOT_COVERED, ExclusionReason.OUT_OF_TERM,
                              ExclusionReason.SUSPENDED}


def test_an_expert_whose_term_ends_before_the_meeting_is_excluded():
    e = make_expert(1, term_end=date(2023, 11, 19))
    assert pool.assess_eligibility([e], _docket()).exclusions[0].reasons == (
        ExclusionReason.OUT_OF_TERM,)
    on_the_day = make_expert(2, term_end=date(2023, 11, 20))
    assert pool.assess_eligibility([on_the_day], _docket()).eligible == ("E00002",)


def test_covering_one_of_the_docket_specialties_is_enough():
    e = make_expert(1, specialties=frozenset({"系统集成", "信息安全"}))
    assert pool.assess_eligibility([e], _docket()).eligible == ("E00001",)


def test_the_eligible_list_is_sorted_whatever_the_input_order():
    experts = [make_expert(i) for i in (9, 3, 7, 1)]
    assert pool.assess_eligibility(experts, _docket()).eligible == (
        "E00001", "E00003", "E00007", "E00009")


def test_already_drawn_experts_are_excluded_from_an_emergency_draw():
    experts = [make_expert(i) for i in range(3)]
    result = pool.assess_eligibility(experts, _docket(), already_drawn={"E00001"})
    assert result.eligible == ("E00000", "E00002")
    assert result.exclusions[0].reasons == (ExclusionReason.ALREADY_DRAWN,)


def test_the_same_expert_twice_among_candidates_is_refused():
    with pytest.raises(InvalidInput):
        pool.assess_eligibility([make_expert(1), make_expert(1)], _docket())


def test_expert_term_start_after_meeting_excludes():
    e = make_expert(1, term_start=date(2023, 11, 21), term_end=date(2023, 11, 21) + timedelta(days=30))
    assert pool.assess_eligibility([e], _docket()).eligible == ()


# --- sealed panels ---------------------------------------------------------------------------------

def test_only_the_committee_office_sees_a_panel_before_the_meeting_starts():
    starts = NOW + timedelta(days=1)
    assert rules.panel_visible({"committee_office"}, NOW, starts)
    for role in ("bureau", "supervisor", "inspector", "portal", "operator"):
        assert not rules.panel_visible({role}, NOW, starts), role


def test_bureau_supervisor_and_inspectors_see_the_panel_once_the_meeting_started():
    starts = NOW
    for role in ("bureau", "supervisor", "inspector"):
        assert rules.panel_visible({role}, NOW, starts), role
    for role in ("portal", "operator"):
        assert not rules.panel_visible({role}, NOW + timedelta(days=9), starts), role


def test_the_shipped_policy_file_states_the_defaults():
    import yaml
    from pathlib import Path

    import services.experts
    data = yaml.safe_load((Path(services.experts.__file__).with_name("policy.yaml"))
                          .read_text(encoding="utf-8"))
    assert rules.policy_from_mapping(data) == rules.DEFAULT_POLICY


def test_an_approved_new_term_reactivates_an_expired_expert(committee):
    current = make_expert(1, term_start=date(2020, 1, 1), term_end=date(2022, 12, 31),
                          status=ExpertStatus.EXPIRED)
    proposed = replace(current, term_start=date(2023, 1, 1), term_end=date(2025, 12, 31))
    request = pool.request_change(request_id="CR9", committee=committee, kind="update",
                                  current=current, proposed=proposed, reason="续聘",
                                  requested_by="committee_office", now=NOW)
    _, renewed = pool.approve_change(request, current, approver="bureau", now=NOW)
    assert renewed.status is ExpertStatus.ACTIVE and renewed.term_end == date(2025, 12, 31)
