"""The audit record and its hash chain (审计记录链).

Every event the audit service consumes becomes one *record*: a JSON object (the event envelope
plus where it sits in the log). A record is stored as its **canonical encoding** so that anyone can
re-hash it from its content alone:

- UTF-8 JSON, object keys sorted by code point, no insignificant whitespace
  (separators ``,`` and ``:``), non-ASCII characters written as themselves (not ``\\uXXXX``);
- only JSON types (object with string keys, array, string, number, boolean, null); NaN and
  infinities are refused; finite floats are written in their shortest round-trip form (producers
  should prefer strings or integers for exact values); times are ISO 8601 strings.

For the JSON values the platform produces this is the same byte string RFC 8785 (JCS) gives.

Each record is hashed twice, cheaply:

- ``leaf_hash = SHA-256(0x00 || canonical bytes)`` - the RFC 9162 Merkle leaf (see merkle.py);
- ``chain_hash = SHA-256(0x02 || previous chain_hash || leaf_hash)`` - the hash chain, with the
  all-zero hash before the first record. The chain hash therefore covers the record's full content
  (through its leaf hash) and, recursively, every record before it; the 0x02 prefix keeps chain
  hashes from ever being confused with Merkle leaf (0x00) or node (0x01) hashes.

:func:`verify_chain` walks a stored sequence and names the first record that does not fit: a changed
byte (its content no longer gives its stored hashes), a deleted row (a gap in the positions, or a
record whose stored previous hash is not its predecessor's), two swapped rows (a position out of
order, or a broken link).

Pure: no framework imports.
"""
from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

HASH_SIZE = 32
GENESIS_HASH = bytes(HASH_SIZE)
"""The previous hash of the very first record."""

LEAF_PREFIX = b"\x00"
CHAIN_PREFIX = b"\x02"


class CanonicalEncodingError(ValueError):
    """A value that has no canonical JSON encoding (float, bytes, non-string key...)."""


_SCALARS = (type(None), bool, str, int)


def _check(value: Any, path: str) -> None:
    """Raise :class:`CanonicalEncodingError` naming the first value that has no canonical
    form. Walks without building paths; only a failure walks again to name the place."""
    if not _encodable(value):
        _locate(value, path)


def _encodable(value: Any) -> bool:
    kind = type(value)
    if kind in _SCALARS:
        return True
    if kind is float:
        # Every event must be storable, so finite floats are accepted and written in Python's
        # shortest round-trip form (which json.loads reads back to the same float).
        return math.isfinite(value)
    if isinstance(value, Mapping):
        return all(type(k) is str and _encodable(v) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return all(_encodable(item) for item in value)
    return isinstance(value, (bool, str, int)) and not isinstance(value, float)


def _locate(value: Any, path: str) -> None:
    if value is None or isinstance(value, (bool, str)):
        return
    if isinstance(value, int):
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise CanonicalEncodingError(f"non-finite number at {path}")
        return
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                raise CanonicalEncodingError(f"non-string key at {path}")
            _locate(item, f"{path}.{key}")
        return
    if isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            _locate(item, f"{path}[{i}]")
        return
    raise CanonicalEncodingError(f"value of type {type(value).__name__} at {path}")


def canonical_bytes(record: Mapping[str, Any]) -> bytes:
    """The canonical encoding of a record (see module docstring)."""
    _check(record, "$")
    return json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False).encode("utf-8")


def leaf_hash(content: bytes) -> bytes:
    """RFC 9162 leaf hash of a record's canonical bytes."""
    return hashlib.sha256(LEAF_PREFIX + content).digest()


def chain_hash(previous: bytes, leaf: bytes) -> bytes:
    """The chain hash of a record whose leaf hash is ``leaf``, following ``previous``."""
    return hashlib.sha256(CHAIN_PREFIX + previous + leaf).digest()


@dataclass(frozen=True)
class ChainedRecord:
    """One stored record: its position (0-based), canonical content and both hashes."""

    position: int
    content: bytes
    previous_hash: bytes
    leaf_hash: bytes
    chain_hash: bytes

    def decoded(self) -> dict[str, Any]:
        return json.loads(self.content)


class HashChain:
    """Appends records to a chain, remembering only the head (the last chain hash)."""

    def __init__(self, size: int = 0, head: bytes = GENESIS_HASH) -> None:
        self.size = size
        self.head = head

    def append(self, record: Mapping[str, Any] | bytes) -> ChainedRecord:
        content = record if isinstance(record, bytes) else canonical_bytes(record)
        leaf = leaf_hash(content)
        link = chain_hash(self.head, leaf)
        out = ChainedRecord(position=self.size, content=content, previous_hash=self.head,
                            leaf_hash=leaf, chain_hash=link)
        self.size += 1
        self.head = link
        return out


@dataclass(frozen=True)
class ChainFault:
    """The first record that does not fit the chain, and why."""

    position: int
    reason: str
    """``content_changed`` | ``missing_record`` | ``out_of_order`` | ``broken_link`` |
    ``unexpected_record``"""
    detail: str

    def as_dict(self) -> dict[str, Any]:
        return {"position": self.position, "reason": self.reason, "detail": self.detail}


@dataclass(frozen=True)
class ChainReport:
    intact: bool
    checked: int
    head: bytes
    fault: ChainFault | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"intact": self.intact, "checked": self.checked, "head": self.head.hex(),
                "first_bad": self.fault.as_dict() if self.fault else None}


def verify_chain(records: Iterable[ChainedRecord], *, start: int = 0,
                 previous: bytes = GENESIS_HASH,
                 expected_size: int | None = None) -> ChainReport:
    """Re-hash every record from its content and check it follows its predecessor.

    ``records`` must come in stored order (by position). ``start``/``previous`` let a caller verify
    from a trusted point. ``expected_size`` (e.g. from a signed tree head) catches rows deleted from
    the end. The first fault is named; nothing after it is trusted.
    """
    expected_position = start
    head = previous
    checked = 0
    for record in records:
        if record.position != expected_position:
            if record.position > expected_position:
                fault = ChainFault(expected_position, "missing_record",
                                   f"record {expected_position} is missing or moved; next stored is "
                                   f"{record.position}")
            else:
                fault = ChainFault(record.position, "out_of_order",
                                   f"record {record.position} stored after record "
                                   f"{expected_position - 1}")
            return ChainReport(False, checked, head, fault)
        leaf = leaf_hash(record.content)
        if leaf != record.leaf_hash:
            return ChainReport(False, checked, head, ChainFault(
                record.position, "content_changed",
                "content does not give the stored leaf hash"))
        if record.previous_hash != head:
            return ChainReport(False, checked, head, ChainFault(
                record.position, "broken_link",
                "stored previous hash is not the chain hash of the record before"))
        link = chain_hash(head, leaf)
        if link != record.chain_hash:
            return ChainReport(False, checked, head, ChainFault(
                record.position, "content_changed",
                "content does not give the stored chain hash"))
        head = link
        expected_position += 1
        checked += 1
    if expected_size is not None and expected_position != expected_size:
        if expected_position < expected_size:
            return ChainReport(False, checked, head, ChainFault(
                expected_position, "missing_record",
                f"{expected_size - expected_position} record(s) missing at the end"))
        return ChainReport(False, checked, head, ChainFault(
            expected_size, "unexpected_record", "more records than the expected size"))
    return ChainReport(True, checked, head)


def iter_chain(contents: Iterable[Mapping[str, Any] | bytes]) -> Iterator[ChainedRecord]:
    """Chain a sequence of records from genesis (tests, exports)."""
    chain = HashChain()
    for content in contents:
        yield chain.append(content)
