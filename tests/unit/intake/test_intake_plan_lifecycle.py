"""Plan state draft → published, and frozen deadlines (三(二))."""
from __future__ import annotations

from datetime import date, timedelta

import pytest

from shared.errors import Conflict, NotFound, RuleRefused
from services.intake.plan import (
    PlanFileError, SpecialApproval, load_plan, load_plan_year, plan_from_dict)
from intake_builders import china

pytestmark = pytest.mark.unit

NOW = china(2023, 6, 10)


def approval(**kw):
    base = dict(approved_by="区人力社保局 王科长", reason="台风影响材料报送", approved_at=china(2023, 6, 9))
    base.update(kw)
    return SpecialApproval(**base)


def test_publishing_a_draft_plan_yields_plan_published():
    plan = load_plan_year(2023)
    event = plan.publish(NOW)
    assert plan.state == "published" and plan.published_at == NOW
    assert event.year == 2023 and len(event.committee_codes) == 41
    assert event.payload()["published_at"] == NOW.isoformat()


def test_publishing_twice_is_a_conflict():
    plan = load_plan_year(2023)
    plan.publish(NOW)
    with pytest.raises(Conflict):
        plan.publish(NOW + timedelta(days=1))


def test_draft_deadline_moves_without_approval():
    plan = load_plan_year(2023)
    change = plan.change_deadline("R22", date(2023, 9, 15), now=NOW)
    assert change.old_deadline == date(2023, 8, 31) and change.new_deadline == date(2023, 9, 15)
    assert plan.committee("R22").material_deadline == date(2023, 9, 15)
    assert plan.committee("R22").deadline_month == 9
    assert change.approval is None and change.plan_state == "draft"


def test_refuses_deadline_change_of_a_published_plan_without_special_approval():
    plan = load_plan_year(2023)
    plan.publish(NOW)
    with pytest.raises(RuleRefused) as err:
        plan.change_deadline("R22", date(2023, 9, 15), now=NOW)
    assert [v.rule.id for v in err.value.violations] == ["INTAKE-PLAN-DEADLINE-FROZEN"]
    assert err.value.violations[0].rule.clause == "三(二)"
    assert plan.committee("R22").material_deadline == date(2023, 8, 31)
    assert plan.deadline_changes == []


@pytest.mark.parametrize("bad", [
    dict(approved_by=" "),
    dict(reason=""),
    dict(approved_at=china(2023, 6, 11)),
])
def test_refuses_deadline_change_with_an_incomplete_approval(bad):
    plan = load_plan_year(2023)
    plan.publish(NOW)
    with pytest.raises(RuleRefused) as err:
        plan.change_deadline("R22", date(2023, 9, 15), now=NOW, approval=approval(**bad))
    assert {v.rule.id for v in err.value.violations} == {"INTAKE-PLAN-DEADLINE-FROZEN"}


def test_published_deadline_moves_with_a_recorded_special_approval():
    plan = load_plan_year(2023)
    plan.publish(NOW)
    change = plan.change_deadline("R22", date(2023, 9, 15), now=NOW, approval=approval())
    payload = change.payload()
    assert payload["approval"]["approved_by"] == "区人力社保局 王科长"
    assert payload["approval"]["reason"] == "台风影响材料报送"
    assert payload["old_deadline"] == "2023-08-31" and payload["new_deadline"] == "2023-09-15"
    assert plan.deadline_changes == [change]


def test_refuses_a_deadline_after_the_year_end_and_lists_every_failed_rule():
    plan = load_plan_year(2023)
    plan.publish(NOW)
    with pytest.raises(RuleRefused) as err:
        plan.change_deadline("R22", date(2024, 1, 5), now=NOW)
    assert [v.rule.id for v in err.value.violations] == [
        "INTAKE-PLAN-DEADLINE-FROZEN", "INTAKE-PLAN-YEAR-END"]


def test_changing_the_deadline_of_an_unknown_committee_is_not_found():
    plan = load_plan_year(2023)
    with pytest.raises(NotFound):
        plan.change_deadline("R99", date(2023, 9, 1), now=NOW)


def test_loads_another_years_plan_file(tmp_path):
    (tmp_path / "2024.yaml").write_text(
        "year: 2024\n"
        "committees:\n"
        "  - {code: R01, category: main, seq: 1, name: 某评审委员会, titles: [{name: 工程师}],\n"
        "     specialties: [水利规划设计], scope: {code: shaoxing_city}, review_month: 10,\n"
        "     deadline_month: 8, contact: {unit: 某局, phones: '12345678'}}\n", encoding="utf-8")
    plan = load_plan_year(2024, tmp_path)
    assert plan.year == 2024 and plan.review_completion_deadline == date(2024, 12, 31)
    c = plan.committee("R01")
    assert c.material_deadline == date(2024, 8, 31) and c.scope.text == "全市"
    assert c.contact.phones == ("12345678",) and c.titles[0].recommend_only is False
    assert load_plan(tmp_path / "2024.yaml").year == 2024


def test_missing_plan_year_is_not_found(tmp_path):
    with pytest.raises(NotFound):
        load_plan_year(2031, tmp_path)


@pytest.mark.parametrize("mutate,field", [
    (lambda d: d.pop("year"), "plan.year"),
    (lambda d: d["committees"][0].update(code="R02"), "committees[0](R02).code"),
    (lambda d: d["committees"][0].update(category="other"), ".category"),
    (lambda d: d["committees"][0].update(deadline_month=13), ".deadline_month"),
    (lambda d: d["committees"][0].update(deadline_month=11), ".deadline_month"),
    (lambda d: d["committees"][0]["scope"].update(code="moon"), ".scope.code"),
    (lambda d: d["committees"][0].update(titles=[]), ".titles"),
    (lambda d: d["committees"][0].update(notes={"text": "x", "restrictions": [{"code": "nope"}]}),
     ".notes.restrictions[0].code"),
])
def test_malformed_plan_file_names_the_field(mutate, field):
    data = {"year": 2024, "committees": [dict(
        code="R01", category="main", seq=1, name="某评审委员会", titles=[{"name": "工程师"}],
        specialties=["x"], scope={"code": "shaoxing_city"}, review_month=10, deadline_month=8,
        contact={"unit": "u", "phones": ["1"]})]}
    mutate(data)
    with pytest.raises(PlanFileError) as err:
        plan_from_dict(data)
    assert field in str(err.value)


def test_plan_dict_round_trips_with_state_and_changed_deadlines():
    plan = load_plan_year(2023)
    plan.publish(NOW)
    plan.change_deadline("R22", date(2023, 9, 15), now=NOW, approval=approval())
    again = plan_from_dict(plan.as_dict())
    assert again.as_dict() == plan.as_dict()
    assert again.state == "published" and again.published_at == NOW
    assert again.committee("R22").material_deadline == date(2023, 9, 15)
