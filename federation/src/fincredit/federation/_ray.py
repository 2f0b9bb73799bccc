"""The one place that starts or connects Ray for the federation's parallel work (PSI buckets, training).

``ensure_ray()`` is idempotent: with ``FINCREDIT_RAY_ADDRESS`` set it joins that cluster, otherwise it
starts a local Ray on this machine's cores on first use. Ray is the optional extra ``ray`` of
fincredit-federation; :func:`ray_available` says whether it is installed.
"""

from __future__ import annotations

import importlib.util
import os
import threading

__all__ = ["RAY_ADDRESS_ENV", "ensure_ray", "ray_address", "ray_available"]

RAY_ADDRESS_ENV = "FINCREDIT_RAY_ADDRESS"
_lock = threading.Lock()


def ray_available() -> bool:
    return importlib.util.find_spec("ray") is not None


def ray_address() -> str | None:
    """The cluster address from ``FINCREDIT_RAY_ADDRESS``, or ``None`` for a local Ray."""
    return os.environ.get(RAY_ADDRESS_ENV) or None


def ensure_ray() -> None:
    """Connect to the configured Ray cluster, or start a local one, unless this process already has."""
    import ray

    with _lock:
        if ray.is_initialized():
            return
        address = ray_address()
        if address is not None:
            ray.init(address=address, namespace="fincredit", log_to_driver=False)
        else:
            cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
            ray.init(
                num_cpus=cpus or 1,
                include_dashboard=False,
                log_to_driver=False,
                namespace="fincredit",
            )
