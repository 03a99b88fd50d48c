"""Votes at a review meeting (评审表决): anonymous tallies, quorum and the two-thirds rule.

A tally records how many experts present voted yes (同意), no (不同意) or abstained (弃权) on
one case; it never records who voted how. The decision checks the quorum against the drawn panel
and the pass share against the experts present, both exactly (fractions, no floating point), and
says which rule failed.

Pure domain.
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from fractions import Fraction

from shared.errors import RuleRefused
from shared.rules import RuleViolation

from services.review.rules import PASS_THRESHOLD, QUORUM, VOTE_TALLY, ReviewPolicy


@dataclass(frozen=True)
class Tally:
    """Anonymous ballots on one case, with the attendance when it was voted on."""

    panel_size: int
    present: int
    yes: int
    no: int
    abstain: int

    def violations(self) -> list[RuleViolation]:
        out: list[RuleViolation] = []
        for name in ("panel_size", "present", "yes", "no", "abstain"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                out.append(VOTE_TALLY.violation(field=name, detail=f"{name} must be a whole number "
                                                "of zero or more"))
        if out:
            return out
        if self.panel_size < 1:
            out.append(VOTE_TALLY.violation(field="panel_size", detail="the panel has no experts"))
        if self.present > self.panel_size:
            out.append(VOTE_TALLY.violation(
                field="present", detail=f"{self.present} present but the panel has "
                                        f"{self.panel_size} experts"))
        if self.yes + self.no + self.abstain != self.present:
            out.append(VOTE_TALLY.violation(
                field="ballots", detail=f"{self.yes + self.no + self.abstain} ballots cast by "
                                        f"{self.present} experts present"))
        return out

    def as_dict(self) -> dict[str, int]:
        return {"panel_size": self.panel_size, "present": self.present, "yes": self.yes,
                "no": self.no, "abstain": self.abstain}


class Outcome(str, Enum):
    PASSED = "passed"          # 评审通过
    FAILED = "failed"          # 评审未通过
    NO_QUORUM = "no_quorum"    # 出席人数不足，未作出决定


@dataclass(frozen=True)
class Decision:
    outcome: Outcome
    tally: Tally
    quorum_met: bool
    pass_share_met: bool
    failed_rules: tuple[str, ...]

    @property
    def is_valid(self) -> bool:
        """A decision was taken (the quorum was there)."""
        return self.outcome is not Outcome.NO_QUORUM

    def as_dict(self) -> dict[str, object]:
        return {"outcome": self.outcome.value, "quorum_met": self.quorum_met,
                "pass_share_met": self.pass_share_met, "failed_rules": list(self.failed_rules),
                "tally": self.tally.as_dict()}


def quorum_met(panel_size: int, present: int, share: Fraction) -> bool:
    """At least ``share`` of the panel present: 2/3 of 9 is 6, of 7 is 4.67 so 5."""
    return Fraction(present) >= share * panel_size


def pass_share_met(present: int, yes: int, share: Fraction) -> bool:
    """Yes votes from at least ``share`` of the experts present (abstentions count as present)."""
    return present > 0 and Fraction(yes) >= share * present


def decide(tally: Tally, policy: ReviewPolicy) -> Decision:
    """The meeting's decision on one case. An inconsistent tally is refused (REVIEW-VOTE-TALLY)."""
    problems = tally.violations()
    if problems:
        raise RuleRefused(problems)
    has_quorum = quorum_met(tally.panel_size, tally.present, policy.quorum_share)
    has_share = has_quorum and pass_share_met(tally.present, tally.yes, policy.pass_share)
    if not has_quorum:
        return Decision(Outcome.NO_QUORUM, tally, False, False, (QUORUM.id,))
    if not has_share:
        return Decision(Outcome.FAILED, tally, True, False, (PASS_THRESHOLD.id,))
    return Decision(Outcome.PASSED, tally, True, True, ())
