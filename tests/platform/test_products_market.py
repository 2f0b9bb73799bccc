"""Metered market products (G§14): the platform credit score served with its MLflow model version under
each enterprise's consent and billed per enterprise scored; quotas refuse before the work; premium rows
only for purposes the vendor contract allows, billed per row; data products bought under their licence,
billed at the listing price, delivered as Parquet or through an API key, with provenance."""

from __future__ import annotations

import datetime as dt
import io
import random
from decimal import Decimal

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sqlalchemy import func, select

from fincredit.platform.metered.billing import build_statement
from fincredit.platform.metered.billing.tables import Entitlement, UsageEvent
from fincredit.platform.metered.products import SCORE_SCOPES as CATALOG_ITEMS
from fincredit.platform.metered.products import market_scope, train_and_register
from fincredit.platform.metered.products.tables import CreditScoreResult
from fincredit.platform.subjects import register_subject
from fincredit.platform.testing.plugin import auth, new_institution, unique
from fincredit.platform.testing.seed import grant_consent, new_enterprise

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def score_version(services) -> int:  # type: ignore[no-untyped-def]
    return train_and_register(services.settings.var_dir, enterprises=1200, seed=3)


def _entitle(services, org_id: str, product: str, quota: Decimal | None = None) -> None:  # type: ignore[no-untyped-def]
    with services.tx() as session:
        session.add(Entitlement(org_id=org_id, product=product, enabled=True, monthly_quota=quota))


def _usage(services, org_id: str, product: str) -> Decimal:  # type: ignore[no-untyped-def]
    with services.read() as session:
        return Decimal(
            session.scalar(
                select(func.coalesce(func.sum(UsageEvent.quantity), 0)).where(
                    UsageEvent.org_id == org_id, UsageEvent.product == product
                )
            )
        )


def test_credit_score_carries_model_version_needs_consent_and_bills_per_enterprise(
    services, client, score_version
) -> None:  # type: ignore[no-untyped-def]
    bank = new_institution(services, "bank")
    _entitle(services, bank.org_id, "market.credit_score")
    consenting, sid = new_enterprise(services)
    silent, _ = new_enterprise(services)
    grant_consent(services, sid, bank.org_id, scopes=CATALOG_ITEMS, modes=("query",))

    r = client.post(
        "/api/v1/market-products/credit-score",
        headers=auth(client, bank),
        json={"identifiers": [consenting, silent]},
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["model_version"] == score_version
    assert [s["identifier"] for s in body["scores"]] == [consenting]
    assert 300 <= body["scores"][0]["score"] <= 900 and body["scores"][0]["model_version"] == score_version
    assert [x["identifier"] for x in body["refused"]] == [silent]
    assert body["billed_units"] == 1
    assert _usage(services, bank.org_id, "market.credit_score") == 1
    with services.read() as session:
        row = session.scalar(select(CreditScoreResult).where(CreditScoreResult.org_id == bank.org_id))
        assert row is not None and row.ledger_seq is not None and row.model_version == score_version


def test_credit_score_quota_refuses_before_any_work(services, client, score_version) -> None:  # type: ignore[no-untyped-def]
    bank = new_institution(services, "bank")
    _entitle(services, bank.org_id, "market.credit_score", quota=Decimal(1))
    codes = []
    for _ in range(2):
        code, sid = new_enterprise(services)
        grant_consent(services, sid, bank.org_id, scopes=CATALOG_ITEMS, modes=("query",))
        codes.append(code)
    r = client.post(
        "/api/v1/market-products/credit-score", headers=auth(client, bank), json={"identifiers": codes}
    )
    assert r.status_code == 429 and r.json()["quota"] == "market.credit_score:monthly"
    assert _usage(services, bank.org_id, "market.credit_score") == 0
    with services.read() as session:
        assert not session.scalars(
            select(CreditScoreResult).where(CreditScoreResult.org_id == bank.org_id)
        ).all()


def _market(services, client, *, purposes: list[str]) -> tuple[str, list[str], dict]:  # type: ignore[no-untyped-def]
    from fincredit.models.synthetic import generate_city
    from fincredit.platform.catalog import default_catalog

    operator = new_institution(services, "platform_operator")
    vendor = new_institution(services, "market_vendor")
    dataset = unique("scf").lower()
    today = dt.date.today()
    r = client.post(
        "/api/v1/market/contracts",
        headers=auth(client, operator),
        json={
            "vendor_id": vendor.org_id,
            "reference": unique("HT"),
            "datasets": [{"code": dataset, "name": "供应链付款行为"}],
            "allowed_purposes": purposes,
            "derived_products_allowed": True,
            "resale_allowed": True,
            "starts_on": (today - dt.timedelta(days=30)).isoformat(),
            "expires_on": (today + dt.timedelta(days=365)).isoformat(),
            "annual_fee_cny": "480000.00",
        },
    )
    assert r.status_code == 201, r.text
    city = generate_city(150, seed=random.randrange(10**6), catalog=default_catalog())
    table: pa.Table = city.market["supply_chain_payments"]
    codes = list(dict.fromkeys(table.column("uscc").to_pylist()))[:3]
    with services.tx() as session:
        for i, c in enumerate(codes):
            register_subject(session, services.keyring, c, f"供应商客户{i}")
    buf = io.BytesIO()
    pq.write_table(table, buf)
    r = client.post(
        f"/api/v1/market/datasets/{dataset}/versions", headers=auth(client, vendor), content=buf.getvalue()
    )
    assert r.status_code == 201, r.text
    return dataset, codes, {"operator": operator, "table": table}


def test_premium_rows_only_for_contract_purposes_under_consent_billed_per_row(services, client) -> None:  # type: ignore[no-untyped-def]
    dataset, codes, ctx = _market(services, client, purposes=["loan_application_assessment"])
    bank = new_institution(services, "bank")
    _entitle(services, bank.org_id, "market.premium_dataset")
    with services.read() as session:
        from fincredit.platform.subjects import find_subject

        sid = find_subject(session, services.keyring, codes[0]).id
    grant_consent(services, sid, bank.org_id, scopes=[market_scope(dataset)], modes=("query",))
    expected = sum(1 for c in ctx["table"].column("uscc").to_pylist() if c == codes[0])
    headers = auth(client, bank)

    r = client.post(
        f"/api/v1/market-products/premium-datasets/{dataset}",
        headers=headers,
        json={"identifiers": codes[:2], "purpose": "loan_application_assessment"},
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert len(body["rows"]) == expected == body["billed_units"]
    assert {row["uscc"] for row in body["rows"]} == {codes[0]}
    assert all(row["prov_dataset"] == dataset for row in body["rows"])
    assert [x["identifier"] for x in body["refused"]] == [codes[1]]
    assert _usage(services, bank.org_id, "market.premium_dataset") == expected

    refused = client.post(
        f"/api/v1/market-products/premium-datasets/{dataset}",
        headers=headers,
        json={"identifiers": codes[:1], "purpose": "post_loan_monitoring"},
    )
    assert refused.status_code == 403 and refused.json()["reason"] == "purpose-not-allowed"
    assert _usage(services, bank.org_id, "market.premium_dataset") == expected


def test_data_product_is_bought_under_its_licence_billed_and_delivered_with_provenance(
    services, client
) -> None:  # type: ignore[no-untyped-def]
    dataset, _, ctx = _market(services, client, purposes=["loan_application_assessment"])
    r = client.post(
        "/api/v1/market-products/data-products",
        headers=auth(client, ctx["operator"]),
        json={
            "name": "供应链付款月度行业均值",
            "dataset": dataset,
            "group_by": "period",
            "price_cny": "500.00",
            "licence": {"purposes": ["loan_application_assessment"], "licence_days": 365},
            "delivery": ["file", "api"],
        },
    )
    assert r.status_code == 201, r.text
    listing = r.json()
    assert listing["provenance"][0]["ref"] == dataset and listing["provenance"][0]["version"] == "1"
    assert listing["rows"] > 0

    bank = new_institution(services, "bank")
    headers = auth(client, bank)
    buy = f"/api/v1/market-products/data-products/{listing['id']}/purchases"
    no_gate = client.post(buy, headers=headers, json={"purpose": "loan_application_assessment"})
    assert no_gate.status_code == 403
    _entitle(services, bank.org_id, "market.data_product")
    wrong = client.post(buy, headers=headers, json={"purpose": "joint_modelling"})
    assert wrong.status_code == 403 and wrong.json()["type"].endswith("data-product-licence-refused")

    bought = client.post(buy, headers=headers, json={"purpose": "loan_application_assessment"})
    assert bought.status_code == 201, bought.text
    purchase = bought.json()
    assert purchase["provenance"] == listing["provenance"] and purchase["api_key"] is None
    parquet = client.get(purchase["download"], headers=headers)
    assert parquet.status_code == 200
    rows = pq.read_table(io.BytesIO(parquet.content)).to_pylist()
    assert len(rows) == listing["rows"] and all(row["enterprises"] >= 5 for row in rows)
    assert "uscc" not in rows[0]

    api = client.post(
        buy, headers=headers, json={"purpose": "loan_application_assessment", "delivery": "api"}
    )
    key = api.json()["api_key"]
    served = client.get("/api/v1/market-products/data-products/api/rows", headers={"X-Data-Product-Key": key})
    assert served.status_code == 200 and served.json()["rows"] == rows
    assert (
        client.get(
            "/api/v1/market-products/data-products/api/rows", headers={"X-Data-Product-Key": "x" * 40}
        ).status_code
        == 403
    )

    with services.read() as session:
        now = dt.datetime.now(dt.UTC)
        statement = build_statement(session, bank.org_id, f"{now.year:04d}-{now.month:02d}")
    line = next(x for x in statement.lines if x.product == f"data_product.{listing['id']}")
    assert line.units == 2 and line.amount == Decimal("1000.00")
