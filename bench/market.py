"""Market data: a vendor's dataset version uploaded (validated, subjects resolved through the blind
index, provenance columns added, Parquet + manifest + SHA-256 written), then served by
``market_fields_for`` under the contract check.

    python -m bench market                   # 1,000,000 rows, 20,000 distinct enterprises, SQLite
    python -m bench market --rows 200000

The upload's baseline is the I/O floor measured in the same run: reading the same Parquet file
and writing it back (zstd) with no checks, lookups or hashing. The serve baseline is a full read of
the stored version and a filter (what serving cost before the per-version subject index); serving
itself checks the contract, verifies the file's SHA-256 and reads only the row groups the index
names. ``upload_peak_rss_mb`` is the peak resident memory of the child process that runs the upload
(interpreter and imports included; the file is streamed in record batches, so it should not grow
with the file). The machine is shared (2 cores, other engineers' jobs running): the load average is
recorded with the results.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench._report import Result, print_table, write

TARGET_UPLOAD = 100_000.0  # rows/s: a million-row vendor delivery stored in about ten seconds
TARGET_SERVE_ONE_MS = 100.0  # one borrower's rows from a million-row version (a bank's query)
TARGET_SERVE_MS = 500.0  # 500 subjects from a million-row version
TARGET_PEAK_MB = 1024.0  # the platform-wide memory ceiling for any file size

_CHILD = """
import json, resource, sys, time
from pathlib import Path
from fincredit.platform.market import upload_dataset_version
from fincredit.platform.core.services import build_services
from fincredit.platform.core.settings import Settings
work, source = Path(sys.argv[1]), Path(sys.argv[2])
services = build_services(Settings(var_dir=work, _env_file=None), migrate=False)
started = time.perf_counter()
with services.tx() as session:
    upload_dataset_version(session, services.keyring, work, dataset="supply_chain_payments", source=source,
                           vendor_id="v-bench", uploaded_by="bench")
seconds = time.perf_counter() - started
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"seconds": seconds, "maxrss_mb": peak}))
"""


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench market")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--enterprises", type=int, default=20_000)
    parser.add_argument("--registered", type=int, default=5_000, help="enterprises in the subject registry")
    args = parser.parse_args(argv)

    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from fincredit.consent.identifiers import generate_uscc
    from fincredit.platform.core.services import build_services
    from fincredit.platform.core.settings import Settings
    from fincredit.platform.identity.accounts import create_organisation
    from fincredit.platform.market import market_fields_for, register_contract
    from fincredit.platform.subjects import register_subject

    work = Path(tempfile.mkdtemp(prefix="bench-market-"))
    services = build_services(Settings(var_dir=work, _env_file=None))  # type: ignore[call-arg]
    rng = random.Random(20261122)
    codes = sorted({generate_uscc(rng, "330212") for _ in range(args.enterprises)})
    with services.tx() as session:
        ids = [
            register_subject(session, services.keyring, c, f"宁波基准{i}有限公司").id
            for i, c in enumerate(codes[: args.registered])
        ]
        create_organisation(session, org_id="v-bench", kind="market_vendor", name="基准数据公司")
        register_contract(
            session,
            vendor_id="v-bench",
            reference="BENCH-1",
            datasets=["supply_chain_payments"],
            allowed_purposes=["loan_application_assessment"],
            derived_products_allowed=False,
            resale_allowed=False,
            starts_on=dt.date(2020, 1, 1),
            expires_on=dt.date(2099, 12, 31),
            annual_fee_cny=480_000,
            created_by="bench",
        )
    gen = np.random.default_rng(7)
    table = pa.table(
        {
            "record_id": pc.binary_join_element_wise(
                "V-SCF-", pc.cast(pa.array(np.arange(args.rows)), pa.string()), ""
            ),
            # Grouped by enterprise, as vendors deliver (and as the synthetic generator lays out):
            # each enterprise's periods are consecutive rows.
            "uscc": pa.array(np.array(codes)[np.sort(gen.integers(0, len(codes), args.rows))]),
            "period": pa.array(["2026-09"] * args.rows),
            "on_time_ratio": gen.uniform(0.5, 1.0, args.rows),
            "counterparties": gen.integers(1, 80, args.rows).astype("int32"),
        }
    )
    source = work / "delivery.parquet"
    pq.write_table(table, source)
    del table

    started = time.perf_counter()
    copy = pq.read_table(source)
    pq.write_table(copy, work / "copy.parquet", compression="zstd")
    floor = args.rows / (time.perf_counter() - started)
    del copy

    # The upload runs in a child process, so its peak resident memory is the upload's alone.
    child = subprocess.run(
        [sys.executable, "-c", _CHILD, str(work), str(source)], capture_output=True, text=True, check=True
    )
    measured = json.loads(child.stdout.strip().splitlines()[-1])
    upload_s, peak_mb = measured["seconds"], measured["maxrss_mb"]
    with services.read() as session:
        from fincredit.platform.market import latest_version

        stored = latest_version(session, "supply_chain_payments")
        assert stored is not None
        version = stored

    def serve(subjects: list[int]) -> tuple[float, int]:
        with services.read() as session:
            started = time.perf_counter()
            served = market_fields_for(
                session, "supply_chain_payments", subjects, "loan_application_assessment", var_dir=work
            )
            return (time.perf_counter() - started) * 1000, served.table.num_rows

    def full_scan(subjects: list[int]) -> float:
        started = time.perf_counter()
        raw = pq.read_table(work / version.path)
        raw.filter(pc.is_in(raw.column("prov_subject_id"), value_set=pa.array(subjects, pa.int64())))
        return (time.perf_counter() - started) * 1000

    serve(ids[:1])  # warm the page cache and the imports
    one_ms, one_rows = serve(ids[1:2])
    many_ms, many_rows = serve(ids[:500])
    one_raw, many_raw = full_scan(ids[1:2]), full_scan(ids[:500])

    results = [
        Result("upload_rows_per_s", args.rows / upload_s, "rows/s", TARGET_UPLOAD, "higher", floor),
        Result("upload_peak_rss_mb", peak_mb, "MiB", TARGET_PEAK_MB, "lower"),
        Result("serve_1_subject", one_ms, "ms", TARGET_SERVE_ONE_MS, "lower", one_raw),
        Result("serve_500_subjects", many_ms, "ms", TARGET_SERVE_MS, "lower", many_raw),
    ]
    print_table(results)
    path = write(
        "market",
        results,
        argv=argv,
        extra={
            "rows": args.rows,
            "distinct_enterprises": len(codes),
            "registered_subjects": args.registered,
            "matched_rows": version.matched_count,
            "served_rows_1_subject": one_rows,
            "served_rows_500_subjects": many_rows,
            "stored_mb": round(version.size_bytes / 2**20, 1),
            "source_mb": round(source.stat().st_size / 2**20, 1),
            "backend": "sqlite",
            "upload_baseline": "read + zstd write of the same file, no checks",
            "serve_baseline": "read + filter of the stored file, no contract check or checksum",
        },
    )
    print(f"wrote {path}")
    services.close()
    shutil.rmtree(work, ignore_errors=True)
    return 0
