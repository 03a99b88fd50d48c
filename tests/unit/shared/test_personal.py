import pytest

from shared.personal import (applicant_key, identity_check_char, identity_problem,
                             mask_identity, mask_name)

VALID = "11010519491231002X"  # the GB 11643 standard's own example


def test_accepts_the_standards_example_and_lowercase_x():
    assert identity_problem(VALID) is None
    assert identity_problem(VALID.lower()) is None


@pytest.mark.parametrize("number, reason", [
    ("1101051949123100", "18 characters"),
    ("11010519491231002A", "digit or X"),
    ("01010519491231002X", "region"),
    ("110105194902300021", "birth date"),
    ("110105194912310021", "check character"),
])
def test_rejects_invalid_numbers_with_a_reason_that_does_not_repeat_them(number, reason):
    problem = identity_problem(number)
    assert problem is not None and reason in problem and number not in problem


def test_every_single_digit_change_breaks_the_check_digit():
    for position in range(17):
        for digit in "0123456789":
            if digit == VALID[position]:
                continue
            changed = VALID[:position] + digit + VALID[position + 1:17]
            # every weight is non-zero mod 11, so any one changed digit changes the check char
            assert identity_check_char(changed) != VALID[17]


def test_a_birth_date_after_today_is_refused():
    from datetime import date

    assert identity_problem("110105202512310020", today=date(2023, 6, 1)) is not None


def test_applicant_key_is_stable_keyed_and_ignores_case():
    assert applicant_key(VALID, b"k1") == applicant_key(VALID.lower(), b"k1")
    assert applicant_key(VALID, b"k1") != applicant_key(VALID, b"k2")
    assert len(applicant_key(VALID, b"k1")) == 32 and VALID not in applicant_key(VALID, b"k1")


def test_masks_keep_only_what_identifies_no_one():
    assert mask_identity(VALID) == "110105********002X"
    assert mask_name("张三") == "张*" and mask_name("欧阳明华") == "欧**华" and mask_name("李") == "*"
