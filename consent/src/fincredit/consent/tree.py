"""The ledger's Merkle tree over a store of perfect-subtree hashes.

A :class:`TreeStore` keeps the hash of every *complete* (perfect) subtree, keyed by ``(level, index)``:
level 0 holds the leaf hashes, and node ``(L, i)`` covers leaves ``[i * 2**L, (i + 1) * 2**L)``. Appending
leaf n stores its hash and the hashes of the subtrees it completes (one per trailing 1-bit of n + 1, so
two writes per leaf on average). Such a node never changes once written, so the store is append-only too.

Every range an RFC 9162 proof or root needs is either a perfect subtree or a suffix ``[lo, n)`` of the tree,
and a suffix decomposes into the perfect subtrees of n's binary expansion. So a root, an inclusion proof or
a consistency proof, for any tree size, needs at most ~2·log2(n) stored hashes, fetched in **one**
:meth:`TreeStore.get_nodes` call (one ``SELECT ... WHERE (level, idx) IN (...)`` for a database store). The
tree is never rebuilt.

For a database the platform can skip :class:`MerkleTree` and use the pure planning functions: read
:func:`frontier_keys` of the current size, call :func:`plan_append` with the new leaf hashes, and insert the
returned nodes in the same transaction as the entries.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple, Protocol, runtime_checkable

from fincredit.consent.errors import ProofError, TreeStoreError
from fincredit.consent.merkle import EMPTY_ROOT, largest_power_of_two_below, node_hash

__all__ = [
    "InMemoryTreeStore",
    "MerkleTree",
    "Node",
    "NodeKey",
    "TreeStore",
    "consistency_ranges",
    "frontier_keys",
    "inclusion_ranges",
    "plan_append",
    "range_keys",
]


class NodeKey(NamedTuple):
    level: int
    idx: int


class Node(NamedTuple):
    level: int
    idx: int
    hash: bytes


@runtime_checkable
class TreeStore(Protocol):
    """Where the perfect-subtree hashes live (memory here; a table in the platform's database)."""

    def size(self) -> int:
        """The number of leaves stored."""
        ...

    def get_nodes(self, keys: Sequence[NodeKey]) -> list[bytes]:
        """The hashes of ``keys``, in order; raise :class:`TreeStoreError` if one is missing."""
        ...

    def put_nodes(self, nodes: Sequence[Node], new_size: int) -> None:
        """Store new nodes (as computed by :func:`plan_append`) and record the new leaf count."""
        ...


class InMemoryTreeStore:
    """A :class:`TreeStore` in Python lists: ``levels[L][i]`` is node (L, i)."""

    def __init__(self) -> None:
        self._levels: list[list[bytes]] = []
        self._size = 0

    def size(self) -> int:
        return self._size

    def get_nodes(self, keys: Sequence[NodeKey]) -> list[bytes]:
        levels = self._levels
        try:
            return [levels[level][index] for level, index in keys]
        except IndexError:
            missing = [k for k in keys if k[0] >= len(levels) or k[1] >= len(levels[k[0]])]
            raise TreeStoreError(f"tree store lacks nodes {missing[:5]}") from None

    def put_nodes(self, nodes: Sequence[Node], new_size: int) -> None:
        levels = self._levels
        for level, index, h in nodes:
            while len(levels) <= level:
                levels.append([])
            row = levels[level]
            if index != len(row):
                raise TreeStoreError(f"node ({level}, {index}) is not the next one on level {level}")
            row.append(h)
        self._size = new_size


def frontier_keys(size: int) -> list[NodeKey]:
    """The perfect subtrees that make up a tree of ``size`` leaves, largest (leftmost) first."""
    return range_keys(0, size)


def range_keys(lo: int, hi: int) -> list[NodeKey]:
    """The perfect subtrees of the range ``[lo, hi)``, largest first.

    Only ranges whose start is aligned to their size's next power of two are decomposed this way; those are
    exactly the ranges RFC 9162 hashes (the whole tree, perfect subtrees and their right-edge suffixes).
    """
    keys = []
    width = hi - lo
    pos = lo
    for level in range(width.bit_length() - 1, -1, -1):
        if width >> level & 1:
            if pos % (1 << level):
                raise ValueError(f"range [{lo}, {hi}) is not one RFC 9162 hashes")
            keys.append(NodeKey(level, pos >> level))
            pos += 1 << level
    return keys


def _fold(hashes: Sequence[bytes]) -> bytes:
    # MTH of a range = its perfect subtrees combined right to left (the split rule, unrolled).
    acc = hashes[-1]
    for h in reversed(hashes[:-1]):
        acc = node_hash(h, acc)
    return acc


def plan_append(size: int, frontier: Sequence[bytes], leaf_hashes: Sequence[bytes]) -> list[Node]:
    """The nodes to store when ``leaf_hashes`` are appended to a tree of ``size`` leaves.

    ``frontier`` is the hashes of :func:`frontier_keys` (size) in that order. The result holds the new
    leaves (level 0) and every subtree they complete; nothing else is read or changed.
    """
    keys = frontier_keys(size)
    if len(keys) != len(frontier):
        raise TreeStoreError(f"a tree of size {size} has {len(keys)} frontier nodes, got {len(frontier)}")
    stack: list[Node] = [Node(k.level, k.idx, h) for k, h in zip(keys, frontier, strict=True)]
    out: list[Node] = []
    append = out.append
    index = size
    for leaf in leaf_hashes:
        node = Node(0, index, leaf)
        append(node)
        index += 1
        while stack and stack[-1].level == node.level:
            left = stack.pop()
            node = Node(node.level + 1, left.idx >> 1, node_hash(left.hash, node.hash))
            append(node)
        stack.append(node)
    return out


def inclusion_ranges(index: int, size: int) -> list[tuple[int, int]]:
    """The leaf ranges whose hashes form PATH(index, D[0:size]) (RFC 9162 §2.1.3.1), in proof order."""
    if not 0 <= index < size:
        raise ProofError(f"leaf index {index} is outside a tree of size {size}")
    out = []
    lo, hi = 0, size
    while hi - lo > 1:
        k = largest_power_of_two_below(hi - lo)
        if index < lo + k:
            out.append((lo + k, hi))
            hi = lo + k
        else:
            out.append((lo, lo + k))
            lo += k
    out.reverse()
    return out


def consistency_ranges(old_size: int, new_size: int) -> list[tuple[int, int]]:
    """The leaf ranges whose hashes form PROOF(old_size, D[0:new_size]) (RFC 9162 §2.1.4.1), in order."""
    if not 0 <= old_size <= new_size:
        raise ProofError(f"a tree of size {new_size} cannot extend one of size {old_size}")
    if old_size in (0, new_size):
        return []
    out = []
    lo, hi, m, complete = 0, new_size, old_size, True
    while True:
        width = hi - lo
        if m == width:
            if not complete:
                out.append((lo, hi))
            break
        k = largest_power_of_two_below(width)
        if m <= k:
            out.append((lo + k, hi))
            hi = lo + k
        else:
            out.append((lo, lo + k))
            lo += k
            m -= k
            complete = False
    out.reverse()
    return out


class MerkleTree:
    """Appends, roots and proofs over a :class:`TreeStore`.

    ``cache_frontier`` keeps the right edge of the tree between appends (saving O(log n) reads per append).
    Leave it on only when this object is the store's sole writer and writes never roll back (memory); for
    a database shared by concurrent transactions use ``cache_frontier=False`` (or a fresh tree per
    transaction), since a rolled-back append followed by another writer's could leave a stale edge of the
    same size.
    """

    def __init__(self, store: TreeStore, *, cache_frontier: bool = True) -> None:
        self.store = store
        self.cache_frontier = cache_frontier
        self._frontier_size = -1
        self._frontier: list[bytes] = []

    @property
    def size(self) -> int:
        return self.store.size()

    def _current_frontier(self, size: int) -> list[bytes]:
        # The frontier is cached between appends; another writer moving the store on invalidates it.
        if self._frontier_size != size or not self.cache_frontier:
            self._frontier = self.store.get_nodes(frontier_keys(size)) if size else []
            self._frontier_size = size
        return self._frontier

    def append(self, leaf: bytes) -> int:
        """Append one leaf hash; return its index."""
        return self.append_many([leaf])[0].idx

    def append_many(self, leaf_hashes: Sequence[bytes]) -> list[Node]:
        """Append leaf hashes in order; return the nodes written (leaves and completed subtrees)."""
        size = self.store.size()
        nodes = plan_append(size, self._current_frontier(size), leaf_hashes)
        new_size = size + len(leaf_hashes)
        self.store.put_nodes(nodes, new_size)
        # The new frontier is the tail of what was just computed plus the untouched part of the old one.
        by_key = {(n.level, n.idx): n.hash for n in nodes}
        old = dict(zip(frontier_keys(size), self._frontier, strict=True))
        self._frontier = [by_key.get(k) or old[k] for k in frontier_keys(new_size)]
        self._frontier_size = new_size
        return nodes

    def _hash_ranges(self, ranges: Sequence[tuple[int, int]]) -> list[bytes]:
        pieces = [range_keys(lo, hi) for lo, hi in ranges]
        wanted = sorted({k for p in pieces for k in p})
        got = dict(zip(wanted, self.store.get_nodes(wanted), strict=True))
        return [_fold([got[k] for k in p]) for p in pieces]

    def _check_size(self, size: int) -> None:
        if size > self.store.size():
            raise TreeStoreError(f"the tree has {self.store.size()} leaves, not {size}")

    def root(self, size: int | None = None) -> bytes:
        size = self.store.size() if size is None else size
        self._check_size(size)
        if size == 0:
            return EMPTY_ROOT
        return self._hash_ranges([(0, size)])[0]

    def leaf_hash(self, index: int) -> bytes:
        self._check_size(index + 1)
        return self.store.get_nodes([NodeKey(0, index)])[0]

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        size = self.store.size() if size is None else size
        self._check_size(size)
        return self._hash_ranges(inclusion_ranges(index, size))

    def consistency_proof(self, old_size: int, new_size: int | None = None) -> list[bytes]:
        new_size = self.store.size() if new_size is None else new_size
        self._check_size(new_size)
        return self._hash_ranges(consistency_ranges(old_size, new_size))
