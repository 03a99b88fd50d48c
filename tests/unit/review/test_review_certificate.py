"""Certificate numbers (ISO 7064 MOD 37-2 check character) and the public verification view."""
from __future__ import annotations

import random
from datetime import date

import pytest

from shared.errors import RuleRefused
from services.review.certificate import (
    ALPHABET, Certificate, UnissuableSerial, certificate_number, check_character,
    has_valid_check_character, next_issuable_serial, normalize, parse_number,
)

pytestmark = pytest.mark.unit


def sample_numbers(count=300, seed=7):
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        year = rng.choice([2023, 2024])
        serial = next_issuable_serial("SY", year, rng.randint(1, 999_990))
        out.append(normalize(certificate_number("SY", year, serial)))
    return out


def test_number_has_prefix_year_serial_and_check_character():
    number = certificate_number("SY", 2023, 123)
    prefix, year, serial, check = number.split("-")
    assert (prefix, year, serial) == ("SY", "2023", "000123")
    assert check == check_character("SY2023000123") and check in ALPHABET
    assert has_valid_check_character(normalize(number))


def test_check_character_detects_every_single_character_error():
    for compact in sample_numbers():
        for i, original in enumerate(compact):
            for other in ALPHABET:
                if other != original:
                    wrong = compact[:i] + other + compact[i + 1:]
                    assert not has_valid_check_character(wrong), (compact, wrong)


def test_check_character_detects_every_adjacent_transposition():
    for compact in sample_numbers():
        for i in range(len(compact) - 1):
            if compact[i] != compact[i + 1]:
                swapped = compact[:i] + compact[i + 1] + compact[i] + compact[i + 2:]
                assert not has_valid_check_character(swapped), (compact, swapped)


def test_check_character_detects_jump_transpositions():
    for compact in sample_numbers(100):
        for i in range(len(compact) - 2):
            if compact[i] != compact[i + 2]:
                swapped = compact[:i] + compact[i + 2] + compact[i + 1] + compact[i] + compact[i + 3:]
                assert not has_valid_check_character(swapped)


def test_serials_whose_check_would_be_the_37th_symbol_are_skipped():
    skipped = [s for s in range(1, 400) if next_issuable_serial("SY", 2023, s) != s]
    assert skipped, "about one serial in 37 is skipped"
    with pytest.raises(UnissuableSerial):
        certificate_number("SY", 2023, skipped[0])
    following = next_issuable_serial("SY", 2023, skipped[0])
    assert following > skipped[0]
    assert has_valid_check_character(normalize(certificate_number("SY", 2023, following)))


def test_parsing_accepts_lower_case_and_spaces_and_refuses_a_typo():
    number = certificate_number("SY", 2023, 42)
    assert parse_number(number.lower().replace("-", " ")) == number
    typo = number[:-3] + ("7" if number[-3] != "7" else "8") + number[-2:]
    with pytest.raises(RuleRefused) as caught:
        parse_number(typo)
    assert caught.value.rule == "REVIEW-CERTIFICATE-NUMBER"
    with pytest.raises(RuleRefused):
        parse_number("not a number")


def test_serial_and_year_ranges_are_enforced():
    with pytest.raises(ValueError):
        certificate_number("SY", 2023, 0)
    with pytest.raises(ValueError):
        certificate_number("SY", 2023, 1_000_000)
    with pytest.raises(ValueError):
        certificate_number("SY", 999, 1)


def test_the_public_view_reveals_only_title_specialty_committee_and_date():
    cert = Certificate(number="SY-2023-000001-X", case_id="case-secret",
                       applicant_key="applicant-secret", title="工程师", specialty="机电制造",
                       committee_name="绍兴市机电制造工程技术人员中级评委会",
                       issued_on=date(2023, 10, 31))
    view = cert.public_view()
    assert view == {"number": "SY-2023-000001-X", "title": "工程师", "specialty": "机电制造",
                    "committee": "绍兴市机电制造工程技术人员中级评委会",
                    "issued_on": "2023-10-31"}
    assert "secret" not in repr(view)
