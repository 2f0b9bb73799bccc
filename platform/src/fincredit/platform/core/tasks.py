"""Scheduled work: ``fincredit worker`` runs every capability's periodic tasks (``Capability.tasks``) through
procrastinate, a job queue kept in the platform's PostgreSQL database (revision ``0011_procrastinate``).

Any number of workers, on any number of hosts, share the queue and each job runs once: every worker
proposes each tick of each task, and the database accepts the first proposal only (one row per task and
tick); one worker takes the job (``FOR UPDATE SKIP LOCKED``); a task's lock keeps two of its runs from
overlapping, and a tick that finds the previous one still waiting is dropped (its queueing lock), so a
slow task never piles up a backlog. A worker that dies mid-job leaves its job ``doing``, holding the
task's lock: the housekeeping task marks it failed once the dead worker's heartbeat is old, which frees the
task for its next tick (every task is a sweep that is safe to repeat).

On SQLite there is no worker: the service keeps delivering pushes in process, and each sweep has its
one-shot command (``fincredit consents expire``, ``fincredit national deliver``, ...)."""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import time
from collections.abc import Callable

import procrastinate
from croniter import croniter
from procrastinate.jobs import Status
from sqlalchemy.engine import make_url

from fincredit.platform.core.registry import ScheduledTask, scheduled_tasks
from fincredit.platform.core.services import Services
from fincredit.platform.core.settings import Settings

log = logging.getLogger("fincredit.tasks")

QUEUE = "fincredit"
OFF = "off"
HOUSEKEEPING = "core.housekeeping"
HOUSEKEEPING_CRON = "* * * * *"
# A worker beats every 10 s (procrastinate's default); three missed beats and its running jobs are given up.
STALLED_AFTER_SECONDS = 30.0
# Finished jobs are the queue's history (`procrastinate_jobs`, `procrastinate_events`): a week is kept.
KEEP_FINISHED_HOURS = 7 * 24


class WorkerUnavailable(RuntimeError):
    """The database is not PostgreSQL: scheduled work has no queue to run from."""


def conninfo(database_url: str) -> str:
    """The libpq connection string of a SQLAlchemy PostgreSQL URL (procrastinate speaks psycopg directly)."""
    url = make_url(database_url)
    if url.get_backend_name() != "postgresql":
        raise WorkerUnavailable(
            f"scheduled work runs from a job queue in PostgreSQL; this platform's database is "
            f"{url.get_backend_name()}. There the service delivers pushes itself, and cron can run each "
            "task's one-shot command (`fincredit worker --list` shows them)."
        )
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def schedule(settings: Settings) -> list[tuple[ScheduledTask, str | None]]:
    """Every task with the cron it runs on (``None``: turned off by ``FINCREDIT_TASK_SCHEDULES``)."""
    tasks = scheduled_tasks()
    overrides = dict(settings.task_schedules)
    unknown = sorted(set(overrides) - {t.name for t in tasks})
    if unknown:
        raise ValueError(
            f"FINCREDIT_TASK_SCHEDULES names no task {unknown}; the tasks are {[t.name for t in tasks]}"
        )
    chosen: list[tuple[ScheduledTask, str | None]] = []
    for task in tasks:
        cron = overrides.get(task.name, task.cron).strip()
        if cron == OFF:
            chosen.append((task, None))
            continue
        if not croniter.is_valid(cron):
            raise ValueError(f"{task.name}: {cron!r} is not a cron expression")
        chosen.append((task, cron))
    return chosen


def _runner(services: Services, task: ScheduledTask) -> Callable[[int], None]:
    def run(timestamp: int) -> None:
        tick = dt.datetime.fromtimestamp(timestamp, dt.UTC)
        started = time.perf_counter()
        outcome = task.run(services, tick)
        log.info(
            "%s at %s: %s",
            task.name,
            tick.isoformat(),
            outcome,
            extra={"task": task.name, "tick": timestamp, "seconds": round(time.perf_counter() - started, 3)},
        )

    run.__name__ = run.__qualname__ = task.name.replace(".", "_")
    return run


def build_app(services: Services) -> procrastinate.App:
    """A procrastinate app with every capability's periodic tasks and the queue's housekeeping."""
    app = procrastinate.App(
        connector=procrastinate.PsycopgConnector(conninfo=conninfo(services.settings.resolved_database_url))
    )
    for task, cron in schedule(services.settings):
        if cron is None:
            continue
        job = app.task(name=task.name, queue=QUEUE, lock=task.name, queueing_lock=task.name)(
            _runner(services, task)
        )
        app.periodic(cron=cron, periodic_id=task.name)(job)

    # No lock of its own: a housekeeping run stalled with its worker is itself cleared by the next one.
    @app.periodic(cron=HOUSEKEEPING_CRON, periodic_id=HOUSEKEEPING)
    @app.task(name=HOUSEKEEPING, queue=QUEUE, queueing_lock=HOUSEKEEPING)
    async def housekeeping(timestamp: int) -> None:
        stalled = await app.job_manager.get_stalled_jobs(
            queue=QUEUE, seconds_since_heartbeat=STALLED_AFTER_SECONDS
        )
        for job in stalled:
            log.warning(
                "job %s (%s) was left running by a stopped worker: marked failed", job.id, job.task_name
            )
            await app.job_manager.finish_job(job, status=Status.FAILED, delete_job=False)
        await app.job_manager.delete_old_jobs(
            nb_hours=KEEP_FINISHED_HOURS, queue=QUEUE, include_failed=True, include_cancelled=True
        )

    return app


def worker_name() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


def run_worker(services: Services, *, concurrency: int = 2, name: str | None = None) -> None:
    """Run the scheduled work until SIGINT or SIGTERM (then running jobs get 30 s to finish)."""
    app = build_app(services)
    app.run_worker(
        queues=[QUEUE],
        concurrency=concurrency,
        name=name or worker_name(),
        shutdown_graceful_timeout=30,
        stalled_worker_timeout=STALLED_AFTER_SECONDS,
    )
