"""The training protocols a joint-modelling job can run, by name and by frame prefix."""

from __future__ import annotations

from fincredit.federation._secureboost import SecureBoost
from fincredit.federation._training_protocol import TrainingProtocol
from fincredit.federation._vertical_lr import VerticalLogistic
from fincredit.federation.errors import InputError

__all__ = ["BY_PREFIX", "PROTOCOLS", "training_protocol"]

PROTOCOLS: dict[str, TrainingProtocol] = {p.name: p for p in (VerticalLogistic(), SecureBoost())}
BY_PREFIX: dict[str, TrainingProtocol] = {p.prefix: p for p in PROTOCOLS.values()}


def training_protocol(name: str) -> TrainingProtocol:
    protocol = PROTOCOLS.get(name)
    if protocol is None:
        known = " or ".join(repr(n) for n in PROTOCOLS)
        raise InputError(f"unknown algorithm {name!r}: use {known}")
    return protocol
