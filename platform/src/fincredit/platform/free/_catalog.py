"""The current catalog, cached for a few seconds: every query needs it and it changes rarely (an
operator edit); a new version is seen within ``TTL`` seconds."""

from __future__ import annotations

import threading
import time

from sqlalchemy.orm import Session

from fincredit.platform.catalog import CatalogItemDef, current_version, items_of

TTL = 5.0
_lock = threading.Lock()
_cache: tuple[float, dict[str, CatalogItemDef]] | None = None


def catalog_items(session: Session) -> dict[str, CatalogItemDef]:
    global _cache
    now = time.monotonic()
    cached = _cache
    if cached is not None and now - cached[0] < TTL:
        return cached[1]
    items = {i.code: i for i in items_of(session, current_version(session))}
    with _lock:
        _cache = (now, items)
    return items


# A consent scope per catalog item. The item code is the scope ("tax_rating"; a field is
# "tax_rating.rating"), except where the item is a sensitive category of the consent vocabulary: then
# the vocabulary's scope is used, so that the separate-consent rule (PIPL art. 29) applies to it.
ITEM_SCOPES: dict[str, str] = {"dishonest_debtor_person": "court.dishonest_debtor"}


def item_scope(code: str) -> str:
    return ITEM_SCOPES.get(code, code)


def field_scope(code: str, field: str) -> str:
    return f"{item_scope(code)}.{field}"
