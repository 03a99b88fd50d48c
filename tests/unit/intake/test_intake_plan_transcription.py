"""The 2023 plan file against the notice's three tables (虞人社职〔2023〕1号 附件)."""
from __future__ import annotations

from datetime import date

import pytest

from services.intake.plan import load_plan_year

pytestmark = pytest.mark.unit

# code: (review month, deadline month, scope code, unit, phones, reviewed titles, recommended titles)
# read straight off the notice's tables.
EXPECTED = {
    "R01": (12, 10, "shaoxing_city", "绍兴市教育局", ["85221561"], ["高级教师", "高级实验师", "副研究员"], []),
    "R02": (12, 11, "shaoxing_city", "绍兴市卫健委", ["85080558"], None, []),
    "R03": (11, 9, "shaoxing_city", "绍兴市人社局", ["81503329"], ["高级工程师"], []),
    "R04": (8, 7, "shaoxing_city", "绍兴市委宣传部", ["85116900"], ["助理研究员"], ["副研究员"]),
    "R05": (8, 7, "shaoxing_city", "绍兴市委宣传部", ["85116900"], ["记者", "编辑"], ["主任记者", "副编审", "主任编辑"]),
    "R06": (10, 9, "shaoxing_city", "绍兴市委党校", ["88129388"], ["讲师", "助理研究员"], ["副教授", "副研究员", "高级讲师"]),
    "R07": (11, 8, "shaoxing_city", "绍兴市经信局", ["85157014", "85168755"], ["工程师"], []),
    "R08": (11, 8, "shaoxing_city", "绍兴市经信局", ["85157014", "85168755"], ["工程师"], []),
    "R09": (11, 8, "shaoxing_city", "绍兴市经信局", ["85157014", "85168755"], ["工程师"], ["高级工程师"]),
    "R10": (11, 8, "shaoxing_city", "绍兴市经信局", ["85157014", "85168755"], ["工程师"], ["高级工程师"]),
    "R11": (11, 8, "shaoxing_city", "绍兴市经信局", ["85157014", "85168755"], ["工程师"], ["高级工程师"]),
    "R12": (11, 8, "shaoxing_city", "绍兴市经信局", ["85157014", "85168755"], ["工程师"], ["高级工程师"]),
    "R13": (8, 6, "shaoxing_city", "绍兴市科技局", ["89175651"], ["助理研究员"], ["副研究员"]),
    "R14": (10, 9, "shaoxing_city", "绍兴市司法局", ["85179131"], ["三级律师"], ["二级律师"]),
    "R15": (10, 9, "shaoxing_city", "绍兴市司法局", ["85179131"], ["三级公证员"], ["二级公证员"]),
    "R16": (11, 10, "shaoxing_city", "绍兴市司法局", ["85179131"], ["三级司法鉴定人"], ["二级司法鉴定人"]),
    "R17": (10, 9, "shaoxing_city", "绍兴市人社局", ["81503329"], [], ["高级经济师"]),
    "R18": (10, 9, "shaoxing_city", "绍兴市自然资源和规划局（林业局）", ["85170351"], ["工程师"], ["高级工程师"]),
    "R19": (10, 9, "shaoxing_city", "绍兴市自然资源和规划局（林业局）", ["85170351"], ["工程师"], ["高级工程师"]),
    "R20": (10, 9, "shaoxing_city", "绍兴市生态环境局", ["88096909"], ["工程师"], ["高级工程师"]),
    "R21": (11, 9, "shaoxing_city", "绍兴市交通运输局", ["88265196"], ["工程师"], ["高级工程师"]),
    "R22": (10, 8, "shaoxing_city", "绍兴市水利局", ["85163392"], ["工程师"], ["高级工程师"]),
    "R23": (9, 9, "shaoxing_city", "绍兴市农业农村局", ["85200071"], ["工程师"], ["高级工程师"]),
    "R24": (9, 9, "shaoxing_city", "绍兴市农业农村局", ["85200071"], ["农艺师", "畜牧师", "兽医师"],
            ["高级农艺师", "高级畜牧师", "高级兽医师"]),
    "R25": (8, 8, "shaoxing_city", "绍兴市文化广电旅游局", ["89180851"], ["工程师"], ["高级工程师"]),
    "R26": (9, 9, "shaoxing_city", "绍兴市文化广电旅游局", ["89180851"], ["馆员"], ["副研究馆员"]),
    "R27": (9, 9, "shaoxing_city", "绍兴市文化广电旅游局", ["89180851"], ["馆员"], ["副研究馆员"]),
    "R28": (9, 9, "shaoxing_city", "绍兴市文化广电旅游局", ["89180851"], None, ["高级"]),
    "R29": (9, 9, "shaoxing_city", "绍兴市市场监督管理局", ["88132729", "88615220"], ["工程师"], ["高级工程师"]),
    "R30": (8, 8, "shaoxing_city", "绍兴市邮政管理局", ["81508715"], ["工程师"], ["高级工程师"]),
    "R31": (11, 9, "shaoxing_city", "新昌县人力社保局", ["86023080"], ["工程师"], ["高级工程师"]),
    "R32": (10, 9, "shaoxing_city", "绍兴市应急管理局", ["85161790"], ["工程师"], ["高级工程师"]),
    "D01": (12, 9, "shangyu_district", "上虞区人力社保局", ["82120302"], ["工程师"], ["高级工程师"]),
    "D02": (12, 11, "shangyu_district", "上虞区教育体育局", ["82136572"], ["一级教师", "实验师", "助理研究员", "讲师"],
            ["高级教师", "高级实验师", "副研究员", "高级讲师"]),
    "S01": (11, 8, "survey_design_firms", "绍兴市勘察设计行业协会", ["85748885"], ["工程师"], ["高级工程师"]),
    "S02": (11, 10, "shaoxing_city", "绍兴建筑产业现代化发展联盟", ["89176889"], ["工程师"], []),
    "S03": (12, 10, "shanghai_based_construction_firms", "上海市绍兴商会", ["021-31269545"], ["工程师"], []),
    "S04": (12, 10, "shaoxing_city", "绍兴市黄酒行业协会", ["17705858490"], ["工程师"], []),
    "S05": (11, 10, "shaoxing_city", "绍兴市工艺美术行业协会", ["88400098"], ["工艺美术师"], ["高级工艺美术师"]),
    "S06": (10, 9, "hangzhou_bay_shangyu_zone", "绍兴市上虞区杭州湾综合服务中心", ["82313758"], ["工程师"], []),
    "S07": (11, 10, "shangyu_district", "绍兴市上虞区机械电机工程师协会", ["82206622", "82120302"], ["工程师"], []),
}

INFERRED_CONTACT = {"R05", "R08", "R09", "R10", "R11", "R12", "R14", "R15", "R16", "R19", "R24",
                    "R26", "R27", "R28"}


@pytest.fixture(scope="module")
def plan():
    return load_plan_year(2023)


def test_plan_has_32_main_2_delegated_and_7_socialized_committees(plan):
    assert [c.code for c in plan.by_category("main")] == [f"R{i:02d}" for i in range(1, 33)]
    assert [c.code for c in plan.by_category("delegated")] == ["D01", "D02"]
    assert [c.code for c in plan.by_category("socialized")] == [f"S{i:02d}" for i in range(1, 8)]


def test_plan_is_loaded_as_a_draft_of_2023_to_finish_by_year_end(plan):
    assert plan.year == 2023
    assert plan.state == "draft"
    assert plan.review_completion_deadline == date(2023, 12, 31)


@pytest.mark.parametrize("code", sorted(EXPECTED))
def test_committee_row_matches_the_notice(plan, code):
    review, deadline, scope, unit, phones, reviewed, recommended = EXPECTED[code]
    c = plan.committee(code)
    assert (c.review_month, c.deadline_month) == (review, deadline)
    assert c.scope.code == scope
    assert c.contact.unit == unit and list(c.contact.phones) == phones
    assert [t.name for t in c.titles if t.recommend_only] == recommended
    if reviewed is not None:
        assert [t.name for t in c.titles if not t.recommend_only] == reviewed
    assert c.name.endswith("评审委员会")
    assert c.specialties and all(s.strip() for s in c.specialties)


def test_material_deadline_is_the_last_day_of_the_deadline_month(plan):
    assert plan.committee("R13").material_deadline == date(2023, 6, 30)
    assert plan.committee("R22").material_deadline == date(2023, 8, 31)
    assert plan.committee("D02").material_deadline == date(2023, 11, 30)


def test_every_contact_taken_from_a_merged_cell_is_marked_inferred(plan):
    marked = {c.code for c in plan.committees.values() if "contact" in c.inferred_from_merged_cell}
    assert marked == INFERRED_CONTACT
    for code in marked:
        assert plan.committee(code).provenance


def test_r08_note_continued_across_the_page_break_is_kept_and_marked(plan):
    r08 = plan.committee("R08")
    assert r08.notes.text == "社会化评价、民营企业自主评价评审范围除外"
    assert "notes" in r08.inferred_from_merged_cell
    assert r08.notes.codes() == {"excludes_socialized_and_private_self_evaluation_units"}


def test_phone_run_into_the_row_number_is_split_for_the_justice_bureau(plan):
    assert {plan.committee(c).contact.phones for c in ("R14", "R15", "R16")} == {("85179131",)}
    assert plan.committee("R15").seq == 15


@pytest.mark.parametrize("code,codes", [
    ("R01", {"excludes_self_appraisal_units"}),
    ("R02", {"excludes_self_appraisal_units"}),
    ("D02", {"excludes_self_appraisal_units"}),
    ("R07", {"excludes_socialized_and_private_self_evaluation_units"}),
    ("S06", {"private_industrial_enterprises_only"}),
    ("S07", {"private_industrial_enterprises_only"}),
    ("R32", {"exam_only"}),
    ("D01", {"senior_requires_intermediate_recommendation"}),
])
def test_notes_are_structured_restrictions(plan, code, codes):
    assert plan.committee(code).notes.codes() == codes


def test_committees_without_a_note_have_none(plan):
    with_notes = {c.code for c in plan.committees.values() if c.notes}
    assert with_notes == {"R01", "R02", "R07", "R08", "R32", "D01", "D02", "S06", "S07"}


def test_r32_marks_safety_engineering_intermediate_as_exam_only(plan):
    r = plan.committee("R32").restriction("exam_only")
    assert r.params["specialties"] == ["安全工程"] and r.params["levels"] == ["intermediate"]
    assert plan.committee("R32").notes.text == "安全工程专业中级为考试取得"


def test_d01_senior_recommendation_needed_except_building_construction(plan):
    r = plan.committee("D01").restriction("senior_requires_intermediate_recommendation")
    assert r.params["except_specialties"] == ["建筑施工"]
    assert plan.committee("D01").notes.text == "除建筑施工专业外均需中评委评审推荐"


def test_specialty_lists_split_the_printed_cells(plan):
    assert len(plan.committee("D01").specialties) == 16
    assert len(plan.committee("R19").specialties) == 13
    assert len(plan.committee("R28").specialties) == 21
    assert len(plan.committee("S01").specialties) == 12
    assert plan.committee("R11").specialties_open is True
    assert plan.committee("R22").specialties_open is False


def test_health_titles_expand_the_printed_compound_name(plan):
    names = [t.name for t in plan.committee("R02").titles]
    assert len(names) == 12 and "副主任护师" in names and "主任中医师" in names
    assert not any(t.recommend_only for t in plan.committee("R02").titles)


def test_art_committee_reviews_17_third_grade_titles_and_recommends_senior(plan):
    titles = plan.committee("R28").titles
    assert sum(1 for t in titles if not t.recommend_only and t.name.startswith("三级")) == 17


def test_no_deadline_is_after_its_review_month_or_the_year_end(plan):
    for c in plan.committees.values():
        assert c.deadline_month <= c.review_month
        assert c.material_deadline <= plan.review_completion_deadline


def test_every_plan_title_has_a_known_level(plan):
    from services.intake.initial_determination import level_of_title
    missing = {t.name for c in plan.committees.values() for t in c.titles if level_of_title(t.name) is None}
    assert missing == set()


def test_plan_dict_lists_every_committee_with_the_issue_fields(plan):
    d = plan.as_dict()
    assert d["counts"] == {"main": 32, "delegated": 2, "socialized": 7}
    first = d["committees"][0]
    for key in ("code", "category", "seq", "name", "titles", "specialties", "scope", "review_month",
                "deadline_month", "contact", "notes"):
        assert key in first
    assert [c["code"] for c in d["committees"]][:3] == ["R01", "R02", "R03"]
    assert d["committees"][-1]["code"] == "S07"
