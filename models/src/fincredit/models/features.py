"""Enterprise features from public credit records and purchased market data, keyed by USCC.

Input tables have the cleaned, typed shapes of the catalog items and market datasets (``catalog_spec``);
the platform's subject database and the synthetic generator's ground truth both produce them. Every
feature is computed "as of" a date, counting only what was known then, so training on past loans does
not peek at records filed after the loan was granted.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from fincredit.models.errors import FeatureError
from fincredit.models.feature_views import default_views

__all__ = [
    "FEATURE_SOURCES",
    "MARKET_FEATURES",
    "MARKET_SOURCES",
    "PUBLIC_FEATURES",
    "enterprise_features",
]

# Feature -> the catalog items or market datasets it is computed from (model lineage), for the
# engineered features this module computes. The offer itself is data: ``feature_views.toml``
# documents every feature (these and the declarative ones) with its sources.
FEATURE_SOURCES: dict[str, tuple[str, ...]] = {
    v.name: v.sources for v in default_views().features if not v.declarative
}
# The purchased market datasets among the sources (the rest are public credit catalog items).
MARKET_SOURCES: frozenset[str] = frozenset(
    {"supply_chain_payments", "ecommerce_sales", "utility_payment_score", "public_opinion_risk"}
)
MARKET_FEATURES: tuple[str, ...] = tuple(
    f for f, src in FEATURE_SOURCES.items() if set(src) <= MARKET_SOURCES
)
PUBLIC_FEATURES: tuple[str, ...] = tuple(f for f in FEATURE_SOURCES if f not in MARKET_FEATURES)

# The national rating scales, best first: the tax bureau's A, B, M, C, D and customs' four credit grades.
# Higher is better in both ordinals; absence (no rating) stays NaN for the trees to route.
TAX_RATINGS = ("A", "B", "M", "C", "D")
CUSTOMS_RATINGS = ("高级认证企业", "一般认证企业", "一般信用企业", "失信企业")
_TAX_ORDINAL = {r: float(len(TAX_RATINGS) - 1 - i) for i, r in enumerate(TAX_RATINGS)}  # A=4 .. D=0
_CUSTOMS_ORDINAL = {r: float(len(CUSTOMS_RATINGS) - 1 - i) for i, r in enumerate(CUSTOMS_RATINGS)}

_FAR_FUTURE = np.int32(2**31 - 1)
_SEVERE_PENALTIES = ("责令停产停业", "暂扣或吊销许可证")


class _Frame:
    """One input table projected onto the enterprise index: row positions and typed columns."""

    def __init__(self, table: pa.Table, pos: np.ndarray, n: int) -> None:
        self.table = table
        self.pos = pos
        self.n = n

    def days(self, column: str, *, null_as_future: bool = True) -> np.ndarray:
        col = pc.cast(self.table.column(column), pa.int32())
        fill = _FAR_FUTURE if null_as_future else np.int32(-(2**31))
        return np.asarray(pc.fill_null(col, fill).to_numpy(zero_copy_only=False), dtype=np.int64)

    def floats(self, column: str) -> np.ndarray:
        col = pc.cast(self.table.column(column), pa.float64())
        return np.asarray(col.to_numpy(zero_copy_only=False), dtype=np.float64)

    def isin(self, column: str, values: Sequence[str] | pa.Array) -> np.ndarray:
        # Arrow's hash lookup, not Python strings: at millions of rows object arrays cost gigabytes.
        value_set = values if isinstance(values, pa.Array) else pa.array(list(values), pa.string())
        found = pc.is_in(self.table.column(column), value_set=value_set)
        return np.asarray(pc.fill_null(found, False).to_numpy(zero_copy_only=False), dtype=bool)

    def count(self, mask: np.ndarray) -> np.ndarray:
        keep = mask & (self.pos >= 0)
        return np.bincount(self.pos[keep], minlength=self.n).astype(np.float64)

    def total(self, mask: np.ndarray, values: np.ndarray) -> np.ndarray:
        keep = mask & (self.pos >= 0) & ~np.isnan(values)
        return np.bincount(self.pos[keep], weights=values[keep], minlength=self.n)

    def mean(self, mask: np.ndarray, values: np.ndarray) -> np.ndarray:
        keep = mask & ~np.isnan(values)
        counts = self.count(keep)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(counts > 0, self.total(keep, values) / counts, np.nan)

    def latest(self, mask: np.ndarray, when: np.ndarray, values: np.ndarray) -> np.ndarray:
        """The value of the most recent row per enterprise (NaN where there is none)."""
        out = np.full(self.n, np.nan)
        keep = np.flatnonzero(mask & (self.pos >= 0))
        if keep.size:
            order = keep[np.argsort(when[keep], kind="stable")]
            out[self.pos[order]] = values[order]  # later rows overwrite earlier ones
        return out

    def minimum(self, mask: np.ndarray, values: np.ndarray) -> np.ndarray:
        out = np.full(self.n, np.inf)
        keep = mask & (self.pos >= 0) & ~np.isnan(values)
        np.minimum.at(out, self.pos[keep], values[keep])
        return np.where(np.isinf(out), np.nan, out)


def _positions(columns: Mapping[str, pa.ChunkedArray], keys: pa.Array) -> dict[str, np.ndarray]:
    """Row -> position of its key among ``keys`` (-1 when absent), for every table at once: Arrow
    rebuilds the hash table of ``keys`` on each ``index_in`` call, which dominates at 1M enterprises."""
    names = list(columns)
    chunks = [chunk.cast(pa.string()) for name in names for chunk in columns[name].chunks]
    if not chunks:
        return {name: np.empty(0, dtype=np.int64) for name in names}
    found = pc.index_in(pa.chunked_array(chunks, type=pa.string()), value_set=keys)
    flat = np.asarray(pc.fill_null(found, -1).to_numpy(zero_copy_only=False), dtype=np.int64)
    out, start = {}, 0
    for name in names:
        stop = start + len(columns[name])
        out[name] = flat[start:stop]
        start = stop
    return out


def _ordinal(column: pa.ChunkedArray, scale: Mapping[str, float]) -> np.ndarray:
    labels = list(scale)
    found = pc.index_in(column, value_set=pa.array(labels, pa.string()))
    idx = np.asarray(pc.fill_null(found, len(labels)).to_numpy(zero_copy_only=False), dtype=np.int64)
    return np.append(np.array([scale[x] for x in labels], dtype=float), np.nan)[idx]


def _days(d: dt.date) -> int:
    return (d - dt.date(1970, 1, 1)).days


def enterprise_features(
    records: Mapping[str, pa.Table],
    market: Mapping[str, pa.Table] | None = None,
    *,
    as_of: dt.date,
    enterprises: pa.Array | list[str] | None = None,
) -> pd.DataFrame:
    """One row per enterprise (index ``uscc``), columns ``PUBLIC_FEATURES`` then ``MARKET_FEATURES``.

    ``records`` maps catalog item codes to cleaned tables; ``market`` maps market dataset codes to
    dataset tables. ``enterprises`` defaults to every subject of ``market_registration``. Missing
    catalog items or datasets give NaN/zero features rather than an error, because a bank's applicant
    may simply have no records.
    """
    if enterprises is None:
        if "market_registration" not in records:
            raise FeatureError("no enterprise list given and no market_registration records to take it from")
        keys = pc.unique(records["market_registration"].column("subject_id").combine_chunks())
    else:
        keys = enterprises if isinstance(enterprises, pa.Array) else pa.array(list(enterprises), pa.string())
        if pc.count_distinct(keys).as_py() != len(keys):
            raise FeatureError("enterprise list has duplicate codes")
    keys = keys.cast(pa.string())
    index = pd.Index(keys.to_numpy(zero_copy_only=False), name="uscc", dtype=object)
    t = _days(as_of)
    n = len(index)
    y3, y5, y2 = t - 3 * 365, t - 5 * 365, t - 2 * 365
    out: dict[str, np.ndarray] = {}

    # Person records are keyed by resident ID and reach companies through their representative.
    keyed = {f"r:{c}": t.column("subject_id") for c, t in records.items() if c != "dishonest_debtor_person"}
    keyed.update({f"m:{c}": t.column("uscc") for c, t in (market or {}).items()})
    positions = _positions({k: v for k, v in keyed.items() if len(v)}, keys)

    def frame(code: str) -> _Frame | None:
        table = records.get(code)
        if table is None or table.num_rows == 0:
            return None
        return _Frame(table, positions[f"r:{code}"], n)

    zeros = np.zeros(n)
    nans = np.full(n, np.nan)

    reg = frame("market_registration")
    if reg is not None:
        known = reg.days("registration_date") <= t
        reg_day = reg.latest(
            known, reg.days("registration_date"), reg.days("registration_date").astype(float)
        )
        out["years_in_business"] = (t - reg_day) / 365.25
        out["log_registered_capital"] = np.log1p(
            reg.latest(known, np.zeros(reg.table.num_rows), reg.floats("registered_capital"))
        )
        out["log_employees"] = np.log1p(
            reg.latest(known, np.zeros(reg.table.num_rows), reg.floats("employees"))
        )
        abnormal = reg.isin("status", ["吊销", "注销", "迁出"]).astype(float)
        out["status_abnormal"] = np.nan_to_num(reg.latest(known, np.zeros(reg.table.num_rows), abnormal))
    else:
        for f in ("years_in_business", "log_registered_capital", "log_employees"):
            out[f] = nans
        out["status_abnormal"] = zeros

    pen = frame("admin_penalty")
    if pen is not None:
        d = pen.days("penalty_date")
        in3 = (d > y3) & (d <= t)
        out["penalty_count_3y"] = pen.count(in3)
        out["penalty_fines_log_3y"] = np.log1p(pen.total(in3, pen.floats("fine_amount")))
        severe = pen.isin("penalty_type", _SEVERE_PENALTIES)
        out["penalty_severe_5y"] = (pen.count(severe & (d > y5) & (d <= t)) > 0).astype(float)
    else:
        out["penalty_count_3y"] = out["penalty_fines_log_3y"] = out["penalty_severe_5y"] = zeros

    tax = frame("tax_rating")
    if tax is not None:
        d = tax.days("rated_date")
        ordinal = _ordinal(tax.table.column("rating"), _TAX_ORDINAL)
        known = d <= t
        out["tax_rating_latest"] = tax.latest(known, d, ordinal)
        out["tax_rating_worst_3y"] = tax.minimum(known & (d > y3), ordinal)
    else:
        out["tax_rating_latest"] = out["tax_rating_worst_3y"] = nans

    for code, prefix in (
        ("social_insurance_arrears", "social_insurance"),
        ("housing_fund_arrears", "housing_fund"),
    ):
        fr = frame(code)
        if fr is None:
            out[f"{prefix}_arrears_open"] = out[f"{prefix}_arrears_count_3y"] = zeros
            continue
        start, end = fr.days("arrears_start"), fr.days("arrears_end")
        out[f"{prefix}_arrears_open"] = (fr.count((start <= t) & (end > t)) > 0).astype(float)
        out[f"{prefix}_arrears_count_3y"] = fr.count((start > y3) & (start <= t))

    util_count, util_open = zeros.copy(), zeros.copy()
    for code in ("water_arrears", "electricity_arrears", "gas_arrears"):
        fr = frame(code)
        if fr is None:
            continue
        start, end = fr.days("arrears_start"), fr.days("arrears_end")
        util_count += fr.count((start > y2) & (start <= t))
        util_open += fr.count((start <= t) & (end > t))
    out["utility_arrears_count_2y"] = util_count
    out["utility_arrears_open"] = (util_open > 0).astype(float)

    jud = frame("court_judgment")
    if jud is not None:
        d = jud.days("judgment_date")
        defendant = jud.isin("role", ["被告"]) & (d > y3) & (d <= t)
        out["judgment_defendant_count_3y"] = jud.count(defendant)
        out["judgment_claims_log_3y"] = np.log1p(jud.total(defendant, jud.floats("claim_amount")))
    else:
        out["judgment_defendant_count_3y"] = out["judgment_claims_log_3y"] = zeros

    dd = frame("dishonest_debtor")
    if dd is not None:
        listed, removed = dd.days("listed_date"), dd.days("removed_date")
        out["dishonest_debtor_active"] = (dd.count((listed <= t) & (removed > t)) > 0).astype(float)
        out["dishonest_debtor_5y"] = (dd.count((listed > y5) & (listed <= t)) > 0).astype(float)
    else:
        out["dishonest_debtor_active"] = out["dishonest_debtor_5y"] = zeros

    out["legal_rep_dishonest_active"] = zeros
    persons = records.get("dishonest_debtor_person")
    if reg is not None and persons is not None and persons.num_rows:
        listed = pc.cast(persons.column("listed_date"), pa.int32()).to_numpy(zero_copy_only=False)
        removed = pc.fill_null(pc.cast(persons.column("removed_date"), pa.int32()), _FAR_FUTURE)
        active = (np.asarray(listed) <= t) & (np.asarray(removed.to_numpy(zero_copy_only=False)) > t)
        active_ids = persons.column("subject_id").combine_chunks().filter(pa.array(active))
        flagged = reg.isin("legal_rep_id", active_ids).astype(float)
        out["legal_rep_dishonest_active"] = np.nan_to_num(
            reg.latest(reg.pos >= 0, np.zeros(len(flagged)), flagged)
        )

    cus = frame("customs_rating")
    if cus is not None:
        d = cus.days("rated_date")
        ordinal = _ordinal(cus.table.column("rating"), _CUSTOMS_ORDINAL)
        out["customs_rating"] = cus.latest(d <= t, d, ordinal)
    else:
        out["customs_rating"] = nans

    lic = frame("admin_licence")
    if lic is not None:
        issued, expires = lic.days("issue_date"), lic.days("expiry_date")
        out["licences_active"] = lic.count((issued <= t) & (expires > t))
    else:
        out["licences_active"] = zeros

    hon = frame("award_honour")
    if hon is not None:
        d = hon.days("award_date")
        recent = (d > y3) & (d <= t)
        out["honours_3y"] = hon.count(recent)
        out["high_tech"] = (hon.count(recent & hon.isin("honour", ["高新技术企业"])) > 0).astype(float)
    else:
        out["honours_3y"] = out["high_tech"] = zeros

    out.update(_market_features(market or {}, positions, n, as_of))
    # copy=False keeps one array per column instead of consolidating into a second 2-D copy.
    frame_out = pd.DataFrame(
        {f: out[f] for f in (*PUBLIC_FEATURES, *MARKET_FEATURES)}, index=index, copy=False
    )
    return frame_out


def _period_days(fr: _Frame, column: str) -> np.ndarray:
    # 'YYYY-MM' periods count as known from the first day of the following month. There are few
    # distinct periods, so parse the dictionary rather than every row.
    encoded = pc.dictionary_encode(fr.table.column(column)).combine_chunks()
    months = np.array(encoded.dictionary.to_pylist(), dtype="datetime64[M]") + 1
    first_days = months.astype("datetime64[D]").astype(np.int64)
    return first_days[np.asarray(encoded.indices.to_numpy(zero_copy_only=False), dtype=np.int64)]


def _market_features(
    market: Mapping[str, pa.Table], positions: Mapping[str, np.ndarray], n: int, as_of: dt.date
) -> dict[str, np.ndarray]:
    t = _days(as_of)
    nans = np.full(n, np.nan)
    out: dict[str, np.ndarray] = {}

    def frame(code: str) -> _Frame | None:
        table = market.get(code)
        return None if table is None or table.num_rows == 0 else _Frame(table, positions[f"m:{code}"], n)

    scf = frame("supply_chain_payments")
    if scf is not None:
        d = _period_days(scf, "period")
        window = (d <= t) & (d > t - 366)
        out["scf_on_time_ratio"] = scf.mean(window, scf.floats("on_time_ratio"))
        out["scf_avg_days_late"] = scf.mean(window, scf.floats("avg_days_late"))
        out["scf_counterparties"] = scf.mean(window, scf.floats("counterparties"))
    else:
        out["scf_on_time_ratio"] = out["scf_avg_days_late"] = out["scf_counterparties"] = nans

    ecom = frame("ecommerce_sales")
    if ecom is not None:
        d = _period_days(ecom, "period")
        window = (d <= t) & (d > t - 366)
        gmv = ecom.total(window, ecom.floats("gmv"))
        out["ecom_gmv_log"] = np.where(ecom.count(window) > 0, np.log1p(gmv), np.nan)
        out["ecom_growth_yoy"] = ecom.latest(window, d, ecom.floats("gmv_growth_yoy"))
        out["ecom_return_rate"] = ecom.mean(window, ecom.floats("return_rate"))
    else:
        out["ecom_gmv_log"] = out["ecom_growth_yoy"] = out["ecom_return_rate"] = nans

    util = frame("utility_payment_score")
    if util is not None:
        d = util.days("score_date")
        out["utility_payment_score"] = util.latest(d <= t, d, util.floats("score"))
        out["energy_trend"] = util.latest(d <= t, d, util.floats("consumption_trend"))
    else:
        out["utility_payment_score"] = out["energy_trend"] = nans

    news = frame("public_opinion_risk")
    if news is not None:
        d = _period_days(news, "period")
        known = d <= t
        out["news_negative_count"] = news.latest(known, d, news.floats("negative_news"))
        out["news_risk_score"] = news.latest(known, d, news.floats("risk_score"))
    else:
        out["news_negative_count"] = out["news_risk_score"] = nans
    return out
