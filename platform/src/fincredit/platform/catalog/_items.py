"""The platform's view of a catalog item: what the ingestion pipeline validates against."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from fincredit.models.catalog_spec import ENVELOPE_FIELDS, FieldSpec

ARROW_TYPE_NAMES = ("string", "date32", "float64", "int32", "int64", "bool")


@dataclass(frozen=True, slots=True)
class CatalogItemDef:
    """One item of one catalog version (immutable: an edit makes a new version)."""

    version_id: int
    version_number: int
    code: str
    name: str
    provider_org_id: str
    subject_kind: str  # legal | natural
    fields: tuple[FieldSpec, ...]
    disclosure: str
    sharing: str
    validity_years: int | None
    event_date_field: str
    validity_from_field: str | None
    negative: bool
    sensitive: bool
    on_sharing_list: bool
    registers_subjects: bool

    @property
    def all_fields(self) -> tuple[FieldSpec, ...]:
        return (*ENVELOPE_FIELDS, *self.fields)

    def field(self, name: str) -> FieldSpec:
        for f in self.all_fields:
            if f.name == name:
                return f
        raise KeyError(name)

    @property
    def column_names(self) -> list[str]:
        return [f.name for f in self.all_fields]

    @property
    def sensitive_fields(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields if f.sensitive)

    def arrow_schema(self) -> pa.Schema:
        """The typed schema of a cleaned row (envelope + item fields)."""
        return pa.schema([pa.field(f.name, f.arrow_type) for f in self.all_fields])

    def valid_until(self, event_date: dt.date | None, validity_from: dt.date | None) -> dt.date | None:
        """The scalar form of the validity rule (the pipeline applies it vectorised)."""
        if self.validity_years is None:
            return None
        base = validity_from or event_date
        if base is None:
            return None
        return add_years(base, self.validity_years)

    def to_json(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "name": self.name,
            "provider_org_id": self.provider_org_id,
            "subject_kind": self.subject_kind,
            "fields": [field_to_json(f) for f in self.fields],
            "disclosure": self.disclosure,
            "sharing": self.sharing,
            "validity_years": self.validity_years,
            "event_date_field": self.event_date_field,
            "validity_from_field": self.validity_from_field,
            "negative": self.negative,
            "sensitive": self.sensitive,
            "on_sharing_list": self.on_sharing_list,
            "registers_subjects": self.registers_subjects,
        }


def add_years(day: dt.date, years: int) -> dt.date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February into a common year
        return day.replace(year=day.year + years, day=28)


def field_to_json(f: FieldSpec) -> dict[str, Any]:
    return {
        "name": f.name,
        "type": f.type,
        "title": f.title,
        "required": f.required,
        "enum": list(f.enum) if f.enum else None,
        "sensitive": f.sensitive,
    }


def field_from_json(d: dict[str, Any]) -> FieldSpec:
    enum = d.get("enum")
    return FieldSpec(
        name=str(d["name"]),
        type=d["type"],
        title=str(d.get("title") or d["name"]),
        required=bool(d.get("required", True)),
        enum=tuple(str(v) for v in enum) if enum else None,
        sensitive=bool(d.get("sensitive", False)),
    )
