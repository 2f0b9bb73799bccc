"""The platform's offered joint-modelling features as the page a bank's data scientist reads (#21): every
feature of the feature views with its Chinese title (its English description under the language switch),
the identifier the bank's SDK passes, its sources by their catalog and market-dataset names (never their
codes) and its rule in words; the definition's version and digest; reached from the jobs page. Only a
bank opens it: an anonymous visitor is sent to log in, a borrower and a supervisor are refused."""

from __future__ import annotations

import html
import re

import pytest

from fincredit.models.errors import FeatureError
from fincredit.models.feature_views import parse_views
from fincredit.platform.catalog import default_catalog
from fincredit.platform.metered.joint_lab._inputs import offered_views
from fincredit.platform.testing.plugin import new_institution, staff_web_login, with_web_password

PASSWORD = "staff-pass-2026"
PAGE = "/web/bank/joint-lab/features"


def _as(client, services, inst) -> None:  # type: ignore[no-untyped-def]
    client.cookies.clear()
    username = with_web_password(services, inst, PASSWORD)
    assert staff_web_login(client, services, username, PASSWORD).status_code == 303


def _rows(page: str) -> dict[str, str]:
    """Each feature's table row, by its identifier."""
    return {
        m.group(1): m.group(0)
        for m in re.finditer(r'<tr id="feature-([a-z0-9_]+)">.*?</tr>', page, flags=re.S)
    }


def test_every_feature_has_a_chinese_title_and_the_api_serves_it() -> None:
    views = offered_views()
    assert len(views.features) == 41
    assert all(re.search(r"[\u4e00-\u9fff]", v.title) for v in views.features)
    assert views.get("years_in_business").title == "成立年限（年）"
    assert views.get("years_in_business").to_dict()["title"] == "成立年限（年）"
    # Optional: a definition without titles still loads; a title that is not text is refused.
    bare = (
        'version = 1\n[[features]]\nname = "x"\ndescription = "d"\nsource = "tax_rating"\n'
        'aggregation = "count"\n'
    )
    assert parse_views(bare).features[0].title == ""
    with pytest.raises(FeatureError, match="title"):
        parse_views(bare + "title = 3\n")


def test_the_api_lists_each_features_title(client, services) -> None:  # type: ignore[no-untyped-def]
    from fincredit.platform.testing.plugin import auth

    bank = new_institution(services, "bank")
    body = client.get("/api/v1/joint-lab/features", headers=auth(client, bank)).json()
    titles = {f["name"]: f["title"] for f in body["features"]}
    assert titles["tax_rating_best_3y"] == "近3年最高纳税信用等级"


def test_a_bank_reads_every_offered_feature_in_words(client, services) -> None:  # type: ignore[no-untyped-def]
    views = offered_views()
    catalog = default_catalog()
    items = {i.code: i.name for i in catalog.items}
    datasets = {d.code: d.name for d in catalog.market_datasets}
    bank = new_institution(services, "bank")
    _as(client, services, bank)

    jobs = client.get("/web/bank/jobs").text
    assert f'href="{PAGE}"' in jobs  # linked from the jobs page (and the bank's menu)
    r = client.get(PAGE)
    assert r.status_code == 200, r.text
    page = html.unescape(r.text)
    assert "联合建模的平台特征" in page and f'<dd id="features-version">{views.version}</dd>' in page
    assert views.digest[:12] in page
    assert "申请人授权" in page  # a job offers the features the applicant's consent covers
    rows = _rows(page)
    assert list(rows) == views.names()
    for view in views.features:
        row = rows[view.name]
        assert f"<strong>{view.title}</strong>" in row
        assert f'<code class="identifier">{view.name}</code>' in row
        for source in view.sources:
            assert (items.get(source) or datasets[source]) in row
            assert source not in row.replace(f"feature-{view.name}", "").replace(f">{view.name}<", "")
        assert view.description not in row  # English only under the switch
    # The rule in words: aggregation, field title, window in days, missing-value rule, since version.
    arrears = rows["utility_arrears_amount_log_1y"]
    assert "水费欠费信息、电费欠费信息、燃气费欠费信息" in arrears
    assert "合计" in arrears and "时间窗口：近 365 天" in arrears and "无记录时记为 0" in arrears
    assert "取对数" in arrears and "<td>2</td>" in arrears
    assert "arrears_amount" not in arrears.split("</code>")[1]  # the field by its title
    poor = rows["tax_ratings_c_or_d_5y"]
    assert "记录条数" in poor and "C、D" in poor and "近 1826 天" in poor
    assert "供应链付款行为" in rows["scf_on_time_ratio"]  # a market dataset by its name
    assert "平台代码计算的工程特征" in rows["years_in_business"] and "<td>1</td>" in rows["years_in_business"]

    english = html.unescape(client.get(PAGE, params={"lang": "en"}).text)
    assert "Platform features for joint modelling" in english and "applicant's consent covers" in english
    rows = _rows(english)
    assert "Years since the enterprise was registered" in rows["years_in_business"]
    assert '<code class="identifier">years_in_business</code>' in rows["years_in_business"]
    assert "window: the last 365 days" in rows["utility_arrears_amount_log_1y"]
    assert "0 when there is no such row" in rows["utility_arrears_amount_log_1y"]
    assert "engineered in the platform's code" in rows["years_in_business"]


def test_only_a_bank_opens_the_page(client, services) -> None:  # type: ignore[no-untyped-def]
    from .test_web_pages import PASSWORD as BORROWER_PASSWORD
    from .test_web_pages import _borrower

    client.cookies.clear()
    r = client.get(PAGE, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/web/login")
    _, borrower = _borrower(services)
    from fincredit.platform.testing.plugin import web_login

    assert web_login(client, borrower, BORROWER_PASSWORD).status_code == 303
    r = client.get(PAGE)
    assert r.status_code == 403 and "无权访问" in r.text and "years_in_business" not in r.text
    _as(client, services, new_institution(services, "regulator"))
    r = client.get(PAGE)
    assert r.status_code == 403 and "years_in_business" not in r.text
