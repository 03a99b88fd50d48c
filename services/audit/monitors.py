"""Compliance monitors (合规监测): turn the stream of every service's events into violations.

Each monitor has a rule (id + clause of the notice) and watches a few event types. It keeps a small
JSON-serialisable state (``snapshot``/``restore``) so the service can persist it beside the audit
record in one transaction, and returns :class:`Finding`s; each finding becomes a stored violation
and a notice event (通报). Monitors judge by the times carried in payloads (``held_at``,
``ends_at``...), not by arrival order. An event that arrives before the event it depends on (e.g. a
meeting before its publicity, from two services' queues) is judged with what is known then.

Event payload fields the monitors rely on (other fields are ignored; missing optional fields mean
"unknown", never a violation by themselves unless stated):

=============================  ===============================================================
event type                     fields used
=============================  ===============================================================
``publicity_started``          ``case_ids`` (or ``case_id``), ``stage`` (``pre_review`` 评前公示 |
                               ``post_review`` 评后公示), ``ends_at``
``meeting_held``               ``meeting_id``, ``committee_id``, ``case_ids``, ``held_at``
``result_published``           ``case_id``, ``committee_id``, ``published_at``, ``outcome``
                               (``passed`` | ``failed``)
``panel_drawn``                ``draw_id``, ``meeting_id``, ``committee_id``, ``panel_size``,
                               ``expert_ids``, ``drawn_at``; optional ``case_ids``; optional
                               ``receipt`` (the draw's revealed inputs, replayed by the injected
                               ``replay`` function)
``emergency_draw_made``        ``draw_id``, ``meeting_id``, ``committee_id``, ``panel_size``,
                               ``expert_ids`` (the emergency experts), ``approval_id`` (null when
                               the bureau did not approve), ``drawn_at``; optional ``receipt``
``expert_enrolled``            ``expert_id``, ``employer_id``, ``term_ends_on`` (date), optional
                               ``committee_id``, ``change_id``
``expert_term_renewed``        ``expert_id``, ``term_ends_on``
``expert_suspended``           ``expert_id``, optional ``until`` (date)
``expert_reinstated``          ``expert_id``
``conflict_declared``          ``expert_id``, ``case_id``
``expert_disciplined``         ``expert_id``, ``employer_id`` (the unit to notify), ``reason``
``submission_accepted``        ``case_id``, ``committee_id``, ``employer_id``, optional
                               ``region``, ``employer_kind``, ``specialty`` (scope check),
                               ``reapplicant`` (bool), ``new_achievement_count`` (int)
``plan_published``             ``plan_id``, ``committee_id``, ``material_deadline``
``plan_deadline_changed``      ``plan_id``, ``committee_id``, ``approval_id`` (null when none)
``case_frozen``                ``case_id``, ``frozen_at``
``materials_changed``          ``case_id``, ``changed_at``
``pool_change_requested``      ``change_id``, ``committee_id``
``pool_change_approved``       ``change_id``, ``approval_id``
``pool_change_applied``        ``change_id``, ``committee_id``, optional ``approval_id``
=============================  ===============================================================

Findings never carry names or identity numbers: only ids (case, meeting, expert, committee).

Pure: no framework imports.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import date, datetime
from fractions import Fraction
from typing import Any, Callable, Iterable, Mapping, Protocol, Sequence

from shared.clock import parse_instant
from shared.rules import Rule, RuleViolation, define_rule

from services.audit.policy import AuditPolicy

PRE_REVIEW_PUBLICITY = define_rule(
    "AUDIT-PRE-REVIEW-PUBLICITY", "三(二)",
    "a review meeting must not be held before the pre-review publicity of each of its cases ended",
    "评审会议须在评前公示结束后召开")
POST_REVIEW_PUBLICITY = define_rule(
    "AUDIT-POST-REVIEW-PUBLICITY", "三(二)",
    "a result must not be published before its post-review publicity ended",
    "评审结果须在评后公示结束后公布")
EMERGENCY_DRAW = define_rule(
    "AUDIT-EMERGENCY-DRAW", "三(一)",
    "emergency draws need the bureau's approval and must not exceed 30% of the panel",
    "应急抽取须报区人社部门同意，比例原则上不超过评委人数的30%")
ELIGIBLE_EXPERT = define_rule(
    "AUDIT-ELIGIBLE-EXPERT", "三(一)",
    "a panel must not include an expert whose term expired, who is suspended or who has a conflict",
    "评委不得为任期届满、暂停或需回避的专家")
DRAW_REPRODUCIBLE = define_rule(
    "AUDIT-DRAW-REPRODUCIBLE", "三(一)",
    "a random draw's revealed seed must reproduce its panel",
    "随机抽取：公开的随机种子须能复现抽取结果")
PLAN_DEADLINE = define_rule(
    "AUDIT-PLAN-DEADLINE", "三(二)",
    "the application deadline must not change after the plan is published without approval",
    "评审计划发布后，个人申报截止时间无特殊情况不允许调整")
MATERIALS_FROZEN = define_rule(
    "AUDIT-MATERIALS-FROZEN", "三(三)",
    "materials must not change after the case was frozen for the meeting",
    "评审会议召开时，如有部分申报材料缺失，不再补充")
POOL_CHANGE = define_rule(
    "AUDIT-POOL-CHANGE", "三(一)",
    "an expert pool change must be approved by the bureau before it takes effect",
    "专家库人员新增或调整需事先报区人力社保局备案同意")
INTAKE_SCOPE = define_rule(
    "AUDIT-INTAKE-SCOPE", "三(二)",
    "a committee must accept only applications within its published scope",
    "严格按申报对象所在单位属地受理，明确申报受理范围")
REAPPLICANT = define_rule(
    "AUDIT-REAPPLICANT", "三(二)",
    "an applicant who failed last year must not pass without new achievements",
    "对上年度参评未通过人员，要严格审查申报对象新增业绩")
EXPERT_DISCIPLINED = define_rule(
    "AUDIT-EXPERT-DISCIPLINED", "三(一)",
    "an expert who broke review discipline is dealt with and notified to their unit",
    "对违反评审纪律、泄露评审信息的专家进行严肃处理，并通报有关单位")


@dataclass(frozen=True)
class AuditEvent:
    """The part of an event envelope the monitors read."""

    event_id: str
    event_type: str
    occurred_at: datetime
    payload: Mapping[str, Any]
    producer: str = ""

    @classmethod
    def from_envelope(cls, envelope: Mapping[str, Any]) -> "AuditEvent":
        occurred = envelope.get("occurred_at")
        if isinstance(occurred, str):
            occurred = parse_instant(occurred)
        return cls(event_id=str(envelope["event_id"]), event_type=str(envelope["event_type"]),
                   occurred_at=occurred, payload=envelope.get("payload") or {},
                   producer=str(envelope.get("producer", "")))


@dataclass(frozen=True)
class Finding:
    """One violation found in the event stream, with who is to be notified (通报对象)."""

    violation: RuleViolation
    event_id: str
    occurred_at: datetime
    subject_kind: str
    """``case`` | ``meeting`` | ``draw`` | ``expert`` | ``plan`` | ``pool_change``"""
    subject_id: str
    committee_id: str | None = None
    notify_unit: str | None = None
    """The unit the notice goes to when it is not the committee office (an expert's employer)."""

    @property
    def rule(self) -> Rule:
        return self.violation.rule

    @property
    def key(self) -> str:
        """Stable identity: the same event never yields the same finding twice."""
        return hashlib.sha256(f"{self.rule.id}|{self.subject_kind}|{self.subject_id}|"
                              f"{self.event_id}".encode()).hexdigest()[:32]

    def as_dict(self) -> dict[str, Any]:
        return {"key": self.key, "rule": self.rule.id, "clause": self.rule.clause,
                "source": self.rule.source, "message": self.rule.en, "message_zh": self.rule.zh,
                "detail": self.violation.detail, "field": self.violation.field,
                "context": dict(self.violation.context), "event_id": self.event_id,
                "occurred_at": self.occurred_at.isoformat(), "subject_kind": self.subject_kind,
                "subject_id": self.subject_id, "committee_id": self.committee_id,
                "notify_unit": self.notify_unit}


class Monitor(Protocol):
    rule: Rule
    event_types: frozenset[str]

    def observe(self, event: AuditEvent) -> list[Finding]: ...

    def snapshot(self) -> dict[str, Any]: ...

    def restore(self, state: Mapping[str, Any]) -> None: ...


def _when(payload: Mapping[str, Any], name: str, default: datetime) -> datetime:
    value = payload.get(name)
    if isinstance(value, datetime):
        return value
    if isinstance(value, str) and value:
        return parse_instant(value)
    return default


def _day(value: Any) -> date | None:
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if isinstance(value, str) and value:
        return parse_instant(value).date()
    return None


def _ids(payload: Mapping[str, Any], many: str, one: str) -> list[str]:
    values = payload.get(many)
    if isinstance(values, (list, tuple)):
        return [str(v) for v in values]
    if payload.get(one) is not None:
        return [str(payload[one])]
    return []


class _StateMonitor:
    """A monitor whose state is one JSON-compatible dict."""

    rule: Rule
    event_types: frozenset[str] = frozenset()

    def __init__(self) -> None:
        self.state: dict[str, Any] = self.initial_state()

    def initial_state(self) -> dict[str, Any]:
        return {}

    def snapshot(self) -> dict[str, Any]:
        return self.state

    def restore(self, state: Mapping[str, Any]) -> None:
        fresh = self.initial_state()
        fresh.update({k: dict(v) if isinstance(v, Mapping) else v for k, v in state.items()})
        self.state = fresh

    def observe(self, event: AuditEvent) -> list[Finding]:
        handler = getattr(self, "on_" + event.event_type, None)
        if handler is None:
            return []
        return handler(event, event.payload) or []

    def finding(self, event: AuditEvent, subject_kind: str, subject_id: str, *,
                committee_id: str | None, detail: str, field: str | None = None,
                notify_unit: str | None = None, **context: Any) -> Finding:
        return Finding(violation=self.rule.violation(field=field, detail=detail, **context),
                       event_id=event.event_id, occurred_at=event.occurred_at,
                       subject_kind=subject_kind, subject_id=subject_id,
                       committee_id=committee_id, notify_unit=notify_unit)


class PublicityBeforeMeeting(_StateMonitor):
    """评前公示: a meeting held while (or without) a case's pre-review publicity."""

    rule = PRE_REVIEW_PUBLICITY
    event_types = frozenset({"publicity_started", "meeting_held"})

    def initial_state(self) -> dict[str, Any]:
        return {"ends": {}}

    def on_publicity_started(self, event: AuditEvent, p: Mapping[str, Any]) -> None:
        if p.get("stage") != "pre_review" or not p.get("ends_at"):
            return
        for case_id in _ids(p, "case_ids", "case_id"):
            self.state["ends"][case_id] = _when(p, "ends_at", event.occurred_at).isoformat()

    def on_meeting_held(self, event: AuditEvent, p: Mapping[str, Any]) -> list[Finding]:
        held = _when(p, "held_at", event.occurred_at)
        out = []
        for case_id in _ids(p, "case_ids", "case_id"):
            ends = self.state["ends"].get(case_id)
            if ends is None:
                detail = f"case {case_id} had no pre-review publicity"
            elif parse_instant(ends) > held:
                detail = f"case {case_id}: meeting held before its pre-review publicity ended"
            else:
                continue
            out.append(self.finding(event, "case", case_id, committee_id=p.get("committee_id"),
                                    detail=detail, field="held_at",
                                    meeting_id=p.get("meeting_id"), publicity_ends_at=ends,
                                    held_at=held.isoformat()))
        return out


class PublicityBeforeResult(_StateMonitor):
    """评后公示: a result published while (or without) its post-review publicity."""

    rule = POST_REVIEW_PUBLICITY
    event_types = frozenset({"publicity_started", "result_published"})

    def initial_state(self) -> dict[str, Any]:
        return {"ends": {}}

    def on_publicity_started(self, event: AuditEvent, p: Mapping[str, Any]) -> None:
        if p.get("stage") != "post_review" or not p.get("ends_at"):
            return
        for case_id in _ids(p, "case_ids", "case_id"):
            self.state["ends"][case_id] = _when(p, "ends_at", event.occurred_at).isoformat()

    def on_result_published(self, event: AuditEvent, p: Mapping[str, Any]) -> list[Finding]:
        published = _when(p, "published_at", event.occurred_at)
        out = []
        for case_id in _ids(p, "case_ids", "case_id"):
            ends = self.state["ends"].get(case_id)
            if ends is None:
                detail = f"case {case_id} had no post-review publicity"
            elif parse_instant(ends) > published:
                detail = f"case {case_id}: result published before its post-review publicity ended"
            else:
                continue
            out.append(self.finding(event, "case", case_id, committee_id=p.get("committee_id"),
                                    detail=detail, field="published_at",
                                    publicity_ends_at=ends, published_at=published.isoformat()))
        return out


class EmergencyDrawCap(_StateMonitor):
    """应急抽取: each emergency draw needs approval; all of a meeting's together stay within 30%."""

    rule = EMERGENCY_DRAW
    event_types = frozenset({"panel_drawn", "emergency_draw_made"})

    def __init__(self, policy: AuditPolicy | None = None) -> None:
        self.policy = policy or AuditPolicy()
        super().__init__()

    def initial_state(self) -> dict[str, Any]:
        return {"panel_size": {}, "emergency": {}}

    def on_panel_drawn(self, event: AuditEvent, p: Mapping[str, Any]) -> None:
        if p.get("meeting_id") is not None and p.get("panel_size"):
            self.state["panel_size"][str(p["meeting_id"])] = int(p["panel_size"])

    def on_emergency_draw_made(self, event: AuditEvent, p: Mapping[str, Any]) -> list[Finding]:
        meeting = str(p.get("meeting_id"))
        draw = str(p.get("draw_id", event.event_id))
        experts = _ids(p, "expert_ids", "expert_id")
        size = int(p.get("panel_size") or self.state["panel_size"].get(meeting) or 0)
        total = self.state["emergency"].get(meeting, 0) + len(experts)
        self.state["emergency"][meeting] = total
        out = []
        if not p.get("approval_id"):
            out.append(self.finding(event, "draw", draw, committee_id=p.get("committee_id"),
                                    field="approval_id", meeting_id=meeting,
                                    detail="emergency draw without the bureau's approval"))
        cap = self.policy.emergency_draw_cap
        if size <= 0 or Fraction(total, size) > cap:
            out.append(self.finding(event, "draw", draw, committee_id=p.get("committee_id"),
                                    field="expert_ids", meeting_id=meeting,
                                    emergency_experts=total, panel_size=size,
                                    detail=f"{total} emergency expert(s) on a panel of {size} "
                                           f"exceeds {float(cap):.0%}"))
        return out


class EligibleExperts(_StateMonitor):
    """回避/任期/暂停: a panel drawn with an expired, suspended or conflicting expert."""

    rule = ELIGIBLE_EXPERT
    event_types = frozenset({"expert_enrolled", "expert_term_renewed", "expert_suspended",
                             "expert_reinstated", "conflict_declared", "submission_accepted",
                             "meeting_scheduled", "panel_drawn", "emergency_draw_made"})

    def initial_state(self) -> dict[str, Any]:
        return {"experts": {}, "case_employer": {}, "conflicts": {}, "meeting_cases": {}}

    def _expert(self, expert_id: str) -> dict[str, Any]:
        return self.state["experts"].setdefault(expert_id, {})

    def on_expert_enrolled(self, event: AuditEvent, p: Mapping[str, Any]) -> None:
        e = self._expert(str(p["expert_id"]))
        e.update({"employer_id": p.get("employer_id"),
                  "term_ends_on": p.get("term_ends_on"), "suspended": False})

    def on_expert_term_renewed(self, event: AuditEvent, p: Mapping[str, Any]) -> None:
        self._expert(str(p["expert_id"]))["term_ends_on"] = p.get("term_ends_on")

    def on_expert_suspended(self, event: AuditEvent, p: Mapping[str, Any]) -> None:
        e = self._expert(str(p["expert_id"]))
        e["suspended"] = True
        e["suspended_until"] = p.get("until")

    def on_expert_reinstated(self, event: AuditEvent, p: Mapping[str, Any]) -> None:
        e = self._expert(str(p["expert_id"]))
        e["suspended"] = False
        e["suspended_until"] = None

    def on_conflict_declared(self, event: AuditEvent, p: Mapping[str, Any]) -> None:
        conflicts = self.state["conflicts"].setdefault(str(p["expert_id"]), [])
        if str(p["case_id"]) not in conflicts:
            conflicts.append(str(p["case_id"]))

    def on_submission_accepted(self, event: AuditEvent, p: Mapping[str, Any]) -> None:
        if p.get("employer_id") is not None:
            self.state["case_employer"][str(p["case_id"])] = str(p["employer_id"])

    def on_meeting_scheduled(self, event: AuditEvent, p: Mapping[str, Any]) -> None:
        if p.get("meeting_id") is not None:
            self.state["meeting_cases"][str(p["meeting_id"])] = _ids(p, "case_ids", "case_id")

    def on_panel_drawn(self, event: AuditEvent, p: Mapping[str, Any]) -> list[Finding]:
        drawn_on = _when(p, "drawn_at", event.occurred_at).date()
        cases = _ids(p, "case_ids", "case_id") or \
            self.state["meeting_cases"].get(str(p.get("meeting_id")), [])
        out = []
        for expert_id in _ids(p, "expert_ids", "expert_id"):
            reasons = self._reasons(expert_id, drawn_on, cases)
            if reasons:
                out.append(self.finding(event, "expert", expert_id,
                                        committee_id=p.get("committee_id"), field="expert_ids",
                                        draw_id=p.get("draw_id"), meeting_id=p.get("meeting_id"),
                                        reasons=reasons,
                                        detail=f"expert {expert_id} drawn although "
                                               + ", ".join(reasons)))
        return out

    on_emergency_draw_made = on_panel_drawn

    def _reasons(self, expert_id: str, on: date, cases: Sequence[str]) -> list[str]:
        e = self.state["experts"].get(expert_id)
        if e is None:
            return ["not in the pool"]
        reasons = []
        term_end = _day(e.get("term_ends_on"))
        if term_end is not None and term_end < on:
            reasons.append("term expired")
        if e.get("suspended"):
            until = _day(e.get("suspended_until"))
            if until is None or until >= on:
                reasons.append("suspended")
        declared = set(self.state["conflicts"].get(expert_id, []))
        for case_id in cases:
            if case_id in declared:
                reasons.append(f"declared conflict with case {case_id}")
            elif e.get("employer_id") is not None and \
                    self.state["case_employer"].get(case_id) == str(e["employer_id"]):
                reasons.append(f"same employer as case {case_id}")
        return reasons


def reference_replay(receipt: Mapping[str, Any]) -> list[str] | None:
    """A stand-in draw algorithm: rank the eligible ids by SHA-256(seed || id), take the panel.

    ``receipt`` = ``{"seed": hex, "eligible_ids": [...], "panel_size": n}``. The service replaces it
    with the experts service's own verifier (``zhicheng draw verify``) when that exists.
    """
    try:
        seed = bytes.fromhex(str(receipt["seed"]))
        eligible = [str(x) for x in receipt["eligible_ids"]]
        size = int(receipt["panel_size"])
    except (KeyError, TypeError, ValueError):
        return None
    ranked = sorted(eligible, key=lambda x: hashlib.sha256(seed + x.encode()).digest())
    return ranked[:size]


Replay = Callable[[Mapping[str, Any]], "list[str] | None"]


class DrawReproducible(_StateMonitor):
    """随机抽取可复现: replaying a draw's revealed inputs must give exactly its panel."""

    rule = DRAW_REPRODUCIBLE
    event_types = frozenset({"panel_drawn", "emergency_draw_made"})

    def __init__(self, replay: Replay = reference_replay) -> None:
        self.replay = replay
        super().__init__()

    def on_panel_drawn(self, event: AuditEvent, p: Mapping[str, Any]) -> list[Finding]:
        receipt = p.get("receipt")
        if not isinstance(receipt, Mapping):
            return []
        drawn = _ids(p, "expert_ids", "expert_id")
        replayed = self.replay(receipt)
        if replayed is None:
            detail = "the draw receipt cannot be replayed"
        elif sorted(replayed) != sorted(drawn):
            detail = "the revealed seed does not reproduce the drawn panel"
        else:
            return []
        return [self.finding(event, "draw", str(p.get("draw_id", event.event_id)),
                             committee_id=p.get("committee_id"), field="receipt",
                             meeting_id=p.get("meeting_id"), detail=detail)]

    on_emergency_draw_made = on_panel_drawn


class PlanDeadlineFixed(_StateMonitor):
    """评审计划发布后申报截止时间不得调整 (unless approved)."""

    rule = PLAN_DEADLINE
    event_types = frozenset({"plan_published", "plan_deadline_changed"})

    def initial_state(self) -> dict[str, Any]:
        return {"published": {}}

    def on_plan_published(self, event: AuditEvent, p: Mapping[str, Any]) -> None:
        self.state["published"][str(p["plan_id"])] = p.get("material_deadline")

    def on_plan_deadline_changed(self, event: AuditEvent, p: Mapping[str, Any]) -> list[Finding]:
        plan = str(p["plan_id"])
        if plan not in self.state["published"] or p.get("approval_id"):
            return []
        return [self.finding(event, "plan", plan, committee_id=p.get("committee_id"),
                             field="material_deadline",
                             published_deadline=self.state["published"][plan],
                             detail="deadline changed after publication without approval")]


class MaterialsFrozen(_StateMonitor):
    """材料不再补充: a case's materials changed after it was frozen for the meeting."""

    rule = MATERIALS_FROZEN
    event_types = frozenset({"case_frozen", "materials_changed", "submission_accepted"})

    def initial_state(self) -> dict[str, Any]:
        return {"frozen": {}, "committee": {}}

    def on_submission_accepted(self, event: AuditEvent, p: Mapping[str, Any]) -> None:
        if p.get("committee_id") is not None:
            self.state["committee"][str(p["case_id"])] = p["committee_id"]

    def on_case_frozen(self, event: AuditEvent, p: Mapping[str, Any]) -> None:
        self.state["frozen"][str(p["case_id"])] = _when(p, "frozen_at", event.occurred_at).isoformat()

    def on_materials_changed(self, event: AuditEvent, p: Mapping[str, Any]) -> list[Finding]:
        case_id = str(p["case_id"])
        frozen = self.state["frozen"].get(case_id)
        changed = _when(p, "changed_at", event.occurred_at)
        if frozen is None or changed < parse_instant(frozen):
            return []
        return [self.finding(event, "case", case_id,
                             committee_id=p.get("committee_id") or
                             self.state["committee"].get(case_id),
                             field="materials", frozen_at=frozen, changed_at=changed.isoformat(),
                             detail=f"case {case_id}: materials changed after it was frozen")]


class PoolChangeApproved(_StateMonitor):
    """专家库调整须事先备案同意: a pool change applied without the bureau's prior approval."""

    rule = POOL_CHANGE
    event_types = frozenset({"pool_change_approved", "pool_change_applied"})

    def initial_state(self) -> dict[str, Any]:
        return {"approved": {}}

    def on_pool_change_approved(self, event: AuditEvent, p: Mapping[str, Any]) -> None:
        self.state["approved"][str(p["change_id"])] = p.get("approval_id") or event.event_id

    def on_pool_change_applied(self, event: AuditEvent, p: Mapping[str, Any]) -> list[Finding]:
        change = str(p["change_id"])
        if change in self.state["approved"]:
            return []
        return [self.finding(event, "pool_change", change, committee_id=p.get("committee_id"),
                             field="approval_id",
                             detail="expert pool change took effect without prior approval")]


@dataclass(frozen=True)
class CommitteeScope:
    """A committee's published scope (受理范围) as far as the audit can check it."""

    regions: frozenset[str] = frozenset()
    """Empty: any region."""
    specialties: frozenset[str] = frozenset()
    """Empty: any specialty."""
    employer_kinds: frozenset[str] = frozenset()
    """Only these employer kinds (e.g. ``private_industrial`` for 限民营工业企业); empty: any."""
    excluded_employer_kinds: frozenset[str] = frozenset()
    """E.g. ``self_appointing`` (自主评聘单位除外)."""

    def problems(self, p: Mapping[str, Any]) -> list[str]:
        out = []
        region, specialty, kind = p.get("region"), p.get("specialty"), p.get("employer_kind")
        if self.regions and region is not None and region not in self.regions:
            out.append(f"region {region} outside the committee's scope")
        if self.specialties and specialty is not None and specialty not in self.specialties:
            out.append(f"specialty {specialty} outside the committee's scope")
        if kind is not None and self.employer_kinds and kind not in self.employer_kinds:
            out.append(f"employer kind {kind} not accepted by the committee")
        if kind is not None and kind in self.excluded_employer_kinds:
            out.append(f"employer kind {kind} excluded by the committee")
        return out


class IntakeScope(_StateMonitor):
    """属地受理: a case accepted outside its committee's published scope."""

    rule = INTAKE_SCOPE
    event_types = frozenset({"submission_accepted"})

    def __init__(self, scopes: Callable[[str], CommitteeScope | None]) -> None:
        self.scopes = scopes
        super().__init__()

    def on_submission_accepted(self, event: AuditEvent, p: Mapping[str, Any]) -> list[Finding]:
        committee = p.get("committee_id")
        scope = self.scopes(str(committee)) if committee is not None else None
        if scope is None:
            return []
        problems = scope.problems(p)
        if not problems:
            return []
        return [self.finding(event, "case", str(p["case_id"]), committee_id=committee,
                             field="committee_id", problems=problems,
                             detail="; ".join(problems))]


class ReapplicantAchievements(_StateMonitor):
    """上年度未通过人员须有新增业绩: a re-applicant passed with no new achievement."""

    rule = REAPPLICANT
    event_types = frozenset({"submission_accepted", "result_published"})

    def initial_state(self) -> dict[str, Any]:
        return {"without_new": {}}

    def on_submission_accepted(self, event: AuditEvent, p: Mapping[str, Any]) -> None:
        if p.get("reapplicant") and int(p.get("new_achievement_count") or 0) == 0:
            self.state["without_new"][str(p["case_id"])] = p.get("committee_id")

    def on_result_published(self, event: AuditEvent, p: Mapping[str, Any]) -> list[Finding]:
        if p.get("outcome") != "passed":
            return []
        out = []
        for case_id in _ids(p, "case_ids", "case_id"):
            if case_id in self.state["without_new"]:
                out.append(self.finding(
                    event, "case", case_id,
                    committee_id=p.get("committee_id") or self.state["without_new"][case_id],
                    field="new_achievement_count",
                    detail=f"case {case_id}: re-applicant passed without new achievements"))
        return out


class ExpertDisciplined(_StateMonitor):
    """违反评审纪律的专家: every disciplinary decision becomes a notice to the expert's unit."""

    rule = EXPERT_DISCIPLINED
    event_types = frozenset({"expert_enrolled", "expert_disciplined"})

    def initial_state(self) -> dict[str, Any]:
        return {"employer": {}}

    def on_expert_enrolled(self, event: AuditEvent, p: Mapping[str, Any]) -> None:
        if p.get("employer_id") is not None:
            self.state["employer"][str(p["expert_id"])] = str(p["employer_id"])

    def on_expert_disciplined(self, event: AuditEvent, p: Mapping[str, Any]) -> list[Finding]:
        expert = str(p["expert_id"])
        unit = p.get("employer_id") or self.state["employer"].get(expert)
        return [self.finding(event, "expert", expert, committee_id=p.get("committee_id"),
                             notify_unit=str(unit) if unit is not None else None,
                             field="expert_id", reason=p.get("reason"),
                             detail=f"expert {expert} disciplined; notice to their unit")]


@dataclass
class MonitorSuite:
    """Every monitor, fed each consumed event once."""

    monitors: list[Any] = field(default_factory=list)

    @classmethod
    def standard(cls, *, policy: AuditPolicy | None = None,
                 scopes: Callable[[str], CommitteeScope | None] = lambda _c: None,
                 replay: Replay = reference_replay) -> "MonitorSuite":
        return cls([PublicityBeforeMeeting(), PublicityBeforeResult(), EmergencyDrawCap(policy),
                    EligibleExperts(), DrawReproducible(replay), PlanDeadlineFixed(),
                    MaterialsFrozen(), PoolChangeApproved(), IntakeScope(scopes),
                    ReapplicantAchievements(), ExpertDisciplined()])

    @property
    def event_types(self) -> frozenset[str]:
        return frozenset().union(*(m.event_types for m in self.monitors))

    def observe(self, event: AuditEvent) -> list[Finding]:
        out: list[Finding] = []
        for monitor in self.monitors:
            if event.event_type in monitor.event_types:
                out.extend(monitor.observe(event))
        return out

    def run(self, events: Iterable[AuditEvent]) -> list[Finding]:
        out: list[Finding] = []
        for event in events:
            out.extend(self.observe(event))
        return out

    def snapshot(self) -> dict[str, Any]:
        return {type(m).__name__: m.snapshot() for m in self.monitors}

    def restore(self, state: Mapping[str, Any]) -> None:
        for m in self.monitors:
            if type(m).__name__ in state:
                m.restore(state[type(m).__name__])

    def rules(self) -> list[Rule]:
        return [m.rule for m in self.monitors]
