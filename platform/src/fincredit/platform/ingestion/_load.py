"""Load accepted rows into ``credit_records``: idempotent by provider record id, versioned on change.

Each batch is staged in a temporary table (PostgreSQL: COPY; SQLite: executemany) and merged with
three set-based statements, all inside the submission's one transaction:
unchanged rows (same content hash as the current version) do nothing; changed rows close the current
version (``current = false``, ``superseded_at``) and insert version n+1; new rows insert version 1.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import BigInteger, Boolean, Integer, String, bindparam, text
from sqlalchemy.orm import Session

from ..catalog import CatalogItemDef
from ..db import UtcDateTime
from ..keyring import Keyring

STAGE = "stage_credit_records"
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

# PostgreSQL must know the parameters' types where they appear only in a SELECT list.
_TYPED = (
    bindparam("now", type_=UtcDateTime),
    bindparam("p", type_=String),
    bindparam("i", type_=String),
    bindparam("kind", type_=String),
    bindparam("neg", type_=Boolean),
    bindparam("t", type_=Boolean),
    bindparam("f", type_=Boolean),
    bindparam("sub", type_=BigInteger),
    bindparam("cv", type_=Integer),
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
    """Stages and merges batches on the session's connection (and so in its transaction)."""

    def __init__(
        self, session: Session, item: CatalogItemDef, *, submission_id: int, now: dt.datetime
    ) -> None:
        self.session = session
        self.item = item
        self.dialect = session.get_bind().dialect.name
        self.params = {
            "p": item.provider_org_id,
            "i": item.code,
            "kind": item.subject_kind,
            "neg": item.negative,
            "sub": submission_id,
            "cv": item.version_id,
            "now": now,
            "t": True,
            "f": False,
        }
        self.counts = LoadCounts()
        self._create_stage()

    def _create_stage(self) -> None:
        if self.dialect == "postgresql":
            ddl = (
                f"CREATE TEMP TABLE IF NOT EXISTS {STAGE} (provider_record_id varchar(128), "
                "subject_id bigint, report_month varchar(7), data json, sensitive_enc bytea, "
                "content_hash varchar(64), event_date date, valid_until date) ON COMMIT DROP"
            )
        else:
            ddl = (
                f"CREATE TEMP TABLE IF NOT EXISTS {STAGE} (provider_record_id TEXT, subject_id INTEGER, "
                "report_month TEXT, data TEXT, sensitive_enc BLOB, content_hash TEXT, event_date TEXT, "
                "valid_until TEXT)"
            )
        self.session.execute(text(ddl))
        self.session.execute(text(f"DELETE FROM {STAGE}"))

    def _fill(self, rows: list[tuple[object, ...]]) -> None:
        raw = self.session.connection().connection.driver_connection
        cols = ", ".join(_COLUMNS)
        if self.dialect == "postgresql":
            with raw.cursor() as cur:  # type: ignore[union-attr]
                with cur.copy(f"COPY {STAGE} ({cols}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
                cur.execute(f"ANALYZE {STAGE}")
        else:
            marks = ", ".join("?" * len(_COLUMNS))
            raw.executemany(f"INSERT INTO {STAGE} ({cols}) VALUES ({marks})", rows)  # type: ignore[union-attr]

    def _exec(self, sql: str) -> int:
        stmt = text(sql).bindparams(*(b for b in _TYPED if f":{b.key}" in sql))
        result = self.session.execute(stmt, self.params)
        return int(result.rowcount or 0)  # type: ignore[attr-defined]

    def load(self, rows: list[tuple[object, ...]]) -> None:
        if not rows:
            return
        self._fill(rows)
        same = (
            f"SELECT count(*) FROM {STAGE} s JOIN credit_records r ON r.provider_org_id = :p "
            "AND r.item_code = :i AND r.provider_record_id = s.provider_record_id AND r.current = :t "
            "AND r.content_hash = s.content_hash"
        )
        unchanged = int(self.session.execute(text(same), self.params).scalar_one())
        changed = self._exec(
            "UPDATE credit_records SET current = :f, superseded_at = :now WHERE id IN ("
            f"SELECT r.id FROM {STAGE} s JOIN credit_records r ON r.provider_org_id = :p "
            "AND r.item_code = :i AND r.provider_record_id = s.provider_record_id AND r.current = :t "
            "AND r.content_hash <> s.content_hash)"
        )
        inserted = self._exec(
            "INSERT INTO credit_records (subject_id, subject_kind, item_code, provider_org_id, "
            "provider_record_id, version, current, report_month, data, sensitive_enc, content_hash, "
            "event_date, valid_until, negative, submission_id, catalog_version_id, loaded_at, "
            "under_objection) "
            "SELECT s.subject_id, :kind, :i, :p, s.provider_record_id, "
            "COALESCE((SELECT max(r.version) FROM credit_records r WHERE r.provider_org_id = :p "
            "AND r.item_code = :i AND r.provider_record_id = s.provider_record_id), 0) + 1, "
            ":t, s.report_month, s.data, s.sensitive_enc, s.content_hash, s.event_date, s.valid_until, "
            f":neg, :sub, :cv, :now, :f FROM {STAGE} s WHERE NOT EXISTS (SELECT 1 FROM credit_records r "
            "WHERE r.provider_org_id = :p AND r.item_code = :i "
            "AND r.provider_record_id = s.provider_record_id AND r.current = :t)"
        )
        self.counts.unchanged += unchanged
        self.counts.changed += changed
        self.counts.new += inserted - changed
        self.session.execute(text(f"DELETE FROM {STAGE}"))

    def close(self) -> None:
        if self.dialect != "postgresql":
            self.session.execute(text(f"DROP TABLE IF EXISTS temp.{STAGE}"))
