"""The platform party's jobs outside one process: saved job state and frames answered as steps.

``StateStore`` keeps a job's state between frames in a directory; ``dispatch`` answers one frame of a
job from its saved state, as a Ray task or in process, and saves the new state (see
``fincredit.federation._party_steps``); ``ray_evaluator`` runs an encrypted-scoring batch's
homomorphic work as a Ray task. The platform service records the refs in its database, so any
of its instances continues a job. A platform deployment uses these; a bank never needs them.
"""

from fincredit.federation._party_steps import StepInputs, StepResult, dispatch, ray_evaluator, run_step
from fincredit.federation._party_store import StateStore
from fincredit.federation._psi_messages import Abort as PsiAbort
from fincredit.federation._psi_messages import Start as PsiStart
from fincredit.federation._psi_messages import Started as PsiStarted
from fincredit.federation._ray import ray_available

__all__ = [
    "PsiAbort",
    "PsiStart",
    "PsiStarted",
    "StateStore",
    "StepInputs",
    "StepResult",
    "dispatch",
    "ray_available",
    "ray_evaluator",
    "run_step",
]
