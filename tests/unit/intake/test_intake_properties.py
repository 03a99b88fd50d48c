"""Property-based tests (hypothesis) of the pure intake domain."""
from __future__ import annotations

from datetime import date, datetime

import pytest
from hypothesis import given, settings, strategies as st

from shared.clock import CHINA
from services.intake.application import (
    EDUCATION_LEVELS, INDUSTRIES, LOCATIONS, OWNERSHIPS, PATHS, Achievement, Education,
    Employer, Material)
from services.intake.rules import assess, identity_check_char, identity_problems
from services.intake.plan import deadline_instant
from intake_builders import application, published_plan

pytestmark = pytest.mark.unit

PLAN = published_plan()
TODAY = date(2023, 7, 1)

regions = st.sampled_from(["110101", "330604", "330602", "310115", "440305", "650102"])
births = st.dates(min_value=date(1930, 1, 1), max_value=date(2005, 12, 31))
seqs = st.integers(0, 999).map(lambda i: f"{i:03d}")


@st.composite
def identity_numbers(draw):
    first17 = draw(regions) + draw(births).strftime("%Y%m%d") + draw(seqs)
    return first17 + identity_check_char(first17)


@given(identity_numbers())
def test_every_well_formed_identity_number_is_accepted(number):
    assert identity_problems(number, TODAY) == []


@given(identity_numbers(), st.integers(0, 17), st.sampled_from("0123456789X"))
def test_any_single_character_change_of_an_identity_number_is_refused(number, pos, char):
    if number[pos] == char or (pos < 17 and char == "X"):
        return
    changed = number[:pos] + char + number[pos + 1:]
    assert identity_problems(changed, TODAY) != []


@given(st.text(max_size=30))
def test_arbitrary_text_never_crashes_the_identity_check(text):
    assert isinstance(identity_problems(text, TODAY), list)


@given(st.datetimes(min_value=datetime(2023, 1, 1), max_value=datetime(2024, 3, 1),
                    timezones=st.just(CHINA)))
def test_material_deadline_holds_until_the_end_of_the_month_in_china(now):
    a = assess(application(), PLAN, now=now)
    late = "INTAKE-DEADLINE" in a.rule_ids
    assert late is (now >= datetime(2023, 9, 1, tzinfo=CHINA))
    assert deadline_instant(PLAN.committee("R22").material_deadline) == datetime(2023, 9, 1, tzinfo=CHINA)


codes = st.sampled_from(sorted(PLAN.committees) + ["R00", "X99", ""])
titles = st.sampled_from(sorted({t.name for c in PLAN.committees.values() for t in c.titles})
                         + ["助理工程师", "技术员", "工程师", "二级演员", "x"])
specialties = st.sampled_from(sorted({s for c in PLAN.committees.values() for s in c.specialties})
                              + ["安全工程", "会计", "x"])


@st.composite
def applications(draw):
    emp = Employer(name="某单位", location=draw(st.sampled_from(sorted(LOCATIONS))),
                   ownership=draw(st.sampled_from(sorted(OWNERSHIPS))),
                   industry=draw(st.sampled_from(sorted(INDUSTRIES))),
                   self_appraisal_unit=draw(st.booleans()),
                   socialized_evaluation_unit=draw(st.booleans()),
                   private_self_evaluation_unit=draw(st.booleans()))
    edu = Education(level=draw(st.sampled_from(sorted(EDUCATION_LEVELS))), major="m",
                    major_matches_specialty=draw(st.booleans()),
                    graduated_on=draw(st.dates(date(1990, 1, 1), date(2023, 12, 31))))
    mats = tuple(Material(kind=k, title="t", content_hash="h",
                          classification=draw(st.sampled_from(["public", "internal", "机密"])))
                 for k in draw(st.lists(st.sampled_from(
                     ["education_certificate", "work_experience_proof", "performance_materials",
                      "current_title_certificate", "recognition_proof", "other"]), max_size=6)))
    achs = tuple(Achievement("a", draw(st.dates(date(2018, 1, 1), date(2023, 12, 31))), draw(st.booleans()))
                 for _ in range(draw(st.integers(0, 3))))
    return application(
        path=draw(st.sampled_from(sorted(PATHS))), committee_code=draw(codes), title=draw(titles),
        specialty=draw(specialties), employer=emp, education=edu,
        professional_work_years=draw(st.floats(0, 40)),
        current_title=draw(st.one_of(st.none(), titles)),
        recognition_basis=draw(st.one_of(st.none(), st.sampled_from(["postdoc_exit", "bogus"]))),
        materials=mats, achievements=achs)


@settings(max_examples=300, deadline=None)
@given(applications(), st.datetimes(min_value=datetime(2023, 1, 1), max_value=datetime(2023, 12, 31),
                                    timezones=st.just(CHINA)))
def test_assessment_never_crashes_and_is_accepted_only_without_violations(app, now):
    a = assess(app, PLAN, now=now)
    assert a.accepted == (not a.violations)
    if a.accepted:
        assert not any(m.is_classified for m in app.materials)
        if app.path == "initial_determination":
            assert a.determination is not None
        else:
            assert PLAN.committee(app.committee_code) is not None
    for v in a.violations:
        d = v.as_dict()
        assert d["rule"].startswith("INTAKE-") and d["clause"]
        assert app.applicant.identity_number not in str(d)


@given(identity_numbers())
def test_masked_identity_number_hides_birth_date_and_sequence(number):
    from shared.personal import mask_identity
    masked = mask_identity(number)
    assert masked[:6] == number[:6] and masked[-4:] == number[-4:] and number[6:14] not in masked[6:14]


@given(identity_numbers())
def test_applicant_key_is_stable_and_does_not_contain_the_number(number):
    from shared.personal import applicant_key
    k = applicant_key(number, b"s")
    assert k == applicant_key(number.lower(), b"s") and number not in k
    assert k != applicant_key(number, b"t")


def _plan_2023_data():
    import yaml
    from services.intake.plan import plan_path
    return yaml.safe_load(plan_path(2023).read_text(encoding="utf-8"))


PLAN_2023_DATA = _plan_2023_data()

plan_json = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 3000) | st.text(max_size=8) | st.dates(),
    lambda c: st.lists(c, max_size=3) | st.dictionaries(
        st.sampled_from(["year", "committees", "code", "category", "seq", "name", "titles",
                         "specialties", "scope", "review_month", "deadline_month", "contact",
                         "notes", "phones", "unit", "restrictions", "text", "recommend_only",
                         "inferred_from_merged_cell", "fields", "material_deadline", "state"]),
        c, max_size=6),
    max_leaves=25)


@settings(max_examples=400, deadline=None)
@given(plan_json)
def test_any_plan_document_loads_or_is_refused_naming_a_field(data):
    from services.intake.plan import PlanFileError, plan_from_dict
    try:
        plan = plan_from_dict(data)
    except PlanFileError as exc:
        assert ":" in str(exc)
    else:
        assert plan.committees


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 40), st.sampled_from(["code", "category", "seq", "titles", "specialties",
                                            "scope", "review_month", "deadline_month", "contact",
                                            "notes", "inferred_from_merged_cell", "fields",
                                            "material_deadline"]),
       st.none() | st.booleans() | st.integers(-3, 30) | st.text(max_size=5)
       | st.lists(st.text(max_size=3) | st.integers(), max_size=2)
       | st.dictionaries(st.sampled_from(["code", "text", "unit", "phones", "restrictions"]),
                         st.text(max_size=3) | st.integers() | st.lists(st.integers(), max_size=2),
                         max_size=3))
def test_the_2023_plan_with_one_field_broken_loads_or_is_refused_naming_a_field(index, key, value):
    import copy
    from services.intake.plan import PlanFileError, plan_from_dict
    data = copy.deepcopy(PLAN_2023_DATA)
    data["committees"][index][key] = value
    try:
        plan_from_dict(data)
    except PlanFileError as exc:
        assert f"committees[{index}]" in str(exc) or "plan." in str(exc)
