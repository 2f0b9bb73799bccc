"""Free means free (G§11): no free route ever writes a metering event — every route of the free and
government-sharing routers is called and ``usage_events`` does not grow — and the free router does
not import the metering package at all. Fairness is a per-institution rate limit instead: 429 with
Retry-After, still without a metering event."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from fastapi.routing import APIRoute
from sqlalchemy import func, select

import fincredit.platform.free as free_pkg
import fincredit.platform.free.router as free_router
import fincredit.platform.sharing as sharing_pkg
import fincredit.platform.sharing.router as gov_router
from fincredit.platform.free import Limit, limiter
from fincredit.platform.metered.billing.tables import UsageEvent
from fincredit.platform.testing.plugin import auth, new_institution
from fincredit.platform.testing.seed import grant_consent, load_records, new_enterprise


@pytest.fixture(autouse=True)
def _no_push_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FINCREDIT_PUSH_WORKER", "0")


def _usage(services) -> int:  # type: ignore[no-untyped-def]
    with services.read() as session:
        return int(session.scalar(select(func.count()).select_from(UsageEvent)) or 0)


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            names.add(("." * node.level) + (node.module or ""))
    return names


def test_free_modules_never_import_metering() -> None:
    files = [Path(free_router.__file__), Path(gov_router.__file__)]  # type: ignore[arg-type]
    for pkg in (free_pkg, sharing_pkg):
        files += sorted(Path(pkg.__file__).parent.glob("*.py"))  # type: ignore[arg-type]
    for path in files:
        bad = [n for n in _imports(path) if "metering" in n]
        assert not bad, f"{path.name} imports {bad}"
    assert "metering" not in Path(free_router.__file__).read_text(encoding="utf-8").split('"""', 2)[2]  # type: ignore[arg-type]


def test_no_free_route_writes_a_usage_event(client, services) -> None:  # type: ignore[no-untyped-def]
    ident, sid = new_enterprise(services)
    load_records(
        services,
        "tax_rating",
        ident,
        [{"provider_record_id": f"T-{sid}", "rating_year": 2025, "rating": "A", "rated_date": "2025-04-01"}],
    )
    bank = new_institution(services, "bank")
    h = auth(client, bank)
    grant_consent(services, sid, bank.org_id, scopes=["tax_rating"])
    grant_consent(
        services, sid, bank.org_id, purpose="credit_report", scopes=["tax_rating"], modes=["report"]
    )
    grant_consent(
        services,
        sid,
        bank.org_id,
        purpose="post_loan_monitoring",
        scopes=["tax_rating"],
        modes=["push_subscription"],
    )
    items = [{"code": "tax_rating"}]
    before = _usage(services)
    calls = [
        client.post("/api/v1/free/query", headers=h, json={"identifier": ident, "items": items}),
        client.post(
            "/api/v1/free/reports", headers=h, json={"identifier": ident, "items": items, "format": "pdf"}
        ),
        client.post(
            "/api/v1/free/push/subscriptions", headers=h, json={"identifier": ident, "items": ["tax_rating"]}
        ),
        client.get("/api/v1/free/push/feed", headers=h),
    ]
    assert [c.status_code for c in calls] == [200, 200, 201, 200], [c.text for c in calls]
    calls.append(
        client.get("/api/v1/free/reports/verify", params={"sha256": calls[1].headers["X-Pdf-Sha256"]})
    )
    assert calls[-1].status_code == 200
    walked = 0
    for router in (free_router.router, gov_router.router):
        for route in router.routes:
            assert isinstance(route, APIRoute)
            path = re.sub(r"\{[^}]+\}", "1", route.path)
            for method in route.methods:
                r = client.request(method, path, headers=h, json={})
                assert r.status_code < 500, f"{method} {path}: {r.text}"
                walked += 1
    assert walked >= 20
    assert _usage(services) == before


def test_rate_limit_is_429_with_retry_after_and_not_metered(client, services, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setitem(limiter.limits, "query", Limit(rate=0.5, burst=2))
    bank = new_institution(services, "bank")
    h = auth(client, bank)
    ident, _ = new_enterprise(services)
    before = _usage(services)
    codes = [
        client.post("/api/v1/free/query", headers=h, json={"identifier": ident}).status_code for _ in range(3)
    ]
    assert codes[:2] == [403, 403] and codes[2] == 429  # refused by the consent gate, then limited
    r = client.post("/api/v1/free/query", headers=h, json={"identifier": ident})
    assert r.status_code == 429 and int(r.headers["Retry-After"]) >= 1
    assert r.json()["type"].endswith("rate-limited")
    other = auth(client, new_institution(services, "bank"))  # per institution: others are not affected
    assert client.post("/api/v1/free/query", headers=other, json={"identifier": ident}).status_code == 403
    assert _usage(services) == before
