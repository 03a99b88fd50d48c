"""Refusal events name every refusing rule once; the season's summary table shows what a reader
needs and says when something went wrong."""
from datetime import datetime

import pytest

from shared.clock import CHINA
from shared.errors import RuleRefused
from shared.events import CATALOGUE
from shared.refusals import refusal_payload
from shared.rules import define_rule
from shared.simulation.season import SeasonSummary

pytestmark = pytest.mark.unit

RULE_A = define_rule("TEST-REFUSAL-A", "一", "a", "甲")
RULE_B = define_rule("TEST-REFUSAL-B", "二", "b", "乙")


def test_a_refusal_payload_lists_every_refusing_rule_once_with_who_and_when():
    refused = RuleRefused([RULE_B.violation(field="x"), RULE_A.violation(field="y"),
                           RULE_B.violation(field="z")])
    now = datetime(2023, 4, 10, 9, tzinfo=CHINA)
    payload = refusal_payload(refused, now=now, by="clerk", year=2023, committee_code="R05",
                              new_deadline="2023-07-20")
    assert payload["rules"] == ["TEST-REFUSAL-A", "TEST-REFUSAL-B"]
    assert payload["attempted_by"] == "clerk" and payload["refused_at"] == now.isoformat()
    CATALOGUE.get("plan_deadline_change_refused").schema().load(payload)


def test_the_summary_table_shows_refusals_states_violations_and_problems():
    summary = SeasonSummary(applications=3, accepted=2, refusals_by_rule={"INTAKE-SCOPE": 1},
                            cases_by_state={"certificate_issued": 2}, audit_chain_verified=True,
                            problems=["case C1 is failed after its votes, not passed"])
    table = summary.table()
    assert "refused INTAKE-SCOPE" in table and "cases certificate_issued" in table
    assert "audit chain verified" in table and "yes" in table
    assert "PROBLEM: case C1 is failed" in table and not summary.ok
