"""Reading and writing catalog versions. Every change writes a whole new version (the catalog is a few
dozen items); submissions keep the version id they were validated against."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from fincredit.models.catalog_spec import ENVELOPE_FIELDS, NEGATIVE_INFO_VALIDITY_YEARS, CatalogItemSpec
from fincredit.platform.catalog._default import default_catalog
from fincredit.platform.catalog._items import ARROW_TYPE_NAMES, CatalogItemDef, field_from_json, field_to_json
from fincredit.platform.catalog.tables import CatalogItem, CatalogVersion
from fincredit.platform.core.db import Organisation
from fincredit.platform.core.errors import CatalogInvalid, NotFound

# The registration authority's register is the authoritative source of legal-person subjects (R§3).
REGISTRATION_ITEMS = frozenset({"market_registration"})
_CODE = re.compile(r"^[a-z][a-z0-9_]{1,63}$")
EDITABLE = (
    "name",
    "provider_org_id",
    "subject_kind",
    "fields",
    "disclosure",
    "sharing",
    "validity_years",
    "event_date_field",
    "validity_from_field",
    "negative",
    "sensitive",
    "on_sharing_list",
    "registers_subjects",
)


def _spec_row(spec: CatalogItemSpec) -> dict[str, Any]:
    return {
        "code": spec.code,
        "name": spec.name,
        "provider_org_id": spec.provider_id,
        "subject_kind": spec.subject_kind,
        "fields": [field_to_json(f) for f in spec.fields],
        "disclosure": spec.disclosure,
        "sharing": spec.sharing,
        "validity_years": spec.validity_years,
        "event_date_field": spec.event_date_field,
        "validity_from_field": spec.validity_from_field,
        "negative": spec.negative,
        "sensitive": spec.sensitive,
        "on_sharing_list": spec.on_sharing_list,
        "registers_subjects": spec.code in REGISTRATION_ITEMS,
    }


def _def(row: CatalogItem, number: int) -> CatalogItemDef:
    return CatalogItemDef(
        version_id=row.version_id,
        version_number=number,
        code=row.code,
        name=row.name,
        provider_org_id=row.provider_org_id,
        subject_kind=row.subject_kind,
        fields=tuple(field_from_json(f) for f in row.fields),
        disclosure=row.disclosure,
        sharing=row.sharing,
        validity_years=row.validity_years,
        event_date_field=row.event_date_field,
        validity_from_field=row.validity_from_field,
        negative=row.negative,
        sensitive=row.sensitive,
        on_sharing_list=row.on_sharing_list,
        registers_subjects=row.registers_subjects,
    )


def _validate_item(d: Mapping[str, Any]) -> None:
    code = d["code"]
    if not _CODE.match(code):
        raise CatalogInvalid(f"item code {code!r} must be lower-case letters, digits and _", item=code)
    if d["subject_kind"] not in ("legal", "natural"):
        raise CatalogInvalid("subject_kind must be legal or natural", item=code)
    if d["disclosure"] not in ("public", "authorized"):
        raise CatalogInvalid("disclosure must be public or authorized", item=code)
    if d["sharing"] not in ("unconditional", "conditional"):
        raise CatalogInvalid("sharing must be unconditional or conditional", item=code)
    if d["validity_years"] is not None and not 1 <= int(d["validity_years"]) <= 100:
        raise CatalogInvalid("validity_years must be between 1 and 100, or null", item=code)
    fields = d["fields"]
    if not fields:
        raise CatalogInvalid("an item needs at least one field", item=code)
    names = [f["name"] for f in fields]
    reserved = {f.name for f in ENVELOPE_FIELDS}
    for f in fields:
        if f.get("type") not in ARROW_TYPE_NAMES:
            raise CatalogInvalid(
                f"field {f.get('name')!r}: type must be one of {', '.join(ARROW_TYPE_NAMES)}", item=code
            )
        if not _CODE.match(str(f.get("name", ""))) or f["name"] in reserved:
            raise CatalogInvalid(f"field name {f.get('name')!r} is not allowed", item=code)
        if f.get("enum") and f["type"] != "string":
            raise CatalogInvalid(f"field {f['name']!r}: only string fields take an enumeration", item=code)
    if len(set(names)) != len(names):
        raise CatalogInvalid("field names must be unique", item=code)
    types = {f["name"]: f["type"] for f in fields}
    for key in ("event_date_field", "validity_from_field"):
        name = d.get(key)
        if name is None and key == "validity_from_field":
            continue
        if types.get(name) != "date32":
            raise CatalogInvalid(f"{key} {name!r} must name a date32 field of the item", item=code)


def _insert_version(
    session: Session, rows: Iterable[Mapping[str, Any]], *, created_by: str | None, note: str
) -> CatalogVersion:
    number = (session.scalar(select(func.max(CatalogVersion.number))) or 0) + 1
    version = CatalogVersion(number=number, created_by=created_by, note=note)
    session.add(version)
    session.flush()
    for d in rows:
        _validate_item(d)
        session.add(CatalogItem(version_id=version.id, **d))
    session.flush()
    return version


def seed_default_catalog(session: Session) -> CatalogVersion | None:
    """Write the default catalog (``default_catalog.toml``) as version 1 and create its provider
    organisations, unless a catalog exists already (then do nothing: seeding is idempotent)."""
    if session.scalar(select(func.count()).select_from(CatalogVersion)):
        return None
    spec = default_catalog()
    for p in spec.providers:
        if session.get(Organisation, p.id) is None:
            session.add(Organisation(id=p.id, kind="data_provider", name=p.name))
    session.flush()
    return _insert_version(
        session,
        [_spec_row(s) for s in spec.items],
        created_by=None,
        note="default catalog (default_catalog.toml)",
    )


def ensure_catalog(sessions: Any) -> None:
    """Seed at first start. Two processes starting together: the loser's insert fails on the unique
    version number, and the catalog the winner wrote is the one both then use."""
    from fincredit.platform.core.db import transaction

    try:
        with transaction(sessions) as session:
            seed_default_catalog(session)
    except IntegrityError:
        pass


def current_version(session: Session) -> CatalogVersion:
    version = session.scalar(select(CatalogVersion).order_by(CatalogVersion.number.desc()).limit(1))
    if version is None:
        seed_default_catalog(session)
        version = session.scalar(select(CatalogVersion).order_by(CatalogVersion.number.desc()).limit(1))
    assert version is not None
    return version


def get_version(session: Session, number: int | None = None) -> CatalogVersion:
    if number is None:
        return current_version(session)
    version = session.scalar(select(CatalogVersion).where(CatalogVersion.number == number))
    if version is None:
        raise NotFound(f"no catalog version {number}")
    return version


def list_versions(session: Session) -> list[CatalogVersion]:
    return list(session.scalars(select(CatalogVersion).order_by(CatalogVersion.number)))


def items_of(session: Session, version: CatalogVersion) -> list[CatalogItemDef]:
    rows = session.scalars(
        select(CatalogItem).where(CatalogItem.version_id == version.id).order_by(CatalogItem.code)
    )
    return [_def(r, version.number) for r in rows]


def version_by_id(session: Session, version_id: int) -> CatalogVersion:
    version = session.get(CatalogVersion, version_id)
    if version is None:
        raise NotFound(f"no catalog version id {version_id}")
    return version


def get_item(session: Session, code: str, *, version: CatalogVersion | None = None) -> CatalogItemDef:
    version = version or current_version(session)
    row = session.scalar(
        select(CatalogItem).where(CatalogItem.version_id == version.id, CatalogItem.code == code)
    )
    if row is None:
        raise NotFound(f"catalog version {version.number} has no item {code!r}", item=code)
    return _def(row, version.number)


def change_catalog(
    session: Session,
    *,
    changes: Mapping[str, Mapping[str, Any]] | None = None,
    new_items: Iterable[Mapping[str, Any]] = (),
    created_by: str | None,
    note: str,
) -> CatalogVersion:
    """A new catalog version: the current items with ``changes`` (code -> attributes) applied, plus
    ``new_items``. Negative items get the statutory 5-year validity unless one is given."""
    base = current_version(session)
    rows = {i.code: i.to_json() for i in items_of(session, base)}
    for code, attrs in (changes or {}).items():
        if code not in rows:
            raise NotFound(f"the catalog has no item {code!r}", item=code)
        unknown = set(attrs) - set(EDITABLE)
        if unknown:
            raise CatalogInvalid(f"cannot change {', '.join(sorted(unknown))}", item=code)
        rows[code].update(attrs)
    for item in new_items:
        code = item["code"]
        if code in rows:
            raise CatalogInvalid(f"item {code!r} exists already; change it instead", item=code)
        d = {
            "disclosure": "authorized",
            "sharing": "conditional",
            "validity_years": None,
            "validity_from_field": None,
            "negative": False,
            "sensitive": False,
            "on_sharing_list": False,
            "registers_subjects": False,
            **item,
        }
        if d["negative"] and d["validity_years"] is None:
            d["validity_years"] = NEGATIVE_INFO_VALIDITY_YEARS
        rows[code] = d
    for d in rows.values():
        if session.get(Organisation, d["provider_org_id"]) is None:
            raise CatalogInvalid(f"no organisation {d['provider_org_id']!r} to own {d['code']!r}")
    return _insert_version(session, rows.values(), created_by=created_by, note=note)


def set_sharing_list(
    session: Session, *, add: Iterable[str], remove: Iterable[str], created_by: str | None, note: str
) -> CatalogVersion:
    """G§7: the financing-credit sharing list is adjusted over time; each adjustment is a version."""
    changes: dict[str, dict[str, Any]] = {}
    for code in add:
        changes[code] = {"on_sharing_list": True}
    for code in remove:
        if code in changes:
            raise CatalogInvalid(f"{code!r} is both added to and removed from the sharing list")
        changes[code] = {"on_sharing_list": False}
    return change_catalog(session, changes=changes, created_by=created_by, note=note or "sharing list")
