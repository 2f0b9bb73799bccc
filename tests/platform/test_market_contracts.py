"""Market data is served only as its contract allows (G§9, G§16): for an allowed purpose, never for
another, never once the contract expired or was terminated; derived products only where allowed."""

from __future__ import annotations

import datetime as dt
import io
import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from fincredit.consent.identifiers import generate_uscc
from fincredit.platform.core.errors import DerivedProductRefused, InvalidInput, MarketUseRefused
from fincredit.platform.market import (
    DatasetTerms,
    Source,
    check_market_use,
    market_fields_for,
    may_sell,
    product_lineage,
    record_derivation,
    register_contract,
    terminate_contract,
    upload_dataset_version,
)
from fincredit.platform.subjects import register_subject
from fincredit.platform.testing.plugin import new_institution, unique

UTC = dt.UTC
STARTS, EXPIRES = dt.date(2026, 1, 1), dt.date(2026, 6, 30)
DURING = dt.datetime(2026, 3, 2, 2, 0, tzinfo=UTC)
AFTER = dt.datetime(2026, 7, 1, 2, 0, tzinfo=UTC)


@dataclass
class World:
    vendor: str
    dataset: str
    subjects: dict[str, int]  # uscc -> subject id


def _parquet(rows: list[dict[str, object]]) -> bytes:
    buf = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(rows), buf)
    return buf.getvalue()


@pytest.fixture
def world(services, tmp_path) -> Iterator[World]:  # type: ignore[no-untyped-def]
    rng = random.Random(uuid.uuid4().int)
    vendor = new_institution(services, "market_vendor").org_id
    dataset = unique("scf").lower()
    codes = [generate_uscc(rng, "330212") for _ in range(3)]
    with services.tx() as session:
        subjects = {
            c: register_subject(session, services.keyring, c, f"宁波测试{i}有限公司").id
            for i, c in enumerate(codes)
        }
        register_contract(
            session,
            vendor_id=vendor,
            reference=unique("HT"),
            datasets=[DatasetTerms(dataset, "供应链付款行为")],
            allowed_purposes=["loan_application_assessment", "post_loan_monitoring"],
            derived_products_allowed=False,
            resale_allowed=False,
            starts_on=STARTS,
            expires_on=EXPIRES,
            annual_fee_cny=480_000,
            created_by="test",
        )
    source = tmp_path / "upload.parquet"
    rows = [{"record_id": f"R{i}", "uscc": c, "on_time_ratio": 0.9 - i / 10} for i, c in enumerate(codes)]
    rows.append({"record_id": "R-unknown", "uscc": generate_uscc(rng, "330203"), "on_time_ratio": 0.5})
    source.write_bytes(_parquet(rows))
    with services.tx() as session:
        upload_dataset_version(
            session,
            services.keyring,
            services.settings.var_dir,
            dataset=dataset,
            source=source,
            vendor_id=vendor,
            uploaded_by="vendor-account",
            at=DURING - dt.timedelta(days=1),
        )
    yield World(vendor, dataset, subjects)


def test_a_purpose_the_contract_allows_gets_the_fields_with_provenance(services, world) -> None:  # type: ignore[no-untyped-def]
    ids = list(world.subjects.values())[:2]
    with services.read() as session:
        served = market_fields_for(
            session,
            world.dataset,
            ids,
            "loan_application_assessment",
            DURING,
            var_dir=services.settings.var_dir,
        )
    assert served.decision.allowed and served.version == 1
    rows = served.table.to_pylist()
    assert sorted(r["prov_subject_id"] for r in rows) == sorted(ids)
    assert {(r["prov_vendor"], r["prov_dataset"], r["prov_version"]) for r in rows} == {
        (world.vendor, world.dataset, 1)
    }
    assert {r["prov_record_id"] for r in rows} == {"R0", "R1"}


def test_a_purpose_the_contract_does_not_name_is_refused(services, world) -> None:  # type: ignore[no-untyped-def]
    with services.read() as session, pytest.raises(MarketUseRefused) as refused:
        market_fields_for(
            session,
            world.dataset,
            world.subjects.values(),
            "joint_modelling",
            DURING,
            var_dir=services.settings.var_dir,
        )
    assert refused.value.extensions["reason"] == "purpose-not-allowed"
    assert "loan_application_assessment" in refused.value.detail


def test_an_expired_contract_stops_all_use(services, world) -> None:  # type: ignore[no-untyped-def]
    with services.read() as session:
        for purpose in ("loan_application_assessment", "post_loan_monitoring"):
            decision = check_market_use(session, world.dataset, purpose, AFTER)
            assert not decision.allowed and decision.reason == "contract-expired"
            assert "expired on 2026-06-30" in decision.detail
        with pytest.raises(MarketUseRefused) as refused:
            market_fields_for(
                session,
                world.dataset,
                world.subjects.values(),
                "loan_application_assessment",
                AFTER,
                var_dir=services.settings.var_dir,
            )
    assert refused.value.extensions["reason"] == "contract-expired"


def test_the_expiry_day_is_a_beijing_calendar_day(services, world) -> None:  # type: ignore[no-untyped-def]
    last_evening = dt.datetime(2026, 6, 30, 15, 30, tzinfo=UTC)  # 23:30 in Beijing on 30 June
    next_morning = dt.datetime(2026, 6, 30, 16, 30, tzinfo=UTC)  # 00:30 in Beijing on 1 July
    with services.read() as session:
        assert check_market_use(session, world.dataset, "post_loan_monitoring", last_evening).allowed
        assert not check_market_use(session, world.dataset, "post_loan_monitoring", next_morning).allowed


def test_before_the_contract_starts_nothing_is_served(services, world) -> None:  # type: ignore[no-untyped-def]
    with services.read() as session:
        decision = check_market_use(
            session, world.dataset, "post_loan_monitoring", dt.datetime(2025, 12, 1, tzinfo=UTC)
        )
    assert decision.reason == "contract-not-started"


def test_a_terminated_contract_stops_use_from_termination(services, world) -> None:  # type: ignore[no-untyped-def]
    with services.tx() as session:
        contract = check_market_use(session, world.dataset, None, DURING).contract
        assert contract is not None
        terminate_contract(session, contract.id, reason="vendor breach", at=DURING + dt.timedelta(days=1))
    with services.read() as session:
        assert check_market_use(session, world.dataset, "post_loan_monitoring", DURING).allowed
        later = check_market_use(
            session, world.dataset, "post_loan_monitoring", DURING + dt.timedelta(days=2)
        )
    assert later.reason == "contract-terminated"


def test_unknown_purposes_are_not_a_contract_term(services) -> None:  # type: ignore[no-untyped-def]
    vendor = new_institution(services, "market_vendor").org_id
    with pytest.raises(InvalidInput), services.tx() as session:
        register_contract(
            session,
            vendor_id=vendor,
            reference=unique("HT"),
            datasets=[unique("x").lower()],
            allowed_purposes=["marketing"],
            derived_products_allowed=True,
            resale_allowed=False,
            starts_on=STARTS,
            expires_on=EXPIRES,
            annual_fee_cny=1,
            created_by="test",
        )


def test_only_market_vendors_sign_market_contracts(services) -> None:  # type: ignore[no-untyped-def]
    bank = new_institution(services, "bank").org_id
    with pytest.raises(InvalidInput), services.tx() as session:
        register_contract(
            session,
            vendor_id=bank,
            reference=unique("HT"),
            datasets=[unique("x").lower()],
            allowed_purposes=["joint_modelling"],
            derived_products_allowed=True,
            resale_allowed=False,
            starts_on=STARTS,
            expires_on=EXPIRES,
            annual_fee_cny=1,
            created_by="test",
        )


def test_a_product_for_sale_needs_the_derived_product_right(services, world) -> None:  # type: ignore[no-untyped-def]
    sources = [Source("market_dataset", world.dataset), Source("catalog_item", "tax_credit_rating")]
    with pytest.raises(DerivedProductRefused), services.tx() as session:
        record_derivation(
            session,
            name="供应链评分",
            kind="score",
            sources=sources,
            for_sale=True,
            created_by="op",
            at=DURING,
        )
    with services.tx() as session:
        internal = record_derivation(
            session,
            name="内部特征",
            kind="feature_set",
            sources=sources,
            for_sale=False,
            created_by="op",
            purpose="loan_application_assessment",
            at=DURING,
        )
    assert [(s.kind, s.ref, s.version) for s in internal.sources] == [
        ("market_dataset", world.dataset, "1"),
        ("catalog_item", "tax_credit_rating", None),
    ]
    assert internal.sources[0].contract_id is not None


def test_derived_products_record_their_lineage_and_lose_the_right_to_sell_at_expiry(services) -> None:  # type: ignore[no-untyped-def]
    vendor = new_institution(services, "market_vendor").org_id
    dataset = unique("util").lower()
    with services.tx() as session:
        register_contract(
            session,
            vendor_id=vendor,
            reference=unique("HT"),
            datasets=[dataset],
            allowed_purposes=["joint_modelling"],
            derived_products_allowed=True,
            resale_allowed=False,
            starts_on=STARTS,
            expires_on=EXPIRES,
            annual_fee_cny=240_000,
            created_by="test",
        )
        base = record_derivation(
            session,
            name="用能特征",
            kind="feature_set",
            sources=[Source("market_dataset", dataset, "7")],
            for_sale=True,
            created_by="op",
            purpose="joint_modelling",
            at=DURING,
        )
        model = record_derivation(
            session,
            name="联合模型",
            kind="model",
            sources=[Source("derived_product", base.id), Source("catalog_item", "court_judgment")],
            for_sale=True,
            created_by="op",
            at=DURING,
        )
    with services.read() as session:
        lineage = product_lineage(session, model.id, recursive=True)
        assert ("market_dataset", dataset, "7", base.id) in [
            (s.kind, s.ref, s.version, s.via) for s in lineage.sources
        ]
        assert may_sell(session, model.id, DURING)[0]
        ok, why = may_sell(session, model.id, AFTER)
    assert not ok and dataset in why


def test_showing_raw_values_outside_the_platform_needs_the_resale_right(services, world) -> None:  # type: ignore[no-untyped-def]
    with services.read() as session:
        assert check_market_use(session, world.dataset, "loan_application_assessment", DURING).allowed
        with pytest.raises(MarketUseRefused) as refused:
            market_fields_for(
                session,
                world.dataset,
                world.subjects.values(),
                "loan_application_assessment",
                DURING,
                var_dir=services.settings.var_dir,
                disclose=True,
            )
    assert refused.value.extensions["reason"] == "resale-not-allowed"


def test_a_renewal_contract_restores_use_after_the_old_one_expired(services, world) -> None:  # type: ignore[no-untyped-def]
    with services.tx() as session:
        register_contract(
            session,
            vendor_id=world.vendor,
            reference=unique("HT-renewal"),
            datasets=[world.dataset],
            allowed_purposes=["post_loan_monitoring"],
            derived_products_allowed=False,
            resale_allowed=False,
            starts_on=dt.date(2026, 7, 1),
            expires_on=dt.date(2027, 6, 30),
            annual_fee_cny=500_000,
            created_by="test",
        )
    with services.read() as session:
        assert check_market_use(session, world.dataset, "post_loan_monitoring", AFTER).allowed
        narrower = check_market_use(session, world.dataset, "loan_application_assessment", AFTER)
    assert narrower.reason == "purpose-not-allowed"


def test_dataset_codes_cannot_name_a_path_outside_the_market_store(services) -> None:  # type: ignore[no-untyped-def]
    vendor = new_institution(services, "market_vendor").org_id
    with pytest.raises(InvalidInput, match="dataset code"), services.tx() as session:
        register_contract(
            session,
            vendor_id=vendor,
            reference=unique("HT"),
            datasets=["../../keys"],
            allowed_purposes=["joint_modelling"],
            derived_products_allowed=False,
            resale_allowed=False,
            starts_on=STARTS,
            expires_on=EXPIRES,
            annual_fee_cny=1,
            created_by="test",
        )
