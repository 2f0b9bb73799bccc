"""Demo steps of market data and objections (appended to ``demo.STEPS``): a vendor's dataset under
contract, and a borrower's objection to a record, both over the real HTTP API."""

from __future__ import annotations

import datetime as dt
import io
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.parquet as pq
from sqlalchemy import select

from fincredit.platform.catalog import default_catalog
from fincredit.platform.identity.accounts import (
    create_borrower_account,
    create_institution_account,
    create_organisation,
    generate_key_pair,
    register_key,
)
from fincredit.platform.ingestion.tables import CreditRecord

if TYPE_CHECKING:
    from fincredit.platform.demo.context import DemoContext


def _actor(ctx: DemoContext, name: str, org_id: str, kind: str | None, title: str, person: str) -> None:
    """An institution account with a key for ``org_id`` (creating the organisation when ``kind`` given)."""
    from fincredit.platform.demo.context import Actor

    with ctx.services.tx() as session:
        if kind is not None:
            create_organisation(session, org_id=org_id, kind=kind, name=title)
        account = create_institution_account(
            session,
            ctx.services.authz,
            org_id=org_id,
            username=f"{name}-api",
            real_name=person,
            stated_use=f"{title} API access",
        )
        private_pem, public_pem = generate_key_pair()
        key = register_key(session, account.id, public_pem)
    ctx.actors[name] = Actor(org_id, account.id, key.kid, private_pem)


def step_market_dataset(ctx: DemoContext) -> str:
    """The operator signs a contract with a supply-chain data vendor (allowed purposes, derived-product
    right, expiry, fee); the vendor uploads a Parquet version; the bank may use it for a loan
    assessment but not for joint modelling, which the contract does not name."""
    if "vendor" not in ctx.actors:
        _actor(ctx, "vendor", "yl-scf-data", "market_vendor", "甬链供应链数据服务有限公司", "孙数据")
    today = dt.date.today()
    contract = ctx.http.post(
        "/api/v1/market/contracts",
        headers=ctx.as_("operator"),
        json={
            "vendor_id": ctx.actors["vendor"].org_id,
            "reference": f"NBCP-MD-{today.year}-001",
            "datasets": [{"code": "supply_chain_payments", "name": "供应链付款行为"}],
            "allowed_purposes": ["loan_application_assessment", "post_loan_monitoring"],
            "derived_products_allowed": True,
            "resale_allowed": False,
            "starts_on": today.replace(month=1, day=1).isoformat(),
            "expires_on": today.replace(month=12, day=31).isoformat(),
            "annual_fee_cny": "480000.00",
        },
    )
    contract.raise_for_status()
    enterprises: list[str] = ctx.data.get("enterprises", [])
    spec = default_catalog().dataset("supply_chain_payments")
    n = len(enterprises)
    period = f"{today.year}-{today.month:02d}"
    table = pa.table(
        {
            "record_id": [f"V-SCF-{i:06d}" for i in range(n)],
            "vendor_id": ["V-SCF"] * n,
            "dataset_code": ["supply_chain_payments"] * n,
            "source_ref": [f"v-scf://supply_chain_payments/batch-{period}"] * n,
            "collected_at": [today] * n,
            "uscc": enterprises,
            "period": [period] * n,
            "on_time_ratio": [round(ctx.rng.uniform(0.6, 1.0), 3) for _ in range(n)],
            "avg_days_late": [round(ctx.rng.uniform(0, 20), 1) for _ in range(n)],
            "counterparties": [ctx.rng.randint(3, 60) for _ in range(n)],
            "payables_amount": [round(ctx.rng.uniform(1e5, 5e6), 2) for _ in range(n)],
        },
        schema=spec.arrow_schema(),
    )
    buf = io.BytesIO()
    pq.write_table(table, buf)
    version = ctx.http.post(
        "/api/v1/market/datasets/supply_chain_payments/versions",
        headers=ctx.as_("vendor"),
        content=buf.getvalue(),
        timeout=120,
    )
    version.raise_for_status()
    v = version.json()
    usable = ctx.http.get(
        "/api/v1/market/datasets",
        headers=ctx.as_("bank"),
        params={"purpose": "loan_application_assessment"},
    ).json()
    refused = ctx.http.get(
        "/api/v1/market/datasets",
        headers=ctx.as_("operator"),
        params={"purpose": "joint_modelling", "include_refused": "true"},
    ).json()
    why = next(d["use"]["reason"] for d in refused if d["code"] == "supply_chain_payments")
    return (
        f"contract {contract.json()['reference']}; version {v['version']} stored ({v['row_count']} rows, "
        f"{v['matched_count']} matched, sha256 {v['sha256'][:12]}…); bank may use "
        f"{[d['code'] for d in usable]} for loan assessment; joint modelling → {why}"
    )


def _a_record(ctx: DemoContext) -> CreditRecord:
    """A current credit record to object to: from earlier steps, or a small synthetic submission."""
    with ctx.services.read() as session:
        record = session.scalar(
            select(CreditRecord)
            .where(CreditRecord.current.is_(True), CreditRecord.subject_kind == "legal")
            .order_by(CreditRecord.negative.desc(), CreditRecord.id)
            .limit(1)
        )
    if record is not None:
        return record
    from fincredit.models.synthetic import generate_city
    from fincredit.platform.ingestion import ingest_file

    catalog = default_catalog()
    city = generate_city(40, seed=20261122, catalog=catalog)
    last_month = dt.date.today().replace(day=1) - dt.timedelta(days=1)
    with tempfile.TemporaryDirectory() as tmp:
        for code in ("market_registration", "admin_penalty"):
            path = Path(tmp) / f"{code}.parquet"
            pq.write_table(city.submissions[code], path)
            ingest_file(
                ctx.services,
                provider_org_id=catalog.item(code).provider_id,
                item_code=code,
                month=f"{last_month.year}-{last_month.month:02d}",
                path=path,
            )
    return _a_record(ctx)


def step_objection(ctx: DemoContext) -> str:
    """An enterprise's authorised person objects to a record: it is flagged "under objection" at once;
    the platform checks within 3 working days and refers it to the provider (10 working days, extendable
    once by at most 15), who corrects it: a new version, and the banks that received it are notified."""
    record = _a_record(ctx)
    username, password = "objector-01", "demo-password-2026"
    with ctx.services.tx() as session:
        create_borrower_account(
            session,
            ctx.services.authz,
            username=username,
            real_name="钱法人",
            password=password,
            subject_id=record.subject_id,
        )
    token = ctx.http.post("/api/v1/auth/login", json={"username": username, "password": password})
    token.raise_for_status()
    me = {"Authorization": f"Bearer {token.json()['access_token']}"}
    filed = ctx.http.post(
        "/api/v1/me/objections",
        headers=me,
        json={"record_id": record.id, "reason": "该记录已于整改后撤销，请核实"},
    )
    filed.raise_for_status()
    objection = filed.json()
    with ctx.services.read() as session:
        flagged = session.get(CreditRecord, record.id).under_objection  # type: ignore[union-attr]
    checked = ctx.http.post(
        f"/api/v1/objections/{objection['id']}/platform-check",
        headers=ctx.as_("operator"),
        json={"processing_correct": True, "note": "清洗、匹配、入库过程核对无误，转数据提供单位核查"},
    )
    checked.raise_for_status()
    provider_name = f"provider-{record.provider_org_id.lower()}"
    if provider_name not in ctx.actors:
        _actor(ctx, provider_name, record.provider_org_id, None, record.provider_org_id, "吴核查")
    data: dict[str, Any] = dict(record.data or {})
    numbers = [k for k, v in data.items() if isinstance(v, int | float) and not isinstance(v, bool)]
    numeric = numbers[0] if numbers else None
    body: dict[str, Any] = {"correct": False, "note": "经核查记录无误"}
    if numeric is not None:
        body = {"correct": True, "note": "经核查金额有误，予以更正", "corrected_data": {numeric: 0}}
    answered = ctx.http.post(
        f"/api/v1/provider/objections/{objection['id']}/answer", headers=ctx.as_(provider_name), json=body
    )
    answered.raise_for_status()
    done = answered.json()
    steps = " → ".join(f"{e['step']}({e['deadline'] or '—'})" for e in done["events"])
    return (
        f"record {record.id} ({record.item_code}) flagged={flagged}; "
        f"platform due {objection['platform_due']}, "
        f"provider due {checked.json()['provider_due']}; outcome {done['status']}"
        f"{' → new record ' + str(done['corrected_record_id']) if done['corrected_record_id'] else ''}; "
        f"trail: {steps}"
    )


MARKET_STEPS = [
    ("Market data under contract", step_market_dataset),
    ("A borrower objects to a record", step_objection),
]
