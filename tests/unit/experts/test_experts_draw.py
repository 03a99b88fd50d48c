"""Panel draws: uniform, deterministic, commit-before-reveal, verifiable offline, capped emergencies."""
from __future__ import annotations

import copy
import hashlib
import json

import pytest

from experts_builders import (MEETING_DAY, NOW, PARTIES, make_expert, open_test_round, run_round,
                              secret_for)
from services.experts import draw, pool
from services.experts.pool import DocketApplicant, MeetingDocket
from shared.errors import Conflict, InvalidInput, RuleRefused

pytestmark = pytest.mark.unit

IDS = [f"E{i:05d}" for i in range(40)]

# chi-square critical values at p = 0.001 (so a correct sampler fails about once in a thousand
# seed sets; the seeds are fixed, so the test is stable)
CHI2_CRIT_001 = {11: 31.264, 14: 36.123, 19: 43.820}


def rule_ids(exc: RuleRefused) -> list[str]:
    return [v.rule.id for v in exc.violations]


def chi_square(counts: dict[str, int], expected: float) -> float:
    return sum((c - expected) ** 2 / expected for c in counts.values())


def fixed_seed(i: int) -> bytes:
    return hashlib.sha256(f"independent seed {i}".encode()).digest()


# --- the sampler --------------------------------------------------------------------------------

def test_same_seed_and_list_give_the_same_selection():
    assert draw.select(fixed_seed(1), IDS, 15) == draw.select(fixed_seed(1), list(IDS), 15)


def test_different_seeds_give_different_selections():
    assert draw.select(fixed_seed(1), IDS, 15) != draw.select(fixed_seed(2), IDS, 15)


def test_a_selection_has_no_repeats_and_comes_from_the_list():
    chosen = draw.select(fixed_seed(3), IDS, 40)
    assert sorted(chosen) == IDS


def test_every_eligible_expert_is_chosen_with_equal_frequency():
    experts = IDS[:20]
    counts = {e: 0 for e in experts}
    draws, k = 4000, 5
    for i in range(draws):
        for e in draw.select(fixed_seed(i), experts, k):
            counts[e] += 1
    assert chi_square(counts, draws * k / len(experts)) < CHI2_CRIT_001[19]


def test_every_expert_is_equally_likely_in_every_seat():
    # first seat and last reserve seat are each uniform over the list
    experts = IDS[:12]
    first = {e: 0 for e in experts}
    last = {e: 0 for e in experts}
    draws = 6000
    for i in range(draws):
        chosen = draw.select(fixed_seed(10_000 + i), experts, 7)
        first[chosen[0]] += 1
        last[chosen[-1]] += 1
    assert chi_square(first, draws / 12) < CHI2_CRIT_001[11]
    assert chi_square(last, draws / 12) < CHI2_CRIT_001[11]


def test_the_chi_square_check_does_catch_a_biased_sampler():
    # the same statistic on a sampler that favours the front of the list fails clearly
    experts = IDS[:20]
    counts = {e: 0 for e in experts}
    for i in range(4000):
        stream = draw.RandomStream(fixed_seed(i))
        for e in sorted({experts[min(stream.below(20), stream.below(20))] for _ in range(5)}):
            counts[e] += 1
    assert chi_square(counts, sum(counts.values()) / 20) > CHI2_CRIT_001[19]


def test_words_above_the_largest_multiple_of_the_bound_are_rejected():
    class Scripted(draw.RandomStream):
        def __init__(self, words):
            self.words = list(words)

        def next_word(self):
            return self.words.pop(0)

    # 2**64 ≡ 1 (mod 3): the top word would make 0 more likely than 1 and 2, so it is skipped
    s = Scripted([2 ** 64 - 1, 5])
    assert s.below(3) == 2 and s.words == []


def test_full_rounds_with_independent_party_secrets_are_uniform():
    experts = IDS[:15]
    counts = {e: 0 for e in experts}
    rounds, k = 1500, 5
    for i in range(rounds):
        rnd = open_test_round(experts, panel_size=3, reserves=2, round_id=f"R{i}")
        result = run_round(rnd, i)
        for e in result.panel + result.reserves:
            counts[e] += 1
    assert chi_square(counts, rounds * k / 15) < CHI2_CRIT_001[14]


# --- opening a round ------------------------------------------------------------------------------

def test_a_round_with_one_party_an_even_panel_and_too_few_experts_lists_every_rule():
    with pytest.raises(RuleRefused) as exc:
        open_test_round(IDS[:9], panel_size=10, reserves=5, parties=("committee_office",))
    assert rule_ids(exc.value) == ["EXPERTS-RANDOM-DRAW", "EXPERTS-PANEL-ODD",
                                   "EXPERTS-DRAW-SHORTFALL"]


def test_too_few_eligible_experts_names_the_shortfall():
    with pytest.raises(RuleRefused) as exc:
        open_test_round(IDS[:9], panel_size=11, reserves=4)
    [v] = exc.value.violations
    assert v.rule.id == "EXPERTS-DRAW-SHORTFALL"
    assert v.context == {"needed": 15, "eligible": 9, "shortfall": 6}
    assert "short by 6" in v.detail


def test_the_eligible_list_must_be_sorted_and_unique():
    with pytest.raises(InvalidInput):
        draw.open_round(round_id="R", committee_id="C", meeting_id="M", meeting_date="2023-11-20",
                        panel_size=3, reserves=0, eligible=["b", "a", "c"], exclusions=(),
                        parties=PARTIES, opened_at="2023-11-01T09:00:00+08:00")


def test_an_excluded_expert_cannot_also_be_eligible():
    with pytest.raises(InvalidInput):
        open_test_round(IDS[:10], exclusions=[("E00001", ("same_employer",))])


def test_the_commitment_covers_list_hash_exclusions_sizes_parties_and_algorithm():
    rnd = open_test_round(IDS[:10], exclusions=[("E00099", ("declared_relative", "same_employer"))])
    record = rnd.record.as_dict()
    assert record["eligible_hash"] == draw.eligible_list_hash(IDS[:10])
    assert record["exclusions"] == [{"expert_id": "E00099",
                                     "reasons": ["declared_relative", "same_employer"]}]
    assert (record["panel_size"], record["reserves"]) == (5, 2)
    assert record["parties"] == sorted(PARTIES)
    assert record["algorithm"] == "zhicheng-draw/1"
    assert rnd.digest == hashlib.sha256(draw.canonical_json(record)).hexdigest()


# --- commit before reveal ---------------------------------------------------------------------------

def _committed(rnd, parties=PARTIES, i=0):
    for p in parties:
        rnd.commit(p, draw.party_commitment(rnd.digest, p, secret_for(p, i)), at="2023-11-01T09:05:00+08:00")


def test_a_party_cannot_reveal_before_every_party_has_committed():
    rnd = open_test_round(IDS[:10])
    _committed(rnd, parties=("committee_office",))
    with pytest.raises(RuleRefused) as exc:
        rnd.reveal("committee_office", secret_for("committee_office", 0), at="2023-11-01T09:06:00+08:00")
    assert rule_ids(exc.value) == ["EXPERTS-DRAW-COMMIT-FIRST"]
    assert exc.value.violations[0].context["waiting_for"] == ["bureau_supervisor"]


def test_a_reveal_that_does_not_match_its_commitment_is_refused():
    rnd = open_test_round(IDS[:10])
    _committed(rnd)
    with pytest.raises(RuleRefused) as exc:
        rnd.reveal("committee_office", secret_for("committee_office", 1), at="2023-11-01T09:06:00+08:00")
    assert rule_ids(exc.value) == ["EXPERTS-DRAW-REVEAL-MATCH"]
    assert "committee_office" not in rnd.reveals


def test_a_commitment_made_for_another_round_does_not_open_this_one():
    one, other = open_test_round(IDS[:10], round_id="R1"), open_test_round(IDS[:10], round_id="R2")
    p = "committee_office"
    one.commit(p, draw.party_commitment(other.digest, p, secret_for(p, 0)), at="2023-11-01T09:05:00+08:00")
    one.commit("bureau_supervisor", draw.party_commitment(one.digest, "bureau_supervisor",
                                                          secret_for("bureau_supervisor", 0)),
               at="2023-11-01T09:05:00+08:00")
    with pytest.raises(RuleRefused):
        one.reveal(p, secret_for(p, 0), at="2023-11-01T09:06:00+08:00")


def test_no_commitment_is_accepted_once_revealing_has_started():
    rnd = open_test_round(IDS[:10], parties=PARTIES + ("inspector",))
    _committed(rnd, parties=PARTIES + ("inspector",))
    rnd.reveal("inspector", secret_for("inspector", 0), at="2023-11-01T09:06:00+08:00")
    with pytest.raises(RuleRefused) as exc:
        rnd.commit("committee_office", "0" * 64, at="2023-11-01T09:07:00+08:00")
    assert rule_ids(exc.value) == ["EXPERTS-DRAW-COMMIT-FIRST"]


def test_a_party_cannot_change_its_commitment_but_may_repeat_it():
    rnd = open_test_round(IDS[:10])
    c = draw.party_commitment(rnd.digest, "committee_office", secret_for("committee_office", 0))
    rnd.commit("committee_office", c, at="t1")
    rnd.commit("committee_office", c, at="t2")
    assert rnd.committed_at["committee_office"] == "t1"
    with pytest.raises(Conflict):
        rnd.commit("committee_office", "a" * 64, at="t3")


def test_one_person_cannot_act_for_two_parties():
    rnd = open_test_round(IDS[:10])
    rnd.commit("committee_office", "a" * 64, at="t", by="alice")
    with pytest.raises(RuleRefused) as exc:
        rnd.commit("bureau_supervisor", "b" * 64, at="t", by="alice")
    assert rule_ids(exc.value) == ["EXPERTS-RANDOM-DRAW"]
    rnd.commit("bureau_supervisor", "b" * 64, at="t", by="bob")


def test_a_stranger_to_the_round_cannot_commit():
    rnd = open_test_round(IDS[:10])
    with pytest.raises(InvalidInput):
        rnd.commit("operator", "a" * 64, at="t")


def test_a_short_secret_is_refused():
    rnd = open_test_round(IDS[:10])
    short = "ab" * 8
    for p in PARTIES:
        rnd.commit(p, draw.party_commitment(rnd.digest, p, short), at="t")
    with pytest.raises(InvalidInput):
        rnd.reveal("committee_office", short, at="t")


def test_the_beacon_is_entered_only_after_every_commitment():
    rnd = open_test_round(IDS[:10], beacon=draw.Beacon("drand-quicknet", "9000000"))
    with pytest.raises(RuleRefused):
        rnd.enter_beacon("f" * 64)
    _committed(rnd)
    rnd.enter_beacon("f" * 64)
    with pytest.raises(Conflict):
        rnd.enter_beacon("e" * 64)


def test_a_round_with_a_named_beacon_cannot_finalize_without_its_value():
    rnd = open_test_round(IDS[:10], beacon=draw.Beacon("drand-quicknet", "9000000"))
    _committed(rnd)
    for p in PARTIES:
        rnd.reveal(p, secret_for(p, 0), at="2023-11-01T09:10:00+08:00")
    with pytest.raises(Conflict):
        rnd.finalize(at="t")
    rnd.enter_beacon("f" * 64)
    assert len(rnd.finalize(at="t").panel) == 5


def test_an_abandoned_round_takes_no_more_steps_and_does_not_verify():
    rnd = open_test_round(IDS[:10])
    _committed(rnd)
    rnd.reveal("committee_office", secret_for("committee_office", 0), at="t")
    rnd.abandon(at="t2", by="bureau-li", reason="监督方未揭示")
    assert rnd.phase is draw.Phase.ABANDONED
    with pytest.raises(Conflict):
        rnd.reveal("bureau_supervisor", secret_for("bureau_supervisor", 0), at="t3")
    with pytest.raises(Conflict):
        rnd.finalize(at="t3")
    again = draw.DrawRound.from_receipt(json.loads(json.dumps(rnd.receipt())))
    assert again.phase is draw.Phase.ABANDONED
    v = draw.verify_receipt(rnd.receipt())
    assert not v.ok and "the round was abandoned before a result" in v.problems


def test_a_finalized_round_cannot_be_abandoned():
    rnd = open_test_round(IDS[:10])
    run_round(rnd, 0)
    with pytest.raises(Conflict):
        rnd.abandon(at="t", by="b", reason="x")


def test_finalize_waits_for_every_reveal():
    rnd = open_test_round(IDS[:10])
    _committed(rnd)
    rnd.reveal("committee_office", secret_for("committee_office", 0), at="t")
    with pytest.raises(Conflict) as exc:
        rnd.finalize(at="t")
    assert exc.value.details == {"waiting_for": ["bureau_supervisor"]}


def test_the_beacon_value_changes_the_panel():
    a = open_test_round(IDS, beacon=draw.Beacon("drand", "1"))
    b = open_test_round(IDS, beacon=draw.Beacon("drand", "1"))
    assert run_round(a, 0, "11" * 32).panel != run_round(b, 0, "22" * 32).panel


# --- receipts and offline verification ----------------------------------------------------------------

@pytest.fixture
def receipt():
    rnd = open_test_round(IDS, panel_size=11, reserves=4,
                          exclusions=[("E00100", ("same_employer",))],
                          beacon=draw.Beacon("drand-quicknet", "9000000"))
    run_round(rnd, 7, beacon_value="ab" * 32)
    return json.loads(json.dumps(rnd.receipt()))


def test_an_honest_receipt_verifies(receipt):
    v = draw.verify_receipt(receipt)
    assert v.ok, v.problems
    assert list(v.panel) == receipt["result"]["panel"]


def test_the_receipt_replays_against_the_published_commitment_digest(receipt):
    assert draw.verify_receipt(receipt, expected_digest=receipt["commitment_digest"]).ok
    v = draw.verify_receipt(receipt, expected_digest="0" * 64)
    assert not v.ok and any("published commitment digest" in p for p in v.problems)


def test_verification_detects_a_panel_altered_after_the_fact(receipt):
    bad = copy.deepcopy(receipt)
    outsider = next(e for e in receipt["eligible"] if e not in receipt["result"]["panel"]
                    + receipt["result"]["reserves"])
    bad["result"]["panel"][3] = outsider
    v = draw.verify_receipt(bad)
    assert not v.ok
    assert any(p.startswith("panel seat 4:") for p in v.problems)


def test_verification_detects_a_swapped_reserve(receipt):
    bad = copy.deepcopy(receipt)
    bad["result"]["panel"][0], bad["result"]["reserves"][0] = (bad["result"]["reserves"][0],
                                                               bad["result"]["panel"][0])
    v = draw.verify_receipt(bad)
    assert any(p.startswith("panel seat 1:") for p in v.problems)
    assert any(p.startswith("reserve 1:") for p in v.problems)


def test_verification_detects_an_altered_reveal(receipt):
    bad = copy.deepcopy(receipt)
    bad["parties"]["bureau_supervisor"]["secret"] = "cd" * 32
    v = draw.verify_receipt(bad)
    assert "reveal of party 'bureau_supervisor' does not match its commitment" in v.problems


def test_verification_detects_a_reveal_and_commitment_both_replaced(receipt):
    # an operator who swaps in a new secret and its matching commitment changes the seed
    bad = copy.deepcopy(receipt)
    p = "committee_office"
    bad["parties"][p]["secret"] = "cd" * 32
    bad["parties"][p]["commitment"] = draw.party_commitment(bad["commitment_digest"], p, "cd" * 32)
    v = draw.verify_receipt(bad)
    assert "seed does not match the reveals" in v.problems
    assert any(x.startswith("panel seat") for x in v.problems)


def test_verification_detects_a_changed_commitment_record(receipt):
    bad = copy.deepcopy(receipt)
    bad["commitment"]["exclusions"] = []
    v = draw.verify_receipt(bad)
    assert any(p.startswith("commitment digest does not match") for p in v.problems)


def test_verification_detects_a_wrong_party_commitment(receipt):
    bad = copy.deepcopy(receipt)
    bad["parties"]["committee_office"]["commitment"] = "0" * 64
    v = draw.verify_receipt(bad)
    assert "reveal of party 'committee_office' does not match its commitment" in v.problems


def test_verification_detects_an_eligible_list_changed_after_commitment(receipt):
    bad = copy.deepcopy(receipt)
    bad["eligible"] = sorted(bad["eligible"] + ["E00100"])
    v = draw.verify_receipt(bad)
    assert "eligible list does not match its committed hash" in v.problems
    assert "an excluded expert appears in the eligible list" in v.problems


def test_verification_detects_an_altered_beacon_value(receipt):
    bad = copy.deepcopy(receipt)
    bad["beacon_value"] = "cd" * 32
    assert "seed does not match the reveals" in draw.verify_receipt(bad).problems


def test_verification_detects_a_reveal_recorded_before_all_commitments(receipt):
    bad = copy.deepcopy(receipt)
    bad["parties"]["bureau_supervisor"]["committed_at"] = "2023-11-01T09:30:00+08:00"
    v = draw.verify_receipt(bad)
    assert "a secret was revealed before every party had committed" in v.problems


def test_verification_refuses_an_unknown_algorithm(receipt):
    bad = copy.deepcopy(receipt)
    bad["commitment"]["algorithm"] = "zhicheng-draw/0"
    assert not draw.verify_receipt(bad).ok


def test_a_round_rebuilt_from_its_receipt_continues_where_it_stopped():
    rnd = open_test_round(IDS)
    _committed(rnd)
    again = draw.DrawRound.from_receipt(json.loads(json.dumps(rnd.receipt())))
    for p in PARTIES:
        again.reveal(p, secret_for(p, 0), at="2023-11-01T09:10:00+08:00")
    result = again.finalize(at="2023-11-01T09:11:00+08:00")
    assert result == run_round(open_test_round(IDS), 0)


# --- conflicts are never drawn --------------------------------------------------------------------

def test_conflicted_experts_are_never_drawn():
    conflicted_units = {"上虞某电机厂", "绍兴某机电有限公司"}
    experts = [make_expert(i, employer=("上虞某电机厂" if i % 7 == 0 else
                                        "绍兴某机电有限公司" if i % 11 == 0 else f"单位{i}"),
                           declared_relatives=frozenset({"A3"}) if i % 13 == 0 else frozenset())
               for i in range(60)]
    docket = MeetingDocket("C-JIDIAN", "M1", MEETING_DAY, frozenset({"机电制造"}),
                           applicants=(DocketApplicant("A1", "上虞某电机厂"),
                                       DocketApplicant("A2", "绍兴某机电有限公司"),
                                       DocketApplicant("A3", "别的单位")))
    elig = pool.assess_eligibility(experts, docket)
    conflicted = {x.expert_id for x in elig.exclusions}
    assert len(conflicted) >= 15
    for i in range(200):
        rnd = open_test_round(elig.eligible, panel_size=11, reserves=4, exclusions=elig.exclusions,
                              round_id=f"R{i}")
        result = run_round(rnd, i)
        assert not conflicted & set(result.panel + result.reserves)
        units = {e.employer for e in experts if e.expert_id in result.panel + result.reserves}
        assert not units & conflicted_units


# --- emergency draws (应急抽取) ------------------------------------------------------------------------

def approval(seats=3, meeting_id="M1"):
    return draw.EmergencyApproval("AP1", meeting_id, seats, "bureau", NOW, "评委临时缺席")


@pytest.mark.parametrize("before,seats,allowed", [(0, 3, True), (0, 4, False), (2, 1, True),
                                                  (3, 1, False), (1, 3, False)])
def test_emergency_seats_over_the_meeting_are_capped_at_thirty_percent(before, seats, allowed):
    v = draw.emergency_violations(meeting_id="M1", meeting_panel_size=11, seats=seats,
                                  seats_before=before, approval=approval(seats=4))
    assert (v == []) is allowed
    if not allowed:
        assert [x.rule.id for x in v] == ["EXPERTS-EMERGENCY-CAP"]


def test_an_emergency_draw_without_approval_is_refused_with_the_rule_id():
    v = draw.emergency_violations(meeting_id="M1", meeting_panel_size=11, seats=1,
                                  seats_before=0, approval=None)
    assert [x.rule.id for x in v] == ["EXPERTS-EMERGENCY-APPROVAL"]


def test_missing_approval_and_exceeded_cap_are_both_reported():
    v = draw.emergency_violations(meeting_id="M1", meeting_panel_size=7, seats=3,
                                  seats_before=0, approval=None)
    assert [x.rule.id for x in v] == ["EXPERTS-EMERGENCY-APPROVAL", "EXPERTS-EMERGENCY-CAP"]


@pytest.mark.parametrize("kwargs", [dict(approval=approval(meeting_id="M2")),
                                    dict(approval=approval(seats=1)),
                                    dict(approval=approval(), approval_already_used=True)])
def test_an_approval_for_another_meeting_fewer_seats_or_already_used_does_not_count(kwargs):
    v = draw.emergency_violations(meeting_id="M1", meeting_panel_size=11, seats=2,
                                  seats_before=0, **kwargs)
    assert [x.rule.id for x in v] == ["EXPERTS-EMERGENCY-APPROVAL"]


def _emergency_round(parent, seats, before, round_id="RE1"):
    drawn = set(parent.result.panel + parent.result.reserves)
    eligible = [e for e in IDS if e not in drawn]
    terms = draw.EmergencyTerms(parent_round_id=parent.record.round_id, parent_digest=parent.digest,
                                approval_id="AP1", meeting_panel_size=parent.record.panel_size,
                                seats_before=before, share_percent=30)
    return open_test_round(eligible, panel_size=seats, reserves=0, kind="emergency",
                           emergency=terms, round_id=round_id,
                           exclusions=[(e, ("already_drawn",)) for e in sorted(drawn)])


def test_an_emergency_draw_is_a_new_committed_round_that_verifies_on_its_own():
    parent = open_test_round(IDS, panel_size=11, reserves=4)
    run_round(parent, 1)
    em = _emergency_round(parent, seats=2, before=0)
    assert em.digest != parent.digest
    result = run_round(em, 2)
    assert not set(result.panel) & set(parent.result.panel + parent.result.reserves)
    assert draw.verify_receipt(json.loads(json.dumps(em.receipt()))).ok


def test_an_emergency_round_beyond_the_cap_cannot_open():
    parent = open_test_round(IDS, panel_size=11, reserves=4)
    run_round(parent, 1)
    with pytest.raises(RuleRefused) as exc:
        _emergency_round(parent, seats=2, before=2)
    assert rule_ids(exc.value) == ["EXPERTS-EMERGENCY-CAP"]


def test_an_even_emergency_round_is_allowed_because_it_fills_seats_of_an_odd_panel():
    parent = open_test_round(IDS, panel_size=11, reserves=4)
    run_round(parent, 1)
    assert _emergency_round(parent, seats=2, before=0).record.panel_size == 2


def test_verification_flags_an_emergency_receipt_that_claims_fewer_prior_seats():
    parent = open_test_round(IDS, panel_size=11, reserves=4)
    run_round(parent, 1)
    em = _emergency_round(parent, seats=1, before=2)
    run_round(em, 3)
    bad = json.loads(json.dumps(em.receipt()))
    bad["commitment"]["emergency"]["seats_before"] = 3
    v = draw.verify_receipt(bad)
    assert any(p.startswith("commitment digest") for p in v.problems)
    assert any(p.startswith("emergency seats 3+1 exceed") for p in v.problems)
