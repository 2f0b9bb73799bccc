"""Bank-side job state: a small SQLite file in the bank's working directory.

A joint-modelling job moves ``created -> aligning -> training -> done``, or to ``failed`` from anywhere
with the reason. A state names the last step entered; the row records the process running it (none
once the step has finished and the job waits for the next one); a job found ``aligning`` or ``training``
whose process is gone is marked ``failed`` ("interrupted") the next time the store is opened, so a crash
always leaves a clear status. A failed job can be rerun: a finished alignment is kept next to the
database (``jobs/<job_id>/alignment.npz``) and reused; an interrupted PSI restarts from scratch, because
its secret scalars lived only in the crashed process's memory (by design).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import sqlite3
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

import numpy as np

from fincredit.federation._psi_protocol import Alignment
from fincredit.federation.errors import JobStateError

__all__ = ["JobRecord", "JobState", "JobStore"]

_JOB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")


class JobState(StrEnum):
    CREATED = "created"
    ALIGNING = "aligning"
    TRAINING = "training"
    DONE = "done"
    FAILED = "failed"


_ACTIVE = (JobState.ALIGNING, JobState.TRAINING)
# A rerun re-enters a step (aligning -> aligning after a crash) and a failed job may be retried.
_ALLOWED: dict[JobState, frozenset[JobState]] = {
    JobState.CREATED: frozenset({JobState.ALIGNING, JobState.FAILED}),
    JobState.ALIGNING: frozenset({JobState.ALIGNING, JobState.TRAINING, JobState.DONE, JobState.FAILED}),
    JobState.TRAINING: frozenset({JobState.TRAINING, JobState.DONE, JobState.FAILED}),
    JobState.DONE: frozenset(),
    JobState.FAILED: frozenset({JobState.ALIGNING, JobState.TRAINING, JobState.FAILED}),
}


@dataclass(frozen=True, slots=True)
class JobRecord:
    job_id: str
    kind: str
    state: JobState
    message: str
    created_at: float
    updated_at: float
    pid: int | None
    meta: dict[str, Any]

    @property
    def running(self) -> bool:
        """A process is executing this job's current step right now."""
        return self.pid is not None


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class JobStore:
    """Jobs of one bank working directory. Safe to open from several processes (SQLite WAL)."""

    def __init__(self, workdir: str | os.PathLike[str]) -> None:
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.path = self.workdir / "jobs.sqlite3"
        self._db = sqlite3.connect(self.path, timeout=30.0, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS jobs (job_id TEXT PRIMARY KEY, kind TEXT NOT NULL,"
            " state TEXT NOT NULL, message TEXT NOT NULL DEFAULT '',"
            " created_at REAL NOT NULL, updated_at REAL NOT NULL,"
            " pid INTEGER, meta TEXT NOT NULL DEFAULT '{}')"
        )
        self._reap_interrupted()

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> JobStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- records -----------------------------------------------------------------------------------

    def create(
        self, job_id: str | None = None, *, kind: str = "joint_model", meta: dict[str, Any] | None = None
    ) -> JobRecord:
        job_id = job_id or f"job-{uuid.uuid4().hex[:16]}"
        if not _JOB_ID.match(job_id):
            raise JobStateError(f"job id {job_id!r} must be 1-128 letters, digits, '.', '_' or '-'")
        now = time.time()
        try:
            self._db.execute(
                "INSERT INTO jobs (job_id, kind, state, created_at, updated_at, meta)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (job_id, kind, JobState.CREATED.value, now, now, json.dumps(meta or {})),
            )
        except sqlite3.IntegrityError:
            raise JobStateError(f"job {job_id!r} already exists") from None
        return self.get(job_id)

    def get(self, job_id: str) -> JobRecord:
        row = self._db.execute(
            "SELECT job_id, kind, state, message, created_at, updated_at, pid, meta"
            " FROM jobs WHERE job_id = ?",
            (job_id,),
        ).fetchone()
        if row is None:
            raise JobStateError(f"no job {job_id!r} in {self.path}")
        return JobRecord(row[0], row[1], JobState(row[2]), row[3], row[4], row[5], row[6], json.loads(row[7]))

    def find(self, job_id: str) -> JobRecord | None:
        try:
            return self.get(job_id)
        except JobStateError:
            return None

    def jobs(self) -> list[JobRecord]:
        ids = [r[0] for r in self._db.execute("SELECT job_id FROM jobs ORDER BY created_at, job_id")]
        return [self.get(i) for i in ids]

    def transition(self, job_id: str, state: JobState | str, message: str = "", **meta: Any) -> JobRecord:
        """Move a job to ``state``; ``meta`` keys are merged into the job's metadata."""
        target = JobState(state)
        current = self.get(job_id)
        if target not in _ALLOWED[current.state]:
            raise JobStateError(f"job {job_id!r} cannot go from {current.state} to {target}")
        merged = {**current.meta, **meta}
        pid = os.getpid() if target in _ACTIVE else None
        self._db.execute(
            "UPDATE jobs SET state = ?, message = ?, updated_at = ?, pid = ?, meta = ? WHERE job_id = ?",
            (target.value, message, time.time(), pid, json.dumps(merged), job_id),
        )
        return self.get(job_id)

    @contextlib.contextmanager
    def step(self, job_id: str, state: JobState | str, message: str = "") -> Iterator[JobRecord]:
        """Run a step in ``state``; any exception marks the job failed with the reason, then propagates."""
        record = self.transition(job_id, state, message)
        try:
            yield record
        except BaseException as exc:
            reason = f"{JobState(state).value} failed: {type(exc).__name__}: {exc}"
            with contextlib.suppress(JobStateError):
                self.transition(job_id, JobState.FAILED, reason)
            raise
        # The step finished: the job rests in this state with no process attached until the next step.
        self._db.execute("UPDATE jobs SET pid = NULL, updated_at = ? WHERE job_id = ?", (time.time(), job_id))

    def note(self, job_id: str, message: str, **meta: Any) -> JobRecord:
        """Update a job's message and metadata without changing its state."""
        current = self.get(job_id)
        self._db.execute(
            "UPDATE jobs SET message = ?, updated_at = ?, meta = ? WHERE job_id = ?",
            (message, time.time(), json.dumps({**current.meta, **meta}), job_id),
        )
        return self.get(job_id)

    # -- artefacts ---------------------------------------------------------------------------------

    def job_dir(self, job_id: str) -> Path:
        self.get(job_id)
        path = self.workdir / "jobs" / job_id
        path.mkdir(parents=True, exist_ok=True)
        return path

    def save_alignment(self, alignment: Alignment) -> Path:
        path = self.job_dir(alignment.job_id) / "alignment.npz"
        tmp = path.with_suffix(".tmp.npz")
        np.savez(
            tmp,
            rows=alignment.rows,
            ids=np.asarray(alignment.ids, dtype=str),
            info=np.asarray(
                [alignment.job_id, alignment.alignment_id, str(alignment.own_size), str(alignment.other_size)]
            ),
        )
        os.replace(tmp, path)  # atomic: a crash never leaves half an alignment behind
        return path

    def load_alignment(self, job_id: str) -> Alignment | None:
        path = self.workdir / "jobs" / job_id / "alignment.npz"
        if not path.exists():
            return None
        with np.load(path, allow_pickle=False) as data:
            info = [str(x) for x in data["info"]]
            return Alignment(
                job_id=info[0],
                alignment_id=info[1],
                rows=data["rows"].astype(np.int64),
                ids=[str(x) for x in data["ids"]],
                own_size=int(info[2]),
                other_size=int(info[3]),
            )

    # -- crash detection ---------------------------------------------------------------------------

    def _reap_interrupted(self) -> None:
        rows = self._db.execute(
            "SELECT job_id, state, pid FROM jobs WHERE state IN (?, ?)", tuple(s.value for s in _ACTIVE)
        ).fetchall()
        for job_id, state, pid in rows:
            if pid is not None and pid != os.getpid() and not _pid_alive(pid):
                self._db.execute(
                    "UPDATE jobs SET state = ?, message = ?, updated_at = ?, pid = NULL WHERE job_id = ?",
                    (
                        JobState.FAILED.value,
                        f"interrupted: the process running {state} (pid {pid}) exited; rerun the job",
                        time.time(),
                        job_id,
                    ),
                )
