"""The watched drop folder and the one-shot CLI: files named <item>__<YYYY-MM>.<ext> are processed as
the folder's provider and filed under processed/ (with result and feedback) or rejected/ (with the
problem); a file still being copied is left for the next scan."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from fincredit.models.synthetic import City, generate_city
from fincredit.platform.catalog import change_catalog, default_catalog
from fincredit.platform.core.services import Services
from fincredit.platform.ingestion import register_subjects, scan_once
from fincredit.platform.testing.plugin import new_institution


@pytest.fixture(scope="module")
def city(services: Services) -> City:
    c = generate_city(150, seed=31337, catalog=default_catalog(), bad_row_share=0.1)
    with services.tx() as session:
        e = c.enterprises
        register_subjects(session, services.keyring, "legal", e["uscc"].to_pylist(), e["name"].to_pylist())
    return c


def test_drop_folder_processes_settled_files_as_the_folders_provider(
    services: Services, city: City, tmp_path: Path
) -> None:
    org = new_institution(services, "data_provider").org_id
    with services.tx() as session:
        change_catalog(
            session,
            changes={"customs_rating": {"provider_org_id": org}, "water_arrears": {"provider_org_id": org}},
            created_by=None,
            note="drop folder test",
        )
    table = city.submissions["customs_rating"]
    table = table.filter(pc.less_equal(table.column("report_month"), "2025-05"))
    pq.write_table(table, tmp_path / "customs_rating__2025-05.parquet")
    (tmp_path / "water_arrears__2025-05.nil").write_bytes(b"")
    pacsv.write_csv(table.drop_columns(["rating"]), tmp_path / "customs_rating__2025-04.csv")
    (tmp_path / "notes.txt").write_text("not a submission")

    sizes: dict[str, int] = {}
    assert scan_once(services, org, tmp_path, sizes) == []  # first sight: wait for the size to settle
    results = {r.file: r for r in scan_once(services, org, tmp_path, sizes)}
    assert results["customs_rating__2025-05.parquet"].outcome == "processed"
    assert results["water_arrears__2025-05.nil"].outcome == "nil"
    assert results["customs_rating__2025-04.csv"].outcome == "rejected"
    assert results["notes.txt"].outcome == "rejected"

    processed = tmp_path / "processed"
    result = json.loads((processed / "customs_rating__2025-05.parquet.result.json").read_text())
    feedback = (processed / "customs_rating__2025-05.parquet.feedback.csv").read_text(encoding="utf-8-sig")
    expected_bad = len(
        {
            r
            for r, fixable, month in zip(
                city.defects["customs_rating"].column("row").to_pylist(),
                city.defects["customs_rating"].column("fixable").to_pylist(),
                city.submissions["customs_rating"]
                .column("report_month")
                .take(city.defects["customs_rating"].column("row"))
                .to_pylist(),
                strict=True,
            )
            if not fixable and month <= "2025-05"
        }
    )
    assert result["submission_id"] and len(feedback.strip().splitlines()) - 1 == expected_bad
    problem = json.loads((tmp_path / "rejected" / "customs_rating__2025-04.csv.problem.json").read_text())
    assert problem["type"] == "/problems/submission-rejected"
    assert [p.name for p in tmp_path.iterdir() if p.is_file()] == []
