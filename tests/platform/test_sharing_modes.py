"""Government sharing (R§12-15): an agreement with a department is active only once the provider of
every conditional item has approved; then verification answers yes/no only, query returns the agreed
items, batch exchange produces a Parquet export with a manifest and SHA-256 that downloads once; any
use outside the agreement's items, purpose or modes — or by another department — is refused, and
every answer and refusal is audited."""

from __future__ import annotations

import datetime as dt
import hashlib
import io

import pyarrow.parquet as pq
import pytest
from sqlalchemy import select

from fincredit.platform.catalog import get_item
from fincredit.platform.identity.accounts import create_institution_account, generate_key_pair, register_key
from fincredit.platform.sharing.tables import SharingEvent
from fincredit.platform.testing.plugin import Institution, auth, new_institution, unique
from fincredit.platform.testing.seed import load_records, new_enterprise

PURPOSE = "税收征管协查"
NOW = dt.datetime.now(dt.UTC)


@pytest.fixture(autouse=True)
def _no_push_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FINCREDIT_PUSH_WORKER", "0")


def _account_in(services, org_id: str) -> Institution:  # type: ignore[no-untyped-def]
    private_pem, public_pem = generate_key_pair()
    with services.tx() as session:
        account = create_institution_account(
            session,
            services.authz,
            org_id=org_id,
            username=unique("user"),
            real_name="审批员",
            stated_use="tests",
        )
        key = register_key(session, account.id, public_pem)
        return Institution(org_id, account.id, key.kid, private_pem)


def _agreement(client, operator_h, department: str, modes: list[str], region: str) -> dict:  # type: ignore[no-untyped-def, type-arg]
    body = {
        "department_org_id": department,
        "items": ["tax_rating", "admin_penalty"],
        "purpose": PURPOSE,
        "modes": modes,
        "population": {"subject_kind": "legal", "region_prefix": region},
        "valid_from": (NOW - dt.timedelta(days=1)).isoformat(),
        "valid_until": (NOW + dt.timedelta(days=365)).isoformat(),
    }
    r = client.post("/api/v1/gov-sharing/agreements", headers=operator_h, json=body)
    assert r.status_code == 201, r.text
    return dict(r.json())


def test_three_modes_under_an_approved_agreement_and_refusals_outside_it(client, services) -> None:  # type: ignore[no-untyped-def]
    region = "330206"
    ident, sid = new_enterprise(services, region=region)
    load_records(
        services,
        "tax_rating",
        ident,
        [{"provider_record_id": f"T-{sid}", "rating_year": 2025, "rating": "B", "rated_date": "2025-04-01"}],
    )
    operator_h = auth(client, new_institution(services, "platform_operator"))
    dept = new_institution(services, "data_provider")
    h = auth(client, dept)
    agreement = _agreement(client, operator_h, dept.org_id, ["verification", "query", "batch"], region)
    assert agreement["active"] is False and [p["item"] for p in agreement["pending_approvals"]] == [
        "tax_rating"
    ]
    ask = {"agreement_id": agreement["id"], "purpose": PURPOSE, "identifier": ident, "item": "tax_rating"}
    early = client.post("/api/v1/gov-sharing/verify", headers=h, json=ask)
    assert early.status_code == 403 and early.json()["reason"] == "awaiting_provider_approval"

    with services.read() as session:
        tax_provider = get_item(session, "tax_rating").provider_org_id
    stranger_h = auth(client, new_institution(services, "data_provider"))
    approval = {"item": "tax_rating", "note": "同意按协议共享"}
    url = f"/api/v1/gov-sharing/agreements/{agreement['id']}/approvals"
    assert client.post(url, headers=stranger_h, json=approval).status_code == 403  # not the item's provider
    approved = client.post(url, headers=auth(client, _account_in(services, tax_provider)), json=approval)
    assert approved.status_code == 201 and approved.json()["active"] is True

    yes = client.post("/api/v1/gov-sharing/verify", headers=h, json=ask).json()
    assert yes["answer"] is True and set(yes) == {"agreement_id", "item", "field", "answer"}
    wrong_value = client.post(
        "/api/v1/gov-sharing/verify", headers=h, json={**ask, "field": "rating", "value": "A"}
    )
    right_value = client.post(
        "/api/v1/gov-sharing/verify", headers=h, json={**ask, "field": "rating", "value": "B"}
    )
    assert (wrong_value.json()["answer"], right_value.json()["answer"]) == (False, True)
    assert (
        client.post("/api/v1/gov-sharing/verify", headers=h, json={**ask, "item": "admin_penalty"}).json()[
            "answer"
        ]
        is False
    )

    got = client.post(
        "/api/v1/gov-sharing/query",
        headers=h,
        json={"agreement_id": agreement["id"], "purpose": PURPOSE, "identifier": ident},
    ).json()
    assert [(r["item"], r["fields"]["rating"]) for r in got["records"]] == [("tax_rating", "B")]

    refusals = {
        "item_not_agreed": (
            "/api/v1/gov-sharing/query",
            {
                "agreement_id": agreement["id"],
                "purpose": PURPOSE,
                "identifier": ident,
                "items": ["court_judgment"],
            },
        ),
        "purpose_not_agreed": ("/api/v1/gov-sharing/verify", {**ask, "purpose": "招商引资"}),
    }
    for reason, (path, body) in refusals.items():
        r = client.post(path, headers=h, json=body)
        assert r.status_code == 403 and r.json()["reason"] == reason, r.text
    other = client.post("/api/v1/gov-sharing/verify", headers=stranger_h, json=ask)
    assert other.status_code == 403 and other.json()["reason"] == "no_agreement"
    narrow = _agreement(client, operator_h, dept.org_id, ["verification"], region)
    client.post(
        f"/api/v1/gov-sharing/agreements/{narrow['id']}/approvals",
        headers=auth(client, _account_in(services, tax_provider)),
        json=approval,
    )
    no_batch = client.post(
        "/api/v1/gov-sharing/jobs", headers=h, json={"agreement_id": narrow["id"], "purpose": PURPOSE}
    )
    assert no_batch.status_code == 403 and no_batch.json()["reason"] == "mode_not_agreed"

    job = client.post(
        "/api/v1/gov-sharing/jobs", headers=h, json={"agreement_id": agreement["id"], "purpose": PURPOSE}
    )
    assert job.status_code == 201, job.text
    manifest = job.json()["manifest"]
    assert manifest["items"] == ["admin_penalty", "tax_rating"] and manifest["purpose"] == PURPOSE
    download = client.get(f"/api/v1/gov-sharing/jobs/{job.json()['id']}/download", headers=h)
    assert download.status_code == 200
    assert (
        hashlib.sha256(download.content).hexdigest()
        == manifest["sha256"]
        == download.headers["X-Content-SHA256"]
    )
    table = pq.read_table(io.BytesIO(download.content))
    assert table.num_rows == manifest["rows"] and set(table.column("item").to_pylist()) <= {
        "tax_rating",
        "admin_penalty",
    }
    assert ident in table.column("subject_identifier").to_pylist()
    assert all(r.startswith(region) for r in table.column("region").to_pylist())
    again = client.get(f"/api/v1/gov-sharing/jobs/{job.json()['id']}/download", headers=h)
    assert again.status_code == 410

    with services.read() as session:
        events = session.scalars(
            select(SharingEvent).where(SharingEvent.department_org_id == dept.org_id)
        ).all()
    outcomes = [(e.mode, e.outcome) for e in events]
    assert ("verification", "refused") in outcomes and ("query", "answered") in outcomes
    assert ("batch", "answered") in outcomes and ("batch", "refused") in outcomes
    assert all(e.payload_sha256 for e in events if e.outcome == "answered")
