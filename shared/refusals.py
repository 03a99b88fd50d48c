"""Reportable refusals (拒绝记录): an official's refused attempt at a guarded act is itself on
record.

A service refuses an act with :class:`shared.errors.RuleRefused` and its unit of work rolls back:
nothing of the act is stored or announced. For the acts the notice puts under supervision (a plan
deadline moved without approval, a meeting before the pre-review notice ended, materials changed
after the freeze, an emergency draw beyond approval or cap) the service then records the attempt in
a unit of work of its OWN, which commits a ``*_refused`` event naming every rule that refused it
and who tried. Audit's monitors turn those into violations and notices (通报).
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from marshmallow import fields

from shared.errors import RuleRefused
from shared.events.catalogue import PayloadSchema


class RefusalFields(PayloadSchema):
    """Every refusal event carries the rules that refused, when and by whom it was tried."""

    rules = fields.List(fields.String(), required=True)
    refused_at = fields.String(required=True)
    attempted_by = fields.String(required=True)


def refusal_payload(refused: RuleRefused, *, now: datetime, by: str,
                    **payload: Any) -> dict[str, Any]:
    rules = sorted({v.rule.id for v in refused.violations})
    return {**payload, "rules": rules, "refused_at": now.isoformat(), "attempted_by": by}


def record_refusal(database, event_type: str, refused: RuleRefused, *, now: datetime, by: str,
                   **payload: Any) -> None:
    """Commit ``event_type`` in a new unit of work of ``database`` (a service's ``self.db``);
    the refused act's own unit of work has already rolled back."""
    with database.unit_of_work() as uow:
        uow.emit(event_type, refusal_payload(refused, now=now, by=by, **payload))
        uow.commit()
