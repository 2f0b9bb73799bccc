"""An append-only ledger: entries plus their Merkle tree, kept in step.

:class:`Ledger` holds the entry rows in memory over any :class:`~fincredit.consent.tree.TreeStore`; it is
the reference for what the platform does in its database (same row shape as the export, same tree
writes), and what the tests and benchmarks drive.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

from fincredit.consent.entries import LedgerEntry
from fincredit.consent.errors import LedgerError
from fincredit.consent.export import ExportRow, write_export
from fincredit.consent.merkle import leaf_hash
from fincredit.consent.proofs import ConsistencyProof, InclusionProof
from fincredit.consent.tree import InMemoryTreeStore, MerkleTree, TreeStore

__all__ = ["Ledger"]


class Ledger:
    def __init__(self, store: TreeStore | None = None) -> None:
        self.tree = MerkleTree(store if store is not None else InMemoryTreeStore())
        self._rows: list[ExportRow] = []
        if self.tree.size:
            raise LedgerError("an in-memory ledger starts from an empty tree store")

    def __len__(self) -> int:
        return len(self._rows)

    @property
    def next_seq(self) -> int:
        return len(self._rows)

    def append(self, entry: LedgerEntry) -> ExportRow:
        return self.append_many([entry])[0]

    def append_many(self, entries: Sequence[LedgerEntry]) -> list[ExportRow]:
        """Append entries whose ``seq`` continue the ledger without gaps; all or nothing."""
        rows = []
        for offset, e in enumerate(entries):
            if e.seq != self.next_seq + offset:
                raise LedgerError(f"entry seq {e.seq} where {self.next_seq + offset} was next")
            data = e.canonical_bytes()
            rows.append(ExportRow(e.seq, data, leaf_hash(data)))
        self.tree.append_many([r.leaf_hash for r in rows])
        self._rows.extend(rows)
        return rows

    def row(self, seq: int) -> ExportRow:
        return self._rows[seq]

    def rows(self, start: int = 0, stop: int | None = None) -> Iterator[ExportRow]:
        return iter(self._rows[start:stop])

    def export(self, path: str | Path, size: int | None = None) -> int:
        return write_export(self.rows(0, size), path)

    def inclusion_proof(self, seq: int, size: int | None = None) -> InclusionProof:
        return InclusionProof.from_tree(self.tree, seq, size, self._rows[seq].entry)

    def consistency_proof(self, old_size: int, new_size: int | None = None) -> ConsistencyProof:
        return ConsistencyProof.from_tree(self.tree, old_size, new_size)
