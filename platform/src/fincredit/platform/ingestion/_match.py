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
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from fincredit.consent.identifiers import mask

from ..catalog import CatalogItemDef
from ..db import LegalPerson, NaturalPerson, Subject
from ..keyring import Keyring
from ._blind import blind_indexes
from ._clean import Errors, halfwidth

_CHUNK = 5000
_CACHE_LIMIT = 500_000


def normalise_name(name: str) -> str:
    return unicodedata.normalize("NFKC", name).strip()


@dataclass
class SubjectCache:
    """identifier -> (subject id, registered name) for the identifiers of one submission seen so far."""

    known: dict[str, tuple[int, str]] = field(default_factory=dict)

    def remember(self, code: str, value: tuple[int, str]) -> None:
        if len(self.known) < _CACHE_LIMIT:
            self.known[code] = value


def _lookup(session: Session, keyring: Keyring, kind: str, codes: list[str]) -> dict[str, tuple[int, str]]:
    bidx = blind_indexes(keyring, kind, codes)
    by_bidx = dict(zip(bidx, codes, strict=True))
    found: dict[str, tuple[int, str]] = {}
    for start in range(0, len(bidx), _CHUNK):
        chunk = bidx[start : start + _CHUNK]
        if kind == "legal":
            q = (
                select(Subject.id, Subject.code_bidx, LegalPerson.name)
                .join(LegalPerson, LegalPerson.subject_id == Subject.id)
                .where(Subject.code_bidx.in_(chunk))
            )
            for sid, b, name in session.execute(q):
                found[by_bidx[b]] = (int(sid), normalise_name(name))
        else:
            q2 = (
                select(Subject.id, Subject.code_bidx, NaturalPerson.name_enc)
                .join(NaturalPerson, NaturalPerson.subject_id == Subject.id)
                .where(Subject.code_bidx.in_(chunk))
            )
            for sid, b, enc in session.execute(q2):
                name = keyring.decrypt(enc, context="natural:name")
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
    uniq_codes: list[str] = uniq.to_pylist()
    resolved = {c: cache.known[c] for c in uniq_codes if c in cache.known}
    todo = [c for c in uniq_codes if c not in resolved]
    if todo:
        found = _lookup(session, keyring, item.subject_kind, todo)
        resolved.update(found)
        for code, value in found.items():
            cache.remember(code, value)
    registered = 0
    unknown_u = [c for c in uniq_codes if c not in resolved]
    if unknown_u and item.registers_subjects:
        # The first row of each new identifier in this batch is the registration record.
        first = np.full(len(uniq_codes), -1, dtype=np.int64)
        first[pos[::-1]] = np.arange(len(pos) - 1, -1, -1)
        where = {c: i for i, c in enumerate(uniq_codes)}
        first_rows = [int(idx[first[where[c]]]) for c in unknown_u]
        reg_names = [
            normalise_name(str(n))
            for n in table.column("subject_name").take(pa.array(first_rows, pa.int64())).to_pylist()
        ]
        details = _registration_details(item, table, first_rows)
        ids = register_subjects(session, keyring, item.subject_kind, unknown_u, reg_names, **details)
        for code, name in zip(unknown_u, reg_names, strict=True):
            resolved[code] = (ids[code], name)
            cache.remember(code, resolved[code])
        registered = len(ids)
    sid_u = np.array([resolved.get(c, (-1, ""))[0] for c in uniq_codes], dtype=np.int64)
    name_u = pa.array([resolved.get(c, (-1, ""))[1] for c in uniq_codes], pa.string())
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
    given = halfwidth(names)
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
