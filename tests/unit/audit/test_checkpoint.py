"""Signed tree heads and the offline verification of an export file."""
import json

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from services.audit.chain import canonical_bytes, iter_chain
from services.audit.checkpoint import (
    HeadSigner, SignedTreeHead, SigningKeyError, check_against_last_head, find_forks,
    load_public_key, load_signing_key, private_key_pem, public_key_pem, verify_export,
    verify_head_signature, write_export,
)
from services.audit.merkle import MerkleTree

pytestmark = pytest.mark.unit

LOG = "zhicheng-audit-shangyu"


def record(i, **extra):
    return {"position": i, "event": {"event_id": f"e{i}", "event_type": "submission_accepted",
                                     "payload": {"case_id": f"C{i % 7}", "备注": "材料"}, **extra}}


class Log:
    """A small in-memory log with periodic signed heads, as the service keeps one."""

    def __init__(self, key, n=0):
        self.signer = HeadSigner(key, LOG)
        self.rows = []
        self.tree = MerkleTree()
        self.heads = []
        self.add(n)

    def add(self, n):
        chained = list(iter_chain([r.content for r in self.rows] + [record(len(self.rows) + i) for i in range(n)]))
        for row in chained[len(self.rows):]:
            self.tree.append_hash(row.leaf_hash)
        self.rows = chained

    def sign(self):
        sth = self.signer.sign(self.tree.size, self.tree.root(), f"2023-11-0{len(self.heads) + 1}T09:00:00+08:00")
        self.heads.append(sth)
        return sth

    def export(self, mode="full", indexes=None):
        rows = self.rows if indexes is None else [self.rows[i] for i in indexes]
        return list(write_export(log_id=LOG, public_key=self.signer.public_key,
                                 exported_at="2023-11-30T09:00:00+08:00",
                                 records=((r.position, r.content, r.chain_hash) for r in rows),
                                 record_count=len(rows), tree=self.tree, heads=self.heads, mode=mode))


@pytest.fixture
def key():
    return Ed25519PrivateKey.generate()


@pytest.fixture
def log(key):
    log = Log(key, 10)
    log.sign()
    log.add(7)
    log.sign()
    log.add(16)
    log.sign()
    return log


def edit(lines, predicate, change):
    out = []
    for line in lines:
        obj = json.loads(line)
        if predicate(obj):
            obj = change(obj)
            if obj is None:
                continue
        out.append(json.dumps(obj, ensure_ascii=False) + "\n")
    return out


def codes(report):
    return {p.code for p in report.problems}


def test_an_untouched_full_export_verifies(log, key):
    report = verify_export(log.export(), trusted_public_key=key.public_key())
    assert report.ok, report.problems
    assert report.records == 33 and report.heads == 3 and report.proofs_checked == 2
    assert report.latest_head.tree_size == 33


def test_a_changed_byte_in_a_record_is_named_by_its_index(log):
    lines = edit(log.export(), lambda o: o.get("index") == 12 and o["kind"] == "record",
                 lambda o: {**o, "content": {**o["content"], "position": 112}})
    report = verify_export(lines)
    assert not report.ok and report.first_bad_index == 12


def test_a_changed_record_with_forged_chain_hashes_is_caught_by_the_signed_root(log):
    # The forger rewrites record 12 and recomputes every chain hash; only the signed roots remain.
    forged_rows = list(iter_chain([r.content for r in log.rows[:12]]
                                  + [canonical_bytes(record(112))]
                                  + [r.content for r in log.rows[13:]]))
    links = {r.position: r.chain_hash.hex() for r in forged_rows}
    contents = {r.position: json.loads(r.content) for r in forged_rows}
    lines = edit(log.export(), lambda o: o["kind"] == "record",
                 lambda o: {**o, "content": contents[o["index"]], "chain_hash": links[o["index"]]})
    report = verify_export(lines)
    assert not report.ok and "root_mismatch" in codes(report)
    assert report.first_bad_index == 10  # records 10..16 are under the second head


def test_a_deleted_record_is_named(log):
    lines = edit(log.export(), lambda o: o.get("index") == 20 and o["kind"] == "record", lambda o: None)
    report = verify_export(lines)
    assert not report.ok and report.first_bad_index == 20


def test_two_swapped_records_are_named_at_the_first(log):
    lines = log.export()
    a = next(i for i, l in enumerate(lines) if json.loads(l).get("index") == 5)
    b = next(i for i, l in enumerate(lines) if json.loads(l).get("index") == 8)
    lines[a], lines[b] = lines[b], lines[a]
    report = verify_export(lines)
    assert not report.ok and report.first_bad_index == 5


def test_a_record_with_swapped_index_fields_is_named_at_the_first(log):
    lines = edit(log.export(), lambda o: o.get("kind") == "record" and o["index"] in (5, 8),
                 lambda o: {**o, "index": 13 - o["index"]})
    lines = sorted(lines, key=lambda l: (json.loads(l)["kind"] != "header", json.loads(l).get("index", 0)))
    report = verify_export(lines)
    assert not report.ok and report.first_bad_index == 5


def test_records_cut_from_the_end_are_named(log):
    lines = edit(log.export(), lambda o: o["kind"] == "record" and o["index"] >= 30, lambda o: None)
    report = verify_export(lines)
    assert not report.ok and report.first_bad_index == 30


@pytest.mark.parametrize("mutation", ["altered", "truncated", "garbage prefix", "empty", "not hex"])
def test_a_mutated_consistency_proof_is_rejected(log, mutation):
    def mutate(o):
        proof = o["proof"]
        if mutation == "altered":
            proof = [("0" if proof[0][0] != "0" else "1") + proof[0][1:]] + proof[1:]
        elif mutation == "truncated":
            proof = proof[:-1]
        elif mutation == "garbage prefix":
            proof = ["ab" * 32] + proof
        elif mutation == "empty":
            proof = []
        else:
            proof = ["zz"] + proof[1:]
        return {**o, "proof": proof}
    lines = edit(log.export(), lambda o: o["kind"] == "consistency" and o["first"] == 17, mutate)
    report = verify_export(lines)
    assert not report.ok and codes(report) == {"bad_consistency_proof"}


def test_a_missing_consistency_proof_is_reported(log):
    lines = edit(log.export(), lambda o: o["kind"] == "consistency" and o["first"] == 10, lambda o: None)
    report = verify_export(lines)
    assert not report.ok and "missing_proof" in codes(report)


def test_a_forked_history_with_two_heads_for_one_size_is_reported(log, key):
    fork = HeadSigner(key, LOG).sign(17, MerkleTree([b"\x11" * 32] * 17).root(), "2023-11-05T09:00:00+08:00")
    lines = log.export()
    head17 = next(i for i, l in enumerate(lines) if json.loads(l).get("kind") == "head"
                  and json.loads(l)["tree_size"] == 17)
    lines.insert(head17 + 1, json.dumps({"kind": "head", **fork.as_dict()}) + "\n")
    report = verify_export(lines)
    assert not report.ok and "forked_history" in codes(report)
    assert find_forks([log.heads[1], fork])


def test_a_head_signed_with_another_key_is_rejected(log):
    stranger = HeadSigner(Ed25519PrivateKey.generate(), LOG).sign(33, log.tree.root(), "2023-11-09T09:00:00+08:00")
    lines = edit(log.export(), lambda o: o["kind"] == "head" and o["tree_size"] == 33,
                 lambda o: {"kind": "head", **stranger.as_dict()})
    report = verify_export(lines)
    assert not report.ok and "bad_signature" in codes(report)


def test_an_export_re_signed_by_someone_else_fails_against_the_trusted_key(log):
    report = verify_export(log.export(), trusted_public_key=Ed25519PrivateKey.generate().public_key())
    assert not report.ok and "untrusted_key" in codes(report)


def test_a_restored_older_log_is_detected_against_the_last_exported_head(key):
    log = Log(key, 10)
    log.sign()
    log.add(10)
    kept = log.sign()  # the inspector keeps this head from an export
    older = Log(key, 10)  # the database restored from a backup taken at 10 records
    older.heads = [log.heads[0]]
    report = verify_export(older.export(), last_known_head=kept)
    assert not report.ok and "rolled_back" in codes(report)
    assert report.first_bad_index == 10
    assert check_against_last_head(older.tree, kept, key.public_key())[0].code == "rolled_back"
    assert check_against_last_head(log.tree, kept, key.public_key()) == []


def test_a_rewritten_history_is_detected_against_the_last_exported_head(key):
    log = Log(key, 12)
    kept = log.sign()
    rewritten = Log(key, 0)
    rewritten.rows = list(iter_chain([record(i) if i != 4 else record(4, forged=True) for i in range(12)]))
    rewritten.tree = MerkleTree(r.leaf_hash for r in rewritten.rows)
    rewritten.sign()
    report = verify_export(rewritten.export(), last_known_head=kept)
    assert not report.ok and {"history_rewritten", "forked_history"} <= codes(report)


def test_a_selection_export_proves_each_record_by_inclusion(log, key):
    lines = log.export(mode="selection", indexes=[0, 7, 19, 32])
    report = verify_export(lines, trusted_public_key=key.public_key())
    assert report.ok, report.problems
    assert report.proofs_checked == 2 + 4


@pytest.mark.parametrize("mutation", ["altered", "truncated", "garbage prefix", "empty"])
def test_a_mutated_inclusion_proof_names_its_record(log, mutation):
    def mutate(o):
        proof = o["proof"]
        proof = {"altered": ["00" * 32] + proof[1:], "truncated": proof[:-1],
                 "garbage prefix": ["ab" * 32] + proof, "empty": []}[mutation]
        return {**o, "proof": proof}
    lines = edit(log.export(mode="selection", indexes=[0, 7, 19]),
                 lambda o: o["kind"] == "inclusion" and o["index"] == 7, mutate)
    report = verify_export(lines)
    assert not report.ok and report.first_bad_index == 7


def test_a_changed_record_in_a_selection_export_is_named(log):
    lines = edit(log.export(mode="selection", indexes=[0, 7, 19]),
                 lambda o: o["kind"] == "record" and o["index"] == 19,
                 lambda o: {**o, "content": {**o["content"], "extra": 1}})
    report = verify_export(lines)
    assert not report.ok and report.first_bad_index == 19


@pytest.mark.parametrize("junk", [[], ["not json\n"], ["{}\n"], ['{"kind":"header","format":"other"}\n']])
def test_garbage_files_fail_without_raising(junk):
    report = verify_export(junk)
    assert not report.ok


def test_garbage_before_the_header_fails(log):
    report = verify_export(["garbage\n"] + log.export())
    assert not report.ok


def test_keys_load_from_pem_seed_or_file_and_never_echo_the_key(tmp_path, key):
    pem = private_key_pem(key)
    path = tmp_path / "audit-signing.pem"
    path.write_bytes(pem)
    for source in (pem, pem.decode(), str(path)):
        assert public_key_pem(load_signing_key(source)) == public_key_pem(key)
    seed = Ed25519PrivateKey.from_private_bytes(b"\x07" * 32)
    assert public_key_pem(load_signing_key("07" * 32)) == public_key_pem(seed)
    assert public_key_pem(load_public_key(public_key_pem(key))) == public_key_pem(key)
    with pytest.raises(SigningKeyError) as caught:
        load_signing_key("-----BEGIN PRIVATE KEY-----\nsecretish\n-----END PRIVATE KEY-----\n")
    assert "secretish" not in str(caught.value)


def test_a_signed_head_round_trips_and_its_signature_covers_every_field(key):
    signer = HeadSigner(key, LOG)
    sth = signer.sign(5, b"\x01" * 32, "2023-11-01T09:00:00+08:00")
    again = SignedTreeHead.from_dict(json.loads(json.dumps(sth.as_dict())))
    assert verify_head_signature(again, key.public_key())
    for field, value in [("tree_size", 6), ("root_hash", "02" * 32), ("timestamp", "2023-11-02T09:00:00+08:00"),
                         ("log_id", "other")]:
        tampered = SignedTreeHead.from_dict({**sth.as_dict(), field: value})
        assert not verify_head_signature(tampered, key.public_key()), field


def test_the_service_reads_the_signing_key_as_deploy_sets_it(monkeypatch, key):
    from services.audit.service import settings_from_config

    monkeypatch.delenv("AUDIT_SIGNING_KEY", raising=False)
    monkeypatch.setenv("ZHICHENG_AUDIT_SIGNING_KEY", private_key_pem(key).decode())
    settings = settings_from_config({})
    assert public_key_pem(settings.signer.public_key) == public_key_pem(key)
