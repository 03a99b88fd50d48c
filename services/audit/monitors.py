"""Compliance monitors (合规监测): turn the stream of every service's events into violations.

Each monitor has a rule (id + clause of the notice) and watches a few event types. It keeps a small
JSON-serialisable state (``snapshot``/``restore``) so the service can persist it beside the audit
record in one transaction, and returns :class:`Finding`s; each finding becomes a stored violation
and a notice event (通报). Monitors judge by the times carried in payloads (``held_at``,
``ends_at``...), not by arrival order. An event that arrives before the event it depends on (e.g. a
meeting before its publicity, from two services' queues) is judged with what is known then.

Event payload fields the monitors rely on, aligned with the producers' schemas in
shared/events/{intake,review,experts}.py (other fields are ignored; a missing optional field means
"unknown", never a violation by itself). Older test-only shapes (``meeting_held``,
``emergency_draw_made``, ``pool_change_applied``, ``stage``/``ends_at``...) are still read.

===============================  =============================================================
event type (producer)            fields used
===============================  =============================================================
``publicity_started`` (review)   ``case_id``, ``committee_id``, ``phase`` (``pre_review`` 评前公示
                                 | ``post_review`` 评后公示), ``closes_at``
``meeting_scheduled`` (review)   ``meeting_id``, ``committee_id``, ``case_ids``, ``starts_at``
``votes_recorded`` (review)      ``case_id``, ``meeting_id``, ``committee_id``, ``at`` (the
                                 meeting was held)
``materials_frozen`` (review)    ``case_id``, ``committee_id``, ``at`` (on a docket: 不再补充)
``materials_supplemented``       ``case_id``, ``committee_id``, ``at``
``case_opened`` (review)         ``case_id``, ``submission_id``
``case_decided`` (review)        ``case_id``, ``committee_id``, ``outcome``
``result_published`` (review)    ``case_id``, ``committee_id``, ``at``
``applicant_failed`` (review)    ``applicant_key``, ``year``
``submission_accepted`` (intake) ``submission_id``, ``applicant_key``, ``plan_year``,
                                 ``committee_code``, ``title``, ``specialty`` (checked against
                                 the published plan's committee); optional
                                 ``new_achievement_count``, ``region``, ``employer_kind``
``archive_attempt_recorded``     ``applicant_key``, ``year``, ``outcome``
``plan_published`` (intake)      ``year``
``plan_deadline_changed``        ``year``, ``committee_code``, ``plan_state``, ``approval``
``expert_registered`` (experts)  ``expert_id``, ``employer``, ``term_end``, ``via``,
                                 ``committee_ids``
``expert_term_expired``          ``expert_id``, ``term_end``
``expert_disciplined``           ``expert_id``, ``unit`` (to notify), ``misconduct``,
                                 ``sanction`` (``suspend`` | ``remove``)
``pool_change_approved``         ``request_id``, ``expert_id``
``panel_requested`` (review)     ``meeting_id``, ``applicants`` (``employer``),
                                 ``declared_conflicts`` (expert id -> applicant refs)
``draw_committed`` (experts)     ``round_id``, ``commitment_digest``, ``panel_size``,
                                 ``committee_id``
``draw_party_committed``         ``round_id``, ``party``, ``party_commitment``
``panel_drawn`` /                ``round_id``, ``meeting_id``, ``panel_size``, ``panel_digest``;
``emergency_panel_drawn``        emergency: ``approval_id``, ``seats``
``emergency_draw_approved``      ``approval_id``, ``meeting_id``, ``seats``
``draw_seed_revealed``           ``round_id``, ``meeting_id``, ``commitment_digest``, ``seed``,
                                 ``secrets``, ``beacon_value``, ``panel``, ``reserves``,
                                 ``revealed_at``
``*_refused`` (intake, review,   ``rules`` (every rule id that refused), ``refused_at``,
experts: shared/refusals.py)     ``attempted_by``: an official's refused attempt is reportable
                                 (``plan_deadline_change_refused``: ``year``,
                                 ``committee_code``; ``meeting_scheduling_refused``:
                                 ``committee_id``, ``case_ids``, ``starts_at``;
                                 ``materials_supplement_refused``: ``case_id``,
                                 ``committee_id``; ``emergency_draw_refused``: ``meeting_id``,
                                 ``stage``, ``seats``)
===============================  =============================================================

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
from shared.errors import ZhichengError
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


def _when(payload: Mapping[str, Any], name: str, default: datetime,
          *fallbacks: str) -> datetime:
    """The instant in the first of ``name``, ``*fallbacks`` the payload has (else ``default``)."""
    for key in (name, *fallbacks):
        value = payload.get(key)
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


def _refused_by(p: Mapping[str, Any], *rule_ids: str) -> list[str]:
    """The rules of a ``*_refused`` event among ``rule_ids`` (empty: not this monitor's)."""
    rules = p.get("rules") or []
    return [r for r in rule_ids if r in rules]


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


def _publicity_end(event: AuditEvent, p: Mapping[str, Any], stage: str) -> str | None:
    """When a publicity of ``stage`` closes, from review's ``phase``/``closes_at`` (or
    ``stage``/``ends_at``)."""
    if (p.get("phase") or p.get("stage")) != stage:
        return None
    if not (p.get("closes_at") or p.get("ends_at")):
        return None
    return _when(p, "closes_at", event.occurred_at, "ends_at").isoformat()


class PublicityBeforeMeeting(_StateMonitor):
    """评前公示: a case reviewed at a meeting before (or without) its pre-review publicity ended.

    A meeting scheduled to start before a docketed case's publicity closes is flagged when it is
    scheduled; a vote on a case (the meeting was held) before the close, or with no pre-review
    publicity at all, when the vote is recorded. Each case and meeting is flagged once.
    """

    rule = PRE_REVIEW_PUBLICITY
    event_types = frozenset({"publicity_started", "meeting_scheduled", "votes_recorded",
                             "meeting_held", "meeting_scheduling_refused"})

    def initial_state(self) -> dict[str, Any]:
        return {"ends": {}, "flagged": {}}

    def on_publicity_started(self, event: AuditEvent, p: Mapping[str, Any]) -> None:
        ends = _publicity_end(event, p, "pre_review")
        if ends is None:
            return
        for case_id in _ids(p, "case_ids", "case_id"):
            self.state["ends"][case_id] = ends

    def _check(self, event: AuditEvent, p: Mapping[str, Any], cases: list[str],
               held: datetime, *, missing_is_violation: bool) -> list[Finding]:
        out = []
        meeting = str(p.get("meeting_id"))
        for case_id in cases:
            flag_key = f"{case_id}|{meeting}"
            if flag_key in self.state["flagged"]:
                continue
            ends = self.state["ends"].get(case_id)
            if ends is None:
                if not missing_is_violation:
                    continue
                detail = f"case {case_id} had no pre-review publicity"
            elif parse_instant(ends) > held:
                detail = f"case {case_id}: meeting before its pre-review publicity ended"
            else:
                continue
            self.state["flagged"][flag_key] = event.event_id
            out.append(self.finding(event, "case", case_id, committee_id=p.get("committee_id"),
                                    detail=detail, field="held_at", meeting_id=p.get("meeting_id"),
                                    publicity_ends_at=ends, held_at=held.isoformat()))
        return out

    def on_meeting_scheduled(self, event: AuditEvent, p: Mapping[str, Any]) -> list[Finding]:
        starts = _when(p, "starts_at", event.occurred_at)
        return self._check(event, p, _ids(p, "case_ids", "case_id"), starts,
                           missing_is_violation=False)

    def on_votes_recorded(self, event: AuditEvent, p: Mapping[str, Any]) -> list[Finding]:
        return self._check(event, p, _ids(p, "case_ids", "case_id"),
                           _when(p, "at", event.occurred_at), missing_is_violation=True)

    def on_meeting_scheduling_refused(self, event: AuditEvent,
                                      p: Mapping[str, Any]) -> list[Finding]:
        """An office tried to schedule a meeting before the notice ended (review refused it)."""
        if not _refused_by(p, "REVIEW-MEETING-AFTER-PUBLICITY"):
            return []
        cases = _ids(p, "case_ids", "case_id")
        return [self.finding(event, "case", cases[0] if len(cases) == 1 else "meeting-attempt",
                             committee_id=p.get("committee_id"), field="starts_at",
                             attempted_by=p.get("attempted_by"), case_ids=cases,
                             starts_at=p.get("starts_at"),
                             detail="attempt to schedule a meeting before the pre-review "
                                    "publicity of its cases ended (refused)")]

    def on_meeting_held(self, event: AuditEvent, p: Mapping[str, Any]) -> list[Finding]:
        return self._check(event, p, _ids(p, "case_ids", "case_id"),
                           _when(p, "held_at", event.occurred_at, "at"),
                           missing_is_violation=True)


class PublicityBeforeResult(_StateMonitor):
    """评后公示: a result published while (or without) its post-review publicity."""

    rule = POST_REVIEW_PUBLICITY
    event_types = frozenset({"publicity_started", "result_published"})

    def initial_state(self) -> dict[str, Any]:
        return {"ends": {}}

    def on_publicity_started(self, event: AuditEvent, p: Mapping[str, Any]) -> None:
        ends = _publicity_end(event, p, "post_review")
        if ends is None:
            return
        for case_id in _ids(p, "case_ids", "case_id"):
            self.state["ends"][case_id] = ends

    def on_result_published(self, event: AuditEvent, p: Mapping[str, Any]) -> list[Finding]:
        published = _when(p, "published_at", event.occurred_at, "at")
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
    """应急抽取: each emergency draw needs the bureau's approval (for at least its seats); all of
    a meeting's emergency seats together stay within 30% of its panel."""

    rule = EMERGENCY_DRAW
    event_types = frozenset({"panel_drawn", "draw_committed", "emergency_draw_approved",
                             "emergency_panel_drawn", "emergency_draw_made",
                             "emergency_draw_refused"})

    def __init__(self, policy: AuditPolicy | None = None) -> None:
        self.policy = policy or AuditPolicy()
        super().__init__()

    def initial_state(self) -> dict[str, Any]:
        return {"panel_size": {}, "emergency": {}, "approvals": {}}

    def on_draw_committed(self, event: AuditEvent, p: Mapping[str, Any]) -> None:
        """An emergency round states the meeting's panel size (its own ``panel_size`` is the
        seats it fills)."""
        terms = p.get("emergency")
        if isinstance(terms, Mapping) and terms.get("meeting_panel_size"):
            self.state["panel_size"].setdefault(str(p.get("meeting_id")),
                                                int(terms["meeting_panel_size"]))

    def on_panel_drawn(self, event: AuditEvent, p: Mapping[str, Any]) -> None:
        if p.get("meeting_id") is not None and p.get("panel_size"):
            self.state["panel_size"][str(p["meeting_id"])] = int(p["panel_size"])

    def on_emergency_draw_approved(self, event: AuditEvent, p: Mapping[str, Any]) -> None:
        self.state["approvals"][str(p["approval_id"])] = {
            "meeting_id": str(p.get("meeting_id")), "seats": int(p.get("seats") or 0)}

    def on_emergency_panel_drawn(self, event: AuditEvent, p: Mapping[str, Any]) -> list[Finding]:
        approval = self.state["approvals"].get(str(p.get("approval_id")))
        approved = approval is not None and approval["meeting_id"] == str(p.get("meeting_id"))
        seats = int(p.get("seats") or 0)
        return self._judge(event, p, seats, approved,
                           over_approval=approved and seats > approval["seats"])

    def on_emergency_draw_refused(self, event: AuditEvent,
                                  p: Mapping[str, Any]) -> list[Finding]:
        """An emergency draw (or its approval) beyond the cap or without approval was tried
        (experts refused it)."""
        rules = _refused_by(p, "EXPERTS-EMERGENCY-CAP", "EXPERTS-EMERGENCY-APPROVAL")
        if not rules:
            return []
        meeting = str(p.get("meeting_id"))
        return [self.finding(event, "meeting", meeting, committee_id=p.get("committee_id"),
                             field="seats", meeting_id=meeting, refused_by=rules,
                             attempted_by=p.get("attempted_by"), seats=p.get("seats"),
                             detail=f"attempt at an emergency {p.get('stage') or 'draw'} "
                                    f"({', '.join(rules)}) (refused)")]

    def on_emergency_draw_made(self, event: AuditEvent, p: Mapping[str, Any]) -> list[Finding]:
        seats = len(_ids(p, "expert_ids", "expert_id"))
        return self._judge(event, p, seats, bool(p.get("approval_id")), over_approval=False)

    def _judge(self, event: AuditEvent, p: Mapping[str, Any], seats: int, approved: bool, *,
               over_approval: bool) -> list[Finding]:
        meeting = str(p.get("meeting_id"))
        draw = str(p.get("panel_id") or p.get("round_id") or p.get("draw_id") or event.event_id)
        size = int(self.state["panel_size"].get(meeting) or p.get("panel_size") or 0)
        total = self.state["emergency"].get(meeting, 0) + seats
        self.state["emergency"][meeting] = total
        out = []
        if not approved:
            out.append(self.finding(event, "draw", draw, committee_id=p.get("committee_id"),
                                    field="approval_id", meeting_id=meeting,
                                    detail="emergency draw without the bureau's approval"))
        elif over_approval:
            out.append(self.finding(event, "draw", draw, committee_id=p.get("committee_id"),
                                    field="seats", meeting_id=meeting,
                                    detail="emergency draw filled more seats than approved"))
        cap = self.policy.emergency_draw_cap
        if size <= 0 or Fraction(total, size) > cap:
            out.append(self.finding(event, "draw", draw, committee_id=p.get("committee_id"),
                                    field="seats", meeting_id=meeting,
                                    emergency_experts=total, panel_size=size,
                                    detail=f"{total} emergency seat(s) on a panel of {size} "
                                           f"exceeds {float(cap):.0%}"))
        return out


class EligibleExperts(_StateMonitor):
    """回避/任期/暂停: a panel drawn with an expired, suspended or conflicting expert."""

    rule = ELIGIBLE_EXPERT
    event_types = frozenset({"expert_enrolled", "expert_registered", "expert_term_renewed",
                             "expert_term_expired", "expert_suspended", "expert_reinstated",
                             "expert_disciplined", "conflict_declared", "submission_accepted",
                             "meeting_scheduled", "panel_requested", "panel_drawn",
                             "emergency_draw_made", "draw_seed_revealed"})

    def initial_state(self) -> dict[str, Any]:
        return {"experts": {}, "case_employer": {}, "conflicts": {}, "meeting_cases": {},
                "meeting_employers": {}, "meeting_conflicts": {}}

    # experts service's events (expert_registered ... draw_seed_revealed)
    def on_expert_registered(self, event: AuditEvent, p: Mapping[str, Any]) -> None:
        e = self._expert(str(p["expert_id"]))
        e.update({"employer_id": p.get("employer"), "term_ends_on": p.get("term_end"),
                  "suspended": False})

    def on_expert_term_expired(self, event: AuditEvent, p: Mapping[str, Any]) -> None:
        e = self._expert(str(p["expert_id"]))
        e["term_ends_on"] = p.get("term_end") or p.get("expired_on")
        e["expired"] = True

    def on_expert_disciplined(self, event: AuditEvent, p: Mapping[str, Any]) -> None:
        e = self._expert(str(p["expert_id"]))
        e["suspended"] = True
        e["suspended_until"] = None
        if p.get("sanction") == "remove":
            e["removed"] = True

    def on_panel_requested(self, event: AuditEvent, p: Mapping[str, Any]) -> None:
        meeting = str(p.get("meeting_id"))
        employers = sorted({str(a.get("employer")) for a in p.get("applicants") or []
                            if isinstance(a, Mapping) and a.get("employer")})
        self.state["meeting_employers"][meeting] = employers
        self.state["meeting_conflicts"][meeting] = sorted(
            str(k) for k, v in (p.get("declared_conflicts") or {}).items() if v)

    def on_draw_seed_revealed(self, event: AuditEvent, p: Mapping[str, Any]) -> list[Finding]:
        """The sealed panel is revealed when the meeting starts: judge its members then."""
        on = _when(p, "revealed_at", event.occurred_at).date()
        meeting = str(p.get("meeting_id"))
        employers = set(self.state["meeting_employers"].get(meeting, []))
        declared = set(self.state["meeting_conflicts"].get(meeting, []))
        out = []
        for expert_id in _ids(p, "panel", "expert_id"):
            reasons = self._reasons(expert_id, on, [])
            e = self.state["experts"].get(expert_id) or {}
            if e.get("employer_id") is not None and str(e["employer_id"]) in employers:
                reasons.append("same employer as an applicant on the docket")
            if expert_id in declared:
                reasons.append("declared conflict with an applicant on the docket")
            if reasons:
                out.append(self.finding(event, "expert", expert_id, committee_id=p.get(
                    "committee_id"), field="panel", round_id=p.get("round_id"),
                    meeting_id=p.get("meeting_id"), reasons=reasons,
                    detail=f"expert {expert_id} on the panel although " + ", ".join(reasons)))
        return out

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
        if (term_end is not None and term_end < on) or (e.get("expired") and term_end is None):
            reasons.append("term expired")
        if e.get("removed"):
            reasons.append("removed from the pool")
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


class DrawTools(Protocol):
    """The experts service's draw hashing (services/experts/draw.py), used to replay a reveal."""

    def party_commitment(self, round_digest: str, party: str, secret_hex: str) -> str: ...

    def derive_seed(self, round_digest: str, reveals: Mapping[str, str],
                    beacon_value: str | None) -> bytes: ...

    def panel_digest(self, panel: Sequence[str], reserves: Sequence[str]) -> str: ...


def experts_draw_tools() -> DrawTools | None:
    try:
        from services.experts import draw  # the experts service's own definitions
    except ImportError:
        return None
    if not all(hasattr(draw, n) for n in ("party_commitment", "derive_seed", "panel_digest")):
        return None
    return draw  # type: ignore[return-value]


class DrawReproducible(_StateMonitor):
    """随机抽取可复现: a revealed draw must reproduce what was committed and sealed.

    For the experts service's rounds (``draw_committed`` → ``draw_party_committed`` →
    ``panel_drawn`` → ``draw_seed_revealed``): every committed party revealed a secret matching
    its commitment (at least two parties), the seed follows from the round digest, the secrets and
    the beacon, the revealed panel and reserves give the digest published while sealed, and the
    panel has the committed size. The eligible list itself travels only as a hash, so the
    selection is replayed with the draw receipt (``zhicheng draw verify``), not here. A legacy
    ``receipt`` in ``panel_drawn`` is replayed with the injected ``replay``.
    """

    rule = DRAW_REPRODUCIBLE
    event_types = frozenset({"draw_committed", "draw_party_committed", "panel_drawn",
                             "emergency_panel_drawn", "draw_seed_revealed",
                             "emergency_draw_made"})

    def __init__(self, replay: Replay = reference_replay,
                 tools: DrawTools | None | str = "experts") -> None:
        self.replay = replay
        self.tools = experts_draw_tools() if tools == "experts" else tools
        super().__init__()

    def initial_state(self) -> dict[str, Any]:
        return {"rounds": {}}

    def _round(self, round_id: Any) -> dict[str, Any]:
        return self.state["rounds"].setdefault(str(round_id), {"commitments": {}})

    def on_draw_committed(self, event: AuditEvent, p: Mapping[str, Any]) -> None:
        r = self._round(p["round_id"])
        r.update({"digest": p.get("commitment_digest"), "panel_size": p.get("panel_size"),
                  "reserves": p.get("reserves"), "parties": list(p.get("parties") or []),
                  "committee_id": p.get("committee_id")})

    def on_draw_party_committed(self, event: AuditEvent, p: Mapping[str, Any]) -> None:
        self._round(p["round_id"])["commitments"][str(p["party"])] = p.get("party_commitment")

    def on_panel_drawn(self, event: AuditEvent, p: Mapping[str, Any]) -> list[Finding]:
        if p.get("round_id") is not None and p.get("panel_digest"):
            self._round(p["round_id"])["panel_digest"] = p["panel_digest"]
        return self._legacy_receipt(event, p)

    def on_emergency_panel_drawn(self, event: AuditEvent, p: Mapping[str, Any]) -> None:
        if p.get("round_id") is not None and p.get("panel_digest"):
            self._round(p["round_id"])["panel_digest"] = p["panel_digest"]

    def on_draw_seed_revealed(self, event: AuditEvent, p: Mapping[str, Any]) -> list[Finding]:
        r = self._round(p["round_id"])
        digest = p.get("commitment_digest") or r.get("digest")
        secrets = {str(k): str(v) for k, v in (p.get("secrets") or {}).items()}
        panel = [str(x) for x in p.get("panel") or []]
        reserves = [str(x) for x in p.get("reserves") or []]
        problems = []
        if r.get("digest") and p.get("commitment_digest") and \
                r["digest"] != p["commitment_digest"]:
            problems.append("the reveal names another commitment than the round's")
        if len(r["commitments"]) < 2 and len(secrets) < 2:
            problems.append("fewer than two parties contributed to the seed")
        missing = sorted(set(r["commitments"]) - set(secrets))
        if missing:
            problems.append(f"committed parties did not reveal: {', '.join(missing)}")
        if r.get("panel_size") is not None and len(panel) != int(r["panel_size"]):
            problems.append("the revealed panel does not have the committed size")
        tools = self.tools
        if tools is not None and digest:
            try:
                for party, secret in secrets.items():
                    committed = r["commitments"].get(party)
                    if committed is not None and \
                            tools.party_commitment(digest, party, secret) != committed:
                        problems.append(f"party {party}'s secret does not match its commitment")
                seed = tools.derive_seed(digest, secrets, p.get("beacon_value"))
                if seed.hex() != str(p.get("seed")):
                    problems.append("the revealed seed does not follow from the secrets")
                if r.get("panel_digest") and \
                        tools.panel_digest(panel, reserves) != r["panel_digest"]:
                    problems.append("the revealed panel is not the one sealed at the draw")
            except (ValueError, TypeError):
                problems.append("the reveal cannot be replayed")
        if not problems:
            return []
        return [self.finding(event, "draw", str(p["round_id"]),
                             committee_id=p.get("committee_id") or r.get("committee_id"),
                             field="seed", meeting_id=p.get("meeting_id"), problems=problems,
                             detail="; ".join(problems))]

    def _legacy_receipt(self, event: AuditEvent, p: Mapping[str, Any]) -> list[Finding]:
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

    def on_emergency_draw_made(self, event: AuditEvent, p: Mapping[str, Any]) -> list[Finding]:
        return self._legacy_receipt(event, p)


class PlanDeadlineFixed(_StateMonitor):
    """评审计划发布后申报截止时间不得调整 (unless a special approval is recorded)."""

    rule = PLAN_DEADLINE
    event_types = frozenset({"plan_published", "plan_deadline_changed",
                             "plan_deadline_change_refused"})

    def initial_state(self) -> dict[str, Any]:
        return {"published": {}}

    def on_plan_published(self, event: AuditEvent, p: Mapping[str, Any]) -> None:
        if p.get("plan_id") is not None:
            self.state["published"][str(p["plan_id"])] = p.get("material_deadline")
        if p.get("year") is not None:  # intake publishes a year's plan for many committees
            self.state["published"][f"year:{p['year']}"] = p.get("published_at")

    def on_plan_deadline_change_refused(self, event: AuditEvent,
                                        p: Mapping[str, Any]) -> list[Finding]:
        """The bureau tried to move a published deadline without approval (intake refused)."""
        if not _refused_by(p, "INTAKE-PLAN-DEADLINE-FROZEN"):
            return []
        committee = p.get("committee_id") or p.get("committee_code")
        return [self.finding(event, "plan", f"{p.get('year')}/{committee}",
                             committee_id=committee, field="material_deadline",
                             new_deadline=p.get("new_deadline"),
                             attempted_by=p.get("attempted_by"),
                             detail="attempt to change the deadline after publication without "
                                    "approval (refused)")]

    def on_plan_deadline_changed(self, event: AuditEvent, p: Mapping[str, Any]) -> list[Finding]:
        plan = str(p.get("plan_id") or f"year:{p.get('year')}")
        published = plan in self.state["published"] or p.get("plan_state") == "published"
        approved = bool(p.get("approval_id") or p.get("approval"))
        if not published or approved:
            return []
        committee = p.get("committee_id") or p.get("committee_code")
        subject = plan if p.get("plan_id") else f"{p.get('year')}/{committee}"
        return [self.finding(event, "plan", subject, committee_id=committee,
                             field="material_deadline", old_deadline=p.get("old_deadline"),
                             new_deadline=p.get("new_deadline"),
                             detail="deadline changed after publication without approval")]


class MaterialsFrozen(_StateMonitor):
    """材料不再补充: a case's materials changed after it was frozen for the meeting."""

    rule = MATERIALS_FROZEN
    event_types = frozenset({"case_frozen", "materials_frozen", "materials_changed",
                             "materials_supplemented", "submission_accepted",
                             "materials_supplement_refused"})

    def initial_state(self) -> dict[str, Any]:
        return {"frozen": {}, "committee": {}}

    def on_submission_accepted(self, event: AuditEvent, p: Mapping[str, Any]) -> None:
        committee = p.get("committee_id") or p.get("committee_code")
        if committee is not None and p.get("case_id") is not None:
            self.state["committee"][str(p["case_id"])] = committee

    def on_case_frozen(self, event: AuditEvent, p: Mapping[str, Any]) -> None:
        self.state["frozen"][str(p["case_id"])] = _when(p, "frozen_at", event.occurred_at,
                                                        "at").isoformat()
        if p.get("committee_id") is not None:
            self.state["committee"][str(p["case_id"])] = p["committee_id"]

    on_materials_frozen = on_case_frozen

    def on_materials_changed(self, event: AuditEvent, p: Mapping[str, Any]) -> list[Finding]:
        case_id = str(p["case_id"])
        frozen = self.state["frozen"].get(case_id)
        changed = _when(p, "changed_at", event.occurred_at, "at")
        if frozen is None or changed < parse_instant(frozen):
            return []
        return [self.finding(event, "case", case_id,
                             committee_id=p.get("committee_id") or
                             self.state["committee"].get(case_id),
                             field="materials", frozen_at=frozen, changed_at=changed.isoformat(),
                             detail=f"case {case_id}: materials changed after it was frozen")]

    on_materials_supplemented = on_materials_changed

    def on_materials_supplement_refused(self, event: AuditEvent,
                                        p: Mapping[str, Any]) -> list[Finding]:
        """An office tried to change a frozen case's materials (review refused it)."""
        if not _refused_by(p, "REVIEW-MATERIALS-FROZEN"):
            return []
        case_id = str(p["case_id"])
        return [self.finding(event, "case", case_id,
                             committee_id=p.get("committee_id") or
                             self.state["committee"].get(case_id),
                             field="materials", attempted_by=p.get("attempted_by"),
                             frozen_at=self.state["frozen"].get(case_id),
                             detail=f"case {case_id}: attempt to change materials after it was "
                                    f"frozen (refused)")]


class PoolChangeApproved(_StateMonitor):
    """专家库调整须事先备案同意: a pool change took effect without the bureau's prior approval.

    Legacy ``pool_change_applied`` carries its ``change_id``; with the experts service an expert
    registered ``via`` a change request must have an approved request for that expert.
    """

    rule = POOL_CHANGE
    event_types = frozenset({"pool_change_approved", "pool_change_applied",
                             "expert_registered"})

    def initial_state(self) -> dict[str, Any]:
        return {"approved": {}, "approved_experts": {}}

    def on_pool_change_approved(self, event: AuditEvent, p: Mapping[str, Any]) -> None:
        change = p.get("change_id") or p.get("request_id")
        if change is not None:
            self.state["approved"][str(change)] = p.get("approval_id") or event.event_id
        if p.get("expert_id") is not None:
            self.state["approved_experts"][str(p["expert_id"])] = str(change)

    def on_pool_change_applied(self, event: AuditEvent, p: Mapping[str, Any]) -> list[Finding]:
        change = str(p["change_id"])
        if change in self.state["approved"]:
            return []
        return [self.finding(event, "pool_change", change, committee_id=p.get("committee_id"),
                             field="approval_id",
                             detail="expert pool change took effect without prior approval")]

    def on_expert_registered(self, event: AuditEvent, p: Mapping[str, Any]) -> list[Finding]:
        if p.get("via") != "change_request":
            return []
        expert = str(p["expert_id"])
        if expert in self.state["approved_experts"]:
            return []
        committees = p.get("committee_ids") or []
        return [self.finding(event, "expert", expert,
                             committee_id=str(committees[0]) if committees else None,
                             field="via", detail=f"expert {expert} entered the pool by a change "
                                                 f"request that was never approved")]


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
    titles: frozenset[str] = frozenset()
    """Titles the committee reviews or recommends (评审（推荐）职务任职资格); empty: any."""

    def problems(self, p: Mapping[str, Any]) -> list[str]:
        out = []
        title = p.get("title")
        if self.titles and title is not None and title not in self.titles:
            out.append(f"title {title} is not one the committee reviews")
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


Scopes = Callable[[str, "int | None"], "CommitteeScope | None"]
"""``scopes(committee, plan_year)``: the committee's published scope that year, or None."""


def plan_scopes(committee: str, year: int | None) -> CommitteeScope | None:
    """Scopes from the published review plan (评审计划) as intake holds it (services/intake/
    plans/<year>.yaml): the committee's titles and, unless its specialty list is open-ended
    (等 / 相关专业), its specialties. None when that year's plan or committee is unknown."""
    if year is None:
        return None
    plan = _plan(year)
    found = plan.committee(committee) if plan is not None else None
    if found is None:
        return None
    return CommitteeScope(
        titles=frozenset(t.name for t in found.titles),
        specialties=frozenset() if found.specialties_open else frozenset(found.specialties))


_PLANS: dict[int, Any] = {}


def _plan(year: int) -> Any:
    if year not in _PLANS:
        try:
            from services.intake.plan import load_plan_year  # the published plan, as data
            _PLANS[year] = load_plan_year(year)
        except (ImportError, OSError, ValueError, ZhichengError):  # no plan for that year
            _PLANS[year] = None
    return _PLANS[year]


class IntakeScope(_StateMonitor):
    """属地受理: a case accepted outside its committee's published scope."""

    rule = INTAKE_SCOPE
    event_types = frozenset({"submission_accepted"})

    def __init__(self, scopes: "Scopes") -> None:
        self.scopes = scopes
        super().__init__()

    def on_submission_accepted(self, event: AuditEvent, p: Mapping[str, Any]) -> list[Finding]:
        committee = p.get("committee_id") or p.get("committee_code")
        year = p.get("plan_year")
        scope = self.scopes(str(committee), int(year) if year is not None else None) \
            if committee is not None else None
        if scope is None:
            return []
        problems = scope.problems(p)
        if not problems:
            return []
        case = p.get("case_id") or p.get("submission_id")
        return [self.finding(event, "case", str(case), committee_id=committee,
                             field="committee_id", problems=problems,
                             detail="; ".join(problems))]


class ReapplicantAchievements(_StateMonitor):
    """上年度未通过人员须有新增业绩: a re-applicant passed with no new achievement.

    An applicant is a re-applicant when a failure of the previous year was recorded for their
    ``applicant_key`` (review's ``applicant_failed`` or intake's ``archive_attempt_recorded``), or
    when the acceptance says ``reapplicant``. The count of new achievements is read from the
    acceptance (``new_achievement_count``); when intake does not state it, nothing is assumed.
    The pass is judged when the result is published (an unpublished decision never shows in a
    notice).
    """

    rule = REAPPLICANT
    event_types = frozenset({"applicant_failed", "archive_attempt_recorded",
                             "submission_accepted", "case_opened", "case_decided",
                             "result_published"})

    def initial_state(self) -> dict[str, Any]:
        return {"failed": {}, "without_new": {}, "case_of": {}, "flagged": {}, "outcome": {}}

    def on_applicant_failed(self, event: AuditEvent, p: Mapping[str, Any]) -> None:
        if p.get("applicant_key") and p.get("year") is not None:
            years = self.state["failed"].setdefault(str(p["applicant_key"]), [])
            if int(p["year"]) not in years:
                years.append(int(p["year"]))

    def on_archive_attempt_recorded(self, event: AuditEvent, p: Mapping[str, Any]) -> None:
        if p.get("outcome") == "failed":
            self.on_applicant_failed(event, p)

    def on_submission_accepted(self, event: AuditEvent, p: Mapping[str, Any]) -> None:
        ref = str(p.get("case_id") or p.get("submission_id"))
        year = p.get("plan_year")
        reapplicant = bool(p.get("reapplicant")) or (
            year is not None and int(year) - 1 in self.state["failed"].get(
                str(p.get("applicant_key")), []))
        count = p.get("new_achievement_count")
        if reapplicant and count is not None and int(count) == 0:
            self.state["without_new"][ref] = p.get("committee_id") or p.get("committee_code")

    def on_case_opened(self, event: AuditEvent, p: Mapping[str, Any]) -> None:
        if p.get("case_id") is not None and p.get("submission_id") is not None:
            self.state["case_of"][str(p["case_id"])] = str(p["submission_id"])

    def _passed(self, event: AuditEvent, p: Mapping[str, Any]) -> list[Finding]:
        out = []
        for case_id in _ids(p, "case_ids", "case_id"):
            ref = case_id if case_id in self.state["without_new"] else \
                self.state["case_of"].get(case_id)
            if ref is None or ref not in self.state["without_new"] or \
                    case_id in self.state["flagged"]:
                continue
            self.state["flagged"][case_id] = event.event_id
            out.append(self.finding(
                event, "case", case_id,
                committee_id=p.get("committee_id") or self.state["without_new"][ref],
                field="new_achievement_count",
                detail=f"case {case_id}: re-applicant passed without new achievements"))
        return out

    def on_case_decided(self, event: AuditEvent, p: Mapping[str, Any]) -> None:
        """A decision is not public until its result is published: nothing is flagged (and
        no notice reveals it) before ``result_published``."""
        if p.get("outcome") is not None and p.get("case_id") is not None:
            self.state.setdefault("outcome", {})[str(p["case_id"])] = p["outcome"]

    def on_result_published(self, event: AuditEvent, p: Mapping[str, Any]) -> list[Finding]:
        decided = self.state.get("outcome", {}).get(str(p.get("case_id")))
        if p.get("outcome", decided or "passed") != "passed":
            return []
        return self._passed(event, p)


class ExpertDisciplined(_StateMonitor):
    """违反评审纪律的专家: every disciplinary decision becomes a notice to the expert's unit."""

    rule = EXPERT_DISCIPLINED
    event_types = frozenset({"expert_enrolled", "expert_registered", "expert_disciplined"})

    def initial_state(self) -> dict[str, Any]:
        return {"employer": {}}

    def on_expert_enrolled(self, event: AuditEvent, p: Mapping[str, Any]) -> None:
        if p.get("employer_id") is not None:
            self.state["employer"][str(p["expert_id"])] = str(p["employer_id"])

    def on_expert_registered(self, event: AuditEvent, p: Mapping[str, Any]) -> None:
        if p.get("employer") is not None:
            self.state["employer"][str(p["expert_id"])] = str(p["employer"])

    def on_expert_disciplined(self, event: AuditEvent, p: Mapping[str, Any]) -> list[Finding]:
        expert = str(p["expert_id"])
        unit = p.get("unit") or p.get("employer_id") or self.state["employer"].get(expert)
        return [self.finding(event, "expert", expert, committee_id=p.get("committee_id"),
                             notify_unit=str(unit) if unit is not None else None,
                             field="expert_id", reason=p.get("reason") or p.get("misconduct"),
                             sanction=p.get("sanction"), meeting_id=p.get("meeting_id"),
                             detail=f"expert {expert} disciplined; notice to their unit")]


@dataclass
class MonitorSuite:
    """Every monitor, fed each consumed event once."""

    monitors: list[Any] = field(default_factory=list)

    @classmethod
    def standard(cls, *, policy: AuditPolicy | None = None,
                 scopes: "Scopes" = lambda _c, _y: None,
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
