"""The generated city and how it is generated: one component after another, each from its own random
stream (subjects, records, market data, loans; the defects of the raw submissions on demand)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from fincredit.models._defects import inject_defects
from fincredit.models.catalog_spec import CatalogSpec
from fincredit.models.errors import SyntheticDataError
from fincredit.models.features import enterprise_features
from fincredit.models.synthetic._common import DEFAULT_AS_OF, component_rng
from fincredit.models.synthetic._loans import (
    BANK_FEATURES,
    BANK_VIEW_WEIGHT,
    BANKS,
    LOAN_BANK_COEFS,
    LOAN_FEATURE_CENTRES,
    LOAN_INTERCEPT,
    LOAN_LATENT_COEF,
    LOAN_MARKET_COEFS,
    LOAN_PUBLIC_COEFS,
    LOAN_SHOCK_SD,
    draw_loans,
)
from fincredit.models.synthetic._market import draw_market
from fincredit.models.synthetic._records import draw_records
from fincredit.models.synthetic._subjects import (
    draw_enterprises,
    draw_persons,
    enterprise_table,
    person_table,
)


@dataclass
class City:
    """A generated city. ``records`` are the clean typed truth; ``submissions`` the raw provider files
    (all-text columns, with bad rows) and ``defects`` the sidecar saying which rows are bad and why."""

    seed: int
    as_of: dt.date
    enterprises: pa.Table
    persons: pa.Table
    records: dict[str, pa.Table]
    submissions: dict[str, pa.Table]
    defects: dict[str, pa.Table]
    market: dict[str, pa.Table]
    loans: pa.Table
    info: dict[str, Any] = field(default_factory=dict)
    catalog: CatalogSpec | None = None  # the catalog the city was generated in

    def features(self, as_of: dt.date | None = None) -> pd.DataFrame:
        """``features.enterprise_features`` over the clean records (a pandas frame keyed by USCC)."""
        return enterprise_features(self.records, self.market, as_of=as_of or self.as_of)

    def bank_loans(self, bank_id: str | None = None) -> pd.DataFrame:
        """What one bank holds for joint modelling: its loans' ids, borrower USCC, its own features and
        the default label (every bank when ``bank_id`` is None). Never any platform feature."""
        if bank_id is not None and bank_id not in BANKS:
            raise SyntheticDataError(f"unknown bank {bank_id!r}; known: {', '.join(BANKS)}")
        loans = self.loans
        if bank_id is not None:
            loans = loans.filter(pc.equal(loans.column("bank_id"), bank_id))
        columns = ["loan_id", "bank_id", "uscc", "apply_date", *BANK_FEATURES, "default"]
        return loans.select(columns).to_pandas()

    def iter_submissions(self) -> Iterator[tuple[str, pa.Table, pa.Table]]:
        """(item code, raw submission, defects sidecar) per catalog item, computed one at a time so a
        multi-million-row city can be written without holding every text copy in memory. Always the
        same tables as ``generate_city(...).submissions`` / ``.defects`` for this seed."""
        if self.catalog is None:
            raise SyntheticDataError(
                "this city has no catalog to shape its submissions (load_city(..., catalog=))"
            )
        rng = component_rng(self.seed, "defects")
        names = {
            "legal": self.enterprises.column("name").combine_chunks(),
            "natural": self.persons.column("name").combine_chunks(),
        }
        share = float(self.info.get("bad_row_share", 0.02))
        for item in self.catalog.items:
            if item.code not in self.records:
                continue  # an item the simulated providers do not submit
            raw, side = inject_defects(item, self.records[item.code], share, rng, names[item.subject_kind])
            yield item.code, raw, side


def generate_city(
    n_enterprises: int,
    seed: int = 0,
    *,
    catalog: CatalogSpec,
    as_of: dt.date = DEFAULT_AS_OF,
    bad_row_share: float = 0.02,
    loan_share: float = 0.5,
    submissions: bool = True,
) -> City:
    """Generate a city in memory. ``loan_share`` of the live enterprises get one loan application each.

    ``catalog`` gives the shapes of the records and submissions: the platform's default catalog
    (``fincredit.platform.catalog.default_catalog()``) or any catalog file read by
    ``fincredit.models.load_catalog``. It must hold the items and market datasets the simulated providers
    and vendors submit, with the fields and enumeration values they write.

    With ``submissions=False`` the raw provider files are left out (``City.iter_submissions`` makes
    them on demand), which roughly halves peak memory for millions of enterprises."""
    if not 1 <= n_enterprises <= 10_000_000:
        raise SyntheticDataError(f"n_enterprises must be between 1 and 10,000,000, got {n_enterprises}")
    if not 0.0 <= bad_row_share < 0.5:
        raise SyntheticDataError(f"bad_row_share must be in [0, 0.5), got {bad_row_share}")
    if not 0.0 < loan_share <= 1.0:
        raise SyntheticDataError(f"loan_share must be in (0, 1], got {loan_share}")
    e = draw_enterprises(component_rng(seed, "enterprises"), n_enterprises, as_of)
    p = draw_persons(component_rng(seed, "persons"), e)
    records = draw_records(component_rng(seed, "records"), e, p, as_of, catalog)
    market = draw_market(component_rng(seed, "market"), e, as_of, catalog)
    features = enterprise_features(records, market, as_of=as_of, enterprises=e.uscc)
    loans, loan_info = draw_loans(component_rng(seed, "loans"), e, as_of, loan_share, features)
    del features
    info = {
        "seed": seed,
        "as_of": as_of.isoformat(),
        "n_enterprises": n_enterprises,
        "n_persons": len(p.person_id),
        "bad_row_share": bad_row_share,
        "loan_share": loan_share,
        "loan_model": {
            "intercept": LOAN_INTERCEPT,
            "latent_coef": LOAN_LATENT_COEF,
            "bank_view_weight": BANK_VIEW_WEIGHT,
            "shock_sd": LOAN_SHOCK_SD,
            "bank": LOAN_BANK_COEFS,
            "public": LOAN_PUBLIC_COEFS,
            "market": LOAN_MARKET_COEFS,
            "feature_centres": LOAN_FEATURE_CENTRES,
            **loan_info,
        },
    }
    city = City(
        seed=seed,
        as_of=as_of,
        enterprises=enterprise_table(e, p, as_of),
        persons=person_table(p),
        records=records,
        submissions={},
        defects={},
        market=market,
        loans=loans,
        info=info,
        catalog=catalog,
    )
    del e, p
    if submissions:
        for code, raw, side in city.iter_submissions():
            city.submissions[code] = raw
            city.defects[code] = side
    return city
