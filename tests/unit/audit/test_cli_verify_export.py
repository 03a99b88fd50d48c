"""`zhicheng audit verify-export FILE`: exit 0 when intact, non-zero naming the first bad record."""
import json

import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from services.audit.chain import iter_chain
from services.audit.checkpoint import HeadSigner, public_key_pem, write_export
from services.audit.cli import audit
from services.audit.merkle import MerkleTree

pytestmark = pytest.mark.unit


@pytest.fixture
def key():
    return Ed25519PrivateKey.generate()


def export(tmp_path, key, n=25, heads_at=(10, 25)):
    rows = list(iter_chain({"position": i, "event": {"event_id": f"e{i}", "payload": {"case_id": "C1"}}}
                           for i in range(n)))
    tree = MerkleTree(r.leaf_hash for r in rows)
    signer = HeadSigner(key, "log")
    heads = [signer.sign(s, tree.root(s), f"2023-11-0{i + 1}T09:00:00+08:00") for i, s in enumerate(heads_at)]
    lines = list(write_export(log_id="log", public_key=key.public_key(), exported_at="2023-11-30T00:00:00+08:00",
                              records=((r.position, r.content, r.chain_hash) for r in rows),
                              record_count=n, tree=tree, heads=heads))
    path = tmp_path / "audit-export.jsonl"
    path.write_text("".join(lines), encoding="utf-8")
    return path, heads


def test_verify_export_exits_zero_for_an_intact_file(tmp_path, key):
    path, _ = export(tmp_path, key)
    pem = tmp_path / "bureau.pub"
    pem.write_bytes(public_key_pem(key))
    result = CliRunner().invoke(audit, ["verify-export", str(path), "--public-key", str(pem)])
    assert result.exit_code == 0, result.output
    assert "OK: 25 records, 2 signed heads" in result.output


def test_verify_export_exits_one_and_names_the_first_bad_record(tmp_path, key):
    path, _ = export(tmp_path, key)
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    lines[14] = lines[14].replace('"C1"', '"C2"')  # record index 13
    path.write_text("".join(lines), encoding="utf-8")
    result = CliRunner().invoke(audit, ["verify-export", str(path)])
    assert result.exit_code == 1
    assert "first bad record: index 13" in result.output


def test_verify_export_detects_a_restored_older_log_against_a_kept_head(tmp_path, key):
    _, heads = export(tmp_path, key, n=40, heads_at=(10, 40))
    kept = tmp_path / "last-head.json"
    kept.write_text(json.dumps(heads[-1].as_dict()))
    older, _ = export(tmp_path, key, n=25, heads_at=(10, 25))
    result = CliRunner().invoke(audit, ["verify-export", str(older), "--last-head", str(kept)])
    assert result.exit_code == 1 and "rolled_back" in result.output


def test_verify_export_exits_two_for_a_missing_file(tmp_path):
    result = CliRunner().invoke(audit, ["verify-export", str(tmp_path / "none.jsonl")])
    assert result.exit_code == 2


def test_keygen_writes_a_private_key_only_readable_by_its_owner(tmp_path):
    out = tmp_path / "k.pem"
    result = CliRunner().invoke(audit, ["keygen", "--out", str(out)])
    assert result.exit_code == 0 and "BEGIN PUBLIC KEY" in result.output
    assert "PRIVATE" not in result.output and oct(out.stat().st_mode & 0o777) == "0o600"
    assert CliRunner().invoke(audit, ["keygen", "--out", str(out)]).exit_code == 2
