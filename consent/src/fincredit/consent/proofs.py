"""Inclusion and consistency proofs as JSON documents (what the API serves and the CLI verifies).

Inclusion::

    {"leaf_index": 5, "tree_size": 8, "leaf_hash": "<hex>", "entry": "<canonical JSON, optional>",
     "hashes": ["<hex>", ...]}

Consistency::

    {"old_size": 2, "new_size": 8, "hashes": ["<hex>", ...]}

Roots are never taken from the proof document: they come from signed checkpoints.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any, Self

from fincredit.consent.errors import ProofError
from fincredit.consent.merkle import check_hash, leaf_hash, verify_consistency, verify_inclusion
from fincredit.consent.tree import MerkleTree

__all__ = ["ConsistencyProof", "InclusionProof"]


def _hexes(doc: dict[str, Any], key: str) -> list[bytes]:
    try:
        hashes = [bytes.fromhex(h) for h in doc[key]]
    except (KeyError, TypeError, ValueError) as exc:
        raise ProofError(f"proof field {key!r} is not a list of hex hashes") from exc
    for i, h in enumerate(hashes):
        check_hash(h, f"{key}[{i}]")
    return hashes


@dataclasses.dataclass(frozen=True, slots=True)
class InclusionProof:
    leaf_index: int
    tree_size: int
    leaf_hash: bytes
    hashes: tuple[bytes, ...]
    entry: bytes | None = None

    @classmethod
    def from_tree(
        cls, tree: MerkleTree, index: int, size: int | None = None, entry: bytes | None = None
    ) -> Self:
        size = tree.size if size is None else size
        return cls(index, size, tree.leaf_hash(index), tuple(tree.inclusion_proof(index, size)), entry)

    def verify(self, root: bytes) -> None:
        check_hash(self.leaf_hash, "the leaf hash")
        check_hash(root, "the root hash")
        if self.entry is not None and leaf_hash(self.entry) != self.leaf_hash:
            raise ProofError(f"the entry at {self.leaf_index} does not hash to the leaf hash given")
        verify_inclusion(self.leaf_hash, self.leaf_index, self.tree_size, self.hashes, root)

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "leaf_index": self.leaf_index,
            "tree_size": self.tree_size,
            "leaf_hash": self.leaf_hash.hex(),
            "hashes": [h.hex() for h in self.hashes],
        }
        if self.entry is not None:
            doc["entry"] = self.entry.decode("utf-8")
        return doc

    @classmethod
    def from_json(cls, doc: dict[str, Any] | str) -> Self:
        d = json.loads(doc) if isinstance(doc, str) else doc
        try:
            entry = d.get("entry")
            lh = bytes.fromhex(d["leaf_hash"]) if "leaf_hash" in d else None
            if lh is not None:
                check_hash(lh, "the leaf hash")
            entry_bytes = entry.encode("utf-8") if isinstance(entry, str) else None
            if lh is None:
                if entry_bytes is None:
                    raise ProofError("an inclusion proof names its leaf_hash or its entry")
                lh = leaf_hash(entry_bytes)
            return cls(int(d["leaf_index"]), int(d["tree_size"]), lh, tuple(_hexes(d, "hashes")), entry_bytes)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ProofError(f"malformed inclusion proof: {exc}") from exc


@dataclasses.dataclass(frozen=True, slots=True)
class ConsistencyProof:
    old_size: int
    new_size: int
    hashes: tuple[bytes, ...]

    @classmethod
    def from_tree(cls, tree: MerkleTree, old_size: int, new_size: int | None = None) -> Self:
        new_size = tree.size if new_size is None else new_size
        return cls(old_size, new_size, tuple(tree.consistency_proof(old_size, new_size)))

    def verify(self, old_root: bytes, new_root: bytes) -> None:
        check_hash(old_root, "the old root hash")
        check_hash(new_root, "the new root hash")
        verify_consistency(self.old_size, self.new_size, old_root, new_root, self.hashes)

    def to_json(self) -> dict[str, Any]:
        return {
            "old_size": self.old_size,
            "new_size": self.new_size,
            "hashes": [h.hex() for h in self.hashes],
        }

    @classmethod
    def from_json(cls, doc: dict[str, Any] | str) -> Self:
        d = json.loads(doc) if isinstance(doc, str) else doc
        try:
            return cls(int(d["old_size"]), int(d["new_size"]), tuple(_hexes(d, "hashes")))
        except (KeyError, TypeError, ValueError) as exc:
            raise ProofError(f"malformed consistency proof: {exc}") from exc
