"""Dataset versions a vendor uploads: stored as Parquet under ``var_dir/market/<dataset>/<version>.parquet``
with a JSON manifest and a SHA-256, every record carrying its provenance (vendor, dataset, version, the
vendor's own record id) and the platform subject it resolved to."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from fincredit.consent.identifiers import SubjectKind
from fincredit.platform.core.db import Subject, utcnow
from fincredit.platform.core.errors import (
    Forbidden,
    MarketDataCorrupt,
    MarketDataInvalid,
    MarketUseRefused,
    NotFound,
)
from fincredit.platform.core.keyring import Keyring
from fincredit.platform.ingestion import blind_indexes, uscc_valid
from fincredit.platform.market._contracts import MarketUseDecision, check_market_use, contract_in_force
from fincredit.platform.market.tables import MarketDataset, MarketDatasetVersion

RECORD_ID = "record_id"  # the vendor's own key of a record
SUBJECT_CODE = "uscc"  # the enterprise the record is about
SUBJECT_INDEX_KEY = "fincredit.subject_index"
PROVENANCE_COLUMNS = ("prov_vendor", "prov_dataset", "prov_version", "prov_record_id", "prov_subject_id")
_PROVENANCE_TYPES = (pa.string(), pa.string(), pa.int32(), pa.string(), pa.int64())
_BATCH_ROWS = 16_384
_LOOKUP_CHUNK = 2_000
_CACHE_LIMIT = 2_000_000


@dataclass(frozen=True, slots=True)
class DatasetVersionView:
    dataset: str
    vendor_id: str
    version: int
    path: str
    sha256: str
    row_count: int
    matched_count: int
    size_bytes: int
    columns: dict[str, str]
    contract_id: str
    uploaded_by: str
    uploaded_at: dt.datetime
    created: bool = True  # False when the same file had already been uploaded (nothing changed)


def _view(v: MarketDatasetVersion, vendor_id: str, *, created: bool = True) -> DatasetVersionView:
    return DatasetVersionView(
        dataset=v.dataset_code,
        vendor_id=vendor_id,
        version=v.version,
        path=v.path,
        sha256=v.sha256,
        row_count=v.row_count,
        matched_count=v.matched_count,
        size_bytes=v.size_bytes,
        columns=json.loads(v.columns_json),
        contract_id=v.contract_id,
        uploaded_by=v.uploaded_by,
        uploaded_at=v.uploaded_at,
        created=created,
    )


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


class _SubjectResolver:
    """Identifier → subject id through the blind index: the vectorised check-character test, one HMAC
    and one lookup per *distinct* identifier (a vendor file repeats each enterprise once per period),
    remembered across batches up to ``_CACHE_LIMIT`` identifiers. Invalid or unknown ones give null."""

    def __init__(self, session: Session, keyring: Keyring) -> None:
        self.session = session
        self.keyring = keyring
        self.known: dict[str, int | None] = {}

    def __call__(self, codes: pa.Array) -> pa.Array:
        normalised = pc.utf8_upper(pc.utf8_trim_whitespace(pc.cast(codes, pa.string())))
        encoded = pc.dictionary_encode(normalised)
        if isinstance(encoded, pa.ChunkedArray):
            encoded = encoded.combine_chunks()
        distinct = encoded.dictionary
        valid = uscc_valid(distinct)
        values = distinct.to_pylist()
        todo = [values[i] for i in np.flatnonzero(valid) if values[i] not in self.known]
        self._resolve(todo)
        ids = pa.array(
            [self.known.get(v) if ok else None for v, ok in zip(values, valid, strict=True)], pa.int64()
        )
        return ids.take(encoded.indices)

    def _resolve(self, codes: list[str]) -> None:
        if not codes:
            return
        if len(self.known) + len(codes) > _CACHE_LIMIT:
            self.known.clear()
        by_bidx = dict(zip(blind_indexes(self.keyring, SubjectKind.LEGAL.value, codes), codes, strict=True))
        for code in codes:
            self.known[code] = None
        wanted = list(by_bidx)
        for i in range(0, len(wanted), _LOOKUP_CHUNK):
            chunk = wanted[i : i + _LOOKUP_CHUNK]
            rows = self.session.execute(
                select(Subject.code_bidx, Subject.id).where(Subject.code_bidx.in_(chunk))
            )
            for bidx, subject_id in rows:
                self.known[by_bidx[bidx]] = subject_id


def _batches(source: Path) -> tuple[pa.Schema, Iterator[pa.RecordBatch]]:
    try:
        pf = pq.ParquetFile(source)
    except (pa.ArrowInvalid, OSError) as exc:
        raise MarketDataInvalid(f"not a readable Parquet file: {exc}") from None
    return pf.schema_arrow, pf.iter_batches(batch_size=_BATCH_ROWS)


def upload_dataset_version(
    session: Session,
    keyring: Keyring,
    var_dir: Path,
    *,
    dataset: str,
    source: Path,
    vendor_id: str,
    uploaded_by: str,
    at: dt.datetime | None = None,
) -> DatasetVersionView:
    """Store a new version of ``dataset`` from the vendor's Parquet file ``source``.

    The upload is refused whole when the file is not Parquet, lacks ``record_id`` or ``uscc``, has an
    empty or repeated ``record_id``, or no contract covering the dataset is in force. Re-uploading a
    file already stored changes nothing and returns that version. Streams in record batches, so memory
    does not grow with the file."""
    at = at or utcnow()
    q = select(MarketDataset).where(MarketDataset.code == dataset)
    if session.get_bind().dialect.name == "postgresql":
        # One upload per dataset at a time, so two uploads never both write version N's files.
        # (SQLite's BEGIN IMMEDIATE already serialises writers.)
        q = q.with_for_update()
    ds = session.scalar(q)
    if ds is None:
        raise NotFound(f"no market dataset {dataset!r}")
    if ds.vendor_id != vendor_id:
        raise Forbidden(f"dataset {dataset!r} belongs to another vendor")
    contract = contract_in_force(session, dataset, at)
    if contract is None:
        raise MarketUseRefused(
            f"no contract covering {dataset!r} is in force: the platform does not accept its data",
            reason="no-contract-in-force",
            dataset=dataset,
        )
    upload_sha = sha256_file(source)
    same = session.scalar(
        select(MarketDatasetVersion).where(
            MarketDatasetVersion.dataset_code == dataset, MarketDatasetVersion.upload_sha256 == upload_sha
        )
    )
    if same is not None:
        return _view(same, ds.vendor_id, created=False)

    schema, batches = _batches(source)
    for required in (RECORD_ID, SUBJECT_CODE):
        if required not in schema.names:
            raise MarketDataInvalid(f"the file has no {required!r} column", field=required)
    clash = sorted(set(PROVENANCE_COLUMNS) & set(schema.names))
    if clash:
        raise MarketDataInvalid(f"column names reserved for provenance: {clash}")
    previous = session.scalar(
        select(func.max(MarketDatasetVersion.version)).where(MarketDatasetVersion.dataset_code == dataset)
    )
    version = (previous or 0) + 1
    rel_dir = Path("market") / dataset
    directory = var_dir / rel_dir
    directory.mkdir(parents=True, exist_ok=True)
    final = directory / f"{version}.parquet"
    tmp = directory / f".{version}.parquet.{os.getpid()}.tmp"
    out_schema = schema
    for name, typ in zip(PROVENANCE_COLUMNS, _PROVENANCE_TYPES, strict=True):
        out_schema = out_schema.append(pa.field(name, typ))
    index_file = directory / f"{version}.subjects.parquet"
    out = _VersionWriter(_SubjectResolver(session, keyring), out_schema, ds, version)
    try:
        with pq.ParquetWriter(tmp, out_schema, compression="zstd") as writer:
            for batch in batches:
                out.write(writer, batch)
            index_sha = out.write_index(index_file)
            # The index's checksum lives inside the data file, whose own checksum is in the database:
            # one anchor covers both.
            writer.add_key_value_metadata({SUBJECT_INDEX_KEY: f"{index_file.name}:{index_sha}"})
        os.replace(tmp, final)
    except BaseException:
        tmp.unlink(missing_ok=True)
        index_file.unlink(missing_ok=True)
        raise
    rows, matched = out.rows, out.matched
    if rows == 0:
        final.unlink(missing_ok=True)
        index_file.unlink(missing_ok=True)
        raise MarketDataInvalid("the file has no records")
    digest = sha256_file(final)
    columns = {f.name: str(f.type) for f in schema}
    manifest = {
        "dataset": dataset,
        "vendor": ds.vendor_id,
        "version": version,
        "file": final.name,
        "sha256": digest,
        "upload_sha256": upload_sha,
        "rows": rows,
        "matched_subjects": matched,
        "columns": columns,
        "provenance_columns": list(PROVENANCE_COLUMNS),
        "subject_index": {"file": index_file.name, "sha256": index_sha},
        "contract": contract.id,
        "contract_reference": contract.reference,
        "uploaded_by": uploaded_by,
        "uploaded_at": at.isoformat(),
    }
    manifest_file = directory / f"{version}.manifest.json"
    manifest_file.write_text(json.dumps(manifest, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    row = MarketDatasetVersion(
        dataset_code=dataset,
        version=version,
        path=str(rel_dir / final.name),
        manifest_path=str(rel_dir / manifest_file.name),
        sha256=digest,
        upload_sha256=upload_sha,
        row_count=rows,
        matched_count=matched,
        size_bytes=final.stat().st_size,
        columns_json=json.dumps(columns, ensure_ascii=False),
        contract_id=contract.id,
        uploaded_by=uploaded_by,
        uploaded_at=at,
    )
    session.add(row)
    session.flush()
    return _view(row, ds.vendor_id)


class _VersionWriter:
    """Writes the stored version batch by batch (one row group per batch) and notes which row groups
    hold each matched subject, so serving one borrower reads a few row groups, not the whole file."""

    def __init__(self, resolve: _SubjectResolver, schema: pa.Schema, ds: MarketDataset, version: int) -> None:
        self.resolve = resolve
        self.schema = schema
        self.ds = ds
        self.version = version
        self.seen: set[str] = set()
        self.rows = self.matched = self.row_groups = 0
        self.index_subjects: list[np.ndarray] = []
        self.index_groups: list[np.ndarray] = []

    def write(self, writer: pq.ParquetWriter, batch: pa.RecordBatch) -> None:
        n, offset = batch.num_rows, self.rows
        if n == 0:
            return
        record_ids = pc.cast(batch.column(RECORD_ID), pa.string())
        if record_ids.null_count:
            bad = offset + pc.index(pc.is_null(record_ids), True).as_py()
            raise MarketDataInvalid(f"row {bad}: empty record_id", row=bad, field=RECORD_ID)
        ids = record_ids.to_pylist()
        batch_ids = set(ids)
        if len(batch_ids) != n or "" in batch_ids or not self.seen.isdisjoint(batch_ids):
            # Rare path: find the first offending row to name it.
            earlier: set[str] = set()
            for i, rid in enumerate(ids):
                if not rid or rid in self.seen or rid in earlier:
                    raise MarketDataInvalid(
                        f"row {offset + i}: record_id {rid!r} is empty or repeated",
                        row=offset + i,
                        field=RECORD_ID,
                    )
                earlier.add(rid)
        self.seen |= batch_ids
        subject_ids = self.resolve(batch.column(SUBJECT_CODE))
        columns = [
            *batch.columns,
            pa.array([self.ds.vendor_id] * n, pa.string()),
            pa.array([self.ds.code] * n, pa.string()),
            pa.array([self.version] * n, pa.int32()),
            record_ids,
            subject_ids,
        ]
        table = pa.Table.from_batches([pa.RecordBatch.from_arrays(columns, schema=self.schema)])
        writer.write_table(table, row_group_size=n)
        present = np.unique(subject_ids.drop_null().to_numpy())
        self.index_subjects.append(present)
        self.index_groups.append(np.full(len(present), self.row_groups, dtype=np.int32))
        self.rows += n
        self.matched += n - subject_ids.null_count
        self.row_groups += 1

    def write_index(self, path: Path) -> str:
        subjects = np.concatenate(self.index_subjects) if self.index_subjects else np.array([], np.int64)
        groups = np.concatenate(self.index_groups) if self.index_groups else np.array([], np.int32)
        order = np.lexsort((groups, subjects))
        table = pa.table(
            {
                "subject_id": pa.array(subjects[order], pa.int64()),
                "row_group": pa.array(groups[order], pa.int32()),
            }
        )
        pq.write_table(table, path)
        return sha256_file(path)


def list_versions(session: Session, dataset: str) -> list[DatasetVersionView]:
    ds = session.get(MarketDataset, dataset)
    if ds is None:
        raise NotFound(f"no market dataset {dataset!r}")
    q = (
        select(MarketDatasetVersion)
        .where(MarketDatasetVersion.dataset_code == dataset)
        .order_by(MarketDatasetVersion.version)
    )
    return [_view(v, ds.vendor_id) for v in session.scalars(q)]


def latest_version(
    session: Session, dataset: str, at: dt.datetime | None = None
) -> MarketDatasetVersion | None:
    q = select(MarketDatasetVersion).where(MarketDatasetVersion.dataset_code == dataset)
    if at is not None:
        q = q.where(MarketDatasetVersion.uploaded_at <= at)
    return session.scalar(q.order_by(MarketDatasetVersion.version.desc()).limit(1))


# Files this process has already hashed, by identity (inode, size, modification time): serving one
# borrower must not re-hash a whole version each time, while any rewrite of the file (which changes
# its size or modification time) is hashed again before it is served.
_VERIFIED: dict[tuple[str, int, int, int], str] = {}
_VERIFIED_LIMIT = 4096


def _matches(path: Path, digest: str) -> bool:
    try:
        st = path.stat()
    except FileNotFoundError:
        return False
    key = (str(path), st.st_ino, st.st_size, st.st_mtime_ns)
    if _VERIFIED.get(key) == digest:
        return True
    if sha256_file(path) != digest:
        return False
    if len(_VERIFIED) >= _VERIFIED_LIMIT:
        _VERIFIED.clear()
    _VERIFIED[key] = digest
    return True


def _verified(var_dir: Path, version: MarketDatasetVersion) -> Path:
    path = var_dir / version.path
    if not _matches(path, version.sha256):
        raise MarketDataCorrupt(
            f"stored file of {version.dataset_code} v{version.version} is missing or fails its sha256"
        )
    return path


def read_version(
    var_dir: Path, version: MarketDatasetVersion, columns: Iterable[str] | None = None
) -> pa.Table:
    """Read a whole stored version, verifying its SHA-256 first: a file changed behind the platform's
    back is never served."""
    path = _verified(var_dir, version)
    return pq.read_table(path, columns=list(columns) if columns is not None else None)


def read_subjects(
    var_dir: Path,
    version: MarketDatasetVersion,
    subject_ids: Iterable[int],
    columns: Sequence[str] | None = None,
) -> pa.Table:
    """The rows of ``subject_ids`` in a stored version: only the row groups the version's subject index
    names are read (the index is checked against the checksum the verified data file carries)."""
    path = _verified(var_dir, version)
    wanted = pa.array(sorted(set(subject_ids)), pa.int64())
    pf = pq.ParquetFile(path)
    anchor = (pf.metadata.metadata or {}).get(SUBJECT_INDEX_KEY.encode())
    if anchor is None:  # written before subject indexes existed: read everything
        table = pf.read(columns=list(columns) if columns is not None else None)
    else:
        name, _, digest = anchor.decode().partition(":")
        index_path = path.parent / name
        if not _matches(index_path, digest):
            raise MarketDataCorrupt(
                f"subject index of {version.dataset_code} v{version.version} is missing or fails its sha256"
            )
        index = pq.read_table(index_path)
        hit = index.filter(pc.is_in(index.column("subject_id"), value_set=wanted))
        groups = sorted(set(hit.column("row_group").to_pylist()))
        if not groups:
            empty = pf.schema_arrow.empty_table()
            return empty.select(list(columns)) if columns is not None else empty
        table = pf.read_row_groups(groups, columns=list(columns) if columns is not None else None)
    return table.filter(pc.is_in(table.column("prov_subject_id"), value_set=wanted))


@dataclass(frozen=True, slots=True)
class MarketFields:
    """What ``market_fields_for`` serves: the rows of the requested subjects with provenance columns."""

    decision: MarketUseDecision
    dataset: str
    version: int
    table: pa.Table


def market_fields_for(
    session: Session,
    dataset: str,
    subjects: Iterable[int],
    purpose: str,
    at: dt.datetime | None = None,
    *,
    var_dir: Path,
    fields: Sequence[str] | None = None,
    disclose: bool = False,
) -> MarketFields:
    """The market fields of ``subjects`` (platform subject ids) from the newest version of ``dataset``
    uploaded by ``at`` — served only when a contract in force at ``at`` allows ``purpose`` (and, when
    ``disclose``: the raw values will be shown outside the platform, the resale right); otherwise raises
    ``MarketUseRefused`` whose ``reason`` says why (e.g. ``contract-expired``)."""
    at = at or utcnow()
    decision = check_market_use(session, dataset, purpose, at, disclose=disclose)
    decision.raise_if_refused()
    version = latest_version(session, dataset, at)
    if version is None:
        raise NotFound(f"dataset {dataset!r} has no version uploaded by {at.isoformat()}")
    wanted = None
    if fields is not None:
        stored = json.loads(version.columns_json)
        unknown = [f for f in fields if f not in stored]
        if unknown:
            raise NotFound(f"dataset {dataset!r} has no fields {unknown}")
        wanted = [*dict.fromkeys([*fields, SUBJECT_CODE]), *PROVENANCE_COLUMNS]
    table = read_subjects(var_dir, version, subjects, wanted)
    return MarketFields(decision=decision, dataset=dataset, version=version.version, table=table)


@dataclass(frozen=True, slots=True)
class UsableDataset:
    code: str
    name: str
    vendor_id: str
    description: str
    decision: MarketUseDecision
    latest_version: int | None


def datasets_for_purpose(
    session: Session,
    purpose: str | None,
    at: dt.datetime | None = None,
    *,
    include_refused: bool = False,
    vendor_id: str | None = None,
    disclose: bool = False,
) -> list[UsableDataset]:
    """Datasets a bank or the operator may use for ``purpose`` at ``at`` (all, with the refusal reason,
    when ``include_refused``)."""
    at = at or utcnow()
    q = select(MarketDataset).order_by(MarketDataset.code)
    if vendor_id is not None:
        q = q.where(MarketDataset.vendor_id == vendor_id)
    out = []
    for ds in session.scalars(q):
        decision = check_market_use(session, ds.code, purpose, at, disclose=disclose)
        if not decision.allowed and not include_refused:
            continue
        latest = latest_version(session, ds.code, at)
        out.append(
            UsableDataset(
                code=ds.code,
                name=ds.name,
                vendor_id=ds.vendor_id,
                description=ds.description,
                decision=decision,
                latest_version=latest.version if latest else None,
            )
        )
    return out
