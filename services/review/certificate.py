"""Certificates (职称证书): numbers with a check character, and the public verification view.

A certificate number reads ``SY-2023-000123-K``: the issuing prefix, the review year, a serial
unique within prefix and year (the repository hands it out), and a check character over the letters
and digits before it, computed with ISO 7064 MOD 37-2 (a pure system: the weighted sum of the
characters, weights 2^k mod 37, plus the check value is 1 mod 37). Because 37 is prime and 2 has
order 36 modulo 37, it detects every single wrong character and every swap of two adjacent (or
once-removed) characters in numbers up to 36 characters long — a number mistyped from paper is
rejected before any look-up. (The hybrid MOD 37,36 misses about one adjacent swap in 500.)
MOD 37-2 needs a 37th check symbol, ``*``; we never issue a number whose check would be ``*``: that
serial is skipped (:func:`next_issuable_serial`), so every number is plain 0-9A-Z.

Anyone may verify a certificate. The public view tells only what the certificate itself says in
public terms — the title, the specialty, the committee and the date — never who holds it.

Pure domain.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from shared.errors import RuleRefused

from services.review.rules import CERTIFICATE_NUMBER

ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_MODULUS = 37
_RADIX = 2
SERIAL_DIGITS = 6
_SHAPE = re.compile(r"^([A-Z0-9]{1,8}?)(\d{4})(\d{%d})([0-9A-Z])$" % SERIAL_DIGITS)


class UnissuableSerial(ValueError):
    """The serial's check value would be the 37th symbol ``*``; take the next serial."""


def _weighted(chars: str) -> int:
    """Sum of value * 2^(distance from the end + 1), mod 37 (Horner)."""
    total = 0
    for ch in chars:
        total = ((total + ALPHABET.index(ch)) * _RADIX) % _MODULUS
    return total


def _check_value(body: str) -> int:
    if not body or any(ch not in ALPHABET for ch in body):
        raise ValueError("a certificate number body is upper-case letters and digits")
    return (1 - _weighted(body)) % _MODULUS


def check_character(body: str) -> str:
    """ISO 7064 MOD 37-2 check character for ``body`` (upper-case 0-9A-Z).

    Raises UnissuableSerial when the check value is 36 (``*``), which we never issue.
    """
    value = _check_value(body)
    if value >= len(ALPHABET):
        raise UnissuableSerial(body)
    return ALPHABET[value]


def has_valid_check_character(compact: str) -> bool:
    """True when the last character is the check character of the rest."""
    if len(compact) < 2 or any(ch not in ALPHABET for ch in compact):
        return False
    return (_weighted(compact[:-1]) + ALPHABET.index(compact[-1])) % _MODULUS == 1


def normalize(text: str) -> str:
    """Upper-case, without the hyphens and spaces people type between groups."""
    return re.sub(r"[\s\-]", "", text or "").upper()


def format_number(compact: str) -> str:
    match = _SHAPE.match(compact)
    if not match:
        return compact
    prefix, year, serial, check = match.groups()
    return f"{prefix}-{year}-{serial}-{check}"


def _body(prefix: str, year: int, serial: int) -> str:
    if not 1 <= serial < 10 ** SERIAL_DIGITS:
        raise ValueError(f"serial must be 1..{10 ** SERIAL_DIGITS - 1}")
    if not 1000 <= year <= 9999:
        raise ValueError("year must have four digits")
    return f"{prefix.upper()}{year:04d}{serial:0{SERIAL_DIGITS}d}"


def certificate_number(prefix: str, year: int, serial: int) -> str:
    """``SY-2023-000123-K`` for prefix SY, year 2023, serial 123 (UnissuableSerial: skip it)."""
    body = _body(prefix, year, serial)
    return format_number(body + check_character(body))


def next_issuable_serial(prefix: str, year: int, serial: int) -> int:
    """The smallest serial >= ``serial`` whose number has a 0-9A-Z check character."""
    while _check_value(_body(prefix, year, serial)) >= len(ALPHABET):
        serial += 1
    return serial


def parse_number(text: str) -> str:
    """The canonical (hyphenated) number, or RuleRefused(REVIEW-CERTIFICATE-NUMBER)."""
    compact = normalize(text)
    if not _SHAPE.match(compact) or not has_valid_check_character(compact):
        raise RuleRefused([CERTIFICATE_NUMBER.violation(
            field="number", detail="not a certificate number or its check character is wrong")])
    return format_number(compact)


@dataclass(frozen=True)
class Certificate:
    """A certificate issued for a case. ``case_id``/``applicant_key`` stay internal."""

    number: str
    case_id: str
    applicant_key: str
    title: str
    specialty: str
    committee_name: str
    issued_on: date

    def public_view(self) -> dict[str, str]:
        """What the public verification endpoint may show: nothing that identifies the holder."""
        return {
            "number": self.number,
            "title": self.title,
            "specialty": self.specialty,
            "committee": self.committee_name,
            "issued_on": self.issued_on.isoformat(),
        }
