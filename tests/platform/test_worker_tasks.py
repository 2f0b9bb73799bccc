"""Scheduled work: each capability declares its periodic tasks; ``fincredit worker`` runs them from a job
queue in PostgreSQL, and two workers never run one tick twice. On SQLite the worker says it is unavailable."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from importlib import resources
from pathlib import Path

import psycopg
import pytest
from typer.testing import CliRunner

from fincredit.platform.catalog import change_catalog
from fincredit.platform.consents.tables import Consent
from fincredit.platform.core.registry import scheduled_tasks
from fincredit.platform.core.services import Services
from fincredit.platform.core.settings import Settings, get_settings
from fincredit.platform.core.tasks import OFF, WorkerUnavailable, conninfo, schedule
from fincredit.platform.testing.plugin import new_institution
from fincredit.platform.testing.seed import grant_consent, new_enterprise

FINCREDIT = str(Path(sys.executable).with_name("fincredit"))
MIGRATIONS = Path(__file__).parents[2] / "platform/src/fincredit/platform/core/migrations"


def _task(name: str):  # type: ignore[no-untyped-def]
    return next(t for t in scheduled_tasks() if t.name == name)


def test_each_capability_brings_its_periodic_work() -> None:
    names = {t.name for t in scheduled_tasks()}
    assert {
        "consents.expire",
        "consents.checkpoint",
        "national.deliver",
        "ingestion.drop_folders",
        "free.push",
        "objections.missed_deadlines",
        "supervision.monthly_report",
    } <= names


def test_schedules_can_be_changed_or_turned_off_by_setting_and_mistakes_are_refused() -> None:
    settings = Settings(
        task_schedules={"free.push": "*/10 * * * * *", "national.deliver": OFF}, _env_file=None
    )
    crons = {task.name: cron for task, cron in schedule(settings)}
    assert crons["free.push"] == "*/10 * * * * *"
    assert crons["national.deliver"] is None
    assert crons["consents.expire"] == _task("consents.expire").cron
    with pytest.raises(ValueError, match="names no task"):
        schedule(Settings(task_schedules={"consents.expiry": "* * * * *"}, _env_file=None))
    with pytest.raises(ValueError, match="not a cron expression"):
        schedule(Settings(task_schedules={"free.push": "every minute"}, _env_file=None))


def test_the_queue_schema_is_the_one_the_installed_procrastinate_expects() -> None:
    """Revision 0011 creates procrastinate 3.10.0's schema; a procrastinate that changes it needs a new
    revision applying its migration scripts (this test then fails as a reminder)."""
    frozen = (MIGRATIONS / "procrastinate_3_10_0.sql").read_text(encoding="utf-8")
    shipped = (resources.files("procrastinate.sql") / "schema.sql").read_text(encoding="utf-8")
    assert frozen.endswith(shipped)


def test_on_sqlite_the_worker_says_it_is_unavailable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from fincredit.platform.cli.app import app

    with pytest.raises(WorkerUnavailable, match="PostgreSQL"):
        conninfo(f"sqlite:///{tmp_path / 'x.db'}")
    assert (
        conninfo("postgresql+psycopg://u:p%40ss@db.example:5433/fc")
        == "postgresql://u:p%40ss@db.example:5433/fc"
    )

    monkeypatch.setenv("FINCREDIT_DATABASE_URL", f"sqlite:///{tmp_path / 'fincredit.db'}")
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(app, ["worker"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 2
    assert "fincredit worker is not available" in result.output
    assert "PostgreSQL" in result.output


def test_the_expiry_task_expires_a_consent_past_its_end(services: Services) -> None:
    _, subject_id = new_enterprise(services)
    bank = new_institution(services, "bank").org_id
    ended = grant_consent(
        services, subject_id, bank, valid_until=dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    )
    outcome = _task("consents.expire").run(services, dt.datetime.now(dt.UTC))
    assert "expired" in outcome
    with services.read() as session:
        row = session.get(Consent, ended)
        assert row is not None and row.state == "EXPIRED"


def test_the_drop_folder_task_takes_each_providers_files_as_that_provider(
    services: Services, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import fincredit.platform.ingestion.capability as ingestion

    org = new_institution(services, "data_provider").org_id
    with services.tx() as session:
        change_catalog(
            session, changes={"water_arrears": {"provider_org_id": org}}, created_by=None, note="worker test"
        )
    (tmp_path / org).mkdir()
    (tmp_path / org / "water_arrears__2025-06.nil").write_bytes(b"")
    monkeypatch.setattr(services.settings, "drop_folders", tmp_path)
    monkeypatch.setattr(ingestion, "DROP_SETTLE_SECONDS", 0.05)

    outcome = _task("ingestion.drop_folders").run(services, dt.datetime.now(dt.UTC))

    assert outcome == "1 drop folder(s): 1 file(s) taken, 0 rejected"
    result = json.loads((tmp_path / org / "processed" / "water_arrears__2025-06.nil.result.json").read_text())
    assert result["outcome"] == "nil"


def test_the_monthly_report_task_files_last_months_report_once(services: Services) -> None:
    from fincredit.platform.supervision.capability import reports_dir

    task = _task("supervision.monthly_report")
    tick = dt.datetime(2031, 3, 1, 0, 30, tzinfo=dt.UTC)
    assert "filed" in task.run(services, tick)
    folder = reports_dir(services.settings.var_dir)
    assert json.loads((folder / "operations-2031-02.json").read_text())["period"] == "2031-02"
    assert (folder / "operations-2031-02.pdf").read_bytes().startswith(b"%PDF")
    assert task.run(services, tick) == "report 2031-02 already filed"


def test_the_other_tasks_run_on_an_idle_platform(services: Services) -> None:
    now = dt.datetime.now(dt.UTC)
    assert "checkpoint at size" in _task("consents.checkpoint").run(services, now)
    assert "missed deadline(s) recorded" in _task("objections.missed_deadlines").run(services, now)
    assert "push(es) attempted" in _task("free.push").run(services, now)


# --- two workers on one PostgreSQL database -------------------------------------------------------------


@contextmanager
def _worker(services: Services, log: Path, schedules: dict[str, str]) -> Iterator[subprocess.Popen[bytes]]:
    env = {
        **os.environ,
        "FINCREDIT_VAR_DIR": str(services.settings.var_dir),
        "FINCREDIT_DATABASE_URL": services.settings.resolved_database_url,
        "FINCREDIT_TASK_SCHEDULES": json.dumps(schedules),
    }
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [FINCREDIT, "worker"], env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def _ticks_run(log: Path, task: str) -> list[int]:
    ticks = []
    for line in log.read_text(errors="replace").splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and record.get("task") == task and "tick" in record:
            ticks.append(int(record["tick"]))
    return ticks


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_two_workers_run_each_tick_of_a_periodic_task_exactly_once(services: Services) -> None:
    task = "consents.checkpoint"
    # Every second, so that many ticks fall within the test; every other task off.
    schedules = {t.name: OFF for t in scheduled_tasks()} | {task: "* * * * * *"}
    logs = [services.settings.var_dir / f"worker-{i}.log" for i in range(2)]
    db = conninfo(services.settings.resolved_database_url)
    with ExitStack() as stack:
        procs = [stack.enter_context(_worker(services, log, schedules)) for log in logs]
        deadline = time.monotonic() + 240
        while True:
            for proc, log in zip(procs, logs, strict=True):
                assert proc.poll() is None, f"fincredit worker exited: {log.read_text()[-3000:]}"
            runs = [_ticks_run(log, task) for log in logs]
            # Both workers competing for the jobs, for a good number of ticks.
            if all(runs) and sum(map(len, runs)) >= 8:
                break
            assert time.monotonic() < deadline, f"ticks run by each worker so far: {runs}"
            time.sleep(1)
    runs = [_ticks_run(log, task) for log in logs]  # after a graceful stop, the last runs are logged too
    ran = [tick for worker in runs for tick in worker]
    assert len(ran) == len(set(ran)), f"a tick ran twice: {sorted(ran)}"

    with psycopg.connect(db) as conn:
        jobs = conn.execute(
            "SELECT (j.args->>'timestamp')::bigint, j.status, count(e.id) FILTER (WHERE e.type = 'started') "
            "FROM procrastinate_jobs j LEFT JOIN procrastinate_events e ON e.job_id = j.id "
            "WHERE j.task_name = %s GROUP BY j.id",
            (task,),
        ).fetchall()
    ticks = [int(tick) for tick, _, _ in jobs]
    assert len(ticks) == len(set(ticks)), f"a tick was queued twice: {sorted(ticks)}"
    assert all(started <= 1 for _, _, started in jobs), f"a job was started twice: {jobs}"
    # Every tick that ran is one queued job that succeeded, and each succeeded job was one logged run.
    assert {int(tick) for tick, status, _ in jobs if status == "succeeded"} == set(ran)


@pytest.mark.postgres
@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_a_job_left_running_by_a_dead_worker_is_failed_and_frees_its_task(services: Services) -> None:
    """A worker killed mid-job leaves the job ``doing`` and holding its task's lock; housekeeping marks it
    failed once no live worker owns it, so the task's next tick can run."""
    import asyncio
    import concurrent.futures

    from fincredit.platform.core.tasks import HOUSEKEEPING, QUEUE, build_app

    app = build_app(services)
    db = conninfo(services.settings.resolved_database_url)

    async def scenario() -> tuple[str, str]:
        async with app.open_async():
            job_id = await app.tasks["consents.checkpoint"].defer_async(timestamp=1)
            with psycopg.connect(db, autocommit=True) as conn:
                # Taken by a worker that then died: its row in procrastinate_workers was pruned.
                conn.execute(
                    "UPDATE procrastinate_jobs SET status = 'doing', worker_id = NULL WHERE id = %s",
                    (job_id,),
                )
                before = conn.execute(
                    "SELECT status FROM procrastinate_jobs WHERE id = %s", (job_id,)
                ).fetchone()
            await app.tasks[HOUSEKEEPING](timestamp=2)
            with psycopg.connect(db, autocommit=True) as conn:
                after = conn.execute(
                    "SELECT status FROM procrastinate_jobs WHERE id = %s", (job_id,)
                ).fetchone()
            assert before is not None and after is not None
            # The task's lock is free again: the next tick is taken by a worker.
            next_id = await app.tasks["consents.checkpoint"].defer_async(timestamp=3)
            worker_id = await app.job_manager.register_worker()
            try:
                fetched = await app.job_manager.fetch_job(queues=[QUEUE], worker_id=worker_id)
                assert fetched is not None and fetched.id == next_id
            finally:
                with psycopg.connect(db, autocommit=True) as conn:
                    conn.execute("DELETE FROM procrastinate_jobs WHERE id IN (%s, %s)", (job_id, next_id))
                await app.job_manager.unregister_worker(worker_id)
            return str(before[0]), str(after[0])

    # In a thread of its own: the browser tests' Playwright keeps an event loop running in this one.
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        assert pool.submit(asyncio.run, scenario()).result() == ("doing", "failed")


@pytest.mark.postgres
@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_metrics_show_the_scheduled_work_queue(client) -> None:  # type: ignore[no-untyped-def]
    text = client.get("/metrics").text
    assert 'fincredit_queue_depth{queue="scheduled_jobs"}' in text
    assert "fincredit_scheduled_jobs_failed " in text
