"""The bank's half of KKRT16 PSI: start a job, align each hash bucket, finish.

The bank is the OPRF receiver: its identifiers leave this process only inside the correction matrix
``U = PRG(k0) xor PRG(k1) xor C(x)``, which is uniformly random to the platform (it holds one key of
each base OT, never both). See :mod:`fincredit.federation._psi_kkrt_platform` for the flow and the
README for what each side learns.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from fincredit.federation import _psi_kkrt as kkrt
from fincredit.federation import _psi_messages as psi
from fincredit.federation._psi_protocol import KKRT_PROTOCOL, alignment_id
from fincredit.federation._runtime import Channel
from fincredit.federation.errors import PartyError, PsiError

__all__ = ["BucketResult", "KkrtSession", "finish_kkrt", "group_buckets", "run_bucket", "start_kkrt"]

I64 = npt.NDArray[np.int64]
DEFAULT_BUCKET_ROWS = 2_000_000


@dataclass(frozen=True, slots=True)
class KkrtSession:
    """What both parties agreed at ``psi.start``; plain data, so it can be saved and sent to a worker."""

    job_id: str
    bank_nonce: str
    platform_nonce: str
    bank_size: int
    platform_size: int
    bucket_sizes: tuple[int, ...]

    @property
    def buckets(self) -> int:
        return len(self.bucket_sizes)

    @property
    def keys(self) -> kkrt.JobKeys:
        return kkrt.JobKeys.derive(
            KKRT_PROTOCOL, self.job_id, bytes.fromhex(self.bank_nonce), bytes.fromhex(self.platform_nonce)
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "job_id": self.job_id,
            "bank_nonce": self.bank_nonce,
            "platform_nonce": self.platform_nonce,
            "bank_size": self.bank_size,
            "platform_size": self.platform_size,
            "bucket_sizes": list(self.bucket_sizes),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> KkrtSession:
        return cls(
            job_id=str(data["job_id"]),
            bank_nonce=str(data["bank_nonce"]),
            platform_nonce=str(data["platform_nonce"]),
            bank_size=int(data["bank_size"]),
            platform_size=int(data["platform_size"]),
            bucket_sizes=tuple(int(x) for x in data["bucket_sizes"]),
        )


@dataclass(frozen=True, slots=True)
class BucketResult:
    """One bucket's matches in the bank's join order: its own item indices and the platform's positions."""

    bucket: int
    bank_items: I64
    platform_positions: I64


def bucket_count(n: int, bucket_rows: int) -> int:
    return max(1, -(-n // max(1, bucket_rows)))


def start_kkrt(
    channel: Channel,
    job_id: str,
    bank_size: int,
    buckets: int,
    *,
    scopes: Sequence[str] = (),
    nonce: str | None = None,
) -> KkrtSession:
    """``psi.start``; resending the same ``nonce`` resumes a job the platform still holds."""
    nonce = nonce or secrets.token_bytes(16).hex()
    start = psi.Start(KKRT_PROTOCOL, bank_size, list(scopes), buckets, nonce)
    started = psi.call(channel, job_id, start, psi.Started)
    sizes = started.bucket_sizes
    if (
        started.protocol != KKRT_PROTOCOL
        or started.nonce is None
        or sizes is None
        or len(sizes) != buckets
        or any(x < 0 for x in sizes)
        or sum(sizes) != started.platform_size
    ):
        raise PartyError("the platform's start reply does not fit the KKRT job", code="protocol")
    return KkrtSession(
        job_id=job_id,
        bank_nonce=nonce,
        platform_nonce=started.nonce,
        bank_size=bank_size,
        platform_size=started.platform_size,
        bucket_sizes=tuple(sizes),
    )


def group_buckets(session: KkrtSession, digests: npt.NDArray[np.uint8]) -> list[I64]:
    """Indices of the bank's items in each bucket (each ascending)."""
    which = kkrt.bucket_of(session.keys, digests, session.buckets)
    order = np.argsort(which, kind="stable")
    bounds = np.searchsorted(which[order], np.arange(session.buckets + 1))
    return [order[bounds[b] : bounds[b + 1]].astype(np.int64) for b in range(session.buckets)]


def run_bucket(
    channel: Channel, session: KkrtSession, bucket: int, digests: npt.NDArray[np.uint8]
) -> BucketResult:
    """Align one bucket: base OTs, the OPRF, matching, and ``psi.match`` in a fresh random join order."""
    job_id, keys = session.job_id, session.keys
    n_platform = session.bucket_sizes[bucket]
    empty = np.zeros(0, dtype=np.int64)
    bank_items, plat_pos = empty, empty
    if len(digests) and n_platform:
        receiver = kkrt.ReceiverBucket.build(keys, digests)
        sender = kkrt.OtSender()
        base = psi.call(channel, job_id, psi.Base(bucket, sender.point), psi.Base)
        k0, k1 = sender.keys(base.points)
        correction = receiver.correction(k0, k1, bucket)
        ask = psi.OprfAsk(bucket, receiver.bins, receiver.tweak, correction.tobytes())
        del correction
        reply = psi.call(channel, job_id, ask, psi.Oprf)
        del ask
        expected = kkrt.CUCKOO_HASHES * n_platform * kkrt.OUT_BYTES
        if len(reply.values) != expected:
            raise PartyError("psi.oprf reply has the wrong size", code="protocol")
        values = np.frombuffer(reply.values, dtype=np.uint8).reshape(
            kkrt.CUCKOO_HASHES, n_platform, kkrt.OUT_BYTES
        )
        bank_items, plat_pos = receiver.match(values)
        # Join order within the bucket: fresh randomness, so positions carry nothing.
        join = np.random.default_rng(secrets.randbits(128)).permutation(len(plat_pos))
        bank_items, plat_pos = bank_items[join], plat_pos[join]
    ack = psi.call(channel, job_id, psi.Match(bucket, plat_pos), psi.Matched)
    if ack.size != len(plat_pos):
        raise PartyError("the platform acknowledged a different bucket match", code="protocol")
    return BucketResult(bucket, bank_items, plat_pos)


def finish_kkrt(channel: Channel, session: KkrtSession, results: Sequence[BucketResult]) -> str:
    """``psi.finish`` once every bucket is matched; returns the alignment id both sides computed."""
    ordered = sorted(results, key=lambda r: r.bucket)
    if [r.bucket for r in ordered] != list(range(session.buckets)):
        raise PsiError("not every bucket has been aligned")
    offsets = np.cumsum([0, *session.bucket_sizes])
    positions = np.concatenate(
        [np.zeros(0, np.int64)] + [r.platform_positions + offsets[r.bucket] for r in ordered]
    )
    finished = psi.call(channel, session.job_id, psi.KkrtFinish(len(positions)), psi.Finished)
    expected = alignment_id(session.job_id, positions, KKRT_PROTOCOL)
    if finished.alignment_id != expected or finished.size != len(positions):
        raise PsiError("the platform's alignment does not match the bank's (different id or size)")
    return expected


def align_buckets(
    channel: Channel,
    session: KkrtSession,
    digests: npt.NDArray[np.uint8],
    *,
    workers: int = 1,
    on_bucket: Callable[[BucketResult], None] | None = None,
) -> tuple[I64, str]:
    """Align every bucket of an in-memory set (``workers`` buckets at a time) and finish.

    Returns the bank's item indices in join order and the alignment id."""
    groups = group_buckets(session, digests)

    def one(b: int) -> BucketResult:
        result = run_bucket(channel, session, b, digests[groups[b]])
        mapped = BucketResult(b, groups[b][result.bank_items], result.platform_positions)
        if on_bucket is not None:
            on_bucket(mapped)
        return mapped

    if workers <= 1 or session.buckets == 1:
        results = [one(b) for b in range(session.buckets)]
    else:
        with ThreadPoolExecutor(min(workers, session.buckets), thread_name_prefix="fincredit-psi") as pool:
            results = list(pool.map(one, range(session.buckets)))
    aligned_id = finish_kkrt(channel, session, results)
    rows = np.concatenate([np.zeros(0, np.int64)] + [r.bank_items for r in results])
    return rows, aligned_id
