"""Merkle tree proofs, checked by the independent RFC 9162 verifiers."""
import hashlib
import random

import pytest

from services.audit.merkle import (
    EMPTY_ROOT, MerkleTree, hash_children, hash_leaf, root_from_inclusion_proof,
    verify_consistency, verify_inclusion,
)

pytestmark = pytest.mark.unit


def reference_root(leaves):
    """MTH straight from RFC 9162 §2.1.1, recursion over leaf contents."""
    n = len(leaves)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return hashlib.sha256(b"\x00" + leaves[0]).digest()
    k = 1
    while k * 2 < n:
        k *= 2
    return hashlib.sha256(b"\x01" + reference_root(leaves[:k]) + reference_root(leaves[k:])).digest()


def leaves(n):
    return [f"record-{i}".encode() for i in range(n)]


def tree_of(n):
    t = MerkleTree()
    for data in leaves(n):
        t.append(data)
    return t


def test_roots_of_every_size_match_the_rfc_definition():
    data = leaves(70)
    t = tree_of(70)
    for size in range(71):
        assert t.root(size) == reference_root(data[:size])
    assert t.root(0) == EMPTY_ROOT


def test_every_inclusion_proof_up_to_forty_leaves_verifies_independently():
    t = tree_of(40)
    for size in range(1, 41):
        root = t.root(size)
        for index in range(size):
            proof = t.inclusion_proof(index, size)
            assert verify_inclusion(t.leaf_hash(index), index, size, proof, root), (index, size)


def test_every_consistency_proof_up_to_forty_leaves_verifies_independently():
    t = tree_of(40)
    for new in range(0, 41):
        for old in range(0, new + 1):
            proof = t.consistency_proof(old, new)
            assert verify_consistency(old, new, t.root(old), t.root(new), proof), (old, new)


def test_inclusion_proof_does_not_verify_for_another_leaf_or_index_or_root():
    t = tree_of(13)
    root = t.root()
    proof = t.inclusion_proof(5)
    assert not verify_inclusion(t.leaf_hash(6), 5, 13, proof, root)
    assert not verify_inclusion(t.leaf_hash(5), 4, 13, proof, root)
    # (the tree size is bound to the root by the signed head, not by the path; a size whose tree
    # has another shape gives another root)
    assert not verify_inclusion(t.leaf_hash(5), 5, 8, proof, root)
    assert not verify_inclusion(t.leaf_hash(5), 5, 13, proof, t.root(12))
    assert not verify_inclusion(t.leaf_hash(5), 13, 13, proof, root)


def mutations(proof):
    """Altered, truncated, extended, garbage-prefixed, empty and reordered variants of a proof."""
    out = []
    for i in range(len(proof)):
        altered = list(proof)
        altered[i] = bytes([altered[i][0] ^ 1]) + altered[i][1:]
        out.append(("altered", altered))
    if proof:
        out.append(("truncated", proof[:-1]))
        out.append(("first dropped", proof[1:]))
        out.append(("empty", []))
        out.append(("short element", [proof[0][:31]] + proof[1:]))
    out.append(("garbage prefix", [b"\xab" * 32] + list(proof)))
    out.append(("garbage suffix", list(proof) + [b"\xcd" * 32]))
    if len(proof) > 1 and proof[0] != proof[1]:
        out.append(("swapped", [proof[1], proof[0]] + proof[2:]))
    return out


@pytest.mark.parametrize("index,size", [(0, 1), (0, 2), (1, 2), (3, 7), (6, 7), (8, 9), (31, 32), (17, 33)])
def test_mutated_inclusion_proofs_are_rejected(index, size):
    t = tree_of(size)
    proof = t.inclusion_proof(index)
    assert verify_inclusion(t.leaf_hash(index), index, size, proof, t.root())
    for name, bad in mutations(proof):
        if bad == proof:
            continue
        assert not verify_inclusion(t.leaf_hash(index), index, size, bad, t.root()), name


@pytest.mark.parametrize("old,new", [(1, 2), (1, 3), (3, 7), (4, 7), (6, 8), (7, 8), (8, 9), (5, 33), (16, 17)])
def test_mutated_consistency_proofs_are_rejected(old, new):
    t = tree_of(new)
    proof = t.consistency_proof(old, new)
    assert verify_consistency(old, new, t.root(old), t.root(new), proof)
    for name, bad in mutations(proof):
        if bad == proof:
            continue
        assert not verify_consistency(old, new, t.root(old), t.root(new), bad), name


def test_consistency_fails_when_history_was_rewritten():
    honest = tree_of(10)
    forked = MerkleTree()
    for i, data in enumerate(leaves(10)):
        forked.append(data if i != 3 else b"rewritten")
    proof = forked.consistency_proof(5, 10)
    assert not verify_consistency(5, 10, honest.root(5), forked.root(10), proof)


def test_equal_sizes_need_equal_roots_and_an_empty_proof():
    t = tree_of(6)
    assert verify_consistency(6, 6, t.root(), t.root(), [])
    assert not verify_consistency(6, 6, t.root(), t.root(5), [])
    assert not verify_consistency(6, 6, t.root(), t.root(), [t.root()])
    assert not verify_consistency(7, 6, t.root(), t.root(), [])


def test_random_large_sizes_verify_without_rebuilding():
    rng = random.Random(7)
    t = MerkleTree()
    for i in range(5000):
        t.append_hash(hashlib.sha256(i.to_bytes(4, "big")).digest())
    for _ in range(200):
        new = rng.randint(1, 5000)
        old = rng.randint(0, new)
        index = rng.randrange(new)
        assert verify_inclusion(t.leaf_hash(index), index, new, t.inclusion_proof(index, new), t.root(new))
        assert verify_consistency(old, new, t.root(old), t.root(new), t.consistency_proof(old, new))


def test_root_from_inclusion_proof_refuses_a_path_longer_than_the_tree():
    t = tree_of(4)
    proof = t.inclusion_proof(2)
    assert root_from_inclusion_proof(t.leaf_hash(2), 2, 4, proof) == t.root()
    assert root_from_inclusion_proof(t.leaf_hash(2), 2, 4, proof + [b"\x00" * 32]) is None


def test_tree_built_from_stored_leaf_hashes_equals_tree_built_by_appending():
    t = tree_of(100)
    rebuilt = MerkleTree(t.leaf_hash(i) for i in range(100))
    assert rebuilt.root() == t.root()
    assert hash_children(hash_leaf(b"a"), hash_leaf(b"b")) == MerkleTree([hash_leaf(b"a"), hash_leaf(b"b")]).root()
