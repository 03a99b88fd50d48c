"""Personal data (个人信息): identity numbers and names.

Identity numbers never travel in events, logs or metric labels. Events carry:

* ``applicant_key``: a keyed pseudonym, HMAC-SHA256 of the normalised identity number under the
  platform's ``ZHICHENG_PERSON_KEY``. It is stable across services and years, so intake's
  performance archive, review's failed-applicant records and audit's applicant queries all agree.
  Anyone holding the key can compute it from an identity number an inspector enters; nobody can
  invert it without trying every possible identity number under that key.
* ``identity_masked`` / ``name_masked``: for display to roles that may see an applicant exists.

Only intake's own database keeps the full identity number and name.
"""
from __future__ import annotations

import hashlib
import hmac
import os
from datetime import date

# GB 11643-1999 check digit weights and check characters
_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK = "10X98765432"


def normalise_identity(number: str) -> str:
    return str(number).strip().upper()


def identity_check_char(first17: str) -> str:
    total = sum(int(d) * w for d, w in zip(first17, _WEIGHTS))
    return _CHECK[total % 11]


#: GB/T 2260 province-level codes (first two digits of the address code).
PROVINCE_CODES = frozenset({
    "11", "12", "13", "14", "15", "21", "22", "23", "31", "32", "33", "34", "35", "36", "37",
    "41", "42", "43", "44", "45", "46", "50", "51", "52", "53", "54", "61", "62", "63", "64", "65",
    "71", "81", "82", "83"})


def identity_problems(number: object, today: date | None = None) -> list[str]:
    """Everything wrong with a resident identity number (GB 11643): region, birth date (not after
    ``today``), check character. The reasons never repeat the number."""
    if not isinstance(number, str):
        return ["missing"]
    n = normalise_identity(number)
    if len(n) != 18:
        return ["must be 18 characters"]
    if not n[:17].isdigit() or not (n[17].isdigit() or n[17] == "X"):
        return ["first 17 characters must be digits and the last a digit or X"]
    problems = []
    if n[:2] not in PROVINCE_CODES or n[2:6] == "0000":
        problems.append("unknown region code")
    try:
        born = date(int(n[6:10]), int(n[10:12]), int(n[12:14]))
    except ValueError:
        problems.append("birth date is not a date")
    else:
        if born.year < 1900 or (today is not None and born > today):
            problems.append("birth date out of range")
    if identity_check_char(n[:17]) != n[17]:
        problems.append("check character does not match")
    return problems


def identity_problem(number: object, today: date | None = None) -> str | None:
    """The first problem of :func:`identity_problems`, or None when the number is valid."""
    problems = identity_problems(number, today)
    return problems[0] if problems else None


def person_key() -> bytes:
    """The platform's applicant-pseudonym key: ZHICHENG_PERSON_KEY, else a per-checkout dev key."""
    key = os.environ.get("ZHICHENG_PERSON_KEY")
    if key:
        return key.encode()
    from shared.config import var_dir  # dev default: a per-checkout key, like the token key

    path = var_dir() / "person.key"
    if not path.exists():
        import secrets

        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(48))
    return path.read_text().strip().encode()


def applicant_key(identity_number: str, key: bytes | None = None) -> str:
    """The applicant's pseudonym (32 hex characters)."""
    digest = hmac.new(key if key is not None else person_key(),
                      normalise_identity(identity_number).encode(), hashlib.sha256)
    return digest.hexdigest()[:32]


def mask_identity(number: str) -> str:
    """``330682199001011234`` → ``330682********1234`` (region and last four kept)."""
    n = normalise_identity(number or "")
    if len(n) < 10:
        return "*" * len(n)
    return n[:6] + "*" * (len(n) - 10) + n[-4:]


def mask_name(name: str) -> str:
    """``张三`` → ``张*``, ``欧阳明华`` → ``欧**华``: the first and (from three on) last character."""
    name = str(name or "").strip()
    if not name:
        return ""
    if len(name) == 1:
        return "*"
    if len(name) == 2:
        return name[0] + "*"
    return name[0] + "*" * (len(name) - 2) + name[-1]
