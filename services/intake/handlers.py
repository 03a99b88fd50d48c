"""Intake use cases: (command, unit of work) -> state + events through the outbox.

Each function runs inside the caller's unit of work and leaves the commit to it, except where the
docstring says otherwise. No nameko here: ``service.py`` adapts HTTP and AMQP to these.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from shared.errors import Conflict, InvalidInput, NotFound
from shared.ids import new_id
from services.intake.exceptions import SubmissionRefused
from services.intake.application import (
    Application, Attempt, PerformanceArchive, derive_applicant_key, mask_identity_number)
from services.intake.plan import (
    PLANS_DIR, Plan, PlanFileError, SpecialApproval, load_plan_year, plan_from_dict)
from services.intake.repository import (ArchiveRepository, PendingRows, PlanRepository,
                                         SubmissionRepository)
from services.intake.rules import Assessment, assess


def request_hash(raw: Any) -> str:
    """A stable digest of what the portal sent (to tell a replay from a reused portal id)."""
    return hashlib.sha256(json.dumps(raw, sort_keys=True, ensure_ascii=False,
                                     separators=(",", ":"), default=str).encode()).hexdigest()


# ------------------------------------------------------------------------------------- plans
def _plan_or_file(uow, year: int, plans_dir: Path) -> tuple[Plan, bool]:
    """The stored plan of the year, else the plan file (not yet stored: second value False)."""
    stored = PlanRepository(uow.session).get(year)
    if stored is not None:
        return stored, True
    return load_plan_year(year, plans_dir), False


def _store_loaded(uow, plan: Plan, now: datetime) -> None:
    PlanRepository(uow.session).add(plan, loaded_at=now)
    uow.emit("plan_loaded", {"year": plan.year, "source": plan.source,
                             "committee_count": len(plan.committees),
                             "counts": plan.as_dict()["counts"], "loaded_at": now.isoformat()})


def show_plan(uow, year: int, plans_dir: Path = PLANS_DIR) -> dict[str, Any]:
    """The plan of the year as stored (or as its file says, while still a draft never stored)."""
    plan, stored = _plan_or_file(uow, year, plans_dir)
    out = plan.as_dict()
    out["deadline_changes"] = PlanRepository(uow.session).deadline_changes(year) if stored else []
    return out


def load_plan_document(uow, year: int, document: Any, now: datetime) -> dict[str, Any]:
    """Load (or replace) a year's draft plan from a plan document (another year's file)."""
    if not isinstance(document, dict):
        raise InvalidInput("the plan document must be a JSON object",
                           details={"fields": {"_schema": ["must be a JSON object"]}})
    if document.get("year") != year:
        raise InvalidInput("the plan document's year does not match the URL",
                           details={"fields": {"year": [f"must be {year}"]}})
    document = {**document, "state": "draft", "published_at": None}
    try:
        plan = plan_from_dict(document)
    except PlanFileError as exc:
        field_name = str(exc).split(":", 1)[0]
        raise InvalidInput(f"the plan document is invalid: {exc}",
                           details={"fields": {field_name: [str(exc).split(":", 1)[-1].strip()]}}) \
            from None
    repo = PlanRepository(uow.session)
    existing = repo.get(year)
    if existing is not None and existing.is_published:
        raise Conflict(f"plan {year} is published and cannot be replaced",
                       code="plan_already_published")
    if existing is None:
        repo.add(plan, loaded_at=now)
    else:
        repo.replace_draft(plan, loaded_at=now)
    uow.emit("plan_loaded", {"year": plan.year, "source": plan.source,
                             "committee_count": len(plan.committees),
                             "counts": plan.as_dict()["counts"], "loaded_at": now.isoformat()})
    return plan.as_dict()


def publish_plan(uow, year: int, now: datetime, plans_dir: Path = PLANS_DIR) -> dict[str, Any]:
    plan, stored = _plan_or_file(uow, year, plans_dir)
    if not stored:
        _store_loaded(uow, plan, now)
    published = plan.publish(now)
    PlanRepository(uow.session).save(plan)
    uow.emit("plan_published", published.payload())
    return plan.as_dict()


def change_deadline(uow, year: int, committee_code: str, new_deadline: date,
                    approval: dict[str, Any] | None, now: datetime, changed_by: str | None,
                    plans_dir: Path = PLANS_DIR) -> dict[str, Any]:
    plan, stored = _plan_or_file(uow, year, plans_dir)
    if not stored:
        _store_loaded(uow, plan, now)
    special = SpecialApproval(**approval) if approval else None
    change = plan.change_deadline(committee_code, new_deadline, now=now, approval=special)
    repo = PlanRepository(uow.session)
    repo.save(plan)
    repo.record_deadline_change(change, changed_by)
    uow.emit("plan_deadline_changed", change.payload())
    return change.payload()


# ------------------------------------------------------------------------------- submissions
@dataclass
class SubmissionAnswer:
    """What the portal is told, synchronously (HTTP) or as events (queue)."""

    body: dict[str, Any]
    replayed: bool = False
    violations: list[dict[str, Any]] = field(default_factory=list)

    @property
    def accepted(self) -> bool:
        return self.body["status"] == "accepted"

    def refusal(self) -> SubmissionRefused:
        """The HTTP refusal for a rejected submission (every failed rule, with clauses)."""
        return SubmissionRefused(self.body, replayed=self.replayed)


def _answer(app: Application, assessment: Assessment, plan: Plan | None, *, submission_id: str,
            applicant_key: str, received_at: datetime) -> dict[str, Any]:
    committee = plan.committee(app.committee_code) if plan and app.committee_code else None
    return {
        "submission_id": submission_id,
        "portal_id": app.portal_id,
        "status": "accepted" if assessment.accepted else "rejected",
        "plan_year": app.plan_year,
        "requested_path": app.path,
        "effective_path": assessment.effective_path,
        "recommendation": assessment.effective_path == "recommendation",
        "committee_code": assessment.committee_code,
        "committee_name": committee.name if committee else None,
        "title": app.title,
        "specialty": app.specialty,
        "applicant_key": applicant_key,
        "determination": assessment.determination.as_dict() if assessment.determination else None,
        "recognition_basis": assessment.recognition_basis,
        "route_to": list(assessment.route_to),
        "notes": list(assessment.notes),
        "rules": assessment.rule_ids,
        "violations": [v.as_dict() for v in assessment.violations],
        "received_at": received_at.isoformat(),
    }


def _event_violations(violations: list[dict[str, Any]]) -> list[dict[str, Any]]:
    keys = ("rule", "clause", "source", "field", "message", "message_zh", "context")
    return [{k: v[k] for k in keys if k in v} for v in violations]


def stored_answer(uow, portal_id: str) -> dict[str, Any]:
    """The answer given to a portal id, with whether review has frozen its materials since."""
    row = SubmissionRepository(uow.session).by_portal_id(portal_id)
    if row is None:
        raise NotFound("no submission with that portal id", code="submission_not_found")
    return {**json.loads(row.answer),
            "materials_frozen_at": row.materials_frozen_at.isoformat()
            if row.materials_frozen_at else None}


def materials_frozen(uow, *, submission_id: str, meeting_id: str | None, at: datetime) -> bool:
    """review put the case on a meeting's docket: its materials are frozen (三(三))."""
    return SubmissionRepository(uow.session).mark_materials_frozen(submission_id, meeting_id, at)


class SubmissionBatch:
    """What a batch of applications in one unit of work reads once instead of once each: the
    plans, which portal ids were stored before, and the applicants' archives (业绩档案)."""

    def __init__(self, uow, apps: list[Application], applicant_secret: bytes | None) -> None:
        self.plans: dict[int, Plan | None] = {}
        # by the application object: a batch may hold one portal id twice (a replay, or a
        # reused id that is refused), each with its own applicant
        self.keys = {id(app): derive_applicant_key(app.applicant.identity_number,
                                                   applicant_secret) for app in apps}
        self.stored_portal_ids = SubmissionRepository(uow.session).stored_portal_ids(
            [app.portal_id for app in apps])
        self.archives = ArchiveRepository(uow.session).load_many(set(self.keys.values()))
        self.seen: set[str] = set()
        self.pending = PendingRows()

    def flush(self, uow) -> None:
        """Insert what the batch has written so far (before its commit, or before a read)."""
        self.pending.flush(uow.session)

    def plan(self, uow, year: int) -> Plan | None:
        if year not in self.plans:
            self.plans[year] = PlanRepository(uow.session).read(year)
        return self.plans[year]

    def may_be_stored(self, uow, portal_id: str) -> bool:
        """False when the portal id is certainly new (not stored, not earlier in the batch);
        when it was earlier in the batch, that application's rows are inserted first."""
        if portal_id in self.seen:
            self.flush(uow)
            return True
        self.seen.add(portal_id)
        return portal_id in self.stored_portal_ids

    def archive(self, applicant_key: str) -> PerformanceArchive:
        """The applicant's archive as this batch has it (preloaded, plus what the batch's
        earlier applications added)."""
        return self.archives[applicant_key]


def submit(uow, app: Application, *, raw_hash: str, channel: str, now: datetime,
           applicant_secret: bytes | None) -> SubmissionAnswer:
    """受理: check an application against every rule, store the outcome and emit its events.

    Idempotent on the portal's own id: the same application again gets the stored answer and
    emits nothing; another application under a used id is a conflict. Classified materials are
    never stored. The caller commits.
    """
    return submit_batch(uow, [(app, raw_hash)], channel=channel, now=now,
                        applicant_secret=applicant_secret)[0]


def submit_batch(uow, items: list[tuple[Application, str]], *, channel: str, now: datetime,
                 applicant_secret: bytes | None) -> list[SubmissionAnswer]:
    """:func:`submit` for several applications ``(application, raw hash)`` in one unit of work,
    with the same answers as one at a time, in order. A refusal of any one (a reused portal id)
    raises, and the caller's unit of work then stores none of them. The caller commits."""
    batch = SubmissionBatch(uow, [app for app, _hash in items], applicant_secret)
    answers = []
    with uow.independent_requests() as next_request:  # the batch's events in runs of a type
        for app, raw_hash in items:
            next_request()
            answers.append(_submit_one(uow, batch, app, raw_hash=raw_hash, channel=channel,
                                       now=now))
    batch.flush(uow)
    return answers


def _submit_one(uow, batch: SubmissionBatch, app: Application, *, raw_hash: str, channel: str,
                now: datetime) -> SubmissionAnswer:
    submissions = SubmissionRepository(uow.session)
    existing = submissions.by_portal_id(app.portal_id) \
        if batch.may_be_stored(uow, app.portal_id) else None
    if existing is not None:
        if existing.request_hash != raw_hash:
            raise Conflict("this portal id was already used for another application",
                           code="portal_id_reused", details={"portal_id": app.portal_id})
        body = json.loads(existing.answer)
        return SubmissionAnswer(body=body, replayed=True, violations=body["violations"])

    plan = batch.plan(uow, app.plan_year)
    ref = batch.keys[id(app)]
    archive = batch.archive(ref)
    assessment = assess(app, plan, now=now, archive=archive)
    submission_id = new_id()
    body = _answer(app, assessment, plan, submission_id=submission_id, applicant_key=ref,
                   received_at=now)
    submissions.add(
        batch.pending, submission_id=submission_id, portal_id=app.portal_id,
        request_hash=raw_hash,
        channel=channel, plan_year=app.plan_year, path=app.path,
        effective_path=assessment.effective_path, committee_code=app.committee_code,
        title=app.title[:50], specialty=app.specialty[:100], applicant_key=ref,
        identity_masked=mask_identity_number(app.applicant.identity_number),
        status=body["status"], answer=body, received_at=now,
        materials=app.materials)
    uow.emit("submission_received", {
        "submission_id": submission_id, "portal_id": app.portal_id, "channel": channel,
        "plan_year": app.plan_year, "path": app.path, "committee_code": app.committee_code,
        "received_at": now.isoformat()})
    if not assessment.accepted:
        uow.emit("submission_rejected", {
            "submission_id": submission_id, "portal_id": app.portal_id, "year": app.plan_year,
            "path": app.path, "committee_code": app.committee_code, "rules": body["rules"],
            "violations": _event_violations(body["violations"]), "route_to": body["route_to"],
            "rejected_at": now.isoformat()})
        return SubmissionAnswer(body=body, violations=body["violations"])

    ArchiveRepository(uow.session).add_achievements(batch.pending, ref, app.achievements,
                                                    submission_id, archive=archive)
    if assessment.committee_code is not None:
        uow.emit("submission_accepted", {
            "submission_id": submission_id, "applicant_key": ref, "plan_year": app.plan_year,
            "path": assessment.effective_path, "committee_code": body["committee_code"],
            "committee_name": body["committee_name"], "title": app.title,
            "specialty": app.specialty, "portal_id": app.portal_id, "requested_path": app.path,
            "recognition_basis": assessment.recognition_basis, "notes": body["notes"],
            "accepted_at": now.isoformat(), "employer": app.employer.name})
    if assessment.determination is not None:
        d = assessment.determination
        uow.emit("initial_determination_granted", {
            "submission_id": submission_id, "portal_id": app.portal_id, "applicant_key": ref,
            "level": d.level, "level_zh": d.level_zh, "title": d.title, "series": d.series,
            "education": d.education, "required_work_years": d.required_work_years,
            "mismatch_extra_years": d.mismatch_extra_years,
            "redetermination": d.redetermination, "granted_at": now.isoformat()})
    if app.path == "recognition" and assessment.recognition_basis:
        uow.emit("recognition_accepted", {
            "submission_id": submission_id, "portal_id": app.portal_id, "applicant_key": ref,
            "basis": assessment.recognition_basis, "committee_code": app.committee_code,
            "title": app.title, "specialty": app.specialty, "accepted_at": now.isoformat()})
    return SubmissionAnswer(body=body)


# ---------------------------------------------------------------------------------- archive
def record_attempt(uow, *, applicant_key: str, year: int, committee_code: str, title: str,
                   outcome: str, decided_on: date, source: str | None) -> dict[str, Any]:
    """Enter a review attempt into the performance archive (业绩档案); a repeat changes nothing."""
    attempt = Attempt(year=year, committee_code=committee_code, title=title, outcome=outcome,
                      decided_on=decided_on)
    payload = {"applicant_key": applicant_key, "year": year, "committee_code": committee_code,
               "title": title, "outcome": outcome, "decided_on": decided_on.isoformat()}
    if ArchiveRepository(uow.session).record_attempt(applicant_key, attempt, source):
        uow.emit("archive_attempt_recorded", payload)
        return {**payload, "recorded": True}
    return {**payload, "recorded": False}


def archive_of(uow, applicant_key: str) -> dict[str, Any]:
    return ArchiveRepository(uow.session).load(applicant_key).as_dict()

