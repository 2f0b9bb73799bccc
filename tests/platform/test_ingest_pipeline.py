"""The submission pipeline end to end on SQLite and PostgreSQL: the generator's bad rows are exactly
the rejected ones, loading is idempotent and versioned, structural faults store nothing, the validity
rule hides expired records from public query, and due dates / nil reports / late and missing
submissions are tracked (R§3, R§7, R§8)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.feather as feather
import pyarrow.parquet as pq
import pytest
from sqlalchemy import func, select

from fincredit.consent.identifiers import generate_uscc
from fincredit.models.synthetic import City, generate_city
from fincredit.platform.catalog import change_catalog, default_catalog, get_item
from fincredit.platform.core.db import LegalPerson, Subject
from fincredit.platform.core.errors import Conflict, Forbidden, SubmissionRejected
from fincredit.platform.core.services import Services
from fincredit.platform.ingestion import (
    blind_indexes,
    compliance,
    file_nil_report,
    ingest_file,
    overdue,
    record_history,
    register_subjects,
    sensitive_fields,
    visible_records,
)
from fincredit.platform.ingestion.tables import CreditRecord, Submission, SubmissionFeedback
from fincredit.platform.testing.plugin import new_institution

RECEIVED = dt.datetime(2025, 6, 5, 2, 0, tzinfo=dt.UTC)  # before the 10 June due date of May
MONTH = "2025-05"


@pytest.fixture(scope="module")
def city() -> City:
    return generate_city(400, seed=4242, catalog=default_catalog(), bad_row_share=0.08)


@pytest.fixture(scope="module")
def registered(services: Services, city: City) -> City:
    """The city's enterprises and persons in the subject registry (as the registration authority and
    earlier submissions would have put them there)."""
    with services.tx() as session:
        e, p = city.enterprises, city.persons
        register_subjects(session, services.keyring, "legal", e["uscc"].to_pylist(), e["name"].to_pylist())
        register_subjects(
            session, services.keyring, "natural", p["resident_id"].to_pylist(), p["name"].to_pylist()
        )
    return city


def provider_for(services: Services, *codes: str) -> str:
    """A fresh provider organisation that owns ``codes`` in a new catalog version."""
    inst = new_institution(services, "data_provider")
    with services.tx() as session:
        change_catalog(
            session,
            changes={c: {"provider_org_id": inst.org_id} for c in codes},
            created_by=None,
            note="test provider",
        )
    return inst.org_id


def month_rows(city: City, code: str, month: str = MONTH) -> tuple[pa.Table, pa.Table]:
    """The generator's submission rows up to ``month`` and the sidecar rows for them, renumbered."""
    sub = city.submissions[code]
    keep = pc.less_equal(sub.column("report_month"), month).to_numpy(zero_copy_only=False)
    table = sub.filter(pa.array(keep))
    old_rows = [i for i, k in enumerate(keep) if k]
    renumber = {old: new for new, old in enumerate(old_rows)}
    d = city.defects[code]
    mask = [r in renumber for r in d.column("row").to_pylist()]
    d = d.filter(pa.array(mask))
    return table, d.set_column(
        0, "row", pa.array([renumber[r] for r in d.column("row").to_pylist()], pa.int64())
    )


def write(tmp: Path, table: pa.Table, fmt: str = "parquet", name: str = "sub") -> Path:
    path = tmp / f"{name}.{fmt}"
    if fmt == "parquet":
        pq.write_table(table, path)
    elif fmt == "arrow":
        feather.write_feather(table, path, compression="uncompressed")
    else:
        pacsv.write_csv(table, path)
    return path


def ingest(services: Services, org: str, code: str, path: Path, month: str = MONTH, **kw):  # type: ignore[no-untyped-def]
    return ingest_file(
        services, provider_org_id=org, item_code=code, month=month, path=path, received_at=RECEIVED, **kw
    )


def feedback(services: Services, submission_id: int) -> set[tuple[int, str, str]]:
    with services.read() as session:
        rows = session.execute(
            select(SubmissionFeedback.row, SubmissionFeedback.field, SubmissionFeedback.reason).where(
                SubmissionFeedback.submission_id == submission_id
            )
        )
        return {(int(r), f, reason) for r, f, reason in rows}


def count(services: Services, *where) -> int:  # type: ignore[no-untyped-def]
    with services.read() as session:
        return int(session.scalar(select(func.count()).select_from(CreditRecord).where(*where)) or 0)


@pytest.mark.parametrize("code", ["tax_rating", "admin_penalty", "dishonest_debtor_person", "customs_rating"])
@pytest.mark.parametrize("fmt", ["parquet", "csv", "arrow"])
def test_rejected_rows_are_exactly_the_generators_bad_rows(
    services: Services, registered: City, tmp_path: Path, code: str, fmt: str
) -> None:
    table, defects = month_rows(registered, code)
    org = provider_for(services, code)
    result = ingest(services, org, code, write(tmp_path, table, fmt))
    bad = {
        (r, f, k)
        for r, f, k, fixable in zip(
            *(defects.column(c).to_pylist() for c in ("row", "field", "defect", "fixable")), strict=True
        )
        if not fixable
    }
    got = feedback(services, result.submission_id)
    assert got == bad
    assert result.rows_total == table.num_rows
    assert result.rows_rejected == len({r for r, _, _ in bad})
    assert result.rows_new == table.num_rows - result.rows_rejected
    assert count(services, CreditRecord.submission_id == result.submission_id) == result.rows_new


def test_resubmitting_the_same_file_changes_nothing(
    services: Services, registered: City, tmp_path: Path
) -> None:
    table, _ = month_rows(registered, "tax_rating")
    org = provider_for(services, "tax_rating")
    path = write(tmp_path, table)
    first = ingest(services, org, "tax_rating", path)
    before = count(services, CreditRecord.provider_org_id == org)
    again = ingest(services, org, "tax_rating", path)
    assert again.duplicate and again.submission_id == first.submission_id
    # The same rows in another file (another month's re-send) are recognised record by record.
    other = ingest(services, org, "tax_rating", write(tmp_path, table, "csv"), month="2025-06")
    assert not other.duplicate
    assert (other.rows_new, other.rows_changed, other.rows_unchanged) == (0, 0, first.rows_new)
    assert count(services, CreditRecord.provider_org_id == org) == before


def test_a_changed_record_becomes_a_new_version_and_the_old_one_is_kept(
    services: Services, registered: City, tmp_path: Path
) -> None:
    table, defects = month_rows(registered, "tax_rating")
    org = provider_for(services, "tax_rating")
    ingest(services, org, "tax_rating", write(tmp_path, table, name="v1"))
    bad_rows = set(defects.column("row").to_pylist())
    target = next(i for i in range(table.num_rows) if i not in bad_rows)
    rid = table.column("provider_record_id")[target].as_py()
    old_rating = table.column("rating")[target].as_py()
    new_rating = "D" if old_rating != "D" else "A"
    ratings = table.column("rating").to_pylist()
    ratings[target] = new_rating
    changed = table.set_column(table.schema.get_field_index("rating"), "rating", pa.array(ratings))
    result = ingest(services, org, "tax_rating", write(tmp_path, changed, name="v2"), month="2025-06")
    assert result.rows_changed == 1 and result.rows_new == 0
    with services.read() as session:
        versions = session.scalars(
            select(CreditRecord)
            .where(CreditRecord.provider_org_id == org, CreditRecord.provider_record_id == rid)
            .order_by(CreditRecord.version)
        ).all()
        assert [(v.version, v.current, v.data["rating"]) for v in versions] == [
            (1, False, old_rating),
            (2, True, new_rating),
        ]
        assert versions[0].superseded_at is not None
        history = record_history(session, versions[0].subject_id, "tax_rating")
        assert {v.id for v in versions} <= {h.id for h in history}


def test_values_needing_escapes_load_intact(services: Services, registered: City, tmp_path: Path) -> None:
    """Record ids with tabs, newlines, backslashes and quotes (COPY's and JSON's special characters)
    are stored exactly, and the same file again is recognised record by record."""
    table, defects = month_rows(registered, "tax_rating")
    bad_rows = set(defects.column("row").to_pylist())
    odd = ["tab\there", "new\nline", "back\\slash", 'quo"te', "\\N", "cr\rx"]
    rids = table.column("provider_record_id").to_pylist()
    changed = {}
    for k, i in enumerate(i for i in range(table.num_rows) if i not in bad_rows):
        if k == len(odd):
            break
        rids[i] = f"{odd[k]}-{i}"
        changed[rids[i]] = i
    table = table.set_column(0, "provider_record_id", pa.array(rids))
    org = provider_for(services, "tax_rating")
    first = ingest(services, org, "tax_rating", write(tmp_path, table, name="odd"))
    with services.read() as session:
        stored = set(
            session.scalars(
                select(CreditRecord.provider_record_id).where(
                    CreditRecord.provider_org_id == org, CreditRecord.provider_record_id.in_(list(changed))
                )
            )
        )
    assert stored == set(changed)
    again = ingest(services, org, "tax_rating", write(tmp_path, table, "arrow", name="odd"), month="2025-06")
    assert (again.rows_new, again.rows_changed, again.rows_unchanged) == (0, 0, first.rows_new)


@pytest.mark.parametrize(
    ("mangle", "reason"),
    [
        (lambda t: t.drop_columns(["rating"]), "missing columns: rating"),
        (lambda t: t.append_column("extra", pa.array(["x"] * t.num_rows)), "unexpected columns: extra"),
        (
            lambda t: t.set_column(4, "rating_year", pa.array([[1]] * t.num_rows, pa.list_(pa.int32()))),
            "rating_year has type",
        ),
    ],
)
def test_structural_errors_reject_the_whole_file_and_store_nothing(
    services: Services,
    registered: City,
    tmp_path: Path,
    mangle,
    reason: str,  # type: ignore[no-untyped-def]
) -> None:
    table, _ = month_rows(registered, "tax_rating")
    org = provider_for(services, "tax_rating")
    with pytest.raises(SubmissionRejected, match=reason):
        ingest(services, org, "tax_rating", write(tmp_path, mangle(table)))
    with services.read() as session:
        assert (
            session.scalar(
                select(func.count()).select_from(Submission).where(Submission.provider_org_id == org)
            )
            == 0
        )
    assert count(services, CreditRecord.provider_org_id == org) == 0


def test_an_unreadable_file_is_rejected(services: Services, registered: City, tmp_path: Path) -> None:
    org = provider_for(services, "tax_rating")
    path = tmp_path / "broken.parquet"
    path.write_bytes(b"PAR1 this is not parquet at all")
    with pytest.raises(SubmissionRejected):
        ingest(services, org, "tax_rating", path)
    bad_csv = tmp_path / "broken.csv"
    table, _ = month_rows(registered, "tax_rating")
    pacsv.write_csv(table.slice(0, 50), bad_csv)
    with bad_csv.open("a", encoding="utf-8") as fh:
        fh.write('r-x,"unterminated\n')
    with pytest.raises(SubmissionRejected):
        ingest(services, org, "tax_rating", bad_csv)
    assert count(services, CreditRecord.provider_org_id == org) == 0


def test_only_the_owning_provider_may_submit(services: Services, registered: City, tmp_path: Path) -> None:
    table, _ = month_rows(registered, "tax_rating")
    provider_for(services, "tax_rating")
    stranger = new_institution(services, "data_provider").org_id
    with pytest.raises(Forbidden):
        ingest(services, stranger, "tax_rating", write(tmp_path, table))


def test_unknown_subjects_are_rejected_unless_the_item_registers_subjects(
    services: Services, registered: City, tmp_path: Path
) -> None:
    import random

    rng = random.Random(99)
    table, _ = month_rows(registered, "tax_rating")
    first = table.slice(0, 1).to_pylist()[0]
    stranger_code = generate_uscc(rng, "330206")
    rows = [
        {
            **first,
            "provider_record_id": "ghost-1",
            "subject_id": stranger_code,
            "subject_name": "宁波幽灵有限公司",
        }
    ]
    org = provider_for(services, "tax_rating")
    result = ingest(services, org, "tax_rating", write(tmp_path, pa.Table.from_pylist(rows, table.schema)))
    assert feedback(services, result.submission_id) == {(0, "subject_id", "unknown_subject")}

    # The registration authority's register creates the subject (R§3) with its registered details.
    reg, _ = month_rows(registered, "market_registration")
    row = next(r for r in reg.to_pylist() if r["status"] in ("存续", "在业") and r["employees"])
    new_code = generate_uscc(rng, "330212")
    row.update(provider_record_id="new-ent-1", subject_id=new_code, subject_name="宁波新设科技有限公司")
    amr = provider_for(services, "market_registration")
    result = ingest(
        services,
        amr,
        "market_registration",
        write(tmp_path, pa.Table.from_pylist([row], reg.schema), name="reg"),
    )
    assert result.subjects_registered == 1 and result.rows_new == 1
    with services.read() as session:
        (bidx,) = blind_indexes(services.keyring, "legal", [new_code])
        subject = session.scalar(select(Subject).where(Subject.code_bidx == bidx))
        assert subject is not None
        lp = session.get(LegalPerson, subject.id)
        assert lp is not None and lp.name == "宁波新设科技有限公司"
        assert lp.established_on == dt.date.fromisoformat(row["registration_date"])
        (record,) = visible_records(session, subject.id, dt.date(2025, 6, 30))
        assert "legal_rep_id" not in record.data  # sensitive: encrypted apart, never in the public data
        assert sensitive_fields(services.keyring, record) == {"legal_rep_id": row["legal_rep_id"]}


def test_a_duplicate_record_id_in_one_file_rejects_the_repeat(
    services: Services, registered: City, tmp_path: Path
) -> None:
    table, defects = month_rows(registered, "tax_rating")
    bad_rows = set(defects.column("row").to_pylist())
    good = [i for i in range(table.num_rows) if i not in bad_rows][:3]
    doubled = pa.concat_tables([table.take(good), table.take(good[:1])])
    org = provider_for(services, "tax_rating")
    result = ingest(services, org, "tax_rating", write(tmp_path, doubled))
    assert feedback(services, result.submission_id) == {(3, "provider_record_id", "duplicate_record")}
    assert result.rows_new == 3


def test_expired_records_leave_public_query_but_stay_for_audit(
    services: Services, registered: City, tmp_path: Path
) -> None:
    table, defects = month_rows(registered, "tax_rating")
    bad_rows = set(defects.column("row").to_pylist())
    i = next(i for i in range(table.num_rows) if i not in bad_rows)
    one = table.take([i])
    org = provider_for(services, "tax_rating")
    ingest(services, org, "tax_rating", write(tmp_path, one))
    rated = dt.date.fromisoformat(one.column("rated_date")[0].as_py())
    with services.read() as session:
        years = get_item(session, "tax_rating").validity_years  # other tests may have changed it
    assert years is not None
    with services.read() as session:
        rec = session.scalar(select(CreditRecord).where(CreditRecord.provider_org_id == org))
        assert rec is not None and rec.valid_until == rated.replace(year=rated.year + years)

        def shown(at: dt.date) -> list[int]:
            return [r.id for r in visible_records(session, rec.subject_id, at) if r.provider_org_id == org]

        assert shown(rec.valid_until) == [rec.id]
        assert shown(rec.valid_until + dt.timedelta(days=1)) == []
        assert rec.id in [h.id for h in record_history(session, rec.subject_id)]


def test_nil_reports_and_due_dates(services: Services) -> None:
    org = provider_for(services, "water_arrears", "gas_arrears")
    nil = file_nil_report(
        services, provider_org_id=org, item_code="water_arrears", month=MONTH, received_at=RECEIVED
    )
    assert (nil.kind, nil.status, nil.due_date, nil.late) == ("nil", "nil", dt.date(2025, 6, 10), False)
    again = file_nil_report(services, provider_org_id=org, item_code="water_arrears", month=MONTH)
    assert again.id == nil.id
    late = file_nil_report(
        services,
        provider_org_id=org,
        item_code="water_arrears",
        month="2025-04",
        received_at=dt.datetime(2025, 5, 12, 2, tzinfo=dt.UTC),
    )
    assert late.late and late.due_date == dt.date(2025, 5, 10)
    with services.read() as session:
        rows = compliance(
            session, first="2025-04", last="2025-06", today=dt.date(2025, 7, 1), provider_org_id=org
        )
    status = {(r.item_code, r.month): r.status for r in rows}
    assert status == {
        ("water_arrears", "2025-04"): "late_nil",
        ("water_arrears", "2025-05"): "nil",
        ("water_arrears", "2025-06"): "open",
        ("gas_arrears", "2025-04"): "missing",
        ("gas_arrears", "2025-05"): "missing",
        ("gas_arrears", "2025-06"): "open",
    }


def test_a_nil_report_contradicting_a_file_is_refused(
    services: Services, registered: City, tmp_path: Path
) -> None:
    table, _ = month_rows(registered, "customs_rating")
    org = provider_for(services, "customs_rating")
    ingest(services, org, "customs_rating", write(tmp_path, table))
    with pytest.raises(Conflict):
        file_nil_report(services, provider_org_id=org, item_code="customs_rating", month=MONTH)


def test_processing_and_verification_deadlines_across_a_holiday(
    services: Services, registered: City, tmp_path: Path
) -> None:
    """Received on 30 September 2025: 5 working days skip the National Day week (1-8 October)."""
    table, _ = month_rows(registered, "tax_rating", "2025-05")
    org = provider_for(services, "tax_rating")
    received = dt.datetime(2025, 9, 30, 2, tzinfo=dt.UTC)
    result = ingest_file(
        services,
        provider_org_id=org,
        item_code="tax_rating",
        month="2025-08",
        path=write(tmp_path, table),
        received_at=received,
    )
    with services.read() as session:
        sub = session.get(Submission, result.submission_id)
        assert sub is not None
        assert sub.late  # August was due on 10 September
        assert sub.processing_due == dt.date(2025, 10, 14)
        assert sub.verification_due == dt.date(2025, 10, 14)
        far = sub.verification_due + dt.timedelta(days=1)
        assert result.submission_id in [s.id for s in overdue(session, today=far, provider_org_id=org)]
        assert result.submission_id not in [
            s.id for s in overdue(session, today=sub.verification_due, provider_org_id=org)
        ]


def test_a_submission_keeps_the_catalog_version_it_was_made_under(
    services: Services, registered: City, tmp_path: Path
) -> None:
    table, _ = month_rows(registered, "award_honour")
    org = provider_for(services, "award_honour")
    result = ingest(services, org, "award_honour", write(tmp_path, table))
    with services.tx() as session:
        change_catalog(
            session, changes={"award_honour": {"validity_years": 10}}, created_by=None, note="longer"
        )
    with services.read() as session:
        sub = session.get(Submission, result.submission_id)
        assert sub is not None
        from fincredit.platform.ingestion import submission_item

        assert submission_item(session, sub).validity_years == 3
        assert get_item(session, "award_honour").validity_years == 10
