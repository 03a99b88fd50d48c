"""The expert pool (专家库): experts, committees' pools, change requests, terms, discipline,
and who is eligible for a review meeting's draw.

Pure domain: values are frozen dataclasses; every operation returns new values and the
violations or notices it produced. The service persists them and emits the events.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from enum import Enum
from fractions import Fraction
from typing import Iterable, Mapping

from shared.errors import Conflict, InvalidInput, RuleRefused
from shared.rules import RuleViolation

from services.experts import rules
from services.experts.rules import (DEFAULT_POLICY, CommitteeScope, CommitteeTier, ExpertsPolicy,
                                    add_years, identity_number_valid, normalize_unit)


class ExpertStatus(str, Enum):
    ACTIVE = "active"        # 在库
    SUSPENDED = "suspended"  # 暂停
    EXPIRED = "expired"      # 任期届满
    REMOVED = "removed"      # 清退


class ExpertSource(str, Enum):
    """Where the expert comes from: the notice asks to draw widely on enterprises and associations."""

    ENTERPRISE = "enterprise"    # 企业
    ASSOCIATION = "association"  # 行业协会（学会）
    INSTITUTION = "institution"  # 事业单位、高校、科研院所、机关


class TitleLevel(str, Enum):
    JUNIOR = "junior"
    INTERMEDIATE = "intermediate"
    SENIOR = "senior"            # 副高 and 正高


@dataclass(frozen=True)
class Expert:
    """An expert of the pool (评审专家). ``committees``: the pools (评委会) the expert sits in.

    ``declared_relatives`` / ``declared_conflicts``: opaque references of applicants (or, for
    conflicts, unit names) the expert declared (回避申报); they are matched against each docket.
    """

    expert_id: str
    identity_number: str
    name: str
    employer: str
    specialties: frozenset[str]
    title: str
    title_level: TitleLevel
    source: ExpertSource
    committees: frozenset[str]
    term_start: date
    term_end: date
    status: ExpertStatus = ExpertStatus.ACTIVE
    declared_relatives: frozenset[str] = frozenset()
    declared_conflicts: frozenset[str] = frozenset()

    def in_term(self, day: date) -> bool:
        return self.term_start <= day <= self.term_end

    def status_on(self, day: date) -> ExpertStatus:
        """The status the clock gives: an active or suspended expert whose term ended is expired."""
        if self.status in (ExpertStatus.ACTIVE, ExpertStatus.SUSPENDED) and day > self.term_end:
            return ExpertStatus.EXPIRED
        return self.status


@dataclass(frozen=True)
class Committee:
    """A review committee (评审委员会) and the term of its pool."""

    committee_id: str
    name: str
    organising_unit: str           # 组建单位
    tier: CommitteeTier
    scope: CommitteeScope
    term_start: date
    term_end: date
    specialties: frozenset[str] = frozenset()

    def pool_in_term(self, day: date) -> bool:
        return self.term_start <= day <= self.term_end


def expert_violations(expert: Expert, policy: ExpertsPolicy = DEFAULT_POLICY) -> list[RuleViolation]:
    """Every rule an expert record breaks (the record's shape is checked by :func:`check_shape`)."""
    out: list[RuleViolation] = []
    if expert.term_end < expert.term_start:
        out.append(rules.POOL_TERM.violation(field="term_end", detail="term ends before it starts"))
    elif expert.term_end >= add_years(expert.term_start, policy.term_max_years):
        out.append(rules.POOL_TERM.violation(
            field="term_end", detail=f"term longer than {policy.term_max_years} years",
            latest_end=(add_years(expert.term_start, policy.term_max_years)
                        - timedelta(days=1)).isoformat()))
    return out


def check_shape(expert: Expert) -> None:
    """Refuse a malformed record (InvalidInput); messages never quote the identity number or name."""
    problems: dict[str, str] = {}
    if not expert.expert_id or not expert.expert_id.strip():
        problems["expert_id"] = "required"
    if not identity_number_valid(expert.identity_number):
        problems["identity_number"] = "not a valid citizen identity number"
    if not expert.name or not expert.name.strip():
        problems["name"] = "required"
    if not normalize_unit(expert.employer):
        problems["employer"] = "required"
    if not expert.specialties or not all(s.strip() for s in expert.specialties):
        problems["specialties"] = "at least one specialty"
    if not expert.title or not expert.title.strip():
        problems["title"] = "required"
    if problems:
        raise InvalidInput("expert record is incomplete or malformed", details=problems)


def validate_expert(expert: Expert, policy: ExpertsPolicy = DEFAULT_POLICY) -> Expert:
    check_shape(expert)
    violations = expert_violations(expert, policy)
    if violations:
        raise RuleRefused(violations)
    return expert


# --- pool report ------------------------------------------------------------------------------

@dataclass(frozen=True)
class PoolReport:
    """The pool of one committee on one day, against the minimums (专家库情况)."""

    committee_id: str
    day: date
    size: int
    minimum: int
    outside_unit: int
    outside_share: Fraction
    outside_share_min: Fraction
    by_source: Mapping[str, int]
    violations: tuple[RuleViolation, ...]

    @property
    def meets_minimums(self) -> bool:
        return not self.violations

    @property
    def shortfall(self) -> int:
        return max(self.minimum - self.size, 0)

    def as_dict(self) -> dict:
        return {
            "committee_id": self.committee_id, "day": self.day.isoformat(), "size": self.size,
            "minimum": self.minimum, "shortfall": self.shortfall,
            "outside_unit": self.outside_unit,
            "outside_share": f"{self.outside_share.numerator}/{self.outside_share.denominator}",
            "outside_share_min": (f"{self.outside_share_min.numerator}/"
                                  f"{self.outside_share_min.denominator}"),
            "by_source": dict(self.by_source), "meets_minimums": self.meets_minimums,
            "violations": [v.as_dict() for v in self.violations],
        }


def pool_members(committee_id: str, experts: Iterable[Expert], day: date) -> list[Expert]:
    """Experts counted in a committee's pool on a day: members, active, in term."""
    return [e for e in experts
            if committee_id in e.committees and e.status_on(day) is ExpertStatus.ACTIVE
            and e.in_term(day)]


def pool_report(committee: Committee, experts: Iterable[Expert], day: date,
                policy: ExpertsPolicy = DEFAULT_POLICY) -> PoolReport:
    members = pool_members(committee.committee_id, experts, day)
    size = len(members)
    own = normalize_unit(committee.organising_unit)
    outside = sum(1 for e in members if normalize_unit(e.employer) != own)
    share = Fraction(outside, size) if size else Fraction(0)
    minimum = policy.pool_minimum(committee.tier, committee.scope)
    by_source = {s.value: sum(1 for e in members if e.source is s) for s in ExpertSource}
    violations: list[RuleViolation] = []
    if size < minimum:
        violations.append(rules.POOL_SIZE.violation(
            field="size", detail=f"{size} experts, at least {minimum} needed, short by "
                                 f"{minimum - size}", size=size, minimum=minimum))
    if share < policy.outside_share_min:
        violations.append(rules.POOL_OUTSIDE_SHARE.violation(
            field="outside_share",
            detail=f"{outside} of {size} from outside the organising unit",
            outside_unit=outside, size=size))
    return PoolReport(committee_id=committee.committee_id, day=day, size=size, minimum=minimum,
                      outside_unit=outside, outside_share=share,
                      outside_share_min=policy.outside_share_min, by_source=by_source,
                      violations=tuple(violations))


# --- change requests (备案同意) -------------------------------------------------------------

class ChangeKind(str, Enum):
    ADD = "add"        # 新增
    UPDATE = "update"  # 调整
    REMOVE = "remove"  # 调出


class ChangeStatus(str, Enum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"


@dataclass(frozen=True)
class ChangeRequest:
    """A proposed addition or change to a pool during its term; it changes nothing until the
    bureau approves it (备案同意)."""

    request_id: str
    committee_id: str
    kind: ChangeKind
    expert_id: str
    proposed: Expert | None          # the expert's full record after the change (None: remove)
    reason: str
    requested_by: str
    requested_at: datetime
    status: ChangeStatus = ChangeStatus.PENDING
    decided_by: str | None = None
    decided_at: datetime | None = None
    decision_note: str | None = None


def needs_change_request(committee: Committee, today: date) -> bool:
    """During the pool's term, additions and changes go through the bureau (三(一))."""
    return committee.pool_in_term(today)


def register_directly(committee: Committee, expert: Expert, today: date,
                      policy: ExpertsPolicy = DEFAULT_POLICY) -> Expert:
    """Put an expert in a pool that is still being formed (before its term starts).

    During the term this is refused with EXPERTS-POOL-CHANGE-APPROVAL: use a change request.
    """
    validate_expert(expert, policy)
    if needs_change_request(committee, today):
        raise RuleRefused([rules.POOL_CHANGE_APPROVAL.violation(
            field="committee_id", detail="the pool is in its term: file a change request")])
    if today > committee.term_end:
        raise Conflict("the committee's pool term has ended")
    return replace(expert, committees=expert.committees | {committee.committee_id})


def request_change(*, request_id: str, committee: Committee, kind: ChangeKind | str,
                   current: Expert | None, proposed: Expert | None, reason: str,
                   requested_by: str, now: datetime,
                   policy: ExpertsPolicy = DEFAULT_POLICY) -> ChangeRequest:
    """File a change request. The proposal is checked now, so the bureau only sees valid ones."""
    kind = ChangeKind(kind)
    if kind is ChangeKind.ADD:
        if proposed is None:
            raise InvalidInput("an addition needs the proposed expert record")
        if current is not None and committee.committee_id in current.committees \
                and current.status is not ExpertStatus.REMOVED:
            raise Conflict("the expert is already in this pool")
        proposed = replace(proposed, committees=proposed.committees | {committee.committee_id})
        validate_expert(proposed, policy)
        expert_id = proposed.expert_id
    elif kind is ChangeKind.UPDATE:
        if current is None or proposed is None:
            raise InvalidInput("a change needs the current and the proposed record")
        if proposed.expert_id != current.expert_id:
            raise InvalidInput("a change cannot alter the expert id")
        if current.status is ExpertStatus.REMOVED:
            raise Conflict("the expert was removed from the pool")
        validate_expert(proposed, policy)
        expert_id = current.expert_id
    else:
        if current is None:
            raise InvalidInput("a removal needs the current record")
        if committee.committee_id not in current.committees:
            raise Conflict("the expert is not in this pool")
        proposed = None
        expert_id = current.expert_id
    if not reason or not reason.strip():
        raise InvalidInput("a change request states its reason", details={"reason": "required"})
    return ChangeRequest(request_id=request_id, committee_id=committee.committee_id, kind=kind,
                         expert_id=expert_id, proposed=proposed, reason=reason.strip(),
                         requested_by=requested_by, requested_at=now)


def approve_change(request: ChangeRequest, current: Expert | None, *, approver: str,
                   now: datetime, note: str | None = None,
                   policy: ExpertsPolicy = DEFAULT_POLICY) -> tuple[ChangeRequest, Expert]:
    """The bureau's 备案同意: only now does the pool change. Returns the request and the expert."""
    _must_be_pending(request)
    if request.kind is ChangeKind.REMOVE:
        if current is None:
            raise Conflict("the expert no longer exists")
        remaining = current.committees - {request.committee_id}
        expert = replace(current, committees=remaining,
                         status=ExpertStatus.REMOVED if not remaining else current.status)
    else:
        assert request.proposed is not None
        expert = validate_expert(request.proposed, policy)
        if request.kind is ChangeKind.ADD and current is not None:
            # the same person already sits in other pools: keep those memberships
            expert = replace(expert, committees=expert.committees | current.committees,
                             status=(ExpertStatus.ACTIVE if current.status is ExpertStatus.REMOVED
                                     else current.status))
        if expert.status is ExpertStatus.EXPIRED and expert.term_end >= now.date():
            # a new term approved for an expert whose term had ended (续聘)
            expert = replace(expert, status=ExpertStatus.ACTIVE)
    decided = replace(request, status=ChangeStatus.APPROVED, decided_by=approver,
                      decided_at=now, decision_note=note)
    return decided, expert


def reject_change(request: ChangeRequest, *, approver: str, now: datetime,
                  note: str | None = None) -> ChangeRequest:
    """A rejection records the decision and changes no expert."""
    _must_be_pending(request)
    return replace(request, status=ChangeStatus.REJECTED, decided_by=approver, decided_at=now,
                   decision_note=note)


def _must_be_pending(request: ChangeRequest) -> None:
    if request.status is not ChangeStatus.PENDING:
        raise Conflict(f"the change request is already {request.status.value}")


# --- terms by the clock -------------------------------------------------------------------------

def expire_terms(experts: Iterable[Expert], today: date) -> list[Expert]:
    """The experts whose term has ended by ``today`` and who are not yet marked expired, as
    expired records (each becomes an ``expert_term_expired`` event)."""
    return [replace(e, status=ExpertStatus.EXPIRED) for e in experts
            if e.status in (ExpertStatus.ACTIVE, ExpertStatus.SUSPENDED) and today > e.term_end]


# --- discipline (违反评审纪律、泄露评审信息) ----------------------------------------------------

class Misconduct(str, Enum):
    DISCIPLINE_VIOLATION = "discipline_violation"  # 违反评审纪律
    LEAK = "leak"                                  # 泄露评审信息


class Sanction(str, Enum):
    SUSPEND = "suspend"
    REMOVE = "remove"


@dataclass(frozen=True)
class DisciplineNotice:
    """What the expert's unit is told (通报有关单位). No identity number, no name."""

    expert_id: str
    unit: str
    misconduct: Misconduct
    sanction: Sanction
    meeting_id: str | None
    recorded_by: str
    recorded_at: datetime
    rule: str = rules.DISCIPLINE.id


def record_discipline(expert: Expert, *, misconduct: Misconduct | str, sanction: Sanction | str,
                      recorded_by: str, now: datetime,
                      meeting_id: str | None = None) -> tuple[Expert, DisciplineNotice]:
    misconduct, sanction = Misconduct(misconduct), Sanction(sanction)
    if expert.status is ExpertStatus.REMOVED:
        raise Conflict("the expert was already removed from the pool")
    status = ExpertStatus.REMOVED if sanction is Sanction.REMOVE else ExpertStatus.SUSPENDED
    notice = DisciplineNotice(expert_id=expert.expert_id, unit=expert.employer,
                              misconduct=misconduct, sanction=sanction, meeting_id=meeting_id,
                              recorded_by=recorded_by, recorded_at=now)
    return replace(expert, status=status), notice


def reinstate(expert: Expert) -> Expert:
    """Lift a suspension (the term still limits eligibility)."""
    if expert.status is not ExpertStatus.SUSPENDED:
        raise Conflict(f"the expert is {expert.status.value}, not suspended")
    return replace(expert, status=ExpertStatus.ACTIVE)


# --- eligibility for a meeting's draw ----------------------------------------------------------

class ExclusionReason(str, Enum):
    """Why an expert is not in a draw; the codes are part of the draw's commitment."""

    SAME_EMPLOYER = "same_employer"              # 回避：与申报人同单位
    DECLARED_RELATIVE = "declared_relative"      # 回避：近亲属
    DECLARED_CONFLICT = "declared_conflict"      # 回避：其他利害关系
    OUT_OF_TERM = "out_of_term"                  # 任期届满或未开始
    SUSPENDED = "suspended"                      # 暂停
    REMOVED = "removed"                          # 清退
    NOT_IN_POOL = "not_in_pool"                  # 不在本评委会专家库
    SPECIALTY_NOT_COVERED = "specialty_not_covered"
    ALREADY_DRAWN = "already_drawn"              # 应急抽取：已在本次会议名单中


@dataclass(frozen=True)
class DocketApplicant:
    """An applicant on the meeting's docket, by opaque reference and employer."""

    applicant_ref: str
    employer: str


@dataclass(frozen=True)
class MeetingDocket:
    """What a draw needs to know about a review meeting (评审会议)."""

    committee_id: str
    meeting_id: str
    meeting_date: date
    specialties: frozenset[str]
    applicants: tuple[DocketApplicant, ...] = ()
    # conflicts declared for this meeting only: expert_id -> applicant refs / unit names
    declared_conflicts: Mapping[str, frozenset[str]] = field(default_factory=dict)


@dataclass(frozen=True)
class Exclusion:
    expert_id: str
    reasons: tuple[ExclusionReason, ...]

    def as_dict(self) -> dict:
        return {"expert_id": self.expert_id, "reasons": [r.value for r in self.reasons]}


@dataclass(frozen=True)
class Eligibility:
    eligible: tuple[str, ...]          # sorted expert ids
    exclusions: tuple[Exclusion, ...]  # sorted by expert id


@dataclass(frozen=True)
class _DocketIndex:
    """The docket's applicant references and normalized units, computed once per draw."""

    refs: frozenset[str]
    units: frozenset[str]

    @classmethod
    def of(cls, docket: MeetingDocket) -> "_DocketIndex":
        return cls(refs=frozenset(a.applicant_ref for a in docket.applicants),
                   units=frozenset(normalize_unit(a.employer) for a in docket.applicants))


def exclusion_reasons(expert: Expert, docket: MeetingDocket,
                      already_drawn: frozenset[str] = frozenset(),
                      index: _DocketIndex | None = None) -> tuple[ExclusionReason, ...]:
    index = index or _DocketIndex.of(docket)
    # checks in the alphabetical order of the reason codes, so the tuple comes out sorted
    reasons: list[ExclusionReason] = []
    if expert.expert_id in already_drawn:
        reasons.append(ExclusionReason.ALREADY_DRAWN)
    declared = expert.declared_conflicts
    extra = docket.declared_conflicts.get(expert.expert_id) if docket.declared_conflicts else None
    if extra:
        declared = declared | extra
    if declared and (declared & index.refs
                     or {normalize_unit(d) for d in declared} & index.units):
        reasons.append(ExclusionReason.DECLARED_CONFLICT)
    if expert.declared_relatives and expert.declared_relatives & index.refs:
        reasons.append(ExclusionReason.DECLARED_RELATIVE)
    if docket.committee_id not in expert.committees:
        reasons.append(ExclusionReason.NOT_IN_POOL)
    status = expert.status
    if status is ExpertStatus.EXPIRED or not (expert.term_start <= docket.meeting_date
                                              <= expert.term_end):
        reasons.append(ExclusionReason.OUT_OF_TERM)
    if status is ExpertStatus.REMOVED:
        reasons.append(ExclusionReason.REMOVED)
    if normalize_unit(expert.employer) in index.units:
        reasons.append(ExclusionReason.SAME_EMPLOYER)
    if docket.specialties and expert.specialties.isdisjoint(docket.specialties):
        reasons.append(ExclusionReason.SPECIALTY_NOT_COVERED)
    if status is ExpertStatus.SUSPENDED:
        reasons.append(ExclusionReason.SUSPENDED)
    return tuple(reasons)


def assess_eligibility(experts: Iterable[Expert], docket: MeetingDocket,
                       already_drawn: Iterable[str] = ()) -> Eligibility:
    """Split candidates into the sorted eligible list and the exclusions with every reason.

    An expert is eligible when active, in term on the meeting date, in the committee's pool,
    covering at least one of the docket's specialties, and in no conflict (回避).
    """
    drawn = frozenset(already_drawn)
    index = _DocketIndex.of(docket)
    eligible: list[str] = []
    excluded: list[Exclusion] = []
    seen: set[str] = set()
    for expert in experts:
        if expert.expert_id in seen:
            raise InvalidInput("the same expert id appears twice among the candidates")
        seen.add(expert.expert_id)
        reasons = exclusion_reasons(expert, docket, drawn, index)
        if reasons:
            excluded.append(Exclusion(expert.expert_id, reasons))
        else:
            eligible.append(expert.expert_id)
    return Eligibility(eligible=tuple(sorted(eligible)),
                       exclusions=tuple(sorted(excluded, key=lambda x: x.expert_id)))
