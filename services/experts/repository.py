"""Loading and saving the experts domain (rows ⇄ domain values) within a unit of work's session."""
from __future__ import annotations

from datetime import date, datetime
from typing import Any, Iterable

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from services.experts import models
from services.experts.draw import DrawRound
from services.experts.pool import (ChangeKind, ChangeRequest, ChangeStatus, Committee, Expert,
                                   ExpertSource, ExpertStatus, TitleLevel)
from services.experts.rules import CommitteeScope, CommitteeTier


def expert_to_dict(e: Expert) -> dict[str, Any]:
    return {
        "expert_id": e.expert_id, "identity_number": e.identity_number, "name": e.name,
        "employer": e.employer, "specialties": sorted(e.specialties), "title": e.title,
        "title_level": e.title_level.value, "source": e.source.value,
        "committees": sorted(e.committees), "term_start": e.term_start.isoformat(),
        "term_end": e.term_end.isoformat(), "status": e.status.value,
        "declared_relatives": sorted(e.declared_relatives),
        "declared_conflicts": sorted(e.declared_conflicts),
    }


def expert_from_dict(d: dict[str, Any]) -> Expert:
    def day(v: Any) -> date:
        return v if isinstance(v, date) else date.fromisoformat(str(v))
    return Expert(
        expert_id=d["expert_id"], identity_number=d["identity_number"], name=d["name"],
        employer=d["employer"], specialties=frozenset(d["specialties"]), title=d["title"],
        title_level=TitleLevel(d["title_level"]), source=ExpertSource(d["source"]),
        committees=frozenset(d.get("committees") or ()), term_start=day(d["term_start"]),
        term_end=day(d["term_end"]), status=ExpertStatus(d.get("status", "active")),
        declared_relatives=frozenset(d.get("declared_relatives") or ()),
        declared_conflicts=frozenset(d.get("declared_conflicts") or ()))


def committee_from_row(r: Any) -> Committee:
    return Committee(committee_id=r.committee_id, name=r.name, organising_unit=r.organising_unit,
                     tier=CommitteeTier(r.tier), scope=CommitteeScope(r.scope),
                     term_start=r.term_start, term_end=r.term_end,
                     specialties=frozenset(r.specialties or ()))


def change_request_from_row(r: Any) -> ChangeRequest:
    return ChangeRequest(
        request_id=r.request_id, committee_id=r.committee_id, kind=ChangeKind(r.kind),
        expert_id=r.expert_id, proposed=expert_from_dict(r.proposed) if r.proposed else None,
        reason=r.reason, requested_by=r.requested_by, requested_at=r.requested_at,
        status=ChangeStatus(r.status), decided_by=r.decided_by, decided_at=r.decided_at,
        decision_note=r.decision_note)


class ExpertsRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    # -- committees ------------------------------------------------------------------------------
    def add_committee(self, c: Committee, now: datetime) -> None:
        self.session.execute(insert(models.committees).values(
            committee_id=c.committee_id, name=c.name, organising_unit=c.organising_unit,
            tier=c.tier.value, scope=c.scope.value, term_start=c.term_start, term_end=c.term_end,
            specialties=sorted(c.specialties), created_at=now))

    def committee(self, committee_id: str) -> Committee | None:
        row = self.session.execute(select(models.committees).where(
            models.committees.c.committee_id == committee_id)).first()
        return committee_from_row(row) if row else None

    # -- experts ---------------------------------------------------------------------------------
    def expert(self, expert_id: str) -> Expert | None:
        row = self.session.execute(select(models.experts).where(
            models.experts.c.expert_id == expert_id)).mappings().first()
        return expert_from_dict(dict(row)) if row else None

    def expert_id_by_identity(self, identity_number: str) -> str | None:
        return self.session.execute(select(models.experts.c.expert_id).where(
            models.experts.c.identity_number == identity_number)).scalar_one_or_none()

    def all_experts(self) -> list[Expert]:
        rows = self.session.execute(select(models.experts)
                                    .order_by(models.experts.c.expert_id)).mappings().all()
        return [expert_from_dict(dict(r)) for r in rows]

    def experts_of(self, committee_id: str) -> list[Expert]:
        """Every expert who is or was in the committee's pool (JSON membership, filtered here)."""
        return [e for e in self.all_experts() if committee_id in e.committees]

    def experts_due_to_expire(self, today: date) -> list[Expert]:
        rows = self.session.execute(select(models.experts).where(
            models.experts.c.status.in_(["active", "suspended"]),
            models.experts.c.term_end < today)).mappings().all()
        return [expert_from_dict(dict(r)) for r in rows]

    def add_expert(self, e: Expert, now: datetime) -> None:
        values = expert_to_dict(e)
        values.update(term_start=e.term_start, term_end=e.term_end, registered_at=now,
                      updated_at=now)
        self.session.execute(insert(models.experts).values(**values))

    def save_expert(self, e: Expert, now: datetime) -> None:
        values = expert_to_dict(e)
        values.pop("expert_id")
        values.update(term_start=e.term_start, term_end=e.term_end, updated_at=now)
        self.session.execute(update(models.experts)
                             .where(models.experts.c.expert_id == e.expert_id).values(**values))

    def set_status(self, expert_id: str, status: str) -> None:
        self.session.execute(update(models.experts)
                             .where(models.experts.c.expert_id == expert_id)
                             .values(status=status))

    # -- change requests -------------------------------------------------------------------------
    def add_change_request(self, r: ChangeRequest) -> None:
        self.session.execute(insert(models.change_requests).values(
            request_id=r.request_id, committee_id=r.committee_id, kind=r.kind.value,
            expert_id=r.expert_id, proposed=expert_to_dict(r.proposed) if r.proposed else None,
            reason=r.reason, requested_by=r.requested_by, requested_at=r.requested_at,
            status=r.status.value))

    def change_request(self, request_id: str) -> ChangeRequest | None:
        row = self.session.execute(select(models.change_requests).where(
            models.change_requests.c.request_id == request_id)).first()
        return change_request_from_row(row) if row else None

    def save_change_request(self, r: ChangeRequest) -> None:
        self.session.execute(update(models.change_requests)
                             .where(models.change_requests.c.request_id == r.request_id)
                             .values(status=r.status.value, decided_by=r.decided_by,
                                     decided_at=r.decided_at, decision_note=r.decision_note))

    def change_requests(self, status: str | None = None,
                        committees: Iterable[str] | None = None) -> list[ChangeRequest]:
        q = select(models.change_requests).order_by(models.change_requests.c.requested_at)
        if status:
            q = q.where(models.change_requests.c.status == status)
        if committees is not None:
            q = q.where(models.change_requests.c.committee_id.in_(list(committees)))
        return [change_request_from_row(r) for r in self.session.execute(q).all()]

    # -- meetings --------------------------------------------------------------------------------
    def meeting(self, meeting_id: str) -> Any:
        return self.session.execute(select(models.meetings).where(
            models.meetings.c.meeting_id == meeting_id)).first()

    def add_meeting(self, **values: Any) -> None:
        self.session.execute(insert(models.meetings).values(**values))

    def set_meeting_round(self, meeting_id: str, round_id: str) -> None:
        self.session.execute(update(models.meetings)
                             .where(models.meetings.c.meeting_id == meeting_id)
                             .values(regular_round_id=round_id))

    # -- draw rounds -----------------------------------------------------------------------------
    def add_round(self, rnd: DrawRound, *, meeting_id: str, opened_at: datetime,
                  parent_round_id: str | None = None, approval_id: str | None = None) -> None:
        self.session.execute(insert(models.draw_rounds).values(
            round_id=rnd.record.round_id, meeting_id=meeting_id, kind=rnd.record.kind.value,
            parent_round_id=parent_round_id, approval_id=approval_id, phase=rnd.phase.value,
            commitment_digest=rnd.digest, receipt=rnd.receipt(), opened_at=opened_at))

    def round_row(self, round_id: str, *, for_update: bool = False) -> Any:
        q = select(models.draw_rounds).where(models.draw_rounds.c.round_id == round_id)
        if for_update and self.session.get_bind().dialect.name == "postgresql":
            q = q.with_for_update()
        return self.session.execute(q).first()

    def save_round(self, rnd: DrawRound, *, finalized_at: datetime | None = None) -> None:
        values: dict[str, Any] = {"phase": rnd.phase.value, "receipt": rnd.receipt()}
        if finalized_at is not None:
            values["finalized_at"] = finalized_at
        self.session.execute(update(models.draw_rounds)
                             .where(models.draw_rounds.c.round_id == rnd.record.round_id)
                             .values(**values))

    def rounds_of_meeting(self, meeting_id: str) -> list[Any]:
        return list(self.session.execute(select(models.draw_rounds).where(
            models.draw_rounds.c.meeting_id == meeting_id)
            .order_by(models.draw_rounds.c.opened_at, models.draw_rounds.c.round_id)).all())

    def rounds_due_for_seed(self, now: datetime) -> list[Any]:
        r, m = models.draw_rounds, models.meetings
        return list(self.session.execute(
            select(r).join(m, m.c.meeting_id == r.c.meeting_id)
            .where(r.c.phase == "finalized", r.c.seed_published_at.is_(None),
                   m.c.starts_at <= now)
            .order_by(r.c.finalized_at)).all())

    def mark_seed_published(self, round_id: str, now: datetime) -> None:
        self.session.execute(update(models.draw_rounds)
                             .where(models.draw_rounds.c.round_id == round_id)
                             .values(seed_published_at=now))

    # -- emergency approvals ---------------------------------------------------------------------
    def add_approval(self, **values: Any) -> None:
        self.session.execute(insert(models.emergency_approvals).values(**values))

    def approval(self, approval_id: str) -> Any:
        return self.session.execute(select(models.emergency_approvals).where(
            models.emergency_approvals.c.approval_id == approval_id)).first()

    def approvals_of_meeting(self, meeting_id: str) -> list[Any]:
        return list(self.session.execute(select(models.emergency_approvals).where(
            models.emergency_approvals.c.meeting_id == meeting_id)).all())

    def use_approval(self, approval_id: str, round_id: str) -> None:
        self.session.execute(update(models.emergency_approvals)
                             .where(models.emergency_approvals.c.approval_id == approval_id)
                             .values(used_by_round_id=round_id))

    # -- discipline ------------------------------------------------------------------------------
    def add_discipline(self, **values: Any) -> None:
        self.session.execute(insert(models.discipline_records).values(**values))
