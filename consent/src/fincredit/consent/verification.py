"""Offline verification of an exported ledger against signed checkpoints.

Every row's leaf hash is recomputed from its entry bytes; a mismatch names the row's sequence number (the
entry was changed after it was hashed). The Merkle root is recomputed from the *recomputed* leaf hashes at
every checkpoint size and compared with the signed root; a mismatch there with no leaf mismatch means the
entry and its leaf hash were both rewritten (a re-hashed forgery) somewhere after the last checkpoint that
still matches, and the report gives that range.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Iterable, Sequence

from fincredit.consent.checkpoint import Checkpoint
from fincredit.consent.export import ExportBatch
from fincredit.consent.merkle import EMPTY_ROOT, HASH_SIZE, RootAccumulator

__all__ = ["CheckpointCheck", "LeafMismatch", "LogVerification", "verify_log"]


@dataclasses.dataclass(frozen=True, slots=True)
class LeafMismatch:
    seq: int
    stored: bytes
    computed: bytes


@dataclasses.dataclass(frozen=True, slots=True)
class CheckpointCheck:
    label: str
    checkpoint: Checkpoint
    computed_root: bytes | None
    ok: bool
    message: str


@dataclasses.dataclass(slots=True)
class LogVerification:
    entries: int = 0
    leaf_mismatches: list[LeafMismatch] = dataclasses.field(default_factory=list)
    leaf_mismatch_count: int = 0
    sequence_errors: list[str] = dataclasses.field(default_factory=list)
    checkpoints: list[CheckpointCheck] = dataclasses.field(default_factory=list)

    @property
    def ok(self) -> bool:
        return (
            not self.leaf_mismatch_count and not self.sequence_errors and all(c.ok for c in self.checkpoints)
        )

    def lines(self) -> list[str]:
        out = [f"entries: {self.entries}"]
        for m in self.leaf_mismatches:
            out.append(
                f"FAIL entry seq {m.seq}: leaf hash mismatch (stored {m.stored.hex()[:16]}..., "
                f"entry hashes to {m.computed.hex()[:16]}...): the entry was altered"
            )
        if self.leaf_mismatch_count > len(self.leaf_mismatches):
            out.append(f"... and {self.leaf_mismatch_count - len(self.leaf_mismatches)} more altered entries")
        out.extend(f"FAIL {e}" for e in self.sequence_errors)
        for c in self.checkpoints:
            out.append(("ok   " if c.ok else "FAIL ") + c.message)
        out.append("VERIFIED" if self.ok else "VERIFICATION FAILED")
        return out


def verify_log(
    batches: Iterable[ExportBatch],
    checkpoints: Sequence[tuple[str, Checkpoint]],
    *,
    max_reported: int = 20,
) -> LogVerification:
    """Recompute leaf hashes and roots of an export and check them against (already opened) checkpoints."""
    report = LogVerification()
    pending = sorted(checkpoints, key=lambda lc: lc[1].size)
    acc = RootAccumulator()
    add = acc.add
    sha256 = hashlib.sha256
    expected = 0
    last_good = 0
    mismatches: list[LeafMismatch] = []
    pi = 0

    def check_due() -> None:
        nonlocal pi, last_good
        while pi < len(pending) and pending[pi][1].size == expected:
            label, cp = pending[pi]
            root = acc.root() if expected else EMPTY_ROOT
            if len(cp.root_hash) != HASH_SIZE:
                report.checkpoints.append(
                    CheckpointCheck(
                        label,
                        cp,
                        root,
                        False,
                        f"{label}: the signed root is not a SHA-256 hash ({len(cp.root_hash)} bytes)",
                    )
                )
            elif root == cp.root_hash:
                report.checkpoints.append(
                    CheckpointCheck(
                        label, cp, root, True, f"{label}: root of size {cp.size} matches the signed root"
                    )
                )
                last_good = cp.size
            else:
                altered = [m.seq for m in mismatches if last_good <= m.seq < cp.size]
                where = (
                    f"altered entries {altered[:10]}"
                    if altered
                    else f"entries seq {last_good}..{cp.size - 1} were rewritten along with their leaf hashes"
                )
                report.checkpoints.append(
                    CheckpointCheck(
                        label,
                        cp,
                        root,
                        False,
                        f"{label}: root of size {cp.size} does not match the signed root "
                        f"(computed {root.hex()[:16]}..., signed {cp.root_hash.hex()[:16]}...): {where}",
                    )
                )
            pi += 1

    check_due()
    for batch in batches:
        for seq, entry, stored in zip(batch.seqs, batch.entries, batch.leaf_hashes, strict=True):
            if seq != expected and len(report.sequence_errors) < max_reported:
                report.sequence_errors.append(
                    f"row {report.entries}: sequence number {seq} where {expected} was expected (gap/reorder)"
                )
            computed = sha256(b"\x00" + entry).digest()
            if len(stored) != HASH_SIZE:
                report.leaf_mismatch_count += 1  # unverifiable is not verified
                if len(report.sequence_errors) < max_reported:
                    report.sequence_errors.append(
                        f"entry seq {seq}: the stored leaf hash is {len(stored)} bytes, not {HASH_SIZE}"
                    )
            elif computed != stored:
                report.leaf_mismatch_count += 1
                if len(mismatches) < max_reported:
                    mismatches.append(LeafMismatch(seq, stored, computed))
            add(computed)
            expected += 1
            report.entries += 1
            if pi < len(pending) and pending[pi][1].size == expected:
                check_due()
    report.leaf_mismatches = mismatches
    while pi < len(pending):
        label, cp = pending[pi]
        report.checkpoints.append(
            CheckpointCheck(
                label,
                cp,
                None,
                False,
                f"{label}: signs {cp.size} entries but the export holds only {expected}",
            )
        )
        pi += 1
    return report
