"""The backup and restore runbook (infra/BACKUP.md) on loopback PostgreSQL: a signed tree head taken before
the dump, ``pg_dump``, ``pg_restore`` into a new database, and the ledger exported from the restored
database verifies against that same tree head with ``fincredit-consent verify``."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import psycopg
import pytest

from fincredit.platform.consents import export_ledger, latest_checkpoint
from fincredit.platform.core.services import Services, build_services
from fincredit.platform.core.tasks import conninfo
from fincredit.platform.testing.plugin import PG_ADMIN_URL, make_settings, new_institution
from fincredit.platform.testing.seed import grant_consent, new_enterprise

FINCREDIT = str(Path(sys.executable).with_name("fincredit"))
FINCREDIT_CONSENT = str(Path(sys.executable).with_name("fincredit-consent"))
pytestmark = pytest.mark.skipif(
    shutil.which("pg_dump") is None or shutil.which("pg_restore") is None,
    reason="the PostgreSQL client tools (pg_dump, pg_restore) are not installed",
)


def _run(*command: str) -> str:
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"{command[0]} failed: {done.stdout}{done.stderr}"
    return done.stdout


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_a_restored_backup_verifies_against_the_tree_head_signed_before_the_dump(
    services: Services, tmp_path: Path
) -> None:
    _, subject = new_enterprise(services)
    grant_consent(services, subject, new_institution(services, "bank").org_id)
    # 1. The signed tree head, kept apart from the backup (`fincredit consents checkpoint > head.note`).
    head = latest_checkpoint(services, fresh=True)
    (tmp_path / "head.note").write_text(head.note, encoding="utf-8")
    (tmp_path / "platform.pub.pem").write_text(services.keyring.public_key_pem, encoding="utf-8")
    # 2. The dump.
    dump = tmp_path / "fincredit.dump"
    _run("pg_dump", "--format=custom", "--file", str(dump), conninfo(services.settings.resolved_database_url))

    restored = f"fincredit_restore_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{restored}"')
    try:
        # 3. Restore into a new database.
        restored_url = PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + restored
        _run(
            "pg_restore",
            "--no-owner",
            "--exit-on-error",
            "--single-transaction",
            "--dbname",
            restored_url,
            str(dump),
        )
        # 4. Export the restored ledger with the same keys and settings, pointed at the restored database.
        env = {
            **os.environ,
            "FINCREDIT_VAR_DIR": str(services.settings.var_dir),
            "FINCREDIT_DATABASE_URL": restored_url,
        }
        done = subprocess.run(
            [FINCREDIT, "consents", "export", str(tmp_path / "ledger.parquet")],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        exported = int(done.stdout.split()[0])
        assert exported == head.size
        # 5. ... and verify it against the tree head signed before the dump.
        verify = (
            FINCREDIT_CONSENT,
            "verify",
            "--key",
            str(tmp_path / "platform.pub.pem"),
            "--checkpoint",
            str(tmp_path / "head.note"),
            str(tmp_path / "ledger.parquet"),
        )
        report = _run(*verify)
        assert f"entries: {head.size}" in report
        assert report.rstrip().endswith("VERIFIED")

        # The restored ledger is append-only still; and the check has teeth: one entry altered by a
        # superuser who turned the triggers off, and the same head refuses the export.
        tamper = "UPDATE ledger_entries SET entry = entry || '\\x20'::bytea WHERE seq = 0"
        with psycopg.connect(restored_url, autocommit=True) as conn:
            with pytest.raises(psycopg.errors.RaiseException, match="append-only"):
                conn.execute(tamper)
            conn.execute("SET session_replication_role = replica")
            conn.execute(tamper)
        again = build_services(make_settings(services.settings.var_dir, restored_url), migrate=False)
        try:
            export_ledger(again, tmp_path / "ledger.parquet")
        finally:
            again.close()
        refused = subprocess.run(verify, capture_output=True, text=True, timeout=300)
        assert refused.returncode != 0, refused.stdout
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{restored}" WITH (FORCE)')
