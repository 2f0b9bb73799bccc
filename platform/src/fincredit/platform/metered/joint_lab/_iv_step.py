"""The platform's side of the encrypted information value (``iv.request``, answered by
:func:`fincredit.federation.scorecard.platform_iv_reply`): after the PSI aligned a job and before its
training opens, the bank's encrypted labels are summed per quantile bin of each of the job's platform
features, computed from the aligned subjects' records as for training (no further ledger entry: the
alignment already recorded the joint-modelling use of each subject)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from fincredit.federation.scorecard import platform_iv_reply
from fincredit.federation.wire import Frame

if TYPE_CHECKING:
    from fincredit.platform.metered.joint_lab._service import FederationService

__all__ = ["iv_frame"]


def iv_frame(service: FederationService, frame: Frame, bank_id: str) -> Frame:
    with service.sessions.locked(frame.job_id):
        state = service.sessions.get(frame.job_id)
        job = service._job_for_frame(frame, bank_id, ("aligned",))
        live = service.sessions.inputs(state)
        if live.inputs is None or live.alignment is None:
            raise service._lost(job)
        features = service._features_for(job, live)
    return platform_iv_reply(frame, features)
