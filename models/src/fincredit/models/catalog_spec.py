"""The shape of a public credit information catalog (R§6, G§7) and of market datasets (G§9), and how a
catalog is read from a data file.

The types say what a catalog item is: who provides it, whose records it holds, its fields with their
Arrow types, and the attributes the regulations attach to it (disclosure, sharing, validity). The
*content* — which items, providers, vendors and datasets exist — is data, not code: the platform owns
its default catalog as ``fincredit/platform/catalog/default_catalog.toml`` and seeds its first catalog
version from it. :func:`load_catalog` reads such a file (TOML or JSON) into a :class:`CatalogSpec` and
refuses a malformed one (unknown keys or field types, duplicate codes, missing attributes, references to
undeclared providers or vendors) with an error naming the place. The types and the loader live here,
in ``models``, because both members use them: the platform to seed and validate its catalog, and the
synthetic city generator, which writes its submissions in the shapes of the catalog it is given (models
never imports the platform).

Every submission row also carries the envelope columns in ``ENVELOPE_FIELDS`` (provider record id,
subject id, subject name, report month). Provider files arrive as text (CSV exports, or Parquet with
string columns); ``FieldSpec.arrow_type`` is the type a cleaned value is cast to.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal, get_args

import pyarrow as pa

from fincredit.models.errors import CatalogSpecError

__all__ = [
    "ENVELOPE_FIELDS",
    "MARKET_ENVELOPE",
    "NEGATIVE_INFO_VALIDITY_YEARS",
    "CatalogItemSpec",
    "CatalogSpec",
    "CatalogSpecError",
    "FieldSpec",
    "MarketDatasetSpec",
    "ProviderSpec",
    "VendorSpec",
    "load_catalog",
    "parse_catalog",
]

# Credit Reporting Industry Regulations Art. 16: negative information is kept 5 years from the end of
# the act or event.
NEGATIVE_INFO_VALIDITY_YEARS = 5

ArrowTypeName = Literal["string", "date32", "float64", "int32", "int64", "bool"]
SubjectKindName = Literal["legal", "natural"]
Disclosure = Literal["public", "authorized"]
Sharing = Literal["unconditional", "conditional"]
ProviderKind = Literal["government", "utility", "court", "customs"]

_ARROW_TYPES: dict[str, pa.DataType] = {
    "string": pa.string(),
    "date32": pa.date32(),
    "float64": pa.float64(),
    "int32": pa.int32(),
    "int64": pa.int64(),
    "bool": pa.bool_(),
}


@dataclass(frozen=True, slots=True)
class FieldSpec:
    name: str
    type: ArrowTypeName
    title: str  # the Chinese label a provider's clerk sees on the template
    required: bool = True
    enum: tuple[str, ...] | None = None
    sensitive: bool = False  # encrypted at rest, never published (R§17)

    @property
    def arrow_type(self) -> pa.DataType:
        return _ARROW_TYPES[self.type]


@dataclass(frozen=True, slots=True)
class ProviderSpec:
    id: str
    name: str
    kind: ProviderKind


@dataclass(frozen=True, slots=True)
class CatalogItemSpec:
    code: str
    name: str
    provider_id: str
    subject_kind: SubjectKindName
    fields: tuple[FieldSpec, ...]
    disclosure: Disclosure
    sharing: Sharing
    # Years a record stays in public query, counted from ``validity_from_field`` (or the event date
    # field when that is empty); None = as long as the record is current.
    validity_years: int | None
    event_date_field: str
    validity_from_field: str | None = None
    negative: bool = False
    sensitive: bool = False
    on_sharing_list: bool = True  # G§7: the financing-credit sharing list

    def field(self, name: str) -> FieldSpec:
        for f in (*ENVELOPE_FIELDS, *self.fields):
            if f.name == name:
                return f
        raise KeyError(f"catalog item {self.code} has no field {name!r}")

    @property
    def all_fields(self) -> tuple[FieldSpec, ...]:
        return (*ENVELOPE_FIELDS, *self.fields)

    def arrow_schema(self) -> pa.Schema:
        """The typed schema of a cleaned record (envelope + item fields)."""
        return pa.schema([pa.field(f.name, f.arrow_type, nullable=not f.required) for f in self.all_fields])

    def raw_schema(self) -> pa.Schema:
        """The schema of a provider file as submitted: every column text."""
        return pa.schema([pa.field(f.name, pa.string()) for f in self.all_fields])


@dataclass(frozen=True, slots=True)
class VendorSpec:
    id: str
    name: str
    # Suggested contract terms for the demo contract the platform signs with this vendor (G§9, G§16).
    allowed_purposes: tuple[str, ...]
    derived_products_allowed: bool
    annual_fee_cny: int


@dataclass(frozen=True, slots=True)
class MarketDatasetSpec:
    code: str
    name: str
    vendor_id: str
    fields: tuple[FieldSpec, ...]
    description: str = ""

    def arrow_schema(self) -> pa.Schema:
        return pa.schema(
            [
                pa.field(f.name, f.arrow_type, nullable=not f.required)
                for f in (*MARKET_ENVELOPE, *self.fields)
            ]
        )


ENVELOPE_FIELDS: tuple[FieldSpec, ...] = (
    FieldSpec("provider_record_id", "string", "报送记录编号"),
    FieldSpec("subject_id", "string", "主体标识(统一社会信用代码/身份证号)"),
    FieldSpec("subject_name", "string", "主体名称/姓名"),
    FieldSpec("report_month", "string", "报送月份(YYYY-MM)"),
)

# Per-record provenance for purchased data: which vendor, which dataset, the vendor's own record key
# and when the vendor observed it.
MARKET_ENVELOPE: tuple[FieldSpec, ...] = (
    FieldSpec("record_id", "string", "记录编号"),
    FieldSpec("vendor_id", "string", "供应商编号"),
    FieldSpec("dataset_code", "string", "数据集编号"),
    FieldSpec("source_ref", "string", "来源引用"),
    FieldSpec("collected_at", "date32", "采集日期"),
    FieldSpec("uscc", "string", "统一社会信用代码"),
)


@dataclass(frozen=True, slots=True)
class CatalogSpec:
    """A whole catalog: the providers, the items they submit, and the vendors with their market datasets."""

    providers: tuple[ProviderSpec, ...]
    items: tuple[CatalogItemSpec, ...]
    vendors: tuple[VendorSpec, ...] = ()
    market_datasets: tuple[MarketDatasetSpec, ...] = ()

    def item(self, code: str) -> CatalogItemSpec:
        for item in self.items:
            if item.code == code:
                return item
        raise KeyError(f"no catalog item {code!r}; known: {', '.join(i.code for i in self.items)}")

    def dataset(self, code: str) -> MarketDatasetSpec:
        for ds in self.market_datasets:
            if ds.code == code:
                return ds
        known = ", ".join(d.code for d in self.market_datasets)
        raise KeyError(f"no market dataset {code!r}; known: {known}")

    def to_dict(self) -> dict[str, Any]:
        """Plain lists and dicts (JSON-ready), one entry per provider, item, vendor and dataset."""
        return {
            "providers": [asdict(p) for p in self.providers],
            "items": [asdict(i) for i in self.items],
            "vendors": [asdict(v) for v in self.vendors],
            "market_datasets": [asdict(d) for d in self.market_datasets],
        }


def load_catalog(path: str | Path) -> CatalogSpec:
    """Read a catalog file: TOML (``.toml``) or JSON (``.json``), in the layout of the platform's
    ``default_catalog.toml``. A malformed file raises :class:`CatalogSpecError` naming the place."""
    p = Path(path)
    if p.suffix not in (".toml", ".json"):
        raise CatalogSpecError(f"{p}: a catalog file is .toml or .json")
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise CatalogSpecError(f"{p}: cannot read the catalog ({exc.strerror or exc})") from exc
    try:
        data = tomllib.loads(raw.decode("utf-8")) if p.suffix == ".toml" else json.loads(raw)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CatalogSpecError(f"{p}: not valid {p.suffix[1:].upper()}: {exc}") from exc
    return parse_catalog(data, source=p.name)


def parse_catalog(data: Mapping[str, Any], *, source: str = "catalog") -> CatalogSpec:
    """A :class:`CatalogSpec` from the plain data of a catalog file; every entry is checked.

    Layout: ``enums`` (name -> list of values, which a field's ``enum`` may name instead of listing its
    values), ``providers``, ``items``, ``vendors`` and ``market_datasets`` (lists of tables whose keys
    are the attributes of the corresponding spec; a field is a table with ``name``, ``type``, ``title``
    and optionally ``required``, ``enum``, ``sensitive``)."""
    return _Parser(source).catalog(data)


_PROVIDER_KEYS = {"id": str, "name": str, "kind": str}
_ITEM_REQUIRED = {
    "code": str,
    "name": str,
    "provider_id": str,
    "subject_kind": str,
    "fields": list,
    "disclosure": str,
    "sharing": str,
    "event_date_field": str,
}
_ITEM_OPTIONAL = {
    "validity_years": int,
    "validity_from_field": str,
    "negative": bool,
    "sensitive": bool,
    "on_sharing_list": bool,
}
_FIELD_REQUIRED = {"name": str, "type": str, "title": str}
_FIELD_OPTIONAL: dict[str, type | tuple[type, ...]] = {
    "required": bool,
    "enum": (str, list),
    "sensitive": bool,
}
_VENDOR_KEYS = {
    "id": str,
    "name": str,
    "allowed_purposes": list,
    "derived_products_allowed": bool,
    "annual_fee_cny": int,
}
_DATASET_REQUIRED = {"code": str, "name": str, "vendor_id": str, "fields": list}
_DATASET_OPTIONAL = {"description": str}


class _Parser:
    def __init__(self, source: str) -> None:
        self.source = source
        self.enums: dict[str, tuple[str, ...]] = {}

    def fail(self, where: str, message: str) -> CatalogSpecError:
        return CatalogSpecError(f"{self.source}: {where}: {message}")

    def table(
        self,
        where: str,
        entry: Any,
        required: Mapping[str, type | tuple[type, ...]],
        optional: Mapping[str, type | tuple[type, ...]] | None = None,
    ) -> dict[str, Any]:
        optional = optional or {}
        if not isinstance(entry, Mapping):
            raise self.fail(where, "expected a table of attributes")
        unknown = sorted(set(entry) - set(required) - set(optional))
        if unknown:
            raise self.fail(where, f"unknown attribute(s) {', '.join(unknown)}")
        missing = [k for k in required if k not in entry]
        if missing:
            raise self.fail(where, f"missing attribute(s) {', '.join(missing)}")
        for key, value in entry.items():
            expected = required.get(key) or optional[key]
            # bool is an int in Python; an int attribute must not accept true/false.
            wrong_bool = isinstance(value, bool) and expected is int
            if wrong_bool or not isinstance(value, expected):
                raise self.fail(where, f"{key} must be {_kind_name(expected)}, got {value!r}")
        return dict(entry)

    def choice(self, where: str, key: str, value: str, allowed: Sequence[str]) -> None:
        if value not in allowed:
            raise self.fail(where, f"{key} {value!r} is not one of {', '.join(allowed)}")

    def strings(self, where: str, key: str, value: Any) -> tuple[str, ...]:
        if not isinstance(value, list) or not value or not all(isinstance(v, str) and v for v in value):
            raise self.fail(where, f"{key} must be a non-empty list of non-empty strings")
        if len(set(value)) != len(value):
            raise self.fail(where, f"{key} lists a value twice")
        return tuple(value)

    def catalog(self, data: Mapping[str, Any]) -> CatalogSpec:
        top = self.table(
            "top level",
            data,
            {"providers": list, "items": list},
            {"enums": Mapping, "vendors": list, "market_datasets": list},
        )
        for name, values in dict(top.get("enums", {})).items():
            self.enums[name] = self.strings("enums", name, values)
        providers = tuple(self.provider(f"providers[{i}]", p) for i, p in enumerate(top["providers"]))
        vendors = tuple(self.vendor(f"vendors[{i}]", v) for i, v in enumerate(top.get("vendors", [])))
        provider_ids = self.unique("providers", "id", [p.id for p in providers])
        vendor_ids = self.unique("vendors", "id", [v.id for v in vendors])
        items = tuple(self.item(f"items[{i}]", it, provider_ids) for i, it in enumerate(top["items"]))
        datasets = tuple(
            self.dataset(f"market_datasets[{i}]", d, vendor_ids)
            for i, d in enumerate(top.get("market_datasets", []))
        )
        self.unique("items", "code", [i.code for i in items])
        self.unique("market_datasets", "code", [d.code for d in datasets])
        if not items:
            raise self.fail("items", "a catalog needs at least one item")
        return CatalogSpec(providers=providers, items=items, vendors=vendors, market_datasets=datasets)

    def unique(self, where: str, key: str, values: list[str]) -> set[str]:
        seen: set[str] = set()
        for v in values:
            if v in seen:
                raise self.fail(where, f"duplicate {key} {v!r}")
            seen.add(v)
        return seen

    def provider(self, where: str, entry: Any) -> ProviderSpec:
        d = self.table(where, entry, _PROVIDER_KEYS)
        self.choice(where, "kind", d["kind"], get_args(ProviderKind))
        return ProviderSpec(**d)

    def vendor(self, where: str, entry: Any) -> VendorSpec:
        d = self.table(where, entry, _VENDOR_KEYS)
        d["allowed_purposes"] = self.strings(where, "allowed_purposes", d["allowed_purposes"])
        return VendorSpec(**d)

    def fields(
        self, where: str, entries: list[Any], envelope: tuple[FieldSpec, ...]
    ) -> tuple[FieldSpec, ...]:
        if not entries:
            raise self.fail(where, "needs at least one field")
        out = []
        for i, entry in enumerate(entries):
            at = f"{where}.fields[{i}]"
            d = self.table(at, entry, _FIELD_REQUIRED, _FIELD_OPTIONAL)
            at = f"{where}.fields[{i}] ({d['name']})"
            self.choice(at, "type", d["type"], list(_ARROW_TYPES))
            enum = d.get("enum")
            if isinstance(enum, str):
                if enum not in self.enums:
                    raise self.fail(at, f"enum {enum!r} is not declared under [enums]")
                d["enum"] = self.enums[enum]
            elif enum is not None:
                d["enum"] = self.strings(at, "enum", enum)
            if enum is not None and d["type"] != "string":
                raise self.fail(at, "only a string field takes an enumeration")
            out.append(FieldSpec(**d))
        self.unique(f"{where}.fields", "field name", [f.name for f in (*envelope, *out)])
        return tuple(out)

    def item(self, where: str, entry: Any, provider_ids: set[str]) -> CatalogItemSpec:
        d = self.table(where, entry, _ITEM_REQUIRED, _ITEM_OPTIONAL)
        where = f"{where} ({d['code']})"
        self.choice(where, "subject_kind", d["subject_kind"], get_args(SubjectKindName))
        self.choice(where, "disclosure", d["disclosure"], get_args(Disclosure))
        self.choice(where, "sharing", d["sharing"], get_args(Sharing))
        if d["provider_id"] not in provider_ids:
            raise self.fail(where, f"provider_id {d['provider_id']!r} is not a declared provider")
        if "validity_years" in d and not 1 <= d["validity_years"] <= 100:
            raise self.fail(where, "validity_years must be between 1 and 100 (omit it for no limit)")
        d["fields"] = self.fields(where, d["fields"], ENVELOPE_FIELDS)
        d.setdefault("validity_years", None)
        types = {f.name: f.type for f in d["fields"]}
        for key in ("event_date_field", "validity_from_field"):
            name = d.get(key)
            if name is not None and types.get(name) != "date32":
                raise self.fail(where, f"{key} {name!r} must name a date32 field of the item")
        return CatalogItemSpec(**d)

    def dataset(self, where: str, entry: Any, vendor_ids: set[str]) -> MarketDatasetSpec:
        d = self.table(where, entry, _DATASET_REQUIRED, _DATASET_OPTIONAL)
        where = f"{where} ({d['code']})"
        if d["vendor_id"] not in vendor_ids:
            raise self.fail(where, f"vendor_id {d['vendor_id']!r} is not a declared vendor")
        d["fields"] = self.fields(where, d["fields"], MARKET_ENVELOPE)
        return MarketDatasetSpec(**d)


def _kind_name(expected: type | tuple[type, ...]) -> str:
    names = {str: "a string", int: "an integer", bool: "true or false", list: "a list", Mapping: "a table"}
    kinds = expected if isinstance(expected, tuple) else (expected,)
    return " or ".join(names.get(k, k.__name__) for k in kinds)
