"""Reading and appending the audit store (SQLAlchemy Core). Nothing here updates or deletes a
stored record, term, head or violation."""
from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Iterable, Iterator

from sqlalchemy import and_, exists, func, insert, select
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from services.audit.chain import ChainedRecord
from services.audit.checkpoint import SignedTreeHead, TreeHead
from services.audit.ledger import record_content_from_text
from services.audit.models import (audit_cases, audit_record_terms, audit_records,
                                   audit_tree_heads, audit_violation_acks, audit_violations)
from services.audit.rules import IndexTerms
from shared.db import insert_new_rows, insert_rows

TERM_KINDS = ("case", "committee", "expert", "applicant")


def record_row(record: ChainedRecord, envelope: dict[str, Any], envelope_text: str,
               received_at: datetime, terms: IndexTerms) -> dict[str, Any]:
    """The ``audit_records`` row of a prepared record."""
    return dict(event_id=envelope["event_id"], event_type=envelope["event_type"],
                producer=envelope["producer"], occurred_at=terms.occurred_at,
                received_at=received_at, correlation_id=envelope["correlation_id"],
                envelope=envelope_text, position=record.position, leaf_hash=record.leaf_hash,
                previous_hash=record.previous_hash, chain_hash=record.chain_hash)


def term_rows(record: ChainedRecord, terms: IndexTerms) -> list[dict[str, Any]]:
    """The ``audit_record_terms`` rows that find a record by case, committee, expert, applicant."""
    return [{"kind": kind, "value": value[:128], "position": record.position}
            for kind, values in (("case", terms.case_ids), ("committee", terms.committee_ids),
                                 ("expert", terms.expert_ids),
                                 ("applicant", terms.applicant_keys))
            for value in sorted(values)]


def insert_records(session: Session, rows: list[dict[str, Any]],
                   terms: list[dict[str, Any]]) -> None:
    """Insert prepared records and their index terms (one statement each, many rows)."""
    insert_rows(session, audit_records, rows)
    insert_rows(session, audit_record_terms, terms)


def ledger_rows(conn: Connection | Session, start: int = 0, *,
                stream: bool = True) -> Iterator[tuple[int, bytes, bytes]]:
    """``(position, leaf_hash, chain_hash)`` from ``start`` on, in order (ledger loading).

    ``stream``: read in slices through a server-side cursor (the whole log, at start). A tail
    expected to be short (records another writer added, checked before every batch) is read
    in one statement: on PostgreSQL a cursor takes four round trips (declare, two fetches,
    close) even when nothing is there."""
    query = (select(audit_records.c.position, audit_records.c.leaf_hash,
                    audit_records.c.chain_hash)
             .where(audit_records.c.position >= start).order_by(audit_records.c.position))
    if stream:
        query = query.execution_options(yield_per=20000)
    for row in conn.execute(query):
        yield int(row[0]), bytes(row[1]), bytes(row[2])


def stored_records(conn: Connection, start: int = 0,
                   batch: int = 20000) -> Iterator[ChainedRecord]:
    """Every stored record from ``start`` in position order, its content rebuilt from its stored
    columns (what ``verify`` re-hashes)."""
    query = (select(audit_records.c.position, audit_records.c.received_at,
                    audit_records.c.envelope, audit_records.c.previous_hash,
                    audit_records.c.leaf_hash, audit_records.c.chain_hash)
             .where(audit_records.c.position >= start).order_by(audit_records.c.position))
    result = conn.execute(query.execution_options(stream_results=True, yield_per=batch))
    for position, received_at, envelope, previous, leaf, link in result:
        yield ChainedRecord(position=int(position),
                            content=record_content_from_text(position, received_at.isoformat(),
                                                             envelope),
                            previous_hash=bytes(previous), leaf_hash=bytes(leaf),
                            chain_hash=bytes(link))


def stored_records_at(conn: Connection, positions: list[int]) -> Iterator[ChainedRecord]:
    """The stored records at the given positions, in position order."""
    r = audit_records
    for i in range(0, len(positions), 1000):
        chunk = sorted(positions)[i:i + 1000]
        query = (select(r.c.position, r.c.received_at, r.c.envelope, r.c.previous_hash,
                        r.c.leaf_hash, r.c.chain_hash)
                 .where(r.c.position.in_(chunk)).order_by(r.c.position))
        for position, received_at, envelope, previous, leaf, link in conn.execute(query):
            yield ChainedRecord(position=int(position),
                                content=record_content_from_text(position,
                                                                 received_at.isoformat(),
                                                                 envelope),
                                previous_hash=bytes(previous), leaf_hash=bytes(leaf),
                                chain_hash=bytes(link))


def record_count(conn: Connection | Session) -> int:
    return int(conn.execute(select(func.count()).select_from(audit_records)).scalar_one())


def find_records(conn: Connection | Session, *, term: tuple[str, str] | None = None,
                 event_type: str | None = None, since: datetime | None = None,
                 until: datetime | None = None, newest_first: bool = False,
                 cursor: int | None = None, limit: int = 50) -> list[dict[str, Any]]:
    """A page of records by term / type / time, ordered by position; ``cursor`` is the last
    position of the previous page."""
    r = audit_records
    cols = [r.c.position, r.c.event_id, r.c.event_type, r.c.producer, r.c.occurred_at,
            r.c.received_at, r.c.envelope, r.c.leaf_hash]
    if term is not None:
        t = audit_record_terms
        query = select(*cols).select_from(t.join(r, r.c.position == t.c.position)).where(
            t.c.kind == term[0], t.c.value == term[1])
        order_col = t.c.position
    else:
        query = select(*cols)
        order_col = r.c.position
    if event_type:
        query = query.where(r.c.event_type == event_type)
    if since is not None:
        query = query.where(r.c.occurred_at >= since)
    if until is not None:
        query = query.where(r.c.occurred_at < until)
    if cursor is not None:
        query = query.where(order_col < cursor if newest_first else order_col > cursor)
    query = query.order_by(order_col.desc() if newest_first else order_col.asc()).limit(limit)
    return [dict(row._mapping) for row in conn.execute(query)]


def record_at(conn: Connection | Session, position: int) -> dict[str, Any] | None:
    row = conn.execute(select(audit_records).where(audit_records.c.position == position)).first()
    return dict(row._mapping) if row else None


def first_position_of_event(conn: Connection | Session, event_id: str) -> int | None:
    return conn.execute(select(audit_records.c.position)
                        .where(audit_records.c.event_id == event_id)).scalar()


# --- tree heads -------------------------------------------------------------------------------

def store_head(session: Session, sth: SignedTreeHead, signed_at: datetime) -> None:
    session.execute(insert(audit_tree_heads).values(
        tree_size=sth.tree_size, root_hash=sth.root_hash, log_id=sth.head.log_id,
        timestamp=sth.head.timestamp, key_id=sth.key_id, signature=sth.signature,
        signed_at=signed_at))


def _head(row) -> SignedTreeHead:
    return SignedTreeHead(head=TreeHead(log_id=row.log_id, tree_size=int(row.tree_size),
                                        root_hash=bytes(row.root_hash), timestamp=row.timestamp),
                          key_id=row.key_id, signature=bytes(row.signature))


def heads(conn: Connection | Session, *, up_to: int | None = None) -> list[SignedTreeHead]:
    query = select(audit_tree_heads).order_by(audit_tree_heads.c.tree_size)
    if up_to is not None:
        query = query.where(audit_tree_heads.c.tree_size <= up_to)
    return [_head(row) for row in conn.execute(query)]


def latest_head(conn: Connection | Session) -> SignedTreeHead | None:
    row = conn.execute(select(audit_tree_heads).order_by(audit_tree_heads.c.tree_size.desc())
                       .limit(1)).first()
    return _head(row) if row else None


def head_for(conn: Connection | Session, tree_size: int) -> SignedTreeHead | None:
    row = conn.execute(select(audit_tree_heads)
                       .where(audit_tree_heads.c.tree_size == tree_size)).first()
    return _head(row) if row else None


# --- violations -------------------------------------------------------------------------------

def violation_exists(session: Session, key: str) -> bool:
    return session.execute(select(audit_violations.c.key)
                           .where(audit_violations.c.key == key)).first() is not None


def store_violation(session: Session, finding: dict[str, Any], position: int,
                    occurred_at: datetime, found_at: datetime) -> None:
    session.execute(insert(audit_violations).values(
        key=finding["key"], rule_id=finding["rule"], clause=finding["clause"],
        committee_id=finding["committee_id"], subject_kind=finding["subject_kind"],
        subject_id=str(finding["subject_id"])[:128], notify_unit=finding["notify_unit"],
        event_id=finding["event_id"], position=position, occurred_at=occurred_at,
        found_at=found_at, finding=json.dumps(finding, ensure_ascii=False, sort_keys=True)))


def list_violations(conn: Connection | Session, *, committee_id: str | None = None,
                    rule_id: str | None = None, acknowledged: bool | None = None,
                    limit: int = 50, offset: int = 0) -> list[dict[str, Any]]:
    v, a = audit_violations, audit_violation_acks
    query = select(v, a.c.acknowledged_by, a.c.acknowledged_at, a.c.note).select_from(
        v.outerjoin(a, a.c.key == v.c.key))
    if committee_id is not None:
        query = query.where(v.c.committee_id == committee_id)
    if rule_id is not None:
        query = query.where(v.c.rule_id == rule_id)
    if acknowledged is True:
        query = query.where(a.c.key.is_not(None))
    elif acknowledged is False:
        query = query.where(a.c.key.is_(None))
    query = query.order_by(v.c.found_at.desc(), v.c.key).limit(limit).offset(offset)
    return [dict(row._mapping) for row in conn.execute(query)]


def unacknowledged_by_committee(conn: Connection | Session) -> list[tuple[str | None, str]]:
    v, a = audit_violations, audit_violation_acks
    query = select(v.c.committee_id, v.c.rule_id).where(
        ~exists().where(a.c.key == v.c.key))
    return [(row[0], row[1]) for row in conn.execute(query)]


def get_violation(conn: Connection | Session, key: str) -> dict[str, Any] | None:
    row = conn.execute(select(audit_violations).where(audit_violations.c.key == key)).first()
    return dict(row._mapping) if row else None


def acknowledge(session: Session, key: str, by: str, at: datetime, note: str | None) -> bool:
    """False when already acknowledged (acknowledgements are never changed)."""
    if session.execute(select(audit_violation_acks.c.key)
                       .where(audit_violation_acks.c.key == key)).first() is not None:
        return False
    session.execute(insert(audit_violation_acks).values(key=key, acknowledged_by=by,
                                                        acknowledged_at=at, note=note))
    return True


# --- accepted cases ---------------------------------------------------------------------------

def remember_cases(session: Session, cases: list[dict[str, Any]]) -> None:
    """Add accepted cases to the spot-check frame; a case already there is kept as it is."""
    if not cases:
        return
    insert_new_rows(session, audit_cases, cases, audit_cases.c.case_id,
                    conflict=[audit_cases.c.case_id])


def accepted_cases(conn: Connection | Session, *, committee_id: str | None = None,
                   industry: str | None = None) -> list[tuple[str, str | None, str | None]]:
    query = select(audit_cases.c.case_id, audit_cases.c.committee_id, audit_cases.c.industry)
    if committee_id is not None:
        query = query.where(audit_cases.c.committee_id == committee_id)
    if industry is not None:
        query = query.where(audit_cases.c.industry == industry)
    return [(r[0], r[1], r[2]) for r in conn.execute(query.order_by(audit_cases.c.case_id))]


def monitored_envelopes(conn: Connection, event_types: Iterable[str], up_to: int,
                        start: int = 0) -> Iterator[tuple[int, dict[str, Any]]]:
    """Stored envelopes of the given types in ``[start, up_to)`` (monitor state rebuilt)."""
    query = (select(audit_records.c.position, audit_records.c.envelope)
             .where(and_(audit_records.c.event_type.in_(sorted(event_types)),
                         audit_records.c.position >= start,
                         audit_records.c.position < up_to))
             .order_by(audit_records.c.position))
    for position, envelope in conn.execute(query.execution_options(stream_results=True,
                                                                   yield_per=10000)):
        yield int(position), json.loads(envelope)
