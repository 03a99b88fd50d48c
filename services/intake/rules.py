"""Intake rules: which applications the notice lets a committee (or the bureau) accept.

Every rule has a stable id, the clause of 虞人社职〔2023〕1号 (or the national standard) it comes
from, and an English and a Chinese message. :func:`assess` evaluates ALL rules and returns every
violation; :func:`assess_or_refuse` raises :class:`shared.errors.RuleRefused` listing them.

Pure domain: no nameko / sqlalchemy / marshmallow / kombu. Time comes in as ``now``.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any, Mapping

import yaml

from shared.clock import CHINA, ensure_aware
from shared.errors import RuleRefused
from shared import personal
from shared.rules import NOTICE, RuleViolation, define_rule

from services.intake.application import (
    CLASSIFIED_MARKINGS, RECOGNITION_BASES, SHANGYU_LOCATIONS, SHAOXING_LOCATIONS, Application,
    Employer, PerformanceArchive)
from services.intake.initial_determination import (
    DeterminationTable, default_table, entitled_level, level_of_title)
from services.intake.plan import (  # noqa: F401  (re-exported: the plan rules belong to intake too)
    PLAN_DEADLINE_FROZEN, PLAN_YEAR_END, Committee, Plan, Title, deadline_instant)

ID_STANDARD = "GB 11643-1999《公民身份号码》"
REQUIRED_MATERIALS_FILE = Path(__file__).parent / "required_materials.yaml"

# --------------------------------------------------------------------------------------- rules
IDENTITY = define_rule(
    "INTAKE-IDENTITY", "号码结构与校验码",
    "The identity number must be 18 characters with a valid region code, birth date and "
    "ISO 7064 MOD 11-2 check character",
    "公民身份号码应为18位，地址码、出生日期码有效且校验码正确", ID_STANDARD)
COMMITTEE_IN_PLAN = define_rule(
    "INTAKE-COMMITTEE", "一",
    "The committee must be one of the published review plan of the year",
    "应按照已发布的年度职称评审计划申报，评委会须在计划内", NOTICE)
TITLE_IN_PLAN = define_rule(
    "INTAKE-TITLE", "附件",
    "The title must be one the committee reviews or recommends in the plan",
    "申报的职务任职资格须为该评委会评审（推荐）的资格名称", NOTICE)
SPECIALTY_COVERED = define_rule(
    "INTAKE-SPECIALTY", "附件",
    "The specialty must be one the committee reviews in the plan",
    "申报专业须在该评委会所评专业范围内", NOTICE)
TERRITORIAL = define_rule(
    "INTAKE-SCOPE", "三(二)",
    "Applications are accepted by where the applicant's employer is (territorial acceptance); "
    "the employer is outside the committee's scope",
    "严格按申报对象所在单位属地受理原则受理，申报对象所在单位不在该评委会评审（推荐）范围内", NOTICE)
ROUTING = define_rule(
    "INTAKE-ROUTING", "三(二)",
    "The applicant is within a socialized-evaluation committee's acceptance range and must apply "
    "to that committee",
    "属社会化评价（含企业自主评价）评委会受理范围的，由相应社会化评价评委会受理", NOTICE)
EXCLUDED_SELF_APPRAISAL = define_rule(
    "INTAKE-EXCLUDED-SELF-APPRAISAL", "附件 备注",
    "Staff of self-appraisal units are excluded from this committee",
    "自主评聘单位除外", NOTICE)
EXCLUDED_SOCIALIZED = define_rule(
    "INTAKE-EXCLUDED-SOCIALIZED", "附件 备注",
    "Units under socialized evaluation or private-enterprise self-evaluation are excluded from "
    "this committee",
    "社会化评价、民营企业自主评价除外", NOTICE)
PRIVATE_INDUSTRIAL_ONLY = define_rule(
    "INTAKE-PRIVATE-INDUSTRIAL-ONLY", "附件 备注",
    "Only staff of private industrial enterprises may apply to this committee",
    "限民营工业企业申报", NOTICE)
MATERIAL_DEADLINE = define_rule(
    "INTAKE-DEADLINE", "附件 / 三(二)",
    "Materials must arrive by the end of the committee's material deadline (China time)",
    "申报材料须在预计接收材料截止时间前提交，截止时间不予调整", NOTICE)
MATERIALS_COMPLETE = define_rule(
    "INTAKE-MATERIALS-COMPLETE", "三(三)",
    "The application lacks required materials; missing materials are not supplemented later",
    "申报材料须完整，评审会议召开时缺失的材料不再补充", NOTICE)
NO_CLASSIFIED_MATERIAL = define_rule(
    "INTAKE-CLASSIFIED", "二(二)",
    "Classified material (绝密/机密/秘密/涉密) must not be uploaded; it is refused and not stored",
    "严禁上传涉密资料", NOTICE)
REAPPLICANT_NEW_ACHIEVEMENTS = define_rule(
    "INTAKE-REAPPLICANT", "三(二)",
    "An applicant who failed last year's review needs new achievements dated after that attempt",
    "对上年度参评未通过人员，要严格审查申报对象新增业绩", NOTICE)
EXAM_ONLY = define_rule(
    "INTAKE-EXAM-ONLY", "二(三)",
    "Junior and intermediate titles of this specialty come only from the national or provincial "
    "exam: neither reviewed nor initially determined",
    "中初级职称实行全国和省统一考试的专业不进行职称评审和初定", NOTICE)
INITIAL_QUALIFICATION = define_rule(
    "INTAKE-INITIAL-QUALIFICATION", "二(三)",
    "Education and professional work years do not qualify for the requested initial determination",
    "学历（学位）及专业技术工作年限不符合职称初定条件", NOTICE)
INITIAL_MAJOR_MISMATCH = define_rule(
    "INTAKE-INITIAL-MAJOR", "二(三)",
    "A graduate whose major does not match may be initially determined only in a private "
    "industrial enterprise (construction, water, transport, commerce excluded), with one more year "
    "of professional work",
    "专业不对口的大中专毕业生仅限民营工业企业（建筑、水利、交通、商贸服务等非工业企业除外），"
    "专业技术工作年限增加1年初定", NOTICE)
REDETERMINATION = define_rule(
    "INTAKE-REDETERMINATION", "二(三)",
    "Already determined: a new determination needs a higher degree, or must lift a level set "
    "below the degree",
    "初定后取得更高学历或学位的，或按学历低定职称的，方可再次初定", NOTICE)
RECOGNITION_BASIS = define_rule(
    "INTAKE-RECOGNITION", "二(二)",
    "Recognition (认定) is for staff back from aid or dispatch assignments, post-doctoral leavers "
    "and transfers from other provinces",
    "职称认定适用于执行援派任务的专业技术人才、博士后出站人员、外省调入人员", NOTICE)

INTAKE_RULES = (
    IDENTITY, COMMITTEE_IN_PLAN, TITLE_IN_PLAN, SPECIALTY_COVERED, TERRITORIAL, ROUTING,
    EXCLUDED_SELF_APPRAISAL, EXCLUDED_SOCIALIZED, PRIVATE_INDUSTRIAL_ONLY, MATERIAL_DEADLINE,
    MATERIALS_COMPLETE, NO_CLASSIFIED_MATERIAL, REAPPLICANT_NEW_ACHIEVEMENTS, EXAM_ONLY,
    INITIAL_QUALIFICATION, INITIAL_MAJOR_MISMATCH, REDETERMINATION, RECOGNITION_BASIS,
    PLAN_DEADLINE_FROZEN, PLAN_YEAR_END,
)

COMMITTEE_PATHS = ("review", "recommendation", "recognition")

# ------------------------------------------------------------------------- identity number
# one implementation for the platform: shared/personal.py (GB 11643)
identity_check_char = personal.identity_check_char
identity_problems = personal.identity_problems


def check_identity(app: Application, today: date) -> list[RuleViolation]:
    return [IDENTITY.violation(field="applicant.identity_number", detail=p)
            for p in identity_problems(app.applicant.identity_number, today)]


# ------------------------------------------------------------------------------ territory
def employer_in_scope(scope_code: str, employer: Employer) -> bool:
    """属地: is the employer inside a committee's 评审（推荐）范围?"""
    loc = employer.location
    if scope_code == "shaoxing_city":
        return loc in SHAOXING_LOCATIONS
    if scope_code == "shangyu_district":
        return loc in SHANGYU_LOCATIONS
    if scope_code == "hangzhou_bay_shangyu_zone":
        return loc == "hangzhou_bay_shangyu_zone"
    if scope_code == "shanghai_based_construction_firms":
        return loc == "shanghai" and employer.industry == "construction"
    if scope_code == "survey_design_firms":
        return loc in SHAOXING_LOCATIONS and employer.industry == "survey_design"
    return False


def exclusion_violations(committee: Committee, employer: Employer) -> list[RuleViolation]:
    out = []
    codes = committee.notes.codes() if committee.notes else set()
    if "excludes_self_appraisal_units" in codes and employer.self_appraisal_unit:
        out.append(EXCLUDED_SELF_APPRAISAL.violation(
            field="employer.self_appraisal_unit", committee=committee.code))
    if ("excludes_socialized_and_private_self_evaluation_units" in codes
            and (employer.socialized_evaluation_unit or employer.private_self_evaluation_unit)):
        f = ("employer.socialized_evaluation_unit" if employer.socialized_evaluation_unit
             else "employer.private_self_evaluation_unit")
        out.append(EXCLUDED_SOCIALIZED.violation(field=f, committee=committee.code))
    if "private_industrial_enterprises_only" in codes and not employer.is_private_industrial:
        out.append(PRIVATE_INDUSTRIAL_ONLY.violation(
            field="employer.ownership" if employer.ownership != "private" else "employer.industry",
            committee=committee.code))
    return out


# ------------------------------------------------------------------------------- titles
def match_title(committee: Committee, title: str) -> Title | None:
    """The plan title an applied title falls under.

    Exact name, or — for a level-only entry such as R28's "高级（推荐）" — the senior (二级) form
    of a title the committee reviews at 三级.
    """
    exact = committee.title(title)
    if exact is not None:
        return exact
    for t in committee.titles:
        if t.level_only and title.startswith("二级") and committee.title("三级" + title[2:]):
            return t
    return None


def title_level(committee: Committee | None, title: str) -> str | None:
    level = level_of_title(title)
    if level is None and committee is not None:
        t = match_title(committee, title)
        if t is not None and t.level_only:
            return "deputy_senior"
    return level


def exam_only_levels(specialty: str, committee: Committee | None,
                     table: DeterminationTable) -> frozenset[str]:
    levels = set(table.exam_only.get(specialty, frozenset()))
    if committee is not None:
        for r in committee.restrictions:
            if r.code == "exam_only" and specialty in (r.params.get("specialties") or ()):
                levels.update(r.params.get("levels") or ())
    return frozenset(levels)


# ------------------------------------------------------------------------------- routing
def socialized_committees_for(app: Application, plan: Plan, applied: Committee) -> list[Committee]:
    """The socialized committees whose acceptance range covers this applicant (三(二))."""
    out = []
    for s in plan.socialized():
        if s.code == applied.code:
            continue
        if not employer_in_scope(s.scope.code, app.employer):
            continue
        if exclusion_violations(s, app.employer):
            continue
        if match_title(s, app.title) is None:
            continue
        same_specialty = app.specialty in s.specialties
        same_field = bool(set(applied.fields) & set(s.fields))
        if same_specialty or same_field:
            out.append(s)
    return out


# ----------------------------------------------------------------------------- materials
@lru_cache(maxsize=None)
def required_materials() -> Mapping[str, Any]:
    with open(REQUIRED_MATERIALS_FILE, encoding="utf-8") as fh:
        return yaml.safe_load(fh)


def classified_violations(app: Application) -> list[RuleViolation]:
    out = []
    for i, m in enumerate(app.materials):
        if m.is_classified:
            marking = m.classification if m.classification in CLASSIFIED_MARKINGS else "title"
            out.append(NO_CLASSIFIED_MATERIAL.violation(
                field=f"materials[{i}]", detail=f"marked {marking}", kind=m.kind))
    return out


def completeness_violations(app: Application, config: Mapping[str, Any] | None = None) -> list[RuleViolation]:
    config = config or required_materials()
    spec = (config.get("paths") or {}).get(app.path)
    if spec is None:
        return []
    present = {m.kind for m in app.materials if not m.is_classified}
    required = list(spec.get("required") or ())
    if app.current_title:
        required += list(spec.get("required_if_current_title") or ())
    out = [MATERIALS_COMPLETE.violation(field="materials", detail=f"missing {kind}", kind=kind)
           for kind in required if kind not in present]
    need = int(spec.get("representative_achievements_min") or 0)
    have = sum(1 for a in app.achievements if a.representative)
    if have < need:
        out.append(MATERIALS_COMPLETE.violation(
            field="achievements", detail=f"{need} representative achievement(s) required, {have} given"))
    return out


# ------------------------------------------------------------------------------ outcome
@dataclass(frozen=True)
class Determination:
    """初定 outcome: the level and title granted."""

    level: str
    level_zh: str
    title: str
    series: str
    education: str
    required_work_years: float
    mismatch_extra_years: float
    redetermination: bool

    def as_dict(self) -> dict[str, Any]:
        return {"level": self.level, "level_zh": self.level_zh, "title": self.title,
                "series": self.series, "education": self.education,
                "required_work_years": self.required_work_years,
                "mismatch_extra_years": self.mismatch_extra_years,
                "redetermination": self.redetermination}


@dataclass(frozen=True)
class Assessment:
    """The intake decision for one application: every violation, or what it was accepted as."""

    violations: tuple[RuleViolation, ...]
    requested_path: str
    effective_path: str
    committee_code: str | None = None
    determination: Determination | None = None
    route_to: tuple[str, ...] = ()
    recognition_basis: str | None = None
    notes: tuple[str, ...] = ()

    @property
    def accepted(self) -> bool:
        return not self.violations

    @property
    def rule_ids(self) -> list[str]:
        seen: list[str] = []
        for v in self.violations:
            if v.rule.id not in seen:
                seen.append(v.rule.id)
        return seen

    def raise_if_refused(self) -> "Assessment":
        if self.violations:
            raise RuleRefused(self.violations)
        return self

    def as_dict(self) -> dict[str, Any]:
        return {
            "accepted": self.accepted,
            "requested_path": self.requested_path,
            "effective_path": self.effective_path,
            "committee_code": self.committee_code,
            "determination": self.determination.as_dict() if self.determination else None,
            "route_to": list(self.route_to),
            "recognition_basis": self.recognition_basis,
            "notes": list(self.notes),
            "violations": [v.as_dict() for v in self.violations],
        }


def _committee_checks(app: Application, plan: Plan, now: datetime,
                      table: DeterminationTable, archive: PerformanceArchive | None
                      ) -> tuple[list[RuleViolation], str, tuple[str, ...], tuple[str, ...]]:
    violations: list[RuleViolation] = []
    effective = app.path
    notes: list[str] = []
    route: tuple[str, ...] = ()
    committee = plan.committee(app.committee_code or "")
    if not plan.is_published:
        violations.append(COMMITTEE_IN_PLAN.violation(
            field="committee_code", detail=f"the {plan.year} plan is not published"))
        return violations, effective, route, tuple(notes)
    if committee is None:
        violations.append(COMMITTEE_IN_PLAN.violation(
            field="committee_code", detail="no such committee in the plan"))
        return violations, effective, route, tuple(notes)

    title = match_title(committee, app.title)
    if title is None:
        violations.append(TITLE_IN_PLAN.violation(field="title", committee=committee.code))
    elif app.path in ("review", "recommendation"):
        effective = "recommendation" if title.recommend_only else "review"

    if app.specialty not in committee.specialties:
        violations.append(SPECIALTY_COVERED.violation(field="specialty", committee=committee.code))

    if not employer_in_scope(committee.scope.code, app.employer):
        violations.append(TERRITORIAL.violation(
            field="employer.location", detail=f"committee scope is {committee.scope.code}",
            committee=committee.code, scope=committee.scope.code))

    if not committee.is_socialized:
        targets = socialized_committees_for(app, plan, committee)
        if targets:
            route = tuple(s.code for s in targets)
            violations.append(ROUTING.violation(
                field="committee_code", detail="apply to " + ", ".join(route), route_to=list(route)))

    violations += exclusion_violations(committee, app.employer)

    level = title_level(committee, app.title)
    if level is not None and level in exam_only_levels(app.specialty, committee, table):
        violations.append(EXAM_ONLY.violation(field="specialty", detail=f"{level} title",
                                              committee=committee.code))

    if ensure_aware(now) >= deadline_instant(committee.material_deadline):
        violations.append(MATERIAL_DEADLINE.violation(
            field="submitted_at", detail=f"deadline was {committee.material_deadline.isoformat()}",
            committee=committee.code, deadline=committee.material_deadline.isoformat()))

    if archive is not None:
        failed = archive.failed_attempt_in(plan.year - 1)
        if failed is not None:
            new = [a for a in list(archive.achievements) + list(app.achievements)
                   if a.dated > failed.decided_on]
            if not new:
                violations.append(REAPPLICANT_NEW_ACHIEVEMENTS.violation(
                    field="achievements",
                    detail=f"no achievement dated after {failed.decided_on.isoformat()}"))

    d01 = committee.restriction("senior_requires_intermediate_recommendation")
    if d01 is not None and level in ("deputy_senior", "senior") \
            and app.specialty in (d01.params.get("except_specialties") or ()):
        direct = d01.params.get("direct_committee")
        notes.append(f"senior {app.specialty} does not need this committee's recommendation"
                     + (f"; may apply directly to {direct}" if direct else ""))
    return violations, effective, route, tuple(notes)


def _initial_determination(app: Application, plan: Plan | None, now: datetime,
                           table: DeterminationTable
                           ) -> tuple[list[RuleViolation], Determination | None]:
    violations: list[RuleViolation] = []
    today = ensure_aware(now).astimezone(CHINA).date()
    # 全区: initial determination is the district bureau's, for employers in 上虞区.
    if app.employer.location not in SHANGYU_LOCATIONS:
        violations.append(TERRITORIAL.violation(
            field="employer.location", detail="initial determination is for employers in 上虞区",
            scope="shangyu_district"))
    series = app.series or table.series_of_title(app.title)
    requested_level = None
    if series is None or series not in table.series_titles:
        violations.append(TITLE_IN_PLAN.violation(
            field="title", detail="not a title granted by initial determination"))
    else:
        for lv, name in table.series_titles[series].items():
            if name == app.title:
                requested_level = lv
        if requested_level is None:
            violations.append(TITLE_IN_PLAN.violation(
                field="title", detail=f"not a title of series {series}"))
    level_for_exam = requested_level or "intermediate"
    if level_for_exam in exam_only_levels(app.specialty, None, table):
        violations.append(EXAM_ONLY.violation(field="specialty", detail="initial determination"))

    ent = entitled_level(
        table, education=app.education.level, work_years=app.professional_work_years,
        graduated_on=app.education.graduated_on, today=today,
        major_matches=app.education.major_matches_specialty,
        ownership=app.employer.ownership, industry=app.employer.industry)
    if ent.reason == "major_mismatch":
        violations.append(INITIAL_MAJOR_MISMATCH.violation(field="education.major_matches_specialty"))
    elif ent.level is None:
        violations.append(INITIAL_QUALIFICATION.violation(
            field="professional_work_years" if ent.reason == "not_enough_work_years" else "education.level",
            detail=ent.reason))
    elif requested_level is not None and table.level_rank(requested_level) > table.level_rank(ent.level):
        violations.append(INITIAL_QUALIFICATION.violation(
            field="title", detail=f"qualifies for {ent.level}, not {requested_level}"))

    granted_level = requested_level if requested_level and ent.level else None
    redetermination = False
    prev = app.previous_determination
    if granted_level is not None:
        # 再次初定: after a higher degree, or to lift a level set below the degree. Either way the
        # new level must be above the one already determined (and within what the table grants).
        if prev is not None:
            redetermination = True
            if table.level_rank(granted_level) <= table.level_rank(prev.level):
                violations.append(REDETERMINATION.violation(
                    field="previous_determination",
                    detail="the requested level is not above the level already determined"))
        if table.level_rank(level_of_title(app.current_title)) >= table.level_rank(granted_level):
            violations.append(REDETERMINATION.violation(
                field="current_title", detail="already holds a title at or above the requested level"))

    determination = None
    if not violations and granted_level is not None and series is not None:
        determination = Determination(
            level=granted_level, level_zh=table.level_zh[granted_level], title=app.title,
            series=series, education=app.education.level,
            required_work_years=ent.required_years or 0.0,
            mismatch_extra_years=ent.mismatch_extra_years, redetermination=redetermination)
    return violations, determination


def assess(app: Application, plan: Plan | None, *, now: datetime,
           archive: PerformanceArchive | None = None,
           table: DeterminationTable | None = None,
           materials_config: Mapping[str, Any] | None = None) -> Assessment:
    """Evaluate every intake rule for one application; return all violations and the outcome."""
    table = table or default_table()
    now = ensure_aware(now)
    today = now.astimezone(CHINA).date()
    violations: list[RuleViolation] = []
    violations += check_identity(app, today)
    violations += classified_violations(app)
    violations += completeness_violations(app, materials_config)

    effective = app.path
    route: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    determination = None
    basis = None
    if app.path == "initial_determination":
        v, determination = _initial_determination(app, plan, now, table)
        violations += v
    elif app.path in COMMITTEE_PATHS:
        if plan is None:
            violations.append(COMMITTEE_IN_PLAN.violation(
                field="plan_year", detail="no review plan for that year"))
        else:
            v, effective, route, notes = _committee_checks(app, plan, now, table, archive)
            violations += v
        if app.path == "recognition":
            if app.recognition_basis not in RECOGNITION_BASES:
                violations.append(RECOGNITION_BASIS.violation(field="recognition_basis"))
            else:
                basis = app.recognition_basis
    return Assessment(
        violations=tuple(violations), requested_path=app.path, effective_path=effective,
        committee_code=app.committee_code if app.path in COMMITTEE_PATHS else None,
        determination=determination, route_to=route, recognition_basis=basis, notes=notes)


def assess_or_refuse(app: Application, plan: Plan | None, *, now: datetime,
                     archive: PerformanceArchive | None = None) -> Assessment:
    return assess(app, plan, now=now, archive=archive).raise_if_refused()
