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
