"""The review policy is configuration: policy.yaml with environment overrides."""
from fractions import Fraction

import pytest

from services.review.policy import load_policy

pytestmark = pytest.mark.unit


def test_default_policy_has_the_regulation_numbers():
    p = load_policy(environ={})
    assert p.publicity_working_days == 5 and p.minimum_publicity_working_days == 5
    assert p.quorum_share == Fraction(2, 3) and p.pass_share == Fraction(2, 3)
    assert p.certificate_prefix == "SY"


def test_environment_overrides_the_file():
    p = load_policy(environ={"REVIEW_PUBLICITY_WORKING_DAYS": "7", "REVIEW_PASS_SHARE": "3/4"})
    assert p.publicity_working_days == 7 and p.pass_share == Fraction(3, 4)


def test_an_override_below_the_minimum_is_refused():
    with pytest.raises(ValueError):
        load_policy(environ={"REVIEW_PUBLICITY_WORKING_DAYS": "3"})


def test_unknown_keys_in_the_file_are_refused(tmp_path):
    f = tmp_path / "policy.yaml"
    f.write_text("quorum: 0.5\n", encoding="utf-8")
    with pytest.raises(ValueError):
        load_policy(f, environ={})
