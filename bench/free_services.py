"""Free services on PostgreSQL: information-query throughput and latency under concurrent load against a
real uvicorn server on loopback (consent check, record read and ledger append included), push delivery
throughput, and credit-report generation time (JSON and PDF).

Setup: a fresh PostgreSQL database; N subjects (legal persons) and N consents (one per subject, to one
of 8 banks, PERIODIC with a frequency the run never exhausts): subjects bulk-loaded with COPY, consents
granted through the lifecycle (``record_grants``, ledgered, 10,000 a transaction); one tax-rating record
for each of the first ``--with-records`` subjects (COPY as well). Loading time is reported.

Load: for each level of ``--concurrency``, that many keep-alive connections from the lean generator of
``bench/_loadgen.py`` (raw asyncio streams, pre-encoded requests: tens of microseconds of CPU per
request, where httpx spent ~3 ms and so capped the run itself) in this process for ``--duration``
seconds, each POSTing /api/v1/free/query for a random subject with records under its bank's consent;
the server runs with ``--workers`` uvicorn worker processes. Baseline: the same generator against the
free router's cheapest route (``GET /api/v1/free/push/public-key``: no authentication, only the audit
row) — the HTTP stack's ceiling on this machine. The generator and the server share the 2 cores (and other
engineers' jobs): every number here is pessimistic for a dedicated server.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench._loadgen import json_request
from bench._loadgen import load as run_load
from bench._report import Result, print_table, write

PG_ADMIN = os.environ.get("FINCREDIT_BENCH_PG_ADMIN", "postgresql://postgres@127.0.0.1:5432/postgres")
BANKS = 8
SCOPES = ["tax_rating", "admin_penalty", "market_registration"]


@contextlib.contextmanager
def database() -> Iterator[str]:
    import psycopg

    name = f"fincredit_bench_free_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield PG_ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1) + "/" + name
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _copy(services: Any, table: str, columns: list[str], rows: Iterator[tuple[Any, ...]]) -> None:
    with services.engine.begin() as conn:
        raw = conn.connection.driver_connection
        with raw.cursor() as cur, cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)


def bulk_load(
    services: Any, n_subjects: int, with_records: int, seed: int = 11
) -> tuple[list[str], dict[str, float]]:
    """COPY subjects, legal persons, consents and tax-rating records; returns the identifiers and timings."""
    from sqlalchemy import select, text

    from fincredit.consent import (
        AccessMode,
        ApprovalChannel,
        ConsentArtefact,
        DataLife,
        DataLifeUnit,
        FetchType,
        Frequency,
        PeriodUnit,
        Purpose,
        Subject,
        SubjectKind,
        generate_uscc,
        mask,
    )
    from fincredit.platform.catalog import current_version, get_item
    from fincredit.platform.consents import RecordedGrant, record_grants
    from fincredit.platform.ingestion.tables import Submission
    from fincredit.platform.subjects import blind_index

    timings: dict[str, float] = {}
    rng = random.Random(seed)
    keyring = services.keyring
    t0 = time.perf_counter()
    codes: list[str] = []
    seen: set[str] = set()
    regions = ["330203", "330205", "330206", "330211", "330212", "330213"]
    while len(codes) < n_subjects:
        code = generate_uscc(rng, regions[len(codes) % len(regions)])
        if code not in seen:
            seen.add(code)
            codes.append(code)
    timings["generate_identifiers_s"] = time.perf_counter() - t0
    now = dt.datetime.now(dt.UTC)
    t0 = time.perf_counter()
    _copy(
        services,
        "subjects",
        ["id", "kind", "code_enc", "code_bidx", "code_masked", "region", "created_at"],
        (
            (
                i + 1,
                "legal",
                keyring.encrypt(c, context="subject:legal"),
                blind_index(keyring, SubjectKind.LEGAL, c),
                mask(c, SubjectKind.LEGAL),
                c[2:8],
                now,
            )
            for i, c in enumerate(codes)
        ),
    )
    _copy(
        services,
        "legal_persons",
        ["subject_id", "name", "updated_at"],
        ((i + 1, f"宁波市示范{i:07d}有限公司", now) for i in range(n_subjects)),
    )
    with services.engine.begin() as conn:
        conn.execute(text(f"SELECT setval(pg_get_serial_sequence('subjects', 'id'), {n_subjects})"))
    timings["copy_subjects_s"] = time.perf_counter() - t0
    valid_from, valid_until = now - dt.timedelta(days=10), now + dt.timedelta(days=365)
    template = ConsentArtefact(
        consent_id="cns_TEMPLATE",
        subject=Subject(SubjectKind.LEGAL, codes[0]),
        grantee="bench-bank-0",
        purpose=Purpose.LOAN_APPLICATION_ASSESSMENT,
        scopes=frozenset(SCOPES),
        modes=frozenset({AccessMode.QUERY, AccessMode.REPORT}),
        valid_from=valid_from,
        valid_until=valid_until,
        fetch_type=FetchType.PERIODIC,
        frequency=Frequency(value=10_000, unit=PeriodUnit.DAY),
        data_life=DataLife(value=1, unit=DataLifeUnit.YEAR),
        created_at=valid_from,
    )
    t0 = time.perf_counter()
    # Granted through the lifecycle (request and grant entries on the ledger, one transaction per 10,000),
    # so the log alone authorises every query the run makes.
    for start in range(0, len(codes), 10_000):
        grants = []
        for i in range(start, min(len(codes), start + 10_000)):
            # A copy of the validated template with another id, subject and grantee (all valid).
            update = {
                "consent_id": f"cns_{i:012d}",
                "subject": Subject(SubjectKind.LEGAL, codes[i]),
                "grantee": f"bench-bank-{i % BANKS}",
            }
            artefact = template.model_copy(update=update)
            grants.append(RecordedGrant(i + 1, artefact, "bench", valid_from, ApprovalChannel.WEB.value))
        with services.tx() as session:
            record_grants(session, services, grants, actor="bench-seed")
    timings["grant_consents_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    with services.tx() as session:
        item = get_item(session, "tax_rating")
        version = current_version(session)
        sub = Submission(
            provider_org_id=item.provider_org_id,
            item_code="tax_rating",
            catalog_version_id=version.id,
            month=f"{now:%Y-%m}",
            kind="file",
            channel="cli",
            status="processed",
            due_date=now.date(),
            processing_due=now.date(),
        )
        session.add(sub)
        session.flush()
        sub_id = sub.id
    ratings = "ABMCD"
    _copy(
        services,
        "credit_records",
        [
            "subject_id",
            "subject_kind",
            "item_code",
            "provider_org_id",
            "provider_record_id",
            "version",
            "current",
            "report_month",
            "data",
            "content_hash",
            "event_date",
            "valid_until",
            "negative",
            "submission_id",
            "catalog_version_id",
            "loaded_at",
            "under_objection",
        ],
        (
            (
                i + 1,
                "legal",
                "tax_rating",
                item.provider_org_id,
                f"TR-{i}",
                1,
                True,
                f"{now:%Y-%m}",
                json.dumps({"rating_year": 2025, "rating": ratings[i % 5], "rated_date": "2025-04-01"}),
                f"{i:064x}",
                dt.date(2025, 4, 1),
                dt.date(2028, 4, 1),
                False,
                sub_id,
                version.id,
                now,
                False,
            )
            for i in range(with_records)
        ),
    )
    timings["copy_records_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    with services.engine.begin() as conn:
        conn.execute(text("ANALYZE"))
    timings["analyze_s"] = time.perf_counter() - t0
    with services.read() as session:
        assert session.scalar(select(Submission.id).where(Submission.id == sub_id)) == sub_id
    return codes, timings


def make_banks(services: Any) -> list[Any]:
    from fincredit.platform.identity.accounts import (
        create_institution_account,
        create_organisation,
        generate_key_pair,
        register_key,
    )
    from fincredit.platform.testing.plugin import Institution

    out = []
    with services.tx() as session:
        for b in range(BANKS):
            org = f"bench-bank-{b}"
            create_organisation(session, org_id=org, kind="bank", name=f"基准银行{b}")
            acc = create_institution_account(
                session,
                services.authz,
                org_id=org,
                username=f"bench-{b}-{uuid.uuid4().hex[:6]}",
                real_name="压测员",
                stated_use="benchmark",
            )
            private_pem, public_pem = generate_key_pair()
            key = register_key(session, acc.id, public_pem)
            out.append(Institution(org, acc.id, key.kid, private_pem))
    return out


@contextlib.contextmanager
def server(url: str, var_dir: Path, port: int, workers: int, public_url: str | None = None) -> Iterator[str]:
    env = {
        **os.environ,
        "FINCREDIT_DATABASE_URL": url,
        "FINCREDIT_VAR_DIR": str(var_dir),
        # Instances of one deployment share one public URL (the balancer's): tokens are valid on each.
        "FINCREDIT_PUBLIC_URL": public_url or f"http://127.0.0.1:{port}",
        "FINCREDIT_PUSH_WORKER": "0",
    }
    cmd = [
        sys.executable,
        "-m",
        "uvicorn",
        "--factory",
        "fincredit.platform.core.app:create_app",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--log-level",
        "warning",
        "--no-access-log",
    ]
    proc = subprocess.Popen(cmd, env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        import httpx

        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(base + "/api/v1/free/push/public-key", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError("the server did not start")
            time.sleep(0.5)
        yield f"{base}#{proc.pid}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


def _cpu_seconds(pids: list[int]) -> float:
    """utime + stime of the processes (from /proc), in seconds."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / tick


def server_pids(parent: int) -> list[int]:
    """The uvicorn supervisor and its worker processes."""
    out = [parent]
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == parent:
                    out.append(int(entry.name))
            except (OSError, ValueError, IndexError):
                continue
    return out


def postgres_pids() -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() == "postgres":
                    out.append(int(entry.name))
            except OSError:
                continue
    return out


def tokens(base: str, banks: list[Any]) -> list[str]:
    import httpx

    from fincredit.platform.identity.tokens import CLIENT_ASSERTION_TYPE, make_client_assertion

    out = []
    for inst in banks:
        assertion = make_client_assertion(inst.private_pem, inst.account_id, inst.kid, base + "/oauth2/token")
        r = httpx.post(
            base + "/oauth2/token",
            data={
                "grant_type": "client_credentials",
                "client_assertion_type": CLIENT_ASSERTION_TYPE,
                "client_assertion": assertion,
            },
        )
        r.raise_for_status()
        out.append(r.json()["access_token"])
    return out


def push_throughput(services: Any, codes: list[str], banks: list[Any], events: int) -> tuple[float, float]:
    """Events/s through the consent gate and webhook delivery to a receiver on 127.0.0.1, and the raw
    POST rate of the same receiver (baseline)."""
    import httpx
    from sqlalchemy import insert

    from fincredit.platform.free import deliver_due, prepare_new
    from fincredit.platform.free.receiver import WebhookReceiver
    from fincredit.platform.free.tables import PushEvent, PushSubscription

    receiver = WebhookReceiver().start()
    try:
        subs = min(events, 500)
        per_sub = max(1, events // subs)
        # Monitoring consents for these subjects (the bulk consents are for loan assessment).
        from fincredit.platform.testing.seed import grant_consent

        with services.tx() as session:
            session.execute(
                insert(PushSubscription),
                [
                    {
                        "id": f"sub_bench_{i}",
                        "org_id": banks[i % BANKS].org_id,
                        "account_id": banks[i % BANKS].account_id,
                        "subject_id": i + 1,
                        "consent_id": "",
                        "purpose": "post_loan_monitoring",
                        "items": ["tax_rating"],
                        "webhook_url": receiver.url,
                        "status": "active",
                        "created_at": dt.datetime.now(dt.UTC),
                    }
                    for i in range(subs)
                ],
            )
        for i in range(subs):
            grant_consent(
                services,
                i + 1,
                banks[i % BANKS].org_id,
                purpose="post_loan_monitoring",
                scopes=["tax_rating"],
                modes=["push_subscription"],
                frequency=10_000,
            )
        now = dt.datetime.now(dt.UTC)
        rows = []
        for i in range(subs):
            for k in range(per_sub):
                payload = {
                    "event": "record_changed",
                    "subscription_id": f"sub_bench_{i}",
                    "sequence": k + 1,
                    "data": {"item": "tax_rating", "fields": {"rating": "A"}},
                }
                rows.append(
                    {
                        "subscription_id": f"sub_bench_{i}",
                        "org_id": banks[i % BANKS].org_id,
                        "subject_seq": k + 1,
                        "kind": "record_changed",
                        "payload_json": json.dumps(payload),
                        "idempotency_key": f"bench-{i}-{k}",
                        "created_at": now,
                        "status": "new",
                        "attempts": 0,
                        "next_attempt_at": now,
                    }
                )
        with services.tx() as session:
            session.execute(insert(PushEvent), rows)
        started = time.perf_counter()
        while True:
            ok, _ = prepare_new(services, limit=5000)
            if ok == 0:
                break
        with httpx.Client(timeout=5) as http:
            while deliver_due(services, http=http, limit=1000).attempted:
                pass
        elapsed = time.perf_counter() - started
        delivered = len(receiver.received)
        rate = delivered / elapsed
        body = b'{"event":"baseline"}'
        with httpx.Client(timeout=5) as http:
            t0 = time.perf_counter()
            for _ in range(1000):
                http.post(receiver.url, content=body)
            base_rate = 1000 / (time.perf_counter() - t0)
        return rate, base_rate
    finally:
        receiver.stop()


def report_times(services: Any, codes: list[str], banks: list[Any], samples: int) -> dict[str, float]:
    from fincredit.platform.core.pdf import new_document
    from fincredit.platform.free import ItemRequest, issue_report, render_pdf
    from fincredit.platform.identity.principal import Principal

    out: dict[str, list[float]] = {"json": [], "pdf": [], "pdf_baseline": []}
    for k in range(samples):
        b = banks[k % BANKS]
        principal = Principal(b.account_id, "institution", b.org_id, "bank", b.org_id)
        code = codes[k * BANKS + k % BANKS] if k * BANKS < len(codes) else codes[k % BANKS]
        t0 = time.perf_counter()
        with services.tx() as session:
            issued = issue_report(
                session,
                services,
                principal=principal,
                identifier=code,
                purpose="loan_application_assessment",
                items=[ItemRequest(c) for c in SCOPES],
            )
        out["json"].append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        render_pdf(issued)
        out["pdf"].append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        render_pdf(issued, new_document)
        out["pdf_baseline"].append(time.perf_counter() - t0)
    return {k: statistics.median(v) for k, v in out.items()}


def propagation(
    bases: list[str], operator_token: str, bank: Any, bank_token: str, trials: int
) -> list[float]:
    """Seconds from the answer to a role change made through the first instance until every watched
    connection, on every instance, answers accordingly: 8 keep-alive connections per instance (a
    connection stays with the worker that accepted it, so with 2 workers all 8 land on one worker with
    probability 1/128), each polling ``/api/v1/me`` every 10 ms. Trials alternate removing the bank role
    and granting it back."""
    import httpx

    watchers = [httpx.Client(base_url=b, timeout=10) for b in bases for _ in range(8)]
    bank_h = {"Authorization": f"Bearer {bank_token}"}
    op_h = {"Authorization": f"Bearer {operator_token}"}
    out: list[float] = []
    try:
        for w in watchers:
            assert w.get("/api/v1/me", headers=bank_h).status_code == 200
        for trial in range(trials):
            removing = trial % 2 == 0
            path = f"/api/v1/accounts/{bank.account_id}/roles" + ("/remove" if removing else "")
            changed = httpx.post(bases[0] + path, headers=op_h, json={"role": "bank"}, timeout=10)
            assert changed.status_code == 204, changed.text
            t0 = time.perf_counter()
            want = 403 if removing else 200
            pending = list(watchers)
            while pending:
                pending = [w for w in pending if w.get("/api/v1/me", headers=bank_h).status_code != want]
                if time.perf_counter() - t0 > 10:
                    raise RuntimeError("a role change had not reached every worker after 10 s")
                if pending:
                    time.sleep(0.01)
            out.append(time.perf_counter() - t0)
    finally:
        for w in watchers:
            w.close()
    return out


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench free_services", description=__doc__)
    ap.add_argument("--subjects", type=int, default=1_000_000)
    ap.add_argument("--with-records", type=int, default=100_000)
    ap.add_argument("--duration", type=float, default=15.0)
    # Closed-loop connections; several levels, since throughput grows and latency with them: the result
    # names the best throughput, and the best one whose p99 stays within the 50 ms target.
    ap.add_argument("--concurrency", default="16,24,28,32,36,40,48,64")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--port", type=int, default=18777)
    ap.add_argument("--push-events", type=int, default=2000)
    ap.add_argument("--report-samples", type=int, default=10)
    # Several instances on consecutive ports against the one database, the generator's connections
    # alternating between them (nginx's round robin without nginx; with nginx on the machine, point a
    # run at it instead). Results then go to free_services.instances<N>.json.
    ap.add_argument("--instances", type=int, default=1)
    ap.add_argument("--propagation-trials", type=int, default=6)
    args = ap.parse_args(argv)
    from fincredit.platform.core.services import build_services
    from fincredit.platform.core.settings import Settings

    notes: dict[str, Any] = {
        "subjects": args.subjects,
        "consents": args.subjects,
        "records": args.with_records,
    }
    results: list[Result] = []
    with tempfile.TemporaryDirectory() as tmp, database() as url:
        var = Path(tmp) / "var"
        settings = Settings(var_dir=var, database_url=url, _env_file=None)  # type: ignore[call-arg]
        services = build_services(settings)
        try:
            banks = make_banks(services)
            t0 = time.perf_counter()
            codes, timings = bulk_load(services, args.subjects, args.with_records)
            notes["load_seconds"] = {k: round(v, 2) for k, v in timings.items()}
            notes["load_total_s"] = round(time.perf_counter() - t0, 1)
            print(
                f"loaded {args.subjects} subjects and consents in {notes['load_total_s']} s: "
                f"{notes['load_seconds']}"
            )
            with contextlib.ExitStack() as stack:
                public = f"http://127.0.0.1:{args.port}"
                tagged_all = [
                    stack.enter_context(server(url, var, args.port + k, args.workers, public))
                    for k in range(args.instances)
                ]
                bases = [t.split("#")[0] for t in tagged_all]
                pids = [p for t in tagged_all for p in server_pids(int(t.split("#")[1]))]
                base: str | list[str] = bases[0] if len(bases) == 1 else bases
                toks = tokens(bases[0], banks)
                from fincredit.platform.testing.plugin import new_institution

                operator = new_institution(services, "platform_operator")
                watched = new_institution(services, "bank")
                op_token, watched_token = tokens(bases[0], [operator, watched])
                delays = propagation(bases, op_token, watched, watched_token, args.propagation_trials)
                notes["policy_propagation_s"] = [round(d, 3) for d in delays]
                print(f"role change reached every watched worker after {notes['policy_propagation_s']} s")
                n_rec = min(args.with_records, len(codes))

                def query(rng: random.Random) -> tuple[str, str, dict[str, str], bytes]:
                    i = rng.randrange(n_rec)
                    return json_request(
                        "POST",
                        "/api/v1/free/query",
                        {"identifier": codes[i], "items": [{"code": "tax_rating"}]},
                        {"Authorization": f"Bearer {toks[i % BANKS]}"},
                    )

                def baseline(rng: random.Random) -> tuple[str, str, dict[str, str], bytes]:
                    return json_request("GET", "/api/v1/free/push/public-key")

                levels = [int(c) for c in str(args.concurrency).split(",")]
                base_run = run_load(
                    base, baseline, concurrency=max(levels), duration=min(args.duration, 10.0)
                )
                # Warm the query path (caches, connections, every worker's verified tokens).
                run_load(base, query, concurrency=max(levels), duration=3.0)
                runs: dict[int, dict[str, Any]] = {}
                for level in levels:
                    cpu0, pg0, gen0 = (
                        _cpu_seconds(pids),
                        _cpu_seconds(postgres_pids()),
                        _cpu_seconds([os.getpid()]),
                    )
                    q = run_load(base, query, concurrency=level, duration=args.duration)
                    cpu1, pg1, gen1 = (
                        _cpu_seconds(pids),
                        _cpu_seconds(postgres_pids()),
                        _cpu_seconds([os.getpid()]),
                    )
                    served = max(1, sum(q["statuses"].values()))
                    q["server_cpu_ms"] = 1000 * (cpu1 - cpu0) / served
                    q["postgres_cpu_ms"] = 1000 * (pg1 - pg0) / served
                    q["generator_cpu_ms"] = 1000 * (gen1 - gen0) / served
                    runs[level] = q
                    print(f"query at {level} connections: {q}")
                print(f"baseline: {base_run}")
            notes["query_runs"] = {str(k): v for k, v in runs.items()}
            notes["baseline_statuses"] = base_run["statuses"]
            best_level = max(runs, key=lambda k: runs[k]["rps"])
            q = runs[best_level]
            within = [
                runs[k]["rps"] for k in runs if runs[k]["p99_ms"] is not None and runs[k]["p99_ms"] <= 50
            ]
            notes["query_best_concurrency"] = best_level
            notes["query_ok_share"] = round(
                sum(r["statuses"].get(200, 0) for r in runs.values())
                / max(1, sum(r["requests"] for r in runs.values())),
                4,
            )
            results += [
                Result("query_throughput", q["rps"], "req/s", 1000, "higher", base_run["rps"]),
                Result("query_p50", q["p50_ms"], "ms", None, "lower", base_run["p50_ms"]),
                Result("query_p99", q["p99_ms"], "ms", 50, "lower", base_run["p99_ms"]),
                Result(
                    "query_throughput_with_p99_within_50ms", max(within, default=0.0), "req/s", 1000, "higher"
                ),
            ]
            for level, r in runs.items():
                results += [
                    Result(f"query_c{level}_throughput", r["rps"], "req/s", None, "higher", None),
                    Result(f"query_c{level}_p99", r["p99_ms"], "ms", 50, "lower", None),
                ]
            results += [
                Result("query_server_cpu_per_request", q["server_cpu_ms"], "ms", None, "lower", None),
                Result("query_postgres_cpu_per_request", q["postgres_cpu_ms"], "ms", None, "lower", None),
                Result("query_generator_cpu_per_request", q["generator_cpu_ms"], "ms", None, "lower", None),
                Result(
                    "query_capacity_2_dedicated_cores",
                    2000 / (q["server_cpu_ms"] + q["postgres_cpu_ms"]),
                    "req/s",
                    1000,
                    "higher",
                    None,
                ),
            ]
            delays = sorted(notes["policy_propagation_s"])
            results += [
                Result("policy_change_to_every_worker_max", delays[-1], "s", 1.0, "lower", None),
                Result(
                    "policy_change_to_every_worker_median", delays[len(delays) // 2], "s", 1.0, "lower", None
                ),
            ]
            if args.instances == 1:  # push and reports do not depend on how many instances serve
                rate, base_rate = push_throughput(services, codes, banks, args.push_events)
                results.append(
                    Result("push_delivery_throughput", rate, "events/s", None, "higher", base_rate)
                )
                times = report_times(services, codes, banks, args.report_samples)
                results += [
                    Result("report_json", 1000 * times["json"], "ms", None, "lower", None),
                    Result(
                        "report_pdf", 1000 * times["pdf"], "ms", 300, "lower", 1000 * times["pdf_baseline"]
                    ),
                ]
        finally:
            services.close()
    notes["setup"] = (
        f"PostgreSQL, uvicorn --workers {args.workers}, {args.concurrency} concurrent keep-alive clients "
        "(one run per level) "
        f"(bench/_loadgen.py in the bench process) for {args.duration} s after a 3 s warm-up, on loopback; "
        "the generator, server and PostgreSQL share 2 cores with other jobs: pessimistic numbers"
    )
    notes["cpu_accounting"] = (
        "server and PostgreSQL CPU seconds (utime+stime from /proc) over the query run divided by the "
        "requests served; 'capacity' = 2 cores / that CPU cost — what 2 cores of our own would sustain, "
        "an estimate (other databases on the shared PostgreSQL count too, so it errs low)"
    )
    notes["baselines"] = {
        "query": "same generator against GET /api/v1/free/push/public-key (no authentication, no query; "
        "the audit middleware's one-row insert per request is the only database work)",
        "push": "raw POSTs to the same 127.0.0.1 receiver, one client, no database",
        "report_pdf": "the same report rendered on pdf.new_document (fonts parsed per document, i.e. without "
        "the per-process font cache of free/_pdf.py)",
    }
    print_table(results)
    if args.instances > 1:
        nginx = "nginx is not installed here" if shutil.which("nginx") is None else "nginx not used"
        notes["instances"] = (
            f"{args.instances} instances (uvicorn --workers {args.workers} each) on ports {args.port}.."
            f"{args.port + args.instances - 1}, one PostgreSQL; {nginx}: the generator's connections "
            "alternate between the instances, as nginx's round robin would spread them. The 1,000 q/s, "
            "p99 <= 50 ms target is one instance's; the instances here share the same 2 cores"
        )
    write(
        "free_services" if args.instances == 1 else f"free_services.instances{args.instances}",
        results,
        argv=argv,
        extra=notes,
    )
    return 0
