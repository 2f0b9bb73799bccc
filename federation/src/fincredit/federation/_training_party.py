"""The platform's side of HE training jobs, as one frame handler the platform service mounts.

``PlatformTrainingParty(features_for)`` answers every ``lr.*`` and ``sb.*`` frame. A job is created by
its ``lr.open`` / ``sb.open`` frame; ``features_for(job_id, bank_id)`` must return the platform's
features for that job's aligned rows (row ``i`` = join index ``i`` of the PSI alignment of
``job_id``), which is where consent filtering and alignment have already happened. Jobs are keyed by
(bank, job), so one bank can never drive another bank's job.
"""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd

from fincredit.federation._protocols import BY_PREFIX
from fincredit.federation._training_protocol import PlatformJob
from fincredit.federation.errors import FederationError, PartyError
from fincredit.federation.joint_model import PlatformLogisticPart, PlatformTreePart
from fincredit.federation.wire import Frame

__all__ = ["PlatformTrainingParty"]

FeatureSource = Callable[[str, str], pd.DataFrame]


class PlatformTrainingParty:
    def __init__(self, features_for: FeatureSource) -> None:
        self._features_for = features_for
        self._jobs: dict[tuple[str, str], PlatformJob] = {}

    def handle(self, frame: Frame, bank_id: str = "") -> Frame:
        """A :data:`~fincredit.federation.PartyHandler`: register it for the ``lr.`` and ``sb.`` prefixes."""
        key = (bank_id, frame.job_id)
        prefix, _, step = frame.kind.partition(".")
        if step == "open" and prefix in BY_PREFIX:
            if key in self._jobs:
                raise FederationError(f"training job {frame.job_id!r} already exists")
            job = BY_PREFIX[prefix].platform_job(self._features_for(frame.job_id, bank_id), frame.job_id)
            reply = job.handle(frame)
            self._jobs[key] = job
            return reply
        existing = self._jobs.get(key)
        if existing is None:
            raise PartyError(f"no training job {frame.job_id!r} for this bank", code="unknown_job")
        return existing.handle(frame)

    def __call__(self, frame: Frame) -> Frame:
        """Single-bank form, for a :class:`~fincredit.federation.wire.LocalLink`."""
        return self.handle(frame, "")

    def model_part(self, job_id: str, bank_id: str = "") -> PlatformLogisticPart | PlatformTreePart:
        job = self._jobs.get((bank_id, job_id))
        if job is None:
            raise FederationError(f"no training job {job_id!r} for this bank")
        return job.model_part()

    def drop(self, job_id: str, bank_id: str = "") -> None:
        self._jobs.pop((bank_id, job_id), None)

    def export_job(self, job_id: str, bank_id: str = "") -> PlatformJob | None:
        """A job's whole state, for a store another process reads it back from (it pickles)."""
        return self._jobs.get((bank_id, job_id))

    def import_job(self, job_id: str, bank_id: str, job: PlatformJob) -> None:
        """Take over a job :meth:`export_job` gave, possibly in another process."""
        self._jobs[(bank_id, job_id)] = job
