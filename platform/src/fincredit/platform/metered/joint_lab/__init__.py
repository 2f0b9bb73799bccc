"""Joint modelling and encrypted scoring inside the platform service (G§13, metered market services).

:class:`FederationService` is the platform party behind ``POST /federation/v1/frames``: PSI over the
subjects whose consent allows it, vertical LR and SecureBoost training on the platform's features,
encrypted scoring with per-row consent; jobs live in ``joint_jobs``, models in ``joint_models``.
"""

from fincredit.platform.metered.joint_lab._inputs import (
    ConsentingSet,
    consent_digest,
    consenting_subjects,
    platform_feature_frame,
)
from fincredit.platform.metered.joint_lab._jobs import (
    ALGORITHMS,
    JOINT_PRODUCT,
    SCORING_PRODUCT,
    create_job,
    owned_job,
    sweep_abandoned,
)
from fincredit.platform.metered.joint_lab._registry import (
    EXPERIMENT,
    market_contracts,
    register_platform_half,
)
from fincredit.platform.metered.joint_lab._service import FederationService, FrameRecorder
from fincredit.platform.metered.joint_lab.errors import (
    JointJobForbidden,
    JointJobInvalid,
    JointJobNotFound,
    JointJobState,
    JointModelNotFound,
    MalformedFrame,
)

__all__ = [
    "ALGORITHMS",
    "EXPERIMENT",
    "JOINT_PRODUCT",
    "SCORING_PRODUCT",
    "ConsentingSet",
    "FederationService",
    "FrameRecorder",
    "JointJobForbidden",
    "JointJobInvalid",
    "JointJobNotFound",
    "JointJobState",
    "JointModelNotFound",
    "MalformedFrame",
    "consent_digest",
    "consenting_subjects",
    "create_job",
    "market_contracts",
    "owned_job",
    "platform_feature_frame",
    "register_platform_half",
    "sweep_abandoned",
]
