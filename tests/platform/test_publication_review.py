"""Publication (R§17): a department drafts, submits, and another of its accounts approves before the
public sees anything — the drafter cannot approve their own; secret or private content (sensitive
catalog fields or items, resident identity numbers) is refused; a lateness report per due date."""

from __future__ import annotations

import datetime as dt
import random

from fincredit.consent.identifiers import generate_resident_id
from fincredit.platform.identity.accounts import create_institution_account, generate_key_pair, register_key
from fincredit.platform.publication import late_report
from fincredit.platform.publication.tables import Publication
from fincredit.platform.testing.plugin import Institution, auth, new_institution, unique


def _second_account(services, inst: Institution) -> Institution:  # type: ignore[no-untyped-def]
    private_pem, public_pem = generate_key_pair()
    with services.tx() as session:
        account = create_institution_account(
            session,
            services.authz,
            org_id=inst.org_id,
            username=unique("reviewer"),
            real_name="复核员",
            stated_use="publication review",
        )
        key = register_key(session, account.id, public_pem)
        return Institution(inst.org_id, account.id, key.kid, private_pem)


BLACKLIST = {
    "kind": "blacklist",
    "period": "2026-10",
    "title": "严重失信主体名单（2026年10月）",
    "content": {
        "item": "dishonest_debtor",
        "fields": {"entity_name": "宁波某某贸易有限公司", "case_number": "(2026)浙0203执123号"},
        "text": "经法院认定为失信被执行人。",
    },
}


def test_second_account_approves_before_anything_is_public(services, client) -> None:  # type: ignore[no-untyped-def]
    drafter = new_institution(services, "data_provider")
    reviewer = _second_account(services, drafter)
    dh, rh = auth(client, drafter), auth(client, reviewer)
    r = client.post("/api/v1/publications", headers=dh, json={**BLACKLIST, "title": unique("失信名单")})
    assert r.status_code == 201, r.text
    pub = r.json()
    assert pub["status"] == "draft"
    public_ids = lambda: [p["id"] for p in client.get("/public/publications?period=2026-10").json()]  # noqa: E731
    assert pub["id"] not in public_ids()
    too_early = client.post(f"/api/v1/publications/{pub['id']}/review", headers=rh, json={"approve": True})
    assert too_early.status_code == 409
    assert client.post(f"/api/v1/publications/{pub['id']}/submit", headers=dh).status_code == 200
    own = client.post(f"/api/v1/publications/{pub['id']}/review", headers=dh, json={"approve": True})
    assert own.status_code == 403 and own.json()["type"].endswith("publication-self-approval")
    outsider = new_institution(services, "data_provider")
    assert (
        client.post(
            f"/api/v1/publications/{pub['id']}/review", headers=auth(client, outsider), json={"approve": True}
        ).status_code
        == 404
    )
    assert pub["id"] not in public_ids()
    ok = client.post(
        f"/api/v1/publications/{pub['id']}/review", headers=rh, json={"approve": True, "note": "核实无误"}
    )
    assert ok.status_code == 200, ok.text
    assert ok.json()["status"] == "published" and ok.json()["reviewed_by"] == reviewer.account_id
    assert pub["id"] in public_ids()


def test_secret_or_private_fields_are_refused(services, client) -> None:  # type: ignore[no-untyped-def]
    drafter = new_institution(services, "data_provider")
    dh = auth(client, drafter)
    rid = generate_resident_id(random.Random(7))
    private_field = {
        **BLACKLIST,
        "content": {"item": "market_registration", "fields": {"legal_rep_name": "王五", "legal_rep_id": rid}},
    }
    r = client.post("/api/v1/publications", headers=dh, json=private_field)
    assert r.status_code == 422 and r.json()["type"].endswith("publication-privacy-refused")
    assert r.json()["fields"] == ["field:legal_rep_id", "resident_id_number"]
    in_text = {**BLACKLIST, "content": {"text": f"当事人身份证号{rid}，已列入名单"}}
    r = client.post("/api/v1/publications", headers=dh, json=in_text)
    assert r.status_code == 422 and r.json()["fields"] == ["resident_id_number"]


def test_lateness_report_against_the_tenth_of_the_next_month(services) -> None:  # type: ignore[no-untyped-def]
    on_time, late, silent = (new_institution(services, "data_provider") for _ in range(3))
    period = "2026-08"  # due 2026-09-10
    with services.tx() as session:
        for inst, day in (
            (on_time, dt.datetime(2026, 9, 9, 2, tzinfo=dt.UTC)),
            (late, dt.datetime(2026, 9, 14, 2, tzinfo=dt.UTC)),
        ):
            session.add(
                Publication(
                    id=unique("pub"),
                    org_id=inst.org_id,
                    kind="typical_case",
                    period=period,
                    title="典型案例",
                    content={"text": "案例"},
                    status="published",
                    drafted_by="a",
                    reviewed_by="b",
                    published_at=day,
                )
            )
    with services.read() as session:
        report = late_report(session, period, today=dt.date(2026, 9, 20))
        before_due = late_report(session, period, today=dt.date(2026, 9, 5))
    assert report["due_on"] == dt.date(2026, 9, 10)
    status = {r["department"]: r["status"] for r in report["departments"]}
    assert (status[on_time.org_id], status[late.org_id], status[silent.org_id]) == (
        "on_time",
        "late",
        "overdue",
    )
    assert (
        late.org_id in report["late"]
        and silent.org_id in report["late"]
        and on_time.org_id not in report["late"]
    )
    assert {r["department"]: r["status"] for r in before_due["departments"]}[silent.org_id] == "pending"
