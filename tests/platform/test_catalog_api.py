"""The catalog (R§6, G§7) over HTTP: seeded once from the default catalog file, readable by every
institution, edited only by the operator, and every edit — the sharing list included — is a new version."""

from __future__ import annotations

from sqlalchemy import func, select

from fincredit.platform.catalog import default_catalog, ensure_catalog, list_versions
from fincredit.platform.catalog.tables import CatalogItem, CatalogVersion
from fincredit.platform.core.services import Services
from fincredit.platform.testing.plugin import auth, new_institution


def test_the_default_catalog_is_seeded_once(services: Services) -> None:
    ensure_catalog(services.sessions)
    ensure_catalog(services.sessions)
    with services.read() as session:
        first = list_versions(session)[0]
        assert first.number == 1
        codes = set(session.scalars(select(CatalogItem.code).where(CatalogItem.version_id == first.id)))
        assert codes == {i.code for i in default_catalog().items}
        assert (
            session.scalar(select(func.count()).select_from(CatalogVersion).where(CatalogVersion.number == 1))
            == 1
        )


def test_any_institution_reads_the_catalog(client, services: Services) -> None:  # type: ignore[no-untyped-def]
    bank = new_institution(services, "bank")
    r = client.get("/api/v1/catalog", headers=auth(client, bank))
    assert r.status_code == 200, r.text
    items = {i["code"]: i for i in r.json()["items"]}
    penalty = items["admin_penalty"]
    assert penalty["negative"] and penalty["validity_years"] == 5 and penalty["disclosure"] == "public"
    assert {f["name"] for f in penalty["fields"]} >= {"decision_no", "penalty_date", "penalty_type"}
    r = client.get("/api/v1/catalog/items/tax_rating?version=1", headers=auth(client, bank))
    assert r.status_code == 200 and r.json()["catalog_version"] == 1
    assert client.get("/api/v1/catalog/items/nope", headers=auth(client, bank)).status_code == 404


def test_only_the_operator_edits_and_each_edit_is_a_new_version(client, services: Services) -> None:  # type: ignore[no-untyped-def]
    bank = new_institution(services, "bank")
    op = new_institution(services, "platform_operator")
    catalog = client.get("/api/v1/catalog", headers=auth(client, op)).json()
    before = catalog["version"]["number"]
    was = {i["code"]: i for i in catalog["items"]}["tax_rating"]["validity_years"]
    refused = client.patch(
        "/api/v1/catalog/items/tax_rating", json={"validity_years": 4}, headers=auth(client, bank)
    )
    assert refused.status_code == 403
    r = client.patch(
        "/api/v1/catalog/items/tax_rating",
        json={"validity_years": 7, "note": "policy"},
        headers=auth(client, op),
    )
    assert r.status_code == 200, r.text
    assert r.json()["validity_years"] == 7 and r.json()["catalog_version"] == before + 1
    old = client.get(f"/api/v1/catalog/items/tax_rating?version={before}", headers=auth(client, op)).json()
    assert old["validity_years"] == was
    versions = client.get("/api/v1/catalog/versions", headers=auth(client, op)).json()
    assert versions[-1]["note"] == "policy"


def test_the_sharing_list_is_adjusted_over_time(client, services: Services) -> None:  # type: ignore[no-untyped-def]
    op = new_institution(services, "platform_operator")
    h = auth(client, op)
    r = client.put(
        "/api/v1/catalog/sharing-list", json={"remove": ["award_honour"], "note": "G§7 review"}, headers=h
    )
    assert r.status_code == 200, r.text
    off = {i["code"]: i["on_sharing_list"] for i in r.json()["items"]}
    assert off["award_honour"] is False
    r = client.put("/api/v1/catalog/sharing-list", json={"add": ["award_honour"]}, headers=h)
    assert {i["code"]: i["on_sharing_list"] for i in r.json()["items"]}["award_honour"] is True


def test_new_negative_items_get_five_years_and_bad_items_are_refused(client, services: Services) -> None:  # type: ignore[no-untyped-def]
    op = new_institution(services, "platform_operator")
    provider = new_institution(services, "data_provider")
    h = auth(client, op)
    item = {
        "code": f"fire_safety_{provider.org_id[-6:]}",
        "name": "消防安全违法信息",
        "provider_org_id": provider.org_id,
        "subject_kind": "legal",
        "fields": [
            {"name": "decision_no", "type": "string", "title": "决定书文号"},
            {"name": "decided_on", "type": "date32", "title": "决定日期"},
        ],
        "event_date_field": "decided_on",
        "negative": True,
    }
    r = client.post("/api/v1/catalog/items", json=item, headers=h)
    assert r.status_code == 201, r.text
    assert r.json()["validity_years"] == 5
    bad = {**item, "code": item["code"] + "_x", "event_date_field": "decision_no"}
    r = client.post("/api/v1/catalog/items", json=bad, headers=h)
    assert r.status_code == 422 and r.json()["type"] == "/problems/catalog-invalid"
    r = client.patch("/api/v1/catalog/items/tax_rating", json={"provider_org_id": "no-such-org"}, headers=h)
    assert r.status_code == 422
