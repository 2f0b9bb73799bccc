"""`make demo` runs this story; it must keep working as capabilities add their steps."""

from __future__ import annotations

import socket

import pytest

from fincredit.platform.core.settings import get_settings


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.slow
def test_the_demo_story_runs_end_to_end(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from fincredit.platform.demo.story import run_demo, story

    monkeypatch.setenv("FINCREDIT_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.delenv("FINCREDIT_DATABASE_URL", raising=False)
    monkeypatch.delenv("FINCREDIT_PUBLIC_URL", raising=False)
    get_settings.cache_clear()
    try:
        assert run_demo(port=_free_port(), keep_serving=False) == 0
    finally:
        get_settings.cache_clear()
    assert len(story()) >= 7
    assert (tmp_path / "var" / "demo" / "fincredit.db").exists()

    # The demo city's consents were all granted through the lifecycle: the log alone authorises every
    # access the story made (the regulator's authorisation replay finds no violation).
    from fincredit.consent import read_export, replay_authorisation
    from fincredit.platform.consents import export_ledger
    from fincredit.platform.core.services import build_services

    demo = get_settings().model_copy(update={"var_dir": tmp_path / "var" / "demo"})
    services = build_services(demo)
    try:
        export_ledger(services, tmp_path / "ledger.parquet")
    finally:
        services.close()
    report, _ = replay_authorisation(read_export(tmp_path / "ledger.parquet"))
    assert report.accesses > 0
    assert report.ok, report.lines()[:20]
