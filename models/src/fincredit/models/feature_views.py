"""Feature views as data: the platform's offered joint-modelling features, defined in a versioned TOML.

Each ``[[features]]`` entry names one feature the platform offers banks (``name``, the identifier a bank's
SDK passes; ``title``, optional, the Chinese title its page shows; ``description``, in English). An
operator adds a feature by adding an entry (``feature_views.toml`` beside this module is the default; a
deployment may point the platform at its own file): no code changes. Two kinds:

* **declarative** (``aggregation`` one of ``AGGREGATIONS``): computed by :func:`evaluate_views` from
  one source (or several of the same shape, e.g. the three utilities' arrears) as::

      rows of the source(s) dated in (as_of - window_days, as_of]     # date_field; all rows if no window
                          [and whose ``where`` fields take the listed values]
      -> per enterprise: aggregation over ``field`` (``map`` turns a categorical field into numbers)
      -> ``transform`` (log1p)                                        # optional
      -> ``missing`` where the enterprise has no such row: "zero", "nan" or a number

  ``days_since_latest``/``months_since_latest`` measure from the latest dated row to ``as_of``;
  ``active_count`` counts rows open at ``as_of`` (``date_field`` <= as_of < ``end_field``, an empty
  end meaning still open). Dates are ``date32`` fields or ``YYYY-MM`` period strings (a period counts
  as known from the first day of the next month, as in :mod:`fincredit.models.features`).
* **builtin** (``aggregation = "builtin"``): one of the engineered features of
  :func:`fincredit.models.features.enterprise_features` (a join through the legal representative, a
  rating scale, ...); the entry documents it and names its sources, so the offer and the lineage come
  from this file for every feature.

:func:`validate_views` checks a definition against the catalog (every source is a catalog item or a
market dataset, every field exists with a usable type, windows are positive, names unique), so a
wrong file is refused when the platform loads it, with every problem listed.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import math
import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from fincredit.models.errors import FeatureError

__all__ = [
    "AGGREGATIONS",
    "DEFAULT_VIEWS_PATH",
    "FeatureView",
    "FeatureViews",
    "default_views",
    "evaluate_views",
    "load_views",
    "parse_views",
    "validate_views",
]

DEFAULT_VIEWS_PATH = Path(__file__).with_name("feature_views.toml")
AGGREGATIONS = (
    "builtin",
    "count",
    "exists",
    "active_count",
    "sum",
    "mean",
    "min",
    "max",
    "latest",
    "days_since_latest",
    "months_since_latest",
)
_NEEDS_FIELD = ("sum", "mean", "min", "max", "latest")
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
_NUMERIC = ("int", "uint", "float", "double", "decimal", "bool")


@dataclass(frozen=True, slots=True)
class FeatureView:
    name: str
    description: str
    sources: tuple[str, ...]
    aggregation: str
    field: str | None = None
    date_field: str | None = None
    end_field: str | None = None
    window_days: int | None = None
    where: dict[str, tuple[str, ...]] = dataclasses.field(default_factory=dict)
    map: dict[str, float] = dataclasses.field(default_factory=dict)
    transform: str | None = None
    missing: str | float = "nan"
    since_version: int = 1
    title: str = ""  # the Chinese title banks read; ``description`` is the English one

    @property
    def declarative(self) -> bool:
        return self.aggregation != "builtin"

    def to_dict(self) -> dict[str, Any]:
        body = asdict(self)
        body["sources"] = list(self.sources)
        body["where"] = {k: list(v) for k, v in self.where.items()}
        return {k: v for k, v in body.items() if v not in (None, {}, ())}


@dataclass(frozen=True, slots=True)
class FeatureViews:
    """One versioned definition: ``version`` goes up with every change; ``digest`` pins the content."""

    version: int
    features: tuple[FeatureView, ...]
    digest: str
    path: str = ""

    def names(self) -> list[str]:
        return [f.name for f in self.features]

    def get(self, name: str) -> FeatureView:
        for f in self.features:
            if f.name == name:
                return f
        raise KeyError(name)

    def sources(self) -> dict[str, tuple[str, ...]]:
        return {f.name: f.sources for f in self.features}

    def covered_by(self, scopes: Sequence[str]) -> list[FeatureView]:
        """The features computed only from ``scopes``: what a consent to those scopes lets a job use."""
        allowed = set(scopes)
        return [f for f in self.features if set(f.sources) <= allowed]

    def lineage(self, names: Sequence[str]) -> dict[str, Any]:
        """What a model's lineage records about its platform features: the definition they come from
        (version and digest) and, per feature, its sources and rule."""
        return {
            "feature_views_version": self.version,
            "feature_views_digest": self.digest,
            "features": {n: self.get(n).to_dict() for n in names},
        }


def _tuple(value: Any, what: str) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise FeatureError(f"{what} must be a string or a list of strings")


def parse_views(text: str, *, path: str = "") -> FeatureViews:
    """Parse a definition (TOML text); structural errors raise :class:`FeatureError`."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise FeatureError(f"feature views {path or '<text>'}: {exc}") from None
    version = data.get("version")
    if not isinstance(version, int) or version < 1:
        raise FeatureError("feature views need an integer 'version' >= 1")
    entries = data.get("features")
    if not isinstance(entries, list) or not entries:
        raise FeatureError("feature views need at least one [[features]] entry")
    views = []
    for i, raw in enumerate(entries):
        where = f"[[features]] #{i + 1} ({raw.get('name', '?')})"
        unknown = set(raw) - set(FeatureView.__dataclass_fields__) - {"source"}
        if unknown:
            raise FeatureError(f"{where}: unknown keys {sorted(unknown)}")
        if "source" in raw and "sources" in raw:
            raise FeatureError(f"{where}: give 'source' or 'sources', not both")
        sources = _tuple(raw.get("sources", raw.get("source", [])), f"{where} sources")
        missing = raw.get("missing", "nan")
        if not (missing in ("zero", "nan") or (isinstance(missing, int | float) and math.isfinite(missing))):
            raise FeatureError(f'{where}: \'missing\' must be "zero", "nan" or a number')
        title = raw.get("title", "")
        if not isinstance(title, str):
            raise FeatureError(f"{where}: 'title' must be a string")
        views.append(
            FeatureView(
                name=str(raw.get("name", "")),
                description=str(raw.get("description", "")),
                sources=sources,
                aggregation=str(raw.get("aggregation", "")),
                field=raw.get("field"),
                date_field=raw.get("date_field"),
                end_field=raw.get("end_field"),
                window_days=raw.get("window_days"),
                where={str(k): _tuple(v, f"{where} where.{k}") for k, v in (raw.get("where") or {}).items()},
                map={str(k): float(v) for k, v in (raw.get("map") or {}).items()},
                transform=raw.get("transform"),
                missing=missing,
                since_version=int(raw.get("since_version", 1)),
                title=title.strip(),
            )
        )
    digest = hashlib.sha256(text.encode()).hexdigest()
    return FeatureViews(version=version, features=tuple(views), digest=digest, path=path)


def load_views(path: str | Path) -> FeatureViews:
    p = Path(path)
    return parse_views(p.read_text(encoding="utf-8"), path=str(p))


@cache
def default_views() -> FeatureViews:
    """The packaged definition (read once per process)."""
    return load_views(DEFAULT_VIEWS_PATH)


def validate_views(views: FeatureViews, catalog: Any) -> list[str]:
    """Every problem of ``views`` against ``catalog`` (a :class:`~fincredit.models.catalog_spec.CatalogSpec`);
    an empty list means the definition is valid."""
    problems: list[str] = []
    items = {i.code: i for i in catalog.items}
    datasets = {d.code: d for d in catalog.market_datasets}
    seen: set[str] = set()
    for v in views.features:
        at = f"feature {v.name!r}"
        if not _NAME.match(v.name):
            problems.append(f"{at}: names are lower-case letters, digits and '_' (at most 64)")
        if v.name in seen:
            problems.append(f"{at}: defined twice")
        seen.add(v.name)
        if not v.description.strip():
            problems.append(f"{at}: needs a description (it is shown to banks)")
        if v.aggregation not in AGGREGATIONS:
            problems.append(f"{at}: aggregation {v.aggregation!r} is not one of {list(AGGREGATIONS)}")
            continue
        if not v.sources:
            problems.append(f"{at}: names no source")
            continue
        unknown = [s for s in v.sources if s not in items and s not in datasets]
        if unknown:
            problems.append(f"{at}: {unknown} are neither catalog items nor market datasets")
            continue
        if not v.declarative:
            continue
        for source in v.sources:
            spec = items.get(source) or datasets[source]
            fields = {f.name: f for f in spec.fields}
            date_field = v.date_field or getattr(spec, "event_date_field", None)
            if date_field is None:
                problems.append(f"{at}: market dataset {source!r} needs a 'date_field'")
            elif date_field not in fields:
                problems.append(f"{at}: {source!r} has no date field {date_field!r}")
            elif fields[date_field].type not in ("date32", "string"):
                problems.append(f"{at}: date field {date_field!r} must be a date or a YYYY-MM period")
            if v.aggregation == "active_count" and (v.end_field is None or v.end_field not in fields):
                problems.append(f"{at}: active_count needs an 'end_field' of {source!r}")
            if v.aggregation in _NEEDS_FIELD:
                if v.field is None or v.field not in fields:
                    problems.append(f"{at}: {v.aggregation} needs a 'field' of {source!r}")
                elif not v.map and not fields[v.field].type.startswith(_NUMERIC):
                    problems.append(
                        f"{at}: field {v.field!r} is {fields[v.field].type}; give a 'map' to numbers"
                    )
            for name in v.where:
                if name not in fields:
                    problems.append(f"{at}: 'where' names {name!r}, which {source!r} does not have")
        if v.window_days is not None and (not isinstance(v.window_days, int) or v.window_days <= 0):
            problems.append(f"{at}: window_days must be a positive integer")
        if v.transform not in (None, "log1p"):
            problems.append(f'{at}: transform must be "log1p" or absent')
    return problems


def _days(d: dt.date) -> int:
    return (d - dt.date(1970, 1, 1)).days


def _day_numbers(column: pa.ChunkedArray) -> np.ndarray:
    """Days since 1970 per row; a YYYY-MM period counts from the first day of the following month.
    Missing dates are far in the future (never inside a window)."""
    if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
        text = pd.Series(column.to_pandas(), dtype=object)
        months = pd.to_datetime(text, format="%Y-%m", errors="coerce")
        nxt = (months + pd.offsets.MonthBegin(1)).to_numpy(dtype="datetime64[D]")
        out = np.asarray(nxt.astype("int64"), dtype=np.int64)
        out[pd.isna(months).to_numpy()] = 2**31 - 1
        return out
    days = pc.fill_null(pc.cast(column, pa.int32()), 2**31 - 1)
    return np.asarray(days.to_numpy(zero_copy_only=False), dtype=np.int64)


def _values(table: pa.Table, view: FeatureView) -> np.ndarray:
    assert view.field is not None
    col = table.column(view.field)
    if view.map:
        labels = list(view.map)
        found = pc.index_in(col.cast(pa.string()), value_set=pa.array(labels, pa.string()))
        idx = np.asarray(pc.fill_null(found, len(labels)).to_numpy(zero_copy_only=False), dtype=np.int64)
        return np.append(np.array([view.map[x] for x in labels], dtype=float), np.nan)[idx]
    return np.asarray(pc.cast(col, pa.float64()).to_numpy(zero_copy_only=False), dtype=np.float64)


def _evaluate(view: FeatureView, tables: list[tuple[pa.Table, np.ndarray]], n: int, t: int) -> np.ndarray:
    count = np.zeros(n)
    total = np.zeros(n)
    valued = np.zeros(n)
    lo = np.full(n, np.inf)
    hi = np.full(n, -np.inf)
    latest_day = np.full(n, -(2**62), dtype=np.int64)
    latest_val = np.full(n, np.nan)
    for table, pos in tables:
        spec_date = view.date_field or str(table.schema.metadata.get(b"event_date_field", b"").decode())
        day = _day_numbers(table.column(spec_date))
        keep = (pos >= 0) & (day <= t)
        if view.window_days is not None:
            keep &= day > t - view.window_days
        if view.aggregation == "active_count":
            assert view.end_field is not None
            end = _day_numbers(table.column(view.end_field))
            keep &= end > t
        for name, allowed in view.where.items():
            found = pc.is_in(
                table.column(name).cast(pa.string()), value_set=pa.array(list(allowed), pa.string())
            )
            keep &= np.asarray(pc.fill_null(found, False).to_numpy(zero_copy_only=False), dtype=bool)
        rows = np.flatnonzero(keep)
        count += np.bincount(pos[rows], minlength=n)
        if view.aggregation in _NEEDS_FIELD:
            vals = _values(table, view)[rows]
            ok = ~np.isnan(vals)
            at, vals_ok = pos[rows][ok], vals[ok]
            total += np.bincount(at, weights=vals_ok, minlength=n)
            valued += np.bincount(at, minlength=n)
            np.minimum.at(lo, at, vals_ok)
            np.maximum.at(hi, at, vals_ok)
            order = np.argsort(day[rows][ok], kind="stable")  # later rows overwrite earlier ones
            newer = day[rows][ok][order] >= latest_day[at[order]]
            latest_val[at[order][newer]] = vals_ok[order][newer]
            latest_day[at[order][newer]] = day[rows][ok][order][newer]
        else:
            np.maximum.at(latest_day, pos[rows], day[rows])
    agg = view.aggregation
    with np.errstate(invalid="ignore", divide="ignore"):
        if agg in ("count", "active_count"):
            out = count.astype(float)
        elif agg == "exists":
            out = (count > 0).astype(float)
        elif agg == "sum":
            out = total  # rows whose amount is missing add nothing
        elif agg == "mean":
            out = np.where(valued > 0, total / valued, np.nan)
        elif agg == "min":
            out = np.where(valued > 0, lo, np.nan)
        elif agg == "max":
            out = np.where(valued > 0, hi, np.nan)
        elif agg == "latest":
            out = latest_val
        else:
            since = np.where(count > 0, (t - latest_day).astype(float), np.nan)
            out = since if agg == "days_since_latest" else since / (365.25 / 12)
    if view.transform == "log1p":
        out = np.log1p(out)
    has_rows = count > 0
    fill = 0.0 if view.missing == "zero" else (np.nan if view.missing == "nan" else float(view.missing))
    return np.where(has_rows, out, fill)


def evaluate_views(
    views: Sequence[FeatureView],
    tables: Mapping[str, pa.Table],
    *,
    as_of: dt.date,
    enterprises: Sequence[str],
    key_column: Mapping[str, str] | None = None,
    event_date: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """The declarative ``views`` for ``enterprises`` (index ``uscc``, in that order) from ``tables``
    (catalog item or market dataset code -> table). Rows are keyed by ``subject_id`` (catalog items)
    or ``uscc`` (market datasets) unless ``key_column`` says otherwise; ``event_date`` gives each
    source's default date field (the catalog item's ``event_date_field``)."""
    keys = pa.array(list(enterprises), pa.string())
    n = len(keys)
    t = _days(as_of)
    columns: dict[str, np.ndarray] = {}
    for view in views:
        if not view.declarative:
            raise FeatureError(f"{view.name} is a builtin feature; enterprise_features computes it")
        present: list[tuple[pa.Table, np.ndarray]] = []
        for source in view.sources:
            table = tables.get(source)
            if table is None or table.num_rows == 0:
                continue
            key = (key_column or {}).get(source) or (
                "subject_id" if "subject_id" in table.column_names else "uscc"
            )
            found = pc.index_in(table.column(key).cast(pa.string()), value_set=keys)
            pos = np.asarray(pc.fill_null(found, -1).to_numpy(zero_copy_only=False), dtype=np.int64)
            date_field = view.date_field or (event_date or {}).get(source)
            if date_field is None:
                raise FeatureError(f"{view.name}: no date field for {source!r}")
            meta = {b"event_date_field": date_field.encode()}
            present.append((table.replace_schema_metadata(meta), pos))
        columns[view.name] = _evaluate(view, present, n, t)
    index = pd.Index(keys.to_numpy(zero_copy_only=False), name="uscc", dtype=object)
    return pd.DataFrame(columns, index=index)
