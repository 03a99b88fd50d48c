"""初定 (二(三)): the table as data, the private-industrial mismatch allowance, re-determination."""
from __future__ import annotations

from datetime import date

import pytest

from services.intake.application import Education, PreviousDetermination
from services.intake.initial_determination import default_table, entitled_level
from services.intake.rules import assess
from intake_builders import IN_TIME, determination, employer, published_plan

pytestmark = pytest.mark.unit

PLAN = published_plan()
TODAY = date(2023, 7, 1)


def edu(level, graduated_on=date(2020, 7, 1), matches=True):
    return Education(level=level, major="某专业", major_matches_specialty=matches, graduated_on=graduated_on)


# education, years, graduated, requested title, granted level or refusing rule
@pytest.mark.parametrize("level,years,graduated,title,outcome", [
    ("secondary_vocational", 1, date(2022, 6, 30), "技术员", "yuan"),            # 中专 + 1 → 员级
    ("secondary_vocational", 0.5, date(2022, 12, 30), "技术员", "INTAKE-INITIAL-QUALIFICATION"),
    ("junior_college", 3, date(2020, 6, 30), "助理工程师", "assistant"),         # 大专 + 3 → 助理级
    ("junior_college", 2, date(2021, 6, 30), "助理工程师", "INTAKE-INITIAL-QUALIFICATION"),
    ("junior_college", 3, date(2020, 6, 30), "技术员", "yuan"),                  # below entitlement: allowed
    ("bachelor", 1, date(2022, 6, 30), "助理工程师", "assistant"),               # 本科 + 1 → 助理级
    ("bachelor", 0.5, date(2022, 12, 30), "助理工程师", "INTAKE-INITIAL-QUALIFICATION"),
    ("bachelor", 8, date(2015, 6, 30), "工程师", "INTAKE-INITIAL-QUALIFICATION"),  # 本科 never → 中级
    ("second_bachelor", 0, date(2023, 6, 30), "助理工程师", "assistant"),        # 第二学士 → 助理级
    ("postgraduate_class", 0, date(2023, 6, 30), "助理工程师", "assistant"),     # 研究生班 → 助理级
    ("master", 3, date(2022, 6, 30), "工程师", "intermediate"),                  # 硕士 + 3, 1 after degree
    ("master", 3, date(2023, 3, 1), "工程师", "INTAKE-INITIAL-QUALIFICATION"),   # < 1 year after degree
    ("master", 2, date(2021, 6, 30), "工程师", "INTAKE-INITIAL-QUALIFICATION"),
    ("master", 0, date(2023, 6, 30), "助理工程师", "assistant"),
    ("doctorate", 0, date(2023, 6, 30), "工程师", "intermediate"),               # 博士 → 中级
])
def test_initial_determination_table(level, years, graduated, title, outcome):
    a = assess(determination(education=edu(level, graduated), professional_work_years=years, title=title),
               PLAN, now=IN_TIME)
    if outcome.startswith("INTAKE-"):
        assert outcome in a.rule_ids and a.determination is None
    else:
        assert a.accepted, a.rule_ids
        assert a.determination.level == outcome and a.determination.title == title


def test_granted_determination_names_level_title_and_series():
    a = assess(determination(), PLAN, now=IN_TIME)
    d = a.determination.as_dict()
    assert d["level"] == "assistant" and d["level_zh"] == "助理级"
    assert d["title"] == "助理工程师" and d["series"] == "engineering" and d["redetermination"] is False


def test_series_is_found_from_the_title_when_not_given():
    a = assess(determination(series=None, title="助理农艺师", specialty="农学"), PLAN, now=IN_TIME)
    assert a.accepted and a.determination.series == "agronomy"


@pytest.mark.parametrize("ownership,industry,years,outcome", [
    ("private", "industrial", 2, "assistant"),                 # mismatch + 1 year in 民营工业企业
    ("private", "industrial", 1, "INTAKE-INITIAL-QUALIFICATION"),
    ("private", "construction", 5, "INTAKE-INITIAL-MAJOR"),    # 建筑 excluded
    ("private", "water_conservancy", 5, "INTAKE-INITIAL-MAJOR"),
    ("private", "transport", 5, "INTAKE-INITIAL-MAJOR"),
    ("private", "commerce_service", 5, "INTAKE-INITIAL-MAJOR"),
    ("state", "industrial", 5, "INTAKE-INITIAL-MAJOR"),        # not private
])
def test_mismatched_major_needs_a_private_industrial_employer_and_one_more_year(ownership, industry, years, outcome):
    a = assess(determination(employer=employer(ownership=ownership, industry=industry),
                             education=edu("bachelor", date(2018, 6, 30), matches=False),
                             professional_work_years=years), PLAN, now=IN_TIME)
    if outcome.startswith("INTAKE-"):
        assert outcome in a.rule_ids
    else:
        assert a.accepted and a.determination.level == outcome
        assert a.determination.mismatch_extra_years == 1 and a.determination.required_work_years == 2


@pytest.mark.parametrize("previous,level,years,graduated,title,ok", [
    # a later higher degree allows a new determination
    (PreviousDetermination("assistant", "bachelor"), "master", 3, date(2022, 6, 30), "工程师", True),
    (PreviousDetermination("assistant", "bachelor"), "doctorate", 0, date(2023, 6, 30), "工程师", True),
    # determined below the degree (员级 for a bachelor) may be re-determined
    (PreviousDetermination("yuan", "bachelor"), "bachelor", 2, date(2021, 6, 30), "助理工程师", True),
    # nothing to lift
    (PreviousDetermination("assistant", "bachelor"), "bachelor", 5, date(2018, 6, 30), "助理工程师", False),
    (PreviousDetermination("intermediate", "doctorate"), "doctorate", 1, date(2022, 6, 30), "工程师", False),
])
def test_redetermination_after_a_higher_degree_or_a_level_below_the_degree(previous, level, years, graduated, title, ok):
    a = assess(determination(previous_determination=previous, education=edu(level, graduated),
                             professional_work_years=years, title=title), PLAN, now=IN_TIME)
    assert ("INTAKE-REDETERMINATION" not in a.rule_ids) is ok
    if ok:
        assert a.accepted and a.determination.redetermination is True


def test_holding_the_requested_level_already_is_refused():
    a = assess(determination(current_title="助理工程师"), PLAN, now=IN_TIME)
    assert "INTAKE-REDETERMINATION" in a.rule_ids


@pytest.mark.parametrize("specialty,ok", [("机电制造", True), ("会计", False), ("经济", False),
                                          ("卫生专业", False)])
def test_exam_only_specialties_are_not_initially_determined(specialty, ok):
    a = assess(determination(specialty=specialty), PLAN, now=IN_TIME)
    assert ("INTAKE-EXAM-ONLY" not in a.rule_ids) is ok


@pytest.mark.parametrize("title,ok", [("助理工程师", True), ("工程师", False)])
def test_safety_engineering_is_exam_only_at_the_intermediate_level(title, ok):
    a = assess(determination(specialty="安全工程", title=title, professional_work_years=0,
                             education=edu("doctorate", date(2023, 6, 30))), PLAN, now=IN_TIME)
    assert ("INTAKE-EXAM-ONLY" not in a.rule_ids) is ok


@pytest.mark.parametrize("location,ok", [("shangyu", True), ("hangzhou_bay_shangyu_zone", True),
                                         ("keqiao", False), ("outside", False)])
def test_initial_determination_is_for_employers_in_the_district(location, ok):
    a = assess(determination(employer=employer(location=location)), PLAN, now=IN_TIME)
    assert ("INTAKE-SCOPE" not in a.rule_ids) is ok


def test_initial_determination_needs_no_committee_nor_published_plan():
    a = assess(determination(), None, now=IN_TIME)
    assert a.accepted and a.committee_code is None


def test_unknown_title_for_determination_is_refused():
    a = assess(determination(series=None, title="高级工程师"), PLAN, now=IN_TIME)
    assert "INTAKE-TITLE" in a.rule_ids and a.determination is None


def test_entitlement_reports_why_no_level_is_granted():
    t = default_table()
    e = entitled_level(t, education="bachelor", work_years=0.2, graduated_on=date(2023, 3, 1), today=TODAY,
                       major_matches=True, ownership="state", industry="industrial")
    assert e.level is None and e.reason == "not_enough_work_years" and e.required_years == 1
    e = entitled_level(t, education="phd", work_years=9, graduated_on=date(2013, 3, 1), today=TODAY,
                       major_matches=True, ownership="state", industry="industrial")
    assert e.reason == "education_not_in_table"
