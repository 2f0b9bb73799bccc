"""The web pages' message catalogue: every message a page asks for is in the Chinese and the English
gettext catalogue, none is left untranslated, and texts with a count take the right plural form."""

from __future__ import annotations

import string
import tomllib
from collections.abc import Iterable
from pathlib import Path
from typing import get_args

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from fincredit.consent import AccessMode, ConsentStatus, EntryType, Purpose, RefusalReason, SubjectKind
from fincredit.models.feature_views import AGGREGATIONS
from fincredit.platform.boards.pages import BASE_FACTS, THEMES
from fincredit.platform.core.web.i18n import LANGS, catalogue_path, label, translator
from fincredit.platform.free.router import OutcomeIn
from fincredit.platform.metered.joint_lab.schemas import JointJobIn
from fincredit.platform.objections import Status, Step
from fincredit.platform.supervision.router import FindingIn, PlanIn

PLATFORM = Path(__file__).resolve().parents[2] / "platform"

# Codes the pages show through a key built at run time (t('purpose.' ~ c.purpose), label('reason', ...)):
# every value the domain defines needs a text.
CODES: dict[str, Iterable[str]] = {
    "purpose": Purpose,
    "mode": AccessMode,
    "state": ConsentStatus,
    "entry": EntryType,
    "kind": SubjectKind,
    "reason": RefusalReason,
    "objection": Status,
    "objection.event": Step,
    "theme": THEMES,
    "fact": BASE_FACTS,
    # Codes the API accepts as a closed list: the page shows what was sent.
    "severity": get_args(FindingIn.model_fields["severity"].annotation),
    "plan": get_args(PlanIn.model_fields["kind"].annotation),
    "outcome": get_args(OutcomeIn.model_fields["outcome"].annotation),
    "algorithm": get_args(JointJobIn.model_fields["algorithm"].annotation),
    # The rule of an offered feature (feature_views.toml), on the bank's features page.
    "aggregation": AGGREGATIONS,
}


def _keys_in_source() -> dict[str, list[str]]:
    """Literal keys passed to t(...) in templates and Python, found the way ``pybabel extract`` finds them:
    with the mapping and keywords of platform/pyproject.toml's [tool.babel]."""
    babel = tomllib.loads((PLATFORM / "pyproject.toml").read_text())["tool"]["babel"]
    method_map = [(m["pattern"], m["method"]) for m in babel["mappings"]]
    keywords = {k: None for k in babel["extract_messages"]["keywords"].split()}
    found: dict[str, list[str]] = {}
    for filename, lineno, key, _comments, _context in extract_from_dir(
        PLATFORM / "src", method_map, keywords=keywords
    ):
        found.setdefault(str(key), []).append(f"{filename}:{lineno}")
    return found


def _entries(lang: str) -> dict[str, str | tuple[str, ...]]:
    with catalogue_path(lang).open("rb") as file:
        po = read_po(file, locale=lang)
    entries: dict[str, str | tuple[str, ...]] = {}
    for m in po:
        if m.id:
            key = m.id[0] if isinstance(m.id, tuple | list) else m.id
            entries[str(key)] = tuple(m.string) if isinstance(m.string, tuple | list) else (m.string or "")
    return entries


@pytest.fixture(scope="module")
def keys_in_source() -> dict[str, list[str]]:
    return _keys_in_source()


def test_the_source_asks_for_messages(keys_in_source: dict[str, list[str]]) -> None:
    # Guards the extraction itself: a broken mapping would find nothing and pass every check below.
    assert len(keys_in_source) > 300
    assert "nav.home" in keys_in_source and "boards.feed.unpublished" in keys_in_source


@pytest.mark.parametrize("lang", LANGS)
def test_every_key_a_page_uses_is_in_the_catalogue(lang: str, keys_in_source: dict[str, list[str]]) -> None:
    entries = _entries(lang)
    missing = {key: where for key, where in keys_in_source.items() if key not in entries}
    assert not missing, f"not in {catalogue_path(lang)}: {missing}"


@pytest.mark.parametrize("lang", LANGS)
def test_every_code_shown_to_people_has_a_text(lang: str) -> None:
    entries = _entries(lang)
    missing = sorted(
        f"{kind}.{code}" for kind, codes in CODES.items() for code in codes if f"{kind}.{code}" not in entries
    )
    assert not missing, f"not in {catalogue_path(lang)}: {missing}"


@pytest.mark.parametrize("lang", LANGS)
def test_no_entry_is_left_untranslated_or_unchecked(lang: str) -> None:
    with catalogue_path(lang).open("rb") as file:
        po = read_po(file, locale=lang)
    empty = sorted(
        str(m.id)
        for m in po
        if m.id and (not m.string or (isinstance(m.string, tuple) and not all(m.string)))
    )
    fuzzy = sorted(str(m.id) for m in po if m.id and m.fuzzy)
    assert not empty, f"untranslated in {catalogue_path(lang)}: {empty}"
    assert not fuzzy, f"marked fuzzy (unchecked) in {catalogue_path(lang)}: {fuzzy}"


def test_both_catalogues_hold_the_same_keys_and_placeholders() -> None:
    zh, en = _entries("zh"), _entries("en")
    assert sorted(zh.keys() - en.keys()) == [] and sorted(en.keys() - zh.keys()) == []

    # A text that names {bank} in one language and not in the other would drop a value, or fail.
    def names(text: str | tuple[str, ...]) -> set[str]:
        texts = text if isinstance(text, tuple) else (text,)
        return {f for s in texts for _, f, _, _ in string.Formatter().parse(s) if f}

    differ = sorted(k for k in zh if names(zh[k]) != names(en[k]))
    assert not differ, f"placeholders differ between zh and en: {differ}"


def test_texts_are_filled_in_and_counted() -> None:
    zh, en = translator("zh"), translator("en")
    assert zh("nav.home") == "首页" and en("nav.home") == "Home"
    assert en("provider.days_left", n=1) == "1 day left"
    assert en("provider.days_left", n=3) == "3 days left"
    assert zh("provider.days_left", n=3) == "还有 3 天"
    assert en("bank.showing", total=41, page=2, pages=3) == "41 consents, page 2 of 3 (soonest expiry first)"
    # A key nobody has written yet reads as its last segment rather than failing the page.
    assert zh("entry.some_future_type") == "some_future_type"


def test_codes_have_labels_in_both_languages() -> None:
    assert label("reason", "wrong_purpose", "zh") == "用途不符"
    assert label("reason", "wrong_purpose", "en") == "not for an authorized purpose"
    assert label("theme", "tech_innovation", "zh") == "科技创新"
    assert label("kind", "legal", "zh") == "企业及其他组织"
    # A code without a label is shown as it is, never as a fragment of it.
    assert label("reason", "a_new_reason", "zh") == "a_new_reason"


def test_the_borrower_and_the_regulator_read_why_an_access_was_refused_in_words(client, services) -> None:  # type: ignore[no-untyped-def]
    from fincredit.platform.testing.plugin import auth, new_institution, with_web_password

    from .test_web_pages import PASSWORD, _borrower, _login

    bank = new_institution(services, "bank")
    regulator = new_institution(services, "regulator")
    staff = with_web_password(services, regulator, PASSWORD)
    code, borrower = _borrower(services)
    # A bank without any consent asks for the borrower's records: refused, and the refusal is logged.
    refused = client.post("/api/v1/free/query", headers=auth(client, bank), json={"identifier": code})
    assert refused.status_code == 403 and refused.json()["reason"] == "no_consent"
    _login(client, borrower)
    own = client.get("/web/borrower/accesses").text
    # The code stays in the signed entry the browser verifies, but the reader sees words.
    assert "<dd>没有授权</dd>" in own and "<dd>no_consent</dd>" not in own
    _login(client, staff, services)
    page = client.get("/web/regulator", params={"subject": code}).text
    assert "<strong>拒绝</strong>: 没有授权" in page and "no_consent" not in page
    # The institution by its name (its id, which the filter takes, on hover), every entry type in the filter.
    assert f'<span title="{bank.org_id}">bank {bank.org_id}</span>' in page
    assert all(f'value="{ty}" >{label("entry", ty)}</option>' in page for ty in EntryType)
    english = client.get("/web/regulator", params={"subject": code, "lang": "en"}).text
    assert "<strong>Refused</strong>: no authorization" in english


def test_the_borrower_reads_records_under_the_catalogs_titles(client, services) -> None:  # type: ignore[no-untyped-def]
    from fincredit.platform.identity.accounts import create_borrower_account
    from fincredit.platform.ingestion.tables import CreditRecord
    from fincredit.platform.testing.plugin import new_institution, unique

    from .test_objection_workflow import make_record
    from .test_web_pages import PASSWORD, _login

    provider = new_institution(services, "data_provider")
    subject_id, record_id = make_record(services, provider.org_id, {})
    username = unique("owner")
    with services.tx() as session:
        record = session.get(CreditRecord, record_id)
        record.item_code, record.data = "tax_rating", {"rating_year": 2025, "rating": "A"}
        create_borrower_account(
            session,
            services.authz,
            username=username,
            real_name="读者",
            password=PASSWORD,
            subject_id=subject_id,
        )
    _login(client, username)
    page = client.get("/web/borrower/objections").text
    assert "<strong>纳税信用等级</strong>" in page
    assert "<dt>评价年度</dt><dd>2025</dd>" in page and "<dt>纳税信用级别</dt><dd>A</dd>" in page
    assert "rating_year" not in page and "tax_rating" not in page


def test_a_bank_reads_why_its_subscription_ended_in_words(client, services) -> None:  # type: ignore[no-untyped-def]
    from fincredit.platform.testing.plugin import auth, new_institution
    from fincredit.platform.testing.seed import grant_consent, new_enterprise

    from .test_web_bank_regulator import _login

    ident, sid = new_enterprise(services)
    bank = new_institution(services, "bank")
    grant_consent(
        services,
        sid,
        bank.org_id,
        purpose="post_loan_monitoring",
        scopes=["tax_rating"],
        modes=["query", "push_subscription"],
    )
    h = auth(client, bank)
    body = {"identifier": ident, "items": ["tax_rating"]}
    kept = client.post("/api/v1/free/push/subscriptions", headers=h, json=body)
    ended = client.post("/api/v1/free/push/subscriptions", headers=h, json=body)
    assert kept.status_code == ended.status_code == 201, (kept.text, ended.text)
    kept, ended = kept.json(), ended.json()
    assert client.delete(f"/api/v1/free/push/subscriptions/{ended['id']}", headers=h).status_code == 200
    _login(client, services, bank)
    page = client.get("/web/bank/subscriptions").text
    assert kept["id"] in page and "<td>生效中</td>" in page
    assert "<td>已终止（机构已取消订阅）</td>" in page and "cancelled" not in page
