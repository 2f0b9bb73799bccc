"""Vendors upload dataset versions over HTTP: stored as Parquet with a manifest and SHA-256, every record
with its provenance; banks list what they may use for a purpose; a tampered file is never served."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import random

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from fincredit.consent.identifiers import generate_uscc
from fincredit.platform.catalog import default_catalog
from fincredit.platform.core.errors import MarketDataCorrupt, MarketDataInvalid
from fincredit.platform.market import latest_version, market_fields_for
from fincredit.platform.subjects import register_subject
from fincredit.platform.testing.plugin import auth, new_institution, unique


def _city_market(seed: int) -> pa.Table:
    from fincredit.models.synthetic import generate_city

    return generate_city(120, seed=seed, catalog=default_catalog()).market["supply_chain_payments"]


@pytest.fixture(scope="module")
def scf_table() -> pa.Table:
    return _city_market(random.Random().randrange(1, 10**6))


def _bytes(table: pa.Table) -> bytes:
    buf = io.BytesIO()
    pq.write_table(table, buf)
    return buf.getvalue()


def _contract(client, operator, vendor, dataset: str, purposes: list[str]) -> dict:  # type: ignore[no-untyped-def]
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
            "starts_on": (today - dt.timedelta(days=30)).isoformat(),
            "expires_on": (today + dt.timedelta(days=365)).isoformat(),
            "annual_fee_cny": "480000.00",
        },
    )
    assert r.status_code == 201, r.text
    return dict(r.json())


def test_vendor_upload_is_stored_with_manifest_checksum_and_provenance(services, client, scf_table) -> None:  # type: ignore[no-untyped-def]
    operator = new_institution(services, "platform_operator")
    vendor = new_institution(services, "market_vendor")
    bank = new_institution(services, "bank")
    dataset = unique("scf").lower()
    _contract(client, operator, vendor, dataset, ["loan_application_assessment"])
    codes = list(dict.fromkeys(scf_table.column("uscc").to_pylist()))[:5]
    with services.tx() as session:
        ids = [
            register_subject(session, services.keyring, c, f"供应商客户{i}").id for i, c in enumerate(codes)
        ]
    assert scf_table.schema.equals(default_catalog().dataset("supply_chain_payments").arrow_schema())
    body = _bytes(scf_table)
    vendor_auth = auth(client, vendor)

    r = client.post(f"/api/v1/market/datasets/{dataset}/versions", headers=vendor_auth, content=body)
    assert r.status_code == 201, r.text
    v = r.json()
    assert v["version"] == 1 and v["created"] and v["row_count"] == scf_table.num_rows
    assert v["matched_count"] == sum(1 for c in scf_table.column("uscc").to_pylist() if c in codes)
    stored = services.settings.var_dir / v["path"]
    assert stored == services.settings.var_dir / "market" / dataset / "1.parquet"
    assert hashlib.sha256(stored.read_bytes()).hexdigest() == v["sha256"]
    manifest = json.loads((stored.parent / "1.manifest.json").read_text())
    assert manifest["sha256"] == v["sha256"] and manifest["rows"] == scf_table.num_rows
    assert manifest["upload_sha256"] == hashlib.sha256(body).hexdigest()
    written = pq.read_table(stored)
    assert written.column("prov_record_id").to_pylist() == scf_table.column("record_id").to_pylist()
    assert set(written.column("prov_vendor").to_pylist()) == {vendor.org_id}

    again = client.post(f"/api/v1/market/datasets/{dataset}/versions", headers=vendor_auth, content=body)
    assert again.status_code == 201 and again.json()["created"] is False and again.json()["version"] == 1

    listed = client.get(
        "/api/v1/market/datasets",
        headers=auth(client, bank),
        params={"purpose": "loan_application_assessment"},
    ).json()
    mine = [d for d in listed if d["code"] == dataset]
    assert mine and mine[0]["latest_version"] == 1 and mine[0]["use"]["allowed"]
    refused = client.get(
        "/api/v1/market/datasets", headers=auth(client, bank), params={"purpose": "joint_modelling"}
    ).json()
    assert dataset not in [d["code"] for d in refused]

    with services.read() as session:
        served = market_fields_for(
            session, dataset, ids, "loan_application_assessment", var_dir=services.settings.var_dir
        )
    assert set(served.table.column("prov_subject_id").to_pylist()) <= set(ids)
    assert served.table.num_rows == v["matched_count"]


def test_uploads_without_keys_or_with_repeated_keys_are_refused(services, client) -> None:  # type: ignore[no-untyped-def]
    operator = new_institution(services, "platform_operator")
    vendor = new_institution(services, "market_vendor")
    dataset = unique("news").lower()
    _contract(client, operator, vendor, dataset, ["post_loan_monitoring"])
    uscc = generate_uscc(random.Random(), "330212")
    headers = auth(client, vendor)
    no_key = _bytes(pa.table({"uscc": [uscc], "risk_score": [1.0]}))
    r = client.post(f"/api/v1/market/datasets/{dataset}/versions", headers=headers, content=no_key)
    assert r.status_code == 422 and r.json()["type"] == "/problems/market-data-invalid"
    repeated = _bytes(pa.table({"record_id": ["a", "a"], "uscc": [uscc, uscc], "risk_score": [1.0, 2.0]}))
    r = client.post(f"/api/v1/market/datasets/{dataset}/versions", headers=headers, content=repeated)
    assert r.status_code == 422 and "repeated" in r.json()["detail"]
    r = client.post(f"/api/v1/market/datasets/{dataset}/versions", headers=headers, content=b"not parquet")
    assert r.status_code == 422
    assert client.get(f"/api/v1/market/datasets/{dataset}/versions", headers=headers).json() == []


def test_another_vendor_cannot_upload_to_a_dataset(services, client) -> None:  # type: ignore[no-untyped-def]
    operator = new_institution(services, "platform_operator")
    vendor, other = new_institution(services, "market_vendor"), new_institution(services, "market_vendor")
    dataset = unique("ecom").lower()
    _contract(client, operator, vendor, dataset, ["post_loan_monitoring"])
    body = _bytes(pa.table({"record_id": ["a"], "uscc": ["x"]}))
    r = client.post(f"/api/v1/market/datasets/{dataset}/versions", headers=auth(client, other), content=body)
    assert r.status_code == 403


def test_banks_cannot_register_contracts(services, client) -> None:  # type: ignore[no-untyped-def]
    bank = new_institution(services, "bank")
    r = client.post("/api/v1/market/contracts", headers=auth(client, bank), json={})
    assert r.status_code == 403


def test_a_stored_file_changed_behind_the_platforms_back_is_not_served(services, client) -> None:  # type: ignore[no-untyped-def]
    operator = new_institution(services, "platform_operator")
    vendor = new_institution(services, "market_vendor")
    dataset = unique("util").lower()
    _contract(client, operator, vendor, dataset, ["loan_application_assessment"])
    uscc = generate_uscc(random.Random(), "330212")
    body = _bytes(pa.table({"record_id": ["a"], "uscc": [uscc], "score": [700]}))
    v = client.post(
        f"/api/v1/market/datasets/{dataset}/versions", headers=auth(client, vendor), content=body
    ).json()
    stored = services.settings.var_dir / v["path"]
    pq.write_table(pa.table({"record_id": ["a"], "uscc": [uscc], "score": [300]}), stored)
    with services.read() as session:
        assert latest_version(session, dataset) is not None
        with pytest.raises(MarketDataCorrupt):
            market_fields_for(
                session, dataset, [1], "loan_application_assessment", var_dir=services.settings.var_dir
            )


def test_a_record_id_repeated_in_a_later_batch_is_refused(services, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from fincredit.platform.market import register_contract, upload_dataset_version

    vendor = new_institution(services, "market_vendor").org_id
    dataset = unique("big").lower()
    today = dt.date.today()
    with services.tx() as session:
        register_contract(
            session,
            vendor_id=vendor,
            reference=unique("HT"),
            datasets=[dataset],
            allowed_purposes=["encrypted_scoring"],
            derived_products_allowed=False,
            resale_allowed=False,
            starts_on=today - dt.timedelta(days=1),
            expires_on=today + dt.timedelta(days=1),
            annual_fee_cny=0,
            created_by="test",
        )
    n = 40_000  # several record batches
    ids = [f"r{i}" for i in range(n)]
    ids[-1] = "r0"
    source = tmp_path / "dup.parquet"
    pq.write_table(pa.table({"record_id": ids, "uscc": ["not-a-code"] * n}), source)
    with pytest.raises(MarketDataInvalid, match=f"row {n - 1}"), services.tx() as session:
        upload_dataset_version(
            session,
            services.keyring,
            services.settings.var_dir,
            dataset=dataset,
            source=source,
            vendor_id=vendor,
            uploaded_by="t",
        )
    assert not list((services.settings.var_dir / "market" / dataset).glob("*.parquet"))


def test_identifiers_are_matched_whatever_their_case_and_bad_ones_stay_unmatched(services, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from fincredit.platform.market import register_contract, upload_dataset_version

    vendor = new_institution(services, "market_vendor").org_id
    dataset = unique("case").lower()
    code = generate_uscc(random.Random(), "330212")
    today = dt.date.today()
    with services.tx() as session:
        subject_id = register_subject(session, services.keyring, code, "宁波大小写有限公司").id
        register_contract(
            session,
            vendor_id=vendor,
            reference=unique("HT"),
            datasets=[dataset],
            allowed_purposes=["encrypted_scoring"],
            derived_products_allowed=False,
            resale_allowed=False,
            starts_on=today - dt.timedelta(days=1),
            expires_on=today + dt.timedelta(days=1),
            annual_fee_cny=0,
            created_by="test",
        )
    source = tmp_path / "case.parquet"
    bad = code[:-1] + ("0" if code[-1] != "0" else "1")
    pq.write_table(pa.table({"record_id": ["a", "b", "c"], "uscc": [f" {code.lower()} ", bad, None]}), source)
    with services.tx() as session:
        v = upload_dataset_version(
            session,
            services.keyring,
            services.settings.var_dir,
            dataset=dataset,
            source=source,
            vendor_id=vendor,
            uploaded_by="t",
        )
    assert v.matched_count == 1
    stored = pq.read_table(services.settings.var_dir / v.path)
    assert stored.column("prov_subject_id").to_pylist() == [subject_id, None, None]


def test_the_operator_records_a_derived_product_and_reads_its_lineage(services, client) -> None:  # type: ignore[no-untyped-def]
    operator = new_institution(services, "platform_operator")
    vendor = new_institution(services, "market_vendor")
    regulator = new_institution(services, "regulator")
    dataset = unique("lin").lower()
    _contract(client, operator, vendor, dataset, ["joint_modelling"])
    body = _bytes(pa.table({"record_id": ["a"], "uscc": [generate_uscc(random.Random(), "330212")]}))
    client.post(f"/api/v1/market/datasets/{dataset}/versions", headers=auth(client, vendor), content=body)
    created = client.post(
        "/api/v1/market/derived-products",
        headers=auth(client, operator),
        json={
            "name": "小微企业联合评分",
            "kind": "model",
            "for_sale": True,
            "purpose": "joint_modelling",
            "sources": [
                {"kind": "market_dataset", "ref": dataset},
                {"kind": "catalog_item", "ref": "tax_rating"},
            ],
        },
    )
    assert created.status_code == 201, created.text
    product = created.json()
    seen = client.get(
        f"/api/v1/market/derived-products/{product['id']}", headers=auth(client, regulator)
    ).json()
    assert [(s["kind"], s["ref"], s["version"]) for s in seen["sources"]] == [
        ("market_dataset", dataset, "1"),
        ("catalog_item", "tax_rating", None),
    ]
    assert seen["may_sell"] is True
    refused = client.post(
        "/api/v1/market/derived-products",
        headers=auth(client, operator),
        json={
            "name": "x",
            "kind": "score",
            "purpose": "credit_report",
            "sources": [{"kind": "market_dataset", "ref": dataset}],
        },
    )
    assert refused.status_code == 403 and refused.json()["reason"] == "purpose-not-allowed"


def test_serving_a_few_subjects_reads_only_their_row_groups_and_checks_the_index(services, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from fincredit.platform.market import (
        SUBJECT_INDEX_KEY,
        latest_version,
        read_subjects,
        read_version,
        register_contract,
        upload_dataset_version,
    )

    vendor = new_institution(services, "market_vendor").org_id
    dataset = unique("idx").lower()
    rng = random.Random()
    codes = [generate_uscc(rng, "330212") for _ in range(30)]
    today = dt.date.today()
    with services.tx() as session:
        ids = [register_subject(session, services.keyring, c, f"索引测试{i}").id for i, c in enumerate(codes)]
        register_contract(
            session,
            vendor_id=vendor,
            reference=unique("HT"),
            datasets=[dataset],
            allowed_purposes=["encrypted_scoring"],
            derived_products_allowed=False,
            resale_allowed=False,
            starts_on=today - dt.timedelta(days=1),
            expires_on=today + dt.timedelta(days=1),
            annual_fee_cny=0,
            created_by="test",
        )
    n = 50_000  # four row groups; the first subject appears only in the last one
    uscc = [codes[1 + i % 29] for i in range(n)]
    uscc[-1] = codes[0]
    source = tmp_path / "many.parquet"
    pq.write_table(
        pa.table({"record_id": [f"r{i}" for i in range(n)], "uscc": uscc, "v": list(range(n))}), source
    )
    with services.tx() as session:
        upload_dataset_version(
            session,
            services.keyring,
            services.settings.var_dir,
            dataset=dataset,
            source=source,
            vendor_id=vendor,
            uploaded_by="t",
        )
    var_dir = services.settings.var_dir
    with services.read() as session:
        version = latest_version(session, dataset)
    assert version is not None
    stored = pq.ParquetFile(var_dir / version.path)
    assert stored.metadata.num_row_groups >= 4 and SUBJECT_INDEX_KEY.encode() in stored.metadata.metadata
    one = read_subjects(var_dir, version, [ids[0]])
    assert one.column("v").to_pylist() == [n - 1]
    some = read_subjects(var_dir, version, ids[:3], columns=["v", "prov_subject_id"])
    full = read_version(var_dir, version)
    expected = full.filter(pa.compute.is_in(full.column("prov_subject_id"), value_set=pa.array(ids[:3])))
    assert sorted(some.column("v").to_pylist()) == sorted(expected.column("v").to_pylist())
    index = var_dir / "market" / dataset / f"{version.version}.subjects.parquet"
    pq.write_table(
        pa.table({"subject_id": pa.array([], pa.int64()), "row_group": pa.array([], pa.int32())}), index
    )
    with pytest.raises(MarketDataCorrupt, match="subject index"):
        read_subjects(var_dir, version, [ids[0]])
