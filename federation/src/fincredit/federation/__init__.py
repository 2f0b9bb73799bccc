"""fincredit.federation: the bank SDK and the platform party of joint modelling.

PSI alignment (ECDH over X25519) and the party runtime: ``PlatformConnection``, ``align``,
``Alignment``, ``PlatformPsiParty``, ``FrameRouter``, ``JobStore``. Frames: ``fincredit.federation.wire``.
"""

from fincredit.federation._http_link import FRAMES_PATH, HttpLink, PlatformConnection
from fincredit.federation._jobs import JobRecord, JobState, JobStore
from fincredit.federation._psi_bank import align
from fincredit.federation._psi_platform import PlatformPsiParty, PsiRequest, SubjectSource
from fincredit.federation._psi_protocol import Alignment
from fincredit.federation._runtime import Channel, FrameRouter, PartyHandler, error_frame, raise_for_error
from fincredit.federation.errors import (
    FederationError,
    JobStateError,
    PartyError,
    PartyTimeout,
    PsiError,
    PsiInputError,
    WireError,
)
from fincredit.federation.wire import Frame, Link, LocalLink

__all__ = [
    "FRAMES_PATH",
    "Alignment",
    "Channel",
    "FederationError",
    "Frame",
    "FrameRouter",
    "HttpLink",
    "JobRecord",
    "JobState",
    "JobStateError",
    "JobStore",
    "Link",
    "LocalLink",
    "PartyError",
    "PartyHandler",
    "PartyTimeout",
    "PlatformConnection",
    "PlatformPsiParty",
    "PsiError",
    "PsiInputError",
    "PsiRequest",
    "SubjectSource",
    "WireError",
    "align",
    "error_frame",
    "raise_for_error",
]
