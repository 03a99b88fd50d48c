"""Reading and writing review's state through a unit of work's session.

Cases and meetings are immutable domain values; the repository turns them into rows and back.
A case row carries a ``version``: saving a case that someone else changed since it was read
raises :class:`shared.errors.Conflict` instead of overwriting their move.
"""
from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from shared.clock import parse_instant
from shared.db import insert_rows, values_present
from shared.errors import Conflict, NotFound
from shared.workdays import PublicityWindow

from services.review import models
from services.review.case import (
    Case, CaseState, Objection, ObjectionResolution, Publicity, PublicityPhase,
)
from services.review.certificate import Certificate
from services.review.meeting import Meeting, MeetingState
from services.review.voting import Decision, Outcome, Tally


def _iso(value: datetime | date | None) -> str | None:
    return value.isoformat() if value is not None else None


def _instant(value: str | None) -> datetime | None:
    return parse_instant(value) if value else None


# --- codecs --------------------------------------------------------------------------------------

def _publicity_to_json(p: Publicity) -> dict[str, Any]:
    w = p.window
    return {"phase": p.phase.value, "starts_on": w.starts_on.isoformat(),
            "first_working_day": w.first_working_day.isoformat(),
            "last_day": w.last_day.isoformat(), "working_days": w.working_days,
            "started_at": p.started_at.isoformat(), "ended_at": _iso(p.ended_at)}


def _publicity_from_json(d: dict[str, Any]) -> Publicity:
    window = PublicityWindow(starts_on=date.fromisoformat(d["starts_on"]),
                             first_working_day=date.fromisoformat(d["first_working_day"]),
                             last_day=date.fromisoformat(d["last_day"]),
                             working_days=int(d["working_days"]))
    return Publicity(phase=PublicityPhase(d["phase"]), window=window,
                     started_at=parse_instant(d["started_at"]), ended_at=_instant(d["ended_at"]))


def _objection_to_json(o: Objection) -> dict[str, Any]:
    return {"objection_id": o.objection_id, "phase": o.phase.value,
            "filed_at": o.filed_at.isoformat(), "grounds": o.grounds,
            "resolution": o.resolution.value if o.resolution else None,
            "resolved_at": _iso(o.resolved_at), "reason": o.reason}


def _objection_from_json(d: dict[str, Any]) -> Objection:
    return Objection(objection_id=d["objection_id"], phase=PublicityPhase(d["phase"]),
                     filed_at=parse_instant(d["filed_at"]), grounds=d.get("grounds", ""),
                     resolution=ObjectionResolution(d["resolution"]) if d.get("resolution")
                     else None,
                     resolved_at=_instant(d.get("resolved_at")), reason=d.get("reason", ""))


def _decision_from_json(d: dict[str, Any] | None) -> Decision | None:
    if not d:
        return None
    return Decision(outcome=Outcome(d["outcome"]), tally=Tally(**d["tally"]),
                    quorum_met=bool(d["quorum_met"]), pass_share_met=bool(d["pass_share_met"]),
                    failed_rules=tuple(d["failed_rules"]))


def case_to_row(case: Case) -> dict[str, Any]:
    publicity = case.current_publicity
    return {
        "case_id": case.case_id, "submission_id": case.submission_id,
        "applicant_key": case.applicant_key, "committee_id": case.committee_id,
        "committee_name": case.committee_name, "title": case.title,
        "specialty": case.specialty, "employer": case.employer, "year": case.year,
        "recommendation": case.recommendation,
        "state": case.state.value, "accepted_at": case.accepted_at,
        "publicity_closes_at": publicity.window.closes_at if publicity else None,
        "held": case.is_held, "meeting_id": case.meeting_id,
        "materials_frozen": case.materials_frozen,
        "materials_frozen_at": case.materials_frozen_at, "decided_at": case.decided_at,
        "published_at": case.published_at, "closed_at": case.closed_at,
        "certificate_number": case.certificate_number,
        "withdrawal_reason": case.withdrawal_reason,
        "qualification_reasons": json.dumps(list(case.qualification_reasons), ensure_ascii=False),
        "publicities": json.dumps([_publicity_to_json(p) for p in case.publicities]),
        "objections": json.dumps([_objection_to_json(o) for o in case.objections],
                                 ensure_ascii=False),
        "decision": json.dumps(case.decision.as_dict()) if case.decision else None,
        "history": json.dumps([[a, b, at.isoformat()] for a, b, at in case.history]),
    }


def case_from_row(row: Any) -> Case:
    return Case(
        case_id=row["case_id"], submission_id=row["submission_id"],
        applicant_key=row["applicant_key"], committee_id=row["committee_id"],
        committee_name=row["committee_name"], title=row["title"], specialty=row["specialty"],
        year=row["year"], recommendation=bool(row["recommendation"]),
        state=CaseState(row["state"]), accepted_at=row["accepted_at"],
        employer=row["employer"] or "",
        qualification_reasons=tuple(json.loads(row["qualification_reasons"])),
        publicities=tuple(_publicity_from_json(d) for d in json.loads(row["publicities"])),
        objections=tuple(_objection_from_json(d) for d in json.loads(row["objections"])),
        meeting_id=row["meeting_id"], materials_frozen=bool(row["materials_frozen"]),
        materials_frozen_at=row["materials_frozen_at"],
        decision=_decision_from_json(json.loads(row["decision"]) if row["decision"] else None),
        decided_at=row["decided_at"], withdrawal_reason=row["withdrawal_reason"] or "",
        published_at=row["published_at"], certificate_number=row["certificate_number"],
        closed_at=row["closed_at"],
        history=tuple((a, b, parse_instant(at)) for a, b, at in json.loads(row["history"])),
    )


def meeting_to_row(m: Meeting) -> dict[str, Any]:
    return {"meeting_id": m.meeting_id, "committee_id": m.committee_id, "starts_at": m.starts_at,
            "docket": json.dumps(list(m.docket)), "panel_size_requested": m.panel_size_requested,
            "state": m.state.value, "scheduled_at": m.scheduled_at, "panel_id": m.panel_id,
            "panel_size": m.panel_size, "panel_drawn_at": m.panel_drawn_at}


def meeting_from_row(row: Any) -> Meeting:
    return Meeting(meeting_id=row["meeting_id"], committee_id=row["committee_id"],
                   starts_at=row["starts_at"], docket=tuple(json.loads(row["docket"])),
                   panel_size_requested=row["panel_size_requested"],
                   state=MeetingState(row["state"]), scheduled_at=row["scheduled_at"],
                   panel_id=row["panel_id"], panel_size=row["panel_size"],
                   panel_drawn_at=row["panel_drawn_at"])


# --- the repository ------------------------------------------------------------------------------

class ReviewRepository:
    def __init__(self, session: Session) -> None:
        self.session = session
        self._versions: dict[str, int] = {}

    # cases
    def _case_row(self, query) -> Case | None:
        row = self.session.execute(query).mappings().first()
        if row is None:
            return None
        self._versions[row["case_id"]] = row["version"]
        return case_from_row(row)

    def get_case(self, case_id: str) -> Case:
        case = self._case_row(select(models.cases).where(models.cases.c.case_id == case_id))
        if case is None:
            raise NotFound("no such case", details={"case_id": case_id})
        return case

    def find_case_by_submission(self, submission_id: str) -> Case | None:
        return self._case_row(select(models.cases)
                              .where(models.cases.c.submission_id == submission_id))

    def submissions_with_cases(self, submission_ids: list[str]) -> set[str]:
        """Which of these submissions have a case already."""
        return values_present(self.session, models.cases.c.submission_id, submission_ids)

    def add_case(self, case: Case, now: datetime) -> None:
        """Insert a new case. A second case for the same submission (two review workers opening
        it at once) fails on the unique key with IntegrityError: the consumer's transaction rolls
        back and the event is retried, and the retry finds the case the other worker opened."""
        self.add_cases([case], now)

    def add_cases(self, cases: list[Case], now: datetime) -> None:
        """:meth:`add_case` for several, in one statement."""
        if not cases:
            return
        insert_rows(self.session, models.cases,
                    [{**case_to_row(c), "version": 1, "updated_at": now} for c in cases])
        for case in cases:
            self._versions[case.case_id] = 1

    def save_case(self, case: Case, now: datetime) -> None:
        version = self._versions.get(case.case_id)
        if version is None:
            raise RuntimeError("save_case() of a case this repository did not read")
        result = self.session.execute(
            update(models.cases)
            .where(models.cases.c.case_id == case.case_id, models.cases.c.version == version)
            .values(**case_to_row(case), version=version + 1, updated_at=now))
        if result.rowcount != 1:
            raise Conflict("the case changed meanwhile; read it again and retry",
                           details={"case_id": case.case_id})
        self._versions[case.case_id] = version + 1

    def list_cases(self, *, state: str | None = None, committee_id: str | None = None,
                   committees: frozenset[str] = frozenset(), limit: int = 100,
                   offset: int = 0) -> list[Case]:
        query = select(models.cases)
        if state:
            query = query.where(models.cases.c.state == state)
        if committee_id:
            query = query.where(models.cases.c.committee_id == committee_id)
        if committees:
            query = query.where(models.cases.c.committee_id.in_(sorted(committees)))
        rows = self.session.execute(query.order_by(models.cases.c.accepted_at,
                                                   models.cases.c.case_id)
                                    .limit(limit).offset(offset)).mappings().all()
        out = []
        for row in rows:
            self._versions[row["case_id"]] = row["version"]
            out.append(case_from_row(row))
        return out

    def cases_with_publicity_due(self, now: datetime, limit: int = 500) -> list[str]:
        rows = self.session.execute(
            select(models.cases.c.case_id)
            .where(models.cases.c.publicity_closes_at.is_not(None),
                   models.cases.c.publicity_closes_at <= now,
                   models.cases.c.held == False)  # noqa: E712
            .order_by(models.cases.c.publicity_closes_at).limit(limit)).all()
        return [r[0] for r in rows]

    def count_by_state(self) -> dict[str, int]:
        rows = self.session.execute(select(models.cases.c.state, func.count())
                                    .group_by(models.cases.c.state)).all()
        return {state: count for state, count in rows}

    # meetings
    def get_meeting(self, meeting_id: str) -> Meeting:
        row = self.session.execute(select(models.meetings)
                                   .where(models.meetings.c.meeting_id == meeting_id)) \
            .mappings().first()
        if row is None:
            raise NotFound("no such meeting", details={"meeting_id": meeting_id})
        return meeting_from_row(row)

    def add_meeting(self, meeting: Meeting) -> None:
        try:
            with self.session.begin_nested():
                self.session.execute(insert(models.meetings).values(**meeting_to_row(meeting)))
        except IntegrityError:
            raise Conflict("this meeting already exists",
                           details={"meeting_id": meeting.meeting_id}) from None

    def save_meeting(self, meeting: Meeting) -> None:
        self.session.execute(update(models.meetings)
                             .where(models.meetings.c.meeting_id == meeting.meeting_id)
                             .values(**meeting_to_row(meeting)))

    # votes, failures, certificates
    def add_tally(self, meeting_id: str, case_id: str, decision: Decision, now: datetime) -> None:
        t = decision.tally
        try:
            with self.session.begin_nested():
                self.session.execute(insert(models.vote_tallies).values(
                    meeting_id=meeting_id, case_id=case_id, panel_size=t.panel_size,
                    present=t.present, yes=t.yes, no=t.no, abstain=t.abstain,
                    outcome=decision.outcome.value,
                    failed_rules=json.dumps(list(decision.failed_rules)), recorded_at=now))
        except IntegrityError:
            raise Conflict("votes on this case were already recorded at this meeting",
                           details={"meeting_id": meeting_id, "case_id": case_id}) from None

    def tallies(self, meeting_id: str) -> list[dict[str, Any]]:
        rows = self.session.execute(select(models.vote_tallies)
                                    .where(models.vote_tallies.c.meeting_id == meeting_id)
                                    .order_by(models.vote_tallies.c.id)).mappings().all()
        return [{"case_id": r["case_id"], "panel_size": r["panel_size"], "present": r["present"],
                 "yes": r["yes"], "no": r["no"], "abstain": r["abstain"],
                 "outcome": r["outcome"], "failed_rules": json.loads(r["failed_rules"]),
                 "recorded_at": r["recorded_at"].isoformat()} for r in rows]

    def add_failed_applicant(self, case: Case, now: datetime) -> None:
        self.session.execute(insert(models.failed_applicants).values(
            case_id=case.case_id, applicant_key=case.applicant_key, year=case.year,
            committee_id=case.committee_id, title=case.title, specialty=case.specialty,
            failed_at=now))

    def failed_applicants(self, year: int) -> list[dict[str, Any]]:
        rows = self.session.execute(select(models.failed_applicants)
                                    .where(models.failed_applicants.c.year == year)
                                    .order_by(models.failed_applicants.c.failed_at)).mappings()
        return [{"case_id": r["case_id"], "applicant_key": r["applicant_key"], "year": r["year"],
                 "committee_id": r["committee_id"], "title": r["title"],
                 "specialty": r["specialty"], "failed_at": r["failed_at"].isoformat()}
                for r in rows]

    def last_certificate_serial(self, prefix: str, year: int) -> int:
        value = self.session.execute(
            select(func.max(models.certificates.c.serial))
            .where(models.certificates.c.prefix == prefix, models.certificates.c.year == year)
        ).scalar()
        return int(value or 0)

    def add_certificate(self, cert: Certificate, *, prefix: str, year: int, serial: int,
                        now: datetime) -> None:
        """Unique on number, case and (prefix, year, serial): a concurrent issue of the same
        serial fails here and the caller retries with the next one."""
        self.session.execute(insert(models.certificates).values(
            number=cert.number, case_id=cert.case_id, applicant_key=cert.applicant_key,
            prefix=prefix, year=year, serial=serial, title=cert.title,
            specialty=cert.specialty, committee_name=cert.committee_name,
            issued_on=cert.issued_on, issued_at=now))

    def certificate_for_case(self, case_id: str) -> str | None:
        """The number of the certificate issued for ``case_id``, if any."""
        return self.session.execute(select(models.certificates.c.number)
                                    .where(models.certificates.c.case_id == case_id)).scalar()

    def find_certificate(self, number: str) -> Certificate | None:
        row = self.session.execute(select(models.certificates)
                                   .where(models.certificates.c.number == number)) \
            .mappings().first()
        if row is None:
            return None
        return Certificate(number=row["number"], case_id=row["case_id"],
                           applicant_key=row["applicant_key"], title=row["title"],
                           specialty=row["specialty"], committee_name=row["committee_name"],
                           issued_on=row["issued_on"])
