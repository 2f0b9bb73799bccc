"""Bucketed, resumable KKRT PSI for sets that do not fit in memory: ``align_parquet``.

The bank's identifiers are streamed from Parquet in batches, hashed under the job's keys and spilled to
``workdir`` by hash bucket; each bucket is then an independent KKRT PSI (its own base OTs, cuckoo table
and matching), run as a Ray task (local Ray by default, a cluster with ``FINCREDIT_RAY_ADDRESS``) or in
threads, so memory is bounded by one bucket per worker whatever the set size. Every finished bucket is
saved before the next step, so a job whose connection dropped resumes where it stopped: the platform
keeps the job (and its keys) while the bank is away, and the bank redoes only unfinished buckets.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.parquet as pq

from fincredit.federation import _psi_kkrt as kkrt
from fincredit.federation import _psi_messages as psi
from fincredit.federation._psi_bank import Bars, as_channel
from fincredit.federation._psi_kkrt_bank import (
    BucketResult,
    KkrtSession,
    bucket_count,
    finish_kkrt,
    run_bucket,
    start_kkrt,
)
from fincredit.federation._psi_protocol import Alignment
from fincredit.federation._runtime import Channel
from fincredit.federation.errors import PsiInputError
from fincredit.federation.wire import Link

__all__ = ["PlatformLinkSpec", "align_parquet"]

I64 = npt.NDArray[np.int64]
# How a bucket worker reaches the platform. It is called once per bucket, in the worker; under Ray it
# is pickled to the worker, so it must not hold a live connection (see PlatformLinkSpec).
LinkFactory = Callable[[], Link | Channel]


@dataclass(frozen=True, slots=True)
class PlatformLinkSpec:
    """A picklable recipe for the bank's HTTPS connection to the platform, for bucket workers.

    The token travels to the bank's own Ray workers inside this object; it never goes to the platform
    except as the bearer credential of each request.
    """

    base_url: str
    token: str
    verify: bool | str = True
    timeout: float = 600.0
    retries: int = 2

    def __call__(self) -> Link | Channel:
        from fincredit.federation._http_link import PlatformConnection

        return PlatformConnection(
            self.base_url, self.token, timeout=self.timeout, retries=self.retries, verify=self.verify
        ).channel

    def __repr__(self) -> str:
        return f"PlatformLinkSpec({self.base_url!r}, token=***)"


def _state_dir(workdir: str | Path, job_id: str) -> Path:
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in job_id)
    return Path(workdir) / "psi" / safe


def _bucket_file(state: Path, bucket: int) -> Path:
    return state / "buckets" / f"{bucket:05d}.npy"


def _done_file(state: Path, bucket: int) -> Path:
    return state / "done" / f"{bucket:05d}.npz"


def _spill(state: Path, session: KkrtSession, path: Path, id_column: str, batch_rows: int) -> None:
    """Stream the id column, hash it, and write every bucket's (digest, row) pairs to one file."""
    keys = session.keys
    parts_dir = state / "parts"
    shutil.rmtree(parts_dir, ignore_errors=True)
    parts_dir.mkdir(parents=True)
    (state / "buckets").mkdir(exist_ok=True)
    offset = 0
    parquet = pq.ParquetFile(path)
    for batch_no, batch in enumerate(parquet.iter_batches(batch_size=batch_rows, columns=[id_column])):
        column = batch.column(0)
        if column.null_count:
            first = offset + int(np.flatnonzero(column.is_null().to_numpy(zero_copy_only=False))[0])
            raise PsiInputError(f"{column.null_count} identifiers are missing (first at row {first})")
        if not pa.types.is_string(column.type) and not pa.types.is_large_string(column.type):
            raise PsiInputError(f"column {id_column!r} holds {column.type}, not strings")
        blocks = kkrt.encode_ids(column.to_pylist())
        empty = np.flatnonzero(blocks[:, -1] == 0)
        if empty.size:
            raise PsiInputError(f"{empty.size} identifiers are empty (first at row {offset + int(empty[0])})")
        digests = kkrt.digest_blocks(keys.ident, blocks)
        which = kkrt.bucket_of(keys, digests, session.buckets)
        rows = np.arange(offset, offset + len(blocks), dtype="<i8")
        for b in np.unique(which).tolist():
            sel = which == b
            packed = np.concatenate([digests[sel], rows[sel].view(np.uint8).reshape(-1, 8)], axis=1)
            np.save(parts_dir / f"{b:05d}-{batch_no:06d}.npy", packed)
        offset += len(blocks)
    for b in range(session.buckets):
        parts = sorted(parts_dir.glob(f"{b:05d}-*.npy"))
        packed = np.concatenate([np.load(p) for p in parts]) if parts else np.zeros((0, 24), dtype=np.uint8)
        # Equal ids land in the same bucket, so duplicates are found bucket by bucket.
        keep = kkrt.first_occurrences(packed[:, :16])
        if len(keep) != len(packed):
            later = np.ones(len(packed), dtype=bool)
            later[keep] = False
            dup_rows = np.sort(np.ascontiguousarray(packed[later, 16:]).view("<i8").ravel())
            raise PsiInputError(
                f"{len(dup_rows)} identifiers appear more than once (rows {', '.join(map(str, dup_rows[:5]))}"
                "...); de-duplicate the applicants before aligning"
            )
        np.save(_bucket_file(state, b), packed)
        for p in parts:
            p.unlink()
    parts_dir.rmdir()


def _bucket_task(connect: LinkFactory, session: dict[str, Any], bucket: int, state: str) -> int:
    """One bucket's PSI in a worker: load its spill file, align, save the result. Returns the matches."""
    sess = KkrtSession.from_dict(session)
    packed = np.load(_bucket_file(Path(state), bucket))
    digests = np.ascontiguousarray(packed[:, :16])
    rows = np.ascontiguousarray(packed[:, 16:]).view("<i8").ravel().astype(np.int64)
    result = run_bucket(as_channel(connect()), sess, bucket, digests)
    done = _done_file(Path(state), bucket)
    tmp = done.with_suffix(".tmp.npz")
    np.savez(tmp, bank_rows=rows[result.bank_items], platform_positions=result.platform_positions)
    os.replace(tmp, done)
    return len(result.platform_positions)


def ray_worker_ready(hold: float = 0.0) -> int:
    """A no-op Ray task body that loads this module in a worker (to start workers ahead of a job)."""
    time.sleep(hold)
    return os.getpid()


def _run_ray(
    connect: LinkFactory, session: KkrtSession, todo: list[int], state: Path, advance: Callable[[], None]
) -> None:
    import ray

    from fincredit.federation._ray import ensure_ray

    ensure_ray()
    task = ray.remote(num_cpus=1, max_retries=0)(_bucket_task)
    pending = [task.remote(connect, session.to_dict(), b, str(state)) for b in todo]
    try:
        while pending:
            ready, pending = ray.wait(pending, num_returns=1)
            ray.get(ready)
            advance()
    except BaseException:
        for ref in pending:
            ray.cancel(ref)
        raise


def _run_threads(
    connect: LinkFactory,
    session: KkrtSession,
    todo: list[int],
    state: Path,
    advance: Callable[[], None],
    parallel: int,
) -> None:
    with ThreadPoolExecutor(max(1, parallel), thread_name_prefix="fincredit-psi") as pool:
        pending: set[Future[int]] = {
            pool.submit(_bucket_task, connect, session.to_dict(), b, str(state)) for b in todo
        }
        try:
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    future.result()
                    advance()
        except BaseException:
            for future in pending:
                future.cancel()
            raise


def align_parquet(
    connect: LinkFactory,
    job_id: str,
    path: str | Path,
    *,
    id_column: str,
    workdir: str | Path,
    scopes: Sequence[str] = (),
    bucket_rows: int = 1_000_000,
    batch_rows: int = 1_000_000,
    use_ray: bool | None = None,
    parallel: int | None = None,
    progress: bool | None = None,
) -> Alignment:
    """KKRT PSI of the ids in a Parquet column, in hash buckets of about ``bucket_rows`` bank rows.

    ``connect`` makes the link a bucket worker uses (a :class:`PlatformLinkSpec` for HTTPS; any
    callable returning a link or channel when the buckets run in threads). ``use_ray`` runs the buckets
    as Ray tasks (default: when Ray is installed); otherwise ``parallel`` threads run them. Job state
    lives in ``workdir``: calling again with the same ``job_id`` after a failure (a dropped connection,
    a killed process) resumes, redoing only unfinished buckets, as long as the platform still holds the
    job. A progress bar counts finished buckets. Returns the bank's half of the alignment; ``rows`` are
    row numbers in the Parquet file.
    """
    path = Path(path)
    state = _state_dir(workdir, job_id)
    state.mkdir(parents=True, exist_ok=True)
    n = pq.ParquetFile(path).metadata.num_rows
    buckets = bucket_count(n, bucket_rows)
    channel = as_channel(connect())
    session_file = state / "session.json"
    saved = json.loads(session_file.read_text()) if session_file.exists() else None
    nonce = saved["session"]["bank_nonce"] if saved and saved["session"]["bank_size"] == n else None
    session = start_kkrt(channel, job_id, n, buckets, scopes=scopes, nonce=nonce)
    resumed = saved is not None and KkrtSession.from_dict(saved["session"]) == session and saved["spilled"]
    if not resumed:
        # A new job, or the platform no longer holds the old one (new keys): start from the input.
        for sub in ("buckets", "done", "parts"):
            shutil.rmtree(state / sub, ignore_errors=True)
        session_file.write_text(json.dumps({"session": session.to_dict(), "spilled": False}))
        try:
            _spill(state, session, path, id_column, batch_rows)
        except PsiInputError:
            channel.call(psi.Abort().to_frame(job_id), timeout=min(5.0, channel.timeout))
            raise
        session_file.write_text(json.dumps({"session": session.to_dict(), "spilled": True}))
    (state / "done").mkdir(exist_ok=True)
    todo = [b for b in range(buckets) if not _done_file(state, b).exists()]
    if use_ray is None:
        from fincredit.federation._ray import ray_available

        use_ray = ray_available()
    bars = Bars(progress)
    with bars.running():
        task = bars.task(f"PSI buckets aligned ({n:,} bank rows)", buckets)
        bars.advance(task, buckets - len(todo))

        def advance() -> None:
            bars.advance(task, 1)

        if todo and use_ray:
            _run_ray(connect, session, todo, state, advance)
        elif todo:
            _run_threads(connect, session, todo, state, advance, parallel or 1)
    results, bank_rows = [], []
    for b in range(buckets):
        with np.load(_done_file(state, b)) as done:
            bank_rows.append(done["bank_rows"].astype(np.int64))
            results.append(BucketResult(b, bank_rows[-1], done["platform_positions"].astype(np.int64)))
    aligned_id = finish_kkrt(channel, session, results)
    rows = np.concatenate([np.zeros(0, np.int64), *bank_rows])
    ids = pq.read_table(path, columns=[id_column]).column(0).take(pa.array(rows)).to_pylist()
    for sub in ("buckets", "parts"):
        shutil.rmtree(state / sub, ignore_errors=True)
    return Alignment(
        job_id=job_id,
        alignment_id=aligned_id,
        rows=rows,
        ids=[str(i) for i in ids],
        own_size=n,
        other_size=session.platform_size,
    )
