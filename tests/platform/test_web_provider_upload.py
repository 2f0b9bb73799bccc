"""A provider uploads a month's file from its web page and reads, on the submission's page, how many rows
were loaded and each rejected row with its line, record, field and the problem in words; the upload
answers a script (the progress bar's XMLHttpRequest) with the page to go to; another provider cannot read
the result; an empty file is refused on the form."""

from __future__ import annotations

import io
import re

import pyarrow.csv as pacsv

from fincredit.models.synthetic import generate_city
from fincredit.platform.catalog import change_catalog, default_catalog
from fincredit.platform.ingestion import register_subjects
from fincredit.platform.testing.plugin import new_institution, staff_web_login, with_web_password

PASSWORD = "provider-pass-2026"


def _provider(services, item: str):  # type: ignore[no-untyped-def]
    inst = new_institution(services, "data_provider")
    with services.tx() as session:
        change_catalog(
            session, changes={item: {"provider_org_id": inst.org_id}}, created_by=None, note="test"
        )
    return inst


def _csv_of_a_month(services) -> bytes:  # type: ignore[no-untyped-def]
    city = generate_city(60, seed=4242, catalog=default_catalog(), bad_row_share=0.2)
    with services.tx() as session:
        e = city.enterprises
        register_subjects(session, services.keyring, "legal", e["uscc"].to_pylist(), e["name"].to_pylist())
    buf = io.BytesIO()
    pacsv.write_csv(city.submissions["tax_rating"], buf)
    return buf.getvalue()


def test_upload_from_the_page_shows_the_row_level_feedback(client, services) -> None:  # type: ignore[no-untyped-def]
    inst = _provider(services, "tax_rating")
    assert (
        staff_web_login(client, services, with_web_password(services, inst, PASSWORD), PASSWORD).status_code
        == 303
    )
    assert "/web/provider/upload" in client.get("/web/provider").text
    form = client.get("/web/provider/upload").text
    assert 'enctype="multipart/form-data"' in form and '<option value="tax_rating">' in form
    assert 'id="upload-bar"' in form and "upload.js" in form
    body = _csv_of_a_month(services)
    r = client.post(
        "/web/provider/upload",
        data={"item_code": "tax_rating", "month": "2025-06"},
        files={"file": ("tax-2025-06.csv", body, "text/csv")},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    page = client.get(r.headers["location"]).text
    rows = re.findall(r"<tr><td>(\d+)</td><td>[^<]*</td><td>([^<]*)</td>\s*<td>([^<]*)</td>", page)
    assert rows, page
    # Lines of the file (header is line 1), fields by their catalog titles, problems in words.
    assert all(int(line) >= 2 for line, _, _ in rows)
    assert not any(
        re.fullmatch(r"[a-z]+(_[a-z]+)+", text) for _, field, reason in rows for text in (field, reason)
    )
    assert "tax-2025-06.csv" in page and "问题反馈（逐行）" in page and "feedback.csv" in page
    # The same file again: the earlier outcome, said so; a script gets the address as JSON.
    again = client.post(
        "/web/provider/upload",
        data={"item_code": "tax_rating", "month": "2025-06"},
        files={"file": ("tax-2025-06.csv", body, "text/csv")},
        headers={"Accept": "application/json"},
    )
    assert again.status_code == 200 and again.json()["duplicate"] is True
    assert "此前已经报送" in client.get(again.json()["url"]).text
    empty = client.post(
        "/web/provider/upload",
        data={"item_code": "tax_rating", "month": "2025-06"},
        files={"file": ("empty.csv", b"", "text/csv")},
    )
    assert empty.status_code == 422 and "所选文件为空" in empty.text
    # Another provider neither uploads for this item nor reads this outcome.
    other = _provider(services, "customs_rating")
    client.cookies.clear()
    assert (
        staff_web_login(client, services, with_web_password(services, other, PASSWORD), PASSWORD).status_code
        == 303
    )
    assert client.get(r.headers["location"]).status_code == 404
    refused = client.post(
        "/web/provider/upload",
        data={"item_code": "tax_rating", "month": "2025-06"},
        files={"file": ("tax.csv", body, "text/csv")},
    )
    assert refused.status_code == 403 and "文件未被接收" in refused.text


def test_the_upload_needs_its_csrf_token(client, services) -> None:  # type: ignore[no-untyped-def]
    inst = _provider(services, "tax_rating")
    assert (
        staff_web_login(client, services, with_web_password(services, inst, PASSWORD), PASSWORD).status_code
        == 303
    )
    del client.headers["X-CSRF-Token"]
    r = client.post(
        "/web/provider/upload",
        data={"item_code": "tax_rating", "month": "2025-06"},
        files={"file": ("x.csv", b"a,b\n1,2\n", "text/csv")},
    )
    assert r.status_code == 403 and "表单已失效" in r.text
