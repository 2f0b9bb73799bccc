"""Load accepted rows into ``credit_records``: idempotent by provider record id, versioned on change.

Inside the submission's one transaction: unchanged rows (same content hash as the current version) do
nothing; changed rows close the current version (``current = false``, ``superseded_at``) and insert
version n+1; new rows insert version 1.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from fincredit.platform.catalog import CatalogItemDef
from fincredit.platform.core.keyring import Keyring
from fincredit.platform.ingestion.tables import CreditRecord

_LOOKUP_CHUNK = 10_000
# The order of the tuples ``stage_rows`` returns.
_COLUMNS = (
    "provider_record_id",
    "subject_id",
    "report_month",
    "data",
    "sensitive_enc",
    "content_hash",
    "event_date",
    "valid_until",
)


# The order of the tuples ``Loader`` writes into ``credit_records``.
_WRITE_COLUMNS = (
    "subject_id",
    "subject_kind",
    "item_code",
    "provider_org_id",
    "provider_record_id",
    "version",
    "current",
    "report_month",
    "data",
    "sensitive_enc",
    "content_hash",
    "event_date",
    "valid_until",
    "negative",
    "submission_id",
    "catalog_version_id",
    "loaded_at",
    "under_objection",
)


@contextmanager
def _local_settings(cur: Any, settings: dict[str, str]) -> Iterator[None]:
    """Planner settings for the statements inside, restored to their previous values after."""
    cur.execute("SELECT " + ", ".join(f"current_setting('{k}')" for k in settings))
    before = cur.fetchone()
    for k, v in settings.items():
        cur.execute("SELECT set_config(%s, %s, true)", (k, v))
    try:
        yield
    finally:
        for k, v in zip(settings, before, strict=True):
            cur.execute("SELECT set_config(%s, %s, true)", (k, v))


@dataclass
class LoadCounts:
    new: int = 0
    changed: int = 0
    unchanged: int = 0


def valid_until(item: CatalogItemDef, table: pa.Table) -> pa.Array:
    """The validity rule, vectorised: ``validity_years`` after the validity-from date (e.g. the end of
    the arrears, the removal from the dishonest list), or after the event date while that is empty."""
    n = table.num_rows
    if item.validity_years is None:
        return pa.nulls(n, pa.date32())
    base = table.column(item.event_date_field)
    if item.validity_from_field:
        base = pc.coalesce(table.column(item.validity_from_field), base)
    base = base.combine_chunks() if isinstance(base, pa.ChunkedArray) else base
    present = np.asarray(base.is_valid().to_numpy(zero_copy_only=False), dtype=bool)
    days = pc.fill_null(base.cast(pa.int32()), 0).to_numpy(zero_copy_only=False).astype("datetime64[D]")
    months = days.astype("datetime64[M]")
    day_of_month = (days - months.astype("datetime64[D]")).astype(np.int64)
    target = months + item.validity_years * 12
    last_day = ((target + 1).astype("datetime64[D]") - target.astype("datetime64[D]")).astype(np.int64) - 1
    out = target.astype("datetime64[D]") + np.minimum(day_of_month, last_day)
    return pa.array(out.astype(np.int32), pa.int32(), mask=~present).cast(pa.date32())


_DUMPS = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
# What ``json.dumps(..., ensure_ascii=False)`` escapes in a string (everything else is copied as is).
_JSON_ESCAPED = r'[\x00-\x1f"\\]'


def _json_texts(item: CatalogItemDef, table: pa.Table, name: str) -> pa.Array:
    """The JSON text of each value of one column, byte for byte what ``_DUMPS`` writes for it (the
    content hash depends on it): built with Arrow string kernels, with Python only for values that
    need escaping and for floats (whose ``repr`` Arrow does not reproduce)."""
    col = table.column(name)
    col = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
    kind = item.field(name).type
    if kind == "float64":
        texts = pa.array([None if v is None else _DUMPS(v) for v in col.to_pylist()], pa.string())
    elif kind in ("int32", "int64", "bool"):
        texts = pc.cast(col, pa.string())  # 42, -7, true, false: as json writes them
    else:  # string; date32 as its ISO text
        s = pc.cast(col, pa.string())
        texts = pc.binary_join_element_wise('"', s, '"', "")
        needs = pc.fill_null(pc.match_substring_regex(s, _JSON_ESCAPED), False)
        if pc.any(needs).as_py():
            escaped = pa.array([_DUMPS(v) for v in s.filter(needs).to_pylist()], pa.string())
            texts = pc.replace_with_mask(texts, needs, escaped)
    return pc.fill_null(texts, "null")


def _json_objects(item: CatalogItemDef, table: pa.Table, names: list[str]) -> pa.Array:
    """``_DUMPS(dict(zip(names, row)))`` for every row, as one string column."""
    if not names:
        return pa.array(["{}"] * table.num_rows, pa.string())
    parts: list[object] = []
    for k, name in enumerate(names):
        parts.append(("{" if k == 0 else ",") + _DUMPS(name) + ":")
        parts.append(_json_texts(item, table, name))
    parts.append("}")
    return pc.binary_join_element_wise(*parts, "")


@dataclass
class Staged:
    """Accepted rows ready to load, as columns named and ordered like ``_COLUMNS`` (dates as text)."""

    table: pa.Table

    def __len__(self) -> int:
        rows: int = self.table.num_rows
        return rows

    def rows(self) -> list[tuple[object, ...]]:
        """One tuple per row, in ``_COLUMNS`` order."""
        return list(zip(*(c.to_pylist() for c in self.table.columns), strict=True))


def stage_batch(item: CatalogItemDef, table: pa.Table, subject_ids: np.ndarray, keyring: Keyring) -> Staged:
    """The accepted rows of a batch staged for loading. The JSON of the public fields and the content
    hash's input are built column-wise; what stays per row is the hash itself and, for items with
    sensitive fields, their encryption."""
    public = [f.name for f in item.fields if not f.sensitive]
    secret = list(item.sensitive_fields)
    n = table.num_rows
    data_col = _json_objects(item, table, public)
    sids = pa.array(np.asarray(subject_ids, dtype=np.int64), pa.int64())
    if secret:
        secret_col = _json_objects(item, table, secret)
        context = f"record:{item.code}"
        encrypt = keyring.encrypt
        encs = pa.array([encrypt(v, context=context) for v in secret_col.to_pylist()], pa.binary())
    else:
        secret_col = pa.scalar("")
        encs = pa.nulls(n, pa.binary())
    hashed = pc.binary_join_element_wise(pc.cast(sids, pa.string()), data_col, secret_col, "\x1f")
    sha = hashlib.sha256
    digests = pa.array([sha(v).hexdigest() for v in hashed.cast(pa.binary()).to_pylist()], pa.string())
    columns = [
        table.column("provider_record_id"),
        sids,
        table.column("report_month"),
        data_col,
        encs,
        digests,
        pc.cast(table.column(item.event_date_field), pa.string()),
        pc.cast(valid_until(item, table), pa.string()),
    ]
    return Staged(pa.table(columns, names=list(_COLUMNS)))


def stage_rows(
    item: CatalogItemDef, table: pa.Table, subject_ids: np.ndarray, keyring: Keyring
) -> list[tuple[object, ...]]:
    """One tuple per accepted row, in ``_COLUMNS`` order (``stage_batch`` as rows)."""
    return stage_batch(item, table, subject_ids, keyring).rows()


def _copy_text(col: pa.Array | pa.ChunkedArray) -> pa.Array:
    """A text column in COPY's text format: backslash, tab, newline and return escaped, null as \\N."""
    s = pc.cast(col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col, pa.string())
    if pc.any(pc.fill_null(pc.match_substring_regex(s, r"[\\\t\n\r]"), False)).as_py():
        for raw, escaped in (("\\", "\\\\"), ("\t", "\\t"), ("\n", "\\n"), ("\r", "\\r")):
            s = pc.replace_substring(s, raw, escaped)
    return pc.fill_null(s, "\\N")


def _copy_scalar(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


class Loader:
    """Classifies and writes batches on the session's connection (and so in its transaction).

    One index-driven query fetches the current version of the batch's record ids; new and changed rows
    are then written straight into ``credit_records`` (COPY on PostgreSQL, executemany on SQLite) and
    the versions they replace are closed by id. Two submissions of the same item racing each other
    cannot both write version n: the unique (provider, item, record id, version) refuses the second,
    whose transaction then rolls back whole.
    """

    def __init__(
        self, session: Session, item: CatalogItemDef, *, submission_id: int, now: dt.datetime
    ) -> None:
        self.session = session
        self.item = item
        self.dialect = session.get_bind().dialect.name
        self.submission_id = submission_id
        self.now = now
        self.counts = LoadCounts()
        # An item this provider has never loaded records of (its first file, often a large backfill)
        # has no current versions to look up: the file's own rows cannot collide (a repeated record id
        # is rejected before loading) and a concurrent file of the same item racing this one is still
        # refused by the unique (provider, item, record id, version) index.
        self._nothing_stored = not self._any_stored()

    def _any_stored(self) -> bool:
        q = (
            select(CreditRecord.id)
            .where(CreditRecord.provider_org_id == self.item.provider_org_id)
            .where(CreditRecord.item_code == self.item.code)
            .limit(1)
        )
        if self.dialect != "postgresql":
            return self.session.execute(q).first() is not None
        with self._raw.cursor() as cur, _local_settings(cur, {"enable_seqscan": "off"}):
            cur.execute(
                "SELECT EXISTS (SELECT 1 FROM credit_records WHERE provider_org_id = %s AND item_code = %s)",
                (self.item.provider_org_id, self.item.code),
            )
            row = cur.fetchone()
            return bool(row and row[0])

    def _changes_pg(self, rids: list[str], digests: list[str]) -> tuple[np.ndarray, np.ndarray, list[int]]:
        """PostgreSQL: (rows to write, their versions, row ids of the versions they replace), from the
        current versions of ``rids``. Only new and changed rows come back (a re-sent file's unchanged
        rows cost the probe alone).

        One index probe per id, forced: inside the loading transaction the statistics still describe
        the table as it was before (often empty), and the planner would otherwise pick a nested loop
        over the item's rows or a scan per id — quadratic on a large file. The ids and hashes go as
        binary array parameters (the text form costs more to build and parse than the probes), and
        without JIT (its compilation took longer than the query ran)."""
        sql = (
            "SELECT u.ord, x.id, x.version FROM unnest(%b::text[], %b::text[]) WITH ORDINALITY "
            "AS u(rid, digest, ord) LEFT JOIN LATERAL (SELECT r.id, r.version, r.content_hash "
            "FROM credit_records r WHERE r.provider_org_id = %s AND r.item_code = %s "
            "AND r.provider_record_id = u.rid AND r.current LIMIT 1) AS x ON true "
            "WHERE x.content_hash IS DISTINCT FROM u.digest"
        )
        n = len(rids)
        keep = np.zeros(n, dtype=bool)
        versions = np.ones(n, dtype=np.int64)
        replaced: list[int] = []
        settings = {"enable_seqscan": "off", "enable_bitmapscan": "off", "jit": "off"}
        with self._raw.cursor() as cur, _local_settings(cur, settings):
            cur.execute(sql, (rids, digests, self.item.provider_org_id, self.item.code))
            for ordinal, row_id, version in cur.fetchall():
                i = int(ordinal) - 1
                keep[i] = True
                if row_id is not None:
                    replaced.append(int(row_id))
                    versions[i] = int(version) + 1
        return keep, versions, replaced

    def _current(self, rids: list[str]) -> dict[str, tuple[int, int, str]]:
        """SQLite: provider record id -> (row id, version, content hash) of its current version."""
        out: dict[str, tuple[int, int, str]] = {}
        for start in range(0, len(rids), _LOOKUP_CHUNK):
            chunk = rids[start : start + _LOOKUP_CHUNK]
            sql = (
                "SELECT provider_record_id, id, version, content_hash FROM credit_records "
                "WHERE provider_org_id = ? AND item_code = ? AND current = 1 "
                f"AND provider_record_id IN ({', '.join('?' * len(chunk))})"
            )
            for rid, row_id, version, digest in self._raw.execute(
                sql, (self.item.provider_org_id, self.item.code, *chunk)
            ):
                out[rid] = (int(row_id), int(version), digest)
        return out

    @property
    def _raw(self) -> Any:
        return self.session.connection().connection.driver_connection

    def _close_versions(self, ids: list[int]) -> None:
        if self.dialect == "postgresql":
            with self._raw.cursor() as cur:
                cur.execute(
                    "UPDATE credit_records SET current = false, superseded_at = %s WHERE id = ANY(%b)",
                    (self.now, ids),
                )
            return
        for start in range(0, len(ids), _LOOKUP_CHUNK):
            self.session.execute(
                update(CreditRecord)
                .where(CreditRecord.id.in_(ids[start : start + _LOOKUP_CHUNK]))
                .values(current=False, superseded_at=self.now)
            )

    def _copy_payload(self, staged: pa.Table, versions: np.ndarray) -> pa.Buffer:
        """The rows in COPY's text format (``_WRITE_COLUMNS``), built with Arrow string kernels."""
        item = self.item
        encs = staged.column("sensitive_enc").combine_chunks()
        if encs.null_count == len(encs):
            enc_text: pa.Array | pa.Scalar = pa.scalar("\\N")
        else:
            enc_text = pa.array(["\\N" if b is None else "\\\\x" + b.hex() for b in encs.to_pylist()])
        loaded = self.now.astimezone(dt.UTC).isoformat()
        fields = [
            pc.cast(staged.column("subject_id").combine_chunks(), pa.string()),
            _copy_scalar(item.subject_kind),
            _copy_scalar(item.code),
            _copy_scalar(item.provider_org_id),
            _copy_text(staged.column("provider_record_id")),
            pc.cast(pa.array(versions, pa.int64()), pa.string()),
            "t",
            _copy_text(staged.column("report_month")),
            _copy_text(staged.column("data")),
            enc_text,
            _copy_text(staged.column("content_hash")),
            _copy_text(staged.column("event_date")),
            _copy_text(staged.column("valid_until")),
            "t" if item.negative else "f",
            str(self.submission_id),
            str(item.version_id),
            loaded,
            "f",
        ]
        lines = pc.binary_join_element_wise(*fields, "\t")
        lines = pc.binary_join_element_wise(lines, "", "\n")  # every line ends with a newline
        offsets = np.frombuffer(lines.buffers()[1], dtype=np.int32)[
            lines.offset : lines.offset + len(lines) + 1
        ]
        return lines.buffers()[2].slice(int(offsets[0]), int(offsets[-1] - offsets[0]))

    def _write(self, staged: pa.Table, versions: np.ndarray) -> None:
        """Insert the rows: one COPY on PostgreSQL, executemany on SQLite."""
        cols = ", ".join(_WRITE_COLUMNS)
        if self.dialect == "postgresql":
            payload = self._copy_payload(staged, versions)
            with self._raw.cursor() as cur, cur.copy(f"COPY credit_records ({cols}) FROM STDIN") as copy:
                copy.write(memoryview(payload))
            return
        item = self.item
        # The storage formats SQLAlchemy uses on SQLite (0/1, naive UTC timestamps).
        loaded = self.now.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
        kind, code, org = item.subject_kind, item.code, item.provider_org_id
        tail = (int(item.negative), self.submission_id, item.version_id, loaded, 0)
        rows = [
            (sid, kind, code, org, rid, version, 1, month, data, enc, digest, event, until, *tail)
            for (rid, sid, month, data, enc, digest, event, until), version in zip(
                Staged(staged).rows(), versions.tolist(), strict=True
            )
        ]
        marks = ", ".join("?" * len(_WRITE_COLUMNS))
        self._raw.executemany(f"INSERT INTO credit_records ({cols}) VALUES ({marks})", rows)

    def load(self, staged: Staged) -> None:
        n = len(staged)
        if not n:
            return
        table = staged.table
        versions = np.ones(n, dtype=np.int64)
        replaced: list[int] = []
        keep: np.ndarray | None = None
        if self._nothing_stored:
            pass
        elif self.dialect == "postgresql":
            rids = table.column("provider_record_id").to_pylist()
            keep, versions, replaced = self._changes_pg(rids, table.column("content_hash").to_pylist())
        else:
            rids = table.column("provider_record_id").to_pylist()
            current = self._current(rids)
            keep = np.ones(n, dtype=bool)
            digests = table.column("content_hash").to_pylist()
            for i, (rid, digest) in enumerate(zip(rids, digests, strict=True)):
                cur = current.get(rid)
                if cur is None:
                    continue
                if cur[2] == digest:
                    keep[i] = False
                    continue
                replaced.append(cur[0])
                versions[i] = cur[1] + 1
        kept = n if keep is None else int(keep.sum())
        self.counts.unchanged += n - kept
        self.counts.changed += len(replaced)
        self.counts.new += kept - len(replaced)
        if replaced:
            self._close_versions(replaced)
        if keep is not None and kept < n:
            table, versions = table.filter(pa.array(keep)), versions[keep]
        if kept:
            self._write(table, versions)

    def close(self) -> None:
        """Nothing to release (kept so callers need not know how rows are written)."""
