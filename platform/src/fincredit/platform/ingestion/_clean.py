"""Clean and validate one record batch of a submission, column by column in Arrow.

Cleaning comes first, so that what a clerk's spreadsheet does to values (full-width digits typed on
a Chinese IME, stray and ideographic spaces, ``2023/4/15`` or ``20230415`` dates) is fixed rather
than refused. What is still wrong after cleaning is a row-level error: the row goes to the feedback
report with the field and a reason code, and the other rows carry on.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from fincredit.platform.catalog import CatalogItemDef
from fincredit.platform.ingestion._identifiers import explain, identifiers_valid

# Full-width ASCII forms and the ideographic space: what NFKC folds that matters for this data.
_FULLWIDTH = "[\uff01-\uff5e\u3000]"
_NUMBER = r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$"
_INTEGER = r"^[+-]?\d+$"
_MONTH = r"^\d{4}-(0[1-9]|1[0-2])$"
_INT32 = (-(2**31), 2**31 - 1)
_TRUE = ["true", "1", "是", "y", "yes"]
_FALSE = ["false", "0", "否", "n", "no"]
MAX_RECORD_ID = 128

# pyarrow imports pandas on its first conversion of a Python value (about a second on this kind of
# machine): pay it when the pipeline is imported, as a server does at start, not in the first file.
pa.scalar("")


@dataclass
class Errors:
    """Row-level errors of one batch, as parallel lists (row numbers are file-wide)."""

    rows: list[np.ndarray] = field(default_factory=list)
    fields: list[str] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)
    details: list[list[str]] = field(default_factory=list)

    def add(self, rows: np.ndarray, field_name: str, reason: str, details: list[str]) -> None:
        if len(rows):
            self.rows.append(rows)
            self.fields.append(field_name)
            self.reasons.append(reason)
            self.details.append(details)

    def bad_mask(self, n: int, offset: int) -> np.ndarray:
        mask = np.zeros(n, dtype=bool)
        for r in self.rows:
            mask[r - offset] = True
        return mask

    def __len__(self) -> int:
        return sum(len(r) for r in self.rows)

    def iter_rows(self) -> list[tuple[int, str, str, str]]:
        out: list[tuple[int, str, str, str]] = []
        for rows, f, reason, details in zip(self.rows, self.fields, self.reasons, self.details, strict=True):
            out.extend((int(r), f, reason, d) for r, d in zip(rows.tolist(), details, strict=True))
        return out


def halfwidth(col: pa.Array) -> pa.Array:
    """Full-width → half-width and trimmed; only the rows that need it go through NFKC (it is slow).
    An all-ASCII column (identifiers, dates, amounts: the usual case) cannot hold full-width forms."""
    if pc.all(pc.string_is_ascii(col)).as_py() is not False:
        return pc.utf8_trim_whitespace(col)
    needs = pc.match_substring_regex(col, _FULLWIDTH)
    if pc.any(needs).as_py():
        col = pc.if_else(needs, pc.utf8_normalize(col, "NFKC"), col)
    return pc.utf8_trim_whitespace(col)


def _blank_to_null(col: pa.Array) -> pa.Array:
    return pc.if_else(pc.equal(col, ""), pa.scalar(None, pa.string()), col)


def _np(mask: pa.Array) -> np.ndarray:
    return np.asarray(pc.fill_null(mask, False).to_numpy(zero_copy_only=False), dtype=bool)


def _values(col: pa.Array, idx: np.ndarray) -> list[str]:
    return [str(v) for v in col.take(pa.array(idx)).to_pylist()]


def _per_distinct(col: pa.Array, parse: Callable[[pa.Array], tuple[Any, ...]]) -> tuple[Any, ...]:
    """``parse(col)`` -> (typed column, bad mask, *extra), computed once per distinct value: a file
    repeats the same dates, years and codes over and over. Falls back to ``parse(col)`` when most
    values are distinct (nothing to gain)."""
    enc = pc.dictionary_encode(col)
    if not len(enc.dictionary) or 2 * len(enc.dictionary) > len(col):
        return parse(col)
    typed, bad, *extra = parse(enc.dictionary)
    indices = enc.indices
    present = _np(pc.is_valid(indices))
    at = pc.fill_null(indices, 0).to_numpy(zero_copy_only=False)
    return (typed.take(indices), bad[at] & present, *extra)


def _parse_dates(col: pa.Array) -> tuple[pa.Array, np.ndarray]:
    """(date32 column, bad mask). Accepts YYYY-MM-DD, YYYY/MM/DD, YYYY.MM.DD and YYYYMMDD; refuses
    dates that do not exist (strptime would roll 2023-02-30 over into March, so round-trip check)."""
    s = pc.replace_substring_regex(col, r"[/.]", "-")
    s = pc.replace_substring_regex(s, r"^(\d{4})(\d{2})(\d{2})$", r"\1-\2-\3")
    s = pc.replace_substring_regex(s, r"^(\d{4})-(\d)-", r"\1-0\2-")
    s = pc.replace_substring_regex(s, r"^(\d{4}-\d{2})-(\d)$", r"\1-0\2")
    shaped = pc.match_substring_regex(s, r"^\d{4}-\d{2}-\d{2}$")
    ts = pc.strptime(pc.if_else(shaped, s, pa.scalar(None, pa.string())), "%Y-%m-%d", "s", error_is_null=True)
    back = pc.strftime(ts, "%Y-%m-%d")
    good = pc.and_(shaped, pc.equal(back, s))
    bad = pc.and_(pc.is_valid(col), pc.invert(pc.fill_null(good, False)))
    dates = pc.cast(pc.if_else(good, ts, pa.scalar(None, ts.type)), pa.date32())
    return dates, _np(bad)


def _parse_numbers(col: pa.Array, kind: str) -> tuple[pa.Array, np.ndarray, str]:
    pattern = _INTEGER if kind in ("int32", "int64") else _NUMBER
    s = pc.replace_substring(col, ",", "")  # thousands separators of spreadsheet exports
    shaped = pc.fill_null(pc.match_substring_regex(s, pattern), False)
    placeholder = pc.if_else(shaped, s, pa.scalar("0"))
    if kind == "float64":
        values = pc.cast(placeholder, pa.float64())
        reason = "invalid_number"
    else:
        wide = pc.cast(placeholder, pa.int64())
        reason = "invalid_integer"
        if kind == "int32":
            shaped = pc.and_(
                shaped, pc.and_(pc.greater_equal(wide, _INT32[0]), pc.less_equal(wide, _INT32[1]))
            )
            values = pc.cast(pc.if_else(shaped, wide, 0), pa.int32())
        else:
            values = wide
    bad = pc.and_(pc.is_valid(col), pc.invert(shaped))
    typed = pc.if_else(pc.and_(pc.is_valid(col), shaped), values, pa.scalar(None, values.type))
    return typed, _np(bad), reason


def _parse_bools(col: pa.Array) -> tuple[pa.Array, np.ndarray]:
    low = pc.utf8_lower(col)
    t = pc.is_in(low, pa.array(_TRUE))
    f = pc.is_in(low, pa.array(_FALSE))
    bad = pc.and_(pc.is_valid(col), pc.invert(pc.or_(t, f)))
    typed = pc.if_else(t, True, pc.if_else(f, False, pa.scalar(None, pa.bool_())))
    return typed, _np(bad)


def clean_batch(
    batch: pa.RecordBatch, item: CatalogItemDef, *, offset: int, month: str, today: dt.date
) -> tuple[pa.Table, Errors]:
    """The batch cleaned and typed to the item's schema (bad cells null) and the errors found."""
    n = batch.num_rows
    rows = np.arange(offset, offset + n, dtype=np.int64)
    errors = Errors()
    out: dict[str, pa.Array] = {}
    for spec in item.all_fields:
        raw = batch.column(spec.name)
        col = _blank_to_null(halfwidth(raw))
        if spec.name == "subject_id":
            col = pc.utf8_upper(col)
        missing = _np(pc.is_null(col))
        if spec.required and missing.any():
            idx = np.flatnonzero(missing)
            errors.add(rows[idx], spec.name, "missing_required", [f"{spec.title} is required"] * len(idx))
        if spec.type == "string":
            typed: pa.Array = col
            if spec.enum:
                bad = _np(pc.and_(pc.is_valid(col), pc.invert(pc.is_in(col, pa.array(spec.enum)))))
                if bad.any():
                    idx = np.flatnonzero(bad)
                    allowed = "、".join(spec.enum)
                    details = [f"{v!r} is not one of: {allowed}" for v in _values(col, idx)]
                    errors.add(rows[idx], spec.name, "enum_value", details)
        elif spec.type == "date32":
            typed, bad = _per_distinct(col, _parse_dates)
            if bad.any():
                idx = np.flatnonzero(bad)
                details = [f"{v!r} is not a valid date (YYYY-MM-DD)" for v in _values(col, idx)]
                errors.add(rows[idx], spec.name, "invalid_date", details)
        elif spec.type == "bool":
            typed, bad = _per_distinct(col, _parse_bools)
            if bad.any():
                idx = np.flatnonzero(bad)
                details = [f"{v!r} is not a yes/no value" for v in _values(col, idx)]
                errors.add(rows[idx], spec.name, "invalid_boolean", details)
        else:
            typed, bad, reason = _per_distinct(col, partial(_parse_numbers, kind=spec.type))
            if bad.any():
                idx = np.flatnonzero(bad)
                what = "a number" if spec.type == "float64" else "a whole number in range"
                details = [f"{v!r} is not {what}" for v in _values(col, idx)]
                errors.add(rows[idx], spec.name, reason, details)
        out[spec.name] = typed
    _check_envelope(out, item, rows, errors, month=month, today=today)
    return pa.table(out, schema=item.arrow_schema()), errors


def _check_envelope(
    cols: dict[str, pa.Array],
    item: CatalogItemDef,
    rows: np.ndarray,
    errors: Errors,
    *,
    month: str,
    today: dt.date,
) -> None:
    rid = cols["provider_record_id"]
    too_long = _np(pc.greater(pc.utf8_length(rid), MAX_RECORD_ID))
    if too_long.any():
        idx = np.flatnonzero(too_long)
        errors.add(
            rows[idx], "provider_record_id", "invalid_record_id", [f"longer than {MAX_RECORD_ID}"] * len(idx)
        )
    rm = cols["report_month"]
    present = pc.is_valid(rm)
    bad_shape = _np(pc.and_(present, pc.invert(pc.fill_null(pc.match_substring_regex(rm, _MONTH), False))))
    if bad_shape.any():
        idx = np.flatnonzero(bad_shape)
        details = [f"{v!r} is not a month (YYYY-MM)" for v in _values(rm, idx)]
        errors.add(rows[idx], "report_month", "invalid_month", details)
    # Back-filled and corrected months are fine; a row cannot report on a month after the submission's.
    later = _np(pc.and_(pc.and_(present, pc.invert(pa.array(bad_shape))), pc.greater(rm, month)))
    if later.any():
        idx = np.flatnonzero(later)
        details = [f"{v} is after the submission's month {month}" for v in _values(rm, idx)]
        errors.add(rows[idx], "report_month", "month_after_submission", details)
    codes = cols["subject_id"]
    present_codes = _np(pc.is_valid(codes))
    valid = identifiers_valid(codes, item.subject_kind, today=today)
    bad = present_codes & ~valid
    if bad.any():
        idx = np.flatnonzero(bad)
        reasons: dict[str, tuple[list[int], list[str]]] = {}
        for i, code in zip(idx.tolist(), _values(codes, idx), strict=True):
            reason, message = explain(code, item.subject_kind)
            reasons.setdefault(reason, ([], []))
            reasons[reason][0].append(i)
            reasons[reason][1].append(message)
        for reason, (where, messages) in reasons.items():
            errors.add(rows[np.array(where, dtype=np.int64)], "subject_id", reason, messages)
