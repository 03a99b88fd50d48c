"""Audit use cases: record every event, verify the store, prove, sign, export, query, monitor,
inspect.

:class:`AuditLog` is the process's view of the store's head (the ledger: chain head + Merkle tree)
and of the compliance monitors' state. Appends are serialised through it: a record is prepared
from the ledger, inserted, its findings stored and announced in the same transaction, and only
after the commit does the ledger advance. Any failure makes the view stale; it is reloaded from the
store before the next use, so the database is always the truth.
"""
from __future__ import annotations

import json
import threading
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from fractions import Fraction
from typing import Any, Iterator

from sqlalchemy import insert, select, update
from sqlalchemy.engine import Engine

from services.audit import repository as repo
from services.audit.chain import verify_chain
from services.audit.checkpoint import (HeadSigner, SignedTreeHead, check_against_last_head,
                                       find_forks, public_key_bytes, verify_head_signature,
                                       write_export)
from services.audit.ledger import Ledger, envelope_text
from services.audit.merkle import MerkleTree
from services.audit.models import (audit_inspection_cases, audit_inspection_results,
                                   audit_inspections, audit_key_supervision, audit_records)
from services.audit.monitors import AuditEvent, MonitorSuite, Replay, Scopes, plan_scopes, \
    reference_replay
from services.audit.policy import AuditPolicy
from services.audit.rules import (applicant_key, index_terms, mask_identity_number,
                                  mask_name, mask_personal_data, normalise_identity_number)
from services.audit.sampling import (CaseRef, SpotCheckDraw, check_inspection_outcome,
                                     key_supervision_selection, patrol_selection,
                                     propose_key_supervision)
from shared.clock import Clock, parse_instant
from shared.db import UnitOfWork, values_present
from shared.errors import Conflict, InvalidInput, NotFound
from shared.events import CATALOGUE


@dataclass
class AuditSettings:
    log_id: str
    signer: HeadSigner
    person_key: bytes | None = None
    """The applicant pseudonym key (None: shared.personal's, from ZHICHENG_PERSON_KEY)."""
    policy: AuditPolicy = field(default_factory=AuditPolicy)
    scopes: Scopes = plan_scopes
    replay: Replay = reference_replay


class AuditLog:
    """The ledger and monitors of one process, kept in step with the store."""

    def __init__(self, settings: AuditSettings) -> None:
        self.settings = settings
        self.lock = threading.RLock()
        self.ledger: Ledger | None = None
        self.monitors: MonitorSuite | None = None

    def new_monitors(self) -> MonitorSuite:
        s = self.settings
        return MonitorSuite.standard(policy=s.policy, scopes=s.scopes, replay=s.replay)

    def invalidate(self) -> None:
        with self.lock:
            self.ledger = None
            self.monitors = None

    def sync(self, conn, *, with_monitors: bool = False) -> Ledger:
        """Load the ledger if needed and take in records another writer added; with
        ``with_monitors`` also the monitors' state (rebuilt by replaying the stored events they
        watch: only the recording path needs it, proofs and heads do not wait for it)."""
        with self.lock:
            if self.ledger is None:
                ledger = Ledger()
                ledger.load(repo.ledger_rows(conn))
                self.ledger, self.monitors = ledger, None
            else:
                start = self.ledger.size
                tail = list(repo.ledger_rows(conn, start, stream=False))
                if tail:
                    self.ledger.load(tail)
                    if self.monitors is not None:
                        self._replay(conn, self.monitors, start)
            if with_monitors and self.monitors is None:
                monitors = self.new_monitors()
                self._replay(conn, monitors, 0)
                self.monitors = monitors
            return self.ledger

    def _replay(self, conn, monitors: MonitorSuite, start: int) -> None:
        for _position, envelope in repo.monitored_envelopes(conn, monitors.event_types,
                                                            self.ledger.size, start):
            if envelope.get("producer") != "audit":
                monitors.observe(AuditEvent.from_envelope(envelope))


# --- recording --------------------------------------------------------------------------------

def _payload_value(envelope: dict[str, Any], *names: str) -> str | None:
    payload = envelope.get("payload") or {}
    for name in names:
        if payload.get(name) is not None:
            return str(payload[name])
    return None


def record_event(uow: UnitOfWork, log: AuditLog, envelope: dict[str, Any],
                 received_at: datetime) -> bool:
    """Append one consumed event to the store, exactly once; run the monitors on it.

    Returns False for a redelivery (already recorded). Commits the unit of work itself, because
    the ledger may only advance after the commit.
    """
    return record_events(uow, log, [envelope], received_at) == 1


def record_events(uow: UnitOfWork, log: AuditLog, envelopes: list[dict[str, Any]],
                  received_at: datetime) -> int:
    """Append consumed events to the store in one transaction, each exactly once and in the
    given order; run the monitors on them. Returns how many were new (redeliveries, also a
    repeat within ``envelopes``, are skipped).

    Commits the unit of work itself, because the ledger may only advance after the commit; if
    anything fails nothing is stored and the process's view is reloaded before the next use.
    """
    assert uow.session is not None
    with log.lock:
        records = []
        try:
            ledger = log.sync(uow.session, with_monitors=True)
            rows, term_rows, cases = [], [], {}
            for envelope in _not_recorded(uow, envelopes):
                text = envelope_text(envelope)
                record = ledger.prepare(envelope, received_at,
                                        after=records[-1] if records else None, text=text)
                records.append(record)
                terms = index_terms(envelope, log.settings.person_key)
                rows.append(repo.record_row(record, envelope, text, received_at, terms))
                term_rows.extend(repo.term_rows(record, terms))
                if envelope["event_type"] == "submission_accepted":
                    case = _accepted_case(envelope, terms.occurred_at)
                    if case is not None:
                        cases.setdefault(case["case_id"], case)
                if envelope.get("producer") != "audit":
                    uow.caused_by(envelope)
                    for finding in log.monitors.observe(AuditEvent.from_envelope(envelope)):
                        _store_finding(uow, finding.as_dict(), record.position,
                                       finding.occurred_at, received_at)
            repo.insert_records(uow.session, rows, term_rows)
            repo.remember_cases(uow.session, list(cases.values()))
            uow.commit()
        except BaseException:
            log.invalidate()
            raise
        for record in records:
            ledger.advance(record)
        return len(records)


def _not_recorded(uow: UnitOfWork, envelopes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The envelopes the store does not hold yet, in order, each once (a redelivery, or a
    repeat within ``envelopes``, is left out). The store's unique event ids are audit's record
    of what it has processed: no claim row besides (one index write less per event)."""
    seen = values_present(uow.session, audit_records.c.event_id,
                          list({e["event_id"] for e in envelopes}))
    fresh = []
    for envelope in envelopes:
        if envelope["event_id"] not in seen:
            seen.add(envelope["event_id"])
            fresh.append(envelope)
    return fresh


def _accepted_case(envelope: dict[str, Any], accepted_at: datetime) -> dict[str, Any] | None:
    """The spot-check frame's row for intake's acceptance: it names the application by its
    submission id (review's case id comes later), the committee by its code, the industry in
    the employer."""
    case_id = _payload_value(envelope, "case_id", "submission_id")
    if not case_id:
        return None
    employer = (envelope.get("payload") or {}).get("employer")
    industry = _payload_value(envelope, "industry") or (
        str(employer["industry"]) if isinstance(employer, dict)
        and employer.get("industry") is not None else None)
    return {"case_id": case_id,
            "committee_id": _payload_value(envelope, "committee_id", "committee_code"),
            "industry": industry, "accepted_at": accepted_at}


def _store_finding(uow: UnitOfWork, finding: dict[str, Any], position: int,
                   occurred_at: datetime, found_at: datetime) -> None:
    if repo.violation_exists(uow.session, finding["key"]):
        return
    repo.store_violation(uow.session, finding, position, occurred_at, found_at)
    uow.emit("notice_issued", {
        "notice_id": finding["key"], "rule_id": finding["rule"], "clause": finding["clause"],
        "committee_id": finding["committee_id"], "subject_kind": finding["subject_kind"],
        "subject_id": str(finding["subject_id"]), "notify_unit": finding["notify_unit"],
        "detail": finding["detail"], "source_event_id": finding["event_id"],
        "source_position": position})


# --- verification -----------------------------------------------------------------------------

def verify_store(engine: Engine, public_key, *, last_known_head: SignedTreeHead | None = None,
                 ) -> dict[str, Any]:
    """Re-hash every stored record from its stored columns, re-link the chain, rebuild the Merkle
    tree and check every stored signed head against it (and, given one, the last head an
    inspector kept). Names the first bad record."""
    tree = MerkleTree()
    problems: list[dict[str, Any]] = []
    with engine.connect() as conn:
        stored_heads = repo.heads(conn)

        def leaves() -> Iterator:
            for record in repo.stored_records(conn):
                yield record
                tree.append_hash(record.leaf_hash)

        report = verify_chain(leaves(), expected_size=None)
        first_bad = report.fault.as_dict() if report.fault else None
    if report.fault is not None:
        # the tree stops at the fault: only records before it are trusted
        problems.append({"code": report.fault.reason, "index": report.fault.position,
                         "detail": report.fault.detail})
    signer_key = public_key
    for sth in stored_heads:
        if not verify_head_signature(sth, signer_key):
            problems.append({"code": "bad_signature", "index": None,
                             "detail": f"stored head for size {sth.tree_size} is not validly "
                                       f"signed"})
            continue
        if sth.tree_size > tree.size:
            if report.fault is None:
                problems.append({"code": "missing_record", "index": tree.size,
                                 "detail": f"a head was signed for {sth.tree_size} records, "
                                           f"{tree.size} are stored"})
                if first_bad is None:
                    first_bad = {"position": tree.size, "reason": "missing_record",
                                 "detail": "records missing at the end of the log"}
            break
        if tree.root(sth.tree_size) != sth.root_hash:
            problems.append({"code": "root_mismatch", "index": None,
                             "detail": f"stored records do not give the signed root for size "
                                       f"{sth.tree_size}"})
    for fork in find_forks(stored_heads):
        problems.append(fork.as_dict())
    if last_known_head is not None and report.fault is None:
        for problem in check_against_last_head(tree, last_known_head, signer_key):
            problems.append(problem.as_dict())
            if problem.index is not None and first_bad is None:
                first_bad = {"position": problem.index, "reason": problem.code,
                             "detail": problem.detail}
    return {"intact": not problems, "records": report.checked, "chain_head": report.head.hex(),
            "root_hash": tree.root().hex(), "heads_checked": len(stored_heads),
            "first_bad": first_bad, "problems": problems}


# --- heads and proofs -------------------------------------------------------------------------

def sign_head(uow: UnitOfWork, log: AuditLog, clock: Clock, *,
              force: bool = False) -> SignedTreeHead | None:
    """Sign the current tree head (skipped when nothing was appended since the last head)."""
    assert uow.session is not None
    with log.lock:
        ledger = log.sync(uow.session)
        latest = repo.latest_head(uow.session)
        if latest is not None and latest.tree_size == ledger.size and not force:
            return None
        if latest is not None and latest.tree_size == ledger.size:
            return latest
        now = clock.now()
        sth = log.settings.signer.sign(ledger.size, ledger.tree.root(), now.isoformat())
        repo.store_head(uow.session, sth, now)
        uow.emit("tree_head_signed", {k: v for k, v in sth.as_dict().items()})
        uow.commit()
        return sth


def head_view(sth: SignedTreeHead) -> dict[str, Any]:
    return sth.as_dict()


def inclusion_proof(conn, log: AuditLog, position: int, tree_size: int | None) -> dict[str, Any]:
    with log.lock:
        ledger = log.sync(conn)
        head = repo.head_for(conn, tree_size) if tree_size is not None else repo.latest_head(conn)
        if head is None:
            raise NotFound("no signed tree head of that size; sign one or pick a signed size")
        size = head.tree_size
        if not 0 <= position < size:
            raise InvalidInput(f"position must be below the head's size {size}",
                               details={"fields": {"position": ["outside the signed tree"]}})
        proof = ledger.tree.inclusion_proof(position, size)
        leaf = ledger.tree.leaf_hash(position)
    return {"position": position, "tree_size": size, "leaf_hash": leaf.hex(),
            "proof": [p.hex() for p in proof], "signed_head": head.as_dict()}


def consistency_proof(conn, log: AuditLog, first: int, second: int | None) -> dict[str, Any]:
    with log.lock:
        ledger = log.sync(conn)
        a = repo.head_for(conn, first)
        b = repo.head_for(conn, second) if second is not None else repo.latest_head(conn)
        if a is None or b is None:
            raise NotFound("both sizes must have signed tree heads")
        if a.tree_size > b.tree_size:
            raise InvalidInput("first must not be larger than second")
        proof = ledger.tree.consistency_proof(a.tree_size, b.tree_size)
    return {"first": a.tree_size, "second": b.tree_size, "proof": [p.hex() for p in proof],
            "first_head": a.as_dict(), "second_head": b.as_dict()}


def export_lines(engine: Engine, log: AuditLog, clock: Clock, *,
                 case_id: str | None = None) -> Iterator[str]:
    """The export file: every record up to the latest signed head (``full``), or one case's
    records with inclusion proofs (``selection``)."""
    with engine.connect() as conn:
        with log.lock:
            ledger = log.sync(conn)
            tree = MerkleTree(ledger.tree.leaf_hash(i) for i in range(ledger.size))
        latest = repo.latest_head(conn)
        if latest is None:
            raise NotFound("no signed tree head yet; sign one first")
        heads = repo.heads(conn, up_to=latest.tree_size)
        size = latest.tree_size
        if case_id is None:
            records = ((r.position, r.content, r.chain_hash)
                       for r in repo.stored_records(conn) if r.position < size)
            count = size
            mode = "full"
        else:
            positions = [row["position"] for row in repo.find_records(
                conn, term=("case", case_id), limit=1_000_000) if row["position"] < size]
            records = ((r.position, r.content, r.chain_hash)
                       for r in repo.stored_records_at(conn, positions))
            count = len(positions)
            mode = "selection"
        yield from write_export(log_id=log.settings.log_id, public_key=log.settings.signer.public_key,
                                exported_at=clock.now().isoformat(), records=records,
                                record_count=count, tree=tree, heads=heads, mode=mode)


# --- inspectors' queries ----------------------------------------------------------------------

@dataclass(frozen=True)
class Masking:
    """What a role may see unmasked. Identity numbers are always shown masked."""

    names: bool = False


MASKING_BY_ROLE = {"inspector": Masking(names=True)}


def masking_for(roles: frozenset[str]) -> Masking:
    visible = [MASKING_BY_ROLE[r] for r in roles if r in MASKING_BY_ROLE]
    return Masking(names=any(m.names for m in visible))


def _mask_catalogued(envelope: dict[str, Any], masking: Masking) -> dict[str, Any]:
    out = mask_personal_data(envelope, identity=True, names=not masking.names)
    spec = CATALOGUE.types.get(str(envelope.get("event_type")))
    payload = out.get("payload")
    if spec is not None and isinstance(payload, dict):
        for name in spec.personal_fields:
            value = payload.get(name)
            if not isinstance(value, str):
                continue
            if "name" in name:
                if not masking.names:
                    payload[name] = mask_name(value)
            else:
                payload[name] = mask_identity_number(value)
    return out


def present(row: dict[str, Any], masking: Masking) -> dict[str, Any]:
    envelope = json.loads(row["envelope"])
    return {"position": int(row["position"]), "event_id": row["event_id"],
            "event_type": row["event_type"], "producer": row["producer"],
            "occurred_at": row["occurred_at"].isoformat(),
            "recorded_at": row["received_at"].isoformat(),
            "leaf_hash": bytes(row["leaf_hash"]).hex(),
            "event": _mask_catalogued(envelope, masking)}


def query_records(conn, masking: Masking, *, term: tuple[str, str] | None = None,
                  event_type: str | None = None, since: datetime | None = None,
                  until: datetime | None = None, newest_first: bool = False,
                  cursor: int | None = None, limit: int = 50) -> dict[str, Any]:
    rows = repo.find_records(conn, term=term, event_type=event_type, since=since, until=until,
                             newest_first=newest_first, cursor=cursor, limit=limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    items = [present(r, masking) for r in rows]
    return {"items": items, "order": "newest_first" if newest_first else "oldest_first",
            "next_cursor": items[-1]["position"] if more and items else None}


def case_term(conn, case_id: str) -> tuple[str, str]:
    """The term that finds a case's whole story: review names a case by ``case_id`` and carries
    intake's ``submission_id`` in every case event, intake knows only the submission id; so a
    review case id is resolved to its submission id (both are indexed as ``case``)."""
    first = repo.find_records(conn, term=("case", case_id), limit=1)
    if first:
        payload = json.loads(first[0]["envelope"]).get("payload") or {}
        if payload.get("case_id") == case_id and isinstance(payload.get("submission_id"), str):
            return ("case", payload["submission_id"])
    return ("case", case_id)


def applicant_term(identity_number: str, person_key: bytes | None) -> tuple[str, str]:
    return ("applicant", applicant_key(normalise_identity_number(identity_number), person_key))


# --- violations -------------------------------------------------------------------------------

def violation_view(row: dict[str, Any]) -> dict[str, Any]:
    finding = json.loads(row["finding"])
    return {"notice_id": row["key"], "rule": row["rule_id"], "clause": row["clause"],
            "committee_id": row["committee_id"], "subject_kind": row["subject_kind"],
            "subject_id": row["subject_id"], "notify_unit": row["notify_unit"],
            "event_id": row["event_id"], "position": int(row["position"]),
            "occurred_at": row["occurred_at"].isoformat(),
            "found_at": row["found_at"].isoformat(), "message": finding.get("message"),
            "message_zh": finding.get("message_zh"), "detail": finding.get("detail"),
            "acknowledged": row.get("acknowledged_by") is not None,
            "acknowledged_by": row.get("acknowledged_by"),
            "acknowledged_at": row["acknowledged_at"].isoformat()
            if row.get("acknowledged_at") else None,
            "note": row.get("note")}


def acknowledge_violation(uow: UnitOfWork, key: str, by: str, note: str | None,
                          now: datetime) -> dict[str, Any]:
    assert uow.session is not None
    if repo.get_violation(uow.session, key) is None:
        raise NotFound("no such notice")
    if not repo.acknowledge(uow.session, key, by, now, note):
        raise Conflict("this notice was already acknowledged")
    uow.emit("violation_acknowledged", {"notice_id": key, "acknowledged_by": by, "note": note})
    uow.commit()
    return {"notice_id": key, "acknowledged_by": by, "acknowledged_at": now.isoformat()}


def key_supervision_proposals(conn, policy: AuditPolicy) -> list[dict[str, Any]]:
    already = [r[0] for r in conn.execute(select(audit_key_supervision.c.committee_id))]
    proposals = propose_key_supervision(repo.unacknowledged_by_committee(conn),
                                        threshold=policy.key_supervision_threshold,
                                        already=already)
    return [{"committee_id": p.committee_id, "violation_count": p.violation_count,
             "rules": list(p.rule_ids)} for p in proposals]


# --- inspections (随机抽查, 行业巡查, 重点督查) -----------------------------------------------------

def _case_refs(conn, **filters) -> list[CaseRef]:
    return [CaseRef(c, k or "", i) for c, k, i in repo.accepted_cases(conn, **filters)]


def _new_inspection(uow: UnitOfWork, kind: str, *, committee_id: str | None,
                    industry: str | None, stage: str, draw: dict | None, by: str,
                    now: datetime, case_ids: list[str] | None) -> str:
    inspection_id = str(uuid.uuid4())
    uow.session.execute(insert(audit_inspections).values(
        inspection_id=inspection_id, kind=kind, committee_id=committee_id, industry=industry,
        stage=stage, draw=json.dumps(draw, ensure_ascii=False) if draw is not None else None,
        created_by=by, created_at=now))
    if case_ids:
        uow.session.execute(insert(audit_inspection_cases),
                            [{"inspection_id": inspection_id, "case_id": c} for c in case_ids])
    return inspection_id


def _draw_state(draw: SpotCheckDraw) -> dict[str, Any]:
    return {"sample_id": draw.sample_id, "committee_id": draw.committee_id,
            "case_ids": list(draw.case_ids),
            "share": f"{draw.share.numerator}/{draw.share.denominator}",
            "commitments": draw.commitments, "reveals": {p: s.hex() for p, s in draw.reveals.items()},
            "beacon": draw.beacon}


def _draw_from(state: dict[str, Any]) -> SpotCheckDraw:
    return SpotCheckDraw(sample_id=state["sample_id"], committee_id=state["committee_id"],
                         case_ids=tuple(state["case_ids"]), share=Fraction(state["share"]),
                         commitments=dict(state["commitments"]),
                         reveals={p: bytes.fromhex(s) for p, s in state["reveals"].items()},
                         beacon=state.get("beacon"))


def plan_spot_check(uow: UnitOfWork, committee_id: str, share: Fraction | None, by: str,
                    now: datetime, policy: AuditPolicy) -> dict[str, Any]:
    cases = [c.case_id for c in _case_refs(uow.session, committee_id=committee_id)]
    if not cases:
        raise Conflict("the committee has no accepted cases to sample")
    draw = SpotCheckDraw.plan("pending", committee_id, cases, share or policy.spot_check_share)
    inspection_id = _new_inspection(uow, "spot_check", committee_id=committee_id, industry=None,
                                    stage="committing", draw=None, by=by, now=now, case_ids=None)
    draw.sample_id = inspection_id
    uow.session.execute(update(audit_inspections)
                        .where(audit_inspections.c.inspection_id == inspection_id)
                        .values(draw=json.dumps(_draw_state(draw))))
    uow.emit("spot_check_planned", {"inspection_id": inspection_id, **{
        k: v for k, v in draw.plan_record().items() if k not in ("sample_id",)}})
    uow.commit()
    return {"inspection_id": inspection_id, "stage": draw.stage, "plan": draw.plan_record()}


def _load_draw(uow: UnitOfWork, inspection_id: str) -> tuple[dict[str, Any], SpotCheckDraw]:
    row = uow.session.execute(select(audit_inspections).where(
        audit_inspections.c.inspection_id == inspection_id)).first()
    if row is None or row.kind != "spot_check":
        raise NotFound("no such spot check")
    return dict(row._mapping), _draw_from(json.loads(row.draw))


def _save_draw(uow: UnitOfWork, inspection_id: str, draw: SpotCheckDraw) -> None:
    uow.session.execute(update(audit_inspections)
                        .where(audit_inspections.c.inspection_id == inspection_id)
                        .values(draw=json.dumps(_draw_state(draw)), stage=draw.stage))


def commit_contribution(uow: UnitOfWork, inspection_id: str, party: str,
                        commitment: str) -> dict[str, Any]:
    _row, draw = _load_draw(uow, inspection_id)
    draw.commit(party, commitment)
    _save_draw(uow, inspection_id, draw)
    uow.emit("spot_check_committed", {"inspection_id": inspection_id, "party": party,
                                      "commitment": commitment.lower()})
    uow.commit()
    return {"inspection_id": inspection_id, "stage": draw.stage,
            "parties": sorted(draw.commitments)}


def enter_beacon(uow: UnitOfWork, inspection_id: str, beacon: str) -> dict[str, Any]:
    _row, draw = _load_draw(uow, inspection_id)
    draw.set_beacon(beacon)
    _save_draw(uow, inspection_id, draw)
    uow.emit("spot_check_beacon_entered", {"inspection_id": inspection_id, "beacon": beacon})
    uow.commit()
    return {"inspection_id": inspection_id, "stage": draw.stage}


def reveal_contribution(uow: UnitOfWork, inspection_id: str, party: str,
                        secret_hex: str) -> dict[str, Any]:
    _row, draw = _load_draw(uow, inspection_id)
    try:
        secret = bytes.fromhex(secret_hex)
    except ValueError:
        raise InvalidInput("the secret is hex text") from None
    draw.reveal(party, secret)
    _save_draw(uow, inspection_id, draw)
    uow.emit("spot_check_revealed", {"inspection_id": inspection_id, "party": party,
                                     "secret": secret_hex.lower()})
    out: dict[str, Any] = {"inspection_id": inspection_id, "stage": draw.stage}
    if draw.stage == "drawn":
        selected = draw.selected()
        uow.session.execute(insert(audit_inspection_cases),
                            [{"inspection_id": inspection_id, "case_id": c} for c in selected])
        receipt = draw.receipt()
        uow.emit("spot_check_drawn", {"inspection_id": inspection_id,
                                      "committee_id": draw.committee_id,
                                      "seed": receipt["seed"], "case_ids": selected,
                                      "receipt": receipt})
        out.update({"case_ids": selected, "receipt": receipt})
    uow.commit()
    return out


def start_patrol(uow: UnitOfWork, committee_id: str | None, industry: str | None, by: str,
                 now: datetime) -> dict[str, Any]:
    cases = patrol_selection(_case_refs(uow.session), committee_id=committee_id,
                             industry=industry)
    inspection_id = _new_inspection(uow, "patrol", committee_id=committee_id, industry=industry,
                                    stage="selected", draw=None, by=by, now=now, case_ids=cases)
    uow.emit("patrol_started", {"inspection_id": inspection_id, "committee_id": committee_id,
                                "industry": industry, "case_ids": cases})
    uow.commit()
    return {"inspection_id": inspection_id, "case_ids": cases}


def start_key_supervision(uow: UnitOfWork, committee_id: str, reason: str | None, by: str,
                          now: datetime) -> dict[str, Any]:
    if uow.session.execute(select(audit_key_supervision.c.committee_id).where(
            audit_key_supervision.c.committee_id == committee_id)).first() is not None:
        raise Conflict("the committee is already under key supervision")
    cases = key_supervision_selection(_case_refs(uow.session), committee_id)
    uow.session.execute(insert(audit_key_supervision).values(
        committee_id=committee_id, started_by=by, started_at=now, reason=reason))
    inspection_id = _new_inspection(uow, "key_supervision", committee_id=committee_id,
                                    industry=None, stage="selected", draw=None, by=by, now=now,
                                    case_ids=cases)
    uow.emit("key_supervision_started", {"inspection_id": inspection_id,
                                         "committee_id": committee_id, "reason": reason,
                                         "case_ids": cases})
    uow.commit()
    return {"inspection_id": inspection_id, "case_ids": cases}


def record_inspection_result(uow: UnitOfWork, inspection_id: str, case_id: str, outcome: str,
                             notes: str | None, inspector: str, now: datetime) -> dict[str, Any]:
    check_inspection_outcome(outcome)
    selected = uow.session.execute(select(audit_inspection_cases.c.case_id).where(
        audit_inspection_cases.c.inspection_id == inspection_id,
        audit_inspection_cases.c.case_id == case_id)).first()
    if selected is None:
        raise NotFound("the case is not selected in this inspection")
    uow.session.execute(insert(audit_inspection_results).values(
        inspection_id=inspection_id, case_id=case_id, outcome=outcome, notes=notes,
        inspector=inspector, recorded_at=now))
    uow.emit("inspection_result_recorded", {"inspection_id": inspection_id, "case_id": case_id,
                                            "outcome": outcome, "inspector": inspector})
    uow.commit()
    return {"inspection_id": inspection_id, "case_id": case_id, "outcome": outcome}


def inspection_view(conn, inspection_id: str) -> dict[str, Any]:
    row = conn.execute(select(audit_inspections).where(
        audit_inspections.c.inspection_id == inspection_id)).first()
    if row is None:
        raise NotFound("no such inspection")
    cases = [r[0] for r in conn.execute(select(audit_inspection_cases.c.case_id).where(
        audit_inspection_cases.c.inspection_id == inspection_id)
        .order_by(audit_inspection_cases.c.case_id))]
    results = [{"case_id": r.case_id, "outcome": r.outcome, "notes": r.notes,
                "inspector": r.inspector, "recorded_at": r.recorded_at.isoformat()}
               for r in conn.execute(select(audit_inspection_results).where(
                   audit_inspection_results.c.inspection_id == inspection_id)
                   .order_by(audit_inspection_results.c.id))]
    out: dict[str, Any] = {"inspection_id": inspection_id, "kind": row.kind,
                           "committee_id": row.committee_id, "industry": row.industry,
                           "stage": row.stage, "case_ids": cases, "results": results}
    if row.draw:
        draw = _draw_from(json.loads(row.draw))
        out["plan"] = draw.plan_record()
        out["parties"] = sorted(draw.commitments)
        if draw.stage == "drawn":
            out["receipt"] = draw.receipt()
    return out


def parse_time(value: str | None, name: str) -> datetime | None:
    if not value:
        return None
    try:
        return parse_instant(value)
    except ValueError:
        raise InvalidInput(f"{name} must be an ISO 8601 instant",
                           details={"fields": {name: ["ISO 8601 instant"]}}) from None


def public_key_hex(log: AuditLog) -> str:
    return public_key_bytes(log.settings.signer.public_key).hex()
