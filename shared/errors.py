"""Errors every service maps to one JSON shape.

``{"error": {"code": ..., "message": ..., "rule": ..., "details": ...}}``

Messages never carry personal data (identity numbers, names) nor Python exception text: nameko
logs an exception's message, and the message may reach a client.
"""
from __future__ import annotations

from typing import Any, Iterable

from shared.rules import Rule, RuleViolation


class ZhichengError(Exception):
    """Base of every error a client may see. ``status`` is the HTTP status."""

    status = 400
    code = "bad_request"

    def __init__(self, message: str, *, code: str | None = None, rule: Rule | str | None = None,
                 details: Any = None, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status
        self.rule = rule.id if isinstance(rule, Rule) else rule
        self.details = details

    def as_dict(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message, "rule": self.rule,
                          "details": self.details}}


class InvalidInput(ZhichengError):
    """Input that does not have the required shape (schema validation failed)."""

    status = 400
    code = "invalid_input"


class RuleRefused(ZhichengError):
    """One or more rules refused the request; ``details.violations`` lists every one."""

    status = 422
    code = "rule_violation"

    def __init__(self, violations: Iterable[RuleViolation], message: str | None = None) -> None:
        self.violations = list(violations)
        if not self.violations:
            raise ValueError("RuleRefused needs at least one violation")
        first = self.violations[0].rule
        super().__init__(
            message or (f"refused by {len(self.violations)} rule(s): "
                        + ", ".join(v.rule.id for v in self.violations)),
            rule=first,
            details={"violations": [v.as_dict() for v in self.violations]},
        )


class NotFound(ZhichengError):
    status = 404
    code = "not_found"


class Conflict(ZhichengError):
    """The request conflicts with the current state (a move the state machine does not allow)."""

    status = 409
    code = "conflict"


class Unauthorized(ZhichengError):
    status = 401
    code = "unauthorized"


class Forbidden(ZhichengError):
    status = 403
    code = "forbidden"


class Unavailable(ZhichengError):
    status = 503
    code = "unavailable"
