"""The platform's self-check replays its own ledger and compares the consents table with the state the log
implies: on a ledger written through the lifecycle and the gate it finds nothing; a consent row changed
behind the lifecycle's back is named with the field that drifted, and shows in the metrics and on the
regulator's ledger status page. Each run replays only what was appended since the last one."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from fincredit.consent import FetchType
from fincredit.platform.consents import authorize_access, last_self_check, run_self_check
from fincredit.platform.consents.capability import CAPABILITY
from fincredit.platform.core.services import Services, build_services
from fincredit.platform.identity.principal import Principal
from fincredit.platform.testing.plugin import (
    PG_ADMIN_URL,
    _pg_conn,
    make_settings,
    new_institution,
    staff_web_login,
    with_web_password,
)
from fincredit.platform.testing.seed import grant_consent, new_enterprise

pytestmark = pytest.mark.slow
SCOPES = frozenset({"tax_rating"})
PURPOSE = "loan_application_assessment"
PASSWORD = "staff-pass-2026"


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def fresh(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Services]:
    """A database of its own: the shared one holds consents other tests wrote straight into the table."""
    tmp: Path = tmp_path_factory.mktemp("selfcheck")
    name = f"fincredit_selfcheck_{uuid.uuid4().hex[:12]}"
    if request.param == "sqlite":
        url = f"sqlite:///{tmp / 'platform.db'}"
    else:
        with _pg_conn() as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        base = PG_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1)
        url = f"{base}/{name}"
    services = build_services(make_settings(tmp / "var", url))
    try:
        yield services
    finally:
        services.close()
        if request.param == "postgresql":
            with _pg_conn() as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _bank(services: Services) -> Principal:
    inst = new_institution(services, "bank")
    return Principal(
        account_id=inst.account_id, account_kind="institution", org_id=inst.org_id, org_kind="bank",
        domain=inst.org_id,
    )  # fmt: skip


def _use(services: Services, bank: Principal, sid: int) -> None:
    with services.tx() as session:
        authorize_access(
            session, services, principal=bank, subject=sid, scopes=SCOPES, purpose=PURPOSE, mode="query",
            route="/test",
        )  # fmt: skip


def _gauges(services: Services) -> dict[str, float]:
    assert CAPABILITY.gauges is not None
    with services.read() as session:
        return {name: value for _, name, value in CAPABILITY.gauges(session)}


def test_a_ledger_written_through_the_lifecycle_agrees_with_the_table_and_authorises_every_access(
    fresh: Services,
) -> None:
    bank = _bank(fresh)
    _, sid = new_enterprise(fresh)
    grant_consent(fresh, sid, bank.org_id, scopes=SCOPES)
    grant_consent(
        fresh,
        sid,
        bank.org_id,
        scopes=SCOPES,
        fetch=FetchType.ONETIME,
        purpose="credit_report",
        modes=["report"],
    )
    for _ in range(3):
        _use(fresh, bank, sid)
    first = run_self_check(fresh)
    assert first.ok, first.lines()
    assert first.report.accesses == 3 and first.report.consents == 2 and first.replayed == first.size

    _use(fresh, bank, sid)
    second = run_self_check(fresh)
    assert second.ok, second.lines()
    assert second.replayed == second.size - first.size == 1  # resumed where the first run stopped
    assert second.report.accesses == 4
    gauges = _gauges(fresh)
    assert gauges["consent_log_drift"] == 0 and gauges["authorisation_violations"] == 0
    assert gauges["ledger_self_check_size"] == second.size


def test_a_row_changed_behind_the_lifecycle_is_named_in_the_metrics_and_on_the_regulators_page(
    fresh: Services,
) -> None:
    from fincredit.platform.core.app import create_app

    bank = _bank(fresh)
    _, sid = new_enterprise(fresh)
    cid = grant_consent(fresh, sid, bank.org_id, scopes=SCOPES)
    _use(fresh, bank, sid)
    with fresh.tx() as session:  # plain SQL: what the lifecycle guard cannot see
        session.execute(text("UPDATE consents SET use_count = 7 WHERE id = :id"), {"id": cid})
    result = run_self_check(fresh)
    assert not result.ok and result.differences == 1 and result.report.ok
    assert any(f"consent {cid}: use_count is 7 in the table, 1 in the log" in line for line in result.lines())
    assert _gauges(fresh)["consent_log_drift"] == 1
    with fresh.read() as session:
        recorded = last_self_check(session)
        assert recorded is not None and recorded.differences == 1

    regulator = new_institution(fresh, "regulator")
    username = with_web_password(fresh, regulator, PASSWORD)
    client = TestClient(create_app(services=fresh))
    login = staff_web_login(client, fresh, username, PASSWORD)
    assert login.status_code == 303, login.text
    page = client.get("/web/regulator/status")
    assert page.status_code == 200, page.text
    assert 'id="self-check"' in page.text and f"consent {cid}: use_count" in page.text
