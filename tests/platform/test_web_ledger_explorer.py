"""The regulator's ledger explorer reads like a register: a page of 50 entries (or as many as asked), the
count of what matches, older and newer pages by sequence number with every filter kept in the URL, and the
same selection exported as CSV and XLSX with worded headers and cells — no codes, no bare org ids."""

from __future__ import annotations

import csv
import io
import re

from openpyxl import load_workbook

from fincredit.platform.testing.plugin import new_institution, staff_web_login, with_web_password
from fincredit.platform.testing.seed import grant_consent, new_enterprise

PASSWORD = "regulator-pass-2026"


def _entries(services, bank, n: int) -> None:  # type: ignore[no-untyped-def]
    for _ in range(n):
        grant_consent(services, new_enterprise(services)[1], bank.org_id)


def test_pages_move_both_ways_with_the_filters_kept(client, services) -> None:  # type: ignore[no-untyped-def]
    bank = new_institution(services, "bank")
    _entries(services, bank, 12)
    regulator = new_institution(services, "regulator")
    assert (
        staff_web_login(
            client, services, with_web_password(services, regulator, PASSWORD), PASSWORD
        ).status_code
        == 303
    )
    first = client.get("/web/regulator", params={"grantee": bank.org_id, "per": 10}).text
    total = int(re.search(r'id="ledger-count">符合条件的记录共 (\d+) 条，本页显示 10 条', first).group(1))  # type: ignore[union-attr]
    assert total >= 12
    seqs = [int(n) for n in re.findall(r'<tr class="[^"]*">\s*<td>(\d+)</td>', first)]
    assert len(seqs) == 10 and seqs == sorted(seqs, reverse=True)
    older = re.search(r'rel="next" href="\?([^"]*)"', first)
    assert older is not None and f"grantee={bank.org_id}" in older.group(1) and "per=10" in older.group(1)
    second = client.get("/web/regulator?" + older.group(1).replace("&amp;", "&")).text
    second_seqs = [int(n) for n in re.findall(r'<tr class="[^"]*">\s*<td>(\d+)</td>', second)]
    assert second_seqs and max(second_seqs) < min(seqs)
    newer = re.search(r'rel="prev" href="\?([^"]*)"', second)
    assert newer is not None and f"grantee={bank.org_id}" in newer.group(1)
    back = client.get("/web/regulator?" + newer.group(1).replace("&amp;", "&")).text
    assert [int(n) for n in re.findall(r'<tr class="[^"]*">\s*<td>(\d+)</td>', back)] == seqs
    # The export links carry the same filters.
    assert f"/web/regulator/ledger.csv?grantee={bank.org_id}&amp;per=10" in first


def test_the_selection_exports_as_csv_and_xlsx_in_words(client, services) -> None:  # type: ignore[no-untyped-def]
    bank = new_institution(services, "bank")
    _entries(services, bank, 3)
    regulator = new_institution(services, "regulator")
    assert (
        staff_web_login(
            client, services, with_web_password(services, regulator, PASSWORD), PASSWORD
        ).status_code
        == 303
    )
    r = client.get("/web/regulator/ledger.csv", params={"grantee": bank.org_id})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    table = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert table[0] == [
        "序号",
        "时间（北京时间）",
        "记录类型",
        "拒绝原因",
        "机构",
        "信息主体（脱敏）",
        "用途",
        "授权编号",
    ]
    body = table[1:]
    assert len(body) >= 3 and all(row[4] == f"bank {bank.org_id}" for row in body)
    assert all(row[1].endswith("北京时间") for row in body)
    assert not any(re.fullmatch(r"[a-z]+(_[a-z]+)+", cell) for row in body for cell in row)
    x = client.get("/web/regulator/ledger.xlsx", params={"grantee": bank.org_id, "lang": "en"})
    assert x.status_code == 200
    sheet = load_workbook(io.BytesIO(x.content)).active
    values = list(sheet.iter_rows(values_only=True))
    assert values[0][0] == "No." and values[0][1] == "Time (Beijing time)"
    assert len(values) - 1 == len(body)
    # A borrower or a bank may not export the log.
    client.cookies.clear()
    assert (
        staff_web_login(client, services, with_web_password(services, bank, PASSWORD), PASSWORD).status_code
        == 303
    )
    assert client.get("/web/regulator/ledger.csv").status_code == 403
