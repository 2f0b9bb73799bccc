"""Bucketed KKRT PSI from Parquet: bounded buckets, one alignment, resumable after a dropped connection."""

from __future__ import annotations

import random
from pathlib import Path

import pandas as pd
import pytest

from fincredit.federation import (
    Frame,
    FrameRouter,
    LocalLink,
    PartyError,
    PlatformConnection,
    PlatformPsiParty,
)
from fincredit.federation._psi_buckets import align_parquet
from fincredit.federation.errors import PsiInputError

BANK = "bank-1"


def _parquet(tmp_path: Path, ids: list[str]) -> Path:
    path = tmp_path / "applicants.parquet"
    pd.DataFrame({"uscc": ids, "amount": range(len(ids))}).to_parquet(path, row_group_size=300)
    return path


def _platform(subjects: list[str]) -> tuple[PlatformPsiParty, dict[str, object], list[Frame]]:
    party = PlatformPsiParty(lambda request: subjects)
    router = FrameRouter()
    router.register("psi.", party.handle)
    state: dict[str, object] = {"drop_after_bases": None, "router": router}
    seen: list[Frame] = []

    def handler(frame: Frame) -> Frame:
        seen.append(frame)
        limit = state["drop_after_bases"]
        bases = sum(1 for f in seen if f.kind == "psi.base")
        if isinstance(limit, int) and frame.kind == "psi.base" and bases > limit:
            raise ConnectionResetError("connection to the platform dropped")
        return router.handle(frame, bank_id=BANK)

    state["link"] = LocalLink(handler)
    return party, state, seen


def _connect(state: dict[str, object]) -> PlatformConnection:
    link = state["link"]
    assert isinstance(link, LocalLink)
    return PlatformConnection.over(link, timeout=30, retries=0)


def test_parquet_buckets_align_like_one_set(tmp_path: Path) -> None:
    rng = random.Random(5)
    universe = [f"91330200MA{i:08d}" for i in range(6000)]
    bank_ids, platform_ids = rng.sample(universe, 2000), rng.sample(universe, 3000)
    party, state, seen = _platform(platform_ids)
    bank = align_parquet(
        lambda: _connect(state),
        "job-pq",
        _parquet(tmp_path, bank_ids),
        id_column="uscc",
        workdir=tmp_path / "wd",
        bucket_rows=400,
        batch_rows=700,
        use_ray=False,
        parallel=2,
        progress=False,
    )
    plat = party.alignment("job-pq", bank_id=BANK)
    assert set(bank.ids) == set(bank_ids) & set(platform_ids)
    assert bank.ids == plat.ids and bank.alignment_id == plat.alignment_id
    assert [bank_ids[r] for r in bank.rows] == bank.ids
    # 2,000 rows in buckets of 400: five independent PSIs, each with its own base OTs.
    assert sum(1 for f in seen if f.kind == "psi.base") == 5


def test_a_dropped_connection_resumes_without_redoing_finished_buckets(tmp_path: Path) -> None:
    ids = [f"330203199001{i:06d}" for i in range(1500)]
    party, state, seen = _platform(ids[500:] + [f"X{i}" for i in range(300)])
    path = _parquet(tmp_path, ids)
    run = dict(id_column="uscc", workdir=tmp_path / "wd", bucket_rows=300, use_ray=False, progress=False)

    state["drop_after_bases"] = 2
    with pytest.raises(PartyError, match="dropped"):
        align_parquet(lambda: _connect(state), "job-r", path, **run)  # type: ignore[arg-type]
    done_before = {f.meta["bucket"] for f in seen if f.kind == "psi.match"}
    assert len(done_before) == 2

    state["drop_after_bases"] = None
    seen.clear()
    bank = align_parquet(lambda: _connect(state), "job-r", path, **run)  # type: ignore[arg-type]
    redone = {f.meta["bucket"] for f in seen if f.kind == "psi.base"}
    assert redone == set(range(5)) - done_before
    assert sorted(bank.ids) == sorted(ids[500:])
    assert bank.alignment_id == party.alignment("job-r", bank_id=BANK).alignment_id


def test_duplicate_and_missing_ids_in_parquet_are_refused(tmp_path: Path) -> None:
    _, state, _ = _platform(["A"])
    dup = _parquet(tmp_path, ["A1", "B2", "a1 "])
    with pytest.raises(PsiInputError, match="more than once"):
        align_parquet(
            lambda: _connect(state), "job-d", dup, id_column="uscc", workdir=tmp_path, use_ray=False
        )
    (tmp_path / "e").mkdir()
    empty = _parquet(tmp_path / "e", ["A1", "  "])
    with pytest.raises(PsiInputError, match="empty"):
        align_parquet(
            lambda: _connect(state), "job-e", empty, id_column="uscc", workdir=tmp_path, use_ray=False
        )
