"""Storage behaves the same on SQLite and PostgreSQL: migrations, encryption at rest, blind index,
append-only audit trail, all-or-nothing transactions."""

from __future__ import annotations

import random
import uuid

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from fincredit.consent.identifiers import generate_resident_id, generate_uscc
from fincredit.platform.core.db import AuditEvent, Organisation, Subject, utcnow
from fincredit.platform.core.errors import Conflict, NotFound
from fincredit.platform.core.migrate import current, heads
from fincredit.platform.identity.accounts import create_organisation
from fincredit.platform.subjects import find_subject, register_subject, subject_name
from fincredit.platform.testing.plugin import unique


def _rng() -> random.Random:
    return random.Random(uuid.uuid4().int)


def test_database_is_at_the_latest_migration(services) -> None:  # type: ignore[no-untyped-def]
    url = services.settings.resolved_database_url
    assert current(url) == heads(url)


def test_identifiers_are_encrypted_at_rest_and_found_by_blind_index(services) -> None:  # type: ignore[no-untyped-def]
    code = generate_uscc(_rng(), "330212")
    with services.tx() as session:
        register_subject(session, services.keyring, code, "宁波测试有限公司")
    with services.read() as session:
        raw = session.execute(text("SELECT code_enc, code_bidx, code_masked FROM subjects")).all()
        assert all(code.encode() not in bytes(r[0]) and code not in r[1] for r in raw)
        found = find_subject(session, services.keyring, code.lower())
        assert found.code_masked == code[:4] + "*" * 10 + code[14:]
        assert subject_name(session, services.keyring, found) == "宁波测试有限公司"


def test_natural_person_names_are_encrypted(services) -> None:  # type: ignore[no-untyped-def]
    rid = generate_resident_id(_rng(), "330203")
    with services.tx() as session:
        subject = register_subject(session, services.keyring, rid, "李四")
    with services.read() as session:
        blob = session.execute(
            text("SELECT name_enc FROM natural_persons WHERE subject_id = :i"), {"i": subject.id}
        ).scalar_one()
        assert "李四".encode() not in bytes(blob)
        assert subject_name(session, services.keyring, session.get(Subject, subject.id)) == "李四"


def test_registering_twice_conflicts(services) -> None:  # type: ignore[no-untyped-def]
    code = generate_uscc(_rng(), "330203")
    with services.tx() as session:
        register_subject(session, services.keyring, code, "甲公司")
    with pytest.raises(Conflict), services.tx() as session:
        register_subject(session, services.keyring, code, "乙公司")


def test_a_failed_transaction_leaves_nothing_behind(services) -> None:  # type: ignore[no-untyped-def]
    org_id = unique("org")
    with pytest.raises(RuntimeError), services.tx() as session:
        create_organisation(session, org_id=org_id, kind="bank", name="半途银行")
        raise RuntimeError("crash after the insert")
    with services.read() as session:
        assert session.get(Organisation, org_id) is None


def test_unknown_subject_is_not_found(services) -> None:  # type: ignore[no-untyped-def]
    with services.read() as session, pytest.raises(NotFound):
        find_subject(session, services.keyring, generate_uscc(_rng(), "330205"))


def test_audit_trail_is_append_only(services) -> None:  # type: ignore[no-untyped-def]
    with services.tx() as session:
        session.add(
            AuditEvent(
                at=utcnow(),
                request_id="r1",
                method="GET",
                route="/x",
                path="/x",
                status=200,
                outcome="ok",
                duration_ms=1.0,
            )
        )
    for statement in ("UPDATE audit_events SET status = 500", "DELETE FROM audit_events"):
        with pytest.raises(DBAPIError, match="append-only"), services.tx() as session:
            session.execute(text(statement))
    with services.read() as session:
        assert session.scalar(select(AuditEvent).where(AuditEvent.request_id == "r1")) is not None


def test_migrations_go_down_and_up_again(db_url: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """On a scratch database of the same backend: the downgrade path works and re-upgrading is clean."""
    from fincredit.platform.core.migrate import downgrade, upgrade

    if db_url.startswith("sqlite"):
        url = f"sqlite:///{tmp_path / 'scratch.db'}"
        upgrade(url)
        downgrade(url, "base")
        upgrade(url)
        assert current(url) == heads(url)
        return
    import psycopg

    from fincredit.platform.testing.plugin import PG_ADMIN_URL

    name = f"fincredit_scratch_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = db_url.rsplit("/", 1)[0] + "/" + name
    try:
        upgrade(url)
        downgrade(url, "base")
        upgrade(url)
        assert current(url) == heads(url)
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_models_and_migrations_agree(services) -> None:  # type: ignore[no-untyped-def]
    """Autogenerate finds nothing to do: every table change came with its migration."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from fincredit.platform.core.db import Base
    from fincredit.platform.core.migrate import include_name
    from fincredit.platform.core.registry import load_tables

    load_tables()

    with services.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"include_name": include_name})
        diff = compare_metadata(context, Base.metadata)
    assert diff == []


def test_a_database_from_before_the_merge_revision_upgrades_to_the_single_head(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Installations upgraded while the capability branches were separate heads reach the one head."""
    from fincredit.platform.core.migrate import upgrade

    url = f"sqlite:///{tmp_path / 'branches.db'}"
    old_heads = (
        "0002_consent_ledger",
        "0004_market_objections",
        "0005_metering",
        "0006_free_services",
        "0007_federation",
        "0008_market_products_boards",
    )
    for head in old_heads:
        upgrade(url, head)
    assert current(url) == old_heads
    upgrade(url)
    assert current(url) == heads(url)
    assert len(heads(url)) == 1
