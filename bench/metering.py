"""Metering benchmark (issue 6) on PostgreSQL: idempotent usage-event ingestion with batched
``record_usages`` (target >= 20,000 events/s; baseline: one ``record_usage`` per event), a re-sent batch
counted zero times, and monthly statements for 100 institutions over 1,000,000 events in total (target
<= 30 s for all institutions; the statements' totals are checked against the raw events).

    .venv/bin/python -m bench metering [--events 1000000] [--orgs 100] [--batch 10000]
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import tempfile
import time
import uuid
from decimal import Decimal
from pathlib import Path

from bench._report import Result, print_table, write

PERIOD = "2026-10"
PRODUCTS = ("market.credit_score", "market.premium_dataset", "market.encrypted_scoring")


def _database() -> tuple[str, str]:
    import psycopg

    from fincredit.platform.testing.plugin import PG_ADMIN_URL

    name = f"fincredit_bench_metering_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1)
    return name, f"{base}/{name}"


def _drop(name: str) -> None:
    import psycopg

    from fincredit.platform.testing.plugin import PG_ADMIN_URL

    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _orm_statement_events(session, org_id: str) -> int:  # type: ignore[no-untyped-def]
    """The statement's event pass as it was before: ORM objects for every event, then the digest."""
    import hashlib

    from sqlalchemy import select

    from fincredit.platform.metered.billing import period_bounds
    from fincredit.platform.metered.billing.tables import UsageEvent

    start, end = period_bounds(PERIOD)
    events = list(
        session.scalars(
            select(UsageEvent).where(
                UsageEvent.org_id == org_id, UsageEvent.time >= start, UsageEvent.time < end
            )
        )
    )
    h = hashlib.sha256()
    for e in sorted(events, key=lambda e: (e.source, e.id)):
        h.update(f"{e.source}\x00{e.id}\x00{e.product}\x00{Decimal(e.quantity).normalize()}\n".encode())
    session.expunge_all()
    return len(events)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="bench metering")
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--orgs", type=int, default=100)
    parser.add_argument("--batch", type=int, default=5_000)  # 9 parameters a row, 65,535 a statement
    parser.add_argument("--baseline-events", type=int, default=3_000)
    parser.add_argument("--baseline-orgs", type=int, default=5)
    args = parser.parse_args(argv)

    from fincredit.platform.core.db import Organisation
    from fincredit.platform.core.services import build_services
    from fincredit.platform.metered.billing import Usage, build_statement, record_usage, record_usages
    from fincredit.platform.testing.plugin import make_settings

    name, url = _database()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            services = build_services(make_settings(Path(tmp), url))
            orgs = [f"bench-bank-{i:03d}" for i in range(args.orgs)]
            with services.tx() as session:
                for org in orgs:
                    session.add(Organisation(id=org, kind="bank", name=f"基准银行{org[-3:]}"))
            rng = random.Random(6)
            start = dt.datetime(2026, 10, 1, tzinfo=dt.UTC)

            def usage(i: int) -> Usage:
                return Usage(
                    product=PRODUCTS[i % len(PRODUCTS)],
                    org_id=orgs[i % len(orgs)],
                    quantity=Decimal(rng.randint(1, 5)),
                    source="bench",
                    id=f"evt-{i:09d}",
                    time=start + dt.timedelta(seconds=i % (30 * 86400)),
                )

            # Baseline: one idempotent INSERT per event, a transaction per 1,000.
            t0 = time.perf_counter()
            for lo in range(0, args.baseline_events, 1000):
                with services.tx() as session:
                    for i in range(lo, min(lo + 1000, args.baseline_events)):
                        record_usage(session, usage(10**8 + i))
            single_rate = args.baseline_events / (time.perf_counter() - t0)

            expected: dict[str, Decimal] = {}
            t0 = time.perf_counter()
            new = 0
            for lo in range(0, args.events, args.batch):
                batch = [usage(i) for i in range(lo, min(lo + args.batch, args.events))]
                for u in batch:
                    expected[u.org_id] = expected.get(u.org_id, Decimal(0)) + u.quantity
                with services.tx() as session:
                    new += record_usages(session, batch)
            ingest_s = time.perf_counter() - t0
            batched_rate = args.events / ingest_s
            assert new == args.events, (new, args.events)

            rng = random.Random(6)  # the same events again: every one a duplicate
            dup = [usage(i) for i in range(min(args.batch, args.events))]
            t0 = time.perf_counter()
            with services.tx() as session:
                again = record_usages(session, dup)
            dup_rate = len(dup) / (time.perf_counter() - t0)
            assert again == 0

            t0 = time.perf_counter()
            events = 0
            with services.read() as session:
                for org in orgs:
                    st = build_statement(session, org, PERIOD)
                    events += st.events
            statements_s = time.perf_counter() - t0
            assert events == args.events + args.baseline_events, events
            with services.read() as session:
                one = build_statement(session, orgs[1], PERIOD)
            # Baseline: the previous statement code path, ORM rows per event, on a few institutions.
            t0 = time.perf_counter()
            with services.read() as session:
                for org in orgs[: args.baseline_orgs]:
                    assert _orm_statement_events(session, org) == one.events or org != orgs[1]
            orm_ms = 1000 * (time.perf_counter() - t0) / args.baseline_orgs
            services.close()
    finally:
        _drop(name)

    results = [
        Result(
            "ingest_batched_events_per_s",
            round(batched_rate),
            "events/s",
            20_000,
            "higher",
            round(single_rate),
        ),
        Result("ingest_duplicates_per_s", round(dup_rate), "events/s", None, "higher", round(single_rate)),
        Result("statements_all_institutions_s", round(statements_s, 2), "s", 30.0, "lower"),
        Result(
            "statement_per_institution_ms",
            round(1000 * statements_s / args.orgs, 1),
            "ms",
            None,
            "lower",
            round(orm_ms, 1),
        ),
    ]
    print_table(results)
    print(
        f"{args.events:,} events over {args.orgs} institutions; ingest {ingest_s:.1f} s; one statement: "
        f"{one.events} events, {len(one.lines)} lines, total {one.total} {one.currency}"
    )
    write(
        "metering",
        results,
        argv=argv,
        extra={
            "events": args.events,
            "institutions": args.orgs,
            "batch": args.batch,
            "baseline": "ingest: one record_usage INSERT ... ON CONFLICT per event (1,000 per transaction); "
            "statements: the previous ORM-rows-per-event statement pass, on --baseline-orgs institutions",
            "note": "2 cores shared with other tenants' test suites (see machine.load): pessimistic numbers",
        },
    )
    return 0
