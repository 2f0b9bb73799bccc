"""Provider submission ingestion end to end: a 1,000,000-row Parquet file through validate → clean →
match → load, on SQLite and on PostgreSQL.

    python -m bench ingest                        # 1M rows, both backends
    python -m bench ingest --rows 200000 --backends sqlite

The file is the synthetic city's ``tax_rating`` submission (``fincredit.models.synthetic``, 2% bad
rows) tiled to the requested size with fresh provider record ids; the city's enterprises are put in
the subject registry first (not timed). Each backend's pipeline runs in a child process, so its peak
resident memory (``ru_maxrss``) is the pipeline's alone. Stages are timed inside the pipeline
(``IngestResult.times``): read+clean+validate+match, and load (staging + merge into credit_records).
A second file with the same records (all unchanged) measures the idempotent re-submission path; a
third with every rating changed measures loading a provider's later file, where each record's current
version is looked up and a new version written (``load_changed_records``: new versions per second of
the load stage; the first file's load rate is its baseline).

Baselines, measured in the same run: the scalar reference validator (``fincredit.consent.identifiers``,
one Python call per row, identifier only) for the validation stage; and, for the load stage, the same
staged rows bulk-copied into an unindexed table (COPY on PostgreSQL, executemany on SQLite), i.e. the
cost of writing the bytes without idempotency, versioning or indexes. The machine is shared (2 cores,
other engineers' jobs running): the load average is recorded with the results.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from bench._report import Result, print_table, write

TARGET_VALIDATE = 300_000.0  # rows/s, validate+clean+match
TARGET_LOAD_PG = 50_000.0  # rows/s, load on PostgreSQL
TARGET_PEAK_MB = 1024.0
PG_ADMIN = os.environ.get("FINCREDIT_TEST_PG_ADMIN", "postgresql://postgres@127.0.0.1:5432/postgres")
PROVIDER = "NB-TAX"


def _settings(var_dir: Path, url: str):  # type: ignore[no-untyped-def]
    from fincredit.platform.core.settings import Settings

    return Settings(var_dir=var_dir, database_url=url, _env_file=None)  # type: ignore[call-arg]


def _prepare_files(work: Path, rows: int, enterprises: int, seed: int) -> tuple[Any, Path, Path, Path]:
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from fincredit.models.synthetic import generate_city
    from fincredit.platform.catalog import default_catalog

    started = time.perf_counter()
    city = generate_city(enterprises, seed=seed, catalog=default_catalog(), bad_row_share=0.02)
    base = city.submissions["tax_rating"]
    took = time.perf_counter() - started
    print(f"city of {enterprises} enterprises: {base.num_rows} tax_rating rows ({took:.1f}s)")
    # Every rating moved one grade: the same records with new content, so each valid row is a new version.
    shift = {"A": "B", "B": "M", "M": "C", "C": "D", "D": "A"}
    rating = base.schema.get_field_index("rating")
    changed = base.set_column(
        rating, "rating", pa.array([shift.get(v, v) for v in base.column("rating").to_pylist()], pa.string())
    )
    paths = []
    for name, table in (("first", base), ("again", base), ("changed", changed)):
        path = work / f"{name}.parquet"
        with pq.ParquetWriter(path, table.schema, compression="zstd") as writer:
            written, tile = 0, 0
            while written < rows:
                part = table.slice(0, min(table.num_rows, rows - written))
                ids = pc.binary_join_element_wise(part.column("provider_record_id"), f"-t{tile}", "")
                writer.write_table(part.set_column(0, "provider_record_id", ids), row_group_size=65536)
                written += part.num_rows
                tile += 1
        paths.append(path)
    # "again" carries the same records as "first"; submitted for another month, every row is unchanged.
    # "changed" carries them again with every rating changed: the loader looks each record's current
    # version up and writes a new one (the path a provider's later files take).
    return city, paths[0], paths[1], paths[2]


def _register(url: str, var_dir: Path, city: Any) -> float:
    from fincredit.platform.catalog import ensure_catalog
    from fincredit.platform.core.services import build_services
    from fincredit.platform.ingestion import register_subjects

    services = build_services(_settings(var_dir, url))
    ensure_catalog(services.sessions)
    started = time.perf_counter()
    with services.tx() as session:
        e = city.enterprises
        register_subjects(session, services.keyring, "legal", e["uscc"].to_pylist(), e["name"].to_pylist())
    took = time.perf_counter() - started
    services.close()
    return took


def _child(url: str, var_dir: str, path: str, month: str) -> dict[str, Any]:
    """Run in a fresh process: one ingest, its stage times and the process's peak memory."""
    from fincredit.platform.core.services import build_services
    from fincredit.platform.ingestion import ingest_file

    services = build_services(_settings(Path(var_dir), url), migrate=False)
    started = time.perf_counter()
    r = ingest_file(services, provider_org_id=PROVIDER, item_code="tax_rating", month=month, path=Path(path))
    total = time.perf_counter() - started
    services.close()
    return {
        "rows": r.rows_total,
        "rejected": r.rows_rejected,
        "new": r.rows_new,
        "changed": r.rows_changed,
        "unchanged": r.rows_unchanged,
        "times": vars(r.times),
        "total": total,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def _run_child(url: str, var_dir: Path, path: Path, month: str) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, "-m", "bench", "ingest", "--child", url, str(var_dir), str(path), month],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def _scalar_baseline(city: Any, n: int = 100_000) -> float:
    from fincredit.consent.identifiers import IdentifierError, validate

    codes = city.submissions["tax_rating"].column("subject_id").to_pylist()
    codes = (codes * (n // max(len(codes), 1) + 1))[:n]
    started = time.perf_counter()
    for c in codes:
        with contextlib.suppress(IdentifierError):
            validate(c, "legal")
    return n / (time.perf_counter() - started)


def _copy_baseline(url: str, var_dir: Path, city: Any, n: int = 200_000) -> float:
    """Rows/s of writing already-staged tuples into an unindexed table (no merge logic)."""
    import numpy as np
    import pyarrow as pa
    from sqlalchemy import text

    from fincredit.platform.catalog import get_item
    from fincredit.platform.core.services import build_services
    from fincredit.platform.ingestion._clean import clean_batch
    from fincredit.platform.ingestion._load import _COLUMNS as _STAGE_COLUMNS
    from fincredit.platform.ingestion._load import stage_rows

    services = build_services(_settings(var_dir, url), migrate=False)
    base = city.submissions["tax_rating"]
    with services.read() as session:
        item = get_item(session, "tax_rating")
    batch = pa.concat_tables([base] * (n // base.num_rows + 1)).slice(0, n).combine_chunks().to_batches()[0]
    import datetime as dt

    table, _ = clean_batch(batch, item, offset=0, month="2025-06", today=dt.date.today())
    rows = stage_rows(item, table, np.arange(n, dtype=np.int64), services.keyring)
    cols = ", ".join(_STAGE_COLUMNS)
    with services.tx() as session:
        pg = session.get_bind().dialect.name == "postgresql"
        types = (
            "text, bigint, text, json, bytea, text, date, date"
            if pg
            else "TEXT, INTEGER, TEXT, TEXT, BLOB, TEXT, TEXT, TEXT"
        )
        decl = ", ".join(f"{c} {t}" for c, t in zip(cols.split(", "), types.split(", "), strict=True))
        session.execute(text(f"CREATE TEMP TABLE copy_baseline ({decl})"))
        raw = session.connection().connection.driver_connection
        started = time.perf_counter()
        if pg:
            with raw.cursor() as cur, cur.copy(f"COPY copy_baseline ({cols}) FROM STDIN") as copy:  # type: ignore[union-attr]
                for row in rows:
                    copy.write_row(row)
        else:
            raw.executemany(f"INSERT INTO copy_baseline ({cols}) VALUES ({', '.join('?' * 8)})", rows)  # type: ignore[union-attr]
        took = time.perf_counter() - started
        session.execute(text("DROP TABLE copy_baseline"))
    services.close()
    return n / took


def _backend_url(backend: str, work: Path) -> tuple[str, str | None]:
    if backend == "sqlite":
        return f"sqlite:///{work / 'ingest.db'}", None
    import psycopg

    name = f"fincredit_bench_ingest_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1)
    return f"{base}/{name}", name


def _drop(name: str | None) -> None:
    if name:
        import psycopg

        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def main(argv: list[str]) -> int:
    if argv and argv[0] == "--child":
        print(json.dumps(_child(*argv[1:5])))
        return 0
    parser = argparse.ArgumentParser(prog="python -m bench ingest")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--enterprises", type=int, default=100_000)
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args(argv)

    results: list[Result] = []
    notes: dict[str, Any] = {"rows": args.rows, "enterprises": args.enterprises, "item": "tax_rating"}
    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp:
        work = Path(tmp)
        city, first, again, changed = _prepare_files(work, args.rows, args.enterprises, args.seed)
        notes["file_mb"] = round(first.stat().st_size / 2**20, 1)
        scalar = _scalar_baseline(city)
        for backend in args.backends.split(","):
            url, dbname = _backend_url(backend, work)
            var_dir = work / f"var-{backend}"
            try:
                reg = _register(url, var_dir, city)
                print(
                    f"[{backend}] registered {args.enterprises} enterprises in {reg:.1f}s (not timed below)"
                )
                one = _run_child(url, var_dir, first, "2025-06")
                two = _run_child(url, var_dir, again, "2025-07")
                three = _run_child(url, var_dir, changed, "2025-08")
                copy_rate = _copy_baseline(url, var_dir, city)
            finally:
                _drop(dbname)
            t = one["times"]
            vcm = t["read"] + t["clean"] + t["match"]
            rows = one["rows"]
            notes[backend] = {
                "first": one,
                "resubmission": two,
                "changed": three,
                "subject_registration_s": round(reg, 2),
            }
            print(f"[{backend}] {rows} rows: {one['new']} loaded, {one['rejected']} rejected; stages {t}")
            results += [
                Result(
                    f"{backend}.validate_clean_match",
                    rows / vcm,
                    "rows/s",
                    TARGET_VALIDATE,
                    "higher",
                    baseline=scalar,
                ),
                Result(
                    f"{backend}.load",
                    rows / t["load"],
                    "rows/s",
                    TARGET_LOAD_PG if backend == "postgresql" else None,
                    "higher",
                    baseline=copy_rate,
                ),
                Result(
                    f"{backend}.load_changed_records",
                    three["changed"] / three["times"]["load"],
                    "rows/s",
                    TARGET_LOAD_PG if backend == "postgresql" else None,
                    "higher",
                    baseline=rows / t["load"],
                ),
                Result(f"{backend}.end_to_end", rows / one["total"], "rows/s", None, "higher"),
                Result(
                    f"{backend}.resubmission_end_to_end",
                    two["rows"] / two["total"],
                    "rows/s",
                    None,
                    "higher",
                    baseline=rows / one["total"],
                ),
                Result(
                    f"{backend}.peak_memory",
                    max(one["peak_rss_mb"], two["peak_rss_mb"], three["peak_rss_mb"]),
                    "MiB",
                    TARGET_PEAK_MB,
                    "lower",
                ),
            ]
    print_table(results)
    path = write("ingest", results, argv=argv, extra=notes)
    print(f"wrote {path}")
    return 0
