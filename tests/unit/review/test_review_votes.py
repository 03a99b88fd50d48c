"""Quorum (2/3 of the panel present) and the pass share (2/3 of those present), at their edges."""
from __future__ import annotations

from fractions import Fraction

import pytest

from shared.errors import RuleRefused
from services.review.rules import ReviewPolicy
from services.review.voting import Outcome, Tally, decide, pass_share_met, quorum_met

pytestmark = pytest.mark.unit

POLICY = ReviewPolicy()
TWO_THIRDS = Fraction(2, 3)


@pytest.mark.parametrize("panel,minimum", [(9, 6), (7, 5), (11, 8), (3, 2), (5, 4), (25, 17)])
def test_quorum_is_two_thirds_of_the_panel_exactly_at_its_edge(panel, minimum):
    assert quorum_met(panel, minimum, TWO_THIRDS)
    assert not quorum_met(panel, minimum - 1, TWO_THIRDS)


@pytest.mark.parametrize("present,minimum_yes", [(9, 6), (6, 4), (7, 5), (8, 6), (3, 2), (1, 1)])
def test_pass_needs_two_thirds_of_the_experts_present_exactly_at_its_edge(present, minimum_yes):
    assert pass_share_met(present, minimum_yes, TWO_THIRDS)
    assert not pass_share_met(present, minimum_yes - 1, TWO_THIRDS)


def test_nobody_present_passes_nothing():
    assert not pass_share_met(0, 0, TWO_THIRDS)


def test_decision_at_quorum_edge_with_pass_edge_passes():
    d = decide(Tally(panel_size=9, present=6, yes=4, no=1, abstain=1), POLICY)
    assert d.outcome is Outcome.PASSED and d.failed_rules == () and d.is_valid


def test_decision_one_yes_short_fails_on_the_pass_threshold():
    d = decide(Tally(panel_size=9, present=6, yes=3, no=1, abstain=2), POLICY)
    assert d.outcome is Outcome.FAILED and d.failed_rules == ("REVIEW-PASS-THRESHOLD",)
    assert d.quorum_met and not d.pass_share_met


def test_abstentions_count_as_present_and_not_as_yes():
    d = decide(Tally(panel_size=9, present=9, yes=5, no=0, abstain=4), POLICY)
    assert d.outcome is Outcome.FAILED


def test_decision_one_expert_short_of_quorum_says_quorum_failed():
    d = decide(Tally(panel_size=9, present=5, yes=5, no=0, abstain=0), POLICY)
    assert d.outcome is Outcome.NO_QUORUM and d.failed_rules == ("REVIEW-QUORUM",)
    assert not d.is_valid and not d.quorum_met


def test_a_unanimous_full_panel_passes():
    assert decide(Tally(9, 9, 9, 0, 0), POLICY).outcome is Outcome.PASSED


def test_configured_thresholds_are_used():
    strict = ReviewPolicy(quorum_share=Fraction(3, 4), pass_share=Fraction(3, 4))
    # 4 of 6 present is 2/3 (passes by default) but short of 3/4 (4.5)
    assert decide(Tally(8, 6, 4, 2, 0), POLICY).outcome is Outcome.PASSED
    assert decide(Tally(8, 6, 4, 2, 0), strict).outcome is Outcome.FAILED
    # 6 of 9 present is a 2/3 quorum but short of 3/4 (6.75)
    assert decide(Tally(9, 6, 6, 0, 0), POLICY).outcome is Outcome.PASSED
    assert decide(Tally(9, 6, 6, 0, 0), strict).outcome is Outcome.NO_QUORUM


@pytest.mark.parametrize("tally,field", [
    (Tally(9, 10, 10, 0, 0), "present"),
    (Tally(9, 7, 4, 1, 1), "ballots"),
    (Tally(9, 6, 4, 2, 1), "ballots"),
    (Tally(9, 6, -1, 6, 1), "yes"),
    (Tally(0, 0, 0, 0, 0), "panel_size"),
])
def test_refuses_an_inconsistent_tally(tally, field):
    with pytest.raises(RuleRefused) as caught:
        decide(tally, POLICY)
    assert caught.value.rule == "REVIEW-VOTE-TALLY"
    assert field in [v.field for v in caught.value.violations]


def test_policy_refuses_a_publicity_below_the_regulation_minimum():
    with pytest.raises(ValueError):
        ReviewPolicy(publicity_working_days=4)
    with pytest.raises(ValueError):
        ReviewPolicy(quorum_share=Fraction(0))
    with pytest.raises(ValueError):
        ReviewPolicy(certificate_prefix="sy")
