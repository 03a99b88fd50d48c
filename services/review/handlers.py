"""Review use cases: load the case, make the domain move, save it and emit its events — all in
one unit of work, so the state change and the events it causes commit together (outbox)."""
from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any, Callable, Iterable

from sqlalchemy.exc import IntegrityError

from shared.auth import Principal
from shared.db import UnitOfWork
from shared.errors import Conflict, Forbidden, InvalidInput, NotFound, RuleRefused
from shared.ids import new_id

from services.review import case as cases
from services.review import meeting as meetings
from services.review.case import Case, DomainEvent
from services.review.certificate import (
    Certificate, certificate_number, next_issuable_serial, parse_number,
)
from services.review.repository import ReviewRepository
from services.review.rules import ReviewPolicy

def _repo(uow: UnitOfWork) -> ReviewRepository:
    assert uow.session is not None
    return ReviewRepository(uow.session)


def _emit(uow: UnitOfWork, events: Iterable[DomainEvent]) -> None:
    for event in events:
        uow.emit(event.event_type, event.payload)


def _check_committee(principal: Principal, committee_id: str) -> None:
    """A token scoped to committees acts only for those committees (评委会办公室只办本评委会)."""
    if principal.committees and committee_id not in principal.committees:
        raise Forbidden("this token is not for the case's committee", code="wrong_committee",
                        details={"committee_id": committee_id})


def _case_for(repo: ReviewRepository, case_id: str, principal: Principal) -> Case:
    case = repo.get_case(case_id)
    _check_committee(principal, case.committee_id)
    return case


def _apply(uow: UnitOfWork, case_id: str, principal: Principal, now: datetime,
           move: Callable[[Case], cases.Transition]) -> Case:
    repo = _repo(uow)
    case = _case_for(repo, case_id, principal)
    t = move(case)
    repo.save_case(t.case, now)
    _emit(uow, t.events)
    return t.case


# --- consumed events -----------------------------------------------------------------------------

def open_case_from_submission(uow: UnitOfWork, payload: dict[str, Any], now: datetime) -> Case:
    """A new case for intake's accepted submission, its events emitted; the caller checked
    that the submission has none yet, and inserts it."""
    t = cases.open_case(
        case_id=new_id(), submission_id=payload["submission_id"],
        applicant_key=payload["applicant_key"], committee_id=payload["committee_code"],
        committee_name=payload.get("committee_name") or payload["committee_code"],
        title=payload["title"], specialty=payload["specialty"], year=int(payload["plan_year"]),
        recommendation=payload["path"] == "recommendation", now=now,
        employer=str(payload.get("employer") or "")[:200])
    _emit(uow, t.events)
    return t.case


def handle_inbox(uow: UnitOfWork, envelopes: list[dict[str, Any]], now: datetime) -> None:
    """Events from other services, in order, each once (a redelivery, or a repeat within the
    batch, changes nothing): intake's submission_accepted opens a case; experts' panel_drawn
    seats a panel. The caller commits."""
    fresh = uow.claim_new(envelopes)
    repo = _repo(uow)
    with_cases = repo.submissions_with_cases([
        e["payload"]["submission_id"] for e in fresh if e["event_type"] == "submission_accepted"])
    opened: list[Case] = []
    for envelope in fresh:
        if envelope["event_type"] == "panel_drawn" and opened:
            repo.add_cases(opened, now)  # a panel may seat cases opened earlier in the batch
            opened = []
        uow.caused_by(envelope)
        kind = envelope["event_type"]
        if kind == "submission_accepted":
            submission_id = envelope["payload"]["submission_id"]
            if submission_id in with_cases:
                continue  # its case exists, or this batch opened it: nothing changes
            opened.append(open_case_from_submission(uow, envelope["payload"], now))
            with_cases.add(submission_id)
        elif kind == "panel_drawn":
            record_panel(uow, envelope["payload"], now)
    repo.add_cases(opened, now)


def record_panel(uow: UnitOfWork, payload: dict[str, Any], now: datetime) -> meetings.Meeting:
    """experts' panel_drawn: the meeting has its panel (only the size matters here)."""
    repo = _repo(uow)
    meeting = repo.get_meeting(payload["meeting_id"])
    updated = meetings.record_panel(meeting, panel_id=payload.get("panel_id") or payload["round_id"],
                                    panel_size=int(payload["panel_size"]), now=now)
    if updated is not meeting:
        repo.save_meeting(updated)
    return updated


# --- committee office (评委会办公室) --------------------------------------------------------------

def record_qualification(uow: UnitOfWork, case_id: str, *, passed: bool, reasons: list[str],
                         principal: Principal, now: datetime) -> Case:
    if passed:
        if reasons:
            raise InvalidInput("a passed qualification review has no reasons",
                               details={"fields": {"reasons": ["only when failed"]}})
        return _apply(uow, case_id, principal, now,
                      lambda c: cases.pass_qualification(c, now=now))
    return _apply(uow, case_id, principal, now,
                  lambda c: cases.fail_qualification(c, reasons=reasons, now=now))


def start_publicity(uow: UnitOfWork, case_id: str, *, starts_on: date | None,
                    working_days: int | None, policy: ReviewPolicy, principal: Principal,
                    now: datetime) -> Case:
    return _apply(uow, case_id, principal, now, lambda c: cases.start_publicity(
        c, starts_on=starts_on or now.date(), now=now, policy=policy, working_days=working_days))


def start_publicity_list(uow: UnitOfWork, case_ids: list[str], *, starts_on: date | None,
                         working_days: int | None, policy: ReviewPolicy, principal: Principal,
                         now: datetime) -> list[Case]:
    """One public notice for a list of cases (公示名单): all start together or none does, and a
    refusal names every case and rule that stood in the way."""
    if len(set(case_ids)) != len(case_ids):
        raise InvalidInput("a case is listed twice", details={"fields": {"case_ids": ["unique"]}})
    repo = _repo(uow)
    moved: list[cases.Transition] = []
    violations = []
    missing = []
    for case_id in case_ids:
        try:
            case = _case_for(repo, case_id, principal)
        except NotFound:
            missing.append(case_id)
            continue
        try:
            moved.append(cases.start_publicity(case, starts_on=starts_on or now.date(), now=now,
                                               policy=policy, working_days=working_days))
        except RuleRefused as refused:
            violations.extend(refused.violations)
    if missing:
        raise NotFound("some cases do not exist", details={"case_ids": missing})
    if violations:
        raise RuleRefused(violations)
    for t in moved:
        repo.save_case(t.case, now)
        _emit(uow, t.events)
    return [t.case for t in moved]


def file_objection(uow: UnitOfWork, case_id: str, *, grounds: str, principal: Principal,
                   now: datetime) -> tuple[Case, str]:
    objection_id = str(uuid.uuid4())
    case = _apply(uow, case_id, principal, now, lambda c: cases.file_objection(
        c, objection_id=objection_id, now=now, grounds=grounds))
    return case, objection_id


def resolve_objection(uow: UnitOfWork, case_id: str, objection_id: str, *, resolution: str,
                      reason: str, principal: Principal, now: datetime) -> Case:
    return _apply(uow, case_id, principal, now, lambda c: cases.resolve_objection(
        c, objection_id=objection_id, resolution=resolution, reason=reason, now=now))


def supplement_materials(uow: UnitOfWork, case_id: str, *, document_kinds: list[str],
                         principal: Principal, now: datetime) -> Case:
    return _apply(uow, case_id, principal, now, lambda c: cases.supplement_materials(
        c, document_kinds=document_kinds, now=now))


def schedule_meeting(uow: UnitOfWork, *, committee_id: str, starts_at: datetime,
                     case_ids: list[str], panel_size: int, principal: Principal,
                     now: datetime) -> meetings.Meeting:
    _check_committee(principal, committee_id)
    repo = _repo(uow)
    docket = []
    missing = []
    for case_id in case_ids:
        try:
            docket.append(repo.get_case(case_id))
        except NotFound:
            missing.append(case_id)
    if missing:
        raise NotFound("some cases on the docket do not exist", details={"case_ids": missing})
    scheduled = meetings.schedule_meeting(meeting_id=str(uuid.uuid4()), committee_id=committee_id,
                                          starts_at=starts_at, cases=docket,
                                          panel_size=panel_size, now=now)
    repo.add_meeting(scheduled.meeting)
    for case in scheduled.cases:
        repo.save_case(case, now)
    _emit(uow, scheduled.events)
    return scheduled.meeting


def record_votes(uow: UnitOfWork, meeting_id: str, *, case_id: str, present: int, yes: int,
                 no: int, abstain: int, policy: ReviewPolicy, principal: Principal,
                 now: datetime) -> Case:
    repo = _repo(uow)
    meeting = repo.get_meeting(meeting_id)
    _check_committee(principal, meeting.committee_id)
    case = _case_for(repo, case_id, principal)
    t = meetings.record_votes(meeting, case, present=present, yes=yes, no=no, abstain=abstain,
                              now=now, policy=policy)
    repo.add_tally(meeting_id, case_id, t.decision, now)
    repo.save_case(t.case, now)
    if t.case.state is cases.CaseState.FAILED:
        repo.add_failed_applicant(t.case, now)
    _emit(uow, t.events)
    return t.case


# --- bureau (区人力社保局) ------------------------------------------------------------------------

def publish_result(uow: UnitOfWork, case_id: str, *, principal: Principal, now: datetime) -> Case:
    return _apply(uow, case_id, principal, now, lambda c: cases.publish_result(c, now=now))


def issue_certificate(uow: UnitOfWork, case_id: str, *, policy: ReviewPolicy,
                      principal: Principal, now: datetime) -> tuple[Case, Certificate]:
    """The next free serial of the prefix and year, skipping serials whose check would be '*'."""
    repo = _repo(uow)
    case = _case_for(repo, case_id, principal)
    prefix = policy.certificate_prefix
    assert uow.session is not None
    # Two certificates issued at the same moment may pick the same next serial: the unique key
    # refuses the second, which takes the next free one (inside a savepoint) instead of asking
    # the bureau to try again.
    serial = repo.last_certificate_serial(prefix, case.year)
    for _attempt in range(5):
        serial = next_issuable_serial(prefix, case.year,
                                      max(serial, repo.last_certificate_serial(prefix, case.year))
                                      + 1)
        number = certificate_number(prefix, case.year, serial)
        t = cases.issue_certificate(case, certificate_number=number, now=now)
        cert = Certificate(number=number, case_id=case.case_id, applicant_key=case.applicant_key,
                           title=case.title, specialty=case.specialty,
                           committee_name=case.committee_name, issued_on=now.date())
        try:
            with uow.session.begin_nested():
                repo.add_certificate(cert, prefix=prefix, year=case.year, serial=serial, now=now)
            break
        except IntegrityError:
            if repo.certificate_for_case(case.case_id) is not None:
                raise Conflict("this case already has a certificate",
                               details={"case_id": case_id}) from None
            continue
    else:
        raise Conflict("no free certificate serial after several attempts; retry",
                       details={"case_id": case_id})
    repo.save_case(t.case, now)
    _emit(uow, t.events)
    return t.case, cert


def forward_recommendation(uow: UnitOfWork, case_id: str, *, forwarded_to: str,
                           principal: Principal, now: datetime) -> Case:
    return _apply(uow, case_id, principal, now, lambda c: cases.forward_recommendation(
        c, now=now, forwarded_to=forwarded_to))


# --- the clock -----------------------------------------------------------------------------------

def due_publicities(uow: UnitOfWork, now: datetime) -> list[str]:
    return _repo(uow).cases_with_publicity_due(now)


def end_publicity(uow: UnitOfWork, case_id: str, now: datetime) -> Case | None:
    """End one case's notice if it is (still) due; None when another worker got there first or an
    objection came in meanwhile."""
    repo = _repo(uow)
    case = repo.get_case(case_id)
    if not cases.is_publicity_due(case, now):
        return None
    try:
        t = cases.end_publicity(case, now=now)
    except RuleRefused:
        return None
    repo.save_case(t.case, now)
    _emit(uow, t.events)
    return t.case


# --- reading -------------------------------------------------------------------------------------

def get_case(uow: UnitOfWork, case_id: str, *, principal: Principal) -> Case:
    return _case_for(_repo(uow), case_id, principal)


def list_cases(uow: UnitOfWork, *, principal: Principal, submission_id: str | None = None,
               state: str | None = None, committee_id: str | None = None, limit: int = 100,
               offset: int = 0) -> list[Case]:
    """Cases a principal may see (a committee-scoped token sees its committees only)."""
    repo = _repo(uow)
    if submission_id:
        found = repo.find_case_by_submission(submission_id)
        if found is None or (principal.committees
                             and found.committee_id not in principal.committees):
            return []
        return [found]
    return repo.list_cases(state=state, committee_id=committee_id,
                           committees=principal.committees, limit=limit, offset=offset)


def get_meeting(uow: UnitOfWork, meeting_id: str, *,
                principal: Principal) -> tuple[meetings.Meeting, list[dict[str, Any]]]:
    repo = _repo(uow)
    meeting = repo.get_meeting(meeting_id)
    _check_committee(principal, meeting.committee_id)
    return meeting, repo.tallies(meeting_id)


def failed_applicants(uow: UnitOfWork, year: int) -> list[dict[str, Any]]:
    return _repo(uow).failed_applicants(year)


# --- public --------------------------------------------------------------------------------------

def verify_certificate(uow: UnitOfWork, number: str) -> dict[str, str]:
    canonical = parse_number(number)  # a wrong check character never reaches the database
    cert = _repo(uow).find_certificate(canonical)
    if cert is None:
        raise NotFound("no certificate with this number", code="certificate_not_found")
    return {"valid": True, **cert.public_view()}
