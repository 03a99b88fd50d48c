"""Spot checks with a committed multi-party seed, patrols and key supervision."""
from collections import Counter
from fractions import Fraction

import pytest

from shared.errors import Conflict, InvalidInput
from services.audit.sampling import (
    CaseRef, SpotCheckDraw, commitment, key_supervision_selection, patrol_selection,
    propose_key_supervision, sample_size, verify_sample_receipt,
)

pytestmark = pytest.mark.unit

CASES = [f"C{i:03d}" for i in range(40)]


def drawn(beacon=None, bureau=b"bureau-secret", supervisor=b"supervisor-secret"):
    d = SpotCheckDraw.plan("S1", "K7", CASES, Fraction(1, 10))
    d.commit("bureau", commitment(bureau))
    d.commit("supervisor", commitment(supervisor))
    if beacon:
        d.set_beacon(beacon)
    d.reveal("bureau", bureau)
    d.reveal("supervisor", supervisor)
    return d


def test_a_spot_check_samples_the_share_of_cases_rounded_up():
    d = drawn()
    assert len(d.selected()) == 4 and set(d.selected()) <= set(CASES)
    assert sample_size(41, Fraction(1, 10)) == 5 and sample_size(3, Fraction(1, 10)) == 1
    assert sample_size(0, Fraction(1, 10)) == 0


def test_a_spot_check_receipt_replays_without_the_services():
    assert verify_sample_receipt(drawn(beacon="beacon-2023-11-01").receipt()) == []


def test_a_receipt_with_another_selection_or_case_list_or_reveal_is_rejected():
    receipt = drawn().receipt()
    other = next(c for c in CASES if c not in receipt["selected"])
    assert verify_sample_receipt({**receipt, "selected": receipt["selected"][:-1] + [other]})
    assert verify_sample_receipt({**receipt, "case_ids": CASES[:-1]})
    assert verify_sample_receipt({**receipt, "reveals": {**receipt["reveals"], "bureau": "00"}})
    assert verify_sample_receipt({**receipt, "commitments": {"bureau": receipt["commitments"]["bureau"]},
                                  "reveals": {"bureau": receipt["reveals"]["bureau"]}})
    assert verify_sample_receipt({"junk": 1}) == ["the receipt is malformed"]


def test_each_party_changes_the_sample_so_no_single_party_chooses_it():
    samples = {tuple(drawn(supervisor=f"s{i}".encode()).selected()) for i in range(20)}
    assert len(samples) > 10
    assert drawn(beacon="x").selected() != drawn(beacon="y").selected() or \
        drawn(beacon="x").seed() != drawn(beacon="y").seed()


def test_no_reveal_before_two_parties_have_committed():
    d = SpotCheckDraw.plan("S1", "K7", CASES, Fraction(1, 10))
    d.commit("bureau", commitment(b"a"))
    with pytest.raises(Conflict):
        d.reveal("bureau", b"a")


def test_no_commitment_or_beacon_after_the_first_reveal():
    d = SpotCheckDraw.plan("S1", "K7", CASES, Fraction(1, 10))
    d.commit("bureau", commitment(b"a"))
    d.commit("supervisor", commitment(b"b"))
    d.reveal("bureau", b"a")
    with pytest.raises(Conflict):
        d.commit("late", commitment(b"c"))
    with pytest.raises(Conflict):
        d.set_beacon("chosen after seeing a reveal")
    with pytest.raises(Conflict):
        d.selected()  # the supervisor has not revealed


def test_a_reveal_that_does_not_match_its_commitment_is_refused():
    d = SpotCheckDraw.plan("S1", "K7", CASES, Fraction(1, 10))
    d.commit("bureau", commitment(b"a"))
    d.commit("supervisor", commitment(b"b"))
    with pytest.raises(InvalidInput):
        d.reveal("bureau", b"not a")
    with pytest.raises(InvalidInput):
        d.commit("third", "not hex")


@pytest.mark.parametrize("share", [Fraction(0), Fraction(3, 2)])
def test_a_share_outside_zero_to_one_is_refused(share):
    with pytest.raises(InvalidInput):
        SpotCheckDraw.plan("S1", "K7", CASES, share)


def test_the_sample_is_roughly_uniform_over_many_draws():
    counts = Counter()
    for i in range(400):
        counts.update(drawn(bureau=f"b{i}".encode()).selected())
    assert len(counts) == 40 and max(counts.values()) < 3 * min(counts.values())


REFS = [CaseRef("C1", "K7", "建筑"), CaseRef("C2", "K7", "建筑"), CaseRef("C3", "K8", "教育"),
        CaseRef("C4", "K9", "建筑")]


def test_a_patrol_selects_by_committee_or_by_industry():
    assert patrol_selection(REFS, committee_id="K7") == ["C1", "C2"]
    assert patrol_selection(REFS, industry="建筑") == ["C1", "C2", "C4"]
    with pytest.raises(InvalidInput):
        patrol_selection(REFS)
    with pytest.raises(InvalidInput):
        patrol_selection(REFS, committee_id="K7", industry="建筑")


def test_key_supervision_takes_every_case_of_the_committee():
    assert key_supervision_selection(REFS, "K7") == ["C1", "C2"]


def test_committees_with_violations_are_proposed_for_key_supervision():
    violations = [("K7", "AUDIT-EMERGENCY-DRAW"), ("K7", "AUDIT-PRE-REVIEW-PUBLICITY"),
                  ("K8", "AUDIT-PLAN-DEADLINE"), ("K9", "AUDIT-POOL-CHANGE"), (None, "AUDIT-X")]
    proposals = propose_key_supervision(violations, threshold=1, already=["K9"])
    assert [(p.committee_id, p.violation_count) for p in proposals] == [("K7", 2), ("K8", 1)]
    assert [p.committee_id for p in propose_key_supervision(violations, threshold=2)] == ["K7"]
