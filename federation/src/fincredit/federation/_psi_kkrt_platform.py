"""The platform's half of KKRT16 PSI: per-job state and the answers to ``psi.base/oprf/match/finish``.

:class:`~fincredit.federation.PlatformPsiParty` owns the job table, the limits and the bank check, and
hands KKRT jobs to the functions here. The flow (the bank receives the OPRF; see the README):

1. ``psi.start`` (protocol ``kkrt16-psi/...``): bank size, scopes, the number of hash buckets and the
   bank's nonce. The platform takes the consenting subjects from its caller, hashes them under the
   per-job keys, splits them into the buckets, shuffles each bucket (CSPRNG) and answers its set size,
   the size of every bucket and its own nonce.
2. Per bucket, independently: ``psi.base`` (the bank's base-OT point -> the platform's 512 points, its
   fresh secret choice bits ``s`` stay here), ``psi.oprf`` (the bank's correction matrix ``U`` -> the
   OPRF values of the bucket's subjects under each cuckoo hash, in shuffled order), ``psi.match`` (the
   shuffled positions the bank matched, in the bank's join order).
3. ``psi.finish``: once every bucket is matched, the alignment is the buckets' matches in bucket order;
   the platform service ledgers it (``on_aligned``) before the bank is told.

One correction matrix per base OT: a second ``U`` under the same keys would show the platform the XOR of
two codewords of the bank's items, so the OT keys are dropped after ``psi.oprf`` (a retry of the same
``U`` gets the cached reply; anything else needs a fresh ``psi.base``).
"""

from __future__ import annotations

import hashlib
import secrets
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from fincredit.federation import _psi_kkrt as kkrt
from fincredit.federation import _psi_messages as psi
from fincredit.federation._psi_protocol import KKRT_PROTOCOL, Alignment, alignment_id
from fincredit.federation.errors import PartyError
from fincredit.federation.wire import Frame

__all__ = ["KKRT_KINDS", "KkrtJob", "kkrt_finish", "kkrt_handle", "kkrt_started", "new_kkrt_job"]

I64 = npt.NDArray[np.int64]
MAX_BUCKETS = 4096
# The per-bucket steps (psi.finish is the job's, not a bucket's).
KKRT_KINDS = frozenset({psi.Base.KIND, psi.OprfAsk.KIND, psi.Match.KIND})


@dataclass(slots=True, eq=False)
class _Bucket:
    members: I64  # shuffled position -> index into the job's de-duplicated subjects
    ot: kkrt.OtReceiver | None = None
    ot_point: bytes = b""
    cached: tuple[bytes, Frame] | None = None
    matched: I64 | None = None
    bins: int = 0  # cuckoo bins of the bank's last correction matrix for this bucket


@dataclass(slots=True, eq=False)
class KkrtJob:
    bank_id: str
    bank_size: int
    scopes: tuple[str, ...]
    bank_nonce: bytes
    platform_nonce: bytes
    keys: kkrt.JobKeys
    subjects: Sequence[str]  # as the source gave them
    source_rows: I64  # de-duplicated subject i is row source_rows[i] of the source
    digests: npt.NDArray[np.uint8]
    buckets: list[_Bucket]
    lock: threading.Lock = field(default_factory=threading.Lock)
    alignment: Alignment | None = None
    last_seen: float = 0.0

    @property
    def size(self) -> int:
        return len(self.source_rows)

    def status(self) -> dict[str, object]:
        done = sum(1 for b in self.buckets if b.matched is not None)
        return {
            "protocol": KKRT_PROTOCOL,
            "buckets": len(self.buckets),
            "buckets_matched": done,
        }


def new_kkrt_job(job_id: str, start: psi.Start, bank_id: str, subjects: Sequence[str]) -> KkrtJob:
    buckets, nonce = start.buckets, start.nonce
    if buckets is None or not 1 <= buckets <= MAX_BUCKETS:
        raise PartyError(f"a KKRT job has 1..{MAX_BUCKETS} buckets", code="protocol")
    if nonce is None or len(nonce) != 32:
        raise PartyError("a KKRT job carries the bank's 16-byte nonce in hex", code="protocol")
    try:
        bank_nonce = bytes.fromhex(nonce)
    except ValueError:
        raise PartyError("the bank's nonce is not hex", code="protocol") from None
    platform_nonce = secrets.token_bytes(16)
    # The keys depend on both nonces, drawn after both sets were fixed: neither party chose its set
    # knowing the hash functions.
    keys = kkrt.JobKeys.derive(KKRT_PROTOCOL, job_id, bank_nonce, platform_nonce)
    digests = kkrt.digest_ids(keys.ident, subjects)
    # De-duplicate on the canonical form (first occurrence wins): one subject, one position.
    source_rows = kkrt.first_occurrences(digests)
    digests = np.ascontiguousarray(digests[source_rows])
    which = kkrt.bucket_of(keys, digests, buckets)
    order = np.argsort(which, kind="stable")
    bounds = np.searchsorted(which[order], np.arange(buckets + 1))
    rng = np.random.default_rng(secrets.randbits(128))
    parts = []
    for b in range(buckets):
        members = order[bounds[b] : bounds[b + 1]].astype(np.int64)
        # Shuffled with the OS CSPRNG: positions the bank names must say nothing about subjects.
        rng.shuffle(members)
        parts.append(_Bucket(members=members))
    return KkrtJob(
        bank_id=bank_id,
        bank_size=start.bank_size,
        scopes=tuple(start.scopes),
        bank_nonce=bank_nonce,
        platform_nonce=platform_nonce,
        keys=keys,
        subjects=subjects,
        source_rows=source_rows,
        digests=digests,
        buckets=parts,
    )


def kkrt_started(job: KkrtJob, max_chunk: int) -> psi.Started:
    sizes = [len(b.members) for b in job.buckets]
    return psi.Started(KKRT_PROTOCOL, job.size, max_chunk, sizes, job.platform_nonce.hex())


def _bucket(job_id: str, index: int, job: KkrtJob) -> _Bucket:
    if not 0 <= index < len(job.buckets):
        raise PartyError(f"bucket must be 0..{len(job.buckets) - 1}", code="protocol")
    if job.alignment is not None:
        raise PartyError(f"PSI job {job_id!r} has finished aligning", code="conflict")
    return job.buckets[index]


def kkrt_handle(frame: Frame, job: KkrtJob) -> Frame:
    """Answer one of the per-bucket steps (:data:`KKRT_KINDS`)."""
    job_id = frame.job_id
    if frame.kind == psi.Base.KIND:
        return _base(job_id, psi.receive(frame, psi.Base), job).to_frame(job_id)
    if frame.kind == psi.OprfAsk.KIND:
        return _oprf(job_id, psi.receive(frame, psi.OprfAsk), job)
    if frame.kind == psi.Match.KIND:
        return _match(job_id, psi.receive(frame, psi.Match), job).to_frame(job_id)
    raise PartyError(f"unknown PSI frame kind {frame.kind!r}", code="protocol")


def _base(job_id: str, ask: psi.Base, job: KkrtJob) -> psi.Base:
    bucket = _bucket(job_id, ask.bucket, job)
    if len(ask.points) != 32:
        raise PartyError("psi.base carries the bank's 32-byte base OT point", code="protocol")
    with job.lock:
        if bucket.ot is not None and bucket.ot_point == ask.points:
            ot = bucket.ot  # a retried request: the same answer
        else:
            ot = kkrt.OtReceiver(ask.points)
            bucket.ot, bucket.ot_point, bucket.cached = ot, ask.points, None
    return psi.Base(ask.bucket, ot.reply)


def _oprf(job_id: str, ask: psi.OprfAsk, job: KkrtJob) -> Frame:
    """The reply as a frame: it is cached as sent, so a retried request gets the very same bytes."""
    index, bins, tweak = ask.bucket, ask.bins, ask.tweak
    bucket = _bucket(job_id, index, job)
    if bins % 8 or bins < 64 or not 0 <= tweak < 64:
        raise PartyError("psi.oprf bins or tweak out of range", code="limit")
    # Every bin is one OPRF input the bank may choose: all buckets together may not exceed the cuckoo
    # tables of the set the bank declared (1.27 bins per row, rounded up per bucket).
    allowed = int(kkrt.CUCKOO_LOAD * job.bank_size) + 80 * len(job.buckets)
    with job.lock:
        others = sum(b.bins for i, b in enumerate(job.buckets) if i != index)
    if others + bins > allowed:
        raise PartyError("psi.oprf asks for more bins than the declared bank set needs", code="limit")
    u = ask.correction
    if len(u) != kkrt.WIDTH * bins // 8:
        raise PartyError("psi.oprf correction matrix has the wrong size", code="protocol")
    digest = hashlib.sha256(u).digest()
    with job.lock:
        if bucket.cached is not None and bucket.cached[0] == digest:
            return bucket.cached[1]
        ot = bucket.ot
        bucket.bins = bins
        # One correction per base OT (see the module docstring): take the keys out before using them.
        bucket.ot, bucket.ot_point, bucket.cached = None, b"", None
    if ot is None:
        raise PartyError("psi.oprf needs a fresh psi.base for this bucket", code="protocol")
    correction = np.frombuffer(u, dtype=np.uint8).reshape(kkrt.WIDTH, bins // 8)
    values = kkrt.sender_values(job.keys, ot, correction, index, bins, tweak, job.digests[bucket.members])
    reply = psi.Oprf(index, values.tobytes()).to_frame(job_id)
    with job.lock:
        bucket.cached = (digest, reply)
    return reply


def _match(job_id: str, match: psi.Match, job: KkrtJob) -> psi.Matched:
    bucket = _bucket(job_id, match.bucket, job)
    positions = match.positions
    k = len(positions)
    if k > min(job.bank_size, len(bucket.members)):
        raise PartyError("psi.match names more subjects than the two sets allow", code="protocol")
    if k and (positions.max() >= len(bucket.members) or len(np.unique(positions)) != k):
        raise PartyError("psi.match positions are out of range or repeated", code="protocol")
    with job.lock:
        # A bucket may be matched again (the bank lost the acknowledgement and redid it); the last wins.
        bucket.matched = positions
        bucket.cached = None
    return psi.Matched(match.bucket, k)


def kkrt_finish(
    job_id: str, finish: psi.KkrtFinish, job: KkrtJob, on_aligned: Callable[[str, Alignment], None] | None
) -> psi.Finished:
    size = finish.size
    if job.alignment is not None:
        if size != job.alignment.size:
            raise PartyError(f"PSI job {job_id!r} already finished differently", code="conflict")
        return psi.Finished(job.alignment.size, job.alignment.alignment_id)
    missing = [i for i, b in enumerate(job.buckets) if b.matched is None]
    if missing:
        raise PartyError(f"{len(missing)} buckets are not matched yet (first: {missing[0]})", code="protocol")
    offsets = np.cumsum([0] + [len(b.members) for b in job.buckets])
    positions = np.concatenate(
        [np.zeros(0, np.int64)]
        + [b.matched + offsets[i] for i, b in enumerate(job.buckets) if b.matched is not None]
    )
    picked = np.concatenate(
        [np.zeros(0, np.int64)] + [b.members[b.matched] for b in job.buckets if b.matched is not None]
    )
    if size != len(positions):
        raise PartyError("psi.finish size differs from the matched buckets", code="protocol")
    rows = job.source_rows[picked]
    alignment = Alignment(
        job_id=job_id,
        alignment_id=alignment_id(job_id, positions, KKRT_PROTOCOL),
        rows=rows,
        ids=[job.subjects[r] for r in rows.tolist()],
        own_size=job.size,
        other_size=job.bank_size,
    )
    if on_aligned is not None:
        # The platform service ledgers the joint-modelling use per aligned subject here; if that fails
        # the alignment does not exist, and the bank gets an error instead of a join index.
        on_aligned(job.bank_id, alignment)
    job.alignment = alignment
    job.digests = np.zeros((0, 16), dtype=np.uint8)  # no longer needed; free the memory
    for b in job.buckets:
        b.ot, b.cached = None, None
    return psi.Finished(alignment.size, alignment.alignment_id)
