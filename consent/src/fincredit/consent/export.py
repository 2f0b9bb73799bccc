"""The ledger export a regulator verifies offline: Parquet or JSON lines, one row per entry.

=============  ==========================================  ===========================================
column         Parquet type                                JSON lines
=============  ==========================================  ===========================================
``seq``        int64, 0, 1, 2, ... without gaps            number
``entry``      string: the canonical JSON entry, verbatim  string holding the canonical JSON, verbatim
``leaf_hash``  fixed_size_binary(32): SHA-256(0x00||entry)  64 lower-case hex digits
=============  ==========================================  ===========================================

The entry is carried as a string (not a nested object) so its exact bytes survive any JSON tooling: the
leaf hash, and hence the Merkle root in the signed checkpoint, is over those bytes.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from fincredit.consent.entries import LedgerEntry
from fincredit.consent.errors import LedgerError
from fincredit.consent.merkle import HASH_SIZE, leaf_hash

__all__ = [
    "EXPORT_SCHEMA",
    "ExportBatch",
    "ExportRow",
    "export_rows",
    "is_parquet_export",
    "read_export",
    "write_export",
]

EXPORT_SCHEMA = pa.schema(
    [
        pa.field("seq", pa.int64(), nullable=False),
        pa.field("entry", pa.string(), nullable=False),
        pa.field("leaf_hash", pa.binary(HASH_SIZE), nullable=False),
    ],
    metadata={b"fincredit.export": b"consent-ledger/1"},
)


@dataclasses.dataclass(frozen=True, slots=True)
class ExportRow:
    seq: int
    entry: bytes
    leaf_hash: bytes


class ExportBatch:
    """Rows of an export. A Parquet batch keeps its Arrow columns (:meth:`arrow`) and makes the Python
    lists only when they are read, so a columnar reader (the authorisation replay) never pays for them."""

    __slots__ = ("_arrow", "_entries", "_leaf_hashes", "_seqs")

    def __init__(self, seqs: list[int], entries: list[bytes], leaf_hashes: list[bytes]) -> None:
        self._seqs: list[int] | None = seqs
        self._entries: list[bytes] | None = entries
        self._leaf_hashes: list[bytes] | None = leaf_hashes
        self._arrow: pa.RecordBatch | None = None

    @classmethod
    def from_arrow(cls, batch: pa.RecordBatch) -> ExportBatch:
        """A batch of ``seq``, ``entry`` and ``leaf_hash`` columns (``EXPORT_SCHEMA``)."""
        out = cls([], [], [])
        out._seqs = out._entries = out._leaf_hashes = None
        out._arrow = batch
        return out

    def arrow(self) -> tuple[pa.Array, pa.Array] | None:
        """The ``seq`` and ``entry`` columns as Arrow arrays, when the batch came from Parquet."""
        if self._arrow is None:
            return None
        return self._arrow.column("seq"), self._arrow.column("entry")

    @property
    def seqs(self) -> list[int]:
        if self._seqs is None:
            assert self._arrow is not None
            self._seqs = self._arrow.column("seq").to_pylist()
        return self._seqs

    @property
    def entries(self) -> list[bytes]:
        if self._entries is None:
            assert self._arrow is not None
            self._entries = self._arrow.column("entry").cast(pa.binary()).to_pylist()
        return self._entries

    @property
    def leaf_hashes(self) -> list[bytes]:
        if self._leaf_hashes is None:
            assert self._arrow is not None
            self._leaf_hashes = self._arrow.column("leaf_hash").cast(pa.binary()).to_pylist()
        return self._leaf_hashes


def export_rows(entries: Iterable[LedgerEntry]) -> Iterator[ExportRow]:
    for e in entries:
        data = e.canonical_bytes()
        yield ExportRow(e.seq, data, leaf_hash(data))


def is_parquet_export(path: Path) -> bool:
    """Whether an export file is Parquet (by its suffix, else its magic bytes) rather than JSON lines."""
    if path.suffix.lower() in (".parquet", ".pq"):
        return True
    if path.suffix.lower() in (".jsonl", ".ndjson", ".json"):
        return False
    with path.open("rb") as f:
        return f.read(4) == b"PAR1"


def write_export(rows: Iterable[ExportRow], path: str | Path, *, batch_size: int = 65536) -> int:
    """Write rows as Parquet (``.parquet``) or JSON lines (anything else); return the row count."""
    path = Path(path)
    count = 0
    if path.suffix.lower() in (".parquet", ".pq"):
        with pq.ParquetWriter(path, EXPORT_SCHEMA, compression="zstd") as writer:
            seqs: list[int] = []
            entries: list[str] = []
            hashes: list[bytes] = []

            def flush() -> None:
                writer.write_batch(
                    pa.record_batch(
                        [
                            pa.array(seqs, pa.int64()),
                            pa.array(entries, pa.string()),
                            pa.array(hashes, pa.binary(32)),
                        ],
                        schema=EXPORT_SCHEMA,
                    )
                )
                seqs.clear()
                entries.clear()
                hashes.clear()

            for row in rows:
                seqs.append(row.seq)
                entries.append(row.entry.decode("utf-8"))
                hashes.append(row.leaf_hash)
                count += 1
                if len(seqs) >= batch_size:
                    flush()
            if seqs or count == 0:
                flush()
        return count
    with path.open("w", encoding="utf-8", newline="\n") as f:
        for row in rows:
            doc = {"seq": row.seq, "entry": row.entry.decode("utf-8"), "leaf_hash": row.leaf_hash.hex()}
            f.write(json.dumps(doc, ensure_ascii=False, separators=(",", ":")) + "\n")
            count += 1
    return count


def read_export(path: str | Path, *, batch_size: int = 65536) -> Iterator[ExportBatch]:
    """Read an export in batches; raise :class:`LedgerError` naming the row of any malformed one."""
    path = Path(path)
    if is_parquet_export(path):
        pf = pq.ParquetFile(path)
        names = set(pf.schema_arrow.names)
        missing = {"seq", "entry", "leaf_hash"} - names
        if missing:
            raise LedgerError(f"{path}: the export lacks columns {sorted(missing)}")
        for batch in pf.iter_batches(batch_size=batch_size, columns=["seq", "entry", "leaf_hash"]):
            yield ExportBatch.from_arrow(batch)
        return
    out = ExportBatch([], [], [])
    with path.open("r", encoding="utf-8") as f:
        for lineno, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                doc = json.loads(line)
                seq, entry, lh = int(doc["seq"]), doc["entry"], bytes.fromhex(doc["leaf_hash"])
                if not isinstance(entry, str):
                    raise TypeError("entry is not a string")
                if len(lh) != HASH_SIZE:
                    raise ValueError(f"the leaf hash is {len(lh)} bytes, not {HASH_SIZE}")
            except (ValueError, KeyError, TypeError) as exc:
                raise LedgerError(f"{path}:{lineno}: malformed export row: {exc}") from exc
            out.seqs.append(seq)
            out.entries.append(entry.encode("utf-8"))
            out.leaf_hashes.append(lh)
            if len(out.seqs) >= batch_size:
                yield out
                out = ExportBatch([], [], [])
    if out.seqs:
        yield out
