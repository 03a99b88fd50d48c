"""``zhicheng draw verify RECEIPT``: offline, exit status names the outcome."""
from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from experts_builders import open_test_round, run_round
from services.experts import draw
from services.experts.cli import draw_group

pytestmark = pytest.mark.unit


@pytest.fixture
def receipt_file(tmp_path):
    rnd = open_test_round([f"E{i:03d}" for i in range(30)], panel_size=11, reserves=4)
    run_round(rnd, 5)
    path = tmp_path / "receipt.json"
    path.write_text(json.dumps(rnd.receipt(), ensure_ascii=False), encoding="utf-8")
    return path


def test_verify_exits_zero_on_an_honest_receipt(receipt_file):
    result = CliRunner().invoke(draw_group, ["verify", str(receipt_file)])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("OK: round R1")


def test_verify_exits_non_zero_naming_the_altered_seat(receipt_file):
    data = json.loads(receipt_file.read_text(encoding="utf-8"))
    data["result"]["panel"][0], data["result"]["panel"][1] = (data["result"]["panel"][1],
                                                              data["result"]["panel"][0])
    receipt_file.write_text(json.dumps(data), encoding="utf-8")
    result = CliRunner().invoke(draw_group, ["verify", str(receipt_file)])
    assert result.exit_code == 1
    assert "panel seat 1:" in result.output and "panel seat 2:" in result.output


def test_verify_checks_the_published_commitment_digest(receipt_file):
    result = CliRunner().invoke(draw_group, ["verify", "--commitment", "0" * 64, str(receipt_file)])
    assert result.exit_code == 1
    assert "published commitment digest" in result.output


def test_verify_exits_two_on_a_file_that_is_not_json(tmp_path):
    bad = tmp_path / "x.json"
    bad.write_text("garbage{", encoding="utf-8")
    assert CliRunner().invoke(draw_group, ["verify", str(bad)]).exit_code == 2


def test_secret_prints_a_commitment_that_matches_its_secret():
    result = CliRunner().invoke(draw_group, ["secret", "--digest", "ab" * 32, "--party", "p"])
    out = json.loads(result.output)
    assert draw.party_commitment("ab" * 32, "p", out["secret"]) == out["commitment"]
