"""fincredit.federation: the bank SDK and the platform party of joint modelling.

PSI alignment (KKRT16 OT-extension PSI by default, ECDH over X25519 as the fallback) and the party
runtime: ``PlatformConnection``, ``align``, ``align_parquet`` (bucketed, Ray, resumable),
``Alignment``, ``PlatformPsiParty``, ``FrameRouter``, ``JobStore``. Frames: ``fincredit.federation.wire``.
Encrypted (CKKS) scoring: ``EncryptedScorer`` (bank SDK), ``ScoringHandler`` (platform party), more in
``fincredit.federation.scoring``.
The joint-modelling lab end to end (create a job, align, train, complete): ``JointLab``.
Vertical federated training (CKKS LR and SecureBoost): ``JointModel`` (bank SDK),
``PlatformTrainingParty`` (platform party), more in ``fincredit.federation.training``.
"""

from fincredit.federation._http_link import FRAMES_PATH, HttpLink, PlatformConnection
from fincredit.federation._jobs import JobRecord, JobState, JobStore
from fincredit.federation._platform_api import (
    JointJobInfo,
    JointLab,
    OfferedFeature,
    PlatformApiError,
    TrainedJob,
)
from fincredit.federation._psi_bank import align
from fincredit.federation._psi_buckets import PlatformLinkSpec, align_parquet
from fincredit.federation._psi_platform import PlatformPsiParty, PsiRequest, SubjectSource
from fincredit.federation._psi_protocol import Alignment
from fincredit.federation._runtime import Channel, FrameRouter, PartyHandler, error_frame, raise_for_error
from fincredit.federation.errors import (
    FederationError,
    InputError,
    JobStateError,
    MissingColumnsError,
    PartyError,
    PartyTimeout,
    PsiError,
    PsiInputError,
    ScoringCiphertextError,
    ScoringContextError,
    ScoringError,
    ScoringModelError,
    ScoringRequestError,
    WireError,
)
from fincredit.federation.scorer import EncryptedScorer, ScoringStats
from fincredit.federation.scoring import (
    CkksParams,
    LogisticDeposit,
    ScoringHandler,
    ScoringLimits,
    ScoringReport,
)
from fincredit.federation.training import (
    EvaluationReport,
    JointFit,
    JointModel,
    LogisticParams,
    PlatformTrainingParty,
    SecureBoostParams,
    log_bank_model,
)
from fincredit.federation.wire import Frame, Link, LocalLink

__all__ = [
    "FRAMES_PATH",
    "Alignment",
    "Channel",
    "CkksParams",
    "EncryptedScorer",
    "EvaluationReport",
    "FederationError",
    "Frame",
    "FrameRouter",
    "HttpLink",
    "InputError",
    "JobRecord",
    "JobState",
    "JobStateError",
    "JobStore",
    "JointFit",
    "JointJobInfo",
    "JointLab",
    "JointModel",
    "Link",
    "LocalLink",
    "LogisticDeposit",
    "LogisticParams",
    "MissingColumnsError",
    "OfferedFeature",
    "PartyError",
    "PartyHandler",
    "PartyTimeout",
    "PlatformApiError",
    "PlatformConnection",
    "PlatformLinkSpec",
    "PlatformPsiParty",
    "PlatformTrainingParty",
    "PsiError",
    "PsiInputError",
    "PsiRequest",
    "ScoringCiphertextError",
    "ScoringContextError",
    "ScoringError",
    "ScoringHandler",
    "ScoringLimits",
    "ScoringModelError",
    "ScoringReport",
    "ScoringRequestError",
    "ScoringStats",
    "SecureBoostParams",
    "SubjectSource",
    "TrainedJob",
    "WireError",
    "align",
    "align_parquet",
    "error_frame",
    "log_bank_model",
    "raise_for_error",
]
