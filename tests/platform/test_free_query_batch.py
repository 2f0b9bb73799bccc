"""Concurrent information queries are answered together, in one transaction (group commit), yet each is
answered exactly as if it had come alone: its own payload, its own ledger entry, its own refusal or
error; a ONETIME consent serves the first of two queries in the same batch and refuses the second; and a
caller whose token the route remembers is re-checked in the transaction that discloses, so a revoked
key or disabled account stops the very next query."""

from __future__ import annotations

import concurrent.futures
import datetime as dt
import random

import pytest

from fincredit.consent import FetchType
from fincredit.consent.identifiers import generate_uscc
from fincredit.platform.consents.tables import Consent, LedgerEntryRow
from fincredit.platform.core.db import Account
from fincredit.platform.core.errors import ConsentRefused, InvalidIdentifier, NotFound, Unauthenticated
from fincredit.platform.free import ItemRequest, QueryRequest, digest, run_queries
from fincredit.platform.free.errors import UnknownItem
from fincredit.platform.identity.accounts import revoke_key
from fincredit.platform.identity.principal import Principal
from fincredit.platform.objections.tables import RecordDisclosure
from fincredit.platform.testing.plugin import auth, new_institution
from fincredit.platform.testing.seed import grant_consent, load_records, new_enterprise

TAX = (ItemRequest("tax_rating"),)


@pytest.fixture(autouse=True)
def _no_push_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FINCREDIT_PUSH_WORKER", "0")


def _principal(inst) -> Principal:  # type: ignore[no-untyped-def]
    return Principal(inst.account_id, "institution", inst.org_id, "bank", inst.org_id)


def _rated(services, rating: str) -> tuple[str, int]:  # type: ignore[no-untyped-def]
    ident, sid = new_enterprise(services)
    load_records(
        services,
        "tax_rating",
        ident,
        [
            {
                "provider_record_id": f"T-{sid}",
                "rating_year": 2025,
                "rating": rating,
                "rated_date": "2025-04-01",
            }
        ],
    )
    return ident, sid


def test_a_batch_answers_each_query_as_if_it_came_alone(services) -> None:  # type: ignore[no-untyped-def]
    bank, other = new_institution(services, "bank"), new_institution(services, "bank")
    a, a_id = _rated(services, "A")
    b, b_id = _rated(services, "B")
    once, once_id = _rated(services, "C")
    consent_a = grant_consent(services, a_id, bank.org_id)
    consent_b = grant_consent(services, b_id, bank.org_id)
    consent_once = grant_consent(services, once_id, bank.org_id, fetch=FetchType.ONETIME)
    unregistered = generate_uscc(random.Random(7), "330203")
    asks = [
        QueryRequest(_principal(bank), a, TAX),
        QueryRequest(_principal(other), b, TAX),  # no consent for this bank
        QueryRequest(_principal(bank), b, (ItemRequest("no_such_item"),)),
        QueryRequest(_principal(bank), "91330200XXXXXXXXXX", TAX),
        QueryRequest(_principal(bank), unregistered, TAX),
        QueryRequest(_principal(bank), once, TAX),
        QueryRequest(_principal(bank), once, TAX),  # the same ONETIME consent, same batch
        QueryRequest(_principal(bank), b, TAX),
    ]
    with services.tx() as session:
        answers = run_queries(session, services, asks)
    ok_a, refused, unknown_item, bad_id, missing, first, second, ok_b = answers
    assert isinstance(unknown_item, UnknownItem)
    assert isinstance(bad_id, InvalidIdentifier)
    assert isinstance(missing, NotFound)
    assert isinstance(refused, ConsentRefused) and refused.extensions["reason"] == "no_consent"
    assert isinstance(second, ConsentRefused) and second.extensions["reason"] == "exhausted"
    for answer, rating in ((ok_a, "A"), (first, "C"), (ok_b, "B")):
        assert isinstance(answer, dict)
        assert answer["items"][0]["records"][0]["fields"]["rating"] == rating
    with services.read() as session:
        for answer in (ok_a, first, ok_b):
            assert isinstance(answer, dict)
            sent = {
                k: v for k, v in answer.items() if k not in ("payload_sha256", "ledger_seq", "subject_id")
            }
            entry = session.get(LedgerEntryRow, answer["ledger_seq"])
            assert entry is not None and entry.type == "disclosure"
            assert entry.payload_sha256 == answer["payload_sha256"] == digest(sent)
        for answer in (refused, second):
            assert isinstance(answer, ConsentRefused)
            entry = session.get(LedgerEntryRow, answer.extensions["ledger_seq"])
            assert entry is not None and entry.type == "refusal"
        shown = session.query(RecordDisclosure).filter(RecordDisclosure.org_id == bank.org_id).count()
        assert shown == 3  # the records of the three answered queries, nothing for the others
        # Each answered query counted one use of its consent; the ONETIME one is used up.
        uses = {c: session.get(Consent, c) for c in (consent_a, consent_b, consent_once)}
        assert {c: (row.use_count, row.period_uses, row.state) for c, row in uses.items() if row} == {
            consent_a: (1, 1, "ACTIVE"),
            consent_b: (1, 1, "ACTIVE"),
            consent_once: (1, 0, "EXHAUSTED"),
        }
        assert all(row is not None and row.last_used_at is not None for row in uses.values())
    seqs = [ok_a["ledger_seq"], first["ledger_seq"], ok_b["ledger_seq"]]  # type: ignore[index]
    assert len(set(seqs)) == 3


def test_concurrent_queries_over_http_each_get_their_own_subject(client, services) -> None:  # type: ignore[no-untyped-def]
    bank = new_institution(services, "bank")
    subjects = [_rated(services, "ABMCD"[k % 5]) for k in range(12)]
    for _, sid in subjects:
        grant_consent(services, sid, bank.org_id)
    h = auth(client, bank)

    def ask(k: int) -> tuple[int, str]:
        ident = subjects[k][0]
        r = client.post(
            "/api/v1/free/query", headers=h, json={"identifier": ident, "items": [{"code": "tax_rating"}]}
        )
        assert r.status_code == 200, r.text
        return r.json()["ledger_seq"], r.json()["items"][0]["records"][0]["fields"]["rating"]

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        got = list(pool.map(ask, range(len(subjects))))
    assert [rating for _, rating in got] == ["ABMCD"[k % 5] for k in range(len(subjects))]
    assert len({seq for seq, _ in got}) == len(subjects)


def test_a_revoked_key_or_disabled_account_stops_the_next_query(client, services) -> None:  # type: ignore[no-untyped-def]
    ident, sid = _rated(services, "A")
    body = {"identifier": ident, "items": [{"code": "tax_rating"}]}
    for stop in ("key", "account"):
        bank = new_institution(services, "bank")
        grant_consent(services, sid, bank.org_id)
        h = auth(client, bank)
        assert client.post("/api/v1/free/query", headers=h, json=body).status_code == 200  # token remembered
        with services.tx() as session:
            if stop == "key":
                revoke_key(session, bank.account_id, bank.kid, "compromised")
            else:
                account = session.get(Account, bank.account_id)
                assert account is not None
                account.active = False
        r = client.post("/api/v1/free/query", headers=h, json=body)
        assert r.status_code == 401, (stop, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")


def test_the_gate_check_happens_in_the_disclosing_transaction(services) -> None:  # type: ignore[no-untyped-def]
    bank = new_institution(services, "bank")
    ident, sid = _rated(services, "B")
    grant_consent(services, sid, bank.org_id)
    with services.tx() as session:
        revoke_key(session, bank.account_id, bank.kid, "compromised")
    with services.tx() as session:
        (answer,) = run_queries(
            session,
            services,
            [QueryRequest(_principal(bank), ident, TAX, caller=(bank.account_id, bank.kid))],
        )
        (alone,) = run_queries(
            session, services, [QueryRequest(_principal(bank), ident, TAX, caller=(bank.account_id, None))]
        )
    assert isinstance(answer, Unauthenticated)
    assert isinstance(alone, dict)  # the account itself is still active
    assert dt.date.fromisoformat(alone["as_of"]) <= dt.date.today()


def test_an_app_served_without_its_lifespan_still_answers_queries(services) -> None:  # type: ignore[no-untyped-def]
    from fastapi.testclient import TestClient

    from fincredit.platform.core.app import create_app

    bank = new_institution(services, "bank")
    ident, sid = _rated(services, "M")
    grant_consent(services, sid, bank.org_id)
    client = TestClient(create_app(services=services))  # no ``with``: the lifespan never runs
    r = client.post(
        "/api/v1/free/query",
        headers=auth(client, bank),
        json={"identifier": ident, "items": [{"code": "tax_rating"}]},
    )
    assert r.status_code == 200, r.text
    assert r.json()["items"][0]["records"][0]["fields"]["rating"] == "M"


def test_a_natural_person_is_answered_with_name_and_identifier_masked(services) -> None:  # type: ignore[no-untyped-def]
    from fincredit.consent.identifiers import generate_resident_id
    from fincredit.platform.catalog import default_catalog
    from fincredit.platform.subjects import register_subject

    conduct = default_catalog().item("dishonest_debtor").field("conduct").enum or ()

    ident = generate_resident_id(random.Random(), "330203")
    with services.tx() as session:
        sid = register_subject(session, services.keyring, ident, "张小明").id
    load_records(
        services,
        "dishonest_debtor_person",
        ident,
        [
            {
                "provider_record_id": f"D-{sid}",
                "case_no": "(2025)浙0203执123号",
                "listed_date": "2025-06-01",
                "conduct": conduct[0],
                "unperformed_amount": 12000,
            }
        ],
    )
    bank = new_institution(services, "bank")
    grant_consent(services, sid, bank.org_id, scopes=["court.dishonest_debtor"])
    with services.tx() as session:
        (answer,) = run_queries(
            session,
            services,
            [QueryRequest(_principal(bank), ident, (ItemRequest("dishonest_debtor_person"),))],
        )
    assert isinstance(answer, dict), answer
    assert answer["subject"]["name"] == "张**" and ident not in answer["subject"]["identifier"]
    assert answer["items"][0]["records"][0]["fields"]["case_no"] == "(2025)浙0203执123号"


def test_a_query_is_audited_once_with_its_status_in_its_own_transaction(client, services) -> None:  # type: ignore[no-untyped-def]
    from fincredit.platform.core.db import AuditEvent

    bank = new_institution(services, "bank")
    ident, sid = _rated(services, "A")
    other, _ = _rated(services, "B")  # no consent for this one
    grant_consent(services, sid, bank.org_id)
    h = auth(client, bank)
    results = []
    for who in (ident, other, "91330200XXXXXXXXXX"):
        r = client.post(
            "/api/v1/free/query", headers=h, json={"identifier": who, "items": [{"code": "tax_rating"}]}
        )
        results.append((r.status_code, r.headers["x-request-id"]))
    assert [s for s, _ in results] == [200, 403, 422]
    with services.read() as session:
        for (status, rid), subject_ref in zip(results, [str(sid), None, None], strict=True):
            rows = session.query(AuditEvent).filter(AuditEvent.request_id == rid).all()
            assert [(r.status, r.subject_ref, r.route, r.org_id) for r in rows] == [
                (status, subject_ref, "/api/v1/free/query", bank.org_id)
            ]
