"""``fincredit-bank``: align a CSV against the platform, keep job state, resume, report failures."""

from __future__ import annotations

import pandas as pd
import pytest
from typer.testing import CliRunner

from fincredit.federation import Frame, FrameRouter, LocalLink, PlatformConnection, PlatformPsiParty, cli

runner = CliRunner()


@pytest.fixture
def platform(monkeypatch: pytest.MonkeyPatch) -> dict[str, object]:
    state: dict[str, object] = {"fail": False, "connects": 0}
    party = PlatformPsiParty(lambda request: [f"9133{i:014d}" for i in range(0, 200, 2)])
    router = FrameRouter()
    router.register("psi.", party.handle)

    def handler(frame: Frame) -> Frame:
        if state["fail"] and frame.kind == "psi.oprf":
            raise ConnectionResetError("platform went away")
        return router.handle(frame, bank_id="bank-1")

    def connect(url: str, token: str, *, timeout: float, verify: bool | str) -> PlatformConnection:
        assert token == "secret-token" and url == "https://platform.test"
        state["connects"] = int(str(state["connects"])) + 1
        return PlatformConnection.over(LocalLink(handler), timeout=timeout, retries=0)

    monkeypatch.setattr(cli, "_connect", connect)
    monkeypatch.setenv("FINCREDIT_TOKEN", "secret-token")
    state["party"] = party
    return state


def _csv(tmp_path) -> str:
    path = tmp_path / "applicants.csv"
    pd.DataFrame({"uscc": [f"9133{i:014d}" for i in range(100)], "amount": range(100)}).to_csv(
        path, index=False
    )
    return str(path)


def _align(tmp_path, *extra: str):
    return runner.invoke(
        cli.app,
        [
            "align",
            _csv(tmp_path),
            "--id-column",
            "uscc",
            "--platform",
            "https://platform.test",
            "--workdir",
            str(tmp_path / "wd"),
            "--no-progress",
            *extra,
        ],
    )


def test_align_writes_the_aligned_rows_and_records_the_job(tmp_path, platform) -> None:
    out = tmp_path / "aligned.csv"
    result = _align(tmp_path, "--job-id", "q4", "--out", str(out))
    assert result.exit_code == 0, result.output
    assert "q4\taligned 50 of 100 rows" in result.stdout
    aligned = pd.read_csv(out, dtype={"uscc": str})
    assert list(aligned.columns) == ["join_index", "row", "uscc"]
    assert len(aligned) == 50 and all(int(u[4:]) % 2 == 0 for u in aligned["uscc"])
    status = runner.invoke(cli.app, ["status", "q4", "--workdir", str(tmp_path / "wd")])
    assert status.exit_code == 0 and "q4\taligning\taligned 50 of 100 rows" in status.stdout
    # A rerun reuses the saved alignment instead of talking to the platform again.
    again = _align(tmp_path, "--job-id", "q4")
    assert again.exit_code == 0 and platform["connects"] == 1
    jobs = runner.invoke(cli.app, ["jobs", "--workdir", str(tmp_path / "wd")])
    assert "q4" in jobs.stdout


def test_platform_failure_marks_the_job_failed_and_a_rerun_recovers(tmp_path, platform) -> None:
    platform["fail"] = True
    result = _align(tmp_path, "--job-id", "q5")
    assert result.exit_code == 2
    assert "job q5 failed" in result.output and "platform went away" in result.output
    status = runner.invoke(cli.app, ["status", "q5", "--workdir", str(tmp_path / "wd")])
    assert status.exit_code == 1 and "failed" in status.stdout
    platform["fail"] = False
    assert _align(tmp_path, "--job-id", "q5").exit_code == 0


def test_missing_token_is_a_clear_error(tmp_path, platform, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FINCREDIT_TOKEN")
    result = _align(tmp_path, "--job-id", "q6")
    assert result.exit_code == 2 and "FINCREDIT_TOKEN" in result.output


def test_a_bank_may_choose_the_ecdh_protocol(tmp_path, platform) -> None:
    result = _align(tmp_path, "--job-id", "q7", "--protocol", "ecdh")
    assert result.exit_code == 0, result.output
    assert "q7\taligned 50 of 100 rows" in result.stdout
    assert platform["party"].status("q7", bank_id="bank-1")["protocol"].startswith("ecdh-psi/")
    assert _align(tmp_path, "--job-id", "q8", "--protocol", "rsa").exit_code == 2


def test_parquet_input_aligns_in_buckets_and_a_rerun_resumes_after_a_drop(tmp_path, platform) -> None:
    path = tmp_path / "applicants.parquet"
    pd.DataFrame({"uscc": [f"9133{i:014d}" for i in range(100)]}).to_parquet(path)
    args = ["align", str(path), "--id-column", "uscc", "--platform", "https://platform.test"]
    args += ["--workdir", str(tmp_path / "wd"), "--no-progress", "--no-ray", "--bucket-rows", "30"]
    platform["fail"] = True
    failed = runner.invoke(cli.app, [*args, "--job-id", "p1"])
    assert failed.exit_code == 2 and "platform went away" in failed.output
    platform["fail"] = False
    result = runner.invoke(cli.app, [*args, "--job-id", "p1"])
    assert result.exit_code == 0, result.output
    assert "p1\taligned 50 of 100 rows" in result.stdout
