"""One interface for a joint-training protocol, with a half for each party (as flower puts each
federated strategy behind ``Strategy``).

A protocol is one file (``_secureboost``, ``_vertical_lr``) holding the bank's trainer, the platform's
job and a :class:`TrainingProtocol` that names them: its frames' prefix, how many rounds its parameters
ask for, the bank's trainer, the platform's job, and the bank-only model a joint model is measured
against. The SDK, the input checks and the platform's training party find a protocol in
``_protocols.PROTOCOLS``, by name or by frame prefix; none of them branches on an algorithm's name.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import Any, ClassVar, Protocol

import numpy as np
import pandas as pd

from fincredit.federation._runtime import Channel
from fincredit.federation.joint_model import PlatformLogisticPart, PlatformTreePart
from fincredit.federation.wire import Frame, Link

__all__ = ["BankTrainer", "PlatformJob", "TrainingProtocol"]


class BankTrainer(Protocol):
    """The bank's half of one job: it drives the platform's half over a link."""

    def fit(
        self,
        x_bank: np.ndarray,
        y: np.ndarray,
        *,
        features: Sequence[str],
        platform_features: Sequence[str],
        train_rows: np.ndarray,
        model_id: str | None = None,
    ) -> Any: ...

    def joint_scores(self, part: Any, x_bank: np.ndarray, rows: np.ndarray) -> np.ndarray: ...


class PlatformJob(Protocol):
    """The platform's half of one job: it answers the bank's frames."""

    def handle(self, frame: Frame) -> Frame: ...

    def model_part(self) -> PlatformLogisticPart | PlatformTreePart: ...


class TrainingProtocol(ABC):
    name: ClassVar[str]  # as the SDK, the CLI and the platform's job records name it
    prefix: ClassVar[str]  # of its frame kinds: ``<prefix>.open`` opens a job
    unit: ClassVar[str]  # what one round is, for progress bars
    allows_missing: ClassVar[bool]  # whether the bank's features may have missing values
    open_kind: ClassVar[str]  # the frame that opens a job
    done_kind: ClassVar[str]  # the platform's answer when training has finished

    @abstractmethod
    def rounds(self, params: Any) -> int:
        """Rounds a job with these parameters runs at most."""

    @abstractmethod
    def bank_trainer(
        self,
        link: Link | Channel,
        *,
        job_id: str,
        params: Any,
        progress: Callable[[int, int], None] | None = None,
    ) -> BankTrainer: ...

    @abstractmethod
    def platform_job(self, features: pd.DataFrame, job_id: str) -> PlatformJob: ...

    @abstractmethod
    def bank_only_scores(
        self,
        params: Any,
        x: np.ndarray,
        y: np.ndarray,
        train: np.ndarray,
        test: np.ndarray,
        features: Sequence[str] | None = None,
    ) -> np.ndarray:
        """Raw scores on ``test`` of the model the bank trains alone on its own features (``features``
        names the columns of ``x``, for parameters that name columns)."""
