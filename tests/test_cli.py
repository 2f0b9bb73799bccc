"""The operator's command line administers the same database the service uses."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from fincredit.platform.cli.app import app
from fincredit.platform.core.settings import get_settings

runner = CliRunner()


@pytest.fixture
def var_dir(tmp_path, monkeypatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("FINCREDIT_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.delenv("FINCREDIT_DATABASE_URL", raising=False)
    get_settings.cache_clear()
    yield tmp_path / "var"
    get_settings.cache_clear()


def test_db_upgrade_then_administer(var_dir, tmp_path) -> None:  # type: ignore[no-untyped-def]
    r = runner.invoke(app, ["db", "upgrade"])
    assert r.exit_code == 0, r.output
    assert (var_dir / "fincredit.db").exists()
    r = runner.invoke(app, ["org", "create", "nb-bank", "--kind", "bank", "--name", "宁波示范银行"])
    assert r.exit_code == 0 and "created organisation" in r.output
    key_file = tmp_path / "risk.key.pem"
    r = runner.invoke(
        app,
        [
            "account",
            "create",
            "--org",
            "nb-bank",
            "--username",
            "risk-api",
            "--real-name",
            "陈风控",
            "--use",
            "credit queries",
            "--key-out",
            str(key_file),
        ],
    )
    assert r.exit_code == 0, r.output
    assert key_file.read_text().startswith("-----BEGIN PRIVATE KEY-----")
    assert oct(key_file.stat().st_mode & 0o777) == "0o600"
    r = runner.invoke(app, ["org", "list"])
    assert "nb-bank" in r.output


def test_errors_are_reported_not_raised(var_dir) -> None:  # type: ignore[no-untyped-def]
    r = runner.invoke(app, ["org", "create", "x", "--kind", "bank", "--name", "too short id"])
    assert r.exit_code == 2 and "invalid-input" in r.output
    r = runner.invoke(app, ["org", "create", "nb-tax", "--kind", "tax office", "--name", "税务"])
    assert r.exit_code == 2 and "unknown organisation kind" in r.output


def test_demo_data_writes_a_seeded_city(var_dir, tmp_path) -> None:  # type: ignore[no-untyped-def]
    import json

    out = tmp_path / "city"
    r = runner.invoke(app, ["demo-data", str(out), "--enterprises", "1000", "--seed", "7"])
    assert r.exit_code == 0, r.output
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["files"]["enterprises.parquet"]["rows"] == 1000
    assert any(name.startswith("submissions/") for name in manifest["files"])


def test_staff_get_a_web_password_from_the_operator(var_dir, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy import select

    from fincredit.platform.core.db import Account
    from fincredit.platform.core.services import build_services
    from fincredit.platform.identity.tokens import authenticate_password

    runner.invoke(app, ["db", "upgrade"])
    runner.invoke(app, ["org", "create", "nb-regulator", "--kind", "regulator", "--name", "宁波金融监管局"])
    r = runner.invoke(
        app,
        [
            "account",
            "create",
            "--org",
            "nb-regulator",
            "--username",
            "zhao",
            "--real-name",
            "赵监管",
            "--use",
            "supervision",
            "--key-out",
            str(tmp_path / "zhao.pem"),
        ],
    )
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["account", "set-password", "zhao"], input="short\nshort\n")
    assert r.exit_code == 2 and "at least 10 characters" in r.output
    r = runner.invoke(
        app, ["account", "set-password", "zhao"], input="a-long-passphrase\na-long-passphrase\n"
    )
    assert r.exit_code == 0 and "password set for zhao" in r.output
    r = runner.invoke(
        app, ["account", "set-password", "nobody"], input="a-long-passphrase\na-long-passphrase\n"
    )
    assert r.exit_code == 2 and "no account" in r.output
    services = build_services(get_settings())
    with services.read() as session:
        account = authenticate_password(session, "zhao", "a-long-passphrase")
        assert session.scalar(select(Account.org_id).where(Account.id == account.id)) == "nb-regulator"
