"""The market component: what the data vendors sell about enterprises (supply-chain payment punctuality,
online sales, utility payment scores, news risk), each signal partly driven by the hidden quality ``z``."""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from fincredit.models.catalog_spec import CatalogSpec, MarketDatasetSpec
from fincredit.models.errors import SyntheticDataError
from fincredit.models.synthetic._common import date_array, month_strings, sigmoid, to_days
from fincredit.models.synthetic._subjects import Enterprises


def draw_market(
    rng: np.random.Generator, e: Enterprises, as_of: dt.date, catalog: CatalogSpec
) -> dict[str, pa.Table]:
    """Every market dataset's records about the enterprises its vendor covers, keyed by dataset code."""
    n, t, z = e.n, to_days(as_of), e.z
    out: dict[str, pa.Table] = {}
    as_of_month = np.datetime64(as_of, "M")
    quarter_ends = [as_of_month - k * 3 for k in (3, 2, 1, 0)]

    def dataset(code: str) -> MarketDatasetSpec:
        try:
            return catalog.dataset(code)
        except KeyError:
            raise SyntheticDataError(
                f"the catalog has no market dataset {code!r}, which the city simulates"
            ) from None

    def envelope(code: str, idx: np.ndarray, collected: np.ndarray) -> dict[str, pa.Array]:
        ds = dataset(code)
        seq = pc.utf8_lpad(pc.cast(pa.array(np.arange(len(idx))), pa.string()), 10, "0")
        return {
            "record_id": pc.binary_join_element_wise(f"{ds.vendor_id}-{code}-", seq, ""),
            "vendor_id": pa.array([ds.vendor_id] * len(idx), pa.string()),
            "dataset_code": pa.array([code] * len(idx), pa.string()),
            "source_ref": pc.binary_join_element_wise(
                f"{ds.vendor_id.lower()}://{code}/batch-",
                month_strings(collected) if len(idx) else pa.array([], pa.string()),
                "",
            ),
            "collected_at": date_array(collected),
            "uscc": e.uscc.take(pa.array(idx)),
        }

    def build(code: str, idx: np.ndarray, collected: np.ndarray, cols: dict[str, Any]) -> pa.Table:
        data = envelope(code, idx, collected)
        data.update(cols)
        return pa.table(data, schema=dataset(code).arrow_schema())

    covered = np.flatnonzero(rng.random(n) < np.where(np.isin(e.industry, ["C", "F"]), 0.65, 0.3))
    firm_punct = 0.6 * z[covered] + rng.normal(0, 0.5, size=len(covered))
    idx = np.repeat(covered, 4)
    punct = np.repeat(firm_punct, 4) + rng.normal(0, 0.35, size=len(idx))
    periods = np.tile(np.array(quarter_ends), len(covered))
    on_time = np.clip(sigmoid(2.4 + 1.1 * punct), 0, 1)
    out["supply_chain_payments"] = build(
        "supply_chain_payments",
        idx,
        (periods + 1).astype("datetime64[D]").astype(np.int64) + 5,
        {
            "period": month_strings(periods.astype("datetime64[D]").astype(np.int64)),
            "on_time_ratio": pa.array(np.round(on_time, 4)),
            "avg_days_late": pa.array(
                np.round(np.maximum(0, rng.gamma(2.0, 6.0, len(idx)) * (1.2 - on_time)), 1)
            ),
            "counterparties": pa.array(
                np.maximum(1, rng.poisson(np.repeat(np.sqrt(e.employees[covered]) * 2, 4))).astype(np.int32)
            ),
            "payables_amount": pa.array(
                np.round(np.repeat(e.capital[covered], 4) * 1e4 * rng.uniform(0.05, 0.4, len(idx)), 2)
            ),
        },
    )

    sellers = np.flatnonzero(e.ecommerce)
    idx = np.repeat(sellers, 4)
    periods = np.tile(np.array(quarter_ends), len(sellers))
    growth = 0.05 + 0.12 * np.repeat(z[sellers], 4) + rng.normal(0, 0.2, len(idx))
    gmv = np.exp(rng.normal(13.0, 1.5, len(sellers)))
    out["ecommerce_sales"] = build(
        "ecommerce_sales",
        idx,
        (periods + 1).astype("datetime64[D]").astype(np.int64) + 3,
        {
            "period": month_strings(periods.astype("datetime64[D]").astype(np.int64)),
            "gmv": pa.array(np.round(np.repeat(gmv, 4) * np.exp(rng.normal(0, 0.2, len(idx))), 2)),
            "orders": pa.array(
                np.maximum(1, (np.repeat(gmv, 4) / rng.uniform(80, 400, len(idx)))).astype(np.int32)
            ),
            "return_rate": pa.array(
                np.round(np.clip(rng.beta(2, 25, len(idx)) - 0.01 * np.repeat(z[sellers], 4), 0, 1), 4)
            ),
            "gmv_growth_yoy": pa.array(np.round(growth, 4)),
        },
    )

    covered = np.flatnonzero(rng.random(n) < 0.75)
    score_day = t - rng.integers(0, 90, size=len(covered))
    score = np.clip(np.round(620 + 75 * z[covered] + rng.normal(0, 55, len(covered))), 300, 900)
    out["utility_payment_score"] = build(
        "utility_payment_score",
        covered,
        score_day,
        {
            "score": pa.array(score.astype(np.int32)),
            "score_date": date_array(score_day),
            "consumption_trend": pa.array(
                np.round(0.03 + 0.08 * z[covered] + rng.normal(0, 0.15, len(covered)), 4)
            ),
        },
    )

    covered = np.flatnonzero(rng.random(n) < 0.6)
    news = rng.poisson(0.4 * np.exp(-0.9 * z[covered]))
    risk_score = np.clip(15 + 12 * news + rng.normal(0, 8, len(covered)) - 4 * z[covered], 0, 100)
    month = np.full(len(covered), as_of_month - 1)  # last full month, collected on as_of
    out["public_opinion_risk"] = build(
        "public_opinion_risk",
        covered,
        np.full(len(covered), t),
        {
            "period": month_strings(month.astype("datetime64[D]").astype(np.int64)),
            "negative_news": pa.array(news.astype(np.int32)),
            "risk_score": pa.array(np.round(risk_score, 1)),
        },
    )
    return out
