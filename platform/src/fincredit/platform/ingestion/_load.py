"""Load accepted rows into ``credit_records``: idempotent by provider record id, versioned on change.

Inside the submission's one transaction: unchanged rows (same content hash as the current version) do
nothing; changed rows close the current version (``current = false``, ``superseded_at``) and insert
version n+1; new rows insert version 1.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from ..catalog import CatalogItemDef
from ..db.records import CreditRecord
from ..keyring import Keyring

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


def _json_columns(item: CatalogItemDef, table: pa.Table, names: list[str]) -> list[list[object]]:
    cols = []
    for name in names:
        col = table.column(name)
        if item.field(name).type == "date32":
            col = pc.cast(col, pa.string())
        cols.append(col.to_pylist())
    return cols


def stage_rows(
    item: CatalogItemDef, table: pa.Table, subject_ids: np.ndarray, keyring: Keyring
) -> list[tuple[object, ...]]:
    """One tuple per accepted row, in ``_COLUMNS`` order."""
    public = [f.name for f in item.fields if not f.sensitive]
    secret = list(item.sensitive_fields)
    pub_cols = _json_columns(item, table, public)
    sec_cols = _json_columns(item, table, secret)
    event = pc.cast(table.column(item.event_date_field), pa.string()).to_pylist()
    until = pc.cast(valid_until(item, table), pa.string()).to_pylist()
    rids = table.column("provider_record_id").to_pylist()
    months = table.column("report_month").to_pylist()
    dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
    sha = hashlib.sha256
    rows: list[tuple[object, ...]] = []
    pub_rows = zip(*pub_cols, strict=True) if pub_cols else iter([()] * table.num_rows)
    sec_rows = zip(*sec_cols, strict=True) if sec_cols else None
    for i, values in enumerate(pub_rows):
        data = dumps(dict(zip(public, values, strict=True)))
        sid = int(subject_ids[i])
        if sec_rows is not None:
            secret_json = dumps(dict(zip(secret, next(sec_rows), strict=True)))
            enc: bytes | None = keyring.encrypt(secret_json, context=f"record:{item.code}")
        else:
            secret_json, enc = "", None
        digest = sha(f"{sid}\x1f{data}\x1f{secret_json}".encode()).hexdigest()
        rows.append((rids[i], sid, months[i], data, enc, digest, event[i], until[i]))
    return rows


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

    def _current(self, rids: list[str]) -> dict[str, tuple[int, int, str]]:
        """provider record id -> (row id, version, content hash) of its current version."""
        out: dict[str, tuple[int, int, str]] = {}
        if self.dialect == "postgresql":
            # One index probe per id, forced: inside the loading transaction the statistics still
            # describe the table as it was before (often empty), and the planner would otherwise pick
            # a nested loop over the item's rows or a scan per id — quadratic on a large file.
            raw = self.session.connection().connection.driver_connection
            sql = (
                "SELECT u.rid, x.id, x.version, x.content_hash FROM unnest(%s::text[]) AS u(rid) "
                "CROSS JOIN LATERAL (SELECT r.id, r.version, r.content_hash FROM credit_records r "
                "WHERE r.provider_org_id = %s AND r.item_code = %s AND r.provider_record_id = u.rid "
                "AND r.current LIMIT 1) AS x"
            )
            with raw.cursor() as cur:  # type: ignore[union-attr]
                cur.execute("SET LOCAL enable_seqscan = off")
                cur.execute("SET LOCAL enable_bitmapscan = off")
                try:
                    cur.execute(sql, (rids, self.item.provider_org_id, self.item.code))
                    for rid, row_id, version, digest in cur.fetchall():
                        out[rid] = (int(row_id), int(version), digest)
                finally:
                    cur.execute("SET LOCAL enable_seqscan = on")
                    cur.execute("SET LOCAL enable_bitmapscan = on")
            return out
        t = CreditRecord
        for start in range(0, len(rids), _LOOKUP_CHUNK):
            q = select(t.provider_record_id, t.id, t.version, t.content_hash).where(
                t.provider_org_id == self.item.provider_org_id,
                t.item_code == self.item.code,
                t.current.is_(True),
                t.provider_record_id.in_(rids[start : start + _LOOKUP_CHUNK]),
            )
            for rid, row_id, version, digest in self.session.execute(q):
                out[rid] = (int(row_id), int(version), digest)
        return out

    def _write(self, rows: list[dict[str, object]]) -> None:
        raw = self.session.connection().connection.driver_connection
        cols = list(rows[0])
        if self.dialect == "postgresql":
            with raw.cursor() as cur, cur.copy(f"COPY credit_records ({', '.join(cols)}) FROM STDIN") as copy:  # type: ignore[union-attr]
                for row in rows:
                    copy.write_row(tuple(row.values()))
        else:
            # The storage formats SQLAlchemy uses on SQLite (ISO dates, naive UTC timestamps, 0/1).
            stamp = self.now.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
            values = [
                tuple(
                    stamp if c == "loaded_at" else int(v) if isinstance(v, bool) else v
                    for c, v in row.items()
                )
                for row in rows
            ]
            marks = ", ".join("?" * len(cols))
            raw.executemany(f"INSERT INTO credit_records ({', '.join(cols)}) VALUES ({marks})", values)  # type: ignore[union-attr]

    def load(self, rows: list[tuple[object, ...]]) -> None:
        if not rows:
            return
        current = self._current([str(r[0]) for r in rows])
        item = self.item
        fresh: list[dict[str, object]] = []
        replaced: list[int] = []
        for rid, sid, month, data, enc, digest, event, until in rows:
            version = 1
            cur = current.get(str(rid))
            if cur is not None:
                if cur[2] == digest:
                    self.counts.unchanged += 1
                    continue
                replaced.append(cur[0])
                version = cur[1] + 1
            else:
                self.counts.new += 1
            fresh.append(
                {
                    "subject_id": sid,
                    "subject_kind": item.subject_kind,
                    "item_code": item.code,
                    "provider_org_id": item.provider_org_id,
                    "provider_record_id": rid,
                    "version": version,
                    "current": True,
                    "report_month": month,
                    "data": data,
                    "sensitive_enc": enc,
                    "content_hash": digest,
                    "event_date": event,
                    "valid_until": until,
                    "negative": item.negative,
                    "submission_id": self.submission_id,
                    "catalog_version_id": item.version_id,
                    "loaded_at": self.now,
                    "under_objection": False,
                }
            )
        self.counts.changed += len(replaced)
        for start in range(0, len(replaced), _LOOKUP_CHUNK):
            self.session.execute(
                update(CreditRecord)
                .where(CreditRecord.id.in_(replaced[start : start + _LOOKUP_CHUNK]))
                .values(current=False, superseded_at=self.now)
            )
        if fresh:
            self._write(fresh)

    def close(self) -> None:
        """Nothing to release (kept so callers need not know how rows are written)."""
