"""Verifiable, unbiasable panel draws (评委随机抽取).

Why it is built this way: if one party chooses the seed, that party can try seeds until the panel
suits it and then "commit" to that one. So a round goes:

1. **Open** — before any randomness exists, a :class:`DrawCommitment` fixes everything the result
   depends on: the hash of the sorted eligible list, every exclusion with its reasons (回避, term,
   suspension, pool, specialty), panel size, reserves, the parties who will contribute randomness,
   the public beacon (if any) named in advance, and the algorithm version. Its digest is published
   (``draw_committed``).
2. **Commit** — every party (at least two, e.g. the committee office and the bureau's supervisor)
   commits to a secret: ``H(domain, round digest, party, secret)``. Nobody can reveal before all
   have committed.
3. **Reveal** — each party reveals its secret; a secret that does not match its commitment is
   refused. The bureau may enter the beacon value named at open time (only after all commitments).
4. **Finalize** — ``seed = H(domain, round digest, every party's secret, beacon)``; the panel and
   the reserves are a uniform random ordered selection from the sorted eligible list, drawn from an
   HMAC-SHA256 counter stream keyed by the seed, with rejection sampling (no modulo bias) and a
   partial Fisher–Yates shuffle.

No party can pick the outcome: any one honest party's secret, unknown to the others when they
committed, makes the seed uniform. (A party can still refuse to reveal and so abort a round; the
aborted round stays on record and a new round is a new commitment.)

A receipt (plain JSON: inputs, commitments, reveals, result) is replayed offline by
:func:`verify_receipt` (``zhicheng draw verify RECEIPT``), with no access to the services.

Pure domain: standard library and shared contracts only.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets as _secrets
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from functools import cached_property
from typing import Any, Iterable, Mapping, Sequence

from shared.errors import Conflict, InvalidInput, RuleRefused
from shared.rules import RuleViolation

from services.experts import rules
from services.experts.rules import DEFAULT_POLICY, ExpertsPolicy

ALGORITHM = "zhicheng-draw/1"
RECEIPT_FORMAT = "zhicheng-draw-receipt/1"
SUPPORTED_ALGORITHMS = frozenset({ALGORITHM})

_HEX64 = re.compile(r"[0-9a-f]{64}")


# --- hashing helpers -----------------------------------------------------------------------------

def canonical_json(value: Any) -> bytes:
    """The one byte encoding that is hashed: sorted keys, no spaces, UTF-8."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _lp(data: bytes) -> bytes:
    """Length-prefixed, so no two different inputs concatenate to the same bytes."""
    return len(data).to_bytes(4, "big") + data


def eligible_list_hash(eligible: Sequence[str]) -> str:
    return sha256_hex(canonical_json(list(eligible)))


def panel_digest(panel: Sequence[str], reserves: Sequence[str]) -> str:
    """A digest of the result that can be published while the panel itself is sealed."""
    return sha256_hex(canonical_json({"panel": list(panel), "reserves": list(reserves)}))


def new_secret(nbytes: int = 32) -> str:
    """A fresh party secret (hex). Each party generates its own, on its own machine."""
    return _secrets.token_hex(nbytes)


def party_commitment(round_digest: str, party: str, secret_hex: str) -> str:
    """What a party publishes before anyone reveals: binds its secret to this round and party."""
    secret = bytes.fromhex(secret_hex)
    return hashlib.sha256(b"zhicheng-draw/1:party-commitment\x00" + _lp(round_digest.encode())
                          + _lp(party.encode()) + _lp(secret)).hexdigest()


def derive_seed(round_digest: str, reveals: Mapping[str, str], beacon_value: str | None) -> bytes:
    """seed = H(domain, round digest, every (party, secret) in party order, beacon value)."""
    h = hashlib.sha256(b"zhicheng-draw/1:seed\x00" + _lp(round_digest.encode()))
    for party in sorted(reveals):
        h.update(_lp(party.encode()) + _lp(bytes.fromhex(reveals[party])))
    h.update(_lp((beacon_value or "").encode()))
    return h.digest()


# --- uniform selection -----------------------------------------------------------------------------

class RandomStream:
    """HMAC-SHA256 in counter mode keyed by the seed: block i = HMAC(seed, domain ‖ i)."""

    _DOMAIN = b"zhicheng-draw/1:stream\x00"

    def __init__(self, seed: bytes) -> None:
        self._key = seed
        self._counter = 0
        self._words: list[int] = []

    def next_word(self) -> int:
        """The next unsigned 64-bit word."""
        if not self._words:
            block = hmac.new(self._key, self._DOMAIN + self._counter.to_bytes(8, "big"),
                             hashlib.sha256).digest()
            self._counter += 1
            self._words = [int.from_bytes(block[i:i + 8], "big") for i in (24, 16, 8, 0)]
        return self._words.pop()

    def below(self, bound: int) -> int:
        """Uniform integer in [0, bound): words at or above the largest multiple of ``bound``
        are rejected, so there is no modulo bias."""
        if bound <= 0:
            raise ValueError("bound must be positive")
        limit = (1 << 64) - ((1 << 64) % bound)
        while True:
            word = self.next_word()
            if word < limit:
                return word % bound


def select(seed: bytes, eligible: Sequence[str], k: int) -> list[str]:
    """An ordered uniform selection of ``k`` of ``eligible`` (partial Fisher–Yates, O(k))."""
    n = len(eligible)
    if k > n:
        raise ValueError("cannot select more than the list holds")
    stream = RandomStream(seed)
    moved: dict[int, int] = {}
    chosen: list[str] = []
    for i in range(k):
        j = i + stream.below(n - i)
        at_i, at_j = moved.get(i, i), moved.get(j, j)
        moved[j] = at_i
        moved[i] = at_j
        chosen.append(eligible[at_j])
    return chosen


# --- the commitment record ----------------------------------------------------------------------

class RoundKind(str, Enum):
    REGULAR = "regular"
    EMERGENCY = "emergency"  # 应急抽取


@dataclass(frozen=True)
class Beacon:
    """A public randomness beacon named before any secret exists (source and round), so the
    bureau cannot choose which value to enter."""

    source: str
    round: str

    def as_dict(self) -> dict:
        return {"source": self.source, "round": self.round}


@dataclass(frozen=True)
class EmergencyApproval:
    """The bureau's recorded approval (报区人社部门同意) of an emergency draw for one meeting."""

    approval_id: str
    meeting_id: str
    seats: int
    approved_by: str
    approved_at: datetime
    reason: str


@dataclass(frozen=True)
class EmergencyTerms:
    """What an emergency round commits to about its approval and the meeting's cap."""

    parent_round_id: str
    parent_digest: str
    approval_id: str
    meeting_panel_size: int
    seats_before: int
    share_percent: int

    def as_dict(self) -> dict:
        return {"parent_round_id": self.parent_round_id, "parent_digest": self.parent_digest,
                "approval_id": self.approval_id, "meeting_panel_size": self.meeting_panel_size,
                "seats_before": self.seats_before, "share_percent": self.share_percent}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "EmergencyTerms":
        return cls(parent_round_id=str(d["parent_round_id"]), parent_digest=str(d["parent_digest"]),
                   approval_id=str(d["approval_id"]),
                   meeting_panel_size=int(d["meeting_panel_size"]),
                   seats_before=int(d["seats_before"]), share_percent=int(d["share_percent"]))


@dataclass(frozen=True)
class DrawCommitment:
    """Everything a draw depends on, fixed before any randomness exists."""

    round_id: str
    kind: RoundKind
    committee_id: str
    meeting_id: str
    meeting_date: str                      # ISO date
    panel_size: int
    reserves: int
    eligible_count: int
    eligible_hash: str
    exclusions: tuple[tuple[str, tuple[str, ...]], ...]   # (expert_id, reason codes), sorted
    parties: tuple[str, ...]               # sorted
    beacon: Beacon | None
    opened_at: str                         # ISO instant
    algorithm: str = ALGORITHM
    emergency: EmergencyTerms | None = None

    def as_dict(self) -> dict:
        return {
            "round_id": self.round_id, "kind": self.kind.value,
            "committee_id": self.committee_id, "meeting_id": self.meeting_id,
            "meeting_date": self.meeting_date, "panel_size": self.panel_size,
            "reserves": self.reserves, "eligible_count": self.eligible_count,
            "eligible_hash": self.eligible_hash,
            "exclusions": [{"expert_id": e, "reasons": list(r)} for e, r in self.exclusions],
            "parties": list(self.parties),
            "beacon": self.beacon.as_dict() if self.beacon else None,
            "opened_at": self.opened_at, "algorithm": self.algorithm,
            "emergency": self.emergency.as_dict() if self.emergency else None,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "DrawCommitment":
        try:
            return cls(
                round_id=str(d["round_id"]), kind=RoundKind(d["kind"]),
                committee_id=str(d["committee_id"]), meeting_id=str(d["meeting_id"]),
                meeting_date=str(d["meeting_date"]), panel_size=int(d["panel_size"]),
                reserves=int(d["reserves"]), eligible_count=int(d["eligible_count"]),
                eligible_hash=str(d["eligible_hash"]),
                exclusions=tuple((str(x["expert_id"]), tuple(str(r) for r in x["reasons"]))
                                 for x in d["exclusions"]),
                parties=tuple(str(p) for p in d["parties"]),
                beacon=Beacon(str(d["beacon"]["source"]), str(d["beacon"]["round"]))
                if d.get("beacon") else None,
                opened_at=str(d["opened_at"]), algorithm=str(d["algorithm"]),
                emergency=EmergencyTerms.from_dict(d["emergency"]) if d.get("emergency") else None,
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidInput("malformed draw commitment record",
                               details={"problem": type(exc).__name__}) from None

    @cached_property
    def digest_value(self) -> str:
        return sha256_hex(canonical_json(self.as_dict()))

    def digest(self) -> str:
        return self.digest_value


# --- opening a round ------------------------------------------------------------------------------

def _normalize_exclusions(exclusions: Iterable[Any]) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """(expert_id, sorted unique reason codes), sorted by expert id; repeated ids are merged."""
    out: dict[str, set[str]] = {}
    for x in exclusions:
        if hasattr(x, "expert_id") and hasattr(x, "reasons"):
            expert_id, reasons = x.expert_id, x.reasons
        elif isinstance(x, Mapping):
            expert_id, reasons = x["expert_id"], x["reasons"]
        else:
            expert_id, reasons = x
        if not reasons:
            raise InvalidInput("every exclusion states its reason")
        codes = out.setdefault(str(expert_id), set())
        for r in reasons:
            codes.add(r.value if isinstance(r, Enum) else str(r))
    return tuple((e, tuple(sorted(out[e]))) for e in sorted(out))


def emergency_violations(*, meeting_id: str, meeting_panel_size: int, seats: int,
                         seats_before: int, approval: EmergencyApproval | None,
                         approval_already_used: bool = False,
                         policy: ExpertsPolicy = DEFAULT_POLICY) -> list[RuleViolation]:
    """Every rule an emergency draw of ``seats`` would break (应急抽取)."""
    out: list[RuleViolation] = []
    if approval is None:
        out.append(rules.EMERGENCY_APPROVAL.violation(
            field="approval_id", detail="no recorded bureau approval"))
    elif approval.meeting_id != meeting_id:
        out.append(rules.EMERGENCY_APPROVAL.violation(
            field="approval_id", detail="the approval is for another meeting"))
    elif approval_already_used:
        out.append(rules.EMERGENCY_APPROVAL.violation(
            field="approval_id", detail="the approval was already used by another draw"))
    elif seats > approval.seats:
        out.append(rules.EMERGENCY_APPROVAL.violation(
            field="seats", detail=f"{seats} seats asked, {approval.seats} approved"))
    cap = policy.emergency_cap(meeting_panel_size)
    if seats_before + seats > cap:
        out.append(rules.EMERGENCY_CAP.violation(
            field="seats",
            detail=(f"{seats_before} emergency seats already drawn + {seats} asked exceeds "
                    f"{cap} ({policy.emergency_share_percent}% of {meeting_panel_size})"),
            cap=cap, seats_before=seats_before, seats=seats))
    return out


def open_round(*, round_id: str, committee_id: str, meeting_id: str, meeting_date: str,
               panel_size: int, reserves: int, eligible: Sequence[str],
               exclusions: Iterable[Any], parties: Sequence[str], opened_at: str,
               beacon: Beacon | None = None, kind: RoundKind | str = RoundKind.REGULAR,
               emergency: EmergencyTerms | None = None,
               policy: ExpertsPolicy = DEFAULT_POLICY) -> "DrawRound":
    """Fix the round's inputs; refuses with every failed rule (parties, odd panel, shortfall)."""
    kind = RoundKind(kind)
    eligible = list(eligible)
    if eligible != sorted(set(eligible)):
        raise InvalidInput("the eligible list must be sorted and without repeats")
    if panel_size < 1 or reserves < 0:
        raise InvalidInput("panel size must be at least 1 and reserves not negative")
    normalized = _normalize_exclusions(exclusions)
    overlap = {e for e, _ in normalized} & set(eligible)
    if overlap:
        raise InvalidInput("an excluded expert is also in the eligible list",
                           details={"count": len(overlap)})
    violations: list[RuleViolation] = []
    party_list = [p.strip() for p in parties]
    if len(set(party_list)) != len(party_list) or any(not p for p in party_list):
        raise InvalidInput("parties must be distinct, non-empty names")
    if len(party_list) < policy.min_draw_parties:
        violations.append(rules.RANDOM_DRAW.violation(
            field="parties", detail=f"{len(party_list)} party(ies), at least "
                                    f"{policy.min_draw_parties} must contribute randomness"))
    if kind is RoundKind.REGULAR:
        if emergency is not None:
            raise InvalidInput("a regular round has no emergency terms")
        if policy.panel_must_be_odd and panel_size % 2 == 0:
            violations.append(rules.PANEL_ODD.violation(
                field="panel_size", detail=f"{panel_size} is even"))
    else:
        if emergency is None:
            raise InvalidInput("an emergency round names its approval and parent round")
        if emergency.seats_before + panel_size > (
                emergency.meeting_panel_size * emergency.share_percent) // 100:
            violations.append(rules.EMERGENCY_CAP.violation(
                field="seats", detail="the emergency seats exceed the meeting's cap"))
    needed = panel_size + reserves
    if len(eligible) < needed:
        violations.append(rules.DRAW_SHORTFALL.violation(
            field="eligible",
            detail=(f"{needed} needed ({panel_size} panel + {reserves} reserves), "
                    f"{len(eligible)} eligible, short by {needed - len(eligible)}"),
            needed=needed, eligible=len(eligible), shortfall=needed - len(eligible)))
    if violations:
        raise RuleRefused(violations)
    record = DrawCommitment(
        round_id=round_id, kind=kind, committee_id=committee_id, meeting_id=meeting_id,
        meeting_date=meeting_date, panel_size=panel_size, reserves=reserves,
        eligible_count=len(eligible), eligible_hash=eligible_list_hash(eligible),
        exclusions=normalized, parties=tuple(sorted(party_list)), beacon=beacon,
        opened_at=opened_at, emergency=emergency)
    return DrawRound(record, tuple(eligible), policy=policy)


# --- the round's state machine ----------------------------------------------------------------------

class Phase(str, Enum):
    COMMITTING = "committing"   # waiting for every party's commitment
    REVEALING = "revealing"     # all committed; reveals (and the beacon) being collected
    READY = "ready"             # everything revealed; can be finalized
    FINALIZED = "finalized"
    ABANDONED = "abandoned"     # stopped before a result (e.g. a party never revealed)


@dataclass(frozen=True)
class DrawResult:
    panel: tuple[str, ...]
    reserves: tuple[str, ...]
    seed: str                     # hex

    @property
    def digest(self) -> str:
        return panel_digest(self.panel, self.reserves)


@dataclass
class DrawRound:
    record: DrawCommitment
    eligible: tuple[str, ...]
    commitments: dict[str, str] = field(default_factory=dict)
    committed_at: dict[str, str] = field(default_factory=dict)
    committed_by: dict[str, str] = field(default_factory=dict)
    reveals: dict[str, str] = field(default_factory=dict)
    revealed_at: dict[str, str] = field(default_factory=dict)
    beacon_value: str | None = None
    result: DrawResult | None = None
    finalized_at: str | None = None
    abandoned: dict[str, str] | None = None   # {"at", "by", "reason"}
    policy: ExpertsPolicy = DEFAULT_POLICY

    @property
    def digest(self) -> str:
        return self.record.digest()

    @property
    def phase(self) -> Phase:
        if self.result is not None:
            return Phase.FINALIZED
        if self.abandoned is not None:
            return Phase.ABANDONED
        if set(self.commitments) != set(self.record.parties):
            return Phase.COMMITTING
        if set(self.reveals) != set(self.record.parties) or (
                self.record.beacon is not None and self.beacon_value is None):
            return Phase.REVEALING
        return Phase.READY

    def _not_abandoned(self) -> None:
        if self.abandoned is not None:
            raise Conflict("the round was abandoned; a new round is a new commitment")

    def abandon(self, *, at: str, by: str, reason: str) -> None:
        """Stop a round that cannot finish (a party does not reveal). It stays on record; the
        meeting's next round is a new commitment."""
        if self.result is not None:
            raise Conflict("a finalized round cannot be abandoned")
        if not reason or not reason.strip():
            raise InvalidInput("abandoning a round states the reason")
        if self.abandoned is None:
            self.abandoned = {"at": at, "by": by, "reason": reason.strip()}

    def _party(self, party: str) -> str:
        self._not_abandoned()
        if party not in self.record.parties:
            raise InvalidInput("this party does not take part in the round")
        return party

    def commit(self, party: str, commitment: str, *, at: str, by: str | None = None) -> None:
        """Record a party's commitment; refused once any secret has been revealed.

        ``by``: who acts for the party; one person cannot act for two parties of a round, or the
        randomness would have a single source.
        """
        self._party(party)
        commitment = commitment.strip().lower()
        if not _HEX64.fullmatch(commitment):
            raise InvalidInput("a commitment is a SHA-256 digest (64 hex characters)")
        if self.result is not None or self.reveals:
            raise RuleRefused([rules.DRAW_COMMIT_FIRST.violation(
                field="commitment", detail="secrets are already being revealed")])
        known = self.commitments.get(party)
        if known is not None:
            if known == commitment:
                return  # a repeated request; nothing changes
            raise Conflict("this party has already committed to a different value")
        if by is not None and any(who == by and p != party for p, who in self.committed_by.items()):
            raise RuleRefused([rules.RANDOM_DRAW.violation(
                field="party", detail="one person cannot act for two parties of a round")])
        self.commitments[party] = commitment
        self.committed_at[party] = at
        if by is not None:
            self.committed_by[party] = by

    def reveal(self, party: str, secret_hex: str, *, at: str) -> None:
        """Record a party's secret: only after every party committed, and only if it matches."""
        self._party(party)
        secret_hex = secret_hex.strip().lower()
        missing = sorted(set(self.record.parties) - set(self.commitments))
        if missing:
            raise RuleRefused([rules.DRAW_COMMIT_FIRST.violation(
                field="secret", detail=f"{len(missing)} party(ies) have not committed yet",
                waiting_for=missing)])
        if not re.fullmatch(r"[0-9a-f]+", secret_hex) or len(secret_hex) % 2:
            raise InvalidInput("a secret is hex-encoded bytes")
        if len(secret_hex) // 2 < self.policy.secret_min_bytes:
            raise InvalidInput(f"a secret has at least {self.policy.secret_min_bytes} bytes")
        if party_commitment(self.digest, party, secret_hex) != self.commitments[party]:
            raise RuleRefused([rules.DRAW_REVEAL_MATCH.violation(
                field="secret", detail="the secret does not match this party's commitment")])
        if party in self.reveals:
            return
        if self.result is not None:
            raise Conflict("the round is already finalized")
        self.reveals[party] = secret_hex
        self.revealed_at[party] = at

    def enter_beacon(self, value: str) -> None:
        """The bureau enters the value of the beacon named at open time, after all commitments."""
        self._not_abandoned()
        if self.record.beacon is None:
            raise Conflict("this round names no beacon")
        if set(self.commitments) != set(self.record.parties):
            raise RuleRefused([rules.DRAW_COMMIT_FIRST.violation(
                field="beacon", detail="the beacon is entered only after every party committed")])
        value = value.strip()
        if not value:
            raise InvalidInput("the beacon value is empty")
        if self.beacon_value is not None and self.beacon_value != value:
            raise Conflict("a different beacon value was already entered")
        if self.result is not None and self.beacon_value != value:
            raise Conflict("the round is already finalized")
        self.beacon_value = value

    def finalize(self, *, at: str) -> DrawResult:
        if self.result is not None:
            return self.result
        self._not_abandoned()
        phase = self.phase
        if phase is Phase.COMMITTING:
            raise RuleRefused([rules.DRAW_COMMIT_FIRST.violation(
                field="round", detail="not every party has committed")])
        if phase is Phase.REVEALING:
            waiting = sorted(set(self.record.parties) - set(self.reveals))
            raise Conflict("the round still waits for reveals" if waiting
                           else "the round still waits for the beacon value",
                           details={"waiting_for": waiting} if waiting else None)
        seed = derive_seed(self.digest, self.reveals, self.beacon_value)
        k = self.record.panel_size + self.record.reserves
        chosen = select(seed, self.eligible, k)
        self.result = DrawResult(panel=tuple(chosen[:self.record.panel_size]),
                                 reserves=tuple(chosen[self.record.panel_size:]),
                                 seed=seed.hex())
        self.finalized_at = at
        return self.result

    # -- the receipt -----------------------------------------------------------------------------

    def receipt(self) -> dict:
        """Everything needed to replay the round offline."""
        return {
            "format": RECEIPT_FORMAT,
            "commitment": self.record.as_dict(),
            "commitment_digest": self.digest,
            "eligible": list(self.eligible),
            "parties": {p: {"commitment": self.commitments.get(p),
                            "committed_at": self.committed_at.get(p),
                            "committed_by": self.committed_by.get(p),
                            "secret": self.reveals.get(p),
                            "revealed_at": self.revealed_at.get(p)}
                        for p in self.record.parties},
            "beacon_value": self.beacon_value,
            "abandoned": self.abandoned,
            "result": None if self.result is None else {
                "seed": self.result.seed, "panel": list(self.result.panel),
                "reserves": list(self.result.reserves), "panel_digest": self.result.digest,
                "finalized_at": self.finalized_at},
        }

    @classmethod
    def from_receipt(cls, receipt: Mapping[str, Any],
                     policy: ExpertsPolicy = DEFAULT_POLICY) -> "DrawRound":
        """Rebuild a round from its stored receipt (no checks: use :func:`verify_receipt`)."""
        record = DrawCommitment.from_dict(receipt["commitment"])
        rnd = cls(record, tuple(receipt.get("eligible") or ()), policy=policy)
        for party, p in (receipt.get("parties") or {}).items():
            if p.get("commitment"):
                rnd.commitments[party] = p["commitment"]
                rnd.committed_at[party] = p.get("committed_at")
                if p.get("committed_by"):
                    rnd.committed_by[party] = p["committed_by"]
            if p.get("secret"):
                rnd.reveals[party] = p["secret"]
                rnd.revealed_at[party] = p.get("revealed_at")
        rnd.beacon_value = receipt.get("beacon_value")
        rnd.abandoned = receipt.get("abandoned")
        res = receipt.get("result")
        if res:
            rnd.result = DrawResult(panel=tuple(res["panel"]), reserves=tuple(res["reserves"]),
                                    seed=res["seed"])
            rnd.finalized_at = res.get("finalized_at")
        return rnd


# --- offline verification ----------------------------------------------------------------------------

@dataclass(frozen=True)
class Verification:
    ok: bool
    problems: tuple[str, ...]
    panel: tuple[str, ...] = ()
    reserves: tuple[str, ...] = ()
    commitment_digest: str | None = None


def verify_receipt(receipt: Mapping[str, Any], *,
                   expected_digest: str | None = None) -> Verification:
    """Replay a receipt. Every mismatch is named; ``ok`` only when none.

    ``expected_digest``: the digest published in ``draw_committed`` before the draw; without it
    the receipt is only checked against itself.
    """
    problems: list[str] = []
    if not isinstance(receipt, Mapping):
        return Verification(False, ("the receipt is not a JSON object",))
    if receipt.get("format") != RECEIPT_FORMAT:
        problems.append(f"unknown receipt format {receipt.get('format')!r}")
    try:
        record = DrawCommitment.from_dict(receipt.get("commitment") or {})
    except InvalidInput:
        return Verification(False, tuple(problems + ["the commitment record is malformed"]))
    if record.algorithm not in SUPPORTED_ALGORITHMS:
        problems.append(f"unknown algorithm {record.algorithm!r}")
        return Verification(False, tuple(problems))
    digest = record.digest()
    if receipt.get("commitment_digest") != digest:
        problems.append("commitment digest does not match the commitment record "
                        "(the inputs were changed after they were committed)")
    if expected_digest is not None and expected_digest.strip().lower() != digest:
        problems.append("commitment record does not match the published commitment digest")

    eligible = [str(e) for e in (receipt.get("eligible") or [])]
    if eligible != sorted(set(eligible)):
        problems.append("eligible list is not sorted and unique")
    if eligible_list_hash(eligible) != record.eligible_hash:
        problems.append("eligible list does not match its committed hash")
    if len(eligible) != record.eligible_count:
        problems.append(f"eligible count {len(eligible)} differs from the committed "
                        f"{record.eligible_count}")
    excluded = {e for e, _ in record.exclusions}
    if excluded & set(eligible):
        problems.append("an excluded expert appears in the eligible list")
    if any(not reasons for _, reasons in record.exclusions):
        problems.append("an exclusion has no reason")

    if len(record.parties) < 2:
        problems.append("fewer than two parties contributed randomness")
    if record.kind is RoundKind.REGULAR and record.panel_size % 2 == 0:
        problems.append(f"panel size {record.panel_size} is even")
    if record.kind is RoundKind.EMERGENCY:
        em = record.emergency
        if em is None:
            problems.append("emergency round without its approval terms")
        else:
            cap = (em.meeting_panel_size * em.share_percent) // 100
            if em.seats_before + record.panel_size > cap:
                problems.append(f"emergency seats {em.seats_before}+{record.panel_size} exceed "
                                f"the cap of {cap}")
            if not em.approval_id:
                problems.append("emergency round names no approval")

    parties = receipt.get("parties") or {}
    if set(parties) != set(record.parties):
        problems.append("the receipt's parties differ from the committed parties")
    reveals: dict[str, str] = {}
    commit_times: list[str] = []
    reveal_times: list[str] = []
    for party in record.parties:
        p = parties.get(party) or {}
        commitment, secret = p.get("commitment"), p.get("secret")
        if not commitment:
            problems.append(f"party {party!r} has no commitment")
            continue
        if not secret:
            problems.append(f"party {party!r} has not revealed")
            continue
        try:
            matches = party_commitment(digest, party, secret) == commitment
        except ValueError:
            matches = False
        if not matches:
            problems.append(f"reveal of party {party!r} does not match its commitment")
            continue
        reveals[party] = secret
        if p.get("committed_at"):
            commit_times.append(p["committed_at"])
        if p.get("revealed_at"):
            reveal_times.append(p["revealed_at"])
    if commit_times and reveal_times:
        try:
            early = _latest(commit_times) > _earliest(reveal_times)
        except (TypeError, ValueError):
            problems.append("commitment or reveal times are not ISO 8601 instants")
        else:
            if early:
                problems.append("a secret was revealed before every party had committed")
    if record.beacon is not None and not receipt.get("beacon_value"):
        problems.append("the committed beacon value is missing")
    if record.beacon is None and receipt.get("beacon_value"):
        problems.append("a beacon value is present but no beacon was committed")

    result = receipt.get("result")
    if receipt.get("abandoned") and not result:
        problems.append("the round was abandoned before a result")
        return Verification(False, tuple(problems), commitment_digest=digest)
    if not result:
        problems.append("the receipt has no result")
        return Verification(False, tuple(problems), commitment_digest=digest)
    if len(reveals) != len(record.parties):
        return Verification(False, tuple(problems), commitment_digest=digest)
    seed = derive_seed(digest, reveals, receipt.get("beacon_value") if record.beacon else None)
    if result.get("seed") != seed.hex():
        problems.append("seed does not match the reveals")
    k = record.panel_size + record.reserves
    if k > len(eligible):
        problems.append("more seats than eligible experts")
        return Verification(False, tuple(problems), commitment_digest=digest)
    chosen = select(seed, eligible, k)
    panel, reserves = chosen[:record.panel_size], chosen[record.panel_size:]
    problems.extend(_compare("panel seat", list(result.get("panel") or []), panel))
    problems.extend(_compare("reserve", list(result.get("reserves") or []), reserves))
    if result.get("panel_digest") and result["panel_digest"] != panel_digest(panel, reserves):
        problems.append("panel digest does not match the replayed panel")
    return Verification(not problems, tuple(problems), tuple(panel), tuple(reserves), digest)


def _compare(label: str, claimed: list[str], replayed: list[str]) -> list[str]:
    out = []
    if len(claimed) != len(replayed):
        out.append(f"{label}s: receipt lists {len(claimed)}, replay gives {len(replayed)}")
    for i, (c, r) in enumerate(zip(claimed, replayed), start=1):
        if c != r:
            out.append(f"{label} {i}: receipt says {c}, replay gives {r}")
    return out


def _instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _latest(times: list[str]) -> datetime:
    return max(_instant(t) for t in times)


def _earliest(times: list[str]) -> datetime:
    return min(_instant(t) for t in times)
