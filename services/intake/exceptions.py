"""Intake's errors (all map to the one JSON error shape of shared/web.py)."""
from __future__ import annotations

from typing import Any

from shared.errors import ZhichengError


class SubmissionRefused(ZhichengError):
    """A stored, rejected submission: every failed rule with its clause, and where to go instead.

    Same shape and status as :class:`shared.errors.RuleRefused`; built from the stored answer so a
    replay gets exactly the first answer.
    """

    status = 422
    code = "rule_violation"

    def __init__(self, answer: dict[str, Any], *, replayed: bool = False) -> None:
        rules = answer["rules"]
        super().__init__(
            f"refused by {len(rules)} rule(s): " + ", ".join(rules),
            rule=rules[0] if rules else None,
            details={"violations": answer["violations"], "submission_id": answer["submission_id"],
                     "portal_id": answer["portal_id"], "route_to": answer["route_to"],
                     "replayed": replayed})
