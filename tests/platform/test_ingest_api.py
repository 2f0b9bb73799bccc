"""Provider submissions over HTTP: streamed upload, feedback report (JSON and CSV), duplicate upload,
structural rejection as problem+json, nil reports, compliance and verification (R§7, R§8)."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from fincredit.models.synthetic import City, generate_city
from fincredit.platform.catalog import change_catalog, default_catalog
from fincredit.platform.core.services import Services
from fincredit.platform.ingestion import register_subjects
from fincredit.platform.testing.plugin import auth, new_institution


@pytest.fixture(scope="module")
def city(services: Services) -> City:
    c = generate_city(200, seed=777, catalog=default_catalog(), bad_row_share=0.1)
    with services.tx() as session:
        e = c.enterprises
        register_subjects(session, services.keyring, "legal", e["uscc"].to_pylist(), e["name"].to_pylist())
    return c


def _provider(services: Services, code: str):  # type: ignore[no-untyped-def]
    inst = new_institution(services, "data_provider")
    with services.tx() as session:
        change_catalog(
            session, changes={code: {"provider_org_id": inst.org_id}}, created_by=None, note="test"
        )
    return inst


def _parquet(table: pa.Table) -> bytes:
    buf = io.BytesIO()
    pq.write_table(table, buf)
    return buf.getvalue()


def test_upload_feedback_and_duplicate(client, services: Services, city: City) -> None:  # type: ignore[no-untyped-def]
    inst = _provider(services, "tax_rating")
    h = auth(client, inst)
    table = city.submissions["tax_rating"]
    body = _parquet(table)
    r = client.post(
        "/api/v1/submissions?item=tax_rating&month=2025-06&filename=tax.parquet",
        content=body,
        headers={**h, "Content-Type": "application/vnd.apache.parquet"},
    )
    assert r.status_code == 201, r.text
    sub = r.json()
    expected_bad = sum(1 for f in city.defects["tax_rating"].column("fixable").to_pylist() if not f)
    assert sub["rows_total"] == table.num_rows and sub["rows_rejected"] == expected_bad
    assert sub["file_format"] == "parquet" and sub["verification_due"] is not None
    fb = client.get(f"/api/v1/submissions/{sub['id']}/feedback", headers=h).json()
    assert len({row["row"] for row in fb}) == expected_bad
    assert {row["reason"] for row in fb} <= {
        "check_character",
        "name_mismatch",
        "invalid_date",
        "enum_value",
        "missing_required",
    }
    r = client.get(f"/api/v1/submissions/{sub['id']}/feedback?format=csv", headers=h)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert len(rows) == len(fb) and rows[0].keys() == {
        "row",
        "provider_record_id",
        "field",
        "reason",
        "detail",
    }

    again = client.post(
        "/api/v1/submissions?item=tax_rating&month=2025-06",
        content=body,
        headers={**h, "Content-Type": "application/octet-stream"},
    )
    assert again.status_code == 200 and again.json()["duplicate"] and again.json()["id"] == sub["id"]

    r = client.post(f"/api/v1/submissions/{sub['id']}/verification", json={"note": "checked"}, headers=h)
    assert r.status_code == 200 and r.json()["verified_at"] is not None
    assert client.post(f"/api/v1/submissions/{sub['id']}/verification", json={}, headers=h).status_code == 409

    mine = client.get("/api/v1/submissions", headers=h).json()
    assert [s["id"] for s in mine] == [sub["id"]]
    other = new_institution(services, "data_provider")
    assert client.get(f"/api/v1/submissions/{sub['id']}", headers=auth(client, other)).status_code == 404
    authority = new_institution(services, "credit_authority")
    assert client.get(f"/api/v1/submissions/{sub['id']}", headers=auth(client, authority)).status_code == 200


def test_structural_errors_are_problems_and_store_nothing(
    client, services: Services, city: City, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    inst = _provider(services, "customs_rating")
    h = auth(client, inst)
    table = city.submissions["customs_rating"].drop_columns(["rating"])
    buf = io.BytesIO()
    pacsv.write_csv(table, buf)
    r = client.post(
        "/api/v1/submissions?item=customs_rating&month=2025-06",
        content=buf.getvalue(),
        headers={**h, "Content-Type": "text/csv"},
    )
    assert r.status_code == 422
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["type"] == "/problems/submission-rejected" and r.json()["missing"] == ["rating"]
    assert client.get("/api/v1/submissions", headers=h).json() == []
    r = client.post("/api/v1/submissions?item=customs_rating&month=2025-06", content=b"", headers=h)
    assert r.status_code == 422


def test_only_the_items_provider_may_upload(client, services: Services, city: City) -> None:  # type: ignore[no-untyped-def]
    _provider(services, "gas_arrears")
    other = new_institution(services, "data_provider")
    r = client.post(
        "/api/v1/submissions?item=gas_arrears&month=2025-06",
        content=_parquet(city.submissions["gas_arrears"]),
        headers=auth(client, other),
    )
    assert r.status_code == 403
    bank = new_institution(services, "bank")
    r = client.post(
        "/api/v1/submissions/nil",
        json={"item_code": "gas_arrears", "month": "2025-06"},
        headers=auth(client, bank),
    )
    assert r.status_code == 403


def test_upload_size_is_limited(client, services: Services, city: City, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    inst = _provider(services, "water_arrears")
    monkeypatch.setattr(services.settings, "max_upload_bytes", 1000)
    r = client.post(
        "/api/v1/submissions?item=water_arrears&month=2025-06",
        content=iter([b"x" * 600, b"y" * 600]),
        headers=auth(client, inst),
    )
    assert r.status_code == 413


def test_nil_report_and_compliance(client, services: Services) -> None:  # type: ignore[no-untyped-def]
    inst = _provider(services, "electricity_arrears")
    h = auth(client, inst)
    r = client.post(
        "/api/v1/submissions/nil", json={"item_code": "electricity_arrears", "month": "2025-05"}, headers=h
    )
    assert r.status_code == 201 and r.json()["kind"] == "nil"
    r = client.get("/api/v1/submissions/compliance?from=2025-04&to=2025-05", headers=h)
    assert r.status_code == 200
    status = {(x["item_code"], x["month"]): x["status"] for x in r.json()}
    assert status[("electricity_arrears", "2025-04")] == "missing"
    assert status[("electricity_arrears", "2025-05")] in ("nil", "late_nil")
    regulator = new_institution(services, "regulator")
    r = client.get(
        f"/api/v1/submissions/compliance?from=2025-04&to=2025-04&provider={inst.org_id}&status=missing",
        headers=auth(client, regulator),
    )
    assert [(x["provider_org_id"], x["item_code"]) for x in r.json()] == [
        (inst.org_id, "electricity_arrears")
    ]
    assert client.get("/api/v1/submissions/overdue", headers=auth(client, regulator)).status_code == 200
