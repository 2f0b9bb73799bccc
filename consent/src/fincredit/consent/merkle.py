"""RFC 9162 (Certificate Transparency v2) / RFC 6962 Merkle tree hashing and proof verification.

Exactly the standard hashing, so any CT verifier agrees with our roots: SHA-256, leaf hash
``H(0x00 || entry)``, interior node ``H(0x01 || left || right)``, a tree of n > 1 leaves split at the largest
power of two smaller than n, and the empty tree hashing to ``SHA-256("")``. The verification routines follow
RFC 9162 §2.1.3.2 (inclusion) and §2.1.4.2 (consistency) step by step.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence

from fincredit.consent.errors import ProofError

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "RootAccumulator",
    "check_hash",
    "largest_power_of_two_below",
    "leaf_hash",
    "node_hash",
    "root_from_inclusion_proof",
    "root_of",
    "verify_consistency",
    "verify_inclusion",
]

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()
_sha256 = hashlib.sha256


def leaf_hash(entry: bytes) -> bytes:
    return _sha256(b"\x00" + entry).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return _sha256(b"\x01" + left + right).digest()


def largest_power_of_two_below(n: int) -> int:
    """The k of RFC 9162 §2.1.1: the largest power of two strictly smaller than n (n > 1)."""
    if n < 2:
        raise ValueError("only a tree of two or more leaves is split")
    return 1 << ((n - 1).bit_length() - 1)


class RootAccumulator:
    """Streaming root computation: feed leaf hashes in order, read the root at any size.

    It keeps the perfect subtrees of the leaves seen so far (at most log2(n) hashes), which is all the
    state a verifier of a million-entry export needs.
    """

    __slots__ = ("_levels", "_stack", "size")

    def __init__(self) -> None:
        self._stack: list[bytes] = []
        self._levels: list[int] = []
        self.size = 0

    def add(self, leaf: bytes) -> None:
        stack, levels = self._stack, self._levels
        h, level = leaf, 0
        while levels and levels[-1] == level:
            h = _sha256(b"\x01" + stack.pop() + h).digest()
            levels.pop()
            level += 1
        stack.append(h)
        levels.append(level)
        self.size += 1

    def extend(self, leaves: Iterable[bytes]) -> None:
        for leaf in leaves:
            self.add(leaf)

    def root(self) -> bytes:
        if not self._stack:
            return EMPTY_ROOT
        acc = self._stack[-1]
        for h in reversed(self._stack[:-1]):
            acc = _sha256(b"\x01" + h + acc).digest()
        return acc


def root_of(leaf_hashes: Iterable[bytes]) -> bytes:
    acc = RootAccumulator()
    acc.extend(leaf_hashes)
    return acc.root()


def check_hash(h: bytes, what: str = "a hash") -> None:
    """Refuse a hash that is not a SHA-256 (a short or empty one), before anything compares it."""
    if len(h) != HASH_SIZE:
        raise ProofError(f"{what} is {HASH_SIZE} bytes, got {len(h)}")


def _check_hashes(*hashes: bytes) -> None:
    for h in hashes:
        check_hash(h)


def root_from_inclusion_proof(leaf: bytes, index: int, size: int, proof: Sequence[bytes]) -> bytes:
    """The root that ``proof`` implies for ``leaf`` at ``index`` in a tree of ``size`` (RFC 9162 §2.1.3.2)."""
    _check_hashes(leaf, *proof)
    if not 0 <= index < size:
        raise ProofError(f"leaf index {index} is outside a tree of size {size}")
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            raise ProofError("the inclusion proof is longer than the tree is deep")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("the inclusion proof is shorter than the tree is deep")
    return r


def verify_inclusion(leaf: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes) -> None:
    """Raise :class:`ProofError` unless ``proof`` shows ``leaf`` at ``index`` in the tree with ``root``."""
    check_hash(root, "the root hash")
    if root_from_inclusion_proof(leaf, index, size, proof) != root:
        raise ProofError(f"inclusion proof for leaf {index} does not lead to the root of size {size}")


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> None:
    """Raise :class:`ProofError` unless the tree of ``new_size`` extends that of ``old_size`` (§2.1.4.2)."""
    check_hash(old_root, "the old root hash")
    check_hash(new_root, "the new root hash")
    _check_hashes(*proof)
    if not 0 <= old_size <= new_size:
        raise ProofError(f"a tree of size {new_size} cannot extend one of size {old_size}")
    if old_size == new_size:
        if proof:
            raise ProofError("a consistency proof between equal sizes is empty")
        if old_root != new_root:
            raise ProofError(f"two different roots for the same size {old_size}")
        return
    if old_size == 0:
        if proof:
            raise ProofError("a consistency proof from the empty tree is empty")
        return
    if not proof:
        raise ProofError("empty consistency proof between different non-empty sizes")
    path = list(proof)
    if old_size & (old_size - 1) == 0:
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise ProofError("the consistency proof is longer than the tree is deep")
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("the consistency proof is shorter than the tree is deep")
    if fr != old_root:
        raise ProofError(f"the consistency proof does not reproduce the root of size {old_size}")
    if sr != new_root:
        raise ProofError(f"the consistency proof does not reproduce the root of size {new_size}")
