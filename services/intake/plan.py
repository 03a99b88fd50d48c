"""The yearly review plan (评审计划): committees, what they review, where and until when.

A plan is loaded from a data file (``services/intake/plans/<year>.yaml``, or any file of the same
shape for another year). It starts as a draft and is published once; after publication the
personal application deadline of a committee (个人申报截止时间) is frozen — 三(二) "评审计划发布后，
个人申报截止时间无特殊情况不允许调整" — and may only move with a recorded special approval.

Pure domain: no framework imports. Every state change returns an event-like record the service
turns into an outbox event.
"""
from __future__ import annotations

import calendar
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, Iterable, Mapping

import yaml

from shared.clock import CHINA, ensure_aware
from shared.errors import Conflict, NotFound, RuleRefused
from shared.rules import NOTICE, RuleViolation, define_rule

PLANS_DIR = Path(__file__).parent / "plans"

CATEGORIES = ("main", "delegated", "socialized")
CATEGORY_PREFIX = {"main": "R", "delegated": "D", "socialized": "S"}

#: 评审（推荐）范围 codes and the printed scope they stand for.
SCOPE_CODES = {
    "shaoxing_city": "全市",
    "shangyu_district": "上虞区",
    "hangzhou_bay_shangyu_zone": "杭州湾上虞经济开发区",
    "shanghai_based_construction_firms": "驻沪建筑施工企业",
    "survey_design_firms": "全市勘察设计企业",
}

#: 备注 restriction codes understood by the intake rules.
RESTRICTION_CODES = {
    "excludes_self_appraisal_units": "自主评聘单位除外",
    "excludes_socialized_and_private_self_evaluation_units": "社会化评价、民营企业自主评价除外",
    "private_industrial_enterprises_only": "限民营工业企业申报",
    "exam_only": "专业中级为考试取得",
    "senior_requires_intermediate_recommendation": "除建筑施工专业外均需中评委评审推荐",
}

DRAFT = "draft"
PUBLISHED = "published"

PLAN_DEADLINE_FROZEN = define_rule(
    "INTAKE-PLAN-DEADLINE-FROZEN", "三(二)",
    "Once the review plan is published, a committee's personal application deadline may change "
    "only with a recorded special approval (who approved, why, when)",
    "评审计划发布后，个人申报截止时间无特殊情况不允许调整", NOTICE)
PLAN_YEAR_END = define_rule(
    "INTAKE-PLAN-YEAR-END", "一",
    "Reviews and recommendations of the plan year must be finished by the end of that year",
    "评审和推荐工作须在年底前完成", NOTICE)


def end_of_month(year: int, month: int) -> date:
    return date(year, month, calendar.monthrange(year, month)[1])


def deadline_instant(last_day: date) -> datetime:
    """The first instant after the last day a material may arrive (midnight China time)."""
    return datetime(last_day.year, last_day.month, last_day.day, tzinfo=CHINA) + timedelta(days=1)


@dataclass(frozen=True)
class Title:
    """A title the committee reviews, or only recommends upward (（推荐）)."""

    name: str
    recommend_only: bool = False
    printed_as: str | None = None
    level_only: bool = False

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "recommend_only": self.recommend_only}
        if self.printed_as:
            out["printed_as"] = self.printed_as
        if self.level_only:
            out["level_only"] = True
        return out


@dataclass(frozen=True)
class Scope:
    """评审（推荐）范围."""

    code: str
    text: str

    def as_dict(self) -> dict[str, str]:
        return {"code": self.code, "text": self.text}


@dataclass(frozen=True)
class Contact:
    """材料接收单位及咨询电话."""

    unit: str
    phones: tuple[str, ...]

    def as_dict(self) -> dict[str, Any]:
        return {"unit": self.unit, "phones": list(self.phones)}


@dataclass(frozen=True)
class Restriction:
    code: str
    params: Mapping[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"code": self.code, **{k: v for k, v in self.params.items()}}


@dataclass(frozen=True)
class Notes:
    """备注: the printed text and its structured restrictions."""

    text: str
    restrictions: tuple[Restriction, ...] = ()

    def codes(self) -> set[str]:
        return {r.code for r in self.restrictions}

    def as_dict(self) -> dict[str, Any]:
        return {"text": self.text, "restrictions": [r.as_dict() for r in self.restrictions]}


@dataclass(frozen=True)
class Committee:
    """One row of a plan table: a review committee (评审委员会) and its terms for the year."""

    code: str
    category: str
    seq: int
    name: str
    titles: tuple[Title, ...]
    specialties: tuple[str, ...]
    scope: Scope
    review_month: int
    deadline_month: int
    contact: Contact
    material_deadline: date
    notes: Notes | None = None
    specialties_text: str | None = None
    specialties_open: bool = False
    fields: tuple[str, ...] = ()
    inferred_from_merged_cell: tuple[str, ...] = ()
    provenance: str | None = None

    def title(self, name: str) -> Title | None:
        for t in self.titles:
            if t.name == name:
                return t
        return None

    @property
    def restrictions(self) -> tuple[Restriction, ...]:
        return self.notes.restrictions if self.notes else ()

    def restriction(self, code: str) -> Restriction | None:
        for r in self.restrictions:
            if r.code == code:
                return r
        return None

    @property
    def is_socialized(self) -> bool:
        return self.category == "socialized"

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "code": self.code,
            "category": self.category,
            "seq": self.seq,
            "name": self.name,
            "titles": [t.as_dict() for t in self.titles],
            "specialties": list(self.specialties),
            "specialties_text": self.specialties_text,
            "specialties_open": self.specialties_open,
            "scope": self.scope.as_dict(),
            "review_month": self.review_month,
            "deadline_month": self.deadline_month,
            "material_deadline": self.material_deadline.isoformat(),
            "contact": self.contact.as_dict(),
            "notes": self.notes.as_dict() if self.notes else None,
        }
        if self.fields:
            out["fields"] = list(self.fields)
        if self.inferred_from_merged_cell:
            out["inferred_from_merged_cell"] = list(self.inferred_from_merged_cell)
        if self.provenance:
            out["provenance"] = self.provenance
        return out


@dataclass(frozen=True)
class SpecialApproval:
    """The recorded special approval (特殊情况审批) that lets a frozen deadline move."""

    approved_by: str
    reason: str
    approved_at: datetime

    def problems(self, now: datetime) -> list[str]:
        out = []
        if not (self.approved_by or "").strip():
            out.append("approval names no approver")
        if not (self.reason or "").strip():
            out.append("approval gives no reason")
        if self.approved_at is None:
            out.append("approval has no time")
        elif ensure_aware(self.approved_at) > ensure_aware(now):
            out.append("approval is dated in the future")
        return out

    def as_dict(self) -> dict[str, str]:
        return {"approved_by": self.approved_by, "reason": self.reason,
                "approved_at": ensure_aware(self.approved_at).isoformat()}


@dataclass(frozen=True)
class PlanPublished:
    """Event-like record: the plan was published (计划发布)."""

    year: int
    published_at: datetime
    committee_codes: tuple[str, ...]

    def payload(self) -> dict[str, Any]:
        return {"year": self.year, "published_at": self.published_at.isoformat(),
                "committee_codes": list(self.committee_codes)}


@dataclass(frozen=True)
class PlanDeadlineChanged:
    """Event-like record: a committee's material deadline moved."""

    year: int
    committee_code: str
    old_deadline: date
    new_deadline: date
    changed_at: datetime
    plan_state: str
    approval: SpecialApproval | None

    def payload(self) -> dict[str, Any]:
        return {"year": self.year, "committee_code": self.committee_code,
                "old_deadline": self.old_deadline.isoformat(),
                "new_deadline": self.new_deadline.isoformat(),
                "changed_at": self.changed_at.isoformat(), "plan_state": self.plan_state,
                "approval": self.approval.as_dict() if self.approval else None}


@dataclass
class Plan:
    """A year's review plan (年度职称评审计划)."""

    year: int
    committees: dict[str, Committee]
    review_completion_deadline: date
    state: str = DRAFT
    source: str | None = None
    published_at: datetime | None = None
    deadline_changes: list[PlanDeadlineChanged] = field(default_factory=list)

    @property
    def is_published(self) -> bool:
        return self.state == PUBLISHED

    def committee(self, code: str) -> Committee | None:
        return self.committees.get(code)

    def by_category(self, category: str) -> list[Committee]:
        return [c for c in self.committees.values() if c.category == category]

    def socialized(self) -> list[Committee]:
        return self.by_category("socialized")

    def publish(self, now: datetime) -> PlanPublished:
        """draft → published. Publishing twice is a conflict, not a no-op: the first time counts."""
        if self.is_published:
            raise Conflict(f"plan {self.year} is already published", code="plan_already_published")
        now = ensure_aware(now)
        self.state = PUBLISHED
        self.published_at = now
        return PlanPublished(self.year, now, tuple(self.committees))

    def change_deadline(self, committee_code: str, new_deadline: date, *, now: datetime,
                        approval: SpecialApproval | None = None) -> PlanDeadlineChanged:
        """Move one committee's material deadline (last day materials are received).

        Draft: free. Published: only with a complete special approval (三(二)); never past the
        year's completion deadline (一). Refusals list every failed rule.
        """
        committee = self.committees.get(committee_code)
        if committee is None:
            raise NotFound(f"no committee {committee_code} in plan {self.year}",
                           code="committee_not_found")
        now = ensure_aware(now)
        violations: list[RuleViolation] = []
        if self.is_published:
            if approval is None:
                violations.append(PLAN_DEADLINE_FROZEN.violation(
                    field="approval", detail="the plan is published and no special approval is recorded"))
            else:
                for problem in approval.problems(now):
                    violations.append(PLAN_DEADLINE_FROZEN.violation(field="approval", detail=problem))
        if new_deadline > self.review_completion_deadline:
            violations.append(PLAN_YEAR_END.violation(
                field="new_deadline",
                detail=f"after the completion deadline {self.review_completion_deadline.isoformat()}"))
        if violations:
            raise RuleRefused(violations)
        change = PlanDeadlineChanged(
            year=self.year, committee_code=committee_code, old_deadline=committee.material_deadline,
            new_deadline=new_deadline, changed_at=now, plan_state=self.state,
            approval=approval)
        self.committees[committee_code] = replace(
            committee, material_deadline=new_deadline, deadline_month=new_deadline.month)
        self.deadline_changes.append(change)
        return change

    def as_dict(self) -> dict[str, Any]:
        order = {c: i for i, c in enumerate(CATEGORIES)}
        committees = sorted(self.committees.values(), key=lambda c: (order[c.category], c.seq))
        return {
            "year": self.year,
            "state": self.state,
            "source": self.source,
            "published_at": self.published_at.isoformat() if self.published_at else None,
            "review_completion_deadline": self.review_completion_deadline.isoformat(),
            "counts": {cat: len(self.by_category(cat)) for cat in CATEGORIES},
            "committees": [c.as_dict() for c in committees],
        }


class PlanFileError(ValueError):
    """A plan file that does not have the required shape; the message names the field."""


def _require(mapping: Mapping[str, Any], key: str, where: str) -> Any:
    if not isinstance(mapping, Mapping) or key not in mapping or mapping[key] is None:
        raise PlanFileError(f"{where}.{key}: required")
    return mapping[key]


def _str_list(value: Any, where: str, *, allow_empty: bool = True) -> tuple[str, ...]:
    if value is None and allow_empty:
        return ()
    if not isinstance(value, list) or (not value and not allow_empty) or not all(
            isinstance(v, (str, int)) and not isinstance(v, bool) and str(v).strip() for v in value):
        raise PlanFileError(f"{where}: a {'non-empty ' if not allow_empty else ''}list of texts is required")
    return tuple(str(v) for v in value)


def _text(value: Any, where: str) -> str:
    if not isinstance(value, (str, int)) or isinstance(value, bool) or not str(value).strip():
        raise PlanFileError(f"{where}: a text is required")
    return str(value)


def _month(value: Any, where: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 12:
        raise PlanFileError(f"{where}: a month 1-12 is required")
    return value


def _date_or_none(value: Any, where: str) -> date | None:
    if value is None or (isinstance(value, date) and not isinstance(value, datetime)):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise PlanFileError(f"{where}: a date (YYYY-MM-DD) is required")


def _committee_from_dict(row: Mapping[str, Any], year: int, index: int) -> Committee:
    where = f"committees[{index}]"
    code = _text(_require(row, "code", where), f"{where}.code")
    where = f"committees[{index}]({code})"
    category = _require(row, "category", where)
    if not isinstance(category, str) or category not in CATEGORIES:
        raise PlanFileError(f"{where}.category: one of {', '.join(CATEGORIES)}")
    seq = _require(row, "seq", where)
    if not isinstance(seq, int) or isinstance(seq, bool) or seq < 1:
        raise PlanFileError(f"{where}.seq: a positive integer is required")
    if code != f"{CATEGORY_PREFIX[category]}{seq:02d}":
        raise PlanFileError(f"{where}.code: expected {CATEGORY_PREFIX[category]}{seq:02d} for "
                            f"{category} row {seq}")
    titles_raw = _require(row, "titles", where)
    if not isinstance(titles_raw, list) or not titles_raw:
        raise PlanFileError(f"{where}.titles: a non-empty list is required")
    titles = []
    for i, t in enumerate(titles_raw):
        name = _text(_require(t, "name", f"{where}.titles[{i}]"), f"{where}.titles[{i}].name")
        printed = t.get("printed_as")
        titles.append(Title(name=name, recommend_only=t.get("recommend_only") is True,
                            printed_as=str(printed) if printed else None,
                            level_only=t.get("level_only") is True))
    specialties = _str_list(_require(row, "specialties", where), f"{where}.specialties",
                            allow_empty=False)
    scope_raw = _require(row, "scope", where)
    scope_code = _require(scope_raw, "code", f"{where}.scope")
    if not isinstance(scope_code, str) or scope_code not in SCOPE_CODES:
        raise PlanFileError(f"{where}.scope.code: one of {', '.join(SCOPE_CODES)}")
    scope = Scope(code=scope_code, text=str(scope_raw.get("text") or SCOPE_CODES[scope_code]))
    review_month = _month(_require(row, "review_month", where), f"{where}.review_month")
    deadline_month = _month(_require(row, "deadline_month", where), f"{where}.deadline_month")
    if deadline_month > review_month:
        raise PlanFileError(f"{where}.deadline_month: after the review month")
    contact_raw = _require(row, "contact", where)
    phones = _require(contact_raw, "phones", f"{where}.contact")
    if isinstance(phones, (str, int)) and not isinstance(phones, bool):
        phones = [phones]
    contact = Contact(unit=_text(_require(contact_raw, "unit", f"{where}.contact"), f"{where}.contact.unit"),
                      phones=_str_list(phones, f"{where}.contact.phones", allow_empty=False))
    notes = None
    notes_raw = row.get("notes")
    if notes_raw is not None:
        if not isinstance(notes_raw, Mapping):
            raise PlanFileError(f"{where}.notes: a mapping (text, restrictions) or null is required")
        restrictions_raw = notes_raw.get("restrictions") or []
        if not isinstance(restrictions_raw, list):
            raise PlanFileError(f"{where}.notes.restrictions: a list is required")
        restrictions = []
        for i, r in enumerate(restrictions_raw):
            rcode = _require(r, "code", f"{where}.notes.restrictions[{i}]")
            if not isinstance(rcode, str) or rcode not in RESTRICTION_CODES:
                raise PlanFileError(f"{where}.notes.restrictions[{i}].code: unknown restriction {rcode}")
            restrictions.append(Restriction(rcode, {k: v for k, v in r.items() if k != "code"}))
        notes = Notes(text=_text(_require(notes_raw, "text", f"{where}.notes"), f"{where}.notes.text"),
                      restrictions=tuple(restrictions))
    known = {"contact", "notes", "titles", "specialties", "scope", "review_month", "deadline_month",
             "name"}
    inferred = _str_list(row.get("inferred_from_merged_cell"), f"{where}.inferred_from_merged_cell")
    for f in inferred:
        if f not in known:
            raise PlanFileError(f"{where}.inferred_from_merged_cell: unknown field {f}")
    material_deadline = _date_or_none(row.get("material_deadline"), f"{where}.material_deadline")
    if material_deadline is None:
        material_deadline = end_of_month(year, deadline_month)
    return Committee(
        code=code, category=category, seq=seq,
        name=_text(_require(row, "name", where), f"{where}.name"),
        titles=tuple(titles), specialties=tuple(str(s) for s in specialties), scope=scope,
        review_month=review_month, deadline_month=deadline_month, contact=contact,
        material_deadline=material_deadline, notes=notes,
        specialties_text=row.get("specialties_text"),
        specialties_open=bool(row.get("specialties_open", False)),
        fields=_str_list(row.get("fields"), f"{where}.fields"), inferred_from_merged_cell=inferred,
        provenance=row.get("provenance"))


def plan_from_dict(data: Mapping[str, Any]) -> Plan:
    """Build a plan from parsed data (any year). Raises :class:`PlanFileError` naming the field."""
    if not isinstance(data, Mapping):
        raise PlanFileError("plan: a mapping is required")
    year = _require(data, "year", "plan")
    if not isinstance(year, int) or not 2000 <= year <= 2100:
        raise PlanFileError("plan.year: a year is required")
    completion = (_date_or_none(data.get("review_completion_deadline"), "plan.review_completion_deadline")
                  or date(year, 12, 31))
    rows = _require(data, "committees", "plan")
    if not isinstance(rows, list) or not rows:
        raise PlanFileError("plan.committees: a non-empty list is required")
    committees: dict[str, Committee] = {}
    for i, row in enumerate(rows):
        c = _committee_from_dict(row, year, i)
        if c.code in committees:
            raise PlanFileError(f"committees[{i}].code: {c.code} appears twice")
        if c.material_deadline > completion:
            raise PlanFileError(f"committees[{i}]({c.code}).deadline_month: after the completion deadline")
        committees[c.code] = c
    state = data.get("state") or DRAFT
    if state not in (DRAFT, PUBLISHED):
        raise PlanFileError("plan.state: draft or published")
    published_at = data.get("published_at")
    if isinstance(published_at, str):
        published_at = datetime.fromisoformat(published_at)
    return Plan(year=year, committees=committees, review_completion_deadline=completion,
                state=state, source=data.get("source"),
                published_at=ensure_aware(published_at) if published_at else None)


def load_plan(path: str | Path) -> Plan:
    """Load a plan file (YAML or JSON, which YAML reads too)."""
    with open(path, encoding="utf-8") as fh:
        try:
            data = yaml.safe_load(fh)
        except yaml.YAMLError as exc:  # the parser's message names line and column, no personal data
            raise PlanFileError(f"plan file is not valid YAML/JSON: {exc}") from None
    return plan_from_dict(data)


def plan_path(year: int, directory: str | Path = PLANS_DIR) -> Path:
    return Path(directory) / f"{year}.yaml"


def load_plan_year(year: int, directory: str | Path = PLANS_DIR) -> Plan:
    path = plan_path(year, directory)
    if not path.exists():
        raise NotFound(f"no plan file for {year}", code="plan_not_found")
    return load_plan(path)


def available_years(directory: str | Path = PLANS_DIR) -> list[int]:
    return sorted(int(p.stem) for p in Path(directory).glob("*.yaml") if p.stem.isdigit())


def all_titles(plan: Plan) -> Iterable[str]:
    for c in plan.committees.values():
        for t in c.titles:
            yield t.name
