"""Vertical logistic regression's parameters (both parties read them from the job's open frame)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["LogisticParams"]


@dataclass(slots=True)
class LogisticParams:
    l2: float = 1e-3
    iterations: int = 7
    learning_rate: float = 2.0
    momentum: float = 0.2
    # Each party steps along (its block of the fixed Hessian bound)^-1 · gradient; off, plain gradient
    # descent needs ~80 rounds with momentum 0.9 and step 1 for the same fit.
    precondition: bool = True
    # Degree of the per-row sigmoid interpolation in the platform's partial logit; k+1 coefficients
    # travel in ceil((k+1)/2) ciphertexts per 4096 rows, so odd degrees use them fully.
    degree: int = 5
    # Interpolation range T: None lets the platform publish each round the ``range_quantile`` of its
    # |z_p| (rounded up to 0.5); a number fixes a public T.
    logit_range: float | None = None
    range_quantile: float = 0.999
