"""The platform's half of the PSI (KKRT16 by default, ECDH on request): a frame handler, no web framework.

The platform service mounts :meth:`PlatformPsiParty.handle` (through a ``FrameRouter``) behind
``POST /federation/v1/frames``; the bank id comes from the bearer token, never from the frame. The
secrets of a job live in this object's memory; a platform service that runs several instances saves
them between frames (``export_job`` / ``import_job``, ``fincredit.federation.party``) in a store only
it reads, and deletes them when the job ends. Without that, a restarted platform forgets its jobs, and
the bank's next call gets ``unknown_job`` and fails cleanly (a new alignment starts from scratch).
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from fincredit.federation import _psi_curve as curve
from fincredit.federation import _psi_messages as psi
from fincredit.federation._psi_kkrt_platform import (
    KKRT_KINDS,
    KkrtJob,
    kkrt_finish,
    kkrt_handle,
    kkrt_started,
    new_kkrt_job,
)
from fincredit.federation._psi_protocol import (
    KKRT_PROTOCOL,
    PROTOCOL,
    Alignment,
    alignment_id,
    canonical_ids,
    job_domain,
)
from fincredit.federation.errors import PartyError, PsiError
from fincredit.federation.wire import Frame

__all__ = ["PlatformPsiParty", "PsiRequest", "SubjectSource"]


@dataclass(frozen=True, slots=True)
class PsiRequest:
    """What the platform service needs to pick the subjects for an alignment."""

    bank_id: str
    job_id: str
    scopes: tuple[str, ...]
    bank_size: int


# Returns the subject ids holding an ACTIVE joint-modelling consent for request.bank_id covering
# request.scopes. The platform service filters and ledgers there; the PSI never sees anyone else.
SubjectSource = Callable[[PsiRequest], Sequence[str]]


@dataclass(slots=True, eq=False)
class _Job:
    bank_id: str
    secret: bytes
    subjects: list[str]  # as the source gave them, de-duplicated
    source_rows: np.ndarray  # subjects[i] is row source_rows[i] of the source's sequence
    order: np.ndarray  # shuffled position -> index into subjects
    shuffled: list[str]  # canonical ids in shuffled order
    bank_size: int
    scopes: tuple[str, ...]
    reblinded: set[bytes] = field(default_factory=set)
    reblind_offsets: set[int] = field(default_factory=set)
    reblind_count: int = 0
    alignment: Alignment | None = None
    last_seen: float = 0.0


class PlatformPsiParty:
    """Answers ``psi.*`` frames for many concurrent jobs. Thread-safe; one instance per platform process.

    ``subjects`` picks the consenting subjects for a request (see :data:`SubjectSource`);
    ``on_aligned(bank_id, alignment)`` runs once per finished alignment, before the bank is told, so
    the platform service can write the per-subject ledger entries and persist the job's status.
    Memory: a job holds its subjects and, until it finishes, the bank's doubly blinded points (about
    100 bytes per bank row).
    """

    def __init__(
        self,
        subjects: SubjectSource,
        *,
        workers: int | None = None,
        max_set_size: int = 5_000_000,
        max_chunk: int = 200_000,
        job_ttl: float = 3600.0,
        max_jobs_per_bank: int = 4,
        clock: Callable[[], float] = time.monotonic,
        on_aligned: Callable[[str, Alignment], None] | None = None,
    ) -> None:
        self._source = subjects
        self._on_aligned = on_aligned
        self._workers = workers
        self.max_set_size = max_set_size
        self.max_chunk = max_chunk
        self.job_ttl = job_ttl
        self.max_jobs_per_bank = max_jobs_per_bank
        self._clock = clock
        self._jobs: dict[str, _Job | KkrtJob] = {}
        self._lock = threading.Lock()

    # -- the frame handler -------------------------------------------------------------------------

    def handle(self, frame: Frame, bank_id: str) -> Frame:
        job_id = frame.job_id
        if frame.kind == psi.Start.KIND:
            return self._start(psi.receive(frame, psi.Start), job_id, bank_id).to_frame(job_id)
        if frame.kind == psi.Abort.KIND:
            with self._lock:
                job = self._jobs.get(job_id)
                if job is not None and job.bank_id == bank_id:
                    del self._jobs[job_id]
            return psi.Abort().to_frame(job_id)
        job = self._job(job_id, bank_id)
        if isinstance(job, KkrtJob):
            if frame.kind == psi.KkrtFinish.KIND:
                finished = kkrt_finish(job_id, psi.receive(frame, psi.KkrtFinish), job, self._on_aligned)
                return finished.to_frame(job_id)
            if frame.kind in KKRT_KINDS:
                return kkrt_handle(frame, job)
            raise PartyError(f"{frame.kind!r} is not a step of {KKRT_PROTOCOL}", code="protocol")
        if frame.kind == psi.Reblind.KIND:
            return self._reblind(psi.receive(frame, psi.Reblind), job).to_frame(job_id)
        if frame.kind == psi.PointsAsk.KIND:
            return self._points(job_id, psi.receive(frame, psi.PointsAsk), job).to_frame(job_id)
        if frame.kind == psi.Finish.KIND:
            return self._finish(job_id, psi.receive(frame, psi.Finish), job).to_frame(job_id)
        raise PartyError(f"unknown PSI frame kind {frame.kind!r}", code="protocol")

    def alignment(self, job_id: str, *, bank_id: str) -> Alignment:
        """The platform's half of a finished alignment: its own subjects, in join order."""
        job = self._job(job_id, bank_id)
        if job.alignment is None:
            raise PsiError(f"PSI job {job_id!r} has not finished aligning")
        return job.alignment

    def status(self, job_id: str, *, bank_id: str) -> dict[str, object]:
        """What the platform service may show about a job: sizes and progress, no identifiers."""
        job = self._job(job_id, bank_id)
        common: dict[str, object] = {
            "job_id": job_id,
            "state": "aligned" if job.alignment is not None else "aligning",
            "platform_size": job.size if isinstance(job, KkrtJob) else len(job.subjects),
            "bank_size": job.bank_size,
            "aligned": None if job.alignment is None else job.alignment.size,
            "alignment_id": None if job.alignment is None else job.alignment.alignment_id,
        }
        if isinstance(job, KkrtJob):
            return common | job.status()
        return common | {"protocol": PROTOCOL, "reblinded": job.reblind_count}

    def forget(self, job_id: str) -> None:
        with self._lock:
            self._jobs.pop(job_id, None)

    def export_job(self, job_id: str) -> _Job | KkrtJob | None:
        """A job's whole state (secrets included), for a store another process reads it back from."""
        with self._lock:
            return self._jobs.get(job_id)

    def import_job(self, job_id: str, job: object) -> None:
        """Take over a job :meth:`export_job` gave (possibly in another process): its next frame
        continues where the exporter's last one ended."""
        if not isinstance(job, _Job | KkrtJob):
            raise TypeError(f"not a PSI job state: {type(job).__name__}")
        job.last_seen = self._clock()  # another process's clock means nothing here
        with self._lock:
            self._jobs[job_id] = job

    # -- steps -------------------------------------------------------------------------------------

    def _job(self, job_id: str, bank_id: str) -> _Job | KkrtJob:
        with self._lock:
            self._expire()
            job = self._jobs.get(job_id)
            if job is None:
                raise PartyError(
                    f"no PSI job {job_id!r} on the platform (expired or restarted)", code="unknown_job"
                )
            if job.bank_id != bank_id:
                # Same answer as for a missing job: do not confirm another bank's job exists.
                raise PartyError(
                    f"no PSI job {job_id!r} on the platform (expired or restarted)", code="unknown_job"
                )
            job.last_seen = self._clock()
            return job

    def _expire(self) -> None:
        now = self._clock()
        for job_id in [j for j, job in self._jobs.items() if now - job.last_seen > self.job_ttl]:
            del self._jobs[job_id]

    def _start(self, start: psi.Start, job_id: str, bank_id: str) -> psi.Started:
        protocol = start.protocol
        if protocol not in (KKRT_PROTOCOL, PROTOCOL):
            raise PartyError(
                f"PSI protocol {protocol!r} is neither {KKRT_PROTOCOL!r} nor {PROTOCOL!r}", code="protocol"
            )
        if not job_id or len(job_id) > 128:
            raise PartyError("a PSI job id of 1-128 characters is required", code="protocol")
        bank_size, scopes = start.bank_size, tuple(start.scopes)
        if not 0 <= bank_size <= self.max_set_size:
            raise PartyError(f"bank set size must be 0..{self.max_set_size}", code="limit")
        with self._lock:
            self._expire()
            existing = self._jobs.get(job_id)
            if existing is not None:
                if existing.bank_id != bank_id:
                    raise PartyError(f"PSI job id {job_id!r} is taken", code="conflict")
                same_nonce = (
                    existing.bank_nonce.hex() == start.nonce
                    if isinstance(existing, KkrtJob)
                    else protocol == PROTOCOL
                )
                if existing.bank_size != bank_size or existing.scopes != scopes or not same_nonce:
                    raise PartyError(f"PSI job {job_id!r} already started differently", code="conflict")
                # A retried start (the first reply was lost, or the bank resumes the job after a
                # dropped connection): answer the same, keep the same secrets and keys.
                existing.last_seen = self._clock()
                return self._started(existing)
            if sum(1 for j in self._jobs.values() if j.bank_id == bank_id) >= self.max_jobs_per_bank:
                raise PartyError(f"bank has {self.max_jobs_per_bank} PSI jobs open already", code="limit")
        request = PsiRequest(bank_id=bank_id, job_id=job_id, scopes=scopes, bank_size=bank_size)
        if protocol == KKRT_PROTOCOL:
            subjects_seq = self._source(request)
            if len(subjects_seq) > self.max_set_size:
                raise PartyError(f"platform subject set exceeds {self.max_set_size}", code="limit")
            kjob = new_kkrt_job(job_id, start, bank_id, subjects_seq)
            kjob.last_seen = self._clock()
            return self._register(job_id, kjob)
        first: dict[str, int] = {}
        for row, subject in enumerate(self._source(request)):
            first.setdefault(subject, row)
        subjects = list(first)
        if len(subjects) > self.max_set_size:
            raise PartyError(f"platform subject set exceeds {self.max_set_size}", code="limit")
        canon = canonical_ids(subjects)
        order = np.arange(len(subjects), dtype=np.int64)
        # Shuffle with the OS CSPRNG: positions the bank later names must say nothing about subjects.
        rng = np.random.default_rng(secrets.randbits(128))
        rng.shuffle(order)
        job = _Job(
            bank_id=bank_id,
            secret=curve.new_secret(),
            subjects=subjects,
            source_rows=np.fromiter(first.values(), dtype=np.int64, count=len(first)),
            order=order,
            shuffled=[canon[i] for i in order],
            bank_size=bank_size,
            scopes=scopes,
            last_seen=self._clock(),
        )
        return self._register(job_id, job)

    def _register(self, job_id: str, job: _Job | KkrtJob) -> psi.Started:
        with self._lock:
            if job_id in self._jobs:
                raise PartyError(f"PSI job {job_id!r} started twice concurrently", code="conflict")
            self._jobs[job_id] = job
        return self._started(job)

    def _started(self, job: _Job | KkrtJob) -> psi.Started:
        if isinstance(job, KkrtJob):
            return kkrt_started(job, self.max_chunk)
        return psi.Started(PROTOCOL, len(job.subjects), self.max_chunk)

    def _reblind(self, ask: psi.Reblind, job: _Job) -> psi.Reblind:
        offset, blob = ask.offset, ask.points
        n = len(blob) // curve.POINT_BYTES
        if n > self.max_chunk:
            raise PartyError(f"{n} points in one frame exceeds the limit of {self.max_chunk}", code="limit")
        if offset < 0 or offset + n > job.bank_size:
            raise PartyError("psi.reblind points fall outside the declared bank set", code="protocol")
        with self._lock:
            if offset not in job.reblind_offsets and job.reblind_count + n > job.bank_size:
                raise PartyError("psi.reblind chunks exceed the declared bank set", code="protocol")
        out = curve.blind_points(job.secret, blob, workers=self._workers)
        with self._lock:
            if offset not in job.reblind_offsets:
                job.reblind_offsets.add(offset)
                job.reblind_count += n
                job.reblinded.update(curve.split_points(out))
        return psi.Reblind(offset, out)

    def _points(self, job_id: str, ask: psi.PointsAsk, job: _Job) -> psi.Points:
        offset, count = ask.offset, ask.count
        if count > self.max_chunk:
            raise PartyError(
                f"{count} points in one frame exceeds the limit of {self.max_chunk}", code="limit"
            )
        if offset < 0 or count < 0 or offset > len(job.shuffled):
            raise PartyError("psi.points range is outside the platform set", code="protocol")
        ids = job.shuffled[offset : offset + count]
        out = curve.blind_ids(job.secret, job_domain(job_id), ids, workers=self._workers)
        return psi.Points(offset, out)

    def _finish(self, job_id: str, finish: psi.Finish, job: _Job) -> psi.Finished:
        positions = finish.positions
        points = curve.split_points(finish.values)
        k = len(positions)
        if len(points) != k or k > min(job.bank_size, len(job.shuffled)):
            raise PartyError("psi.finish sizes do not fit the two sets", code="protocol")
        if k and (positions.max() >= len(job.shuffled) or len(np.unique(positions)) != k):
            raise PartyError("psi.finish positions are out of range or repeated", code="protocol")
        if job.alignment is not None:
            if alignment_id(job_id, positions) != job.alignment.alignment_id:
                raise PartyError(f"PSI job {job_id!r} already finished differently", code="conflict")
            return psi.Finished(job.alignment.size, job.alignment.alignment_id)
        # Consistency check, not a proof: every claimed match must be a distinct value this party computed
        # from the bank's blinded ids. It catches a bank bug or a wrong secret; against a bank that lies
        # about which position goes with which value it proves nothing (the usual semi-honest model of
        # ECDH-PSI in FATE and SecretFlow: a malicious bank could claim up to |bank set| subjects).
        if len(set(points)) != k:
            raise PartyError("psi.finish repeats a doubly blinded value", code="protocol")
        unmatched = sum(1 for p in points if p not in job.reblinded)
        if unmatched:
            raise PartyError(
                f"{unmatched} claimed matches are not in the bank's blinded set", code="protocol"
            )
        picked = job.order[positions]
        alignment = Alignment(
            job_id=job_id,
            alignment_id=alignment_id(job_id, positions),
            rows=job.source_rows[picked],
            ids=[job.subjects[int(i)] for i in picked],
            own_size=len(job.subjects),
            other_size=job.bank_size,
        )
        if self._on_aligned is not None:
            # The platform service ledgers the joint-modelling use per aligned subject here; if that
            # fails the alignment does not exist, and the bank gets an error instead of a join index.
            self._on_aligned(job.bank_id, alignment)
        job.alignment = alignment
        job.reblinded = set()  # no longer needed; free the memory
        return psi.Finished(alignment.size, alignment.alignment_id)
