"""The leak test: every byte the bank and the platform exchange while training both joint models is
captured, and no label, raw feature value (of either side) or identifier appears in any of it."""

from __future__ import annotations

import random

import numpy as np
import pandas as pd
import pytest
import tenseal as ts

from fincredit.consent.identifiers import generate_uscc
from fincredit.federation import (
    FederationError,
    Frame,
    JointModel,
    LocalLink,
    LogisticParams,
    PartyError,
    PlatformTrainingParty,
    SecureBoostParams,
    WireError,
)
from fincredit.federation.wire import decode

BANK = ["loan_amount", "tenor_days", "bank_score"]
PLATFORM = ["tax_paid", "invoice_volume", "utility_spend"]


class _Haystack:
    """Finds byte patterns (8 bytes or longer) anywhere in a transcript, at every alignment, quickly."""

    def __init__(self, frames: list[bytes]) -> None:
        self.data = b"\x00".join(frames)
        n = len(self.data)
        self._windows = [
            np.frombuffer(self.data, dtype="<u8", count=(n - o) // 8, offset=o) for o in range(8)
        ]

    def found(self, patterns: list[bytes]) -> list[bytes]:
        patterns = [p for p in patterns if len(p) >= 8]
        keys: dict[int, list[bytes]] = {}
        for p in patterns:
            keys.setdefault(int(np.frombuffer(p[:8], dtype="<u8")[0]), []).append(p)
        wanted = np.fromiter(keys, dtype=np.uint64)
        hits = []
        for offset, windows in enumerate(self._windows):
            for i in np.nonzero(np.isin(windows, wanted))[0]:
                pos = offset + 8 * int(i)
                key = int(windows[i])
                hits.extend(p for p in keys[key] if self.data.startswith(p, pos))
        return hits


def _parties(
    n_bank: int = 700, n_common: int = 500, seed: int = 11
) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    rng = np.random.default_rng(seed)
    ids = random.Random(seed)
    bank_ids = [generate_uscc(ids) for _ in range(n_bank)]
    platform_only = [generate_uscc(ids, region="330281") for _ in range(300)]
    bank = pd.DataFrame(rng.uniform(1000, 9000, size=(n_bank, 3)), columns=BANK)
    bank.insert(0, "uscc", bank_ids)
    platform = pd.DataFrame(rng.uniform(100, 900, size=(n_common, 3)), columns=PLATFORM)
    # the first n_common bank rows are the intersection, already in join order (the PSI's output)
    common = bank.iloc[:n_common]
    logit = (common["bank_score"] - 5000) / 1500 + (platform["tax_paid"].to_numpy() - 500) / 120
    bank["default"] = 0
    bank.loc[: n_common - 1, "default"] = (rng.random(n_common) < 1 / (1 + np.exp(-logit))).astype(int)
    return bank, platform, platform_only


def _raw_value_patterns(values: np.ndarray) -> list[bytes]:
    patterns: list[bytes] = []
    for v in values.ravel():
        patterns += [np.float64(v).tobytes(), np.array(v, dtype=">f8").tobytes(), repr(float(v)).encode()]
        patterns += [f"{v:.6f}".encode(), f"{v:.4f}".encode()]
    for order in (values, values.T):  # float32 arrays by row or by column hold adjacent pairs
        flat = np.ascontiguousarray(order, dtype="<f4").ravel()
        patterns += [flat[i : i + 2].tobytes() for i in range(flat.size - 1)]
    return patterns


def _label_patterns(y: np.ndarray) -> list[bytes]:
    """Runs of consecutive labels in every plausible encoding; a run must mix at least three of each
    class, so that it says something about the labels (eight zero bytes say nothing)."""
    y = y.astype(np.int64)

    def informative(start: int, count: int) -> bool:
        ones = int(y[start : start + count].sum())
        return ones >= 3 and count - ones >= 3

    patterns = []
    for dtype, count in (("<u1", 24), ("<f8", 8), ("<i8", 8), ("<i4", 8), ("<f4", 8)):
        size = np.dtype(dtype).itemsize
        raw = y.astype(dtype).tobytes()
        patterns += [
            raw[i * size : (i + count) * size] for i in range(y.size - count) if informative(i, count)
        ]
    bits = np.packbits(y.astype(bool)).tobytes()
    patterns += [bits[i : i + 8] for i in range(len(bits) - 7) if informative(8 * i, 64)]
    text = ",".join(str(int(v)) for v in y).encode()
    patterns += [text[2 * i : 2 * i + 40] for i in range(y.size - 19) if informative(i, 20)]
    return patterns


@pytest.mark.slow
def test_training_transcript_carries_no_label_feature_value_or_identifier() -> None:
    bank, platform, platform_only = _parties()
    party = PlatformTrainingParty(lambda job_id, bank_id: platform)
    link = LocalLink(party, record=True)
    aligned = bank.iloc[:500]
    sdk = JointModel(
        link,
        logistic=LogisticParams(iterations=3),
        secureboost=SecureBoostParams(n_trees=2, max_depth=2, max_bin=8, min_data_in_leaf=20),
        progress=False,
    )
    common = {"id_column": "uscc", "label": "default", "features": BANK, "platform_features": PLATFORM}
    lr = sdk.fit(aligned, algorithm="logistic", job_id="leak-lr", **common)
    sb = sdk.fit(aligned, algorithm="secureboost", job_id="leak-sb", **common)
    for fit in (lr, sb):
        assert fit.report.bytes_sent > 0 and fit.report.bytes_received > 0
        assert 0.5 < fit.report.auc_joint <= 1.0
    assert lr.report.auc_uplift > 0.02, "the platform's tax feature carries signal the bank lacks"

    assert link.transcript is not None
    frames = [data for _, data in link.transcript]
    haystack = _Haystack(frames)
    assert haystack.found(_raw_value_patterns(bank[BANK].to_numpy())) == []
    assert haystack.found(_raw_value_patterns(platform[PLATFORM].to_numpy())) == []
    assert haystack.found(_label_patterns(aligned["default"].to_numpy())) == []
    identifiers = [*bank["uscc"], *platform_only]
    assert (
        haystack.found([i.encode() for i in identifiers] + [i.encode("utf-16-le") for i in identifiers]) == []
    )

    opened = [decode(data) for _, data in link.transcript if decode(data).kind in ("lr.open", "sb.open")]
    assert len(opened) == 2
    for frame in opened:
        context = ts.context_from(frame.blobs[0])
        assert not context.is_private() and not context.has_secret_key()


def test_oversized_frames_are_refused_before_the_platform_sees_them() -> None:
    bank, platform, _ = _parties(n_bank=60, n_common=60)
    party = PlatformTrainingParty(lambda job_id, bank_id: platform)
    link = LocalLink(party, max_bytes=64 * 1024)  # a public CKKS context alone is larger
    sdk = JointModel(link, logistic=LogisticParams(iterations=1), progress=False)
    with pytest.raises((WireError, PartyError), match="exceeds"):
        sdk.fit(
            bank,
            id_column="uscc",
            label="default",
            features=BANK,
            platform_features=PLATFORM,
            algorithm="logistic",
        )
    assert not party._jobs


def test_a_bank_cannot_drive_another_banks_training_job() -> None:
    _, platform, _ = _parties(n_bank=60, n_common=60)
    party = PlatformTrainingParty(lambda job_id, bank_id: platform)
    with pytest.raises(PartyError, match="no training job"):
        party.handle(Frame(kind="lr.step", job_id="job-of-bank-a", meta={"iteration": 0}), "bank-b")
    with pytest.raises(FederationError, match="unknown LR frame"):
        from fincredit.federation.training import PlatformLogisticJob

        PlatformLogisticJob(platform).handle(Frame(kind="lr.steal"))


def test_the_leak_detector_finds_each_kind_of_leak() -> None:
    bank, platform, _ = _parties(n_bank=80, n_common=60)
    values = platform[PLATFORM].to_numpy()
    y = bank["default"].to_numpy()[:60]
    leaks = [
        values[:, 1].astype("<f4").tobytes(),  # a float32 column
        f'{{"x": {float(values[7, 2])!r}}}'.encode(),  # a value as JSON text
        np.packbits(y.astype(bool)).tobytes(),  # labels as bits
        bank["uscc"].iloc[70].encode(),  # a non-intersecting identifier
    ]
    for leak in leaks:
        haystack = _Haystack([b"\x01" * 1000, b"prefix" + leak + b"suffix"])
        patterns = _raw_value_patterns(values) + _label_patterns(y) + [i.encode() for i in bank["uscc"]]
        assert haystack.found(patterns), leak[:20]
