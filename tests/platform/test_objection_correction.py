"""A correction made through an objection is a version like the loader's own: when the provider later
re-submits the corrected record, the pipeline sees it as unchanged (no spurious third version)."""

from __future__ import annotations

import datetime as dt
import random
import uuid

import pyarrow as pa
import pyarrow.parquet as pq
from sqlalchemy import select

from fincredit.consent.identifiers import generate_uscc
from fincredit.platform.catalog import change_catalog
from fincredit.platform.ingestion import ingest_file
from fincredit.platform.ingestion.tables import CreditRecord
from fincredit.platform.objections import file_objection, platform_check, provider_answer
from fincredit.platform.subjects import register_subject
from fincredit.platform.testing.plugin import new_institution

NAME = "宁波更正测试有限公司"


def _row(uscc: str, record_id: str, month: str, fine: str) -> dict[str, str | None]:
    return {
        "provider_record_id": record_id,
        "subject_id": uscc,
        "subject_name": NAME,
        "report_month": month,
        "decision_no": "甬市监罚〔2025〕1949号",
        "penalty_date": "2025-06-14",
        "penalty_type": "罚款",
        "fine_amount": fine,
        "violation": "产品质量不合格",
        "authority": "宁波市海曙区市场监督管理局",
        "completed_date": None,
    }


def test_resubmitting_the_corrected_record_changes_nothing(services, tmp_path) -> None:  # type: ignore[no-untyped-def]
    provider = new_institution(services, "data_provider").org_id
    uscc = generate_uscc(random.Random(uuid.uuid4().int), "330203")
    record_id = f"P-{uuid.uuid4().hex[:12]}"
    with services.tx() as session:
        change_catalog(
            session, changes={"admin_penalty": {"provider_org_id": provider}}, created_by=None, note="test"
        )
        subject = register_subject(session, services.keyring, uscc, NAME)

    def submit(month: str, fine: str, received: dt.datetime):  # type: ignore[no-untyped-def]
        path = tmp_path / f"{month}.parquet"
        rows = [_row(uscc, record_id, month, fine)]
        pq.write_table(
            pa.Table.from_pylist(rows, schema=pa.schema([(k, pa.string()) for k in rows[0]])), path
        )
        return ingest_file(
            services,
            provider_org_id=provider,
            item_code="admin_penalty",
            month=month,
            path=path,
            received_at=received,
        )

    first = submit("2025-06", "73800", dt.datetime(2025, 7, 3, tzinfo=dt.UTC))
    assert first.rows_new == 1, first
    with services.read() as session:
        original = session.scalar(select(CreditRecord).where(CreditRecord.provider_record_id == record_id))
        assert original is not None
        wrong_fine = original.data["fine_amount"]
    with services.tx() as session:
        o = file_objection(
            session, subject_id=subject.id, record_id=original.id, reason="罚款金额应为7380元", filed_by="b"
        )
        platform_check(
            session, o.id, processing_correct=True, note="ok", actor_account_id="op", actor_org_id="op"
        )
        done = provider_answer(
            session,
            o.id,
            correct=True,
            note="录入多一位",
            actor_account_id="p",
            actor_org_id=provider,
            corrected_data={"fine_amount": type(wrong_fine)(7380)},
            keyring=services.keyring,
        )
    assert done.status == "corrected"

    again = submit("2025-07", "7380", dt.datetime(2025, 8, 3, tzinfo=dt.UTC))
    assert (again.rows_unchanged, again.rows_changed, again.rows_new) == (1, 0, 0)
    with services.read() as session:
        versions = session.scalars(
            select(CreditRecord.version).where(CreditRecord.provider_record_id == record_id)
        ).all()
    assert sorted(versions) == [1, 2]
