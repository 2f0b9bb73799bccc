"""Row-level validation and cleaning rules of the ingestion pipeline, each with a bad-row example.

These run on Arrow batches alone (no database): ``clean_batch`` returns the typed rows and, per bad
cell, the file row, the field and a stable reason code that the provider's feedback report shows."""

from __future__ import annotations

import datetime as dt
import random

import numpy as np
import pyarrow as pa
import pytest

from fincredit.consent.identifiers import (
    IdentifierError,
    generate_resident_id,
    generate_uscc,
    validate,
)
from fincredit.platform.catalog import add_years, default_catalog
from fincredit.platform.catalog._store import _def, _spec_row
from fincredit.platform.catalog.tables import CatalogItem
from fincredit.platform.ingestion import resident_id_valid, uscc_valid, valid_until
from fincredit.platform.ingestion._clean import clean_batch, halfwidth

TODAY = dt.date(2025, 7, 1)
RNG = random.Random(20251)
USCC = generate_uscc(RNG, "330212")
RID = generate_resident_id(RNG, "330203", dt.date(1980, 5, 17))


def item(code: str):  # type: ignore[no-untyped-def]
    return _def(CatalogItem(version_id=1, **_spec_row(default_catalog().item(code))), 1)


def tax_row(**overrides: str | None) -> dict[str, str | None]:
    row: dict[str, str | None] = {
        "provider_record_id": "r-1",
        "subject_id": USCC,
        "subject_name": "宁波示范科技有限公司",
        "report_month": "2025-05",
        "rating_year": "2024",
        "rating": "A",
        "rated_date": "2025-04-15",
    }
    row.update(overrides)
    return row


def run(code: str, rows: list[dict[str, str | None]], month: str = "2025-06"):  # type: ignore[no-untyped-def]
    it = item(code)
    batch = pa.RecordBatch.from_pylist(rows, schema=pa.schema([(n, pa.string()) for n in it.column_names]))
    table, errors = clean_batch(batch, it, offset=100, month=month, today=TODAY)
    return table, [(r, f, reason) for r, f, reason, _ in errors.iter_rows()], errors


def test_a_clean_row_passes_and_is_typed() -> None:
    table, errs, _ = run("tax_rating", [tax_row()])
    assert errs == []
    assert table.column("rating_year").to_pylist() == [2024]
    assert table.column("rated_date").to_pylist() == [dt.date(2025, 4, 15)]


@pytest.mark.parametrize(
    ("overrides", "field", "reason"),
    [
        ({"subject_id": USCC[:17] + ("0" if USCC[17] != "0" else "1")}, "subject_id", "check_character"),
        ({"subject_id": USCC[:16]}, "subject_id", "invalid_identifier"),
        ({"subject_id": "I" + USCC[1:]}, "subject_id", "invalid_identifier"),
        ({"rated_date": "2023-02-30"}, "rated_date", "invalid_date"),
        ({"rated_date": "20230732"}, "rated_date", "invalid_date"),
        ({"rated_date": "yesterday"}, "rated_date", "invalid_date"),
        ({"rating": "AA"}, "rating", "enum_value"),
        ({"rating_year": "二〇二四"}, "rating_year", "invalid_integer"),
        ({"rating_year": "9999999999"}, "rating_year", "invalid_integer"),
        ({"rating": None}, "rating", "missing_required"),
        ({"rated_date": "   "}, "rated_date", "missing_required"),
        ({"report_month": "2025-5"}, "report_month", "invalid_month"),
        ({"report_month": "2025-07"}, "report_month", "month_after_submission"),
        ({"provider_record_id": "x" * 200}, "provider_record_id", "invalid_record_id"),
    ],
)
def test_each_rule_rejects_its_bad_row(overrides: dict[str, str | None], field: str, reason: str) -> None:
    _, errs, errors = run("tax_rating", [tax_row(), tax_row(**{"provider_record_id": "r-2", **overrides})])
    assert (101, field, reason) in errs
    assert all(r == 101 for r, _, _ in errs), "the good row has no errors"
    assert errors.bad_mask(2, 100).tolist() == [False, True]


def test_a_check_character_error_shows_both_characters_without_blaming_position_18() -> None:
    bad = USCC[:17] + ("0" if USCC[17] != "0" else "1")
    _, _, errors = run("tax_rating", [tax_row(subject_id=bad)])
    (row,) = errors.iter_rows()
    assert row[2] == "check_character"
    assert "does not match its check character" in row[3] and "character 18" not in row[3]
    assert repr(USCC[17]) in row[3] and repr(bad[17]) in row[3]


def test_a_character_rule_names_the_wrong_character() -> None:
    bad = USCC[:4] + "I" + USCC[5:]
    _, _, errors = run("tax_rating", [tax_row(subject_id=bad)])
    (row,) = errors.iter_rows()
    assert "character 5" in row[3]


def test_a_province_without_such_a_division_is_refused_like_the_scalar_reference() -> None:
    # 339999 starts with a real province (33) but is no GB/T 2260 division code.
    body = "339999" + RID[6:17]
    bad = body + "10X98765432"[sum(int(c) * pow(2, 17 - i, 11) for i, c in enumerate(body)) % 11]
    assert resident_id_valid(pa.array([RID, bad]), today=TODAY).tolist() == [True, False]
    assert not _ref(bad, "natural")
    uscc_body = USCC[:2] + "339999" + USCC[8:17]
    alphabet = "0123456789ABCDEFGHJKLMNPQRTUWXY"
    total = sum(alphabet.index(c) * pow(3, i, 31) for i, c in enumerate(uscc_body))
    bad_uscc = uscc_body + alphabet[(31 - total % 31) % 31]
    assert uscc_valid(pa.array([USCC, bad_uscc])).tolist() == [True, False]
    assert not _ref(bad_uscc, "legal")


def test_a_number_field_refuses_text() -> None:
    row = {
        "provider_record_id": "p-1",
        "subject_id": USCC,
        "subject_name": "宁波示范科技有限公司",
        "report_month": "2025-05",
        "decision_no": "甬市监罚〔2025〕1号",
        "penalty_date": "2025-03-02",
        "penalty_type": "罚款",
        "fine_amount": "五千",
        "violation": "虚假宣传",
        "authority": "宁波市市场监督管理局",
        "completed_date": "",
    }
    table, errs, _ = run(
        "admin_penalty", [row, {**row, "provider_record_id": "p-2", "fine_amount": "5,000.50"}]
    )
    assert errs == [(100, "fine_amount", "invalid_number")]
    assert table.column("fine_amount").to_pylist()[1] == 5000.5
    assert table.column("completed_date").to_pylist() == [None, None]  # optional and empty is fine


def test_cleaning_fixes_full_width_spaces_and_date_formats() -> None:
    fullwidth = "".join(chr(ord(c) + 0xFEE0) for c in USCC.lower())
    rows = [
        tax_row(subject_id=fullwidth),
        tax_row(provider_record_id="r-2", subject_name="\u3000宁波示范科技有限公司 \t"),
        tax_row(provider_record_id="r-3", rated_date="2025/4/15"),
        tax_row(provider_record_id="r-4", rated_date="20250415", rating_year="２０２４"),
    ]
    table, errs, _ = run("tax_rating", rows)
    assert errs == []
    assert set(table.column("subject_id").to_pylist()) == {USCC}
    assert set(table.column("subject_name").to_pylist()) == {"宁波示范科技有限公司"}
    assert set(table.column("rated_date").to_pylist()) == {dt.date(2025, 4, 15)}
    assert set(table.column("rating_year").to_pylist()) == {2024}


def test_resident_ids_are_checked_for_natural_person_items() -> None:
    row = {
        "provider_record_id": "d-1",
        "subject_id": RID,
        "subject_name": "张三",
        "report_month": "2025-05",
        "case_no": "(2025)浙02执1号",
        "listed_date": "2025-02-01",
        "conduct": "违反限制消费令",
        "unperformed_amount": "12000",
        "removed_date": "",
    }
    wrong_birth = RID[:10] + "1332" + RID[14:]
    _, errs, _ = run(
        "dishonest_debtor_person", [row, {**row, "subject_id": wrong_birth}, {**row, "subject_id": USCC}]
    )
    assert [(r, f) for r, f, _ in errs] == [(101, "subject_id"), (102, "subject_id")]


def _ref(code: str, kind: str) -> bool:
    try:
        validate(code, kind)
        return True
    except IdentifierError:
        return False


def _mutate(rng: random.Random, code: str, pool: str) -> str:
    p = rng.randrange(18)
    return code[:p] + rng.choice(pool) + code[p + 1 :]


def test_vectorised_uscc_check_agrees_with_the_scalar_reference() -> None:
    rng = random.Random(7)
    codes = []
    for _ in range(4000):
        code = generate_uscc(rng, rng.choice(["330212", "110105", "440300"]), authority=rng.choice("9915NY"))
        codes.append(_mutate(rng, code, "0123456789ABHXYZIOS中") if rng.random() < 0.6 else code)
    codes += ["", "91330212", "9133021" + "2" * 12, "91330212MA2XXXXX1中"]
    assert uscc_valid(pa.array(codes)).tolist() == [_ref(c, "legal") for c in codes]


def test_vectorised_resident_id_check_agrees_with_the_scalar_reference() -> None:
    rng = random.Random(8)
    codes = []
    for _ in range(4000):
        code = generate_resident_id(rng, rng.choice(["330203", "110101", "990101"][:2]))
        codes.append(_mutate(rng, code, "0123456789X") if rng.random() < 0.6 else code)
    codes += ["33020320250230001X", "330203" + "2999" + "0101" + "0011"]
    got = resident_id_valid(pa.array(codes), today=dt.date.today()).tolist()
    assert got == [_ref(c, "natural") for c in codes]


def test_halfwidth_folds_full_width_forms_and_trims() -> None:
    # Full-width brackets fold too; registered names are folded the same way before any comparison.
    col = pa.array(["ＡＢＣ１２３", " 宁波（北仑）有限公司 ", None, "\u3000x\u3000", "宁波"])
    assert halfwidth(col).to_pylist() == ["ABC123", "宁波(北仑)有限公司", None, "x", "宁波"]


def test_validity_runs_from_the_end_of_the_event_with_a_five_year_default() -> None:
    it = item("social_insurance_arrears")
    assert it.validity_years == 5 and it.negative
    table = pa.table(
        {
            "arrears_start": pa.array([dt.date(2019, 3, 1), dt.date(2020, 2, 29), None], pa.date32()),
            "arrears_end": pa.array([dt.date(2021, 6, 30), None, None], pa.date32()),
        }
    )
    got = valid_until(it, table).to_pylist()
    assert got == [dt.date(2026, 6, 30), dt.date(2025, 2, 28), None]
    assert [it.valid_until(s, e) for s, e in [(dt.date(2019, 3, 1), dt.date(2021, 6, 30))]] == [got[0]]
    assert add_years(dt.date(2024, 2, 29), 1) == dt.date(2025, 2, 28)
    assert (
        valid_until(
            item("market_registration"), pa.table({"registration_date": pa.array([TODAY])})
        ).null_count
        == 1
    )


def test_valid_until_matches_the_scalar_rule_on_many_dates() -> None:
    it = item("tax_rating")
    days = np.arange(0, 3000, 7)
    dates = [dt.date(2016, 1, 1) + dt.timedelta(days=int(d)) for d in days]
    got = valid_until(it, pa.table({"rated_date": pa.array(dates, pa.date32())})).to_pylist()
    assert got == [add_years(d, 3) for d in dates]


def test_staged_json_and_content_hash_match_the_per_row_encoding() -> None:
    """The loader builds the records' JSON column-wise; it must be byte for byte what ``json`` writes
    per row (the content hash of already stored records depends on it), escapes and floats included."""
    import hashlib
    import json

    from fincredit.platform.core.keyring import Keyring
    from fincredit.platform.ingestion._load import stage_rows

    it = item("court_judgment")  # strings, a date and a float
    texts = ['引号"在内', "back\\slash", "tab\there", "new\nline", "\x01ctl", "中文", "\u2028", ""]
    rows = []
    for i, t in enumerate(texts * 3):
        row = {n: None for n in it.column_names}
        row.update(provider_record_id=f"r-{i}", subject_id=USCC, subject_name="宁波示范科技有限公司")
        row["report_month"] = "2025-05"
        for f in it.fields:
            if f.type == "string":
                row[f.name] = f.enum[i % len(f.enum)] if f.enum else t + str(i)
                if i % 7 == 0 and not f.required:
                    row[f.name] = None
            elif f.type == "date32":
                row[f.name] = "2024-02-29"
            elif f.type == "float64":
                row[f.name] = ["1e16", "0.1", "100", "-2.5", "3.14159265358979"][i % 5]
            else:
                row[f.name] = str(i)
        rows.append(row)
    batch = pa.RecordBatch.from_pylist(rows, schema=pa.schema([(n, pa.string()) for n in it.column_names]))
    table, errors = clean_batch(batch, it, offset=0, month="2025-06", today=TODAY)
    assert not len(errors)
    keyring = Keyring(data_key=b"k" * 32, index_key=b"i" * 32, signing_key=None)  # type: ignore[arg-type]
    sids = np.arange(len(rows), dtype=np.int64) + 7
    staged = stage_rows(it, table, sids, keyring)
    dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
    public = [f.name for f in it.fields if not f.sensitive]
    for i, (rid, sid, _month, data, _enc, digest, _event, _until) in enumerate(staged):
        values = {}
        for name in public:
            v = table.column(name)[i].as_py()
            values[name] = v.isoformat() if isinstance(v, dt.date) else v
        expected = dumps(values)
        assert (rid, sid, data) == (f"r-{i}", i + 7, expected)
        assert digest == hashlib.sha256(f"{sid}\x1f{expected}\x1f".encode()).hexdigest()


def test_repeated_values_are_parsed_like_distinct_ones() -> None:
    """Typed fields are parsed once per distinct value; the result is spread back to every row."""
    dates = ["2025/4/15", "20250230", None, "2025-04-15", "bad", "2025.01.02"] * 20
    years = ["2024", "x", None, "２０２３", "2022"] * 24
    rows = [
        tax_row(provider_record_id=f"r-{i}", rated_date=d, rating_year=y)
        for i, (d, y) in enumerate(zip(dates, years, strict=True))
    ]
    table, errs, _ = run("tax_rating", rows)
    for i, (d, y) in enumerate(zip(dates, years, strict=True)):
        _, one, _ = run("tax_rating", [rows[i]])
        mine = sorted((f, reason) for r, f, reason in errs if r == 100 + i)
        assert mine == sorted((f, reason) for _, f, reason in one), (d, y)
        single, _, _ = run("tax_rating", [rows[i]])
        assert table.slice(i, 1).to_pylist() == single.to_pylist()
