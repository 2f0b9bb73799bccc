"""One frame of a platform job as a pure step: (saved state, frame) -> (reply, new saved state).

This is how the platform's heavy work leaves the service process. The service looks up the job's
current state ref (its database row), prepares what only it can compute (the consenting subjects of a
``psi.start``, the platform features of an ``lr.open`` / ``sb.open``), and calls :func:`dispatch`; the
step runs as a Ray task (``use_ray``), or in the calling process, reads the job's state from the
:class:`~fincredit.federation._party_store.StateStore`, answers the frame with the library's own party
code (``PlatformPsiParty``, ``PlatformTrainingParty``) and writes the new state. The service then
records the new ref, so whichever service instance or Ray worker takes the next frame continues from
it. A step that fails leaves no new state: the job stays where it was, and a retried frame starts over
from there. A Ray task retried after its node died is the same step again, which is harmless: it only
writes content-named files and nothing becomes current until the service records the ref.

Each process running steps (a Ray worker, or the service in process) keeps its last states in memory:
the next frame of a job usually finds its state there instead of reading it back.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import pandas as pd

from fincredit.federation._party_store import StateStore
from fincredit.federation._psi_platform import PlatformPsiParty, PsiRequest
from fincredit.federation._psi_protocol import Alignment
from fincredit.federation._runtime import ERROR_KIND, FrameRouter
from fincredit.federation._scoring_platform import Evaluation, evaluate
from fincredit.federation._training_party import PlatformTrainingParty
from fincredit.federation.errors import FederationError
from fincredit.federation.wire import DEFAULT_MAX_FRAME_BYTES, Frame, WireError, decode, encode

__all__ = ["StepInputs", "StepResult", "dispatch", "ray_evaluator", "run_step"]

PSI_PREFIX = "psi"
TRAINING_PREFIXES = ("lr", "sb")
_CACHED_STATES = 8


@dataclass(frozen=True, slots=True)
class StepInputs:
    """What the service read from its database for this step (nothing else crosses to a worker)."""

    subjects: Sequence[str] | None = None  # psi.start: the consenting subjects, in the source's order
    features: pd.DataFrame | None = None  # lr.open / sb.open: the platform features of the aligned rows


@dataclass(frozen=True, slots=True)
class StepResult:
    reply: bytes  # the encoded reply frame
    state: str | None  # the job's new state ref; None when the step failed (the state is unchanged)
    alignment: Alignment | None = None  # psi.finish: the platform's half, to ledger before recording
    node: str = ""  # the Ray node that ran the step ("" in the calling process)
    cpu_seconds: float = 0.0  # CPU time of the thread that ran the step


class _States:
    """The last few job states this process used, by (store, job): the next step of a job reuses the
    objects instead of loading them, when the ref it is asked for is the one it left."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: OrderedDict[tuple[str, str], tuple[str, Any]] = OrderedDict()

    def take(self, key: tuple[str, str], ref: str) -> Any | None:
        with self._lock:
            item = self._items.pop(key, None)
        return item[1] if item is not None and item[0] == ref else None

    def put(self, key: tuple[str, str], ref: str, obj: Any) -> None:
        with self._lock:
            self._items[key] = (ref, obj)
            while len(self._items) > _CACHED_STATES:
                self._items.popitem(last=False)


_states = _States()


def _no_subjects(request: PsiRequest) -> list[str]:
    raise FederationError("the platform's subjects for this alignment were not prepared")


def _no_features(job_id: str, bank_id: str) -> pd.DataFrame:
    raise FederationError("the platform's features for this training were not prepared")


def _ray_step(*args: Any, **kwargs: Any) -> StepResult:
    """:func:`run_step` as a Ray task: the result names the node that ran it."""
    import ray

    result = run_step(*args, **kwargs)
    return replace(result, node=ray.get_runtime_context().get_node_id())


def run_step(
    store_root: str,
    job_id: str,
    bank_id: str,
    state_ref: str | None,
    body: bytes,
    inputs: StepInputs | None = None,
    *,
    max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES,
    psi_options: dict[str, Any] | None = None,
) -> StepResult:
    """Answer one frame of ``job_id`` from the state ``state_ref`` (``None``: the job has none yet)."""
    started = time.thread_time()
    inputs = inputs or StepInputs()
    try:
        frame = decode(body, max_bytes=max_frame_bytes)
    except WireError as exc:
        return StepResult(encode(Frame(kind=ERROR_KIND, meta={"code": "wire", "message": str(exc)})), None)
    if frame.job_id != job_id:
        raise FederationError(f"a step of job {job_id!r} got a frame of job {frame.job_id!r}")
    prefix = frame.kind.split(".", 1)[0]
    store = StateStore(store_root)
    key = (str(store_root), f"{prefix == PSI_PREFIX}:{job_id}")
    state: Any = None
    if state_ref is not None:
        state = _states.take(key, state_ref)
        if state is None:
            state = store.load(job_id, state_ref)

    router = FrameRouter(max_bytes=max_frame_bytes)
    aligned: list[Alignment] = []
    export: Callable[[], Any]
    if prefix == PSI_PREFIX:
        subjects = inputs.subjects
        psi = PlatformPsiParty(
            (lambda request: subjects) if subjects is not None else _no_subjects,
            on_aligned=lambda _bank, alignment: aligned.append(alignment),
            **(psi_options or {}),
        )
        if state is not None:
            psi.import_job(job_id, state)
        router.register("psi.", psi.handle)
        export = lambda: psi.export_job(job_id)  # noqa: E731
    elif prefix in TRAINING_PREFIXES:
        features = inputs.features
        training = PlatformTrainingParty(
            (lambda _job, _bank: features) if features is not None else _no_features
        )
        if state is not None:
            training.import_job(job_id, bank_id, state)
        for p in TRAINING_PREFIXES:
            router.register(f"{p}.", training.handle)
        export = lambda: training.export_job(job_id, bank_id)  # noqa: E731
    else:
        raise FederationError(f"no platform step handles frames of kind {frame.kind!r}")

    reply = router.handle(frame, bank_id=bank_id)
    if reply.kind == ERROR_KIND:
        return StepResult(encode(reply), None)  # the state may be half-changed: it is not kept
    new_state = export()
    if new_state is None:  # an aborted PSI: the job has no state any more
        return StepResult(encode(reply), None)
    new_ref = store.save(job_id, new_state)
    _states.put(key, new_ref, new_state)
    cpu = time.thread_time() - started
    return StepResult(encode(reply), new_ref, aligned[0] if aligned else None, cpu_seconds=cpu)


_remote_step: Any = None
_remote_lock = threading.Lock()


def dispatch(
    use_ray: bool,
    store_root: str,
    job_id: str,
    bank_id: str,
    state_ref: str | None,
    body: bytes,
    inputs: StepInputs | None = None,
    **options: Any,
) -> StepResult:
    """Run :func:`run_step` as a Ray task (on the configured cluster, or a local Ray started on first
    use) when ``use_ray``, else in this process. The caller waits for the result either way."""
    if not use_ray:
        return run_step(store_root, job_id, bank_id, state_ref, body, inputs, **options)
    global _remote_step
    import ray

    from fincredit.federation._ray import ensure_ray

    ensure_ray()
    with _remote_lock:
        if _remote_step is None:
            # A task lost with its node is run again: it is a pure step (see the module's description).
            _remote_step = ray.remote(num_cpus=1, max_retries=2)(_ray_step)
    ref = _remote_step.remote(store_root, job_id, bank_id, state_ref, body, inputs, **options)
    result: StepResult = ray.get(ref)
    return result


_remote_evaluate: Any = None


def _ray_evaluate(job: Evaluation) -> tuple[list[bytes], list[int]]:
    return evaluate(job)


def ray_evaluator(job: Evaluation) -> tuple[list[bytes], list[int]]:
    """An encrypted-scoring batch's homomorphic work as a Ray task (a ``ScoringHandler`` evaluator):
    the service checks, authorises and looks up the features; Ray computes."""
    global _remote_evaluate
    import ray

    from fincredit.federation._ray import ensure_ray

    ensure_ray()
    with _remote_lock:
        if _remote_evaluate is None:
            _remote_evaluate = ray.remote(num_cpus=1, max_retries=2)(_ray_evaluate)
    result: tuple[list[bytes], list[int]] = ray.get(_remote_evaluate.remote(job))
    return result
