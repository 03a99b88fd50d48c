"""`zhicheng plan show`: the loaded plan as JSON or a summary, for 2023 or any year's file."""
from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from services.intake.cli import plan_group

pytestmark = pytest.mark.unit


def run(*args):
    return CliRunner().invoke(plan_group, list(args))


def test_plan_show_2023_json_prints_every_committee_with_the_issue_fields():
    r = run("show", "2023", "--json")
    assert r.exit_code == 0, r.output
    plan = json.loads(r.output)
    assert plan["year"] == 2023 and len(plan["committees"]) == 41
    for c in plan["committees"]:
        assert {"code", "category", "seq", "name", "titles", "specialties", "scope", "review_month",
                "deadline_month", "contact", "notes"} <= set(c)
    s06 = next(c for c in plan["committees"] if c["code"] == "S06")
    assert s06["scope"] == {"code": "hangzhou_bay_shangyu_zone", "text": "杭州湾上虞经济开发区"}
    assert s06["notes"]["restrictions"] == [{"code": "private_industrial_enterprises_only"}]


def test_plan_show_summary_lists_codes_and_recommend_flags():
    r = run("show", "2023")
    assert r.exit_code == 0
    assert "32 main, 2 delegated, 7 socialized" in r.output
    assert "高级工程师（推荐）" in r.output and "S07" in r.output


def test_plan_show_loads_another_years_file(tmp_path):
    f = tmp_path / "plan-2024.yaml"
    f.write_text("year: 2024\ncommittees:\n"
                 "  - {code: D01, category: delegated, seq: 1, name: 某评审委员会, titles: [{name: 工程师}],\n"
                 "     specialties: [建筑施工], scope: {code: shangyu_district}, review_month: 12,\n"
                 "     deadline_month: 9, contact: {unit: 上虞区人力社保局, phones: ['82120302']}}\n",
                 encoding="utf-8")
    r = run("show", "--file", str(f), "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["committees"][0]["material_deadline"] == "2024-09-30"
    assert run("show", "2023", "--file", str(f)).exit_code != 0   # year and file disagree


@pytest.mark.parametrize("args", [("show",), ("show", "1999")])
def test_plan_show_without_a_plan_fails_cleanly(args):
    r = run(*args)
    assert r.exit_code != 0 and "Traceback" not in r.output
