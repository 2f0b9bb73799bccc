"""PSI alignment: KKRT16 (default) and ECDH at 1M x 1M, KKRT through Parquet buckets and Ray at 10M x 10M.

    python -m bench psi                       # all runs below, SecretFlow peers if var/peers is built
    python -m bench psi --big 0 --no-ecdh     # only the 1M x 1M KKRT run (and the peers)
    python -m bench psi --n 200000 --big 2000000

Runs, each on sets with 50% overlap (18-character ids, the length of a USCC or resident ID):

1. KKRT 1M x 1M in memory: the bank SDK's ``align`` talks to ``PlatformPsiParty`` through a
   ``LocalLink`` that encodes and decodes every frame (the bytes HTTP would carry); both parties share
   this process (two buckets in two threads). Baseline: a plain hash join of the ids, same run.
2. ECDH 1M x 1M the same way (X25519 process pool), the protocol a bank may still choose.
3. SecretFlow's spu PSI engine (RR22, and ECDH on FourQ) on the same sets, in its own virtualenv
   (``bench/peers.py``), when it is built: the ratio of our KKRT wall time to RR22's is the target.
4. KKRT 10M x 10M through ``align_parquet``: the bank streams its ids from a Parquet file into hash
   buckets of 1M rows, each bucket an independent PSI run as a Ray task (local Ray on this machine's
   cores, started before timing); the platform party is a separate process behind an HTTP endpoint
   (``POST /federation/v1/frames`` with a bearer token). Peak memory per party is the largest sum of
   the resident set sizes of that party's processes (bank: the driver and its Ray processes;
   platform: the server), sampled every 0.25 s.

The machine is shared: the 1-minute load average is recorded before and after every run, and CPU
seconds (all threads and processes of both parties) next to wall seconds.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import random
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psutil

from bench._report import Result, print_table, write
from fincredit.federation import FrameRouter, LocalLink, PlatformPsiParty, align
from fincredit.federation import _psi_curve as curve

TARGET_1M_SECONDS = 10.0
TARGET_10M_SECONDS = 180.0
TARGET_PEAK_GIB = 4.0
BANK_ID = "bench-bank"
TOKEN = "bench-token"


def _label(n: int) -> str:
    return f"{n // 1_000_000}M" if n % 1_000_000 == 0 else f"{n // 1000}k" if n % 1000 == 0 else str(n)


def _datasets(n: int, overlap: float, seed: int) -> tuple[list[str], list[str], int]:
    rng = random.Random(seed)
    shared = int(n * overlap)
    bank = [f"91330200B{i:09d}" for i in range(n)]
    platform = bank[:shared] + [f"91330200P{i:09d}" for i in range(n - shared)]
    rng.shuffle(bank)
    rng.shuffle(platform)
    return bank, platform, shared


def _hash_join(bank: list[str], platform: list[str]) -> tuple[float, int]:
    started = time.perf_counter()
    index = {ident: row for row, ident in enumerate(platform)}
    pairs = [(row, index[ident]) for row, ident in enumerate(bank) if ident in index]
    return time.perf_counter() - started, len(pairs)


def _cpu_seconds(procs: list[psutil.Process]) -> float:
    total = 0.0
    for p in procs:
        try:
            t = p.cpu_times()
            total += t.user + t.system + t.children_user + t.children_system
        except psutil.Error:
            continue
    return total


def _self_and_pool() -> list[psutil.Process]:
    me = psutil.Process()
    return [me, *me.children(recursive=True)]


def _in_memory(
    protocol: str, bank: list[str], platform: list[str], shared: int, *, bucket_rows: int, workers: int
) -> dict[str, Any]:
    party = PlatformPsiParty(lambda request: platform, workers=workers)
    router = FrameRouter()
    router.register("psi.", party.handle)
    link = LocalLink(lambda frame: router.handle(frame, bank_id=BANK_ID))
    job = f"bench-{protocol}-{len(bank)}"
    load_before = os.getloadavg()[0]
    cpu_before = _cpu_seconds(_self_and_pool())
    started = time.perf_counter()
    result = align(
        link,
        job,
        bank,
        protocol=protocol,  # type: ignore[arg-type]
        workers=workers,
        bucket_rows=bucket_rows,
        timeout=1800,
        progress=False,
    )
    wall = time.perf_counter() - started
    cpu = _cpu_seconds(_self_and_pool()) - cpu_before
    mine = party.alignment(job, bank_id=BANK_ID)
    if not (result.size == mine.size == shared and result.ids == mine.ids):
        raise SystemExit(f"{protocol} PSI result is wrong: {result.size} / {mine.size}, expected {shared}")
    return {
        "wall_s": wall,
        "cpu_s": cpu,
        "aligned": result.size,
        "bytes": link.bytes_sent + link.bytes_received,
        "load_before": load_before,
        "load_after": os.getloadavg()[0],
    }


# -- the 10M run: platform behind HTTP in its own process, bank through Parquet buckets and Ray ----------


def _platform_server(n: int, overlap: float, ready: Any) -> None:
    """The platform party as its own process: a threaded WSGI endpoint in front of the frame router."""
    import socketserver
    from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

    from fincredit.federation import FRAMES_PATH

    shared = int(n * overlap)
    subjects = [f"91330200B{i:09d}" for i in range(shared)] + [f"91330200P{i:09d}" for i in range(n - shared)]
    party = PlatformPsiParty(lambda request: subjects, max_set_size=4 * n, max_chunk=4 * n)
    router = FrameRouter(max_bytes=1 << 30)
    router.register("psi.", party.handle)

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        if environ.get("HTTP_AUTHORIZATION") != f"Bearer {TOKEN}" or environ["PATH_INFO"] != FRAMES_PATH:
            start_response("401 Unauthorized", [("Content-Type", "text/plain")])
            return [b"unauthorized"]
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        reply = router.handle_bytes(body, bank_id=BANK_ID)
        start_response(
            "200 OK",
            [("Content-Type", "application/octet-stream"), ("Content-Length", str(len(reply)))],
        )
        return [reply]

    class Server(socketserver.ThreadingMixIn, WSGIServer):
        daemon_threads = True

    class Quiet(WSGIRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

    server = make_server("127.0.0.1", 0, app, server_class=Server, handler_class=Quiet)
    ready.put(server.server_port)
    server.serve_forever()


def _write_bank_parquet(path: str, n: int) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    ids = [f"91330200B{i:09d}" for i in range(n)]
    random.Random(7).shuffle(ids)
    pq.write_table(pa.table({"uscc": ids}), path, row_group_size=1_000_000)


class _Sampler:
    """Samples the summed RSS and CPU of a set of processes (recomputed each time) in a thread."""

    def __init__(self, procs: Callable[[], list[psutil.Process]], every: float = 0.25) -> None:
        self._procs, self._every = procs, every
        self.peak_rss = 0
        self._cpu: dict[int, float] = {}
        self._base: dict[int, float] | None = None  # CPU of the processes alive at the first sample
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            rss = 0
            for p in self._procs():
                try:
                    rss += p.memory_info().rss
                    t = p.cpu_times()
                    self._cpu[p.pid] = t.user + t.system
                except psutil.Error:
                    continue
            self.peak_rss = max(self.peak_rss, rss)
            if self._base is None:
                self._base = dict(self._cpu)
            self._stop.wait(self._every)

    @property
    def cpu_s(self) -> float:
        """CPU seconds used while sampling (a process that appeared later counts from zero)."""
        base = self._base or {}
        return sum(v - base.get(pid, 0.0) for pid, v in self._cpu.items())

    @contextmanager
    def running(self) -> Iterator[_Sampler]:
        self._thread.start()
        try:
            yield self
        finally:
            self._stop.set()
            self._thread.join()


# Until the workspace installs the federation's ``ray`` extra, a bench-only copy of Ray can live in
# var/ray-site (uv pip install --target var/ray-site --no-deps ray==2.60.0); Ray's own processes inherit
# PYTHONPATH, so they find it too.
_RAY_SITE = Path(__file__).resolve().parent.parent / "var" / "ray-site"


def _ray_importable() -> bool:
    import importlib.util
    import sys

    if importlib.util.find_spec("ray") is None and _RAY_SITE.is_dir():
        sys.path.insert(0, str(_RAY_SITE))
        os.environ["PYTHONPATH"] = os.pathsep.join(
            filter(None, [str(_RAY_SITE), os.environ.get("PYTHONPATH")])
        )
    return importlib.util.find_spec("ray") is not None


def _big(n: int, overlap: float, bucket_rows: int) -> dict[str, Any]:
    if not _ray_importable():
        raise SystemExit("Ray is not installed: uv sync --extra ray (or see _RAY_SITE above)")
    import ray

    from fincredit.federation import PlatformLinkSpec, align_parquet
    from fincredit.federation._psi_buckets import ray_worker_ready
    from fincredit.federation._ray import ensure_ray

    ctx = multiprocessing.get_context("spawn")
    with tempfile.TemporaryDirectory(prefix="psi-bench-") as tmp:
        path = str(Path(tmp) / "bank.parquet")
        started = time.perf_counter()
        writer = ctx.Process(target=_write_bank_parquet, args=(path, n))
        writer.start()
        writer.join()
        parquet_s = time.perf_counter() - started
        ready = ctx.Queue()
        server = ctx.Process(target=_platform_server, args=(n, overlap, ready), daemon=True)
        server.start()
        port = ready.get(timeout=600)
        platform_proc = psutil.Process(server.pid)
        started = time.perf_counter()
        ensure_ray()
        # Start one worker per core and load the PSI code in it: a bank keeps its Ray workers running.
        ready_task = ray.remote(num_cpus=1)(ray_worker_ready)
        ray.get([ready_task.remote(1.0) for _ in range(int(ray.cluster_resources().get("CPU", 1)))])
        ray_start_s = time.perf_counter() - started
        me = psutil.Process()

        def bank_procs() -> list[psutil.Process]:
            return [me, *(p for p in me.children(recursive=True) if p.pid != server.pid)]

        bank_sampler = _Sampler(bank_procs)
        platform_sampler = _Sampler(lambda: [platform_proc])
        load_before = os.getloadavg()[0]
        spec = PlatformLinkSpec(f"http://127.0.0.1:{port}", TOKEN, timeout=1800, retries=1)
        with bank_sampler.running(), platform_sampler.running():
            time.sleep(0.3)  # the samplers' first round sets their CPU baseline
            started = time.perf_counter()
            result = align_parquet(
                spec,
                f"bench-big-{n}",
                path,
                id_column="uscc",
                workdir=tmp,
                bucket_rows=bucket_rows,
                use_ray=True,
                progress=False,
            )
            wall = time.perf_counter() - started
            time.sleep(0.3)  # one more sample after the last reply
        cpu = bank_sampler.cpu_s + platform_sampler.cpu_s
        shared = int(n * overlap)
        ok = result.size == shared and all(
            i.startswith("91330200B") and int(i[9:]) < shared for i in result.ids
        )
        server.terminate()
        ray.shutdown()
        if not ok:
            raise SystemExit(f"10M PSI result is wrong: {result.size} aligned, expected {shared}")
        return {
            "wall_s": wall,
            "cpu_s": cpu,
            "aligned": result.size,
            "bank_peak_rss": bank_sampler.peak_rss,
            "platform_peak_rss": platform_sampler.peak_rss,
            "ray_start_s": ray_start_s,
            "parquet_write_s": parquet_s,
            "buckets": -(-n // bucket_rows),
            "load_before": load_before,
            "load_after": os.getloadavg()[0],
        }


def _peers(bank: list[str], platform: list[str], shared: int) -> dict[str, dict[str, Any]]:
    try:
        from bench import peers
    except ImportError:
        return {}
    if not peers.secretflow_available():
        return {}
    out = {}
    with tempfile.TemporaryDirectory(prefix="psi-peers-") as tmp:
        a, b = peers.export_id_sets(bank, platform, Path(tmp))
        for protocol in ("RR22", "ECDH"):
            run = peers.run_spu_psi(protocol, a, b, id_column="id")
            if run["intersection"] != shared:
                raise SystemExit(f"spu {protocol} found {run['intersection']} matches, expected {shared}")
            out[protocol] = run
    return out


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench psi", description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000, help="ids per side, in-memory runs (1M)")
    parser.add_argument("--big", type=int, default=10_000_000, help="ids per side, Ray run (0: skip)")
    parser.add_argument("--overlap", type=float, default=0.5, help="share of the bank's ids the platform has")
    parser.add_argument("--bucket-rows", type=int, default=1_000_000, help="bank rows per bucket, Ray run")
    parser.add_argument("--workers", type=int, default=None, help="threads / X25519 processes (all cores)")
    parser.add_argument("--no-ecdh", action="store_true", help="skip the ECDH run")
    parser.add_argument("--no-peers", action="store_true", help="skip SecretFlow's spu PSI")
    parser.add_argument("--seed", type=int, default=20261122)
    args = parser.parse_args(argv)

    workers = args.workers or curve.default_workers()
    n, label = args.n, _label(args.n)
    bank, platform, shared = _datasets(n, args.overlap, args.seed)
    join_s, join_size = _hash_join(bank, platform)
    assert join_size == shared
    results: list[Result] = []
    notes: dict[str, Any] = {
        "baseline": "plain hash join of the unsalted ids (dict + probe), same data, same run",
        "cpu": "CPU seconds of both parties (all threads and processes) during the alignment",
        "workers": workers,
        "overlap": args.overlap,
    }
    loads: dict[str, list[float]] = {}

    kkrt = _in_memory("kkrt", bank, platform, shared, bucket_rows=-(-n // workers), workers=workers)
    loads["kkrt"] = [round(kkrt["load_before"], 2), round(kkrt["load_after"], 2)]
    print(f"kkrt {label}: {kkrt['wall_s']:.2f} s, {kkrt['cpu_s']:.2f} CPU-s, load {loads['kkrt']}")

    peer_runs = {} if args.no_peers else _peers(bank, platform, shared)
    rr22 = peer_runs.get("RR22")
    results += [
        Result(
            f"psi_kkrt_{label}x{label}_wall",
            kkrt["wall_s"],
            "s",
            TARGET_1M_SECONDS if n == 1_000_000 else None,
            "lower",
            join_s,
        ),
        Result(f"psi_kkrt_{label}x{label}_cpu", kkrt["cpu_s"], "cpu-s", None, "lower"),
        Result(f"psi_kkrt_{label}x{label}_bytes_exchanged", kkrt["bytes"], "bytes", None, "lower"),
        Result(f"psi_kkrt_{label}x{label}_aligned", kkrt["aligned"], "rows", None, "higher"),
    ]
    if rr22 is not None:
        results += [
            Result(
                f"psi_kkrt_{label}x{label}_wall_vs_spu_rr22",
                kkrt["wall_s"],
                "s",
                None,
                "lower",
                rr22["wall_s"],
            ),
            Result(
                f"psi_kkrt_{label}x{label}_cpu_vs_spu_rr22",
                kkrt["cpu_s"],
                "cpu-s",
                None,
                "lower",
                rr22["cpu_s"],
            ),
        ]
        results[-2].target = rr22["wall_s"]  # ratio to RR22 <= 1
    for protocol, run in peer_runs.items():
        notes[f"spu_{protocol.lower()}"] = run
        results += [
            Result(f"peer_spu_{protocol.lower()}_{label}x{label}_wall", run["wall_s"], "s", None, "lower"),
            Result(f"peer_spu_{protocol.lower()}_{label}x{label}_cpu", run["cpu_s"], "cpu-s", None, "lower"),
        ]
    if not peer_runs and not args.no_peers:
        notes["peers"] = "var/peers/secretflow is not built (python -m bench peers --install-only)"

    if not args.no_ecdh:
        ecdh = _in_memory("ecdh", bank, platform, shared, bucket_rows=n, workers=workers)
        loads["ecdh"] = [round(ecdh["load_before"], 2), round(ecdh["load_after"], 2)]
        print(f"ecdh {label}: {ecdh['wall_s']:.2f} s, {ecdh['cpu_s']:.2f} CPU-s, load {loads['ecdh']}")
        results += [
            Result(f"psi_ecdh_{label}x{label}_wall", ecdh["wall_s"], "s", None, "lower", join_s),
            Result(f"psi_ecdh_{label}x{label}_cpu", ecdh["cpu_s"], "cpu-s", None, "lower"),
            Result(f"psi_ecdh_{label}x{label}_bytes_exchanged", ecdh["bytes"], "bytes", None, "lower"),
            Result(
                f"psi_kkrt_vs_ecdh_{label}x{label}_wall", kkrt["wall_s"], "s", None, "lower", ecdh["wall_s"]
            ),
        ]
    del bank, platform

    if args.big:
        big = _big(args.big, args.overlap, args.bucket_rows)
        bl = _label(args.big)
        loads["kkrt_ray_big"] = [round(big["load_before"], 2), round(big["load_after"], 2)]
        gib = 1024**3
        print(
            f"kkrt {bl} via Parquet buckets and Ray: {big['wall_s']:.1f} s, {big['cpu_s']:.1f} CPU-s, "
            f"peak RSS bank {big['bank_peak_rss'] / gib:.2f} GiB, "
            f"platform {big['platform_peak_rss'] / gib:.2f} GiB"
        )
        results += [
            Result(f"psi_kkrt_ray_{bl}x{bl}_wall", big["wall_s"], "s", TARGET_10M_SECONDS, "lower"),
            Result(f"psi_kkrt_ray_{bl}x{bl}_cpu", big["cpu_s"], "cpu-s", None, "lower"),
            Result(
                f"psi_kkrt_ray_{bl}x{bl}_bank_peak_rss",
                big["bank_peak_rss"] / gib,
                "GiB",
                TARGET_PEAK_GIB,
                "lower",
            ),
            Result(
                f"psi_kkrt_ray_{bl}x{bl}_platform_peak_rss",
                big["platform_peak_rss"] / gib,
                "GiB",
                TARGET_PEAK_GIB,
                "lower",
            ),
            Result(f"psi_kkrt_ray_{bl}x{bl}_aligned", big["aligned"], "rows", None, "higher"),
        ]
        notes["ray_run"] = {
            "buckets": big["buckets"],
            "bucket_rows": args.bucket_rows,
            "ray_start_and_worker_warmup_s_not_timed": round(big["ray_start_s"], 2),
            "bank_parquet_write_s_not_timed": round(big["parquet_write_s"], 2),
            "peak_rss": "largest sum of RSS over the party's processes, sampled every 0.25 s (bank: driver, "
            "raylet, GCS and Ray workers; platform: the HTTP server process holding its 10M subjects)",
        }
    notes["load_average_1min_before_after"] = loads
    print_table(results)
    path = write("psi", results, argv=argv, extra=notes)
    print(f"load {loads}; wrote {path}")
    return 0
