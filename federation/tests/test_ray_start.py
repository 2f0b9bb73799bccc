"""A local Ray started on demand serves the process for its whole life, whichever thread first needed it."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

_SCRIPT = r"""
import threading, time
import ray
from fincredit.federation._ray import ensure_ray

# A request's worker thread starts Ray, then ends (as a server's thread pool recycles its threads).
worker = threading.Thread(target=ensure_ray)
worker.start()
worker.join()
time.sleep(2)  # Ray's processes would be killed now if they were bound to the ended thread
print("RESULT", ray.get(ray.remote(lambda: 41 + 1).remote(), timeout=120))
"""


@pytest.mark.slow
def test_ray_started_from_a_thread_that_ends_keeps_running() -> None:
    pytest.importorskip("ray")
    env = {**os.environ}
    env.pop("FINCREDIT_RAY_ADDRESS", None)
    run = subprocess.run(
        [sys.executable, "-c", _SCRIPT], env=env, capture_output=True, text=True, timeout=300
    )
    assert run.returncode == 0 and "RESULT 42" in run.stdout, run.stderr[-3000:]
