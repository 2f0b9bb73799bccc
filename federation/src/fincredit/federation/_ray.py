"""The one place that starts or connects Ray for the federation's parallel work (PSI buckets, training).

``ensure_ray()`` is idempotent: with ``FINCREDIT_RAY_ADDRESS`` set it joins that cluster, otherwise it
starts a local Ray on this machine's cores on first use. Ray is the optional extra ``ray`` of
fincredit-federation; :func:`ray_available` says whether it is installed.
"""

from __future__ import annotations

import importlib.util
import os
import threading
from collections.abc import Callable

__all__ = ["RAY_ADDRESS_ENV", "ensure_ray", "ray_address", "ray_available"]

RAY_ADDRESS_ENV = "FINCREDIT_RAY_ADDRESS"
_lock = threading.Lock()


def ray_available() -> bool:
    return importlib.util.find_spec("ray") is not None


def ray_address() -> str | None:
    """The cluster address from ``FINCREDIT_RAY_ADDRESS``, or ``None`` for a local Ray."""
    return os.environ.get(RAY_ADDRESS_ENV) or None


# Ray's switch for multi-node clusters; off, a node uses the loopback address for itself.
_CLUSTER_SWITCH = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"


def _keep_local_ray_on_loopback() -> None:
    """A local Ray (no cluster configured) binds its node to this host's interface address unless Ray's
    cluster switch is off: its processes would talk to each other over that address. Off, they use
    127.0.0.1 only. The switch is read from the environment by the processes Ray starts and, in this
    process, from a constant read when Ray is first imported, which may already have happened."""
    os.environ[_CLUSTER_SWITCH] = "0"
    import ray._private.ray_constants as constants

    constants.ENABLE_RAY_CLUSTER = False


def ensure_ray() -> None:
    """Connect to the configured Ray cluster, or start a local one, unless this process already has."""
    if ray_address() is None:
        _keep_local_ray_on_loopback()
    import ray

    with _lock:
        if ray.is_initialized():
            return
        address = ray_address()
        if address is not None:
            ray.init(address=address, namespace="fincredit", log_to_driver=False)
        else:
            _from_a_lasting_thread(_start_local)


def _start_local() -> None:
    import ray

    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    # "local": a new Ray of this process. Without an address ray.init joins any cluster this host
    # runs (it reads /tmp/ray/ray_current_cluster), e.g. another program's.
    for attempt in (1, 2):
        try:
            ray.init(
                address="local",
                num_cpus=cpus or 1,
                include_dashboard=False,
                log_to_driver=False,
                namespace="fincredit",
            )
            return
        except Exception as exc:
            # Ray gives a starting raylet 30 s (a fixed limit) to register; a busy host can take
            # longer. One more try, after cleaning up the half-started node.
            if attempt == 2 or "timed out during startup" not in str(exc):
                raise
            ray.shutdown()


def _from_a_lasting_thread(start: Callable[[], None]) -> None:
    """Run ``start`` in a thread that lives as long as the process. Ray's node processes get
    PR_SET_PDEATHSIG, which Linux fires when the *thread* that spawned them ends: started from a
    request's worker thread, the local Ray's GCS is killed when that thread is recycled, and every
    later task fails ("Failed to connect to GCS")."""
    if threading.current_thread() is threading.main_thread():
        start()
        return
    done = threading.Event()
    failure: list[BaseException] = []

    def own() -> None:
        try:
            start()
        except BaseException as exc:
            failure.append(exc)
        done.set()
        if not failure:
            threading.Event().wait()  # never set: the thread, and so Ray's processes, outlive the caller

    threading.Thread(target=own, name="fincredit-ray-owner", daemon=True).start()
    done.wait()
    if failure:
        raise failure[0]
