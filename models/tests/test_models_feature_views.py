"""Feature views as data: an operator offers a new feature by writing its rule (source, field,
aggregation, window, missing-value rule) in a versioned TOML, which is validated against the catalog and
evaluated without code; the packaged definition documents every offered feature with its sources."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa
import pytest

from fincredit.models.catalog_spec import load_catalog
from fincredit.models.errors import FeatureError
from fincredit.models.feature_views import default_views, evaluate_views, parse_views, validate_views
from fincredit.models.features import FEATURE_SOURCES

CATALOG_PATH = "platform/src/fincredit/platform/catalog/default_catalog.toml"
AS_OF = dt.date(2026, 6, 30)


@pytest.fixture(scope="module")
def catalog():  # type: ignore[no-untyped-def]
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    return load_catalog(root / CATALOG_PATH)


def _day(iso: str) -> dt.date:
    return dt.date.fromisoformat(iso)


PENALTIES = pa.table(
    {
        "subject_id": ["A", "A", "B", "C"],
        "penalty_date": pa.array(
            [_day("2026-03-31"), _day("2020-01-01"), _day("2025-12-31"), _day("2026-07-15")], pa.date32()
        ),
        "penalty_type": ["警告", "罚款", "罚款", "罚款"],
        "fine_amount": [None, 5000.0, 100.0, 1.0],
    }
)
VIEWS = """
version = 3

[[features]]
name = "months_since_last_penalty"
description = "Months since the latest administrative penalty"
source = "admin_penalty"
aggregation = "months_since_latest"
missing = "nan"

[[features]]
name = "fines_2y"
description = "Fines of the last two years"
source = "admin_penalty"
aggregation = "sum"
field = "fine_amount"
window_days = 730
missing = "zero"

[[features]]
name = "fine_penalties_ever"
description = "Penalties that were fines"
source = "admin_penalty"
aggregation = "count"
where = { penalty_type = ["罚款"] }
missing = -1
"""


def test_a_new_feature_is_a_few_lines_of_toml_evaluated_as_of_a_date() -> None:
    views = parse_views(VIEWS)
    out = evaluate_views(
        views.features,
        {"admin_penalty": PENALTIES},
        as_of=AS_OF,
        enterprises=["A", "B", "C", "D"],
        event_date={"admin_penalty": "penalty_date"},
    )
    months = out["months_since_last_penalty"]
    assert months["A"] == pytest.approx(91 / (365.25 / 12))  # 2026-03-31 -> 2026-06-30
    assert months["B"] == pytest.approx(181 / (365.25 / 12))
    # C's only penalty is dated after the as-of date: not known then, so C counts as never penalised.
    assert np.isnan(months["C"]) and np.isnan(months["D"])
    # A's 2020 fine is outside the two-year window; a missing amount adds nothing; "zero" fills D.
    assert list(out["fines_2y"]) == [0.0, 100.0, 0.0, 0.0]
    # A "where" rule keeps only fines; "missing = -1" marks subjects without any such row.
    assert list(out["fine_penalties_ever"]) == [1.0, 1.0, -1.0, -1.0]


def test_the_packaged_definition_is_valid_and_documents_every_engineered_feature(catalog) -> None:  # type: ignore[no-untyped-def]
    views = default_views()
    assert validate_views(views, catalog) == []
    assert all(v.description and v.sources for v in views.features)
    builtin = {v.name: v.sources for v in views.features if not v.declarative}
    assert builtin == FEATURE_SOURCES  # the engineered features' sources come from the file
    assert len([v for v in views.features if v.declarative]) >= 5
    tax = [v.name for v in views.covered_by(["tax_rating"])]
    assert {"tax_rating_latest", "tax_rating_best_3y", "tax_ratings_c_or_d_5y"} <= set(tax)


def test_a_wrong_definition_is_refused_with_every_problem_named(catalog) -> None:  # type: ignore[no-untyped-def]
    bad = parse_views(
        """
version = 1
[[features]]
name = "x"
description = "sum of a text field"
source = "tax_rating"
aggregation = "sum"
field = "rating"

[[features]]
name = "x"
description = ""
source = "no_such_item"
aggregation = "count"

[[features]]
name = "y"
description = "unknown aggregation"
source = "tax_rating"
aggregation = "median"
"""
    )
    problems = validate_views(bad, catalog)
    text = "\n".join(problems)
    assert "give a 'map' to numbers" in text and "defined twice" in text
    assert "neither catalog items nor market datasets" in text and "is not one of" in text
    with pytest.raises(FeatureError, match="version"):
        parse_views('[[features]]\nname = "x"')
    with pytest.raises(FeatureError, match="unknown keys"):
        parse_views('version = 1\n[[features]]\nname = "x"\nwindow = 3')


def test_lineage_names_the_definition_version_and_each_features_rule() -> None:
    views = parse_views(VIEWS)
    lineage = views.lineage(["fines_2y"])
    assert lineage["feature_views_version"] == 3 and len(lineage["feature_views_digest"]) == 64
    assert lineage["features"]["fines_2y"]["sources"] == ["admin_penalty"]
    assert lineage["features"]["fines_2y"]["window_days"] == 730
