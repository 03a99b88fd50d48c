"""A review case (评审案件) and the moves it may make.

A case is opened when intake accepts a submission (受理) and then moves, one explicit step at a
time, as the notice's 二(二) lists them — 受理、审核、公示、评审、公布、发证::

    accepted ──pass_qualification──▶ qualified ──start_publicity──▶ pre_review_publicity (评前公示)
        └─fail_qualification──▶ qualification_failed                    │ end_publicity
                                                                        ▼
    passed ◀──record_votes── on_docket (materials frozen) ◀──place_on_docket── awaiting_meeting
      │    └──────────────▶ failed (applicant recorded for next year)    ▲
      │                     no quorum: back to awaiting_meeting ─────────┘
      ▼ start_publicity
    post_review_publicity (评后公示) ──end_publicity──▶ awaiting_publication ──publish_result──▶
    published ──issue_certificate──▶ certificate_issued
              └─forward_recommendation──▶ recommendation_forwarded  (推荐 cases)

    during either publicity an objection (异议) holds the case: upheld ─▶ withdrawn;
    dismissed ─▶ it goes on (and the publicity ends at once if its window is already over).

Every move is a pure function ``move(case, ..., now) -> Transition(case, events)``: the case is an
immutable value, so a refused move raises :class:`shared.errors.RuleRefused` listing every failed
rule and leaves nothing changed. ``events`` are the domain events the handler writes to the outbox.

Pure domain: no nameko, sqlalchemy, marshmallow or kombu imports.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date, datetime
from enum import Enum
from typing import Any

from shared.clock import CHINA
from shared.errors import Conflict, InvalidInput, NotFound, RuleRefused
from shared.rules import RuleViolation
from shared.workdays import PublicityWindow, publicity_window

from services.review.rules import (
    CASE_FLOW,
    MATERIALS_FROZEN,
    MEETING_AFTER_PRE_REVIEW_PUBLICITY,
    MEETING_COMMITTEE,
    OBJECTION_HOLDS,
    OBJECTION_RESOLUTION,
    OBJECTION_WINDOW,
    PUBLICATION_AFTER_POST_REVIEW_PUBLICITY,
    PUBLICITY_DAYS,
    PUBLICITY_RUNNING,
    PUBLICITY_START,
    QUALIFICATION_REASONS,
    RECOMMENDATION_FORWARDED,
    ReviewPolicy,
)
from services.review.voting import Decision, Outcome


class CaseState(str, Enum):
    ACCEPTED = "accepted"                                  # 已受理，待资格审查
    QUALIFICATION_FAILED = "qualification_failed"          # 资格审查未通过
    QUALIFIED = "qualified"                                # 资格审查通过
    PRE_REVIEW_PUBLICITY = "pre_review_publicity"          # 评前公示中
    AWAITING_MEETING = "awaiting_meeting"                  # 评前公示结束，待提交评审会议
    ON_DOCKET = "on_docket"                                # 已列入评审会议（材料冻结）
    PASSED = "passed"                                      # 评审通过
    FAILED = "failed"                                      # 评审未通过
    POST_REVIEW_PUBLICITY = "post_review_publicity"        # 评后公示中
    AWAITING_PUBLICATION = "awaiting_publication"          # 评后公示结束，待公布
    PUBLISHED = "published"                                # 评审结果已公布
    CERTIFICATE_ISSUED = "certificate_issued"              # 已发证
    RECOMMENDATION_FORWARDED = "recommendation_forwarded"  # 已报送上级评委会（推荐）
    WITHDRAWN = "withdrawn"                                # 异议成立，撤销

    @property
    def is_final(self) -> bool:
        return self in FINAL_STATES


FINAL_STATES = frozenset({
    CaseState.QUALIFICATION_FAILED, CaseState.FAILED, CaseState.CERTIFICATE_ISSUED,
    CaseState.RECOMMENDATION_FORWARDED, CaseState.WITHDRAWN,
})


class PublicityPhase(str, Enum):
    PRE_REVIEW = "pre_review"    # 评前公示
    POST_REVIEW = "post_review"  # 评后公示


class ObjectionResolution(str, Enum):
    UPHELD = "upheld"        # 异议成立
    DISMISSED = "dismissed"  # 异议不成立


# Which states each move starts from. Guards beyond the state (windows, objections, committee,
# recommendation) are checked in the move itself.
ALLOWED_FROM: dict[str, frozenset[CaseState]] = {
    "pass_qualification": frozenset({CaseState.ACCEPTED}),
    "fail_qualification": frozenset({CaseState.ACCEPTED}),
    "start_publicity": frozenset({CaseState.QUALIFIED, CaseState.PASSED}),
    "file_objection": frozenset({CaseState.PRE_REVIEW_PUBLICITY, CaseState.POST_REVIEW_PUBLICITY}),
    "resolve_objection": frozenset({CaseState.PRE_REVIEW_PUBLICITY,
                                    CaseState.POST_REVIEW_PUBLICITY}),
    "end_publicity": frozenset({CaseState.PRE_REVIEW_PUBLICITY, CaseState.POST_REVIEW_PUBLICITY}),
    "supplement_materials": frozenset({CaseState.ACCEPTED, CaseState.QUALIFIED,
                                       CaseState.PRE_REVIEW_PUBLICITY, CaseState.AWAITING_MEETING}),
    "place_on_docket": frozenset({CaseState.AWAITING_MEETING}),
    "record_decision": frozenset({CaseState.ON_DOCKET}),
    "publish_result": frozenset({CaseState.AWAITING_PUBLICATION}),
    "issue_certificate": frozenset({CaseState.PUBLISHED}),
    "forward_recommendation": frozenset({CaseState.PUBLISHED}),
}

_PUBLICITY_STATE = {
    PublicityPhase.PRE_REVIEW: CaseState.PRE_REVIEW_PUBLICITY,
    PublicityPhase.POST_REVIEW: CaseState.POST_REVIEW_PUBLICITY,
}
_AFTER_PUBLICITY = {
    PublicityPhase.PRE_REVIEW: CaseState.AWAITING_MEETING,
    PublicityPhase.POST_REVIEW: CaseState.AWAITING_PUBLICATION,
}


@dataclass(frozen=True)
class DomainEvent:
    """A fact the handler writes to the outbox: ``event_type`` and a JSON-ready payload."""

    event_type: str
    payload: dict[str, Any]


@dataclass(frozen=True)
class Publicity:
    """One public notice of the case (公示), with when it actually ended."""

    phase: PublicityPhase
    window: PublicityWindow
    started_at: datetime
    ended_at: datetime | None = None


@dataclass(frozen=True)
class Objection:
    """An objection (异议). ``grounds`` may name people: it stays in the case, never in events."""

    objection_id: str
    phase: PublicityPhase
    filed_at: datetime
    grounds: str = ""
    resolution: ObjectionResolution | None = None
    resolved_at: datetime | None = None
    reason: str = ""

    @property
    def is_open(self) -> bool:
        return self.resolution is None


@dataclass(frozen=True)
class Case:
    """A submission under review. ``applicant_key`` is intake's opaque applicant key (no identity
    number); the bureau's terms for title/specialty/committee are those of the plan (评审计划)."""

    case_id: str
    submission_id: str
    applicant_key: str
    committee_id: str
    committee_name: str
    title: str
    specialty: str
    year: int
    recommendation: bool
    state: CaseState
    accepted_at: datetime
    employer: str = ""  # the applicant's unit (单位), for the panel's 回避 by employer
    qualification_reasons: tuple[str, ...] = ()
    publicities: tuple[Publicity, ...] = ()
    objections: tuple[Objection, ...] = ()
    meeting_id: str | None = None
    materials_frozen: bool = False
    materials_frozen_at: datetime | None = None
    decision: Decision | None = None
    decided_at: datetime | None = None
    withdrawal_reason: str = ""
    published_at: datetime | None = None
    certificate_number: str | None = None
    closed_at: datetime | None = None
    history: tuple[tuple[str, str, datetime], ...] = field(default=())  # (from, to, at)

    @property
    def current_publicity(self) -> Publicity | None:
        if self.state in (CaseState.PRE_REVIEW_PUBLICITY, CaseState.POST_REVIEW_PUBLICITY):
            return self.publicities[-1] if self.publicities else None
        return None

    def publicity(self, phase: PublicityPhase) -> Publicity | None:
        for p in reversed(self.publicities):
            if p.phase is phase:
                return p
        return None

    @property
    def open_objections(self) -> tuple[Objection, ...]:
        return tuple(o for o in self.objections if o.is_open)

    @property
    def is_held(self) -> bool:
        """An objection is open: the case waits for its resolution (REVIEW-OBJECTION-HOLDS)."""
        return bool(self.open_objections)

    def objection(self, objection_id: str) -> Objection:
        for o in self.objections:
            if o.objection_id == objection_id:
                return o
        raise NotFound("no such objection on this case", details={"objection_id": objection_id})

    def reference(self) -> dict[str, Any]:
        """The identifying part of every event payload (no personal data)."""
        return {"case_id": self.case_id, "submission_id": self.submission_id,
                "committee_id": self.committee_id}


@dataclass(frozen=True)
class Transition:
    case: Case
    events: tuple[DomainEvent, ...]


# --- helpers -------------------------------------------------------------------------------------

def china_time(now: datetime) -> datetime:
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    return now.astimezone(CHINA)


def _state_violation(case: Case, move: str) -> RuleViolation:
    allowed = ", ".join(sorted(s.value for s in ALLOWED_FROM[move]))
    return CASE_FLOW.violation(field="state", detail=f"{move} is not allowed from "
                               f"{case.state.value} (allowed from: {allowed})",
                               case_id=case.case_id, state=case.state.value, move=move)


def _refuse_unless_empty(violations: list[RuleViolation]) -> None:
    if violations:
        raise RuleRefused(violations)


def _moved(case: Case, to: CaseState, now: datetime, **changes: Any) -> Case:
    history = case.history + ((case.state.value, to.value, now),)
    closed_at = now if to in FINAL_STATES else case.closed_at
    return replace(case, state=to, history=history, closed_at=closed_at, **changes)


def _event(case: Case, event_type: str, now: datetime, **payload: Any) -> DomainEvent:
    return DomainEvent(event_type, {**case.reference(), "at": now.isoformat(), **payload})


def _hold_violation(case: Case) -> RuleViolation:
    return OBJECTION_HOLDS.violation(
        field="objections", detail=f"{len(case.open_objections)} objection(s) open",
        case_id=case.case_id, objection_ids=[o.objection_id for o in case.open_objections])


# --- opening -------------------------------------------------------------------------------------

def open_case(*, case_id: str, submission_id: str, applicant_key: str, committee_id: str,
              committee_name: str, title: str, specialty: str, year: int, recommendation: bool,
              now: datetime, employer: str = "") -> Transition:
    """A case for a submission intake has accepted (受理)."""
    now = china_time(now)
    missing = [name for name, value in (("case_id", case_id), ("submission_id", submission_id),
                                        ("applicant_key", applicant_key),
                                        ("committee_id", committee_id), ("title", title))
               if not value]
    if missing:
        raise InvalidInput("a case needs " + ", ".join(missing), details={"missing": missing})
    case = Case(case_id=case_id, submission_id=submission_id, applicant_key=applicant_key,
                committee_id=committee_id, committee_name=committee_name, title=title,
                specialty=specialty, year=year, recommendation=recommendation,
                state=CaseState.ACCEPTED, accepted_at=now, employer=employer or "")
    return Transition(case, (_event(case, "case_opened", now, year=year,
                                    recommendation=recommendation),))


# --- qualification review (资格审查) ------------------------------------------------------------

def pass_qualification(case: Case, *, now: datetime) -> Transition:
    now = china_time(now)
    if case.state not in ALLOWED_FROM["pass_qualification"]:
        raise RuleRefused([_state_violation(case, "pass_qualification")])
    moved = _moved(case, CaseState.QUALIFIED, now, qualification_reasons=())
    return Transition(moved, (_event(moved, "qualification_passed", now),))


def fail_qualification(case: Case, *, reasons: list[str] | tuple[str, ...],
                       now: datetime) -> Transition:
    """Fail with reasons (每条不通过理由). Reasons are shown to the applicant's unit."""
    now = china_time(now)
    violations = []
    if case.state not in ALLOWED_FROM["fail_qualification"]:
        violations.append(_state_violation(case, "fail_qualification"))
    cleaned = tuple(r.strip() for r in reasons or () if r and r.strip())
    if not cleaned:
        violations.append(QUALIFICATION_REASONS.violation(field="reasons",
                                                          case_id=case.case_id))
    _refuse_unless_empty(violations)
    moved = _moved(case, CaseState.QUALIFICATION_FAILED, now, qualification_reasons=cleaned)
    return Transition(moved, (_event(moved, "qualification_failed", now, reasons=list(cleaned)),))


# --- publicity (公示) ----------------------------------------------------------------------------

def start_publicity(case: Case, *, starts_on: date, now: datetime, policy: ReviewPolicy,
                    working_days: int | None = None) -> Transition:
    """Start the pre-review notice of a qualified case or the post-review notice of a passed one."""
    now = china_time(now)
    days = policy.publicity_working_days if working_days is None else working_days
    violations = []
    if case.state not in ALLOWED_FROM["start_publicity"]:
        violations.append(_state_violation(case, "start_publicity"))
    if days < policy.minimum_publicity_working_days:
        violations.append(PUBLICITY_DAYS.violation(
            field="working_days", detail=f"{days} < {policy.minimum_publicity_working_days}",
            case_id=case.case_id))
    if starts_on < now.date():
        violations.append(PUBLICITY_START.violation(
            field="starts_on", detail=f"{starts_on.isoformat()} is before {now.date().isoformat()}",
            case_id=case.case_id))
    _refuse_unless_empty(violations)
    phase = (PublicityPhase.PRE_REVIEW if case.state is CaseState.QUALIFIED
             else PublicityPhase.POST_REVIEW)
    window = publicity_window(starts_on, days)  # CalendarOutOfRange for years without data
    publicity = Publicity(phase=phase, window=window, started_at=now)
    moved = _moved(case, _PUBLICITY_STATE[phase], now, publicities=case.publicities + (publicity,))
    return Transition(moved, (_event(moved, "publicity_started", now, phase=phase.value,
                                     **window.as_dict()),))


def end_publicity(case: Case, *, now: datetime) -> Transition:
    """The clock's move: the window is over and no objection is open."""
    now = china_time(now)
    publicity = case.current_publicity
    if case.state not in ALLOWED_FROM["end_publicity"] or publicity is None:
        raise RuleRefused([_state_violation(case, "end_publicity")])
    violations = []
    if not publicity.window.has_ended(now):
        violations.append(PUBLICITY_RUNNING.violation(
            field="now", detail=f"the notice runs until {publicity.window.closes_at.isoformat()}",
            case_id=case.case_id, closes_at=publicity.window.closes_at.isoformat()))
    if case.is_held:
        violations.append(_hold_violation(case))
    _refuse_unless_empty(violations)
    return _close_publicity(case, publicity, now)


def _close_publicity(case: Case, publicity: Publicity, now: datetime) -> Transition:
    ended = replace(publicity, ended_at=now)
    moved = _moved(case, _AFTER_PUBLICITY[publicity.phase], now,
                   publicities=case.publicities[:-1] + (ended,))
    return Transition(moved, (_event(moved, "publicity_ended", now, phase=publicity.phase.value,
                                     last_day=publicity.window.last_day.isoformat(),
                                     objections=len([o for o in case.objections
                                                     if o.phase is publicity.phase])),))


def is_publicity_due(case: Case, now: datetime) -> bool:
    """True when the clock should end this case's notice now (used by the tick)."""
    publicity = case.current_publicity
    return (publicity is not None and publicity.window.has_ended(china_time(now))
            and not case.is_held)


# --- objections (异议) ---------------------------------------------------------------------------

def file_objection(case: Case, *, objection_id: str, now: datetime, grounds: str = "") -> Transition:
    now = china_time(now)
    if case.state not in ALLOWED_FROM["file_objection"]:
        raise RuleRefused([_state_violation(case, "file_objection")])
    publicity = case.current_publicity
    assert publicity is not None
    if not publicity.window.is_open(now):
        raise RuleRefused([OBJECTION_WINDOW.violation(
            field="now", detail=f"the {publicity.phase.value} notice is open from "
                                f"{publicity.window.opens_at.isoformat()} until "
                                f"{publicity.window.closes_at.isoformat()}",
            case_id=case.case_id)])
    if any(o.objection_id == objection_id for o in case.objections):
        raise Conflict("this objection is already filed", details={"objection_id": objection_id})
    objection = Objection(objection_id=objection_id, phase=publicity.phase, filed_at=now,
                          grounds=grounds)
    moved = replace(case, objections=case.objections + (objection,))
    return Transition(moved, (_event(moved, "objection_filed", now, objection_id=objection_id,
                                     phase=publicity.phase.value),))


def resolve_objection(case: Case, *, objection_id: str, resolution: ObjectionResolution | str,
                      reason: str, now: datetime) -> Transition:
    """Upheld: the case is withdrawn with ``reason``. Dismissed: it goes on; if its window is
    already over and nothing else is open, the notice ends now."""
    now = china_time(now)
    try:
        resolution = ObjectionResolution(resolution)
    except ValueError:
        raise InvalidInput("resolution is upheld or dismissed",
                           details={"resolution": str(resolution)}) from None
    if case.state not in ALLOWED_FROM["resolve_objection"]:
        raise RuleRefused([_state_violation(case, "resolve_objection")])
    objection = case.objection(objection_id)
    violations = []
    if not objection.is_open:
        violations.append(OBJECTION_RESOLUTION.violation(
            field="objection_id", detail=f"already {objection.resolution.value}",
            case_id=case.case_id, objection_id=objection_id))
    reason = (reason or "").strip()
    if resolution is ObjectionResolution.UPHELD and not reason:
        violations.append(OBJECTION_RESOLUTION.violation(
            field="reason", detail="an upheld objection withdraws the case and needs the reason",
            case_id=case.case_id, objection_id=objection_id))
    _refuse_unless_empty(violations)
    resolved = replace(objection, resolution=resolution, resolved_at=now, reason=reason)
    objections = tuple(resolved if o.objection_id == objection_id else o for o in case.objections)
    updated = replace(case, objections=objections)
    events = [_event(updated, "objection_resolved", now, objection_id=objection_id,
                     phase=objection.phase.value, resolution=resolution.value)]
    if resolution is ObjectionResolution.UPHELD:
        withdrawn = _moved(updated, CaseState.WITHDRAWN, now, withdrawal_reason=reason)
        events.append(_event(withdrawn, "case_withdrawn", now, reason=reason,
                             objection_id=objection_id))
        return Transition(withdrawn, tuple(events))
    publicity = updated.current_publicity
    assert publicity is not None
    if not updated.is_held and publicity.window.has_ended(now):
        closed = _close_publicity(updated, publicity, now)
        return Transition(closed.case, tuple(events) + closed.events)
    return Transition(updated, tuple(events))


# --- materials (申报材料) ------------------------------------------------------------------------

def supplement_materials(case: Case, *, document_kinds: list[str] | tuple[str, ...],
                         now: datetime) -> Transition:
    """Record that materials were supplemented (补充材料) — refused once they are frozen."""
    now = china_time(now)
    if case.materials_frozen:
        raise RuleRefused([MATERIALS_FROZEN.violation(
            field="materials", case_id=case.case_id, meeting_id=case.meeting_id,
            frozen_at=case.materials_frozen_at.isoformat() if case.materials_frozen_at else None)])
    if case.state not in ALLOWED_FROM["supplement_materials"]:
        raise RuleRefused([_state_violation(case, "supplement_materials")])
    kinds = [k for k in document_kinds or () if k]
    if not kinds:
        raise InvalidInput("name at least one kind of document supplemented")
    return Transition(case, (_event(case, "materials_supplemented", now, document_kinds=kinds),))


# --- meetings (评审会议) -------------------------------------------------------------------------

def docket_violations(case: Case, *, committee_id: str, starts_at: datetime) -> list[RuleViolation]:
    """Every reason the case cannot go on this meeting's docket (empty: it can)."""
    violations = []
    if case.state in (CaseState.ACCEPTED, CaseState.QUALIFIED, CaseState.PRE_REVIEW_PUBLICITY):
        pre = case.publicity(PublicityPhase.PRE_REVIEW)
        detail = ("the pre-review notice has not started" if pre is None else
                  f"the pre-review notice runs until {pre.window.closes_at.isoformat()}")
        violations.append(MEETING_AFTER_PRE_REVIEW_PUBLICITY.violation(
            field="docket", detail=detail, case_id=case.case_id, state=case.state.value))
        if case.is_held:
            violations.append(_hold_violation(case))
    elif case.state not in ALLOWED_FROM["place_on_docket"]:
        violations.append(_state_violation(case, "place_on_docket"))
    else:
        pre = case.publicity(PublicityPhase.PRE_REVIEW)
        if pre is None or pre.ended_at is None or starts_at < pre.window.closes_at:
            violations.append(MEETING_AFTER_PRE_REVIEW_PUBLICITY.violation(
                field="starts_at", detail="the meeting starts before the pre-review notice ended",
                case_id=case.case_id))
    if case.committee_id != committee_id:
        violations.append(MEETING_COMMITTEE.violation(field="docket", case_id=case.case_id))
    return violations


def place_on_docket(case: Case, *, meeting_id: str, committee_id: str, starts_at: datetime,
                    now: datetime) -> Transition:
    """Put the case on a meeting's docket; from now on its materials are frozen (三(三))."""
    now = china_time(now)
    _refuse_unless_empty(docket_violations(case, committee_id=committee_id,
                                           starts_at=china_time(starts_at)))
    newly_frozen = not case.materials_frozen
    moved = _moved(case, CaseState.ON_DOCKET, now, meeting_id=meeting_id, materials_frozen=True,
                   materials_frozen_at=case.materials_frozen_at or now)
    events: tuple[DomainEvent, ...] = ()
    if newly_frozen:
        events = (_event(moved, "materials_frozen", now, meeting_id=meeting_id),)
    return Transition(moved, events)


def record_decision(case: Case, *, meeting_id: str, decision: Decision,
                    now: datetime) -> Transition:
    """Apply the meeting's decision on this case (see ``voting.decide``).

    No quorum: no decision, the case waits for another meeting (materials stay frozen).
    Failed: final, and the applicant is recorded for next year's new-achievements rule (三(二)
    对上年度参评未通过人员，要严格审查申报对象新增业绩).
    """
    now = china_time(now)
    if case.state not in ALLOWED_FROM["record_decision"]:
        raise RuleRefused([_state_violation(case, "record_decision")])
    if case.meeting_id != meeting_id:
        raise RuleRefused([CASE_FLOW.violation(field="meeting_id",
                                               detail="the case is on another meeting's docket",
                                               case_id=case.case_id)])
    votes = _event(case, "votes_recorded", now, meeting_id=meeting_id, **decision.as_dict())
    if decision.outcome is Outcome.NO_QUORUM:
        moved = _moved(case, CaseState.AWAITING_MEETING, now, meeting_id=None)
        return Transition(moved, (votes,))
    target = CaseState.PASSED if decision.outcome is Outcome.PASSED else CaseState.FAILED
    moved = _moved(case, target, now, decision=decision, decided_at=now)
    events = [votes, _event(moved, "case_decided", now, meeting_id=meeting_id,
                            outcome=decision.outcome.value,
                            failed_rules=list(decision.failed_rules),
                            recommendation=case.recommendation)]
    if target is CaseState.FAILED:
        events.append(_event(moved, "applicant_failed", now, applicant_key=case.applicant_key,
                             year=case.year, title=case.title, specialty=case.specialty,
                             stage="review", failed_rules=list(decision.failed_rules)))
    return Transition(moved, tuple(events))


# --- publication and the end (公布、发证) --------------------------------------------------------

def publish_result(case: Case, *, now: datetime) -> Transition:
    now = china_time(now)
    if case.state in (CaseState.PASSED, CaseState.POST_REVIEW_PUBLICITY):
        post = case.publicity(PublicityPhase.POST_REVIEW) if case.state is not CaseState.PASSED \
            else None
        detail = ("the post-review notice has not started" if post is None else
                  f"the post-review notice runs until {post.window.closes_at.isoformat()}")
        violations = [PUBLICATION_AFTER_POST_REVIEW_PUBLICITY.violation(
            field="state", detail=detail, case_id=case.case_id, state=case.state.value)]
        if case.is_held:
            violations.append(_hold_violation(case))
        raise RuleRefused(violations)
    if case.state not in ALLOWED_FROM["publish_result"]:
        raise RuleRefused([_state_violation(case, "publish_result")])
    moved = _moved(case, CaseState.PUBLISHED, now, published_at=now)
    return Transition(moved, (_event(moved, "result_published", now, title=case.title,
                                     specialty=case.specialty, year=case.year,
                                     recommendation=case.recommendation),))


def issue_certificate(case: Case, *, certificate_number: str, now: datetime) -> Transition:
    now = china_time(now)
    violations = []
    if case.state not in ALLOWED_FROM["issue_certificate"]:
        violations.append(_state_violation(case, "issue_certificate"))
    if case.recommendation:
        violations.append(RECOMMENDATION_FORWARDED.violation(
            field="recommendation", detail="a recommendation case is forwarded, not certified",
            case_id=case.case_id))
    _refuse_unless_empty(violations)
    moved = _moved(case, CaseState.CERTIFICATE_ISSUED, now, certificate_number=certificate_number)
    return Transition(moved, (_event(moved, "certificate_issued", now,
                                     certificate_number=certificate_number, title=case.title,
                                     specialty=case.specialty, committee_name=case.committee_name,
                                     issued_on=now.date().isoformat(),
                                     applicant_key=case.applicant_key),))


def forward_recommendation(case: Case, *, now: datetime, forwarded_to: str = "") -> Transition:
    """A recommendation case (推荐) goes to the higher committee instead of a certificate."""
    now = china_time(now)
    violations = []
    if case.state not in ALLOWED_FROM["forward_recommendation"]:
        violations.append(_state_violation(case, "forward_recommendation"))
    if not case.recommendation:
        violations.append(RECOMMENDATION_FORWARDED.violation(
            field="recommendation", detail="a review case gets a certificate, it is not forwarded",
            case_id=case.case_id))
    _refuse_unless_empty(violations)
    moved = _moved(case, CaseState.RECOMMENDATION_FORWARDED, now)
    return Transition(moved, (_event(moved, "recommendation_forwarded", now, title=case.title,
                                     specialty=case.specialty, forwarded_to=forwarded_to,
                                     applicant_key=case.applicant_key),))
