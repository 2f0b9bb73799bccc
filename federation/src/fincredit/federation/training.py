"""Vertical federated training under CKKS: logistic regression and SecureBoost, bank and platform sides.

Most users want :class:`JointModel` (re-exported from ``fincredit.federation``); the trainers and the
platform jobs are here for services and tests that drive one protocol directly.
"""

from fincredit.federation._ckks import load_public_context, new_secret_context, public_context_bytes
from fincredit.federation._mlflow_log import log_bank_model
from fincredit.federation._protocols import PROTOCOLS, training_protocol
from fincredit.federation._sdk import EvaluationReport, JointFit, JointModel, evaluation_curves, ks_statistic
from fincredit.federation._secureboost import (
    BankSecureBoostTrainer,
    PlatformSecureBoostJob,
    SecureBoostParams,
    bin_feature,
    decrypt_sums,
    fit_plain,
    histogram_blobs,
    quantile_thresholds,
    tree_scores,
)
from fincredit.federation._training_party import PlatformTrainingParty
from fincredit.federation._training_protocol import BankTrainer, PlatformJob, TrainingProtocol
from fincredit.federation._vertical_lr import (
    BankLogisticTrainer,
    LogisticParams,
    PlatformLogisticJob,
    bank_logits,
    standardise,
)

__all__ = [
    "PROTOCOLS",
    "BankLogisticTrainer",
    "BankSecureBoostTrainer",
    "BankTrainer",
    "EvaluationReport",
    "JointFit",
    "JointModel",
    "LogisticParams",
    "PlatformJob",
    "PlatformLogisticJob",
    "PlatformSecureBoostJob",
    "PlatformTrainingParty",
    "SecureBoostParams",
    "TrainingProtocol",
    "bank_logits",
    "bin_feature",
    "decrypt_sums",
    "evaluation_curves",
    "fit_plain",
    "histogram_blobs",
    "ks_statistic",
    "load_public_context",
    "log_bank_model",
    "new_secret_context",
    "public_context_bytes",
    "quantile_thresholds",
    "standardise",
    "training_protocol",
    "tree_scores",
]
