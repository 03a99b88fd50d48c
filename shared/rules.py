"""Rules taken from the notice (虞人社职〔2023〕1号) or from national regulation.

Every rule the platform enforces is a :class:`Rule` with a stable id (``INTAKE-SCOPE``), the clause
it comes from (``三(二)``), the document that clause belongs to, and a message in English and
Chinese. Errors, refusals and audit notices name the rule id, so a reader can go from any refusal
straight to the sentence of the notice that justifies it.

This module is plain Python: domain code imports it without pulling in any transport.
"""
from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field as dataclass_field
from typing import Any

NOTICE = "虞人社职〔2023〕1号"
NATIONAL_REGULATION = "职称评审管理暂行规定（人社部令第40号）"


@dataclass(frozen=True)
class Rule:
    """A rule with a stable id and the clause it comes from."""

    id: str
    clause: str
    en: str
    zh: str
    source: str = NOTICE

    def violation(self, field: str | None = None, detail: str | None = None,
                  **context: Any) -> "RuleViolation":
        return RuleViolation(rule=self, field=field, detail=detail, context=dict(context))

    def as_dict(self) -> dict[str, str]:
        return {"id": self.id, "clause": self.clause, "source": self.source,
                "en": self.en, "zh": self.zh}


@dataclass(frozen=True)
class RuleViolation:
    """One failed rule for one piece of input: which rule, which field, why."""

    rule: Rule
    field: str | None = None
    detail: str | None = None
    context: dict[str, Any] = dataclass_field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "rule": self.rule.id,
            "clause": self.rule.clause,
            "source": self.rule.source,
            "field": self.field,
            "message": self.rule.en if not self.detail else f"{self.rule.en}: {self.detail}",
            "message_zh": self.rule.zh,
        }
        if self.context:
            out["context"] = self.context
        return out


class RuleBook:
    """Registry of every rule id, so ids stay unique and can be listed (``zhicheng rules``)."""

    def __init__(self) -> None:
        self._rules: dict[str, Rule] = {}

    def define(self, id: str, clause: str, en: str, zh: str, source: str = NOTICE) -> Rule:
        rule = Rule(id=id, clause=clause, en=en, zh=zh, source=source)
        existing = self._rules.get(id)
        if existing is not None and existing != rule:
            raise ValueError(f"rule id {id} defined twice with different content")
        self._rules[id] = rule
        return rule

    def get(self, id: str) -> Rule:
        return self._rules[id]

    def all(self) -> list[Rule]:
        return sorted(self._rules.values(), key=lambda r: r.id)

    def __contains__(self, id: str) -> bool:
        return id in self._rules


RULES = RuleBook()
define_rule = RULES.define
