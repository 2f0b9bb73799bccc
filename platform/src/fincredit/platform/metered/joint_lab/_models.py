"""The platform's half of a joint model as stored JSON, and back."""

from __future__ import annotations

import dataclasses
from typing import Any

from fincredit.federation.joint_model import (
    BankLogisticPart,
    PlatformLogisticPart,
    PlatformSplit,
    PlatformTreePart,
)
from fincredit.federation.scoring import LogisticDeposit, PlatformScoringModel

__all__ = ["deposit_from_json", "part_from_json", "part_to_json", "scoring_model"]


def part_to_json(part: PlatformLogisticPart | PlatformTreePart) -> dict[str, Any]:
    if isinstance(part, PlatformTreePart):
        return {
            "model_id": part.model_id,
            "platform_features": list(part.platform_features),
            "splits": {str(k): dataclasses.asdict(v) for k, v in part.splits.items()},
        }
    return dataclasses.asdict(part)


def part_from_json(algorithm: str, data: dict[str, Any]) -> PlatformLogisticPart | PlatformTreePart:
    if algorithm == "secureboost":
        return PlatformTreePart(
            model_id=str(data["model_id"]),
            platform_features=[str(f) for f in data["platform_features"]],
            splits={int(k): PlatformSplit(**v) for k, v in data["splits"].items()},
        )
    return PlatformLogisticPart(**data)


def deposit_from_json(data: dict[str, Any]) -> BankLogisticPart:
    return BankLogisticPart(
        model_id=str(data["model_id"]),
        features=[str(f) for f in data["features"]],
        weights=[float(w) for w in data["weights"]],
        intercept=float(data["intercept"]),
    )


def scoring_model(
    algorithm: str, platform_part: dict[str, Any], deposit: dict[str, Any] | None
) -> PlatformScoringModel:
    part = part_from_json(algorithm, platform_part)
    if isinstance(part, PlatformLogisticPart) and deposit is not None:
        return LogisticDeposit(platform=part, bank=deposit_from_json(deposit))
    return part
