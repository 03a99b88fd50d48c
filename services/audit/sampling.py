"""How the bureau picks what to inspect (三(三)): 随机抽查, 行业巡查, 重点督查.

**Spot check (随机抽查)**: a share of a committee's accepted cases, drawn so that nobody can choose
the sample. Before any randomness exists the draw is *planned*: the eligible case ids (sorted),
their hash, the share, the sample size and the algorithm are fixed and published. Then at least two
parties (e.g. the bureau's inspector and the supervisor) each *commit* to a secret contribution
(``SHA-256("zhicheng-sample-commit/1|" || secret)``) before any of them reveals; optionally the
bureau enters an external public beacon value. Once every committed party has revealed, the seed is
``SHA-256("zhicheng-sample-seed/1" || eligible_hash || each party's id and secret, parties sorted ||
beacon)`` and cases are ranked by ``SHA-256(seed || case_id)``; the first ``sample_size`` are the
sample. A receipt carries all of it, so :func:`verify_sample_receipt` replays the draw without the
services. No single party can choose the outcome: a party that reveals last can only withhold
(which is visible), not pick.

**Patrol (行业巡查)**: every accepted case of one committee or of one industry (行业).

**Key supervision (重点督查)**: 100% of a committee's accepted cases; committees whose violations
reach the policy threshold are proposed for it automatically.

Pure: no framework imports.
"""
from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, Iterable, Mapping, Sequence

from shared.errors import Conflict, InvalidInput
from shared.rules import define_rule

from services.audit.chain import canonical_bytes

ALGORITHM = "zhicheng-sample/1"
COMMIT_DOMAIN = b"zhicheng-sample-commit/1|"
SEED_DOMAIN = b"zhicheng-sample-seed/1"
MIN_PARTIES = 2

SPOT_CHECK = define_rule(
    "AUDIT-SPOT-CHECK", "三(三)",
    "spot checks draw a share of accepted cases at random, committed before any party reveals",
    "区人力社保局采取随机抽查方式加强全过程指导")
KEY_SUPERVISION = define_rule(
    "AUDIT-KEY-SUPERVISION", "三(三)",
    "a committee under key supervision has every accepted case inspected",
    "区人力社保局采取重点督查方式加强全过程指导，并视情通报")

INSPECTION_OUTCOMES = ("compliant", "issues_found", "referred")


def eligible_hash(case_ids: Iterable[str]) -> str:
    """Hash of the eligible list: canonical JSON of the sorted, distinct case ids."""
    return hashlib.sha256(canonical_bytes({"case_ids": sorted(set(case_ids))})).hexdigest()


def commitment(secret: bytes) -> str:
    return hashlib.sha256(COMMIT_DOMAIN + secret).hexdigest()


def sample_size(count: int, share: Fraction) -> int:
    """At least one case when there is any; otherwise the share rounded up."""
    if count <= 0:
        return 0
    if not 0 < share <= 1:
        raise InvalidInput("the share must be above 0 and at most 1", rule=SPOT_CHECK)
    return max(1, math.ceil(share * count))


def combined_seed(eligible: str, reveals: Mapping[str, bytes], beacon: str | None) -> bytes:
    h = hashlib.sha256(SEED_DOMAIN + bytes.fromhex(eligible))
    for party in sorted(reveals):
        secret = reveals[party]
        encoded = party.encode()
        h.update(len(encoded).to_bytes(4, "big") + encoded + len(secret).to_bytes(4, "big") + secret)
    if beacon:
        h.update(b"beacon|" + beacon.encode())
    return h.digest()


def rank(seed: bytes, case_ids: Iterable[str]) -> list[str]:
    return sorted(set(case_ids), key=lambda c: (hashlib.sha256(seed + c.encode()).digest(), c))


@dataclass
class SpotCheckDraw:
    """One spot-check draw, from plan to result (a small state machine)."""

    sample_id: str
    committee_id: str
    case_ids: tuple[str, ...]
    share: Fraction
    algorithm: str = ALGORITHM
    commitments: dict[str, str] = field(default_factory=dict)
    reveals: dict[str, bytes] = field(default_factory=dict)
    beacon: str | None = None

    @classmethod
    def plan(cls, sample_id: str, committee_id: str, case_ids: Iterable[str],
             share: Fraction) -> "SpotCheckDraw":
        ids = tuple(sorted(set(str(c) for c in case_ids)))
        sample_size(len(ids), share)  # validates the share
        return cls(sample_id=sample_id, committee_id=committee_id, case_ids=ids,
                   share=Fraction(share))

    @property
    def eligible_hash(self) -> str:
        return eligible_hash(self.case_ids)

    @property
    def sample_size(self) -> int:
        return sample_size(len(self.case_ids), self.share)

    @property
    def stage(self) -> str:
        if self.reveals and set(self.reveals) == set(self.commitments):
            return "drawn"
        if self.reveals:
            return "revealing"
        return "committing"

    def commit(self, party: str, value: str) -> None:
        if self.reveals:
            raise Conflict("commitments are closed once a party has revealed", rule=SPOT_CHECK)
        if party in self.commitments:
            raise Conflict("this party has already committed", rule=SPOT_CHECK)
        try:
            if len(bytes.fromhex(value)) != 32:
                raise ValueError
        except ValueError:
            raise InvalidInput("a commitment is a SHA-256 hex digest", rule=SPOT_CHECK) from None
        self.commitments[party] = value.lower()

    def set_beacon(self, value: str) -> None:
        if self.reveals:
            raise Conflict("the beacon must be entered before any reveal", rule=SPOT_CHECK)
        self.beacon = value

    def reveal(self, party: str, secret: bytes) -> None:
        if len(self.commitments) < MIN_PARTIES:
            raise Conflict(f"at least {MIN_PARTIES} parties must commit before any reveal",
                           rule=SPOT_CHECK)
        if party not in self.commitments:
            raise Conflict("this party did not commit", rule=SPOT_CHECK)
        if party in self.reveals:
            raise Conflict("this party has already revealed", rule=SPOT_CHECK)
        if commitment(secret) != self.commitments[party]:
            raise InvalidInput("the revealed secret does not match the commitment",
                               rule=SPOT_CHECK)
        self.reveals[party] = secret

    def seed(self) -> bytes:
        if self.stage != "drawn":
            raise Conflict("not every committed party has revealed yet", rule=SPOT_CHECK)
        return combined_seed(self.eligible_hash, self.reveals, self.beacon)

    def selected(self) -> list[str]:
        return rank(self.seed(), self.case_ids)[:self.sample_size]

    def plan_record(self) -> dict[str, Any]:
        """What is published before any randomness: the commitment to the draw itself."""
        return {"sample_id": self.sample_id, "committee_id": self.committee_id,
                "eligible_hash": self.eligible_hash, "eligible_count": len(self.case_ids),
                "share": f"{self.share.numerator}/{self.share.denominator}",
                "sample_size": self.sample_size, "algorithm": self.algorithm}

    def receipt(self) -> dict[str, Any]:
        return {**self.plan_record(), "case_ids": list(self.case_ids),
                "commitments": dict(sorted(self.commitments.items())),
                "reveals": {p: s.hex() for p, s in sorted(self.reveals.items())},
                "beacon": self.beacon, "seed": self.seed().hex(), "selected": self.selected()}


def verify_sample_receipt(receipt: Mapping[str, Any]) -> list[str]:
    """Replay a spot-check receipt; return the problems (empty: the sample is what it claims)."""
    problems: list[str] = []
    try:
        case_ids = [str(c) for c in receipt["case_ids"]]
        share = Fraction(str(receipt["share"]))
        commitments = dict(receipt["commitments"])
        reveals = {str(p): bytes.fromhex(s) for p, s in dict(receipt["reveals"]).items()}
        selected = [str(c) for c in receipt["selected"]]
    except (KeyError, TypeError, ValueError, ZeroDivisionError):
        return ["the receipt is malformed"]
    if receipt.get("algorithm") != ALGORITHM:
        problems.append("unknown algorithm")
    if eligible_hash(case_ids) != receipt.get("eligible_hash"):
        problems.append("the case list does not give the committed eligible hash")
    if len(set(case_ids)) != receipt.get("eligible_count"):
        problems.append("the case count does not match the plan")
    try:
        size = sample_size(len(set(case_ids)), share)
    except InvalidInput:
        return problems + ["the share is invalid"]
    if size != receipt.get("sample_size"):
        problems.append("the sample size does not follow from the share")
    if len(commitments) < MIN_PARTIES:
        problems.append(f"fewer than {MIN_PARTIES} parties committed")
    if set(commitments) != set(reveals):
        problems.append("not every committed party revealed")
    for party, secret in reveals.items():
        if commitments.get(party) != commitment(secret):
            problems.append(f"party {party}'s reveal does not match its commitment")
    seed = combined_seed(eligible_hash(case_ids), reveals, receipt.get("beacon"))
    if receipt.get("seed") is not None and receipt.get("seed") != seed.hex():
        problems.append("the seed does not follow from the reveals")
    if rank(seed, case_ids)[:size] != selected:
        problems.append("the selected cases do not follow from the seed")
    return problems


# --- patrols and key supervision ---------------------------------------------------------------

@dataclass(frozen=True)
class CaseRef:
    """An accepted case as inspections see it (no personal data)."""

    case_id: str
    committee_id: str
    industry: str | None = None


def patrol_selection(cases: Iterable[CaseRef], *, committee_id: str | None = None,
                     industry: str | None = None) -> list[str]:
    """行业巡查: every accepted case of a committee, or of an industry (one of the two)."""
    if (committee_id is None) == (industry is None):
        raise InvalidInput("a patrol selects by committee or by industry, not both or neither")
    return sorted(c.case_id for c in cases
                  if (committee_id is not None and c.committee_id == committee_id)
                  or (industry is not None and c.industry == industry))


def key_supervision_selection(cases: Iterable[CaseRef], committee_id: str) -> list[str]:
    """重点督查: 100% of a committee's accepted cases."""
    return sorted(c.case_id for c in cases if c.committee_id == committee_id)


@dataclass(frozen=True)
class KeySupervisionProposal:
    committee_id: str
    violation_count: int
    rule_ids: tuple[str, ...]


def propose_key_supervision(violations: Iterable[tuple[str | None, str]], *, threshold: int,
                            already: Sequence[str] = ()) -> list[KeySupervisionProposal]:
    """Committees whose (unacknowledged) violations reach ``threshold``, most violations first.

    ``violations`` yields ``(committee_id, rule_id)``; committees already under key supervision are
    not proposed again.
    """
    counts: dict[str, list[str]] = {}
    for committee, rule_id in violations:
        if committee is None or committee in already:
            continue
        counts.setdefault(committee, []).append(rule_id)
    out = [KeySupervisionProposal(c, len(r), tuple(sorted(set(r))))
           for c, r in counts.items() if len(r) >= threshold]
    return sorted(out, key=lambda p: (-p.violation_count, p.committee_id))


def check_inspection_outcome(outcome: str) -> str:
    if outcome not in INSPECTION_OUTCOMES:
        raise InvalidInput("unknown inspection outcome",
                           details={"allowed": list(INSPECTION_OUTCOMES)})
    return outcome
