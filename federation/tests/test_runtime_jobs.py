"""Bank-side job state survives crashes with a clear status and lets a rerun resume or fail cleanly."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from fincredit.federation import Alignment, JobState, JobStateError, JobStore


def test_job_walks_through_its_states(tmp_path) -> None:
    store = JobStore(tmp_path)
    job = store.create("loans-q4", meta={"source": "applicants.csv"})
    assert job.state is JobState.CREATED and job.meta == {"source": "applicants.csv"}
    with store.step("loans-q4", JobState.ALIGNING) as running:
        assert running.running
    assert store.get("loans-q4").state is JobState.ALIGNING and not store.get("loans-q4").running
    store.transition("loans-q4", JobState.TRAINING)
    done = store.transition("loans-q4", JobState.DONE, "auc 0.78", auc=0.78)
    assert (done.state, done.message, done.meta["auc"]) == (JobState.DONE, "auc 0.78", 0.78)
    with pytest.raises(JobStateError, match="cannot go from done to aligning"):
        store.transition("loans-q4", JobState.ALIGNING)


def test_job_ids_are_unique_and_well_formed(tmp_path) -> None:
    store = JobStore(tmp_path)
    assert store.create().job_id.startswith("job-")
    store.create("a")
    with pytest.raises(JobStateError, match="already exists"):
        store.create("a")
    with pytest.raises(JobStateError, match="must be 1-128"):
        store.create("../escape")
    with pytest.raises(JobStateError, match="no job 'missing'"):
        store.get("missing")


def test_a_failing_step_records_why(tmp_path) -> None:
    store = JobStore(tmp_path)
    store.create("j")
    with pytest.raises(RuntimeError), store.step("j", JobState.ALIGNING):
        raise RuntimeError("platform unreachable")
    record = store.get("j")
    assert record.state is JobState.FAILED
    assert record.message == "aligning failed: RuntimeError: platform unreachable"
    # A failed job may be rerun.
    assert store.transition("j", JobState.ALIGNING).state is JobState.ALIGNING


@pytest.mark.slow
def test_a_crashed_process_leaves_a_failed_job_not_a_running_one(tmp_path) -> None:
    script = (
        "import os, sys\n"
        "from fincredit.federation import JobStore, JobState\n"
        "store = JobStore(sys.argv[1])\n"
        "store.create('crash')\n"
        "store.transition('crash', JobState.ALIGNING, 'psi running')\n"
        "os._exit(9)\n"
    )
    subprocess.run([sys.executable, "-c", script, str(tmp_path)], check=False)
    record = JobStore(tmp_path).get("crash")
    assert record.state is JobState.FAILED and not record.running
    assert record.message.startswith("interrupted: the process running aligning")


def test_alignment_is_saved_and_reloaded(tmp_path) -> None:
    store = JobStore(tmp_path)
    store.create("j")
    alignment = Alignment(
        job_id="j",
        alignment_id="abc123",
        rows=np.array([4, 0, 2], dtype=np.int64),
        ids=["ID4", "ID0", "ID2"],
        own_size=5,
        other_size=9,
    )
    path = store.save_alignment(alignment)
    assert path.name == "alignment.npz"
    loaded = JobStore(tmp_path).load_alignment("j")
    assert loaded is not None
    assert loaded.rows.tolist() == [4, 0, 2] and loaded.ids == ["ID4", "ID0", "ID2"]
    assert (loaded.alignment_id, loaded.own_size, loaded.other_size) == ("abc123", 5, 9)
    assert store.load_alignment("other") is None
