"""Job sessions: the platform half of a running joint-modelling job, held in the database and the
federation store instead of one process's memory, so any instance takes the next frame.

A session row (``joint_job_sessions``) names the current saved states of a job — its PSI, its training
and the service's own inputs of the job (the consenting set, the alignment, the consents that allowed
it) — as refs into the :class:`~fincredit.federation._party_store.StateStore` of
``Settings.federation_store_dir``, and remembers the last frame answered with its reply.

Frames of one job are answered one at a time across every instance: on PostgreSQL under a
session-level advisory lock on the job (held on a connection of its own, so it ends with the process
that holds it: a killed instance never leaves a job locked), on SQLite (one instance) under a lock of
this process. A step's result is recorded over the version it started from, in one short transaction.
"""

from __future__ import annotations

import contextlib
import hashlib
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any

from sqlalchemy import delete, select, text

from fincredit.federation import Alignment
from fincredit.federation.party import StateStore
from fincredit.platform.core.db import utcnow
from fincredit.platform.core.services import Services
from fincredit.platform.metered.joint_lab._inputs import ConsentingSet
from fincredit.platform.metered.joint_lab.tables import JointJobSession

__all__ = ["JobInputs", "JobSessions", "SessionState", "request_digest"]


def request_digest(body: bytes) -> str:
    return hashlib.blake2b(body, digest_size=20).hexdigest()


@dataclass(slots=True)
class JobInputs:
    """What the service itself keeps about a job between frames (saved like the party's state): the
    consenting set the PSI ran on, the alignment it produced and the consents that allowed it."""

    inputs: ConsentingSet | None = None
    alignment: Alignment | None = None
    consent_ids: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class SessionState:
    job_id: str
    version: int = 0  # 0: no row yet
    psi_state: str | None = None
    training_state: str | None = None
    live_state: str | None = None
    last_request: str | None = None
    last_reply: str | None = None


class SessionConflict(RuntimeError):
    """The session moved on while this step ran (another instance recorded a step): not recorded."""


class JobSessions:
    def __init__(self, services: Services) -> None:
        self.services = services
        self.store = StateStore(services.settings.resolved_federation_store)
        self._postgres = services.engine.dialect.name == "postgresql"
        self._guard = threading.Lock()
        self._locks: dict[str, threading.Lock] = {}

    # -- one frame at a time per job ---------------------------------------------------------------

    @contextlib.contextmanager
    def locked(self, job_id: str) -> Iterator[None]:
        with self._guard:
            local = self._locks.setdefault(job_id, threading.Lock())
        with local:
            if not self._postgres:
                yield
                return
            key = int.from_bytes(hashlib.blake2b(job_id.encode(), digest_size=8).digest(), "big", signed=True)
            with self.services.engine.connect() as conn:
                conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": key})
                conn.commit()  # the lock is the session's: no transaction stays open while the step runs
                try:
                    yield
                finally:
                    conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": key})
                    conn.commit()

    # -- the row -----------------------------------------------------------------------------------

    def get(self, job_id: str) -> SessionState:
        with self.services.read() as session:
            row = session.get(JointJobSession, job_id)
            if row is None:
                return SessionState(job_id)
            return SessionState(
                job_id,
                row.version,
                row.psi_state,
                row.training_state,
                row.live_state,
                row.last_request,
                row.last_reply,
            )

    def record(self, before: SessionState, **changes: Any) -> SessionState:
        """Record a step's result over ``before`` (the state the step started from)."""
        after = replace(before, version=before.version + 1, **changes)
        values = {
            "version": after.version,
            "psi_state": after.psi_state,
            "training_state": after.training_state,
            "live_state": after.live_state,
            "last_request": after.last_request,
            "last_reply": after.last_reply,
            "updated_at": utcnow(),
        }
        with self.services.tx() as session:
            if before.version == 0:
                if session.get(JointJobSession, before.job_id) is not None:
                    raise SessionConflict(f"job {before.job_id} was started elsewhere meanwhile")
                session.add(JointJobSession(job_id=before.job_id, **values))
            else:
                row = session.scalar(
                    select(JointJobSession).where(JointJobSession.job_id == before.job_id).with_for_update()
                )
                if row is None or row.version != before.version:
                    raise SessionConflict(f"job {before.job_id} moved on meanwhile")
                for name, value in values.items():
                    setattr(row, name, value)
        # Earlier states are of no further use: only the current ones (and the stored reply) are kept.
        self.store.prune(
            before.job_id, [after.psi_state, after.training_state, after.live_state, after.last_reply]
        )
        return after

    def end(self, job_id: str) -> None:
        """The job completed or failed: its saved states (its secrets) go."""
        with self.services.tx() as session:
            session.execute(delete(JointJobSession).where(JointJobSession.job_id == job_id))
        self.store.drop(job_id)
        with self._guard:
            self._locks.pop(job_id, None)

    # -- saved objects -----------------------------------------------------------------------------

    def load(self, job_id: str, ref: str | None) -> Any:
        return None if ref is None else self.store.load(job_id, ref)

    def inputs(self, state: SessionState) -> JobInputs:
        loaded = self.load(state.job_id, state.live_state)
        return loaded if isinstance(loaded, JobInputs) else JobInputs()


class TouchClock:
    """At most one progress timestamp per job every ``every`` seconds from this process."""

    def __init__(self, every: float) -> None:
        self.every = every
        self._last: dict[str, float] = {}

    def due(self, job_id: str) -> bool:
        now = time.monotonic()
        if now - self._last.get(job_id, 0.0) < self.every:
            return False
        self._last[job_id] = now
        return True
