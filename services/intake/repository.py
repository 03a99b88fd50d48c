"""Intake persistence over one SQLAlchemy session (the unit of work's)."""
from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any, Iterable

import orjson
from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from services.intake import models
from services.intake.application import Achievement, Attempt, Material, PerformanceArchive
from services.intake.plan import Plan, PlanDeadlineChanged, plan_from_dict
from shared.db import insert_rows, values_present


# Parsed plans by their stored document: every submission reads the plan, and parsing 41
# committees costs more than the rest of an assessment. Keyed by the document text itself, so a
# changed plan (publication, a deadline change) is parsed anew and nothing stale is served.
_PARSED: dict[str, Plan] = {}


class PlanRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, year: int) -> Plan | None:
        """The stored plan, as a fresh object the caller may change (publish, move a deadline)."""
        row = self.session.execute(select(models.plans).where(models.plans.c.year == year)).first()
        if row is None:
            return None
        return plan_from_dict(json.loads(row.document))

    def read(self, year: int) -> Plan | None:
        """The stored plan for reading only (assessing applications): shared, never changed."""
        document = self.session.execute(select(models.plans.c.document)
                                        .where(models.plans.c.year == year)).scalar()
        if document is None:
            return None
        plan = _PARSED.get(document)
        if plan is None:
            if len(_PARSED) > 8:
                _PARSED.clear()
            plan = _PARSED[document] = plan_from_dict(json.loads(document))
        return plan

    def years(self) -> list[int]:
        return [r.year for r in self.session.execute(
            select(models.plans.c.year).order_by(models.plans.c.year))]

    def add(self, plan: Plan, *, loaded_at: datetime) -> None:
        self.session.execute(insert(models.plans).values(
            year=plan.year, state=plan.state, source=(plan.source or "")[:200] or None,
            document=json.dumps(plan.as_dict(), ensure_ascii=False), loaded_at=loaded_at,
            published_at=plan.published_at))

    def replace_draft(self, plan: Plan, *, loaded_at: datetime) -> None:
        self.session.execute(update(models.plans).where(models.plans.c.year == plan.year).values(
            state=plan.state, source=(plan.source or "")[:200] or None,
            document=json.dumps(plan.as_dict(), ensure_ascii=False), loaded_at=loaded_at,
            published_at=plan.published_at))

    def save(self, plan: Plan) -> None:
        self.session.execute(update(models.plans).where(models.plans.c.year == plan.year).values(
            state=plan.state, document=json.dumps(plan.as_dict(), ensure_ascii=False),
            published_at=plan.published_at))

    def record_deadline_change(self, change: PlanDeadlineChanged, changed_by: str | None) -> None:
        a = change.approval
        self.session.execute(insert(models.deadline_changes).values(
            year=change.year, committee_code=change.committee_code,
            old_deadline=change.old_deadline, new_deadline=change.new_deadline,
            changed_at=change.changed_at, plan_state=change.plan_state,
            approved_by=a.approved_by if a else None, reason=a.reason if a else None,
            approved_at=a.approved_at if a else None, changed_by=changed_by))

    def deadline_changes(self, year: int) -> list[dict[str, Any]]:
        t = models.deadline_changes
        rows = self.session.execute(select(t).where(t.c.year == year).order_by(t.c.id)).all()
        return [{"committee_code": r.committee_code, "old_deadline": r.old_deadline.isoformat(),
                 "new_deadline": r.new_deadline.isoformat(), "changed_at": r.changed_at.isoformat(),
                 "plan_state": r.plan_state,
                 "approval": None if r.approved_by is None else {
                     "approved_by": r.approved_by, "reason": r.reason,
                     "approved_at": r.approved_at.isoformat()}}
                for r in rows]


class PendingRows:
    """Rows a batch of applications writes, inserted together (one statement per table) just
    before its unit of work commits."""

    def __init__(self) -> None:
        self.rows: dict[str, list[dict[str, Any]]] = {}

    def add(self, table: str, rows: list[dict[str, Any]]) -> None:
        if rows:
            self.rows.setdefault(table, []).extend(rows)

    def flush(self, session: Session) -> None:
        for name in _DEFERRABLE:  # submissions before the rows that name them
            rows = self.rows.pop(name, None)
            insert_rows(session, _DEFERRABLE[name], rows)


_DEFERRABLE = {"submissions": models.submissions, "materials": models.materials,
               "archive_achievements": models.archive_achievements}


class SubmissionRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def by_portal_id(self, portal_id: str):
        return self.session.execute(select(models.submissions)
                                    .where(models.submissions.c.portal_id == portal_id)).first()

    def stored_portal_ids(self, portal_ids: list[str]) -> set[str]:
        """Which of these portal ids are stored already."""
        return values_present(self.session, models.submissions.c.portal_id, portal_ids)

    def add(self, pending: PendingRows, *, submission_id: str, portal_id: str,
            request_hash: str, channel: str, plan_year: int, path: str, effective_path: str, committee_code: str | None,
            title: str, specialty: str, applicant_key: str, identity_masked: str, status: str,
            answer: dict[str, Any], received_at: datetime,
            materials: Iterable[Material]) -> None:
        pending.add("submissions", [dict(
            id=submission_id, portal_id=portal_id, request_hash=request_hash, channel=channel,
            plan_year=plan_year, path=path, effective_path=effective_path,
            committee_code=committee_code, title=title, specialty=specialty,
            applicant_key=applicant_key, identity_masked=identity_masked, status=status,
            answer=orjson.dumps(answer).decode(), received_at=received_at)])
        pending.add("materials", [
            dict(submission_id=submission_id, kind=m.kind, title=m.title,
                 content_hash=m.content_hash, classification=m.classification)
            for m in materials
            if not m.is_classified])  # 严禁上传涉密资料: never stored

    def mark_materials_frozen(self, submission_id: str, meeting_id: str | None,
                              at: datetime) -> bool:
        """Record review's freeze of the materials (first freeze wins); False if unknown."""
        t = models.submissions
        row = self.session.execute(select(t.c.id, t.c.materials_frozen_at)
                                   .where(t.c.id == submission_id)).first()
        if row is None:
            return False
        if row.materials_frozen_at is None:
            self.session.execute(update(t).where(t.c.id == submission_id)
                                 .values(materials_frozen_at=at, meeting_id=meeting_id))
        return True

    def count(self) -> int:
        from sqlalchemy import func
        return int(self.session.execute(
            select(func.count()).select_from(models.submissions)).scalar_one())


class ArchiveRepository:
    """业绩档案 by applicant_key."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def load(self, applicant_key: str) -> PerformanceArchive:
        return self.load_many({applicant_key})[applicant_key]

    def load_many(self, applicant_keys: set[str]) -> dict[str, PerformanceArchive]:
        """The archives of these applicants (an empty one for an applicant with none), two
        queries per 500 applicants."""
        ach = models.archive_achievements
        att = models.archive_attempts
        archives = {key: PerformanceArchive(applicant_key=key) for key in applicant_keys}
        keys = sorted(applicant_keys)
        for i in range(0, len(keys), 500):
            chunk = keys[i:i + 500]
            for r in self.session.execute(select(ach).where(ach.c.applicant_key.in_(chunk))
                                          .order_by(ach.c.dated, ach.c.id)):
                archives[r.applicant_key].achievements.append(Achievement(
                    title=r.title, dated=r.dated, representative=r.representative, kind=r.kind))
            for r in self.session.execute(select(att).where(att.c.applicant_key.in_(chunk))
                                          .order_by(att.c.decided_on, att.c.id)):
                archives[r.applicant_key].attempts.append(Attempt(
                    year=r.year, committee_code=r.committee_code, title=r.title,
                    outcome=r.outcome, decided_on=r.decided_on))
        return archives

    def add_achievements(self, pending: PendingRows, applicant_key: str,
                         achievements: Iterable[Achievement], submission_id: str | None,
                         archive: PerformanceArchive) -> int:
        """Add the achievements the applicant's ``archive`` (as this unit of work has it) does
        not hold yet; the archive takes them too."""
        existing = {(a.title, a.dated) for a in archive.achievements}
        rows = []
        for a in achievements:
            if (a.title, a.dated) in existing:
                continue
            existing.add((a.title, a.dated))
            archive.achievements.append(a)
            rows.append(dict(applicant_key=applicant_key, title=a.title, dated=a.dated,
                             representative=a.representative, kind=a.kind,
                             submission_id=submission_id))
        pending.add("archive_achievements", rows)
        return len(rows)

    def record_attempt(self, applicant_key: str, attempt: Attempt, source: str | None) -> bool:
        """False when the archive already holds this attempt (a repeated report)."""
        key = (attempt.year, attempt.committee_code, attempt.title, attempt.outcome)
        if any((a.year, a.committee_code, a.title, a.outcome) == key
               for a in self.load(applicant_key).attempts):
            return False
        self.session.execute(insert(models.archive_attempts).values(
            applicant_key=applicant_key, year=attempt.year, committee_code=attempt.committee_code,
            title=attempt.title, outcome=attempt.outcome, decided_on=attempt.decided_on,
            source=source))
        return True


def as_date(value: date | str) -> date:
    return value if isinstance(value, date) else date.fromisoformat(value)
