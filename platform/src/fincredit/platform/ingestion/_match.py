"""Match cleaned rows to subjects of the legal-person or natural-person database (R§3).

Rows are resolved by the keyed blind index of their identifier (computed once per distinct identifier
of a batch, looked up in chunks), never by decrypting the registry. A row whose name contradicts the
registered name of its identifier is a mismatch. Unknown subjects are registered only from the
registration authority's items (``registers_subjects``: the market-supervision register is the
authoritative source of legal persons); every other item rejects rows about subjects the platform
does not know, so a typo cannot create a phantom enterprise or person.
"""

from __future__ import annotations

import datetime as dt
import unicodedata
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import insert
from sqlalchemy.orm import Session

from fincredit.consent.identifiers import mask
from fincredit.platform.catalog import CatalogItemDef
from fincredit.platform.core.db import LegalPerson, NaturalPerson, Subject
from fincredit.platform.core.keyring import Keyring
from fincredit.platform.ingestion._blind import blind_indexes
from fincredit.platform.ingestion._clean import Errors

_CHUNK = 5000
_CACHE_LIMIT = 500_000


def normalise_name(name: str) -> str:
    return unicodedata.normalize("NFKC", name).strip()


class SubjectCache:
    """identifier -> (subject id, registered name) for the identifiers of one submission seen so far.

    Held as columns, so that a batch's identifiers are resolved by one hash lookup (``index_in``)
    rather than one dictionary probe per value: a submission repeats the same subjects batch after
    batch, and a batch of 65,536 rows often carries 60,000 distinct identifiers."""

    def __init__(self) -> None:
        self.codes: pa.Array = pa.array([], pa.string())
        self.ids = np.zeros(0, dtype=np.int64)
        self.names: pa.Array = pa.array([], pa.string())

    def find(self, codes: pa.Array) -> np.ndarray:
        """Position of each code in the cache, -1 where it is not there."""
        if not len(self.codes):
            return np.full(len(codes), -1, dtype=np.int64)
        at = pc.fill_null(pc.index_in(codes, value_set=self.codes), -1)
        return np.asarray(at.to_numpy(zero_copy_only=False), dtype=np.int64)

    def remember(self, codes: list[str], values: list[tuple[int, str]]) -> None:
        room = _CACHE_LIMIT - len(self.codes)
        if room <= 0 or not codes:
            return
        codes, values = codes[:room], values[:room]
        self.codes = pa.concat_arrays([self.codes, pa.array(codes, pa.string())])
        self.ids = np.concatenate([self.ids, np.array([v[0] for v in values], dtype=np.int64)])
        self.names = pa.concat_arrays([self.names, pa.array([v[1] for v in values], pa.string())])


def _lookup(session: Session, keyring: Keyring, kind: str, codes: list[str]) -> dict[str, tuple[int, str]]:
    """On the driver connection (one array parameter on PostgreSQL, plain ``IN`` chunks on SQLite):
    the ORM's expanding ``IN`` costs more to render than the query takes to run."""
    bidx = blind_indexes(keyring, kind, codes)
    by_bidx = dict(zip(bidx, codes, strict=True))
    person, name_col = ("legal_persons", "name") if kind == "legal" else ("natural_persons", "name_enc")
    columns = f"s.id, s.code_bidx, p.{name_col}"
    raw = session.connection().connection.driver_connection
    rows: list[tuple[Any, ...]] = []
    if session.get_bind().dialect.name == "postgresql":
        sql = (
            f"SELECT {columns} FROM subjects s JOIN {person} p ON p.subject_id = s.id "
            "WHERE s.code_bidx = ANY(%s::text[])"
        )
        with raw.cursor() as cur:  # type: ignore[union-attr]
            cur.execute(sql, (bidx,))
            rows = cur.fetchall()
    else:
        for start in range(0, len(bidx), _CHUNK):
            chunk = bidx[start : start + _CHUNK]
            sql = (
                f"SELECT {columns} FROM subjects s JOIN {person} p ON p.subject_id = s.id "
                f"WHERE s.code_bidx IN ({', '.join('?' * len(chunk))})"
            )
            rows.extend(raw.execute(sql, chunk).fetchall())  # type: ignore[union-attr]
    found: dict[str, tuple[int, str]] = {}
    for sid, b, name in rows:
        if kind != "legal":
            name = keyring.decrypt(bytes(name), context="natural:name")
        found[by_bidx[b]] = (int(sid), normalise_name(name))
    return found


def register_subjects(
    session: Session,
    keyring: Keyring,
    kind: str,
    codes: list[str],
    names: list[str],
    *,
    industries: list[str | None] | None = None,
    established: list[dt.date | None] | None = None,
    capitals: list[float | None] | None = None,
) -> dict[str, int]:
    """Register many (already validated, distinct, unknown) subjects in a few statements."""
    if not codes:
        return {}
    bidx = blind_indexes(keyring, kind, codes)
    context = f"subject:{kind}"
    rows = [
        {
            "kind": kind,
            "code_enc": keyring.encrypt(code, context=context),
            "code_bidx": b,
            "code_masked": mask(code, kind),
            "region": code[2:8] if kind == "legal" else code[:6],
        }
        for code, b in zip(codes, bidx, strict=True)
    ]
    ids: dict[str, int] = {}
    by_bidx = dict(zip(bidx, codes, strict=True))
    for start in range(0, len(rows), _CHUNK):
        result = session.execute(
            insert(Subject).returning(Subject.id, Subject.code_bidx), rows[start : start + _CHUNK]
        )
        for sid, b in result:
            ids[by_bidx[b]] = int(sid)
    if kind == "legal":
        people = [
            {
                "subject_id": ids[code],
                "name": name,
                "industry": industries[i] if industries else None,
                "established_on": established[i] if established else None,
                "registered_capital": capitals[i] if capitals else None,
            }
            for i, (code, name) in enumerate(zip(codes, names, strict=True))
        ]
        for start in range(0, len(people), _CHUNK):
            session.execute(insert(LegalPerson), people[start : start + _CHUNK])
    else:
        persons = [
            {"subject_id": ids[code], "name_enc": keyring.encrypt(name, context="natural:name")}
            for code, name in zip(codes, names, strict=True)
        ]
        for start in range(0, len(persons), _CHUNK):
            session.execute(insert(NaturalPerson), persons[start : start + _CHUNK])
    return ids


def _registration_details(
    item: CatalogItemDef, table: pa.Table, first_rows: list[int]
) -> dict[str, list[Any]]:
    take = pa.array(first_rows, pa.int64())
    out: dict[str, list[Any]] = {}
    names = set(table.column_names)
    if "industry_code" in names:
        out["industries"] = table.column("industry_code").take(take).to_pylist()
    if "registration_date" in names:
        out["established"] = table.column("registration_date").take(take).to_pylist()
    if "registered_capital" in names:
        out["capitals"] = table.column("registered_capital").take(take).to_pylist()
    return out


def match_batch(
    session: Session,
    keyring: Keyring,
    item: CatalogItemDef,
    table: pa.Table,
    ok: np.ndarray,
    rows: np.ndarray,
    errors: Errors,
    cache: SubjectCache,
) -> tuple[np.ndarray, int]:
    """Subject id per row (-1 where the row is rejected) and how many subjects were registered."""
    subject_ids = np.full(table.num_rows, -1, dtype=np.int64)
    idx = np.flatnonzero(ok)
    if not len(idx):
        return subject_ids, 0
    take = pa.array(idx)
    codes = table.column("subject_id").take(take)
    names = table.column("subject_name").take(take)
    uniq = pc.unique(codes)
    pos = pc.index_in(codes, value_set=uniq).to_numpy(zero_copy_only=False).astype(np.int64)
    at = cache.find(uniq)
    cached = at >= 0
    sid_u = np.full(len(uniq), -1, dtype=np.int64)
    sid_u[cached] = cache.ids[at[cached]]
    name_u = cache.names.take(pa.array(at, mask=~cached)) if cached.any() else None
    todo_at = np.flatnonzero(~cached)
    registered = 0
    if len(todo_at):
        todo: list[str] = uniq.take(pa.array(todo_at)).to_pylist()
        resolved = _lookup(session, keyring, item.subject_kind, todo)
        cache.remember(list(resolved), list(resolved.values()))
        unknown_u = [c for c in todo if c not in resolved]
        if unknown_u and item.registers_subjects:
            # The first row of each new identifier in this batch is the registration record.
            first = np.full(len(uniq), -1, dtype=np.int64)
            first[pos[::-1]] = np.arange(len(pos) - 1, -1, -1)
            where = dict(zip(todo, todo_at.tolist(), strict=True))
            first_rows = [int(idx[first[where[c]]]) for c in unknown_u]
            reg_names = [
                normalise_name(str(n))
                for n in table.column("subject_name").take(pa.array(first_rows, pa.int64())).to_pylist()
            ]
            details = _registration_details(item, table, first_rows)
            ids = register_subjects(session, keyring, item.subject_kind, unknown_u, reg_names, **details)
            new = [(ids[code], name) for code, name in zip(unknown_u, reg_names, strict=True)]
            resolved.update(zip(unknown_u, new, strict=True))
            cache.remember(unknown_u, new)
            registered = len(ids)
        values = [resolved.get(c, (-1, "")) for c in todo]
        sid_u[todo_at] = np.array([v[0] for v in values], dtype=np.int64)
        todo_names = pa.array([v[1] for v in values], pa.string())
        name_u = todo_names if name_u is None else pc.replace_with_mask(name_u, pa.array(~cached), todo_names)
    sid = sid_u[pos]
    unknown = sid < 0
    if unknown.any():
        bad = idx[unknown]
        details_u = [
            f"no {'enterprise' if item.subject_kind == 'legal' else 'person'} "
            f"{mask(str(c), item.subject_kind)} in the subject register"
            for c in codes.filter(pa.array(unknown)).to_pylist()
        ]
        errors.add(rows[bad], "subject_id", "unknown_subject", details_u)
    assert name_u is not None  # every distinct code was either cached or looked up
    given = names  # cleaned like every text field (half-width, trimmed)
    differs = pc.not_equal(given, name_u.take(pa.array(pos))).to_numpy(zero_copy_only=False)
    mismatch = np.asarray(differs, dtype=bool) & ~unknown
    if mismatch.any():
        bad = idx[mismatch]
        details_m = [
            f"{n!r} is not the registered name of this identifier"
            for n in given.filter(pa.array(mismatch)).to_pylist()
        ]
        errors.add(rows[bad], "subject_name", "name_mismatch", details_m)
    good = ~unknown & ~mismatch
    subject_ids[idx[good]] = sid[good]
    return subject_ids, registered
