"""A Merkle tree over the audit records, RFC 9162 (Certificate Transparency v2) style.

Hashes (RFC 9162 §2.1.1): the empty tree's root is ``SHA-256()``; a leaf is
``SHA-256(0x00 || record)``; an interior node is ``SHA-256(0x01 || left || right)``; a tree of ``n``
leaves splits at ``k``, the largest power of two smaller than ``n``.

:class:`MerkleTree` keeps every leaf hash and every *perfect* subtree root (the nodes of complete
power-of-two blocks) in flat byte arrays, one per level, so that

- appending a leaf costs O(1) amortised hashes (a leaf completes at most log n blocks);
- the root of any historic tree size, an inclusion proof or a consistency proof costs O(log n)
  look-ups plus at most O(log n) hashes for the ragged right edge: nothing is rebuilt per proof;
- a million leaves take about 64 MB (two 32-byte hashes per leaf at most).

The prover (the methods of :class:`MerkleTree`) follows the recursive definitions of RFC 9162
§2.1.3.1 (``PATH``) and §2.1.4.1 (``PROOF``/``SUBPROOF``). The verifiers
(:func:`verify_inclusion`, :func:`verify_consistency`) are written separately from it, following
the iterative bit-walking algorithms of §2.1.3.2 and §2.1.4.2; they share nothing with the prover
but the two hash functions, so a bug in one is not silently mirrored by the other.

Pure: no framework imports.
"""
from __future__ import annotations

import hashlib
from typing import Iterable, Sequence

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()


def hash_leaf(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def hash_children(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two strictly smaller than ``n`` (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


class MerkleTree:
    """An append-only Merkle tree over leaf hashes (see module docstring)."""

    def __init__(self, leaf_hashes: Iterable[bytes] = ()) -> None:
        # _levels[h] holds, concatenated, the roots of the complete blocks of 2**h leaves.
        self._levels: list[bytearray] = [bytearray()]
        self._size = 0
        for h in leaf_hashes:
            self.append_hash(h)

    # --- building ---------------------------------------------------------------------------
    @property
    def size(self) -> int:
        return self._size

    def append_hash(self, leaf_hash: bytes) -> int:
        """Append a leaf by its (already computed) leaf hash; return its index."""
        if len(leaf_hash) != HASH_SIZE:
            raise ValueError("a leaf hash has 32 bytes")
        index = self._size
        self._levels[0] += leaf_hash
        self._size += 1
        level, i, node = 0, index, leaf_hash
        while i & 1:  # this node completes a pair: its parent block is now complete
            left = self._levels[level][(i - 1) * HASH_SIZE:i * HASH_SIZE]
            node = hash_children(bytes(left), node)
            level += 1
            i >>= 1
            if len(self._levels) <= level:
                self._levels.append(bytearray())
            self._levels[level] += node
        return index

    def append(self, data: bytes) -> int:
        """Append a leaf by its content."""
        return self.append_hash(hash_leaf(data))

    def leaf_hash(self, index: int) -> bytes:
        if not 0 <= index < self._size:
            raise IndexError(index)
        return bytes(self._levels[0][index * HASH_SIZE:(index + 1) * HASH_SIZE])

    # --- subtree roots ----------------------------------------------------------------------
    def _subtree_root(self, lo: int, hi: int) -> bytes:
        """MTH(D[lo:hi]) for 0 <= lo < hi <= size."""
        n = hi - lo
        if n & (n - 1) == 0 and lo % n == 0:  # a complete, aligned block: stored
            level = n.bit_length() - 1
            i = lo >> level
            return bytes(self._levels[level][i * HASH_SIZE:(i + 1) * HASH_SIZE])
        k = _split(n)
        return hash_children(self._subtree_root(lo, lo + k), self._subtree_root(lo + k, hi))

    def _check_size(self, tree_size: int | None) -> int:
        size = self._size if tree_size is None else tree_size
        if not 0 <= size <= self._size:
            raise ValueError(f"tree size {size} outside 0..{self._size}")
        return size

    def root(self, tree_size: int | None = None) -> bytes:
        """The root of the tree made of the first ``tree_size`` leaves (default: all)."""
        size = self._check_size(tree_size)
        if size == 0:
            return EMPTY_ROOT
        return self._subtree_root(0, size)

    # --- proofs (RFC 9162 §2.1.3.1 and §2.1.4.1) ---------------------------------------------
    def inclusion_proof(self, index: int, tree_size: int | None = None) -> list[bytes]:
        """PATH(index, D[0:tree_size]): the audit path of one leaf, leaf-side first."""
        size = self._check_size(tree_size)
        if not 0 <= index < size:
            raise ValueError(f"leaf {index} is not in a tree of size {size}")
        path: list[bytes] = []
        lo, hi, m = 0, size, index
        # Walk down from the root, collecting the sibling subtree at each split; reverse at the end.
        while hi - lo > 1:
            k = _split(hi - lo)
            if m < k:
                path.append(self._subtree_root(lo + k, hi))
                hi = lo + k
            else:
                path.append(self._subtree_root(lo, lo + k))
                lo, m = lo + k, m - k
        path.reverse()
        return path

    def consistency_proof(self, old_size: int, new_size: int | None = None) -> list[bytes]:
        """PROOF(old_size, D[0:new_size]). Empty when old_size is 0 or equals new_size."""
        size = self._check_size(new_size)
        if not 0 <= old_size <= size:
            raise ValueError(f"old size {old_size} outside 0..{size}")
        if old_size == 0 or old_size == size:
            return []
        proof: list[bytes] = []
        lo, hi, m, whole = 0, size, old_size, True
        while True:
            n = hi - lo
            if m == n:
                if not whole:
                    proof.append(self._subtree_root(lo, hi))
                break
            k = _split(n)
            if m <= k:
                proof.append(self._subtree_root(lo + k, hi))
                hi = lo + k
            else:
                proof.append(self._subtree_root(lo, lo + k))
                lo, m, whole = lo + k, m - k, False
        proof.reverse()
        return proof


# --- independent verifiers (RFC 9162 §2.1.3.2 and §2.1.4.2) -----------------------------------

def _valid_path(path: Sequence[bytes]) -> bool:
    return all(isinstance(p, (bytes, bytearray)) and len(p) == HASH_SIZE for p in path)


def root_from_inclusion_proof(leaf_hash: bytes, leaf_index: int, tree_size: int,
                              inclusion_path: Sequence[bytes]) -> bytes | None:
    """The root an inclusion path leads to, or None when the path cannot be valid."""
    if not _valid_path(inclusion_path) or len(leaf_hash) != HASH_SIZE:
        return None
    # 1. leaf_index must be in the tree.
    if leaf_index < 0 or leaf_index >= tree_size:
        return None
    # 2. fn = leaf_index, sn = tree_size - 1.  3. r = hash.
    fn, sn = leaf_index, tree_size - 1
    r = bytes(leaf_hash)
    # 4. for each p in the path:
    for p in inclusion_path:
        p = bytes(p)
        if sn == 0:  # a. path longer than the tree is tall
            return None
        if fn & 1 or fn == sn:  # b. p is a left sibling
            r = hashlib.sha256(b"\x01" + p + r).digest()
            if not fn & 1:
                while fn & 1 == 0 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:  # p is a right sibling
            r = hashlib.sha256(b"\x01" + r + p).digest()
        fn >>= 1  # c.
        sn >>= 1
    # 5. sn must be 0 (the path reached the root).
    if sn != 0:
        return None
    return r


def verify_inclusion(leaf_hash: bytes, leaf_index: int, tree_size: int,
                     inclusion_path: Sequence[bytes], root_hash: bytes) -> bool:
    """RFC 9162 §2.1.3.2: is the leaf at ``leaf_index`` in the tree with ``root_hash``?"""
    r = root_from_inclusion_proof(leaf_hash, leaf_index, tree_size, inclusion_path)
    return r is not None and r == bytes(root_hash)


def verify_consistency(first: int, second: int, first_hash: bytes, second_hash: bytes,
                       consistency_path: Sequence[bytes]) -> bool:
    """RFC 9162 §2.1.4.2: is the tree of size ``second`` an append-only extension of ``first``?

    Edge cases outside the RFC's 0 < first < second: equal sizes need an empty proof and equal
    roots; first = 0 (the empty tree) is consistent with any tree and needs an empty proof.
    """
    if not _valid_path(consistency_path):
        return False
    if first < 0 or second < first:
        return False
    if first == second:
        return len(consistency_path) == 0 and bytes(first_hash) == bytes(second_hash)
    if first == 0:
        return len(consistency_path) == 0 and bytes(first_hash) == EMPTY_ROOT
    # 1. an empty path fails.
    if not consistency_path:
        return False
    path = [bytes(c) for c in consistency_path]
    # 2. if first is an exact power of 2, prepend first_hash.
    if first & (first - 1) == 0:
        path = [bytes(first_hash)] + path
    # 3. fn = first - 1, sn = second - 1.
    fn, sn = first - 1, second - 1
    # 4. if LSB(fn) is set, shift fn and sn right until it is not.
    while fn & 1:
        fn >>= 1
        sn >>= 1
    # 5. fr = sr = path[0].
    fr = sr = path[0]
    # 6. for each c after the first:
    for c in path[1:]:
        if sn == 0:  # a.
            return False
        if fn & 1 or fn == sn:  # b.
            fr = hashlib.sha256(b"\x01" + c + fr).digest()
            sr = hashlib.sha256(b"\x01" + c + sr).digest()
            if not fn & 1:
                while fn & 1 == 0 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = hashlib.sha256(b"\x01" + sr + c).digest()
        fn >>= 1  # c.
        sn >>= 1
    # 7. both roots must match and sn must be 0.
    return fr == bytes(first_hash) and sr == bytes(second_hash) and sn == 0
