"""Encrypted (CKKS) scoring of joint models: the platform party, the protocols and their references.

The bank side is :class:`fincredit.federation.scorer.EncryptedScorer`. The platform service mounts
:class:`ScoringHandler` (a runtime ``PartyHandler`` for frames of kind ``scoring.*``). Protocols and
what each party learns are documented in :mod:`fincredit.federation._scoring_lr` (``lr-deposited``,
``lr-masked``, ``lr-partial``), :mod:`fincredit.federation._scoring_tree` (``tree-groups``,
``tree-masked``), :mod:`fincredit.federation._scoring_masked`, and ``federation/docs/encrypted_scoring.md``.
"""

from fincredit.federation._scoring_ckks import (
    DEFAULT_BFV_PARAMS,
    DEFAULT_PARAMS,
    LR_BFV_PARAMS,
    BfvParams,
    CkksParams,
    ScoringLimits,
    make_bank_context,
    public_context_bytes,
)
from fincredit.federation._scoring_lr import (
    LR_DEPOSITED,
    LR_MASKED,
    LR_PARTIAL,
    LogisticDeposit,
    deposit_bank_half,
    plaintext_logistic_logit,
    sigmoid,
    standardise,
)
from fincredit.federation._scoring_messages import ScoringRequest, ScoringResult
from fincredit.federation._scoring_platform import (
    REQUEST_KIND,
    RESULT_KIND,
    Authorize,
    ModelLookup,
    PlatformFeatures,
    PlatformScoringModel,
    ScoringHandler,
    ScoringReport,
    error_frame,
)
from fincredit.federation._scoring_tree import (
    TREE_GROUPS,
    TREE_MASKED,
    CompiledTrees,
    compile_trees,
    plaintext_tree_raw,
    split_lightgbm_model,
)

__all__ = [
    "DEFAULT_BFV_PARAMS",
    "DEFAULT_PARAMS",
    "LR_BFV_PARAMS",
    "LR_DEPOSITED",
    "LR_MASKED",
    "LR_PARTIAL",
    "REQUEST_KIND",
    "RESULT_KIND",
    "TREE_GROUPS",
    "TREE_MASKED",
    "Authorize",
    "BfvParams",
    "CkksParams",
    "CompiledTrees",
    "LogisticDeposit",
    "ModelLookup",
    "PlatformFeatures",
    "PlatformScoringModel",
    "ScoringHandler",
    "ScoringLimits",
    "ScoringReport",
    "ScoringRequest",
    "ScoringResult",
    "compile_trees",
    "deposit_bank_half",
    "error_frame",
    "make_bank_context",
    "plaintext_logistic_logit",
    "plaintext_tree_raw",
    "public_context_bytes",
    "sigmoid",
    "split_lightgbm_model",
    "standardise",
]
