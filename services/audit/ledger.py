"""The audit ledger (审计账本): the in-memory head of the stored log.

A stored record's content is ``{"position": n, "recorded_at": ISO instant, "event": envelope}``:
the envelope exactly as it arrived (all of it: ids, type, version, times, producer, correlation and
causation ids, payload), its position in the log and when the audit service stored it. Putting
the position inside the hashed content binds each record to its slot.

:class:`Ledger` keeps the chain head and the Merkle tree of what is stored, so that appending a
record, giving a proof or signing a head never re-reads the whole store. It is rebuilt at start
from the stored leaf and chain hashes (a million records: a few seconds), and it only advances
after the database committed the record (``prepare`` then ``advance``).

Pure: no framework imports.
"""
from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Iterable, Mapping

from services.audit.chain import (
    GENESIS_HASH, ChainedRecord, canonical_bytes, chain_hash, leaf_hash,
)
from services.audit.merkle import MerkleTree


def envelope_text(envelope: Mapping[str, Any]) -> str:
    """The envelope's canonical JSON text, as stored in ``audit_records.envelope``."""
    return canonical_bytes(dict(envelope)).decode("utf-8")


def record_content_from_text(position: int, recorded_at: str, envelope: str) -> bytes:
    """A record's canonical bytes from its stored columns, without parsing the envelope.

    The canonical encoding sorts keys, so ``event`` < ``position`` < ``recorded_at``: the record is
    the stored envelope text with its position and recording time appended. The result equals
    ``canonical_bytes({"position": ..., "recorded_at": ..., "event": envelope})`` whenever the
    stored text is canonical (which :func:`envelope_text` guarantees at insertion).
    """
    return ('{"event":' + envelope + ',"position":' + str(int(position))
            + ',"recorded_at":' + json.dumps(recorded_at) + "}").encode("utf-8")


def record_content(position: int, recorded_at: datetime, envelope: Mapping[str, Any]) -> bytes:
    return record_content_from_text(position, recorded_at.isoformat(), envelope_text(envelope))


class StaleLedger(RuntimeError):
    """The store moved on without this ledger (another writer): reload before appending."""


class Ledger:
    def __init__(self) -> None:
        self.tree = MerkleTree()
        self.head = GENESIS_HASH

    @property
    def size(self) -> int:
        return self.tree.size

    def load(self, rows: Iterable[tuple[int, bytes, bytes]]) -> None:
        """Continue from stored ``(position, leaf_hash, chain_hash)`` rows in position order.

        Rows are taken as stored; ``zhicheng audit verify`` is what re-hashes the content.
        """
        for position, leaf, link in rows:
            if position != self.tree.size:
                raise StaleLedger(f"stored position {position}, expected {self.tree.size}")
            self.tree.append_hash(bytes(leaf))
            self.head = bytes(link)

    def prepare(self, envelope: Mapping[str, Any], recorded_at: datetime,
                after: ChainedRecord | None = None, *, text: str | None = None) -> ChainedRecord:
        """The next record, not yet part of the ledger (the store has not committed it); with
        ``after``, the record following that prepared one (a batch committed together).
        ``text``: the envelope's :func:`envelope_text`, when the caller has it already."""
        position = self.tree.size if after is None else after.position + 1
        previous = self.head if after is None else after.chain_hash
        content = record_content_from_text(position, recorded_at.isoformat(),
                                           text if text is not None else envelope_text(envelope))
        leaf = leaf_hash(content)
        return ChainedRecord(position=position, content=content, previous_hash=previous,
                             leaf_hash=leaf, chain_hash=chain_hash(previous, leaf))

    def advance(self, record: ChainedRecord) -> None:
        """The store committed ``record``: make it part of the ledger."""
        if record.position != self.tree.size or record.previous_hash != self.head:
            raise StaleLedger("the committed record does not follow the ledger head")
        self.tree.append_hash(record.leaf_hash)
        self.head = record.chain_hash
