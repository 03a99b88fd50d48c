"""Pure domain of the audit record: what a record is indexed by, and how personal data is masked.

- :func:`index_terms` reads an event envelope and returns what inspectors search by: case ids,
  committee ids, expert ids, applicant keys, event type, time. Events carry an applicant's
  ``applicant_key`` (the platform's keyed pseudonym, shared/personal.py), never the identity
  number; an inspector's identity number (身份证号) is turned into that key to find the records.
  Should an identity number appear in a payload anyway, it is indexed by its key, never itself.
- :func:`mask_identity_number`, :func:`mask_name` and :func:`mask_personal_data` hide identity
  numbers and names in anything shown to a role that does not need them.

Pure: no framework imports.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from shared.clock import parse_instant
from shared import personal
from shared.errors import InvalidInput

IDENTITY_KEYS = frozenset({"identity_number", "id_number", "id_card_number",
                           "applicant_identity_number", "expert_identity_number", "身份证号"})
NAME_KEYS = frozenset({"name", "full_name", "applicant_name", "expert_name", "contact_name",
                       "姓名"})
APPLICANT_KEY_KEYS = frozenset({"applicant_key"})
CASE_KEYS = ("case_id", "case_ids", "submission_id", "submission_ids", "application_id")
COMMITTEE_KEYS = ("committee_id", "committee_ids", "committee_code", "committee_codes")
EXPERT_KEYS = ("expert_id", "expert_ids", "reserve_ids", "reserve_expert_ids")
EXPERT_LIST_KEYS = ("panel", "reserves")  # lists of expert ids (a count elsewhere is ignored)


def normalise_identity_number(value: str) -> str:
    """An 18-character resident identity number (GB 11643-1999), checked; raises InvalidInput
    without echoing the value."""
    problem = personal.identity_problem(str(value))
    if problem is not None:
        raise InvalidInput(f"identity number {problem}", details={"field": "identity_number"})
    return personal.normalise_identity(value)


def applicant_key(identity_number: str, key: bytes | None = None) -> str:
    """The platform-wide applicant pseudonym (shared.personal): events carry it, never the
    identity number, so an inspector's identity number finds the applicant's records."""
    return personal.applicant_key(identity_number, key)


def mask_identity_number(value: Any) -> str:
    """``330682199001011234`` -> ``330682********1234``."""
    return personal.mask_identity(str(value))


def mask_name(value: Any) -> str:
    """``张三`` -> ``张*``; ``欧阳明华`` -> ``欧**华``."""
    return personal.mask_name(str(value))


def mask_personal_data(value: Any, *, identity: bool = True, names: bool = True) -> Any:
    """A copy of ``value`` with identity numbers (and names) masked wherever they sit."""
    if isinstance(value, Mapping):
        out = {}
        for key, item in value.items():
            if identity and key in IDENTITY_KEYS and isinstance(item, str):
                out[key] = mask_identity_number(item)
            elif names and key in NAME_KEYS and isinstance(item, str):
                out[key] = mask_name(item)
            else:
                out[key] = mask_personal_data(item, identity=identity, names=names)
        return out
    if isinstance(value, list):
        return [mask_personal_data(v, identity=identity, names=names) for v in value]
    return value


@dataclass(frozen=True)
class IndexTerms:
    """What one record is found by."""

    event_type: str
    occurred_at: datetime
    producer: str
    case_ids: frozenset[str] = field(default_factory=frozenset)
    committee_ids: frozenset[str] = field(default_factory=frozenset)
    expert_ids: frozenset[str] = field(default_factory=frozenset)
    applicant_keys: frozenset[str] = field(default_factory=frozenset)


def _walk(value: Any) -> Iterable[tuple[str, Any]]:
    if isinstance(value, Mapping):
        for key, item in value.items():
            yield key, item
            yield from _walk(item)
    elif isinstance(value, list):
        for item in value:
            yield from _walk(item)


def _collect(found: set[str], item: Any) -> None:
    if isinstance(item, (list, tuple)):
        for x in item:
            if isinstance(x, (str, int)) and not isinstance(x, bool):
                found.add(str(x))
    elif isinstance(item, (str, int)) and not isinstance(item, bool):
        found.add(str(item))


def index_terms(envelope: Mapping[str, Any], person_key: bytes | None = None) -> IndexTerms:
    """Read an envelope's searchable terms, anywhere in its payload."""
    cases: set[str] = set()
    committees: set[str] = set()
    experts: set[str] = set()
    applicants: set[str] = set()
    for key, item in _walk(envelope.get("payload") or {}):
        if key in CASE_KEYS:
            _collect(cases, item)
        elif key in COMMITTEE_KEYS:
            _collect(committees, item)
        elif key in EXPERT_KEYS:
            _collect(experts, item)
        elif key in EXPERT_LIST_KEYS and isinstance(item, list):
            _collect(experts, item)
        elif key in APPLICANT_KEY_KEYS and isinstance(item, str) and item:
            applicants.add(item)
        elif key in IDENTITY_KEYS and isinstance(item, str) and item:
            applicants.add(applicant_key(item, person_key))
    occurred = envelope.get("occurred_at")
    if isinstance(occurred, str):
        occurred = parse_instant(occurred)
    return IndexTerms(event_type=str(envelope.get("event_type")), occurred_at=occurred,
                      producer=str(envelope.get("producer", "")),
                      case_ids=frozenset(cases), committee_ids=frozenset(committees),
                      expert_ids=frozenset(experts), applicant_keys=frozenset(applicants))
