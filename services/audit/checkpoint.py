"""Signed tree heads (签名树头) and the offline-verifiable export of the audit log.

A **tree head** says "the audit log had ``tree_size`` records and its Merkle root was
``root_hash`` at ``timestamp``". The bureau signs it with an Ed25519 key (through ``cryptography``).
The private key comes from configuration (a PEM file path, a PEM text, or a 32-byte seed in
hex/base64, e.g. mounted from a Kubernetes Secret); it is never in the repository. Tests generate
their own keys.

The **export** is one UTF-8 JSON Lines file, one object per line, each with a ``kind``:

- ``header``: ``format`` = ``zhicheng-audit-export``, ``version`` = 1, ``log_id``, ``mode``
  (``full``: every record from index 0; ``selection``: some records, each with an inclusion
  proof), ``public_key`` (hex, raw Ed25519), ``key_id``, ``record_count``, ``exported_at``;
- ``record``: ``index``, ``content`` (the record as a JSON object; its canonical encoding is what
  was hashed, see chain.py) and ``chain_hash`` (hex; ``full`` mode only);
- ``head``: a signed tree head (``log_id``, ``tree_size``, ``root_hash``, ``timestamp``,
  ``key_id``, ``signature``), in increasing size;
- ``consistency``: ``first``, ``second``, ``proof`` (hex list): one between every two successive
  heads;
- ``inclusion``: ``index``, ``tree_size``, ``proof``: one per record in ``selection`` mode.

:func:`verify_export` checks such a file without the services: every record's full content is
re-hashed (not only stored hashes), the chain re-linked, the Merkle root at every signed head
recomputed, every signature and every proof checked with the independent verifiers of merkle.py,
two heads for the same size with different roots reported as a fork, and, given the last head an
inspector kept from an earlier export, a log that is shorter than it (an older database restored)
or that disagrees with it is reported. The first bad record index is named whenever it can be
located.

Pure apart from key parsing: no framework imports.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator, Mapping, Sequence

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from services.audit.chain import GENESIS_HASH, CanonicalEncodingError, canonical_bytes, chain_hash
from services.audit.merkle import (
    HASH_SIZE, MerkleTree, hash_leaf, verify_consistency, verify_inclusion,
)

EXPORT_FORMAT = "zhicheng-audit-export"
EXPORT_VERSION = 1
HEAD_FORMAT = "zhicheng-audit-tree-head/1"


# --- keys -------------------------------------------------------------------------------------

class SigningKeyError(ValueError):
    """A signing or public key that cannot be read (the message never contains the key)."""


def _raw_from_text(text: str) -> bytes | None:
    text = text.strip()
    for decode in (bytes.fromhex, base64.b64decode):
        try:
            raw = decode(text)
        except (ValueError, binascii.Error):
            continue
        if len(raw) == 32:
            return raw
    return None


def load_signing_key(source: str | bytes) -> Ed25519PrivateKey:
    """A private key from PEM (PKCS#8) bytes/text, a path to a PEM file, or a hex/base64 seed."""
    data = source.encode() if isinstance(source, str) else bytes(source)
    if b"-----BEGIN" not in data:
        text = data.decode("utf-8", "replace").strip()
        raw = _raw_from_text(text)
        if raw is not None:
            return Ed25519PrivateKey.from_private_bytes(raw)
        if text and os.path.isfile(text):
            with open(text, "rb") as fh:
                data = fh.read()
            if b"-----BEGIN" not in data:
                raw = _raw_from_text(data.decode("utf-8", "replace"))
                if raw is None:
                    raise SigningKeyError("signing key file holds neither PEM nor a 32-byte seed")
                return Ed25519PrivateKey.from_private_bytes(raw)
        else:
            raise SigningKeyError("signing key is neither PEM, a 32-byte seed nor a readable file")
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError):
        raise SigningKeyError("signing key PEM cannot be read") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise SigningKeyError("signing key is not an Ed25519 key")
    return key


def load_public_key(source: str | bytes) -> Ed25519PublicKey:
    """A public key from PEM, a path to a PEM file, or raw 32 bytes in hex/base64."""
    data = source.encode() if isinstance(source, str) else bytes(source)
    if b"-----BEGIN" not in data:
        text = data.decode("utf-8", "replace").strip()
        if text and os.path.isfile(text):
            with open(text, "rb") as fh:
                data = fh.read()
            if b"-----BEGIN" in data:
                return load_public_key(data)
            text = data.decode("utf-8", "replace").strip()
        raw = _raw_from_text(text)
        if raw is None:
            raise SigningKeyError("public key is neither PEM nor 32 raw bytes")
        return Ed25519PublicKey.from_public_bytes(raw)
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, TypeError):
        raise SigningKeyError("public key PEM cannot be read") from None
    if not isinstance(key, Ed25519PublicKey):
        raise SigningKeyError("public key is not an Ed25519 key")
    return key


def public_key_bytes(key: Ed25519PublicKey | Ed25519PrivateKey) -> bytes:
    if isinstance(key, Ed25519PrivateKey):
        key = key.public_key()
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_id(key: Ed25519PublicKey | Ed25519PrivateKey) -> str:
    """A short fingerprint of the public key: first 16 hex digits of its SHA-256."""
    return hashlib.sha256(public_key_bytes(key)).hexdigest()[:16]


def private_key_pem(key: Ed25519PrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def public_key_pem(key: Ed25519PublicKey | Ed25519PrivateKey) -> bytes:
    if isinstance(key, Ed25519PrivateKey):
        key = key.public_key()
    return key.public_bytes(serialization.Encoding.PEM,
                            serialization.PublicFormat.SubjectPublicKeyInfo)


# --- tree heads -------------------------------------------------------------------------------

@dataclass(frozen=True)
class TreeHead:
    log_id: str
    tree_size: int
    root_hash: bytes
    timestamp: str
    """ISO 8601 instant, from the service's clock."""

    def signed_bytes(self) -> bytes:
        """What the signature covers: the canonical encoding of the head."""
        return canonical_bytes({"format": HEAD_FORMAT, "log_id": self.log_id,
                                "tree_size": self.tree_size, "root_hash": self.root_hash.hex(),
                                "timestamp": self.timestamp})


@dataclass(frozen=True)
class SignedTreeHead:
    head: TreeHead
    key_id: str
    signature: bytes

    @property
    def tree_size(self) -> int:
        return self.head.tree_size

    @property
    def root_hash(self) -> bytes:
        return self.head.root_hash

    def as_dict(self) -> dict[str, Any]:
        return {"log_id": self.head.log_id, "tree_size": self.head.tree_size,
                "root_hash": self.head.root_hash.hex(), "timestamp": self.head.timestamp,
                "key_id": self.key_id, "signature": self.signature.hex()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "SignedTreeHead":
        """Parse a head; raises ValueError on any malformed field."""
        try:
            size = data["tree_size"]
            if not isinstance(size, int) or isinstance(size, bool) or size < 0:
                raise ValueError("tree_size must be a non-negative integer")
            root = bytes.fromhex(data["root_hash"])
            if len(root) != HASH_SIZE:
                raise ValueError("root_hash must have 32 bytes")
            signature = bytes.fromhex(data["signature"])
            head = TreeHead(log_id=str(data["log_id"]), tree_size=size, root_hash=root,
                            timestamp=str(data["timestamp"]))
            return cls(head=head, key_id=str(data["key_id"]), signature=signature)
        except (KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"malformed tree head ({type(exc).__name__})") from None


class HeadSigner:
    """Signs tree heads with the bureau's key (局签名密钥)."""

    def __init__(self, private_key: Ed25519PrivateKey, log_id: str) -> None:
        self._key = private_key
        self.log_id = log_id
        self.key_id = key_id(private_key)
        self.public_key = private_key.public_key()

    def sign(self, tree_size: int, root_hash: bytes, timestamp: str) -> SignedTreeHead:
        head = TreeHead(log_id=self.log_id, tree_size=tree_size, root_hash=root_hash,
                        timestamp=timestamp)
        return SignedTreeHead(head=head, key_id=self.key_id,
                              signature=self._key.sign(head.signed_bytes()))


def verify_head_signature(sth: SignedTreeHead, public_key: Ed25519PublicKey) -> bool:
    try:
        public_key.verify(sth.signature, sth.head.signed_bytes())
    except InvalidSignature:
        return False
    return sth.key_id == key_id(public_key)


# --- findings ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Problem:
    """One thing wrong with a log or an export. ``index`` names a record when it can."""

    code: str
    detail: str
    index: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"code": self.code, "detail": self.detail, "index": self.index}


def find_forks(heads: Iterable[SignedTreeHead]) -> list[Problem]:
    """Two signed heads for the same size with different roots: the log was forked (分叉)."""
    seen: dict[int, SignedTreeHead] = {}
    problems = []
    for sth in heads:
        other = seen.get(sth.tree_size)
        if other is None:
            seen[sth.tree_size] = sth
        elif other.root_hash != sth.root_hash:
            problems.append(Problem("forked_history",
                                    f"two signed heads for size {sth.tree_size} with different "
                                    f"roots", index=None))
    return problems


def check_against_last_head(tree: MerkleTree, last_head: SignedTreeHead,
                            public_key: Ed25519PublicKey) -> list[Problem]:
    """Compare a log (its Merkle tree) with the last head an inspector kept from an earlier export.

    A log shorter than that head is an older state (e.g. a restored database backup); a log whose
    first ``tree_size`` records do not give that head's root has had its history rewritten.
    """
    if not verify_head_signature(last_head, public_key):
        return [Problem("bad_signature", "the last known head is not signed by this key")]
    if last_head.tree_size > tree.size:
        return [Problem("rolled_back",
                        f"the log has {tree.size} records but a head for "
                        f"{last_head.tree_size} was already signed: an older state was restored",
                        index=tree.size)]
    if tree.root(last_head.tree_size) != last_head.root_hash:
        return [Problem("history_rewritten",
                        f"the first {last_head.tree_size} records do not give the root of the "
                        f"last known head", index=None)]
    return []


# --- export -----------------------------------------------------------------------------------

def _line(obj: Mapping[str, Any]) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False) + "\n"


def write_export(*, log_id: str, public_key: Ed25519PublicKey, exported_at: str,
                 records: Iterable[tuple[int, bytes, bytes]], record_count: int,
                 tree: MerkleTree, heads: Sequence[SignedTreeHead],
                 mode: str = "full") -> Iterator[str]:
    """Lines of an export file.

    ``records`` yields ``(index, canonical content, chain hash)``; in ``full`` mode they must be
    every record from 0 in order (``record_count`` of them); in ``selection`` mode any records,
    each of which gets an inclusion proof against the last head. ``heads`` must be in increasing
    size, none larger than ``tree``.
    """
    if mode not in ("full", "selection"):
        raise ValueError("mode is full or selection")
    heads = sorted(heads, key=lambda h: h.tree_size)
    yield _line({"kind": "header", "format": EXPORT_FORMAT, "version": EXPORT_VERSION,
                 "log_id": log_id, "mode": mode, "public_key": public_key_bytes(public_key).hex(),
                 "key_id": key_id(public_key), "record_count": record_count,
                 "exported_at": exported_at})
    selected = []
    for index, content, link in records:
        item = {"kind": "record", "index": index, "content": json.loads(content)}
        if mode == "full":
            item["chain_hash"] = link.hex()
        else:
            selected.append(index)
        yield _line(item)
    for sth in heads:
        yield _line({"kind": "head", **sth.as_dict()})
    for before, after in zip(heads, heads[1:]):
        yield _line({"kind": "consistency", "first": before.tree_size, "second": after.tree_size,
                     "proof": [p.hex() for p in tree.consistency_proof(before.tree_size,
                                                                       after.tree_size)]})
    if mode == "selection" and heads:
        last = heads[-1].tree_size
        for index in selected:
            yield _line({"kind": "inclusion", "index": index, "tree_size": last,
                         "proof": [p.hex() for p in tree.inclusion_proof(index, last)]})


@dataclass
class ExportReport:
    ok: bool = True
    mode: str | None = None
    records: int = 0
    heads: int = 0
    proofs_checked: int = 0
    first_bad_index: int | None = None
    problems: list[Problem] = field(default_factory=list)
    latest_head: SignedTreeHead | None = None

    def add(self, problem: Problem) -> None:
        self.ok = False
        self.problems.append(problem)
        if problem.index is not None and (self.first_bad_index is None
                                          or problem.index < self.first_bad_index):
            self.first_bad_index = problem.index

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "mode": self.mode, "records": self.records, "heads": self.heads,
                "proofs_checked": self.proofs_checked, "first_bad_index": self.first_bad_index,
                "problems": [p.as_dict() for p in self.problems],
                "latest_head": self.latest_head.as_dict() if self.latest_head else None}


def _proof(value: Any) -> list[bytes] | None:
    if not isinstance(value, list):
        return None
    out = []
    for item in value:
        if not isinstance(item, str):
            return None
        try:
            raw = bytes.fromhex(item)
        except ValueError:
            return None
        out.append(raw)
    return out


def verify_export(lines: Iterable[str | bytes], *,
                  trusted_public_key: Ed25519PublicKey | None = None,
                  last_known_head: SignedTreeHead | None = None) -> ExportReport:
    """Check an export file offline (see module docstring). Never raises on bad input."""
    report = ExportReport()
    tree = MerkleTree()
    leaves: dict[int, bytes] = {}
    heads: list[SignedTreeHead] = []
    consistency: dict[tuple[int, int], list[bytes] | None] = {}
    inclusion: list[tuple[int, int, list[bytes] | None]] = []
    header: dict[str, Any] | None = None
    public_key: Ed25519PublicKey | None = None
    previous = GENESIS_HASH
    chain_broken = False  # a gap or reordering: later records cannot be placed
    chain_fault: int | None = None  # first record whose content does not give its chain hash

    for number, raw in enumerate(lines, start=1):
        text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
        if not text.strip():
            continue
        try:
            obj = json.loads(text)
        except ValueError:
            report.add(Problem("malformed_line", f"line {number} is not JSON"))
            continue
        if not isinstance(obj, dict):
            report.add(Problem("malformed_line", f"line {number} is not an object"))
            continue
        kind = obj.get("kind")
        if header is None:
            if kind != "header" or obj.get("format") != EXPORT_FORMAT \
                    or obj.get("version") != EXPORT_VERSION:
                report.add(Problem("malformed_header",
                                   f"line {number}: not a {EXPORT_FORMAT} v{EXPORT_VERSION} header"))
                return report
            header = obj
            report.mode = obj.get("mode")
            if report.mode not in ("full", "selection"):
                report.add(Problem("malformed_header", "mode is neither full nor selection"))
                return report
            try:
                public_key = load_public_key(str(obj.get("public_key", "")))
            except (SigningKeyError, ValueError):
                report.add(Problem("malformed_header", "the header's public key cannot be read"))
                return report
            if trusted_public_key is not None and \
                    public_key_bytes(public_key) != public_key_bytes(trusted_public_key):
                report.add(Problem("untrusted_key",
                                   "the export is signed with another key than the trusted one"))
                public_key = trusted_public_key
            continue
        if kind == "record":
            index = obj.get("index")
            content = obj.get("content")
            if not isinstance(index, int) or not isinstance(content, dict):
                report.add(Problem("malformed_record", f"line {number}: record without index "
                                                       f"or content"))
                continue
            try:
                leaf = hash_leaf(canonical_bytes(content))
            except CanonicalEncodingError:
                report.add(Problem("malformed_record", f"record {index} has no canonical form",
                                   index=index))
                continue
            report.records += 1
            if report.mode == "full":
                if chain_broken:
                    continue
                if index != tree.size:
                    report.add(Problem("missing_record" if index > tree.size else "out_of_order",
                                       f"expected record {tree.size}, found {index}",
                                       index=min(index, tree.size)))
                    # Positions are no longer trustworthy: later records are not placed.
                    chain_broken = True
                    continue
                tree.append_hash(leaf)
                link = chain_hash(previous, leaf)
                stored = obj.get("chain_hash")
                if stored != link.hex() and chain_fault is None:
                    # Later records cannot match either; the signed roots still get checked.
                    chain_fault = index
                    report.add(Problem("content_changed",
                                       f"record {index}: content or chain hash does not match",
                                       index=index))
                previous = link
            else:
                leaves[index] = leaf
        elif kind == "head":
            try:
                sth = SignedTreeHead.from_dict(obj)
            except ValueError as exc:
                report.add(Problem("malformed_head", f"line {number}: {exc}"))
                continue
            if header and sth.head.log_id != header.get("log_id"):
                report.add(Problem("wrong_log", f"head for size {sth.tree_size} names another log"))
            if public_key is None or not verify_head_signature(sth, public_key):
                report.add(Problem("bad_signature",
                                   f"head for size {sth.tree_size} has an invalid signature"))
                continue
            heads.append(sth)
        elif kind == "consistency":
            first, second = obj.get("first"), obj.get("second")
            if not isinstance(first, int) or not isinstance(second, int):
                report.add(Problem("malformed_proof", f"line {number}: consistency proof sizes"))
                continue
            consistency[(first, second)] = _proof(obj.get("proof"))
        elif kind == "inclusion":
            index, size = obj.get("index"), obj.get("tree_size")
            if not isinstance(index, int) or not isinstance(size, int):
                report.add(Problem("malformed_proof", f"line {number}: inclusion proof fields"))
                continue
            inclusion.append((index, size, _proof(obj.get("proof"))))
        else:
            report.add(Problem("malformed_line", f"line {number}: unknown kind"))

    if header is None:
        report.add(Problem("malformed_header", "the file has no header"))
        return report

    report.heads = len(heads)
    for problem in find_forks(heads):
        report.add(problem)
    # Increasing order of distinct sizes (duplicates with equal roots are harmless).
    ordered: list[SignedTreeHead] = []
    for sth in heads:
        if ordered and sth.tree_size < ordered[-1].tree_size:
            report.add(Problem("heads_out_of_order",
                               f"head for size {sth.tree_size} after head for "
                               f"{ordered[-1].tree_size}"))
        if not ordered or sth.tree_size > ordered[-1].tree_size:
            ordered.append(sth)
    if ordered:
        report.latest_head = ordered[-1]
    else:
        report.add(Problem("no_signed_head", "the export contains no valid signed head"))

    if report.mode == "full":
        count = header.get("record_count")
        if isinstance(count, int) and count != report.records:
            report.add(Problem("missing_record", f"header announces {count} records, file has "
                                                 f"{report.records}",
                               index=min(count, report.records)))
        before = 0
        for sth in ordered:
            if sth.tree_size > tree.size:
                report.add(Problem("missing_record",
                                   f"head for size {sth.tree_size} but only {tree.size} "
                                   f"verifiable records", index=tree.size))
                break
            if tree.root(sth.tree_size) != sth.root_hash:
                # Without a located chain fault, the first record under this head is named.
                located = chain_fault is not None and chain_fault < sth.tree_size
                report.add(Problem("root_mismatch",
                                   f"records {before}..{sth.tree_size - 1} do not give the signed "
                                   f"root for size {sth.tree_size}",
                                   index=None if located else before))
                break
            before = sth.tree_size
    # Consistency between every two successive signed heads.
    for a, b in zip(ordered, ordered[1:]):
        key = (a.tree_size, b.tree_size)
        if key not in consistency:
            report.add(Problem("missing_proof", f"no consistency proof {key[0]} -> {key[1]}"))
            continue
        proof = consistency[key]
        report.proofs_checked += 1
        if proof is None or not verify_consistency(a.tree_size, b.tree_size, a.root_hash,
                                                   b.root_hash, proof):
            report.add(Problem("bad_consistency_proof",
                               f"heads {key[0]} and {key[1]} are not proven consistent"))
    if report.mode == "selection":
        by_size = {sth.tree_size: sth for sth in ordered}
        proven = set()
        for index, size, proof in inclusion:
            report.proofs_checked += 1
            sth = by_size.get(size)
            leaf = leaves.get(index)
            if sth is None or leaf is None or proof is None or \
                    not verify_inclusion(leaf, index, size, proof, sth.root_hash):
                report.add(Problem("bad_inclusion_proof",
                                   f"record {index} is not proven in the head for size {size}",
                                   index=index))
            else:
                proven.add(index)
        for index in sorted(set(leaves) - proven):
            if not any(p.index == index for p in report.problems):
                report.add(Problem("missing_proof", f"record {index} has no inclusion proof",
                                   index=index))
    if last_known_head is not None and public_key is not None:
        if report.mode == "full":
            for problem in check_against_last_head(tree, last_known_head, public_key):
                report.add(problem)
        else:
            latest = report.latest_head
            if latest is None or latest.tree_size < last_known_head.tree_size:
                report.add(Problem("rolled_back", "the export's latest head is older than the "
                                                  "last known head"))
        for sth in ordered:
            if sth.tree_size == last_known_head.tree_size and \
                    sth.root_hash != last_known_head.root_hash:
                report.add(Problem("forked_history", f"the export's head for size "
                                                     f"{sth.tree_size} differs from the last "
                                                     f"known head"))
    return report
