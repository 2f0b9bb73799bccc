"""What every component of the synthetic city shares: its clock, one random stream per component, and
the Arrow helpers that turn numpy draws into typed columns."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa

DEFAULT_AS_OF = dt.date(2025, 6, 30)
PLATFORM_START = np.datetime64("2021-01", "M")  # submissions before this are back-filled in one month
_EPOCH = dt.date(1970, 1, 1)
COMPONENTS = ("enterprises", "persons", "records", "defects", "market", "loans")


def component_rng(seed: int, component: str) -> np.random.Generator:
    # Equal to SeedSequence(seed).spawn(6)[i]: each component has its own stream, so regenerating one
    # part (the damaged submissions, when writing them one at a time) reproduces it exactly.
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(COMPONENTS.index(component),)))


def to_days(d: dt.date) -> int:
    return (d - _EPOCH).days


def date_array(days: np.ndarray, valid: np.ndarray | None = None) -> pa.Array:
    arr = pa.array(days.astype(np.int32), type=pa.int32(), mask=None if valid is None else ~valid)
    return arr.cast(pa.date32())


def sigmoid(x: np.ndarray) -> np.ndarray:
    return np.asarray(1.0 / (1.0 + np.exp(-x)))


def std(x: np.ndarray) -> np.ndarray:
    s = x.std()
    return np.asarray((x - x.mean()) / (s if s > 0 else 1.0))


def month_strings(days: np.ndarray) -> pa.Array:
    if len(days) == 0:
        return pa.array([], pa.string())
    months = days.astype("datetime64[D]").astype("datetime64[M]")
    lo, hi = months.min(), months.max()
    table = np.arange(lo, hi + 1).astype(str)
    return pa.array(table.tolist(), type=pa.string()).take(pa.array((months - lo).astype(np.int64)))
