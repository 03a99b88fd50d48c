"""Use cases of the experts service: (command, unit of work) -> state changes + events.

Every function runs inside the caller's unit of work and emits its events there, so the state
change and the events commit together (outbox). The caller commits.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any, Iterable, Mapping

from shared.errors import Conflict, Forbidden, InvalidInput, NotFound, RuleRefused  # noqa: F401

from services.experts import draw, pool, rules
from services.experts.draw import Beacon, DrawRound, EmergencyApproval, EmergencyTerms, RoundKind
from services.experts.pool import (ChangeKind, Committee, DocketApplicant, Expert, ExpertSource,
                                   ExpertStatus, MeetingDocket, TitleLevel)
from services.experts.repository import ExpertsRepository
from services.experts.rules import CommitteeScope, CommitteeTier, ExpertsPolicy

DEFAULT_PARTIES = ("committee_office", "supervisor")
DEFAULT_RESERVES = 2


@dataclass(frozen=True)
class Actor:
    """Who acts: the token's subject, roles and (if limited) committees."""

    subject: str
    roles: frozenset[str]
    committees: frozenset[str] = frozenset()

    def may_act_for(self, committee_id: str) -> bool:
        return not self.committees or committee_id in self.committees


def new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:16]}"


def _require_committee_scope(actor: Actor, committee_id: str) -> None:
    if not actor.may_act_for(committee_id):
        raise Forbidden("this token is limited to other committees", code="forbidden")


def _repo(uow) -> ExpertsRepository:
    return ExpertsRepository(uow.session)


# --- views -----------------------------------------------------------------------------------------

def expert_view(e: Expert, actor: Actor, today: date) -> dict[str, Any]:
    """An expert as a role may see it: identity number always masked; the name only for the
    committee office and the bureau, who manage the pool."""
    sees_name = bool(actor.roles & {"committee_office", "bureau"})
    return {
        "expert_id": e.expert_id,
        "identity_number": rules.mask_identity_number(e.identity_number),
        "name": e.name if sees_name else rules.mask_name(e.name),
        "employer": e.employer, "specialties": sorted(e.specialties), "title": e.title,
        "title_level": e.title_level.value, "source": e.source.value,
        "committees": sorted(e.committees), "term_start": e.term_start.isoformat(),
        "term_end": e.term_end.isoformat(), "status": e.status_on(today).value,
    }


def change_request_view(r: pool.ChangeRequest) -> dict[str, Any]:
    proposed = None
    if r.proposed is not None:
        proposed = {"expert_id": r.proposed.expert_id, "employer": r.proposed.employer,
                    "specialties": sorted(r.proposed.specialties), "title": r.proposed.title,
                    "source": r.proposed.source.value,
                    "term_start": r.proposed.term_start.isoformat(),
                    "term_end": r.proposed.term_end.isoformat()}
    return {"request_id": r.request_id, "committee_id": r.committee_id, "kind": r.kind.value,
            "expert_id": r.expert_id, "proposed": proposed, "reason": r.reason,
            "requested_by": r.requested_by, "requested_at": r.requested_at.isoformat(),
            "status": r.status.value, "decided_by": r.decided_by,
            "decided_at": r.decided_at.isoformat() if r.decided_at else None,
            "decision_note": r.decision_note}


SEALED_REASON = pool.ExclusionReason.ALREADY_DRAWN.value


def public_exclusions(record: draw.DrawCommitment) -> tuple[list[dict[str, Any]], int]:
    """The exclusions anyone may read. An emergency round excludes the meeting's panel and
    reserves as ``already_drawn``; listing them would unseal the panel, so those entries are
    withheld (counted) until the meeting starts. The commitment digest still binds the full
    record, which the receipt carries."""
    out, sealed = [], 0
    for expert_id, reasons in record.exclusions:
        if SEALED_REASON in reasons:
            sealed += 1
            reasons = tuple(r for r in reasons if r != SEALED_REASON)
            if not reasons:
                continue
        out.append({"expert_id": expert_id, "reasons": list(reasons)})
    return out, sealed


def public_commitment(record: draw.DrawCommitment) -> dict[str, Any]:
    data = record.as_dict()
    data["exclusions"], data["sealed_exclusions"] = public_exclusions(record)
    return data


def round_view(row: Any, rnd: DrawRound) -> dict[str, Any]:
    """A round's public state: inputs digest, commitments, who revealed; never members."""
    return {
        "round_id": rnd.record.round_id, "kind": rnd.record.kind.value,
        "meeting_id": rnd.record.meeting_id, "committee_id": rnd.record.committee_id,
        "phase": rnd.phase.value, "commitment_digest": rnd.digest,
        "commitment": public_commitment(rnd.record),
        "parties": {p: {"committed": p in rnd.commitments,
                        "commitment": rnd.commitments.get(p),
                        "revealed": p in rnd.reveals} for p in rnd.record.parties},
        "beacon_entered": rnd.beacon_value is not None,
        "panel_digest": rnd.result.digest if rnd.result else None,
        "finalized_at": rnd.finalized_at,
        "seed_published": row.seed_published_at is not None,
    }


# --- committees and pools ------------------------------------------------------------------------

def create_committee(uow, data: Mapping[str, Any], *, now: datetime) -> dict[str, Any]:
    repo = _repo(uow)
    if repo.committee(data["committee_id"]) is not None:
        raise Conflict("a committee with this id exists")
    if data["term_end"] < data["term_start"]:
        raise InvalidInput("the pool term ends before it starts")
    c = Committee(committee_id=data["committee_id"], name=data["name"],
                  organising_unit=data["organising_unit"], tier=CommitteeTier(data["tier"]),
                  scope=CommitteeScope(data["scope"]), term_start=data["term_start"],
                  term_end=data["term_end"], specialties=frozenset(data.get("specialties") or ()))
    repo.add_committee(c, now)
    return {"committee_id": c.committee_id}


def _committee(repo: ExpertsRepository, committee_id: str) -> Committee:
    c = repo.committee(committee_id)
    if c is None:
        raise NotFound("no such committee")
    return c


def pool_report(uow, committee_id: str, *, day: date, policy: ExpertsPolicy) -> dict[str, Any]:
    repo = _repo(uow)
    c = _committee(repo, committee_id)
    return pool.pool_report(c, repo.experts_of(committee_id), day, policy).as_dict()


def _expert_from_input(d: Mapping[str, Any], committees: Iterable[str] = ()) -> Expert:
    return Expert(expert_id=d["expert_id"], identity_number=d["identity_number"].upper(),
                  name=d["name"], employer=d["employer"], specialties=frozenset(d["specialties"]),
                  title=d["title"], title_level=TitleLevel(d["title_level"]),
                  source=ExpertSource(d["source"]), committees=frozenset(committees),
                  term_start=d["term_start"], term_end=d["term_end"],
                  declared_relatives=frozenset(d.get("declared_relatives") or ()),
                  declared_conflicts=frozenset(d.get("declared_conflicts") or ()))


def _registered_payload(e: Expert, committee_ids: Iterable[str], via: str, by: str) -> dict:
    return {"expert_id": e.expert_id, "committee_ids": sorted(committee_ids),
            "employer": e.employer, "source": e.source.value, "title": e.title,
            "title_level": e.title_level.value, "specialties": sorted(e.specialties),
            "term_start": e.term_start.isoformat(), "term_end": e.term_end.isoformat(),
            "via": via, "registered_by": by}


def register_expert(uow, data: Mapping[str, Any], *, actor: Actor, now: datetime,
                    policy: ExpertsPolicy) -> dict[str, Any]:
    """Put an expert in a pool being formed; during the pool's term this is refused
    (EXPERTS-POOL-CHANGE-APPROVAL) and a change request is the way."""
    repo = _repo(uow)
    committee = _committee(repo, data["committee_id"])
    _require_committee_scope(actor, committee.committee_id)
    expert = pool.register_directly(committee, _expert_from_input(data), now.date(), policy)
    existing = repo.expert(expert.expert_id)
    by_identity = repo.expert_id_by_identity(expert.identity_number)
    if existing is not None or by_identity is not None:
        if existing is None or by_identity != expert.expert_id:
            raise Conflict("another expert record has this expert id or identity number")
        if committee.committee_id in existing.committees:
            raise Conflict("the expert is already in this pool")
        expert = replace(expert, committees=existing.committees | expert.committees)
        repo.save_expert(expert, now)
    else:
        repo.add_expert(expert, now)
    uow.emit("expert_registered", _registered_payload(expert, [committee.committee_id],
                                                      "direct", actor.subject))
    return {"expert_id": expert.expert_id, "committee_id": committee.committee_id}


def get_expert(uow, expert_id: str, *, actor: Actor, today: date) -> dict[str, Any]:
    e = _repo(uow).expert(expert_id)
    if e is None or (actor.committees and not (e.committees & actor.committees)):
        raise NotFound("no such expert")
    return expert_view(e, actor, today)


def file_change_request(uow, committee_id: str, data: Mapping[str, Any], *, actor: Actor,
                        now: datetime, policy: ExpertsPolicy) -> dict[str, Any]:
    repo = _repo(uow)
    committee = _committee(repo, committee_id)
    _require_committee_scope(actor, committee_id)
    kind = ChangeKind(data["kind"])
    proposed_in = data.get("expert")
    expert_id = data.get("expert_id") or (proposed_in or {}).get("expert_id")
    if not expert_id:
        raise InvalidInput("name the expert (expert_id) or give the proposed record (expert)")
    current = repo.expert(expert_id)
    proposed = None
    if kind is not ChangeKind.REMOVE:
        if proposed_in is None:
            raise InvalidInput("an addition or change gives the proposed record (expert)")
        base = current.committees if current is not None else frozenset()
        proposed = _expert_from_input(proposed_in, base)
        if current is not None:
            proposed = replace(proposed, status=current.status)
        other = repo.expert_id_by_identity(proposed.identity_number)
        if other is not None and other != proposed.expert_id:
            raise Conflict("another expert record has this identity number")
    request = pool.request_change(request_id=new_id("CR"), committee=committee, kind=kind,
                                  current=current, proposed=proposed, reason=data["reason"],
                                  requested_by=actor.subject, now=now, policy=policy)
    repo.add_change_request(request)
    uow.emit("pool_change_requested", {
        "request_id": request.request_id, "committee_id": committee_id, "kind": kind.value,
        "expert_id": request.expert_id, "reason": request.reason,
        "requested_by": actor.subject, "requested_at": now.isoformat()})
    return change_request_view(request)


def decide_change_request(uow, request_id: str, *, approve: bool, actor: Actor, now: datetime,
                          note: str | None, policy: ExpertsPolicy) -> dict[str, Any]:
    """The bureau's 备案同意 (or refusal). Only an approval changes the pool."""
    repo = _repo(uow)
    request = repo.change_request(request_id)
    if request is None:
        raise NotFound("no such change request")
    current = repo.expert(request.expert_id)
    if approve:
        decided, expert = pool.approve_change(request, current, approver=actor.subject, now=now,
                                              note=note, policy=policy)
        if current is None:
            repo.add_expert(expert, now)
        else:
            repo.save_expert(expert, now)
    else:
        decided = pool.reject_change(request, approver=actor.subject, now=now, note=note)
    repo.save_change_request(decided)
    uow.emit("pool_change_approved" if approve else "pool_change_rejected", {
        "request_id": decided.request_id, "committee_id": decided.committee_id,
        "kind": decided.kind.value, "expert_id": decided.expert_id,
        "decided_by": actor.subject, "decided_at": now.isoformat(), "note": note})
    if approve and decided.kind is ChangeKind.ADD:
        uow.emit("expert_registered", _registered_payload(expert, [decided.committee_id],
                                                          "change_request", decided.requested_by))
    return change_request_view(decided)


def list_change_requests(uow, *, status: str | None, actor: Actor) -> list[dict[str, Any]]:
    committees = actor.committees or None
    return [change_request_view(r) for r in _repo(uow).change_requests(status, committees)]


def discipline_expert(uow, expert_id: str, data: Mapping[str, Any], *, actor: Actor,
                      now: datetime) -> dict[str, Any]:
    """违反评审纪律、泄露评审信息: suspend or remove, and name the unit to notify (通报)."""
    repo = _repo(uow)
    expert = repo.expert(expert_id)
    if expert is None or (actor.committees and not (expert.committees & actor.committees)):
        raise NotFound("no such expert")
    after, notice = pool.record_discipline(expert, misconduct=data["misconduct"],
                                           sanction=data["sanction"], recorded_by=actor.subject,
                                           now=now, meeting_id=data.get("meeting_id"))
    repo.save_expert(after, now)
    record_id = new_id("DR")
    repo.add_discipline(record_id=record_id, expert_id=expert_id, unit=notice.unit,
                        misconduct=notice.misconduct.value, sanction=notice.sanction.value,
                        meeting_id=notice.meeting_id, recorded_by=actor.subject, recorded_at=now)
    uow.emit("expert_disciplined", {
        "expert_id": expert_id, "unit": notice.unit, "misconduct": notice.misconduct.value,
        "sanction": notice.sanction.value, "meeting_id": notice.meeting_id,
        "recorded_by": actor.subject, "recorded_at": now.isoformat(), "rule": notice.rule})
    return {"record_id": record_id, "expert_id": expert_id, "status": after.status.value,
            "unit_to_notify": notice.unit, "rule": notice.rule}


def expire_terms(uow, *, today: date) -> list[str]:
    """Mark experts whose term ended as expired (by the clock), one event each."""
    repo = _repo(uow)
    expired = pool.expire_terms(repo.experts_due_to_expire(today), today)
    now_iso = today.isoformat()
    for e in expired:
        repo.set_status(e.expert_id, ExpertStatus.EXPIRED.value)
        uow.emit("expert_term_expired", {"expert_id": e.expert_id,
                                         "committee_ids": sorted(e.committees),
                                         "term_end": e.term_end.isoformat(),
                                         "expired_on": now_iso})
    return [e.expert_id for e in expired]


# --- draws -----------------------------------------------------------------------------------------

def _beacon(data: Mapping[str, Any] | None) -> Beacon | None:
    return Beacon(str(data["source"]), str(data["round"])) if data else None


def _committed_payload(rnd: DrawRound) -> dict[str, Any]:
    r = rnd.record
    exclusions, sealed = public_exclusions(r)
    return {
        "round_id": r.round_id, "kind": r.kind.value, "meeting_id": r.meeting_id,
        "committee_id": r.committee_id, "meeting_date": r.meeting_date,
        "commitment_digest": rnd.digest, "eligible_hash": r.eligible_hash,
        "eligible_count": r.eligible_count,
        "exclusions": exclusions, "sealed_exclusions": sealed,
        "panel_size": r.panel_size, "reserves": r.reserves, "parties": list(r.parties),
        "beacon": r.beacon.as_dict() if r.beacon else None, "algorithm": r.algorithm,
        "emergency": r.emergency.as_dict() if r.emergency else None, "opened_at": r.opened_at,
    }


def request_panel(uow, request: Mapping[str, Any], *, now: datetime, policy: ExpertsPolicy,
                  parties: Iterable[str] = DEFAULT_PARTIES,
                  request_event_id: str | None = None) -> dict[str, Any]:
    """A meeting needs a panel: fix the draw's inputs now (draw_committed) and wait for the
    parties' commitments. The same request again returns the same round."""
    repo = _repo(uow)
    meeting_id = request["meeting_id"]
    committee = _committee(repo, request["committee_id"])
    starts_at: datetime = request["starts_at"]
    reserves = request.get("reserves")
    reserves = DEFAULT_RESERVES if reserves is None else int(reserves)
    existing = repo.meeting(meeting_id)
    if existing is not None:
        same = (existing.committee_id == committee.committee_id
                and existing.panel_size == request["panel_size"]
                and existing.starts_at == starts_at)
        if not same:
            raise Conflict("a panel was already requested for this meeting with other terms")
        row = repo.round_row(existing.regular_round_id)
        return round_view(row, DrawRound.from_receipt(row.receipt, policy))
    applicants = tuple(DocketApplicant(a["applicant_ref"], a["employer"])
                       for a in request.get("applicants") or ())
    declared = {k: frozenset(v) for k, v in (request.get("declared_conflicts") or {}).items()}
    docket = MeetingDocket(committee_id=committee.committee_id, meeting_id=meeting_id,
                           meeting_date=starts_at.date(),
                           specialties=frozenset(request.get("specialties") or ()),
                           applicants=applicants, declared_conflicts=declared)
    eligibility = pool.assess_eligibility(repo.experts_of(committee.committee_id), docket)
    round_id = new_id("R")
    rnd = draw.open_round(round_id=round_id, committee_id=committee.committee_id,
                          meeting_id=meeting_id, meeting_date=starts_at.date().isoformat(),
                          panel_size=int(request["panel_size"]), reserves=reserves,
                          eligible=eligibility.eligible, exclusions=eligibility.exclusions,
                          parties=list(parties), opened_at=now.isoformat(),
                          beacon=_beacon(request.get("beacon")), policy=policy)
    repo.add_meeting(meeting_id=meeting_id, committee_id=committee.committee_id,
                     starts_at=starts_at, panel_size=int(request["panel_size"]),
                     reserves=reserves, specialties=sorted(docket.specialties),
                     applicants=[{"applicant_ref": a.applicant_ref, "employer": a.employer}
                                 for a in applicants],
                     declared_conflicts={k: sorted(v) for k, v in declared.items()},
                     regular_round_id=round_id, requested_at=now,
                     request_event_id=request_event_id)
    repo.add_round(rnd, meeting_id=meeting_id, opened_at=now)
    uow.emit("draw_committed", _committed_payload(rnd))
    row = repo.round_row(round_id)
    return round_view(row, rnd)


def panel_request_refused_payload(request: Mapping[str, Any], exc: Exception) -> dict[str, Any]:
    details = getattr(exc, "details", None) or {}
    return {"meeting_id": str(request.get("meeting_id")),
            "committee_id": str(request.get("committee_id")),
            "code": getattr(exc, "code", "error"), "rule": getattr(exc, "rule", None),
            "message": getattr(exc, "message", "refused"),
            "violations": details.get("violations", []) if isinstance(details, dict) else []}


def _round(repo: ExpertsRepository, round_id: str, policy: ExpertsPolicy) -> tuple[Any, DrawRound]:
    row = repo.round_row(round_id, for_update=True)
    if row is None:
        raise NotFound("no such draw round")
    return row, DrawRound.from_receipt(row.receipt, policy)


def get_round(uow, round_id: str, *, policy: ExpertsPolicy) -> dict[str, Any]:
    row, rnd = _round(_repo(uow), round_id, policy)
    return round_view(row, rnd)


def _party_of(actor: Actor, rnd: DrawRound, party: str | None) -> str:
    """The party an actor acts for: a role of theirs that is a party of the round."""
    mine = [p for p in rnd.record.parties if p in actor.roles]
    if party is not None:
        if party not in mine:
            raise Forbidden("this token cannot act for that party", code="forbidden")
        return party
    if len(mine) != 1:
        raise Forbidden("this token must hold exactly one party role of the round "
                        "(or name the party)", code="forbidden",
                        details={"parties": list(rnd.record.parties)})
    return mine[0]


def commit_party(uow, round_id: str, commitment: str, *, actor: Actor, now: datetime,
                 policy: ExpertsPolicy, party: str | None = None) -> dict[str, Any]:
    repo = _repo(uow)
    row, rnd = _round(repo, round_id, policy)
    _require_committee_scope(actor, rnd.record.committee_id)
    who = _party_of(actor, rnd, party)
    before = dict(rnd.commitments)
    rnd.commit(who, commitment, at=now.isoformat(), by=actor.subject)
    if rnd.commitments != before:
        repo.save_round(rnd)
        uow.emit("draw_party_committed", {"round_id": round_id, "commitment_digest": rnd.digest,
                                          "party": who, "party_commitment": rnd.commitments[who],
                                          "committed_at": now.isoformat()})
    return round_view(row, rnd)


def reveal_party(uow, round_id: str, secret: str, *, actor: Actor, now: datetime,
                 policy: ExpertsPolicy, party: str | None = None) -> dict[str, Any]:
    """Store a party's secret (checked against its commitment). The secrets stay sealed with the
    panel and are published (draw_seed_revealed) when the meeting starts."""
    repo = _repo(uow)
    row, rnd = _round(repo, round_id, policy)
    _require_committee_scope(actor, rnd.record.committee_id)
    who = _party_of(actor, rnd, party)
    rnd.reveal(who, secret, at=now.isoformat())
    repo.save_round(rnd)
    return round_view(row, rnd)


def enter_beacon(uow, round_id: str, value: str, *, now: datetime,
                 policy: ExpertsPolicy) -> dict[str, Any]:
    repo = _repo(uow)
    row, rnd = _round(repo, round_id, policy)
    rnd.enter_beacon(value)
    repo.save_round(rnd)
    return round_view(row, rnd)


def finalize_round(uow, round_id: str, *, actor: Actor, now: datetime,
                   policy: ExpertsPolicy) -> dict[str, Any]:
    """Compute the panel from the seed. Emits panel_drawn (or emergency_panel_drawn) with the
    digest only; if the meeting already started, the seed and members go out at once."""
    repo = _repo(uow)
    row, rnd = _round(repo, round_id, policy)
    _require_committee_scope(actor, rnd.record.committee_id)
    if rnd.result is not None:
        return round_view(row, rnd)
    result = rnd.finalize(at=now.isoformat())
    repo.save_round(rnd, finalized_at=now)
    meeting = repo.meeting(rnd.record.meeting_id)
    payload = {"round_id": round_id, "panel_id": round_id, "meeting_id": rnd.record.meeting_id,
               "committee_id": rnd.record.committee_id, "panel_size": rnd.record.panel_size,
               "reserves": rnd.record.reserves, "commitment_digest": rnd.digest,
               "panel_digest": result.digest, "drawn_at": now.isoformat(),
               "meeting_starts_at": meeting.starts_at.isoformat()}
    if rnd.record.kind is RoundKind.EMERGENCY:
        assert rnd.record.emergency is not None
        uow.emit("emergency_panel_drawn", {
            **payload, "parent_round_id": rnd.record.emergency.parent_round_id,
            "approval_id": rnd.record.emergency.approval_id, "seats": rnd.record.panel_size})
    else:
        uow.emit("panel_drawn", payload)
    if now >= meeting.starts_at:
        _publish_seed(uow, repo, round_id, rnd, now)
    row = repo.round_row(round_id)
    return round_view(row, rnd)


def _publish_seed(uow, repo: ExpertsRepository, round_id: str, rnd: DrawRound,
                  now: datetime) -> None:
    assert rnd.result is not None
    uow.emit("draw_seed_revealed", {
        "round_id": round_id, "meeting_id": rnd.record.meeting_id,
        "commitment_digest": rnd.digest, "seed": rnd.result.seed, "secrets": dict(rnd.reveals),
        "beacon_value": rnd.beacon_value, "panel": list(rnd.result.panel),
        "reserves": list(rnd.result.reserves), "revealed_at": now.isoformat()})
    repo.mark_seed_published(round_id, now)


def publish_due_seeds(uow, *, now: datetime, policy: ExpertsPolicy) -> list[str]:
    """Meetings that started unseal their panels: seed, secrets and members go out."""
    repo = _repo(uow)
    done = []
    for row in repo.rounds_due_for_seed(now):
        _publish_seed(uow, repo, row.round_id, DrawRound.from_receipt(row.receipt, policy), now)
        done.append(row.round_id)
    return done


def _meeting(repo: ExpertsRepository, meeting_id: str) -> Any:
    m = repo.meeting(meeting_id)
    if m is None:
        raise NotFound("no panel was requested for this meeting")
    return m


def _seal_check(actor: Actor, meeting: Any, now: datetime) -> None:
    if not actor.may_act_for(meeting.committee_id) or not rules.panel_visible(
            frozenset(actor.roles), now, meeting.starts_at):
        raise Forbidden("the panel is sealed until the meeting starts", code="panel_sealed")


def receipt(uow, round_id: str, *, actor: Actor, now: datetime,
            policy: ExpertsPolicy) -> dict[str, Any]:
    repo = _repo(uow)
    row, rnd = _round(repo, round_id, policy)
    _seal_check(actor, _meeting(repo, rnd.record.meeting_id), now)
    return rnd.receipt()


def meeting_panel(uow, meeting_id: str, *, actor: Actor, now: datetime,
                  policy: ExpertsPolicy) -> dict[str, Any]:
    """The panel of a meeting (regular draw, then emergency draws), sealed until it starts."""
    repo = _repo(uow)
    meeting = _meeting(repo, meeting_id)
    _seal_check(actor, meeting, now)
    today = now.date()
    out: dict[str, Any] = {"meeting_id": meeting_id, "committee_id": meeting.committee_id,
                           "starts_at": meeting.starts_at.isoformat(), "rounds": []}
    for row in repo.rounds_of_meeting(meeting_id):
        rnd = DrawRound.from_receipt(row.receipt, policy)
        entry: dict[str, Any] = {"round_id": row.round_id, "kind": row.kind,
                                 "phase": rnd.phase.value, "commitment_digest": rnd.digest}
        if rnd.result is not None:
            def member(eid: str) -> dict[str, Any]:
                e = repo.expert(eid)
                return expert_view(e, actor, today) if e else {"expert_id": eid}
            entry["panel"] = [member(e) for e in rnd.result.panel]
            entry["reserves"] = [member(e) for e in rnd.result.reserves]
        out["rounds"].append(entry)
    return out


def abandon_round(uow, round_id: str, reason: str, *, actor: Actor, now: datetime,
                  policy: ExpertsPolicy) -> dict[str, Any]:
    """Stop a round that cannot finish (a party never revealed). It stays on record
    (draw_abandoned); the meeting's next round is a new commitment (redraw)."""
    repo = _repo(uow)
    row, rnd = _round(repo, round_id, policy)
    if rnd.abandoned is not None:
        return round_view(row, rnd)
    rnd.abandon(at=now.isoformat(), by=actor.subject, reason=reason)
    repo.save_round(rnd)
    uow.emit("draw_abandoned", {
        "round_id": round_id, "meeting_id": rnd.record.meeting_id,
        "commitment_digest": rnd.digest, "reason": reason.strip(),
        "abandoned_by": actor.subject, "abandoned_at": now.isoformat(),
        "parties_committed": sorted(rnd.commitments), "parties_revealed": sorted(rnd.reveals)})
    return round_view(repo.round_row(round_id), rnd)


def _docket_of(meeting: Any) -> MeetingDocket:
    return MeetingDocket(
        committee_id=meeting.committee_id, meeting_id=meeting.meeting_id,
        meeting_date=meeting.starts_at.date(), specialties=frozenset(meeting.specialties or ()),
        applicants=tuple(DocketApplicant(a["applicant_ref"], a["employer"])
                         for a in meeting.applicants or ()),
        declared_conflicts={k: frozenset(v) for k, v in
                            (meeting.declared_conflicts or {}).items()})


def redraw(uow, meeting_id: str, data: Mapping[str, Any], *, actor: Actor, now: datetime,
           policy: ExpertsPolicy, parties: Iterable[str] = DEFAULT_PARTIES) -> dict[str, Any]:
    """A new regular round for a meeting whose round was abandoned: eligibility as of now, a new
    commitment (draw_committed), new secrets."""
    repo = _repo(uow)
    meeting = _meeting(repo, meeting_id)
    _require_committee_scope(actor, meeting.committee_id)
    _, current = _round(repo, meeting.regular_round_id, policy)
    if current.phase is not draw.Phase.ABANDONED:
        raise Conflict("the meeting's round is not abandoned",
                       details={"round_id": current.record.round_id,
                                "phase": current.phase.value})
    docket = _docket_of(meeting)
    eligibility = pool.assess_eligibility(repo.experts_of(meeting.committee_id), docket)
    round_id = new_id("R")
    rnd = draw.open_round(round_id=round_id, committee_id=meeting.committee_id,
                          meeting_id=meeting_id, meeting_date=meeting.starts_at.date().isoformat(),
                          panel_size=meeting.panel_size, reserves=meeting.reserves,
                          eligible=eligibility.eligible, exclusions=eligibility.exclusions,
                          parties=list(parties), opened_at=now.isoformat(),
                          beacon=_beacon(data.get("beacon")), policy=policy)
    repo.add_round(rnd, meeting_id=meeting_id, opened_at=now)
    repo.set_meeting_round(meeting_id, round_id)
    uow.emit("draw_committed", _committed_payload(rnd))
    return round_view(repo.round_row(round_id), rnd)


def approve_emergency(uow, meeting_id: str, data: Mapping[str, Any], *, actor: Actor,
                      now: datetime, policy: ExpertsPolicy) -> dict[str, Any]:
    """The bureau's recorded approval (报区人社部门同意) of an emergency draw of some seats."""
    repo = _repo(uow)
    meeting = _meeting(repo, meeting_id)
    cap = policy.emergency_cap(meeting.panel_size)
    used = _emergency_seats(repo, meeting_id)
    if used + data["seats"] > cap:
        raise RuleRefused([rules.EMERGENCY_CAP.violation(
            field="seats", detail=(f"{used} emergency seats already drawn + {data['seats']} "
                                   f"exceeds {cap} ({policy.emergency_share_percent}% of "
                                   f"{meeting.panel_size})"),
            cap=cap, seats_before=used, seats=data["seats"])])
    approval_id = new_id("AP")
    repo.add_approval(approval_id=approval_id, meeting_id=meeting_id, seats=data["seats"],
                      approved_by=actor.subject, approved_at=now, reason=data["reason"])
    uow.emit("emergency_draw_approved", {"approval_id": approval_id, "meeting_id": meeting_id,
                                         "seats": data["seats"], "approved_by": actor.subject,
                                         "approved_at": now.isoformat(),
                                         "reason": data["reason"]})
    return {"approval_id": approval_id, "meeting_id": meeting_id, "seats": data["seats"],
            "cap": cap, "seats_before": used}


def _emergency_seats(repo: ExpertsRepository, meeting_id: str) -> int:
    """Seats of every emergency round opened for the meeting (an opened round counts: its seats
    are committed even if it is never finished)."""
    return sum(int(r.receipt["commitment"]["panel_size"])
               for r in repo.rounds_of_meeting(meeting_id) if r.kind == "emergency")


def open_emergency_round(uow, meeting_id: str, data: Mapping[str, Any], *, actor: Actor,
                         now: datetime, policy: ExpertsPolicy,
                         parties: Iterable[str] = DEFAULT_PARTIES) -> dict[str, Any]:
    """应急抽取: a new committed round of its own, only with a recorded bureau approval, and at
    most the cap of the panel's seats over the meeting."""
    repo = _repo(uow)
    meeting = _meeting(repo, meeting_id)
    _require_committee_scope(actor, meeting.committee_id)
    parent_row, parent = _round(repo, meeting.regular_round_id, policy)
    if parent.result is None:
        raise Conflict("the meeting's regular draw is not finished")
    approval = None
    approval_row = repo.approval(data["approval_id"]) if data.get("approval_id") else None
    if approval_row is not None:
        approval = EmergencyApproval(approval_row.approval_id, approval_row.meeting_id,
                                     approval_row.seats, approval_row.approved_by,
                                     approval_row.approved_at, approval_row.reason)
    seats_before = _emergency_seats(repo, meeting_id)
    violations = draw.emergency_violations(
        meeting_id=meeting_id, meeting_panel_size=meeting.panel_size, seats=data["seats"],
        seats_before=seats_before, approval=approval,
        approval_already_used=bool(approval_row is not None and approval_row.used_by_round_id),
        policy=policy)
    if violations:
        raise RuleRefused(violations)
    drawn: set[str] = set()
    for r in repo.rounds_of_meeting(meeting_id):
        res = r.receipt.get("result")
        if res:
            drawn.update(res["panel"])
            drawn.update(res["reserves"])
    docket = _docket_of(meeting)
    eligibility = pool.assess_eligibility(repo.experts_of(meeting.committee_id), docket,
                                          already_drawn=drawn)
    round_id = new_id("R")
    terms = EmergencyTerms(parent_round_id=parent.record.round_id, parent_digest=parent.digest,
                           approval_id=approval.approval_id if approval else "",
                           meeting_panel_size=meeting.panel_size, seats_before=seats_before,
                           share_percent=policy.emergency_share_percent)
    rnd = draw.open_round(round_id=round_id, committee_id=meeting.committee_id,
                          meeting_id=meeting_id, meeting_date=meeting.starts_at.date().isoformat(),
                          panel_size=data["seats"], reserves=0, eligible=eligibility.eligible,
                          exclusions=eligibility.exclusions, parties=list(parties),
                          opened_at=now.isoformat(), beacon=_beacon(data.get("beacon")),
                          kind=RoundKind.EMERGENCY, emergency=terms, policy=policy)
    repo.add_round(rnd, meeting_id=meeting_id, opened_at=now,
                   parent_round_id=parent.record.round_id, approval_id=terms.approval_id)
    repo.use_approval(terms.approval_id, round_id)
    uow.emit("draw_committed", _committed_payload(rnd))
    return round_view(repo.round_row(round_id), rnd)


def verify(receipt_data: Mapping[str, Any], expected_digest: str | None = None) -> dict[str, Any]:
    v = draw.verify_receipt(receipt_data, expected_digest=expected_digest)
    return {"ok": v.ok, "problems": list(v.problems), "commitment_digest": v.commitment_digest,
            "panel": list(v.panel), "reserves": list(v.reserves)}

