"""How values are written for people, on pages, PDFs, spreadsheets and messages alike: times in Beijing time
(Asia/Shanghai) with the zone named, amounts in yuan with two decimals, quantities as whole numbers with
their Chinese unit, and every internal code (an organisation id, a catalog item or field, a product, a
status) replaced by its words.

The words of fixed codes live in the gettext catalogues (:func:`~fincredit.platform.core.web.i18n.label`);
the words of codes the platform's data defines — organisations and the catalog's items and fields — are
read from the database by a :class:`NameBook`, once per page or document. The Jinja filters ``when``,
``day``, ``cny`` and ``qty`` are registered on every template environment through :func:`install_filters`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

import jinja2
from sqlalchemy import select
from sqlalchemy.orm import Session

from fincredit.platform.core.web.i18n import CATALOGUES, label

SHANGHAI = ZoneInfo("Asia/Shanghai")
ZONE_NAME = {"zh": "北京时间", "en": "Beijing time"}


def _as_datetime(value: Any) -> dt.datetime | None:
    if isinstance(value, dt.datetime):
        return value
    if isinstance(value, str) and len(value) >= 16 and value[4] == "-" and value[10] in "T ":
        try:
            return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
    return None


def shanghai(value: dt.datetime) -> dt.datetime:
    """``value`` in Beijing time; a naive time is the platform's UTC (every stored time is UTC)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(SHANGHAI)


def when(value: Any, lang: str = "zh", seconds: bool = False) -> str:
    """A moment as people in Ningbo read it: ``2026-03-02 10:13 北京时间``. Dates and empty values pass
    through (``—`` for none)."""
    if value is None or value == "":
        return "—"
    moment = _as_datetime(value)
    if moment is None:
        return value.isoformat() if isinstance(value, dt.date) else str(value)
    fmt = "%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M"
    return f"{shanghai(moment).strftime(fmt)} {ZONE_NAME.get(lang, ZONE_NAME['zh'])}"


def day(value: Any) -> str:
    """The calendar day of a moment in Beijing time (a date stays as it is)."""
    if value is None or value == "":
        return "—"
    moment = _as_datetime(value)
    if moment is not None:
        return shanghai(moment).date().isoformat()
    return value.isoformat() if isinstance(value, dt.date) else str(value)


def _decimal(value: Any) -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


def cny(value: Any, lang: str = "zh") -> str:
    """An amount of money: ``1,234.50 元`` (``CNY 1,234.50`` in English), always two decimals."""
    amount = _decimal(value)
    if amount is None:
        return "—"
    text = f"{amount.quantize(Decimal('0.01'), rounding=ROUND_HALF_UP):,.2f}"
    return f"CNY {text}" if lang == "en" else f"{text} 元"


def qty(value: Any, unit: str | None = None, lang: str = "zh") -> str:
    """A count of something metered, as a whole number with its unit's words: ``1,353 户``."""
    amount = _decimal(value)
    if amount is None:
        return "—"
    text = f"{int(amount.to_integral_value(rounding=ROUND_HALF_UP)):,}"
    if not unit:
        return text
    return f"{text} {label('unit', unit, lang)}"


def ref(value: Any) -> str:
    """A reference people can read out and compare — ``cns_554d9f67…`` becomes ``554D9F67`` — where a
    page must point at one consent or subscription; the full id stays in the element's title."""
    if not value:
        return "—"
    text = str(value)
    return text.rpartition("_")[2][:8].upper()


def _humanise(code: str) -> str:
    """The English reading of a field name the catalogue gives no English title (``rating_year`` →
    ``Rating year``): better than the code, and the Chinese title is one language switch away."""
    return code.replace("_", " ").strip().capitalize()


@dataclass
class NameBook:
    """The names of organisations and of the catalog's items and fields, read once from ``session``.

    ``org('nb-tax')`` is the organisation's name; ``item('tax_rating')`` the item's Chinese title (or the
    English one the catalogue writes as ``item.<code>``); ``field('tax_rating', 'rating_year')`` the
    field's title. An unknown code comes back unchanged, so a gap shows as what it is."""

    session: Session | None
    lang: str = "zh"
    # Where there is no session at hand (a page rendering after its transaction): opens a read session.
    opener: Callable[[], AbstractContextManager[Session]] | None = None
    _orgs: dict[str, str] | None = field(default=None, repr=False)
    _items: dict[str, str] | None = field(default=None, repr=False)
    _fields: dict[str, dict[str, str]] | None = field(default=None, repr=False)

    @contextmanager
    def _reading(self) -> Iterator[Session | None]:
        if self.session is not None:
            yield self.session
        elif self.opener is not None:
            with self.opener() as session:
                yield session
        else:
            yield None

    def _load_orgs(self) -> dict[str, str]:
        if self._orgs is None:
            from fincredit.platform.core.db import Organisation

            with self._reading() as session:
                self._orgs = (
                    {}
                    if session is None
                    else {i: n for i, n in session.execute(select(Organisation.id, Organisation.name))}
                )
        return self._orgs

    def _load_catalog(self) -> None:
        if self._items is not None:
            return
        from fincredit.models.catalog_spec import ENVELOPE_FIELDS

        items: dict[str, str] = {}
        fields: dict[str, dict[str, str]] = {"": {f.name: f.title for f in ENVELOPE_FIELDS}}
        with self._reading() as session:
            if session is not None:
                from fincredit.platform.catalog import current_version, items_of

                for item in items_of(session, current_version(session)):
                    items[item.code] = item.name
                    fields[item.code] = {f.name: f.title for f in item.all_fields}
        self._items, self._fields = items, fields

    def org(self, org_id: str | None) -> str:
        if not org_id:
            return "—"
        return self._load_orgs().get(org_id, org_id)

    def item(self, code: str | None) -> str:
        if not code:
            return "—"
        if self.lang != "zh":
            english = CATALOGUES[self.lang].text(f"item.{code}")
            if english:
                return english
        self._load_catalog()
        assert self._items is not None
        return self._items.get(code, code)

    def field(self, item_code: str | None, name: str) -> str:
        self._load_catalog()
        assert self._fields is not None
        if self.lang != "zh":
            english = CATALOGUES[self.lang].text(f"field.{name}")
            if english:
                return english
        for source in (self._fields.get(item_code or "", {}), self._fields[""]):
            if name in source:
                return _humanise(name) if self.lang != "zh" else source[name]
        for titles in self._fields.values():
            if name in titles:
                return _humanise(name) if self.lang != "zh" else titles[name]
        return name

    def label(self, kind: str, code: Any) -> str:
        """``label`` with the data-defined kinds too: ``org``, ``item`` and ``field`` (``item:field``)."""
        if code is None or code == "":
            return "—"
        code = str(code)
        if kind == "org":
            return self.org(code)
        if kind == "item":
            return self.item(code)
        if kind == "field":
            item_code, _, name = code.rpartition(":")
            return self.field(item_code or None, name)
        return label(kind, code, self.lang)


def _lang(context: Any) -> str:
    lang = context.get("lang", "zh") if context is not None else "zh"
    return lang if lang in CATALOGUES else "zh"


@jinja2.pass_context
def _when_filter(context: Any, value: Any, seconds: bool = False) -> str:
    return when(value, _lang(context), seconds)


@jinja2.pass_context
def _cny_filter(context: Any, value: Any) -> str:
    return cny(value, _lang(context))


@jinja2.pass_context
def _qty_filter(context: Any, value: Any, unit: str | None = None) -> str:
    return qty(value, unit, _lang(context))


FILTERS: dict[str, Callable[..., str]] = {
    "when": _when_filter,
    "day": day,
    "cny": _cny_filter,
    "qty": _qty_filter,
    "ref": ref,
}


def install_filters(env: jinja2.Environment) -> jinja2.Environment:
    env.filters.update(FILTERS)
    return env


__all__ = ["SHANGHAI", "NameBook", "cny", "day", "install_filters", "qty", "ref", "shanghai", "when"]
