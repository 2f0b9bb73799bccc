"""The publication privacy filter finds personal numbers however they are written: resident identity
numbers with spaces, hyphens or full-width digits, mobile numbers, and bank card numbers (by their Luhn
check digit); the public unified social credit code and ordinary figures pass."""

from __future__ import annotations

import datetime as dt
import random

import pytest

from fincredit.consent.identifiers import generate_resident_id, generate_uscc
from fincredit.platform.core.services import Services
from fincredit.platform.publication import privacy_violations

RID = generate_resident_id(random.Random(19721201), "330203", dt.date(1972, 12, 1))
FULL_WIDTH = str.maketrans("0123456789X", "０１２３４５６７８９Ｘ")


def _card(prefix: str = "622202123456789") -> str:
    """A bank card number: ``prefix`` and its Luhn check digit."""
    for check in "0123456789":
        digits = prefix + check
        total = sum(
            (d * 2 - 9 if d * 2 > 9 else d * 2) if i % 2 else d
            for i, d in enumerate(int(c) for c in reversed(digits))
        )
        if total % 10 == 0:
            return digits
    raise AssertionError("unreachable")


CARD = _card()


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        (f"身份证 {RID}", "resident_id_number"),
        (f"身份证 {RID[:6]} {RID[6:14]} {RID[14:]}", "resident_id_number"),
        (f"身份证号：{RID[:6]}-{RID[6:14]}-{RID[14:]}", "resident_id_number"),
        (f"身份证号：{RID.translate(FULL_WIDTH)}", "resident_id_number"),
        ("联系电话 13800138000", "mobile_number"),
        ("联系电话 +86 138-0013-8000", "mobile_number"),
        ("联系电话 １３８００１３８０００", "mobile_number"),
        (f"还款账户 {CARD}", "bank_card_number"),
        (f"还款账户 {' '.join(CARD[i : i + 4] for i in range(0, len(CARD), 4))}", "bank_card_number"),
    ],
)
def test_personal_numbers_are_found_however_written(services: Services, text: str, kind: str) -> None:
    with services.read() as session:
        assert kind in privacy_violations(session, {"title": "失信被执行人", "summary": text})


def test_public_codes_and_ordinary_figures_pass(services: Services) -> None:
    uscc = generate_uscc(random.Random(5), "330212")
    text = f"宁波某公司（统一社会信用代码 {uscc}）2025年12月1日 罚款 50000 元，案号 (2025)浙0212执1234号"
    with services.read() as session:
        assert privacy_violations(session, {"title": "行政处罚", "summary": text}) == []
