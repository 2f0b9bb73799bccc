"""The bank's side of the PSI: ``align(link, job_id, ids, protocol="kkrt"|"ecdh") -> Alignment``.

KKRT16 (OT-extension OPRF, the default) lives in :mod:`fincredit.federation._psi_kkrt_bank`; ECDH-PSI,
the fallback a bank may choose, is here. See :mod:`fincredit.federation._psi_protocol` for the ECDH
message flow and the README for exactly what each party learns under either protocol. Under ECDH the
bank's identifiers leave this function only as ``a·H(job, id)`` under a secret scalar that never leaves
this process.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from fincredit.federation import _psi_curve as curve
from fincredit.federation import _psi_kkrt as kkrt
from fincredit.federation import _psi_messages as psi
from fincredit.federation._psi_kkrt_bank import (
    DEFAULT_BUCKET_ROWS,
    BucketResult,
    align_buckets,
    bucket_count,
    start_kkrt,
)
from fincredit.federation._psi_protocol import (
    DEFAULT_CHUNK,
    PROTOCOL,
    Alignment,
    PsiProtocol,
    alignment_id,
    canonical_ids,
    job_domain,
)
from fincredit.federation._runtime import Channel
from fincredit.federation.errors import PartyError, PsiError, PsiInputError
from fincredit.federation.wire import Link

__all__ = ["align", "as_channel", "checked_ids"]


def as_channel(link: Link | Channel, *, timeout: float = 120.0, retries: int = 2) -> Channel:
    """Any link, a ``Channel`` or a ``PlatformConnection`` as the ``Channel`` to call through."""
    if isinstance(link, Channel):
        return link
    inner = getattr(link, "channel", None)
    if isinstance(inner, Channel):
        return inner
    return Channel(link, timeout=timeout, retries=retries)


def checked_ids(ids: Sequence[Any]) -> list[str]:
    bad = [i for i, v in enumerate(ids) if not isinstance(v, str) or not v.strip()]
    if bad:
        rows = ", ".join(str(i) for i in bad[:5])
        raise PsiInputError(f"{len(bad)} identifiers are missing or not strings (rows {rows}...)")
    canon = canonical_ids(ids)
    if len(set(canon)) != len(canon):
        seen: dict[str, int] = {}
        dup_rows = []
        for row, v in enumerate(canon):
            if v in seen:
                dup_rows.append(f"{seen[v]}/{row}")
            else:
                seen[v] = row
        raise PsiInputError(
            f"{len(dup_rows)} identifiers appear more than once (rows {', '.join(dup_rows[:5])}); "
            "de-duplicate the applicants before aligning"
        )
    return canon


def checked_blocks(ids: Sequence[Any]) -> npt.NDArray[np.uint8]:
    """The ids encoded for KKRT (:func:`~fincredit.federation._psi_kkrt.encode_ids`), refused like
    :func:`checked_ids` refuses them; the exact check only runs when the vectorised one finds a problem."""
    try:
        blocks = kkrt.encode_ids(ids)
    except (TypeError, AttributeError):
        checked_ids(ids)  # raises, naming the rows that are not strings
        raise
    # Duplicates are looked for among digests under a throwaway key (ids share long common prefixes).
    digests = kkrt.digest_blocks(secrets.token_bytes(16), blocks)
    if (blocks[:, -1] == 0).any() or len(kkrt.first_occurrences(digests)) != len(blocks):
        checked_ids(ids)
    return blocks


class Bars:
    """rich progress bars on the bank side; a no-op when disabled."""

    def __init__(self, enabled: bool | None) -> None:
        self._bar: Any = None
        if enabled is None:
            from rich.console import Console

            console = Console(stderr=True)
            enabled = console.is_terminal or console.is_jupyter
        if enabled:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self._bar = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
            )

    @contextlib.contextmanager
    def running(self) -> Iterator[Bars]:
        if self._bar is None:
            yield self
            return
        with self._bar:
            yield self

    def task(self, description: str, total: int) -> Any:
        return None if self._bar is None else self._bar.add_task(description, total=total)

    def advance(self, task: Any, n: int) -> None:
        if self._bar is not None:
            self._bar.advance(task, n)


def align(
    link: Link | Channel,
    job_id: str,
    ids: Sequence[str],
    *,
    protocol: PsiProtocol = "kkrt",
    scopes: Sequence[str] = (),
    chunk: int = DEFAULT_CHUNK,
    timeout: float = 120.0,
    retries: int = 2,
    workers: int | None = None,
    progress: bool | None = None,
    bucket_rows: int = DEFAULT_BUCKET_ROWS,
) -> Alignment:
    """Align the bank's ``ids`` with the platform's consenting subjects by private set intersection.

    ``protocol="kkrt"`` (default) runs KKRT16 OT-extension PSI over hash buckets of ``bucket_rows``
    bank rows (``workers`` buckets at a time); ``protocol="ecdh"`` runs ECDH-PSI over X25519 (``chunk``
    points per frame, ``workers`` X25519 processes). Either way only the intersection is learned.

    Returns the bank's half: ``rows[j]`` is the position in ``ids`` of join index ``j``. Identifiers are
    compared stripped and upper-cased; duplicates are refused (:class:`PsiInputError`). Every call has a
    ``timeout`` (seconds) and idempotent steps are retried; if the platform refuses, dies or stops
    answering, this raises :class:`PartyError` (after telling the platform to drop the job, if it can).
    ``progress`` shows rich progress bars; by default only on a terminal or in a notebook. For sets
    read from Parquet, with buckets as Ray tasks and resumable jobs, see :func:`align_parquet`.
    """
    raw = list(ids)
    if chunk < 1:
        raise ValueError("chunk must be positive")
    if protocol not in ("kkrt", "ecdh"):
        raise ValueError(f"protocol must be 'kkrt' or 'ecdh', not {protocol!r}")
    if protocol == "kkrt":
        blocks = checked_blocks(raw)
        channel = as_channel(link, timeout=timeout, retries=retries)
        return _align_kkrt(channel, job_id, raw, blocks, scopes, bucket_rows, workers, progress)
    canon = checked_ids(raw)
    channel = as_channel(link, timeout=timeout, retries=retries)
    n = len(canon)
    secret = curve.new_secret()
    domain = job_domain(job_id)
    rng = np.random.default_rng(secrets.randbits(128))
    send_order = rng.permutation(n).astype(np.int64)

    try:
        started = psi.call(channel, job_id, psi.Start(PROTOCOL, n, list(scopes)), psi.Started)
        platform_size = started.platform_size
        chunk = max(1, min(chunk, started.max_chunk))
        bars = Bars(progress)
        with bars.running():
            table = _reblind_own(channel, job_id, canon, send_order, secret, domain, chunk, workers, bars)
            matches = _match_platform(channel, job_id, platform_size, table, secret, chunk, workers, bars)
        # Join order: a fresh random order, so neither side can read anything into positions.
        plat_pos = np.fromiter((m[0] for m in matches), dtype=np.int64, count=len(matches))
        sent_pos = np.fromiter((m[1] for m in matches), dtype=np.int64, count=len(matches))
        join = rng.permutation(len(matches))
        plat_pos, sent_pos = plat_pos[join], sent_pos[join]
        values = b"".join(matches[int(j)][2] for j in join)
        finished = psi.call(channel, job_id, psi.Finish(plat_pos, values), psi.Finished)
        expected_id = alignment_id(job_id, plat_pos)
        if finished.alignment_id != expected_id or finished.size != len(matches):
            raise PsiError("the platform's alignment does not match the bank's (different id or size)")
    except BaseException:
        with contextlib.suppress(Exception):
            channel.call(psi.Abort().to_frame(job_id), timeout=min(5.0, channel.timeout))
        raise
    rows = send_order[sent_pos]
    return Alignment(
        job_id=job_id,
        alignment_id=expected_id,
        rows=rows,
        ids=[raw[int(r)] for r in rows],
        own_size=n,
        other_size=platform_size,
    )


def _reblind_own(
    channel: Channel,
    job_id: str,
    canon: list[str],
    send_order: np.ndarray,
    secret: bytes,
    domain: bytes,
    chunk: int,
    workers: int | None,
    bars: Bars,
) -> dict[bytes, int]:
    """Send ``a·H(b)`` in shuffled order; map each returned ``p·a·H(b)`` to its sending position."""
    n = len(canon)
    task = bars.task("bank ids: blind, send, re-blinded", n)
    table: dict[bytes, int] = {}
    for offset in range(0, n, chunk):
        part = [canon[int(r)] for r in send_order[offset : offset + chunk]]
        blinded = curve.blind_ids(secret, domain, part, workers=workers)
        reply = psi.call(channel, job_id, psi.Reblind(offset, blinded), psi.Reblind)
        if len(reply.points) != len(blinded):
            raise PartyError("platform returned a re-blinded chunk of the wrong size", code="protocol")
        table.update(zip(curve.split_points(reply.points), range(offset, offset + len(part)), strict=True))
        bars.advance(task, len(part))
    if len(table) != n:
        raise PsiError("two bank identifiers blinded to the same point; refusing an ambiguous alignment")
    return table


def _match_platform(
    channel: Channel,
    job_id: str,
    platform_size: int,
    table: dict[bytes, int],
    secret: bytes,
    chunk: int,
    workers: int | None,
    bars: Bars,
) -> list[tuple[int, int, bytes]]:
    """Fetch ``p·H(x)``, compute ``a·p·H(x)``, and keep (platform position, sending position, value)."""
    task = bars.task("platform points: fetch, blind, match", platform_size)
    matches: list[tuple[int, int, bytes]] = []
    get = table.get
    for offset in range(0, platform_size, chunk):
        count = min(chunk, platform_size - offset)
        reply = psi.call(channel, job_id, psi.PointsAsk(offset, count), psi.Points)
        if len(reply.points) != count * curve.POINT_BYTES:
            raise PartyError("platform returned a chunk of points of the wrong size", code="protocol")
        doubled = curve.split_points(curve.blind_points(secret, reply.points, workers=workers))
        for j, value in enumerate(doubled):
            pos = get(value)
            if pos is not None:
                matches.append((offset + j, pos, value))
        bars.advance(task, count)
    return matches


def _align_kkrt(
    channel: Channel,
    job_id: str,
    raw: list[str],
    blocks: npt.NDArray[np.uint8],
    scopes: Sequence[str],
    bucket_rows: int,
    workers: int | None,
    progress: bool | None,
) -> Alignment:
    n = len(blocks)
    try:
        session = start_kkrt(channel, job_id, n, bucket_count(n, bucket_rows), scopes=scopes)
        digests = kkrt.digest_blocks(session.keys.ident, blocks)
        bars = Bars(progress)
        with bars.running():
            task = bars.task("PSI buckets aligned", session.buckets)

            def advance(_: BucketResult) -> None:
                bars.advance(task, 1)

            rows, aligned_id = align_buckets(
                channel, session, digests, workers=workers or 1, on_bucket=advance
            )
    except BaseException:
        with contextlib.suppress(Exception):
            channel.call(psi.Abort().to_frame(job_id), timeout=min(5.0, channel.timeout))
        raise
    return Alignment(
        job_id=job_id,
        alignment_id=aligned_id,
        rows=rows,
        ids=[raw[r] for r in rows.tolist()],
        own_size=n,
        other_size=session.platform_size,
    )
