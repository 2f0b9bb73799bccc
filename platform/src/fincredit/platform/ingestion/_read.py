"""Open a submitted file as a stream of record batches with the item's columns, all text.

Structural faults — an unreadable file, missing or unexpected columns, a column of a type that
cannot be the field's — raise :class:`SubmissionRejected`, whenever in the stream they show up; the
caller's transaction then stores nothing of the file.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.ipc as ipc
import pyarrow.parquet as pq

from fincredit.platform.catalog import CatalogItemDef
from fincredit.platform.core.errors import SubmissionRejected

FORMATS = ("csv", "parquet", "arrow")
_SUFFIX = {".csv": "csv", ".txt": "csv", ".parquet": "parquet", ".pq": "parquet"}
_SUFFIX.update({".arrow": "arrow", ".feather": "arrow", ".ipc": "arrow", ".arrows": "arrow"})


def detect_format(path: Path, declared: str | None = None) -> str:
    if declared:
        if declared not in FORMATS:
            raise SubmissionRejected(f"format must be one of {', '.join(FORMATS)}", format=declared)
        return declared
    with path.open("rb") as fh:
        head = fh.read(8)
    if head.startswith(b"PAR1"):
        return "parquet"
    if head.startswith(b"ARROW1") or head.startswith(b"\xff\xff\xff\xff"):
        return "arrow"
    return _SUFFIX.get(path.suffix.lower(), "csv")


def _check_columns(item: CatalogItemDef, names: list[str]) -> None:
    expected = item.column_names
    missing = [c for c in expected if c not in names]
    extra = [c for c in names if c not in expected]
    if missing or extra or len(set(names)) != len(names):
        parts = []
        if missing:
            parts.append(f"missing columns: {', '.join(missing)}")
        if extra:
            parts.append(f"unexpected columns: {', '.join(extra)}")
        if len(set(names)) != len(names):
            parts.append("duplicate column names")
        raise SubmissionRejected(
            f"the file's columns do not match catalog item {item.code} "
            f"(version {item.version_number}): " + "; ".join(parts),
            missing=missing or None,
            unexpected=extra or None,
            expected=expected,
        )


def _check_types(item: CatalogItemDef, schema: pa.Schema) -> None:
    for f in schema:
        spec = item.field(f.name)
        t = f.type
        if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_null(t):
            continue
        if pa.types.is_dictionary(t) and pa.types.is_string(t.value_type):
            continue
        # A typed export is fine when the type is the field's own (or a narrower number).
        if spec.type == "date32" and (pa.types.is_date(t) or pa.types.is_timestamp(t)):
            continue
        if spec.type in ("int32", "int64") and pa.types.is_integer(t):
            continue
        if spec.type == "float64" and (
            pa.types.is_floating(t) or pa.types.is_integer(t) or pa.types.is_decimal(t)
        ):
            continue
        if spec.type == "bool" and pa.types.is_boolean(t):
            continue
        if spec.type == "string" and pa.types.is_integer(t):
            continue  # e.g. a numeric account number column
        raise SubmissionRejected(
            f"column {f.name} has type {t}, which cannot hold {spec.type} values", column=f.name, type=str(t)
        )


def _as_text(item: CatalogItemDef, batch: pa.RecordBatch) -> pa.RecordBatch:
    arrays = []
    for name in item.column_names:
        col = batch.column(name)
        t = col.type
        if pa.types.is_dictionary(t):
            col = col.cast(t.value_type)
        if pa.types.is_timestamp(col.type):
            col = col.cast(pa.date32())
        if not pa.types.is_string(col.type):
            col = pc.cast(col, pa.string())
        arrays.append(col)
    return pa.RecordBatch.from_arrays(arrays, names=item.column_names)


def _guard(it: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    try:
        yield from it
    except (pa.ArrowInvalid, pa.ArrowTypeError, OSError, UnicodeDecodeError) as exc:
        raise SubmissionRejected(f"the file cannot be read: {exc}") from None


def iter_batches(
    path: Path, item: CatalogItemDef, fmt: str, *, batch_size: int = 65536
) -> Iterator[pa.RecordBatch]:
    try:
        if fmt == "parquet":
            pf = pq.ParquetFile(path)
            schema = pf.schema_arrow
            source: Iterator[pa.RecordBatch] = pf.iter_batches(batch_size=batch_size)
        elif fmt == "arrow":
            try:
                reader = ipc.open_file(path)
                schema = reader.schema
                source = (reader.get_batch(i) for i in range(reader.num_record_batches))
            except pa.ArrowInvalid:
                stream = ipc.open_stream(path)
                schema = stream.schema
                source = iter(stream)
        else:
            with path.open("rb") as fh:
                header = fh.readline().decode("utf-8-sig").strip()
            names = [h.strip() for h in next(csv.reader([header]))] if header else []
            _check_columns(item, names)
            stream = pacsv.open_csv(
                path,
                read_options=pacsv.ReadOptions(block_size=8 << 20, encoding="utf8"),
                convert_options=pacsv.ConvertOptions(
                    column_types={n: pa.string() for n in names},
                    strings_can_be_null=False,
                    quoted_strings_can_be_null=False,
                ),
            )
            schema = stream.schema
            source = iter(stream)
    except SubmissionRejected:
        raise
    except (pa.ArrowInvalid, pa.ArrowTypeError, OSError, UnicodeDecodeError) as exc:
        raise SubmissionRejected(f"the file cannot be read as {fmt}: {exc}") from None
    _check_columns(item, [f.name for f in schema])
    _check_types(item, schema)
    for batch in _guard(source):
        for start in range(0, batch.num_rows, batch_size):
            part = batch.slice(start, batch_size)
            if part.num_rows:
                yield _as_text(item, part)
