"""The platform party's jobs outside one process: a job's state is saved after each frame and the next
frame is answered from the saved state by whichever process runs the step — another service instance,
a Ray worker on this machine, or a Ray worker on another node — with the same result as one process
holding the job in memory."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import fincredit.federation._party_steps as steps
from fincredit.federation import JointModel, LocalLink, LogisticParams, PlatformTrainingParty
from fincredit.federation.party import StateStore, StepInputs, dispatch
from fincredit.federation.training import SecureBoostParams
from fincredit.federation.wire import Frame, decode, encode


def test_a_saved_state_comes_back_equal_and_large_buffers_are_written_once(tmp_path: Path) -> None:
    store = StateStore(tmp_path)
    big = np.arange(100_000, dtype=np.float64)
    state = {"features": big, "blob": b"x" * 100_000, "lock": threading.Lock(), "small": [1, "a"]}
    first = store.save("job-1", state)
    files = set(os.listdir(tmp_path / "job-1"))
    assert len(files) == 3  # the root, the array's buffer, the byte string
    state["small"] = [2, "b"]
    second = store.save("job-1", state)
    assert len(set(os.listdir(tmp_path / "job-1")) - files) == 1  # only a new root: big parts unchanged
    loaded = store.load("job-1", second)
    assert np.array_equal(loaded["features"], big) and loaded["blob"] == state["blob"]
    assert loaded["small"] == [2, "b"] and loaded["lock"].acquire(blocking=False)
    loaded["features"][0] = 7.0  # a loaded array is the job's own, writable
    assert store.prune("job-1", [second]) == 1 and not (tmp_path / "job-1" / f"{first}.state").exists()
    assert store.load("job-1", second)["features"][0] == 0.0
    assert oct((tmp_path / "job-1").stat().st_mode & 0o777) == "0o700"
    store.drop("job-1")
    assert not (tmp_path / "job-1").exists()
    with pytest.raises(ValueError):
        store.job_dir("../elsewhere")


def _setting(n: int = 400, seed: int = 2) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    bank = pd.DataFrame({"id": [f"A{i:05d}" for i in range(n)], "income": rng.normal(size=n)})
    platform = pd.DataFrame({"tax": rng.normal(size=n), "age": rng.normal(size=n)})
    logit = 1.2 * bank["income"] + 1.5 * platform["tax"] - 0.8 * platform["age"]
    bank["bad"] = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    return bank, platform


def _fit(link: Any, algorithm: str, bank: pd.DataFrame) -> Any:
    return JointModel(
        link,
        logistic=LogisticParams(iterations=4),
        secureboost=SecureBoostParams(n_trees=2, max_depth=3, min_data_in_leaf=20),
        progress=False,
    ).fit(
        bank,
        id_column="id",
        label="bad",
        features=["income"],
        platform_features=["tax", "age"],
        algorithm=algorithm,  # type: ignore[arg-type]
        job_id=f"job-{algorithm}",
    )


class StepLink:
    """The platform side as the service drives it: one step per frame, the state ref kept between."""

    def __init__(self, store: Path, platform: pd.DataFrame, *, use_ray: bool, cold: bool) -> None:
        self.store, self.platform, self.use_ray, self.cold = str(store), platform, use_ray, cold
        self.refs: dict[str, str] = {}
        self.nodes: set[str] = set()

    def __call__(self, frame: Frame) -> Frame:
        if self.cold:  # every step reads its state back from the store, as a fresh process does
            steps._states = steps._States()
        opening = frame.kind.endswith(".open")
        result = dispatch(
            self.use_ray,
            self.store,
            frame.job_id,
            "bank-1",
            None if opening else self.refs.get(frame.job_id),
            encode(frame),
            StepInputs(features=self.platform) if opening else None,
        )
        if result.state is not None:
            self.refs[frame.job_id] = result.state
        self.nodes.add(result.node)
        return decode(result.reply, max_bytes=len(result.reply))


@pytest.mark.parametrize("algorithm", ["logistic", "secureboost"])
def test_a_job_answered_step_by_step_from_saved_state_trains_the_same_model(
    tmp_path: Path, algorithm: str
) -> None:
    bank, platform = _setting()
    held = PlatformTrainingParty(lambda _job, _bank: platform)
    in_memory = _fit(LocalLink(held), algorithm, bank)
    link = StepLink(tmp_path, platform, use_ray=False, cold=True)
    stepped = _fit(LocalLink(link), algorithm, bank)
    assert stepped.report.auc_joint == pytest.approx(in_memory.report.auc_joint, abs=1e-9)
    part = StateStore(tmp_path).load(f"job-{algorithm}", link.refs[f"job-{algorithm}"]).model_part()
    if algorithm == "secureboost":
        assert part.splits.keys() == held.model_part(f"job-{algorithm}").splits.keys()
    else:
        assert np.allclose(part.weights, held.model_part(f"job-{algorithm}").weights, atol=1e-4)


_CLUSTER_SCRIPT = r"""
import json, sys, threading
import ray
from ray.cluster_utils import Cluster
sys.path.insert(0, sys.argv[1])
import test_party_steps as t

bank, platform = t._setting()
out = {}
cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
cluster.add_node(num_cpus=1)
cluster.wait_for_nodes()
ray.init(address=cluster.address, log_to_driver=False)
out["nodes"] = sorted(n["NodeManagerAddress"] for n in ray.nodes() if n["Alive"])
algorithms = sys.argv[3].split(",")
links = {a: t.StepLink(sys.argv[2] + "/cluster-" + a, platform, use_ray=True, cold=False) for a in algorithms}
fits = {}
def run(a):
    fits[a] = t._fit(t.LocalLink(links[a]), a, bank)
threads = [threading.Thread(target=run, args=(a,)) for a in links]
[th.start() for th in threads]
[th.join() for th in threads]
for a, link in links.items():
    part = t.StateStore(link.store).load("job-" + a, link.refs["job-" + a]).model_part()
    out[a] = {"auc": fits[a].report.auc_joint, "nodes": len(link.nodes - {""}),
              "model": part.weights if a == "logistic" else sorted(part.splits)}
out["ran_on"] = len(set().union(*(l.nodes for l in links.values())) - {""})
ray.shutdown()
cluster.shutdown()
print("RESULT " + json.dumps(out))
"""


@pytest.mark.slow
def test_a_two_node_ray_cluster_on_loopback_runs_the_jobs_with_the_same_result(tmp_path: Path) -> None:
    """Two Ray nodes on this machine (``ray.cluster_utils.Cluster``, every address 127.0.0.1), one CPU
    each, run the steps of a logistic and a tree job at once: steps run on both nodes and the models
    equal those of one process."""
    pytest.importorskip("ray")
    bank, platform = _setting()
    local = {
        a: StepLink(tmp_path / f"local-{a}", platform, use_ray=False, cold=False)
        for a in ("logistic", "secureboost")
    }
    expected = {a: _fit(LocalLink(link), a, bank) for a, link in local.items()}
    env = {**os.environ, "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}
    env.pop("FINCREDIT_RAY_ADDRESS", None)
    run = subprocess.run(
        [sys.executable, "-c", _CLUSTER_SCRIPT, str(Path(__file__).parent), str(tmp_path), ",".join(local)],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    lines = [line for line in run.stdout.splitlines() if line.startswith("RESULT ")]
    assert run.returncode == 0 and lines, run.stderr[-4000:]
    got = json.loads(lines[0].removeprefix("RESULT "))
    assert got["nodes"] == ["127.0.0.1", "127.0.0.1"]  # two nodes, both on loopback
    assert got["ran_on"] == 2  # both nodes ran steps
    for algorithm, fit in expected.items():
        assert got[algorithm]["auc"] == pytest.approx(fit.report.auc_joint, abs=1e-9)
        part = (
            StateStore(tmp_path / f"local-{algorithm}")
            .load(f"job-{algorithm}", local[algorithm].refs[f"job-{algorithm}"])
            .model_part()
        )
        if algorithm == "logistic":
            # CKKS is approximate and each run's masks are fresh: weights agree to CKKS precision
            assert np.allclose(got[algorithm]["model"], part.weights, atol=1e-4)
        else:
            assert got[algorithm]["model"] == sorted(part.splits)
