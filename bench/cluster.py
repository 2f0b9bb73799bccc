"""A joint-modelling job's platform work on Ray: local Ray with 1 and 2 CPUs, and a two-node cluster on
loopback, against the same work in one process.

    python -m bench cluster                                  # 2 concurrent logistic jobs, 16,000 rows
    python -m bench cluster --algorithm secureboost --jobs 2 --rows 4000

Each run trains ``--jobs`` identical jobs at once (one thread each, the bank side in this process, as
several banks would), the platform side answered frame by frame the way the service does it
(``fincredit.federation.party.dispatch``: the job's state saved in a store directory after every step,
each step a Ray task or a call in process). One job's frames are sequential, so a second worker helps
only when several jobs run; the figures are the wall time of all jobs, the speed-up over one worker,
the platform's CPU seconds (sum over steps, wherever they ran) and the load average around each run.
Every configuration runs in a fresh process (Ray is per process); every Ray address is 127.0.0.1.
The machine is shared (2 cores, other jobs running): the load average is part of the result.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bench._report import Result, print_table, write

CONFIGS = ("in_process", "ray_1cpu", "ray_2cpu", "cluster_2nodes")


def _setting(n: int, seed: int = 5) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    bank = pd.DataFrame({"id": [f"A{i:06d}" for i in range(n)]})
    platform = pd.DataFrame({f"p{j}": rng.normal(size=n) for j in range(6)})
    for j in range(4):
        bank[f"b{j}"] = rng.normal(size=n)
    logit = bank["b0"] - 0.7 * bank["b1"] + 1.1 * platform["p0"] - 0.6 * platform["p1"] + 0.3 * platform["p2"]
    bank["bad"] = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    return bank, platform


def _run_config(config: str, args: argparse.Namespace) -> dict[str, Any]:
    """One configuration, in this (fresh) process."""
    from fincredit.federation import JointModel, LocalLink, LogisticParams
    from fincredit.federation.party import StepInputs, dispatch
    from fincredit.federation.training import SecureBoostParams
    from fincredit.federation.wire import Frame, decode, encode

    use_ray = config != "in_process"
    cluster = None
    if use_ray:
        os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"  # every node on 127.0.0.1
        import ray

        if config == "cluster_2nodes":
            from ray.cluster_utils import Cluster

            cluster = Cluster(
                initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False}
            )
            cluster.add_node(num_cpus=1)
            cluster.wait_for_nodes()
            ray.init(address=cluster.address, log_to_driver=False, namespace="fincredit")
        else:
            cpus = 1 if config == "ray_1cpu" else 2
            ray.init(
                address="local",  # this process's own Ray, never another program's on this host
                num_cpus=cpus,
                include_dashboard=False,
                log_to_driver=False,
                namespace="fincredit",
            )
    bank, platform = _setting(args.rows)
    store = tempfile.mkdtemp(prefix="fincredit-bench-cluster-")
    platform_cpu = [0.0]
    nodes: set[str] = set()
    lock = threading.Lock()

    def link_for() -> Any:
        refs: dict[str, str] = {}

        def handle(frame: Frame) -> Frame:
            opening = frame.kind.endswith(".open")
            result = dispatch(
                use_ray,
                store,
                frame.job_id,
                "bank",
                None if opening else refs.get(frame.job_id),
                encode(frame),
                StepInputs(features=platform) if opening else None,
            )
            if result.state is not None:
                refs[frame.job_id] = result.state
            with lock:
                platform_cpu[0] += result.cpu_seconds
                nodes.add(result.node)
            return decode(result.reply, max_bytes=len(result.reply))

        return LocalLink(handle)

    def fit(k: int) -> float:
        return float(
            JointModel(
                link_for(),
                logistic=LogisticParams(iterations=args.iterations),
                secureboost=SecureBoostParams(n_trees=args.trees, max_depth=3),
                progress=False,
            )
            .fit(
                bank,
                id_column="id",
                label="bad",
                features=[f"b{j}" for j in range(4)],
                platform_features=list(platform.columns),
                algorithm=args.algorithm,
                job_id=f"bench-{k}",
            )
            .report.auc_joint
        )

    if use_ray:  # warm-up: workers started and the task function shipped before the clock starts
        import ray

        ray.get([ray.remote(lambda: 0).remote() for _ in range(2)])
    aucs: list[float] = [0.0] * args.jobs
    load_before = os.getloadavg()
    cpu0, t0 = time.process_time(), time.perf_counter()
    threads = [threading.Thread(target=lambda k=k: aucs.__setitem__(k, fit(k))) for k in range(args.jobs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    driver_cpu = time.process_time() - cpu0
    out = {
        "config": config,
        "wall_s": wall,
        "platform_cpu_s": platform_cpu[0],
        "driver_cpu_s": driver_cpu,  # the bank side and the coordination (and, in process, the steps)
        "nodes": len(nodes - {""}),
        "auc": aucs,
        "load_before": list(load_before),
        "load_after": list(os.getloadavg()),
    }
    if use_ray:
        import ray

        ray.shutdown()
    if cluster is not None:
        cluster.shutdown()  # type: ignore[no-untyped-call]
    return out


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench cluster")
    parser.add_argument("--algorithm", choices=("logistic", "secureboost"), default="logistic")
    parser.add_argument("--rows", type=int, default=16000)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--iterations", type=int, default=6)
    parser.add_argument("--trees", type=int, default=3)
    parser.add_argument("--only", choices=CONFIGS, default=None, help="run one configuration here")
    args = parser.parse_args(argv)
    if args.only is not None:
        print("RESULT " + json.dumps(_run_config(args.only, args)), flush=True)
        return 0

    runs: dict[str, dict[str, Any]] = {}
    for config in CONFIGS:
        cmd = [sys.executable, "-m", "bench", "cluster", *argv, "--only", config]
        done = subprocess.run(cmd, capture_output=True, text=True, cwd=Path(__file__).resolve().parent.parent)
        lines = [x for x in done.stdout.splitlines() if x.startswith("RESULT ")]
        if done.returncode != 0 or not lines:
            print(done.stderr[-3000:], file=sys.stderr)
            return 1
        runs[config] = json.loads(lines[-1].removeprefix("RESULT "))
        print(f"{config}: {runs[config]['wall_s']:.1f} s wall, load {runs[config]['load_before'][0]:.1f}")

    one = runs["ray_1cpu"]["wall_s"]
    results = [Result(f"{c}.wall", runs[c]["wall_s"], "s") for c in CONFIGS]
    results += [
        Result("ray_2cpu.speedup_over_1cpu", one / runs["ray_2cpu"]["wall_s"], "x", better="higher"),
        Result(
            "cluster_2nodes.speedup_over_1cpu", one / runs["cluster_2nodes"]["wall_s"], "x", better="higher"
        ),
        Result(
            "ray_1cpu.wall_over_in_process",
            one,
            "s",
            baseline=runs["in_process"]["wall_s"],
        ),
    ]
    results += [Result(f"{c}.platform_cpu", runs[c]["platform_cpu_s"], "CPU-s") for c in CONFIGS]
    results += [Result(f"{c}.driver_cpu", runs[c]["driver_cpu_s"], "CPU-s") for c in CONFIGS]
    results += [Result(f"{c}.load_avg_1min", runs[c]["load_after"][0], "load") for c in CONFIGS]
    print_table(results)
    path = write(
        "cluster",
        results,
        argv=argv,
        extra={
            "work": f"{args.jobs} concurrent {args.algorithm} jobs of {args.rows} rows (6 platform, 4 bank "
            "features), the platform side answered step by step from saved state",
            "runs": runs,
            "nodes_used": {c: runs[c]["nodes"] for c in CONFIGS},
        },
    )
    print(path)
    return 0
