"""The bank SDK: DataFrame and Arrow input, files in and out, the model-half files, the CLI sub-app."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from typer.testing import CliRunner

from fincredit.federation.joint_model import BankLogisticPart, BankTreePart, PlatformLogisticPart, TreeNode
from fincredit.federation.scorer import (
    EncryptedScorer,
    load_bank_part,
    save_bank_part,
    score_file,
    scoring_app,
)
from fincredit.federation.scoring import LogisticDeposit, ScoringHandler, plaintext_logistic_logit, sigmoid
from fincredit.federation.wire import LocalLink

BANK = BankLogisticPart("m", ["x1", "x2"], [0.4, -0.9], 0.1, [1.0, 2.0], [2.0, 0.5])
PLATFORM = PlatformLogisticPart("m", ["q"], [1.3])
N = 300
RNG = np.random.default_rng(4)
IDS = [f"110101199001{i:06d}" for i in range(N)]
XB = RNG.normal(size=(N, 2))
XP = RNG.normal(size=(N, 1))
ROW = {s: i for i, s in enumerate(IDS)}


def _scorer(**kwargs: object) -> EncryptedScorer:
    handler = ScoringHandler(
        models=lambda b, m: LogisticDeposit(PLATFORM, BANK),
        platform_features=lambda q, names: (XP[[ROW[s] for s in q]], np.ones(len(q), dtype=bool)),
        authorize=lambda b, q: ["revoked" if ROW[s] % 50 == 0 else None for s in q],
    )
    return EncryptedScorer(LocalLink(handler.local("bank-a")), BANK, id_column="applicant", **kwargs)  # type: ignore[arg-type]


def _df() -> pd.DataFrame:
    return pd.DataFrame({"applicant": IDS, "x1": XB[:, 0], "x2": XB[:, 1], "unused": 0})


def _expected() -> np.ndarray:
    return sigmoid(plaintext_logistic_logit(BANK, PLATFORM, XB, XP))


def test_arrow_tables_score_like_dataframes() -> None:
    out = _scorer().score(pa.Table.from_pandas(_df()))
    assert list(out.columns) == ["applicant", "score", "probability", "refused"]
    ok = out["refused"].isna().to_numpy()
    assert (~ok).sum() == 6 and set(out.loc[~ok, "refused"]) == {"revoked"}
    assert np.max(np.abs(out.loc[ok, "probability"].to_numpy() - _expected()[ok])) < 1e-4


def test_missing_columns_and_missing_ids_are_reported_before_anything_is_sent() -> None:
    with pytest.raises(KeyError, match="x2"):
        _scorer().score(_df().drop(columns=["x2"]))
    df = _df()
    df.loc[3, "applicant"] = None
    with pytest.raises(ValueError, match="missing"):
        _scorer().score(df)


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_files_are_scored_in_batches_with_ids_kept_as_text(tmp_path: Path, suffix: str) -> None:
    source, target = tmp_path / f"in{suffix}", tmp_path / f"out{suffix}"
    df = _df()
    df.to_csv(source, index=False) if suffix == ".csv" else df.to_parquet(source, index=False)

    summary = score_file(_scorer(), source, target, batch_rows=128)

    out = pd.read_csv(target, dtype={"applicant": str}) if suffix == ".csv" else pd.read_parquet(target)
    assert out["applicant"].tolist() == IDS
    assert summary.rows == N and summary.scored == N - 6 and summary.refusal_reasons == {"revoked": 6}
    ok = out["refused"].isna().to_numpy()
    assert np.max(np.abs(out.loc[ok, "probability"].to_numpy() - _expected()[ok])) < 1e-4


def test_model_halves_round_trip_through_their_json_files(tmp_path: Path) -> None:
    tree = BankTreePart(
        "t",
        base_score=0.1,
        learning_rate=0.3,
        trees=[
            [
                TreeNode(0, owner="platform", split_id=4, left=1, right=2),
                TreeNode(1, leaf_value=1.0),
                TreeNode(2, leaf_value=-1.0),
            ]
        ],
        bank_features=["x1"],
    )
    for part in (BANK, tree):
        path = tmp_path / f"{part.model_id}.json"
        save_bank_part(part, path)
        assert load_bank_part(path) == part


def test_the_cli_sub_app_refuses_to_run_without_a_token(tmp_path: Path) -> None:
    source = tmp_path / "in.csv"
    _df().to_csv(source, index=False)
    model = tmp_path / "m.json"
    save_bank_part(BANK, model)
    runner = CliRunner()
    assert "score" in runner.invoke(scoring_app, ["--help"]).output
    result = runner.invoke(
        scoring_app,
        [
            "score",
            str(source),
            str(tmp_path / "out.csv"),
            "--model",
            str(model),
            "--platform",
            "http://127.0.0.1:9",
            "--token-env",
            "FINCREDIT_TEST_NO_SUCH_TOKEN",
        ],
    )
    assert result.exit_code == 2


def test_the_bank_cli_offers_scoring_next_to_alignment() -> None:
    from fincredit.federation.cli import app

    output = CliRunner().invoke(app, ["scoring", "score", "--help"]).output
    assert "--model" in output and "--platform" in output
