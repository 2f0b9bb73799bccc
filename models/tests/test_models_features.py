"""Enterprise features from public records and market data, as of a date."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from fincredit.models import FeatureError, load_catalog
from fincredit.models.credit_score import grade, pd_to_score, train_enterprise_score
from fincredit.models.features import FEATURE_SOURCES, MARKET_FEATURES, PUBLIC_FEATURES, enterprise_features
from fincredit.models.synthetic import generate_city

# The platform owns the default catalog as a data file; models never imports the platform, so its tests read
# that file by path: the generator is tested against the catalog it is really run with.
CATALOG = load_catalog(
    Path(__file__).resolve().parents[2] / "platform/src/fincredit/platform/catalog/default_catalog.toml"
)

AS_OF = dt.date(2025, 6, 30)
A, B, C = "91330212MA2AAAAA1X", "91330203MA2BBBBB2X", "91330205MA2CCCCC3X"  # shapes only; not validated here


def _table(code: str, rows: list[dict]) -> pa.Table:
    item = CATALOG.item(code)
    base = {"provider_record_id": "r", "subject_name": "n", "report_month": "2025-01"}
    full = [{**{f.name: None for f in item.all_fields}, **base, **r} for r in rows]
    for i, r in enumerate(full):
        r["provider_record_id"] = f"{code}-{i}"
    return pa.Table.from_pylist(full, schema=item.arrow_schema())


def _registration(*ids: str, rep: dict[str, str] | None = None) -> pa.Table:
    rows = [
        {
            "subject_id": u,
            "registration_date": dt.date(2015, 6, 30),
            "enterprise_type": "有限责任公司",
            "registered_capital": 100.0,
            "industry_code": "C",
            "region_code": "330212",
            "status": "存续",
            "employees": 9,
            "legal_rep_name": "张三",
            "legal_rep_id": (rep or {}).get(u, "330203198001010011"),
            "address": "x",
        }
        for u in ids
    ]
    return _table("market_registration", rows)


def test_counts_only_records_inside_the_window_and_known_by_the_as_of_date() -> None:
    records = {
        "market_registration": _registration(A, B),
        "admin_penalty": _table(
            "admin_penalty",
            [
                {
                    "subject_id": A,
                    "decision_no": "1",
                    "penalty_date": dt.date(2024, 1, 1),
                    "penalty_type": "罚款",
                    "fine_amount": 999.0,
                    "violation": "v",
                    "authority": "a",
                },
                {
                    "subject_id": A,
                    "decision_no": "2",
                    "penalty_date": dt.date(2021, 1, 1),
                    "penalty_type": "警告",
                    "violation": "v",
                    "authority": "a",
                },  # older than 3 years
                {
                    "subject_id": A,
                    "decision_no": "3",
                    "penalty_date": dt.date(2025, 9, 1),
                    "penalty_type": "罚款",
                    "fine_amount": 5.0,
                    "violation": "v",
                    "authority": "a",
                },  # after as_of: not yet known
                {
                    "subject_id": C,
                    "decision_no": "4",
                    "penalty_date": dt.date(2024, 1, 1),
                    "penalty_type": "罚款",
                    "fine_amount": 5.0,
                    "violation": "v",
                    "authority": "a",
                },  # not in the enterprise list
            ],
        ),
    }
    f = enterprise_features(records, as_of=AS_OF)
    assert list(f.index) == [A, B]
    assert f.loc[A, "penalty_count_3y"] == 1
    assert f.loc[A, "penalty_fines_log_3y"] == pytest.approx(np.log1p(999.0))
    assert f.loc[B, "penalty_count_3y"] == 0
    assert f.loc[A, "years_in_business"] == pytest.approx(10.0, abs=0.01)


def test_arrears_are_open_until_settled_and_tax_rating_uses_the_latest_known_year() -> None:
    records = {
        "market_registration": _registration(A, B),
        "social_insurance_arrears": _table(
            "social_insurance_arrears",
            [
                {
                    "subject_id": A,
                    "arrears_start": dt.date(2025, 1, 1),
                    "arrears_amount": 1.0,
                    "months_overdue": 2,
                    "insured_employees": 3,
                },  # never settled -> open
                {
                    "subject_id": B,
                    "arrears_start": dt.date(2024, 1, 1),
                    "arrears_end": dt.date(2024, 3, 1),
                    "arrears_amount": 1.0,
                    "months_overdue": 2,
                    "insured_employees": 3,
                },
            ],
        ),
        "tax_rating": _table(
            "tax_rating",
            [
                {"subject_id": A, "rating_year": 2023, "rating": "A", "rated_date": dt.date(2024, 4, 15)},
                {"subject_id": A, "rating_year": 2024, "rating": "C", "rated_date": dt.date(2025, 4, 15)},
                {"subject_id": A, "rating_year": 2025, "rating": "A", "rated_date": dt.date(2026, 4, 15)},
            ],
        ),
    }
    f = enterprise_features(records, as_of=AS_OF)
    assert f.loc[A, "social_insurance_arrears_open"] == 1
    assert f.loc[B, "social_insurance_arrears_open"] == 0
    assert f.loc[B, "social_insurance_arrears_count_3y"] == 1
    assert f.loc[A, "tax_rating_latest"] == 1.0  # C; the 2025 rating is issued after as_of
    assert f.loc[A, "tax_rating_worst_3y"] == 1.0
    assert np.isnan(f.loc[B, "tax_rating_latest"])


def test_a_legal_representative_on_the_dishonest_list_flags_the_company() -> None:
    rep = "330203198001010011"
    records = {
        "market_registration": _registration(A, B, rep={A: rep, B: "330203198202020022"}),
        "dishonest_debtor_person": _table(
            "dishonest_debtor_person",
            [
                {
                    "subject_id": rep,
                    "case_no": "x",
                    "listed_date": dt.date(2024, 5, 1),
                    "conduct": "违反限制消费令",
                    "unperformed_amount": 10.0,
                }
            ],
        ),
    }
    f = enterprise_features(records, as_of=AS_OF)
    assert f.loc[A, "legal_rep_dishonest_active"] == 1
    assert f.loc[B, "legal_rep_dishonest_active"] == 0


def test_market_features_average_the_last_year_and_leave_uncovered_firms_missing() -> None:
    spec = CATALOG.dataset("supply_chain_payments")
    rows = [
        {
            "record_id": f"r{i}",
            "vendor_id": spec.vendor_id,
            "dataset_code": spec.code,
            "source_ref": "s",
            "collected_at": dt.date(2025, 6, 1),
            "uscc": A,
            "period": period,
            "on_time_ratio": ratio,
            "avg_days_late": 1.0,
            "counterparties": 3,
            "payables_amount": 1.0,
        }
        for i, (period, ratio) in enumerate([("2025-03", 0.9), ("2024-12", 0.7), ("2023-01", 0.1)])
    ]
    market = {"supply_chain_payments": pa.Table.from_pylist(rows, schema=spec.arrow_schema())}
    f = enterprise_features({"market_registration": _registration(A, B)}, market, as_of=AS_OF)
    assert f.loc[A, "scf_on_time_ratio"] == pytest.approx(0.8)
    assert np.isnan(f.loc[B, "scf_on_time_ratio"])
    assert np.isnan(f.loc[A, "utility_payment_score"])  # dataset not supplied at all


def test_feature_catalogue_is_complete_and_split_into_public_and_market() -> None:
    assert set(PUBLIC_FEATURES) | set(MARKET_FEATURES) == set(FEATURE_SOURCES)
    assert not set(PUBLIC_FEATURES) & set(MARKET_FEATURES)
    with pytest.raises(FeatureError):
        enterprise_features({}, as_of=AS_OF)
    with pytest.raises(FeatureError):
        enterprise_features({}, as_of=AS_OF, enterprises=[A, A])


def test_score_scale_is_monotone_and_anchored_at_600_for_30_to_1_odds() -> None:
    assert pd_to_score([1 / 31])[0] == 600
    assert pd_to_score([1 / 61])[0] == 640  # odds doubled -> +40 points
    s = pd_to_score(np.linspace(0.001, 0.999, 50))
    assert np.all(np.diff(s) <= 0) and s.min() >= 300 and s.max() <= 900
    assert list(grade([800, 620, 310])) == ["AAA", "BBB", "C"]


def test_platform_enterprise_score_learns_from_public_and_market_data_only() -> None:
    city = generate_city(6000, catalog=CATALOG, seed=5)
    feats = city.features()
    model = train_enterprise_score(
        feats, city.loans.to_pandas(), params={"n_estimators": 80}, as_of=city.as_of
    )
    assert model.evaluation.auc > 0.68
    scored = model.score(feats.head(50))
    assert list(scored.columns) == ["pd", "score", "grade"]
    assert scored["score"].between(300, 900).all()
    assert "tax_rating" in model.lineage.catalog_items
    assert "supply_chain_payments" in model.lineage.market_datasets
