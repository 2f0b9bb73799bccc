"""The synthetic Ningbo: deterministic per seed, valid identifiers, honest bad-row sidecars."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from fincredit.consent.identifiers import (
    NINGBO_REGIONS,
    CheckCharacterError,
    division_name,
    validate_resident_id,
    validate_uscc,
)
from fincredit.models import SyntheticDataError, _identity, load_catalog
from fincredit.models.synthetic import City, generate_city, load_city, write_city

# The platform owns the default catalog as a data file; models never imports the platform, so its tests read
# that file by path: the generator is tested against the catalog it is really run with.
CATALOG = load_catalog(
    Path(__file__).resolve().parents[2] / "platform/src/fincredit/platform/catalog/default_catalog.toml"
)


@pytest.fixture(scope="module")
def city() -> City:
    return generate_city(3000, catalog=CATALOG, seed=7, bad_row_share=0.05)


def test_same_seed_gives_identical_tables_and_another_seed_does_not() -> None:
    a = generate_city(800, catalog=CATALOG, seed=3)
    b = generate_city(800, catalog=CATALOG, seed=3)
    c = generate_city(800, catalog=CATALOG, seed=4)
    assert a.enterprises.equals(b.enterprises)
    assert a.persons.equals(b.persons)
    assert a.loans.equals(b.loans)
    for code in a.records:
        assert a.records[code].equals(b.records[code]), code
        assert a.submissions[code].equals(b.submissions[code]), code
        assert a.defects[code].equals(b.defects[code]), code
    for code in a.market:
        assert a.market[code].equals(b.market[code]), code
    assert not a.enterprises.column("uscc").equals(c.enterprises.column("uscc"))


def test_write_city_is_byte_for_byte_deterministic_and_round_trips(tmp_path) -> None:
    m1 = write_city(tmp_path / "a", 500, catalog=CATALOG, seed=11)
    m2 = write_city(tmp_path / "b", 500, catalog=CATALOG, seed=11)
    assert m1 == m2
    for rel in m1["files"]:
        assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes(), rel
    manifest = json.loads((tmp_path / "a" / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["files"]["enterprises.parquet"]["rows"] == 500
    assert manifest["loan_model"]["oracle_auc"] > 0.7
    catalog = json.loads((tmp_path / "a" / "catalog.json").read_text(encoding="utf-8"))
    assert {i["code"] for i in catalog["items"]} == {i.code for i in CATALOG.items}
    back = load_city(tmp_path / "a")
    again = generate_city(500, catalog=CATALOG, seed=11)
    assert back.enterprises.equals(again.enterprises)
    # write_city streams the submissions one item at a time; they equal the in-memory ones.
    assert set(back.submissions) == set(again.submissions)
    for code in again.submissions:
        assert back.submissions[code].equals(again.submissions[code]), code
        assert back.defects[code].equals(again.defects[code]), code


def test_every_enterprise_code_is_a_valid_unique_ningbo_uscc(city: City) -> None:
    codes = city.enterprises.column("uscc").to_pylist()
    assert len(set(codes)) == len(codes) == 3000
    for code in codes:
        assert validate_uscc(code) == code
        assert code[:2] == "91" and code[2:8] in NINGBO_REGIONS
    regions = city.enterprises.column("region_code").to_pylist()
    assert [c[2:8] for c in codes] == regions


def test_every_region_the_generator_draws_from_is_a_gb2260_division() -> None:
    # The city samples a few thousand codes; this covers the whole pool, rare regions included.
    for code in (*_identity.REGION_WEIGHTS, *_identity._OTHER_REGIONS, *NINGBO_REGIONS):
        assert division_name(code) is not None, code
    assert {division_name(c) for c in _identity.REGION_WEIGHTS} == set(NINGBO_REGIONS.values())


def test_every_person_has_a_valid_unique_resident_id_with_a_plausible_birth_date(city: City) -> None:
    ids = city.persons.column("resident_id").to_pylist()
    births = city.persons.column("birth_date").to_pylist()
    sexes = city.persons.column("sex").to_pylist()
    assert len(set(ids)) == len(ids)
    for rid, born, sex in zip(ids, births, sexes, strict=True):
        assert validate_resident_id(rid, today=dt.date(2026, 1, 1)) == rid
        assert rid[6:14] == born.strftime("%Y%m%d")
        assert 18 <= (dt.date(2025, 6, 30) - born).days / 365.25 <= 75
        assert (int(rid[16]) % 2 == 0) == (sex == "F")  # GB 11643: odd sequence digit = male
    ningbo = sum(rid[:6] in NINGBO_REGIONS for rid in ids)
    assert ningbo / len(ids) > 0.8


def test_enterprise_names_look_like_registered_chinese_company_names(city: City) -> None:
    names = city.enterprises.column("name").to_pylist()
    assert all(n.endswith(("有限公司", "股份有限公司", "有限责任公司")) for n in names)
    prefixes = ("宁波", "慈溪", "余姚", "象山", "宁海")
    assert all(n.startswith(prefixes) for n in names)
    assert len(set(names)) > 0.95 * len(names)
    industries = city.enterprises.column("industry_code").to_pylist()
    shares = {s: industries.count(s) / len(industries) for s in set(industries)}
    assert max(shares, key=lambda s: shares[s]) == "C"  # manufacturing leads, as in Ningbo
    assert shares["C"] + shares["F"] > 0.45
    reps = set(city.enterprises.column("legal_rep_id").to_pylist())
    assert reps <= set(city.persons.column("resident_id").to_pylist())


def test_clean_records_conform_to_the_catalog_schema_and_enumerations(city: City) -> None:
    for item in CATALOG.items:
        table = city.records[item.code]
        assert table.schema.equals(item.arrow_schema(), check_metadata=False), item.code
        for f in item.fields:
            col = table.column(f.name)
            if f.required:
                assert col.null_count == 0, (item.code, f.name)
            if f.enum:
                assert set(pc.unique(col).to_pylist()) <= set(f.enum), (item.code, f.name)
        ids = table.column("subject_id").to_pylist()
        check = validate_resident_id if item.subject_kind == "natural" else validate_uscc
        for code in ids[:200]:
            check(code)
        assert len(set(table.column("provider_record_id").to_pylist())) == table.num_rows
    negative = [i for i in CATALOG.items if i.negative]
    assert negative and all(i.validity_years == 5 for i in negative)


def test_each_submission_damages_the_configured_share_of_rows_and_lists_them(city: City) -> None:
    for item in CATALOG.items:
        raw = city.submissions[item.code]
        side = city.defects[item.code]
        assert raw.schema.equals(item.raw_schema(), check_metadata=False)
        assert raw.num_rows == city.records[item.code].num_rows
        assert side.num_rows == round(0.05 * raw.num_rows), item.code
        assert len(set(side.column("row").to_pylist())) == side.num_rows


def _cell(table: pa.Table, column: str, row: int) -> str | None:
    return table.column(column)[row].as_py()


def test_sidecar_reasons_match_what_is_wrong_with_each_row(city: City) -> None:
    seen: set[str] = set()
    for item in CATALOG.items:
        raw, side, clean = city.submissions[item.code], city.defects[item.code], city.records[item.code]
        bad_rows = set(side.column("row").to_pylist())
        for rec in side.to_pylist():
            row, fld, defect = rec["row"], rec["field"], rec["defect"]
            seen.add(defect)
            value = _cell(raw, fld, row)
            assert rec["provider_record_id"] == _cell(raw, "provider_record_id", row)
            if defect == "check_character":
                kind_check = validate_resident_id if item.subject_kind == "natural" else validate_uscc
                with pytest.raises(CheckCharacterError):
                    kind_check(value)
            elif defect == "fullwidth":
                assert value != _cell(clean, "subject_id", row)
                # Cleaning (half-width normalisation) recovers the true code.
                assert validate_uscc(value) if item.subject_kind == "legal" else validate_resident_id(value)
            elif defect == "whitespace":
                assert value != value.strip() and value.strip() == _cell(clean, "subject_name", row)
            elif defect == "name_mismatch":
                assert value != _cell(clean, "subject_name", row)
            elif defect == "invalid_date":
                with pytest.raises(ValueError):
                    dt.date.fromisoformat(value)
            elif defect == "enum_value":
                assert value not in (item.field(fld).enum or ())
            elif defect == "missing_required":
                assert item.field(fld).required and value in (None, "")
            assert rec["fixable"] == (defect in ("fullwidth", "whitespace"))
        # Every row not in the sidecar is the clean record rendered as text.
        for row in range(0, raw.num_rows, max(1, raw.num_rows // 50)):
            if row not in bad_rows:
                assert _cell(raw, "subject_id", row) == _cell(clean, "subject_id", row)
                assert _cell(raw, "subject_name", row) == _cell(clean, "subject_name", row)
    assert seen == {
        "check_character",
        "name_mismatch",
        "invalid_date",
        "enum_value",
        "missing_required",
        "fullwidth",
        "whitespace",
    }


def test_zero_bad_row_share_gives_clean_submissions() -> None:
    c = generate_city(300, catalog=CATALOG, seed=1, bad_row_share=0.0)
    assert all(t.num_rows == 0 for t in c.defects.values())


def test_market_datasets_carry_vendor_provenance_per_record(city: City) -> None:
    for code, table in city.market.items():
        spec = CATALOG.dataset(code)
        assert table.schema.equals(spec.arrow_schema(), check_metadata=False)
        assert set(pc.unique(table.column("vendor_id")).to_pylist()) == {spec.vendor_id}
        assert table.column("record_id").null_count == 0
        assert len(set(table.column("record_id").to_pylist())) == table.num_rows
        assert set(table.column("uscc").to_pylist()) <= set(city.enterprises.column("uscc").to_pylist())


def test_loans_belong_to_live_enterprises_and_default_at_a_plausible_rate(city: City) -> None:
    loans = city.loans
    assert loans.num_rows == pytest.approx(0.5 * 3000, rel=0.1)
    assert len(set(loans.column("loan_id").to_pylist())) == loans.num_rows
    status = dict(
        zip(
            city.enterprises.column("uscc").to_pylist(),
            city.enterprises.column("status").to_pylist(),
            strict=True,
        )
    )
    assert {status[u] for u in loans.column("uscc").to_pylist()} <= {"存续", "在业"}
    rate = np.mean(loans.column("default").to_numpy(zero_copy_only=False))
    assert 0.08 < rate < 0.25
    assert CATALOG.item("tax_rating").disclosure == "authorized"


def test_bad_parameters_are_refused() -> None:
    with pytest.raises(SyntheticDataError):
        generate_city(0, catalog=CATALOG)
    with pytest.raises(SyntheticDataError):
        generate_city(10, catalog=CATALOG, bad_row_share=0.7)


def test_generator_tables_cover_every_ningbo_district_and_gb4754_section() -> None:
    from fincredit.models._identity import INDUSTRY_SECTIONS, INDUSTRY_WORDS, REGION_WEIGHTS

    assert set(REGION_WEIGHTS) == set(NINGBO_REGIONS)
    assert list(INDUSTRY_SECTIONS) == [chr(c) for c in range(ord("A"), ord("T") + 1)]
    assert set(INDUSTRY_WORDS) == set(INDUSTRY_SECTIONS)


def test_a_bank_sees_only_its_own_loans_and_features(city: City) -> None:
    from fincredit.models.features import MARKET_FEATURES, PUBLIC_FEATURES
    from fincredit.models.synthetic import BANK_FEATURES, BANKS

    frames = {b: city.bank_loans(b) for b in BANKS}
    assert sum(len(f) for f in frames.values()) == city.loans.num_rows
    nbcb = frames["B-NBCB"]
    assert set(nbcb["bank_id"]) == {"B-NBCB"}
    assert list(nbcb.columns) == ["loan_id", "bank_id", "uscc", "apply_date", *BANK_FEATURES, "default"]
    assert not set(nbcb.columns) & {*PUBLIC_FEATURES, *MARKET_FEATURES, "default_probability"}
    with pytest.raises(SyntheticDataError):
        city.bank_loans("B-NOPE")


@pytest.mark.parametrize("n", [1, 2, 5])
def test_tiny_cities_still_generate_and_write(tmp_path, n: int) -> None:
    for seed in range(4):
        manifest = write_city(tmp_path / f"{n}-{seed}", n, catalog=CATALOG, seed=seed)
        assert manifest["files"]["enterprises.parquet"]["rows"] == n
