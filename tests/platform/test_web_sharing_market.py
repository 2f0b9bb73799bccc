"""Government-sharing agreements and market-data contracts as pages. The operator writes an agreement in a
form; the provider of its conditional item approves it with one click and the agreement is in force; the
department, the provider and the regulator read it in words, another provider does not see it. The
operator registers a vendor's contract in a form; the vendor reads its contracts, the versions it
delivered and how the platform used them, and never another vendor's."""

from __future__ import annotations

import datetime as dt
import io
import uuid

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from fincredit.platform.catalog import change_catalog
from fincredit.platform.testing.plugin import auth, new_institution, staff_web_login, with_web_password
from fincredit.platform.testing.seed import new_enterprise

PASSWORD = "staff-pass-2026"


@pytest.fixture(autouse=True)
def _no_push_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FINCREDIT_PUSH_WORKER", "0")


def _as(client, services, inst) -> None:  # type: ignore[no-untyped-def]
    client.cookies.clear()
    assert (
        staff_web_login(client, services, with_web_password(services, inst, PASSWORD), PASSWORD).status_code
        == 303
    )


def test_the_operator_writes_an_agreement_and_the_provider_approves_it(client, services) -> None:  # type: ignore[no-untyped-def]
    operator = new_institution(services, "platform_operator")
    department = new_institution(services, "data_provider")
    tax = new_institution(services, "data_provider")
    stranger = new_institution(services, "data_provider")
    regulator = new_institution(services, "regulator")
    with services.tx() as session:
        change_catalog(
            session, changes={"tax_rating": {"provider_org_id": tax.org_id}}, created_by=None, note="test"
        )
    _as(client, services, operator)
    assert "/web/sharing" in client.get("/web/boards").text  # in the operator's menu
    form = client.get("/web/sharing/new").text
    assert f'<option value="{department.org_id}"' in form and "须经" in form
    purpose = f"行政审批核验纳税信用{uuid.uuid4().hex[:4]}"
    today = dt.date.today()
    fields = {
        "department": department.org_id,
        "items": ["tax_rating", "admin_penalty"],
        "purpose": purpose,
        "modes": ["verification", "query"],
        "valid_from": today.isoformat(),
        "valid_until": (today + dt.timedelta(days=365)).isoformat(),
        "region": "330206",
    }
    bad = client.post("/web/sharing", data={**fields, "modes": [], "purpose": ""})
    assert bad.status_code == 422 and "请至少选择一种共享方式" in bad.text and "请填写约定用途" in bad.text
    r = client.post("/web/sharing", data=fields, follow_redirects=False)
    assert r.status_code == 303, r.text
    agreement_id = r.headers["location"].split("#a-")[1]
    page = client.get("/web/sharing").text
    card = page[page.index(f'id="a-{agreement_id}"') :]
    assert "待提供单位同意" in card and f"待 data_provider {tax.org_id} 同意" in card
    assert "比对核验" in card and "纳税信用等级" in card and "tax_rating" not in card.split("</article>")[0]

    _as(client, services, stranger)
    assert f'id="a-{agreement_id}"' not in client.get("/web/sharing").text
    _as(client, services, tax)
    mine = client.get("/web/sharing").text
    assert f'action="/web/sharing/{agreement_id}/approvals"' in mine
    ok = client.post(
        f"/web/sharing/{agreement_id}/approvals",
        data={"item": "tax_rating", "note": "同意"},
        follow_redirects=False,
    )
    assert ok.status_code == 303
    after = client.get(ok.headers["location"]).text
    card = after[after.index(f'id="a-{agreement_id}"') :].split("</article>")[0]
    assert "生效中" in card and "已于" in card
    _as(client, services, regulator)
    assert f'id="a-{agreement_id}"' in client.get("/web/sharing").text
    assert client.get("/web/sharing/new").status_code == 403


def _parquet(codes: list[str]) -> bytes:
    table = pa.table(
        {"record_id": [f"r{i}" for i in range(len(codes))], "uscc": codes, "score": [0.5] * len(codes)}
    )
    buf = io.BytesIO()
    pq.write_table(table, buf)
    return buf.getvalue()


def test_contracts_versions_and_use_in_the_vendors_own_words(client, services) -> None:  # type: ignore[no-untyped-def]
    operator = new_institution(services, "platform_operator")
    vendor, other = new_institution(services, "market_vendor"), new_institution(services, "market_vendor")
    code = f"ds-{uuid.uuid4().hex[:8]}"
    reference = f"MC-{uuid.uuid4().hex[:6]}"
    _as(client, services, operator)
    today = dt.date.today()
    fields = {
        "vendor": vendor.org_id,
        "reference": reference,
        "datasets": f"{code} 企业用电数据",
        "purposes": ["loan_application_assessment", "joint_modelling"],
        "derived": "yes",
        "starts_on": (today - dt.timedelta(days=1)).isoformat(),
        "expires_on": (today + dt.timedelta(days=365)).isoformat(),
        "fee": "120000",
    }
    bad = client.post("/web/market/contracts", data={**fields, "fee": "-1"})
    assert bad.status_code == 422 and "请填写不小于零的金额" in bad.text
    r = client.post("/web/market/contracts", data=fields, follow_redirects=False)
    assert r.status_code == 303, r.text
    codes = [new_enterprise(services)[0] for _ in range(3)]
    vh = auth(client, vendor)
    up = client.post(f"/api/v1/market/datasets/{code}/versions", headers=vh, content=_parquet(codes))
    assert up.status_code == 201, up.text
    made = client.post(
        "/api/v1/market/derived-products",
        headers=auth(client, operator),
        json={
            "name": "用电稳定性评分",
            "kind": "score",
            "sources": [{"kind": "market_dataset", "ref": code}],
        },
    )
    assert made.status_code == 201, made.text
    overview = client.get("/web/market").text
    assert reference in overview and "120,000.00 元" in overview and "贷款申请审查" in overview
    assert "用电稳定性评分" in overview  # the operator sees which product used it

    _as(client, services, vendor)
    page = client.get("/web/market").text
    assert reference in page and "企业用电数据" in page and "可按合同使用" in page
    versions = page[page.index(f'id="d-{code}"') :]
    assert "<td>1</td>" in versions and "<td>3</td>" in versions  # version 1, three records
    assert "用于 1 个平台数据产品" in versions and "用电稳定性评分" not in versions  # counts, not names
    assert "登记新合同" not in page and client.get("/web/market/contracts/new").status_code == 403
    _as(client, services, other)
    assert reference not in client.get("/web/market").text

    _as(client, services, operator)
    rows = [part for part in overview.split('<tr id="c-')[1:] if reference in part]
    contract_id = rows[0].split('"')[0]
    ended = client.post(
        f"/web/market/contracts/{contract_id}/terminate",
        data={"reason": "供应商违约"},
        follow_redirects=False,
    )
    assert ended.status_code == 303
    assert "合同已终止" in client.get(ended.headers["location"]).text
