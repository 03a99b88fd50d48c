"""``zhicheng review ...`` commands that need no running service."""
import json

from click.testing import CliRunner

from services.review.cli import review


def test_check_certificate_accepts_a_good_number_and_refuses_a_typo():
    runner = CliRunner()
    ok = runner.invoke(review, ["check-certificate", "sy-2023-000123-9"])
    assert ok.exit_code == 0 and "SY-2023-000123-9" in ok.output
    typo = runner.invoke(review, ["check-certificate", "SY-2023-000132-9"])
    assert typo.exit_code == 1 and "REVIEW-CERTIFICATE-NUMBER" in typo.output


def test_publicity_window_counts_the_make_up_weekend_after_national_day():
    result = CliRunner().invoke(review, ["publicity-window", "2023-09-27"])
    assert result.exit_code == 0
    assert json.loads(result.output)["last_day"] == "2023-10-09"
