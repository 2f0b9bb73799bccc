"""Bad rows in provider submissions, and the sidecar that says which rows are bad and why.

A submission file is the clean record table rendered as text (as a provider's CSV export would be),
with ``bad_row_share`` of its rows damaged in one of the ways real submissions go wrong. Some
damage is fixable by cleaning (full-width characters, stray spaces); the rest must be rejected back
to the provider with a reason.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from fincredit.models._identity import USCC_ALPHABET
from fincredit.models.catalog_spec import CatalogItemSpec

DEFECT_KINDS: dict[str, bool] = {  # kind -> fixable by cleaning
    "check_character": False,
    "name_mismatch": False,
    "invalid_date": False,
    "enum_value": False,
    "missing_required": False,
    "fullwidth": True,
    "whitespace": True,
}
_WEIGHTS = {
    "check_character": 0.20,
    "name_mismatch": 0.15,
    "invalid_date": 0.15,
    "enum_value": 0.10,
    "missing_required": 0.10,
    "fullwidth": 0.15,
    "whitespace": 0.15,
}
_BAD_ENUM_VALUES = ("E", "AA", "其他", "未知", "N/A", "待定")
_IMPOSSIBLE_DATES = ("2023-02-30", "2024-13-01", "2022-04-31", "2021-00-15", "2019-06-31", "20230732")

DEFECTS_SCHEMA = pa.schema(
    [
        pa.field("row", pa.int64(), nullable=False),
        pa.field("provider_record_id", pa.string(), nullable=False),
        pa.field("field", pa.string(), nullable=False),
        pa.field("defect", pa.string(), nullable=False),
        pa.field("fixable", pa.bool_(), nullable=False),
    ]
)


def render_text(item: CatalogItemSpec, table: pa.Table) -> pa.Table:
    """The clean typed records as a provider would export them: every column text, nulls empty."""
    cols = {}
    for f in item.all_fields:
        col = table.column(f.name)
        if f.type == "float64":
            col = pc.round(col, 2)
        cols[f.name] = pc.cast(col, pa.string())
    return pa.table(cols, schema=item.raw_schema())


def _fullwidth(s: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if 0x21 <= ord(c) <= 0x7E else c for c in s)


def _wrong_check(code: str, rng: np.random.Generator) -> str:
    pool = "0123456789X" if code[:17].isdigit() else USCC_ALPHABET
    choices = [c for c in pool if c != code[17]]
    return code[:17] + choices[int(rng.integers(0, len(choices)))]


def inject_defects(
    item: CatalogItemSpec,
    records: pa.Table,
    share: float,
    rng: np.random.Generator,
    subject_names: pa.Array,
) -> tuple[pa.Table, pa.Table]:
    """Render ``records`` as a raw submission and damage ``share`` of its rows; return (file, sidecar)."""
    raw = render_text(item, records)
    n = raw.num_rows
    n_bad = round(share * n)
    if n_bad == 0:
        return raw, DEFECTS_SCHEMA.empty_table()
    rows = np.sort(rng.choice(n, size=n_bad, replace=False))
    kinds = list(_WEIGHTS)
    enum_fields = [f.name for f in item.fields if f.enum]
    date_fields = [f.name for f in item.fields if f.type == "date32" and f.required]
    required = [f.name for f in item.fields if f.required]
    if not enum_fields:
        kinds.remove("enum_value")
    if not date_fields:
        kinds.remove("invalid_date")
    p = np.array([_WEIGHTS[k] for k in kinds])
    chosen = np.array(kinds)[rng.choice(len(kinds), size=n_bad, p=p / p.sum())]

    # Only the damaged cells go through Python; whole columns stay in Arrow (files reach millions of rows).
    originals = {name: raw.column(name).take(pa.array(rows)).to_pylist() for name in raw.column_names}
    edits: dict[str, dict[int, str | None]] = {}
    pool_size = len(subject_names)
    out_field: list[str] = []
    for i, (row, kind) in enumerate(zip(rows.tolist(), chosen.tolist(), strict=True)):
        value: str | None
        if kind == "check_character":
            target = "subject_id"
            value = _wrong_check(originals[target][i], rng)
        elif kind == "name_mismatch":
            target = "subject_name"
            own = originals[target][i]
            other = own
            for _ in range(8):
                other = subject_names[int(rng.integers(0, pool_size))].as_py()
                if other != own:
                    break
            value = other if other != own else own + "分公司"
        elif kind == "invalid_date":
            target = date_fields[int(rng.integers(0, len(date_fields)))]
            value = _IMPOSSIBLE_DATES[int(rng.integers(0, len(_IMPOSSIBLE_DATES)))]
        elif kind == "enum_value":
            target = enum_fields[int(rng.integers(0, len(enum_fields)))]
            value = _BAD_ENUM_VALUES[int(rng.integers(0, len(_BAD_ENUM_VALUES)))]
        elif kind == "missing_required":
            target = required[int(rng.integers(0, len(required)))]
            value = None if rng.random() < 0.5 else ""
        elif kind == "fullwidth":
            target = "subject_id"
            value = _fullwidth(originals[target][i])
        else:  # whitespace: leading/trailing ASCII and ideographic spaces around the name
            target = "subject_name"
            pad = ("  ", " ", "\u3000", "\t")
            value = pad[int(rng.integers(0, 4))] + originals[target][i] + pad[int(rng.integers(0, 4))]
        edits.setdefault(target, {})[row] = value
        out_field.append(target)
    columns = {}
    for name in raw.column_names:
        col = raw.column(name).combine_chunks()
        if name in edits:
            where = np.zeros(n, dtype=bool)
            changed = sorted(edits[name])
            where[changed] = True
            col = pc.replace_with_mask(
                col, pa.array(where), pa.array([edits[name][r] for r in changed], pa.string())
            )
        columns[name] = col
    damaged = pa.table(columns, schema=item.raw_schema())
    sidecar = pa.table(
        {
            "row": pa.array(rows, pa.int64()),
            "provider_record_id": raw.column("provider_record_id").take(pa.array(rows)),
            "field": pa.array(out_field, pa.string()),
            "defect": pa.array(chosen.tolist(), pa.string()),
            "fixable": pa.array([DEFECT_KINDS[k] for k in chosen.tolist()], pa.bool_()),
        },
        schema=DEFECTS_SCHEMA,
    )
    return damaged, sidecar
