"""Information query and every other free disclosure route pass the consent ledger's one gate: the
consent matrix (no consent, wrong purpose, wrong scope, revoked, expired, exhausted, credit authority)
holds for each of them, an allowed access is a ledger disclosure carrying the payload digest and a
refused one a ledger refusal. The query returns only what was asked and covered, marks public items,
flags records under objection and never shows expired records or sensitive fields."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from fincredit.consent import ConsentEvent, FetchType
from fincredit.platform.catalog import get_item
from fincredit.platform.consents import record_event
from fincredit.platform.consents.tables import LedgerEntryRow
from fincredit.platform.free import digest
from fincredit.platform.ingestion.tables import CreditRecord
from fincredit.platform.objections import file_objection
from fincredit.platform.testing.plugin import auth, new_institution
from fincredit.platform.testing.seed import grant_consent, load_records, new_enterprise

TODAY = dt.date.today()


@pytest.fixture(autouse=True)
def _no_push_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FINCREDIT_PUSH_WORKER", "0")


@dataclass(frozen=True)
class Route:
    name: str
    path: str
    purpose: str
    modes: tuple[str, ...]
    body: Callable[[str], dict[str, Any]]


ROUTES = [
    Route(
        "query",
        "/api/v1/free/query",
        "loan_application_assessment",
        ("query", "report"),
        lambda ident: {"identifier": ident, "items": [{"code": "tax_rating"}]},
    ),
    Route(
        "report",
        "/api/v1/free/reports",
        "credit_report",
        ("report",),
        lambda ident: {"identifier": ident, "format": "json", "items": [{"code": "tax_rating"}]},
    ),
    Route(
        "push",
        "/api/v1/free/push/subscriptions",
        "post_loan_monitoring",
        ("query", "push_subscription"),
        lambda ident: {"identifier": ident, "items": ["tax_rating"]},
    ),
]
CASES = [
    "allowed",
    "no_consent",
    "wrong_purpose",
    "wrong_scope",
    "revoked",
    "expired",
    "exhausted",
    "authority",
]
EXPECTED_REASON = {
    "no_consent": "no_consent",
    "wrong_purpose": "wrong_purpose",
    "wrong_scope": "scope_not_covered",
    "revoked": "revoked",
    "expired": "expired",
    "exhausted": "exhausted",
}


def _entry(services, seq: int) -> LedgerEntryRow:  # type: ignore[no-untyped-def]
    with services.read() as session:
        row = session.get(LedgerEntryRow, seq)
        assert row is not None
        return row


def _revoke(services, consent_id: str) -> None:  # type: ignore[no-untyped-def]
    with services.tx() as session:
        record_event(session, services, consent_id=consent_id, event=ConsentEvent.REVOKE, actor="test")


def _ok(route: Route, r: Any) -> dict[str, Any]:
    assert r.status_code in (200, 201), r.text
    return dict(r.json())


# Each kind of access has its own ledger entry type.
ENTRY = {"query": "disclosure", "report": "report_issued", "push": "push_disclosure"}


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("route", ROUTES, ids=lambda r: r.name)
def test_consent_matrix_for_every_disclosure_route(client, services, route: Route, case: str) -> None:  # type: ignore[no-untyped-def]
    if case == "authority" and route.name == "push":
        pytest.skip("push subscriptions are a bank service; the credit authority queries and reports")
    ident, sid = new_enterprise(services)
    load_records(
        services,
        "tax_rating",
        ident,
        [{"provider_record_id": f"T-{sid}", "rating_year": 2025, "rating": "A", "rated_date": "2025-04-01"}],
    )
    inst = new_institution(services, "credit_authority" if case == "authority" else "bank")
    h = auth(client, inst)
    scopes = ["tax_rating"] if case != "wrong_scope" else ["admin_penalty"]
    purpose = route.purpose if case != "wrong_purpose" else "joint_modelling"
    modes = route.modes if case != "wrong_purpose" else ("model_training",)
    cid = None
    if case not in ("no_consent", "authority"):
        cid = grant_consent(
            services,
            sid,
            inst.org_id,
            purpose=purpose,
            scopes=scopes,
            modes=modes,
            fetch=FetchType.ONETIME if case == "exhausted" else FetchType.PERIODIC,
            valid_until=dt.datetime.now(dt.UTC) - dt.timedelta(hours=1) if case == "expired" else None,
        )
    if case == "revoked":
        _revoke(services, cid)  # type: ignore[arg-type]
    if case == "exhausted":
        _ok(route, client.post(route.path, headers=h, json=route.body(ident)))  # the one use
    r = client.post(route.path, headers=h, json=route.body(ident))
    if case in ("allowed", "authority"):
        body = _ok(route, r)
        with services.read() as session:
            seqs = (
                session.query(LedgerEntryRow)
                .filter(LedgerEntryRow.grantee_org_id == inst.org_id)
                .filter(LedgerEntryRow.type == ENTRY[route.name])
                .all()
            )
        assert len(seqs) == 1
        entry = seqs[0]
        assert entry.consent_id == cid and entry.route.startswith("/api/v1/free/")  # type: ignore[union-attr]
        if route.name == "query":
            assert entry.seq == body["ledger_seq"] and entry.payload_sha256 == body["payload_sha256"]
            assert body["basis"] == ("credit_authority" if case == "authority" else "consent")
        if route.name == "report":
            assert entry.payload_sha256 == body["content_sha256"]
        return
    assert r.status_code == 403, r.text
    problem = r.json()
    assert problem["type"].endswith("consent-refused") and problem["reason"] == EXPECTED_REASON[case]
    refusal = _entry(services, problem["ledger_seq"])
    assert (
        refusal.type == "refusal" and refusal.grantee_org_id == inst.org_id and refusal.payload_sha256 is None
    )


def test_query_returns_covered_fields_marks_public_items_and_flags_objections(client, services) -> None:  # type: ignore[no-untyped-def]
    ident, sid = new_enterprise(services)
    with services.read() as session:
        years = get_item(session, "tax_rating").validity_years or 3  # other tests may have changed it
    old = (TODAY - dt.timedelta(days=366 * (years + 1))).isoformat()  # past its validity: expired
    load_records(
        services,
        "tax_rating",
        ident,
        [
            {
                "provider_record_id": f"T1-{sid}",
                "rating_year": 2025,
                "rating": "B",
                "rated_date": "2025-04-01",
            },
            {"provider_record_id": f"T0-{sid}", "rating_year": 2021, "rating": "D", "rated_date": old},
        ],
    )
    load_records(
        services,
        "admin_penalty",
        ident,
        [
            {
                "provider_record_id": f"P-{sid}",
                "decision_no": "甬市监罚〔2025〕12号",
                "penalty_date": "2025-03-01",
                "penalty_type": "罚款",
                "fine_amount": 5000,
                "violation": "虚假宣传",
                "authority": "宁波市市场监督管理局",
            }
        ],
    )
    with services.read() as session:
        penalty = session.query(CreditRecord).filter_by(subject_id=sid, item_code="admin_penalty").one()
    with services.tx() as session:
        file_objection(session, subject_id=sid, record_id=penalty.id, reason="已整改", filed_by="acc_test")
    bank = new_institution(services, "bank")
    grant_consent(services, sid, bank.org_id, scopes=["tax_rating.rating"])
    h = auth(client, bank)
    body = {
        "identifier": ident,
        "items": [{"code": "tax_rating", "fields": ["rating"]}, {"code": "admin_penalty"}],
    }
    r = client.post("/api/v1/free/query", headers=h, json=body)
    out = r.json()
    assert r.status_code == 200, out
    tax, pen = out["items"]
    assert (tax["public"], pen["public"]) == (False, True)
    assert [rec["fields"] for rec in tax["records"]] == [{"rating": "B"}]  # expired D not shown
    assert (
        pen["records"][0]["under_objection"] and pen["records"][0]["objection"]["status"] == "platform_review"
    )
    assert out["subject"]["identifier"] != ident and "*" in out["subject"]["identifier"]
    sent = {k: v for k, v in out.items() if k not in ("payload_sha256", "ledger_seq")}
    assert digest(sent) == out["payload_sha256"] == _entry(services, out["ledger_seq"]).payload_sha256
    # The whole item needs a consent for the whole item: one field's consent does not cover it.
    wider = client.post(
        "/api/v1/free/query", headers=h, json={"identifier": ident, "items": [{"code": "tax_rating"}]}
    )
    assert wider.status_code == 403 and wider.json()["reason"] == "scope_not_covered"


def test_unknown_items_and_sensitive_fields_are_refused(client, services) -> None:  # type: ignore[no-untyped-def]
    ident, sid = new_enterprise(services)
    bank = new_institution(services, "bank")
    grant_consent(services, sid, bank.org_id, scopes=["market_registration"])
    h = auth(client, bank)
    r = client.post("/api/v1/free/query", headers=h, json={"identifier": ident, "items": [{"code": "nope"}]})
    assert r.status_code == 422 and r.json()["type"].endswith("unknown-catalog-item")
    sensitive = {"identifier": ident, "items": [{"code": "market_registration", "fields": ["legal_rep_id"]}]}
    assert client.post("/api/v1/free/query", headers=h, json=sensitive).status_code == 422
