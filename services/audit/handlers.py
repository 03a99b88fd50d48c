"""Audit use cases."""
from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select

from services.audit.models import audit_records
from shared.clock import parse_instant
from shared.db import UnitOfWork


def record_event(uow: UnitOfWork, envelope: dict[str, Any], received_at: datetime) -> bool:
    """Append one consumed event to the record. A redelivered event is stored once: returns
    False when it was already recorded."""
    assert uow.session is not None
    if not uow.claim(envelope, consumer="audit.record"):
        return False
    uow.session.execute(insert(audit_records).values(
        event_id=envelope["event_id"], event_type=envelope["event_type"],
        producer=envelope["producer"], occurred_at=parse_instant(envelope["occurred_at"]),
        received_at=received_at, correlation_id=envelope["correlation_id"],
        envelope=json.dumps(envelope, ensure_ascii=False, sort_keys=True)))
    return True


def list_records(uow: UnitOfWork, *, after: int = 0, limit: int = 100,
                 event_type: str | None = None) -> list[dict[str, Any]]:
    assert uow.session is not None
    query = select(audit_records).where(audit_records.c.seq > after)
    if event_type:
        query = query.where(audit_records.c.event_type == event_type)
    rows = uow.session.execute(query.order_by(audit_records.c.seq).limit(limit)).mappings()
    return [{"seq": r["seq"], "received_at": r["received_at"].isoformat()
             if r["received_at"] else None, "event": json.loads(r["envelope"])} for r in rows]
