"""A catalog is data: read from TOML or JSON, every entry checked, a malformed one refused with the place
named; the synthetic city is generated in the shapes of the catalog it is given and refuses one that does
not hold what it simulates."""

from __future__ import annotations

import copy
import json
import tomllib
from pathlib import Path
from typing import Any

import pytest

from fincredit.models import CatalogSpecError, SyntheticDataError, load_catalog, parse_catalog
from fincredit.models.synthetic import generate_city

DEFAULT_FILE = (
    Path(__file__).resolve().parents[2] / "platform/src/fincredit/platform/catalog/default_catalog.toml"
)
SMALL: dict[str, Any] = {
    "enums": {"grades": ["A", "B"]},
    "providers": [{"id": "P1", "name": "Provider", "kind": "government"}],
    "items": [
        {
            "code": "rating",
            "name": "Rating",
            "provider_id": "P1",
            "subject_kind": "legal",
            "disclosure": "public",
            "sharing": "unconditional",
            "validity_years": 3,
            "event_date_field": "rated_date",
            "fields": [
                {"name": "grade", "type": "string", "title": "Grade", "enum": "grades"},
                {"name": "rated_date", "type": "date32", "title": "Rated"},
                {"name": "note", "type": "string", "title": "Note", "required": False, "enum": ["x", "y"]},
            ],
        }
    ],
    "vendors": [
        {
            "id": "V1",
            "name": "Vendor",
            "allowed_purposes": ["credit_assessment"],
            "derived_products_allowed": False,
            "annual_fee_cny": 1000,
        }
    ],
    "market_datasets": [
        {
            "code": "scores",
            "name": "Scores",
            "vendor_id": "V1",
            "fields": [{"name": "s", "type": "int32", "title": "S"}],
        }
    ],
}


def _broken(change: Any) -> dict[str, Any]:
    data = copy.deepcopy(SMALL)
    change(data)
    return data


def test_a_small_catalog_reads_into_specs_with_named_enumerations_resolved() -> None:
    spec = parse_catalog(SMALL)
    item = spec.item("rating")
    assert item.field("grade").enum == ("A", "B")
    assert item.field("note").enum == ("x", "y") and not item.field("note").required
    assert item.validity_from_field is None and not item.negative and item.on_sharing_list
    assert spec.dataset("scores").vendor_id == "V1"
    assert spec.vendors[0].allowed_purposes == ("credit_assessment",)
    with pytest.raises(KeyError, match="no catalog item 'nope'; known: rating"):
        spec.item("nope")


def test_toml_and_json_files_give_the_same_catalog(tmp_path: Path) -> None:
    spec = load_catalog(DEFAULT_FILE)
    (tmp_path / "c.json").write_text(json.dumps(tomllib.loads(DEFAULT_FILE.read_text("utf-8"))), "utf-8")
    assert load_catalog(tmp_path / "c.json") == spec
    assert len(spec.items) == 14 and all(i.provider_id in {p.id for p in spec.providers} for i in spec.items)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda d: d["items"][0]["fields"][1].update(type="datetime"),
            r"items\[0\] \(rating\)\.fields\[1\] \(rated_date\): type 'datetime' is not one of",
        ),
        (lambda d: d["items"].append(copy.deepcopy(d["items"][0])), r"items: duplicate code 'rating'"),
        (lambda d: d["items"][0].pop("disclosure"), r"items\[0\]: missing attribute\(s\) disclosure"),
        (lambda d: d["items"][0].update(colour="red"), r"items\[0\]: unknown attribute\(s\) colour"),
        (
            lambda d: d["items"][0]["fields"].append({"name": "grade", "type": "string", "title": "again"}),
            r"duplicate field name 'grade'",
        ),
        (
            lambda d: d["items"][0]["fields"][0].update(name="subject_id"),
            r"duplicate field name 'subject_id'",
        ),
        (lambda d: d["items"][0].update(provider_id="P9"), r"provider_id 'P9' is not a declared provider"),
        (
            lambda d: d["market_datasets"][0].update(vendor_id="V9"),
            r"vendor_id 'V9' is not a declared vendor",
        ),
        (
            lambda d: d["items"][0]["fields"][0].update(enum="colours"),
            r"enum 'colours' is not declared under \[enums\]",
        ),
        (
            lambda d: d["items"][0].update(event_date_field="grade"),
            r"event_date_field 'grade' must name a date32 field",
        ),
        (lambda d: d["items"][0].update(validity_years=True), r"validity_years must be an integer"),
        (
            lambda d: d["items"][0].update(sharing="sometimes"),
            r"sharing 'sometimes' is not one of unconditional, conditional",
        ),
        (lambda d: d["providers"][0].update(kind="bank"), r"providers\[0\]: kind 'bank' is not one of"),
    ],
)
def test_a_malformed_catalog_is_refused_with_the_place_named(change: Any, message: str) -> None:
    with pytest.raises(CatalogSpecError, match="^mine.toml: .*" + message):
        parse_catalog(_broken(change), source="mine.toml")


def test_an_unreadable_file_is_a_catalog_error(tmp_path: Path) -> None:
    (tmp_path / "c.toml").write_text("items = [", "utf-8")
    with pytest.raises(CatalogSpecError, match=r"c\.toml: not valid TOML"):
        load_catalog(tmp_path / "c.toml")
    with pytest.raises(CatalogSpecError, match=r"a catalog file is \.toml or \.json"):
        load_catalog(DEFAULT_FILE.with_suffix(".yaml"))


def test_the_generator_refuses_a_catalog_without_what_it_simulates() -> None:
    with pytest.raises(SyntheticDataError, match="the catalog has no item 'market_registration'"):
        generate_city(5, catalog=parse_catalog(SMALL))
    data = tomllib.loads(DEFAULT_FILE.read_text("utf-8"))
    data["enums"]["penalty_types"] = ["警告"]
    with pytest.raises(
        SyntheticDataError, match="admin_penalty, field penalty_type: its enumeration does not allow"
    ):
        generate_city(200, catalog=parse_catalog(data))
