"""Table-driven tests, one table per intake rule: cases that pass and cases the rule refuses."""
from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, timezone

import pytest

from shared.errors import RuleRefused
from services.intake.application import (
    Achievement, Applicant, Attempt, Material)
from services.intake.rules import INTAKE_RULES, assess, assess_or_refuse, identity_problems
from services.intake.plan import load_plan_year
from intake_builders import (
    IN_TIME, REVIEW_MATERIALS, VALID_ID, application, archive, china, employer, identity_number,
    materials, published_plan)

pytestmark = pytest.mark.unit

PLAN = published_plan()


def rule_ids(app, now=IN_TIME, plan=PLAN, **kw):
    return set(assess(app, plan, now=now, **kw).rule_ids)


def test_every_rule_has_a_stable_id_clause_and_both_messages():
    ids = [r.id for r in INTAKE_RULES]
    assert len(ids) == len(set(ids))
    for r in INTAKE_RULES:
        assert r.id.startswith("INTAKE-") and r.clause and r.en and r.zh and r.source


def test_the_baseline_application_is_accepted_for_review():
    a = assess(application(), PLAN, now=IN_TIME)
    assert a.accepted and a.effective_path == "review" and a.committee_code == "R22"


# ------------------------------------------------------------------- INTAKE-IDENTITY (GB 11643)
@pytest.mark.parametrize("number,ok", [
    (VALID_ID, True),
    (identity_number(seq="001"), True),
    (identity_number(region="110101", born="20000229", seq="005"), True),
    (next(identity_number(seq=f"{i:03d}") for i in range(1000)
          if identity_number(seq=f"{i:03d}").endswith("X")), True),
    (VALID_ID[:17], False),                                   # 17 characters
    (VALID_ID + "1", False),                                  # 19 characters
    (VALID_ID[:17] + ("0" if VALID_ID[17] != "0" else "1"), False),  # wrong check character
    (identity_number(region="000000"), False),                # unknown region
    (identity_number(region="990604"), False),                # unknown province
    (identity_number(born="19901301"), False),                # month 13
    (identity_number(born="19990229"), False),                # not a leap year
    (identity_number(born="20300101"), False),                # born in the future
    (identity_number(born="18800101"), False),                # before 1900
    ("33060419900101123A", False),                            # letter other than X
    ("3306041990O101123X", False),                            # letter inside
])
def test_identity_number_rule(number, ok):
    app = application(applicant=Applicant(identity_number=number, name="张三"))
    assert ("INTAKE-IDENTITY" not in rule_ids(app)) is ok


def test_identity_check_character_x_may_be_lower_case():
    x_id = next(identity_number(seq=f"{i:03d}") for i in range(1000)
                if identity_number(seq=f"{i:03d}").endswith("X"))
    assert identity_problems(x_id.lower(), date(2023, 7, 1)) == []


def test_identity_refusal_never_echoes_the_number_or_the_name():
    bad = VALID_ID[:17] + ("0" if VALID_ID[17] != "0" else "1")
    with pytest.raises(RuleRefused) as err:
        assess_or_refuse(application(applicant=Applicant(identity_number=bad, name="张三")), PLAN, now=IN_TIME)
    text = str(err.value.as_dict())
    assert bad not in text and bad[:17] not in text and "张三" not in text


# ------------------------------------------------------------------- INTAKE-COMMITTEE
@pytest.mark.parametrize("code,plan,ok", [
    ("R22", PLAN, True),
    ("S07", PLAN, None),      # exists (fails other rules, not this one)
    ("R33", PLAN, False),
    ("X01", PLAN, False),
    ("", PLAN, False),
    ("R22", load_plan_year(2023), False),   # draft: not published
    ("R22", None, False),                   # no plan for the year
])
def test_committee_must_exist_in_the_published_plan(code, plan, ok):
    ids = rule_ids(application(committee_code=code), plan=plan)
    if ok is None:
        assert "INTAKE-COMMITTEE" not in ids
    else:
        assert ("INTAKE-COMMITTEE" not in ids) is ok


# ------------------------------------------------------------------- INTAKE-TITLE
@pytest.mark.parametrize("committee,title,specialty,ok,path", [
    ("R22", "工程师", "水利规划设计", True, "review"),
    ("R22", "高级工程师", "水利规划设计", True, "recommendation"),   # （推荐）→ recommendation
    ("R17", "高级经济师", "经济", True, "recommendation"),
    ("R22", "高级教师", "水利规划设计", False, None),
    ("R22", "正高级工程师", "水利规划设计", False, None),
    ("R03", "工程师", "建筑施工", False, None),
    ("R28", "三级演员", "演员", True, "review"),
    ("R28", "二级演员", "演员", True, "recommendation"),               # 高级（推荐）
    ("R28", "二级律师", "演员", False, None),
])
def test_title_is_reviewed_or_recommended_by_the_committee(committee, title, specialty, ok, path):
    a = assess(application(committee_code=committee, title=title, specialty=specialty,
                           employer=employer(industry="culture_media")), PLAN, now=IN_TIME)
    assert ("INTAKE-TITLE" not in a.rule_ids) is ok
    if ok:
        assert a.effective_path == path


def test_recommendation_requested_for_a_reviewed_title_is_a_review():
    a = assess(application(path="recommendation"), PLAN, now=IN_TIME)
    assert a.accepted and a.requested_path == "recommendation" and a.effective_path == "review"


# ------------------------------------------------------------------- INTAKE-SPECIALTY
@pytest.mark.parametrize("committee,specialty,ok", [
    ("R22", "水利规划设计", True),
    ("R22", "运行管理", True),
    ("R22", "建筑施工", False),
    ("R22", "水利", False),
    ("D01", "白蚁防治", True),
    ("D01", "水利规划设计", False),
])
def test_specialty_is_covered_by_the_committee(committee, specialty, ok):
    ids = rule_ids(application(committee_code=committee, specialty=specialty))
    assert ("INTAKE-SPECIALTY" not in ids) is ok


# ------------------------------------------------------------------- INTAKE-SCOPE (属地受理)
@pytest.mark.parametrize("committee,specialty,location,industry,ok", [
    ("R22", "水利规划设计", "yuecheng", "water_conservancy", True),
    ("R22", "水利规划设计", "keqiao", "water_conservancy", True),
    ("R22", "水利规划设计", "shangyu", "water_conservancy", True),
    ("R22", "水利规划设计", "zhuji", "water_conservancy", True),
    ("R22", "水利规划设计", "shengzhou", "water_conservancy", True),
    ("R22", "水利规划设计", "xinchang", "water_conservancy", True),
    ("R22", "水利规划设计", "hangzhou_bay_shangyu_zone", "water_conservancy", True),
    ("R22", "水利规划设计", "outside", "water_conservancy", False),
    ("R22", "水利规划设计", "shanghai", "water_conservancy", False),
    ("D01", "建筑施工", "shangyu", "construction", True),
    ("D01", "建筑施工", "hangzhou_bay_shangyu_zone", "construction", True),
    ("D01", "建筑施工", "keqiao", "construction", False),
    ("S03", "给排水", "shanghai", "construction", True),
    ("S03", "给排水", "shanghai", "industrial", False),
    ("S03", "给排水", "keqiao", "construction", False),
    ("S01", "建筑设计", "keqiao", "survey_design", True),
    ("S01", "建筑设计", "keqiao", "construction", False),
    ("S01", "建筑设计", "outside", "survey_design", False),
])
def test_territorial_acceptance_by_employer_location(committee, specialty, location, industry, ok):
    app = application(committee_code=committee, specialty=specialty,
                      employer=employer(location=location, industry=industry))
    assert ("INTAKE-SCOPE" not in rule_ids(app)) is ok


def test_hangzhou_bay_committee_accepts_only_the_zone():
    zone = employer(location="hangzhou_bay_shangyu_zone", ownership="private", industry="industrial")
    ids_zone = rule_ids(application(committee_code="S06", specialty="石化", employer=zone))
    ids_district = rule_ids(application(committee_code="S06", specialty="石化",
                                        employer=replace(zone, location="shangyu")))
    assert "INTAKE-SCOPE" not in ids_zone and "INTAKE-SCOPE" in ids_district


# ------------------------------------------------------------------- INTAKE-ROUTING
@pytest.mark.parametrize("committee,specialty,emp,route", [
    # survey & design firm: 建筑结构 engineers go to S01, not to D01
    ("D01", "建筑结构", dict(industry="survey_design"), ("S01",)),
    ("D01", "建筑施工", dict(industry="survey_design"), ()),       # S01 does not list 建筑施工
    ("D01", "建筑结构", dict(industry="construction"), ()),
    # private industrial firm in the zone: petrochemical engineers go to S06
    ("R12", "石油和化学工业工程技术",
     dict(location="hangzhou_bay_shangyu_zone", ownership="private", industry="industrial"), ("S06",)),
    ("R12", "石油和化学工业工程技术",
     dict(location="hangzhou_bay_shangyu_zone", ownership="state", industry="industrial"), ()),
    ("R31", "医药工程",
     dict(location="hangzhou_bay_shangyu_zone", ownership="private", industry="industrial"), ("S06",)),
    # private industrial 机电 firm in 上虞区 → S07; in 柯桥区 it stays with R07
    ("R07", "设计开发", dict(location="shangyu", ownership="private", industry="industrial"), ("S07",)),
    ("R07", "设计开发", dict(location="keqiao", ownership="private", industry="industrial"), ()),
    # 装配式建筑 specialties → S02 for anyone in the city
    ("S02", "装配式建筑施工", dict(industry="construction"), ()),  # already the socialized one
])
def test_applicant_in_a_socialized_committees_range_is_routed_there(committee, specialty, emp, route):
    a = assess(application(committee_code=committee, specialty=specialty, employer=employer(**emp)),
               PLAN, now=IN_TIME)
    assert a.route_to == route
    assert ("INTAKE-ROUTING" in a.rule_ids) is bool(route)
    if route:
        v = next(v for v in a.violations if v.rule.id == "INTAKE-ROUTING")
        assert v.context["route_to"] == list(route) and route[0] in v.detail


def test_routing_refusal_names_the_right_committee_for_a_shanghai_construction_firm():
    a = assess(application(committee_code="D01", specialty="给排水",
                           employer=employer(location="shanghai", industry="construction")),
               PLAN, now=IN_TIME)
    assert {"INTAKE-ROUTING", "INTAKE-SCOPE"} <= set(a.rule_ids)
    assert a.route_to == ("S03",)


# ------------------------------------------------------------------- exclusions (备注)
@pytest.mark.parametrize("committee,specialty,title,emp,rule,ok", [
    ("R01", "教辅", "高级教师", dict(industry="education"), "INTAKE-EXCLUDED-SELF-APPRAISAL", True),
    ("R01", "教辅", "高级教师", dict(industry="education", self_appraisal_unit=True),
     "INTAKE-EXCLUDED-SELF-APPRAISAL", False),
    ("R02", "卫生专业", "副主任护师", dict(industry="health", self_appraisal_unit=True),
     "INTAKE-EXCLUDED-SELF-APPRAISAL", False),
    ("D02", "中小学教师", "一级教师", dict(industry="education", self_appraisal_unit=True),
     "INTAKE-EXCLUDED-SELF-APPRAISAL", False),
    ("R22", "水利规划设计", "工程师", dict(self_appraisal_unit=True), "INTAKE-EXCLUDED-SELF-APPRAISAL", True),
    ("R07", "设计开发", "工程师", dict(location="keqiao"), "INTAKE-EXCLUDED-SOCIALIZED", True),
    ("R07", "设计开发", "工程师", dict(location="keqiao", socialized_evaluation_unit=True),
     "INTAKE-EXCLUDED-SOCIALIZED", False),
    ("R08", "信息技术（信息安全）", "工程师", dict(private_self_evaluation_unit=True),
     "INTAKE-EXCLUDED-SOCIALIZED", False),
    ("S06", "石化", "工程师", dict(location="hangzhou_bay_shangyu_zone", ownership="private"),
     "INTAKE-PRIVATE-INDUSTRIAL-ONLY", True),
    ("S06", "石化", "工程师", dict(location="hangzhou_bay_shangyu_zone", ownership="state"),
     "INTAKE-PRIVATE-INDUSTRIAL-ONLY", False),
    ("S07", "机电制造相关专业", "工程师", dict(ownership="private", industry="construction"),
     "INTAKE-PRIVATE-INDUSTRIAL-ONLY", False),
    ("S07", "机电制造相关专业", "工程师", dict(ownership="private", industry="industrial"),
     "INTAKE-PRIVATE-INDUSTRIAL-ONLY", True),
])
def test_exclusions_and_restrictions_from_the_notes(committee, specialty, title, emp, rule, ok):
    app = application(committee_code=committee, specialty=specialty, title=title, employer=employer(**emp))
    assert (rule not in rule_ids(app)) is ok


# ------------------------------------------------------------------- INTAKE-DEADLINE
@pytest.mark.parametrize("now,ok", [
    (china(2023, 6, 1), True),
    (china(2023, 8, 31, 23, 59, 59, 999999), True),
    (china(2023, 9, 1, 0, 0, 0), False),
    (datetime(2023, 8, 31, 15, 59, 59, tzinfo=timezone.utc), True),    # 23:59:59 in China
    (datetime(2023, 8, 31, 16, 0, 0, tzinfo=timezone.utc), False),     # 00:00 on 1 Sep in China
    (china(2023, 12, 1), False),
])
def test_rejects_application_after_material_deadline(now, ok):
    assert ("INTAKE-DEADLINE" not in rule_ids(application(), now=now)) is ok


def test_deadline_follows_an_approved_change():
    from services.intake.plan import SpecialApproval
    plan = published_plan()
    plan.change_deadline("R22", date(2023, 9, 15), now=china(2023, 8, 1),
                         approval=SpecialApproval("局长", "系统故障", china(2023, 7, 31)))
    assert "INTAKE-DEADLINE" not in rule_ids(application(), now=china(2023, 9, 10), plan=plan)
    assert "INTAKE-DEADLINE" in rule_ids(application(), now=china(2023, 9, 16), plan=plan)


# ------------------------------------------------------------------- INTAKE-MATERIALS-COMPLETE
@pytest.mark.parametrize("kw,ok", [
    ({}, True),
    (dict(materials=materials("education_certificate", "work_experience_proof", "performance_materials"),
          current_title=None), True),
    (dict(materials=materials("education_certificate", "work_experience_proof", "performance_materials")),
     False),                                                        # current title without its certificate
    (dict(materials=materials("education_certificate", "work_experience_proof", "current_title_certificate")),
     False),                                                        # no 业绩材料
    (dict(materials=()), False),
    (dict(achievements=(Achievement("论文", date(2022, 1, 1), representative=False),)), False),
    (dict(achievements=()), False),
])
def test_required_materials_are_complete(kw, ok):
    assert ("INTAKE-MATERIALS-COMPLETE" not in rule_ids(application(**kw))) is ok


def test_incomplete_materials_name_every_missing_kind():
    a = assess(application(materials=()), PLAN, now=IN_TIME)
    kinds = {v.context.get("kind") for v in a.violations if v.rule.id == "INTAKE-MATERIALS-COMPLETE"}
    assert kinds == {"education_certificate", "work_experience_proof", "performance_materials",
                     "current_title_certificate"}


# ------------------------------------------------------------------- INTAKE-CLASSIFIED
@pytest.mark.parametrize("classification,title,ok", [
    ("public", "业绩证明.pdf", True),
    ("internal", "业绩证明.pdf", True),
    ("绝密", "业绩证明.pdf", False),
    ("机密", "业绩证明.pdf", False),
    ("秘密", "业绩证明.pdf", False),
    ("涉密", "业绩证明.pdf", False),
    ("public", "某工程（机密★5年）图纸.pdf", False),
    ("public", "涉密项目验收报告.pdf", False),
])
def test_classified_material_is_refused(classification, title, ok):
    extra = Material(kind="other", title=title, content_hash="sha256:" + "f" * 64,
                     classification=classification)
    app = application(materials=REVIEW_MATERIALS + (extra,))
    assert ("INTAKE-CLASSIFIED" not in rule_ids(app)) is ok
    assert len(app.without_classified_materials().materials) == len(REVIEW_MATERIALS) + (1 if ok else 0)


def test_classified_material_does_not_count_towards_completeness():
    mats = tuple(replace(m, classification="机密") if m.kind == "performance_materials" else m
                 for m in REVIEW_MATERIALS)
    ids = rule_ids(application(materials=mats))
    assert {"INTAKE-CLASSIFIED", "INTAKE-MATERIALS-COMPLETE"} <= ids


# ------------------------------------------------------------------- INTAKE-REAPPLICANT
FAILED_2022 = Attempt(year=2022, committee_code="R22", title="工程师", outcome="failed",
                      decided_on=date(2022, 11, 20))
OLD = Achievement("旧业绩", date(2022, 5, 1), representative=True)
NEW = Achievement("新业绩", date(2023, 3, 1), representative=True)


@pytest.mark.parametrize("arch,achievements,ok", [
    (None, (OLD,), True),                                               # no archive: first-time applicant
    (archive(), (OLD,), True),
    (archive(attempts=[FAILED_2022], achievements=[OLD]), (OLD,), False),
    (archive(attempts=[FAILED_2022], achievements=[OLD]), (OLD, NEW), True),   # new in the application
    (archive(attempts=[FAILED_2022], achievements=[OLD, NEW]), (OLD,), True),  # new in the archive
    (archive(attempts=[replace(FAILED_2022, year=2021, decided_on=date(2021, 11, 1))],
             achievements=[OLD]), (OLD,), True),                               # failed two years ago
    (archive(attempts=[replace(FAILED_2022, outcome="passed")], achievements=[OLD]), (OLD,), True),
    (archive(attempts=[FAILED_2022],
             achievements=[replace(NEW, dated=date(2022, 11, 20))]), (OLD,), False),  # same day is not after
])
def test_reapplicant_who_failed_last_year_needs_new_achievements(arch, achievements, ok):
    ids = rule_ids(application(achievements=achievements), archive=arch)
    assert ("INTAKE-REAPPLICANT" not in ids) is ok


# ------------------------------------------------------------------- INTAKE-EXAM-ONLY
@pytest.mark.parametrize("committee,title,specialty,ok", [
    ("R32", "工程师", "安全科学应用", True),
    ("R32", "工程师", "安全工程", False),            # R32 备注: 安全工程专业中级为考试取得
    ("R32", "高级工程师", "安全工程", True),        # the senior title is still recommended
])
def test_exam_only_specialty_is_not_reviewed(committee, title, specialty, ok):
    ids = rule_ids(application(committee_code=committee, title=title, specialty=specialty))
    assert ("INTAKE-EXAM-ONLY" not in ids) is ok


# ------------------------------------------------------------------- INTAKE-RECOGNITION (认定)
@pytest.mark.parametrize("basis,ok", [
    ("aid_dispatch_return", True),
    ("postdoc_exit", True),
    ("interprovincial_transfer", True),
    (None, False),
    ("promotion", False),
])
def test_recognition_is_for_returnees_postdocs_and_transfers(basis, ok):
    app = application(path="recognition", recognition_basis=basis,
                      materials=REVIEW_MATERIALS + materials("recognition_proof"))
    a = assess(app, PLAN, now=IN_TIME)
    assert a.accepted is ok
    if ok:
        assert a.effective_path == "recognition" and a.recognition_basis == basis


def test_recognition_needs_its_proof():
    app = application(path="recognition", recognition_basis="postdoc_exit")
    assert "INTAKE-MATERIALS-COMPLETE" in rule_ids(app)


# ------------------------------------------------------------------- every violation at once
def test_refusal_lists_every_failed_rule_not_only_the_first():
    bad = application(
        applicant=Applicant(identity_number="123", name="李四"),
        committee_code="R01", title="工程师", specialty="水利规划设计",
        employer=employer(location="outside", self_appraisal_unit=True),
        materials=(Material("other", "x", "sha256:" + "0" * 64, "绝密"),), achievements=())
    with pytest.raises(RuleRefused) as err:
        assess_or_refuse(bad, PLAN, now=china(2023, 11, 1),
                         archive=archive(attempts=[FAILED_2022]))
    ids = {v["rule"] for v in err.value.details["violations"]}
    assert ids == {"INTAKE-IDENTITY", "INTAKE-CLASSIFIED", "INTAKE-MATERIALS-COMPLETE", "INTAKE-TITLE",
                   "INTAKE-SPECIALTY", "INTAKE-SCOPE", "INTAKE-EXCLUDED-SELF-APPRAISAL",
                   "INTAKE-DEADLINE", "INTAKE-REAPPLICANT"}
    assert err.value.status == 422
    assert "李四" not in str(err.value.as_dict())


# ------------------------------------------------------------------- D01 备注
@pytest.mark.parametrize("specialty,noted", [("建筑施工", True), ("建筑结构", False)])
def test_d01_senior_building_construction_is_told_it_may_go_straight_to_r03(specialty, noted):
    a = assess(application(committee_code="D01", title="高级工程师", specialty=specialty,
                           employer=employer(industry="construction")), PLAN, now=IN_TIME)
    assert a.accepted and a.effective_path == "recommendation"
    assert any("R03" in n for n in a.notes) is noted
