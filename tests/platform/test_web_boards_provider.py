"""The board team's and the provider's pages: a district team opens, edits and publishes its board in a
form that shows what is wrong next to the field; another team cannot touch it; anyone opens the public
board pages without logging in (products, statistics, a monthly SVG chart, no personal data); a provider
sees its deadlines, files a nil report, downloads a submission's feedback report and verifies it."""

from __future__ import annotations

import csv
import datetime as dt
import io
import uuid

import pytest

from fincredit.platform.boards.tables import Board
from fincredit.platform.catalog import change_catalog, current_version
from fincredit.platform.core.db import utcnow
from fincredit.platform.free.tables import FinancingNeed
from fincredit.platform.ingestion import due_date, local_date
from fincredit.platform.ingestion.tables import Submission, SubmissionFeedback
from fincredit.platform.testing.plugin import (
    Institution,
    auth,
    new_institution,
    staff_web_login,
    with_web_password,
)
from fincredit.platform.testing.seed import grant_consent, new_enterprise

PASSWORD = "team-pass-2026"
REGION = "330226"  # 宁海县: no other test's enterprises live there


@pytest.fixture(autouse=True)
def _no_push_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FINCREDIT_PUSH_WORKER", "0")


def _login(client, services, inst: Institution) -> None:  # type: ignore[no-untyped-def]
    username = with_web_password(services, inst, PASSWORD)
    client.cookies.clear()
    r = staff_web_login(client, services, username, PASSWORD)
    assert r.status_code == 303, r.text
    return r.headers["location"]  # type: ignore[no-any-return]


def _form(**changes: str) -> dict[str, str]:
    return {
        "title": f"宁海模具企业专区{uuid.uuid4().hex[:6]}",
        "description": "面向宁海模具产业集群的信用融资",
        "theme": "manufacturing",
        "region": REGION,
        "rules": "",
        **changes,
    }


def _open(client, **changes: str) -> str:  # type: ignore[no-untyped-def]
    r = client.post("/web/team/boards", data=_form(**changes), follow_redirects=False)
    assert r.status_code == 303, r.text
    assert "notice=created" in r.headers["location"]
    return r.headers["location"].split("/")[-1].split("?")[0]


def test_team_opens_edits_and_publishes_a_board(client, services) -> None:  # type: ignore[no-untyped-def]
    team = new_institution(services, "district_team", district=REGION)
    assert _login(client, services, team) == "/web/team/boards"
    home = client.get("/web/team/boards").text
    assert "我的专题板块" in home and 'href="/web/team/boards/new"' in home and "/web/boards" in home
    assert "新建板块" in client.get("/web/team/boards/new").text

    board_id = _open(client, title="宁海模具企业专区")
    page = client.get(f"/web/team/boards/{board_id}?notice=created").text
    assert "草稿已创建" in page and "草稿" in page and "宁海县" in page
    with services.read() as session:
        # An empty rule with a region targets every subject registered in the region.
        assert session.get(Board, board_id).rules == {"fact": "region", "op": "prefix", "value": REGION}
    assert board_id in client.get("/web/team/boards").text

    rule = (
        '{"all": [{"fact": "region", "op": "eq", "value": "330226"},'
        ' {"fact": "kind", "op": "eq", "value": "legal"}]}'
    )
    r = client.post(
        f"/web/team/boards/{board_id}",
        data=_form(title="宁海模具与文具企业专区", rules=rule),
        follow_redirects=False,
    )
    assert r.status_code == 303 and "notice=saved" in r.headers["location"]
    page = client.get(r.headers["location"]).text
    assert "已保存" in page and "宁海模具与文具企业专区" in page
    assert "同时满足" in page and "企业及其他组织" in page  # the rule in words

    client.cookies.clear()
    assert client.get(f"/web/boards/{board_id}").status_code == 404  # drafts are not public
    assert board_id not in client.get("/web/boards").text

    _login(client, services, team)
    r = client.post(
        f"/web/team/boards/{board_id}/status", data={"status": "published"}, follow_redirects=False
    )
    assert r.status_code == 303
    assert "板块已发布" in client.get(r.headers["location"]).text

    client.cookies.clear()  # anyone, without logging in
    listing = client.get("/web/boards")
    assert listing.status_code == 200 and "宁海模具与文具企业专区" in listing.text
    public = client.get(f"/web/boards/{board_id}")
    assert public.status_code == 200 and "宁海县 (330226)" in public.text
    assert "暂无银行挂接产品" in public.text and "<svg" not in public.text  # no history yet, no chart
    assert "Thematic financing boards" in client.get("/web/boards?lang=en").text

    # Unpublishing takes it off the public pages again.
    _login(client, services, team)
    client.post(f"/web/team/boards/{board_id}/status", data={"status": "draft"})
    client.cookies.clear()
    assert client.get(f"/web/boards/{board_id}").status_code == 404


def test_form_errors_are_shown_next_to_the_fields(client, services) -> None:  # type: ignore[no-untyped-def]
    team = new_institution(services, "sector_team")
    _login(client, services, team)
    r = client.post(
        "/web/team/boards",
        data=_form(title="", region="宁海", rules='{"fact": "region", "op": "eq"'),
    )
    assert r.status_code == 422 and r.headers["content-type"].startswith("text/html")
    assert "请修改以下内容后再提交" in r.text
    assert 'id="f-title-error"' in r.text and "必填" in r.text
    assert 'id="f-region-error"' in r.text and "数字形式的行政区划代码" in r.text
    assert 'id="f-rules-error"' in r.text and "不是有效的 JSON" in r.text
    assert 'aria-invalid="true"' in r.text
    assert "面向宁海模具产业集群的信用融资" in r.text  # what was typed is kept
    with services.read() as session:
        assert not session.query(Board).filter(Board.org_id == team.org_id).count()

    r = client.post("/web/team/boards", data=_form(rules='{"fact": "salary", "op": "eq", "value": 1}'))
    assert r.status_code == 422 and "规则无效" in r.text and "salary" in r.text
    r = client.post("/web/team/boards", data=_form(region="", rules=""))
    assert r.status_code == 422 and "请填写规则，或填写地区" in r.text
    r = client.post("/web/team/boards", data=_form(title="长" * 201))
    assert r.status_code == 422 and "最多 200 个字符" in r.text

    board_id = _open(client)
    r = client.post(f"/web/team/boards/{board_id}?lang=en", data=_form(description=" "))
    assert r.status_code == 422 and "Please correct the following" in r.text and "required" in r.text
    with services.read() as session:
        assert session.get(Board, board_id).description == "面向宁海模具产业集群的信用融资"
    r = client.post(f"/web/team/boards/{board_id}/status", data={"status": "archived"})
    assert r.status_code == 422 and "<html" in r.text


def test_another_team_cannot_edit_and_other_roles_cannot_open_team_pages(client, services) -> None:  # type: ignore[no-untyped-def]
    team = new_institution(services, "district_team", district=REGION)
    other = new_institution(services, "district_team", district=REGION)
    _login(client, services, team)
    board_id = _open(client, title="原标题")
    client.post(f"/web/team/boards/{board_id}/status", data={"status": "published"})

    _login(client, services, other)
    assert board_id not in client.get("/web/team/boards").text
    r = client.get(f"/web/team/boards/{board_id}")
    assert r.status_code == 403 and "无权访问" in r.text
    assert client.post(f"/web/team/boards/{board_id}", data=_form(title="被改")).status_code == 403
    assert client.post(f"/web/team/boards/{board_id}/status", data={"status": "closed"}).status_code == 403
    assert client.post(f"/web/team/boards/{board_id}/matchmaking").status_code == 403
    with services.read() as session:
        board = session.get(Board, board_id)
        assert board.title == "原标题" and board.status == "published"

    bank = new_institution(services, "bank")
    _login(client, services, bank)
    assert client.get("/web/team/boards").status_code == 403
    assert client.post("/web/team/boards", data=_form()).status_code == 403
    client.cookies.clear()
    r = client.get("/web/team/boards", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/web/login")
    assert client.get(f"/web/boards/{board_id}").status_code == 200  # the public page stays open
    assert client.get("/web/boards/board_doesnotexist").status_code == 404


def test_public_board_page_shows_products_statistics_and_a_chart(client, services) -> None:  # type: ignore[no-untyped-def]
    team = new_institution(services, "district_team", district=REGION)
    bank = new_institution(services, "bank")
    _login(client, services, team)
    board_id = _open(client, title="宁海统计板块")
    r = client.post(f"/web/team/boards/{board_id}/matchmaking", follow_redirects=False)
    assert r.status_code == 409 and "板块发布后才能推送融资需求" in r.text  # a draft feeds nothing
    client.post(f"/web/team/boards/{board_id}/status", data={"status": "published"})
    bh = auth(client, bank)
    product = client.post(
        "/api/v1/free/matchmaking/products",
        headers=bh,
        json={
            "name": "模具贷",
            "amount_min": 200_000,
            "amount_max": 3_000_000,
            "term_min": 6,
            "term_max": 24,
            "rate_min": 3.6,
            "rate_max": 4.2,
            "rules": {"fact": "region", "op": "prefix", "value": "3302"},
        },
    ).json()
    assert client.post(f"/api/v1/boards/{board_id}/products", headers=bh, json={"product_id": product["id"]})
    inside = [new_enterprise(services, region=REGION) for _ in range(2)]
    for (_code, sid), amount in zip(inside, (1_500_000, 700_000), strict=True):
        grant_consent(
            services,
            sid,
            bank.org_id,
            purpose="financing_matchmaking",
            scopes=["market_registration"],
            modes=["query"],
        )
        with services.tx() as session:
            session.add(
                FinancingNeed(
                    id=f"need_{uuid.uuid4().hex[:16]}",
                    subject_id=sid,
                    account_id="acc_test",
                    amount=amount,
                    term_months=12,
                    use_of_funds="购置模具设备",
                    status="open",
                )
            )
    r = client.post(f"/web/team/boards/{board_id}/matchmaking", follow_redirects=False)
    assert r.status_code == 303 and "fed=2" in r.headers["location"]
    assert "新推送 2 项融资需求" in client.get(r.headers["location"]).text
    lead = next(
        x
        for x in client.get("/api/v1/free/matchmaking/leads", headers=bh).json()
        if x["product_id"] == product["id"]
    )
    client.post(
        f"/api/v1/free/matchmaking/leads/{lead['lead_id']}/outcome", headers=bh, json={"outcome": "granted"}
    )

    client.cookies.clear()
    page = client.get(f"/web/boards/{board_id}").text
    assert "模具贷" in page and "200,000–3,000,000" in page and "3.60%–4.20%" in page
    assert 'id="board-chart"' in page and "<polyline" in page and "<rect" in page
    month = f"{utcnow().year:04d}-{utcnow().month:02d}"
    assert f'<th scope="row">{month}</th><td>2</td><td>2</td><td>1</td>' in page
    for code, _ in inside:
        assert code not in page  # totals only, never an enterprise
    assert "宁海统计板块" in client.get("/web/boards").text


# The provider's page ----------------------------------------------------------------------------------


def _provider(services, item: str) -> Institution:  # type: ignore[no-untyped-def]
    inst = new_institution(services, "data_provider")
    with services.tx() as session:
        change_catalog(
            session, changes={item: {"provider_org_id": inst.org_id}}, created_by=None, note="test"
        )
    return inst


def _submission_with_feedback(services, inst: Institution, item: str, month: str) -> int:  # type: ignore[no-untyped-def]
    now = utcnow()
    with services.tx() as session:
        sub = Submission(
            provider_org_id=inst.org_id,
            item_code=item,
            catalog_version_id=current_version(session).id,
            month=month,
            kind="file",
            channel="api",
            received_at=now,
            due_date=due_date(month),
            late=False,
            status="processed",
            rows_total=3,
            rows_rejected=2,
            processing_due=local_date(now) + dt.timedelta(days=7),
            processed_at=now,
            verification_due=local_date(now) + dt.timedelta(days=7),
        )
        session.add(sub)
        session.flush()
        for row, reason in ((0, "check_character"), (2, "invalid_date")):
            session.add(
                SubmissionFeedback(
                    submission_id=sub.id,
                    row=row,
                    provider_record_id=f"r{row}",
                    field="award_date",
                    reason=reason,
                    detail="日期格式错误",
                )
            )
        return sub.id


def test_provider_sees_deadlines_files_nil_downloads_feedback_and_verifies(client, services) -> None:  # type: ignore[no-untyped-def]
    item = "award_honour"
    inst = _provider(services, item)
    assert _login(client, services, inst) == "/web/provider"
    today = local_date(utcnow())
    this_month = f"{today.year:04d}-{today.month:02d}"
    page = client.get("/web/provider").text
    assert "报送期限" in page and f'id="d-{item}-{this_month}"' in page and "待报送" in page
    assert "下一个报送截止日" in page and "逾期未报" in page  # earlier months were never filed

    r = client.post(
        "/web/provider/nil", data={"item_code": item, "month": this_month}, follow_redirects=False
    )
    assert r.status_code == 303
    page = client.get(r.headers["location"]).text
    assert "零报告已提交" in page and "已零报告" in page

    last = f"{today.year - 1:04d}-12" if today.month == 1 else f"{today.year:04d}-{today.month - 1:02d}"
    sub_id = _submission_with_feedback(services, inst, item, last)
    page = client.get("/web/provider").text
    link = f"/web/provider/submissions/{sub_id}/feedback.csv"
    assert link in page and "下载 CSV（2 行有问题）" in page and "个工作日" in page

    r = client.get(link)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert "attachment" in r.headers["content-disposition"]
    assert r.content.startswith("\ufeff".encode())
    rows = list(csv.DictReader(io.StringIO(r.content.decode("utf-8-sig"))))
    # For the clerk: the line of the file (the header is line 1), the field's title, the problem in words.
    assert [(x["文件行号"], x["字段"]) for x in rows] == [("2", "授予日期"), ("4", "授予日期")]
    assert all(x["问题"] and "_" not in x["问题"] for x in rows)

    other = _provider(services, "customs_rating")
    _login(client, services, other)
    assert client.get(link).status_code == 404  # another provider's feedback is not there for them
    assert client.post(f"/web/provider/submissions/{sub_id}/verification").status_code == 404

    _login(client, services, inst)
    r = client.post(
        f"/web/provider/submissions/{sub_id}/verification", data={"note": "已更正"}, follow_redirects=False
    )
    assert r.status_code == 303
    page = client.get(r.headers["location"]).text
    assert "已记录核实" in page and "已核实" in page
    with services.read() as session:
        assert session.get(Submission, sub_id).verification_note == "已更正"
    assert client.post(f"/web/provider/submissions/{sub_id}/verification").status_code == 409
    assert "Deadlines" in client.get("/web/provider?lang=en").text
