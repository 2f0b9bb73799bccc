"""The audit trail's group-committing writer (R§20) and the authorizer's decision cache: every request's
row is committed before its response leaves, concurrent requests share commits without losing rows, and
a cached allow ends as soon as the rule behind it is removed."""

from __future__ import annotations

import logging
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import select

from fincredit.platform.core._audit_writer import AuditWriter
from fincredit.platform.core.db import AuditEvent
from fincredit.platform.core.db.group_commit import GroupCommit, GroupCommitStopped
from fincredit.platform.identity.principal import Principal
from fincredit.platform.testing.plugin import auth, new_institution


def _rows(services, request_ids: list[str]) -> dict[str, AuditEvent]:  # type: ignore[no-untyped-def]
    with services.read() as session:
        found = session.scalars(select(AuditEvent).where(AuditEvent.request_id.in_(request_ids)))
        return {e.request_id: e for e in found}


def test_concurrent_requests_each_have_their_row_committed_before_the_response(client, services) -> None:  # type: ignore[no-untyped-def]
    bank = new_institution(services, "bank")
    headers = auth(client, bank)

    def call(i: int) -> tuple[str, bool]:
        rid = f"grp-{uuid.uuid4().hex[:12]}-{i}"
        r = client.get("/api/v1/me", headers={**headers, "X-Request-ID": rid})
        assert r.status_code == 200 and r.headers["X-Request-ID"] == rid
        # Read the table the moment the response is in: the row must already be committed.
        return rid, rid in _rows(services, [rid])

    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(call, range(64)))
    assert all(committed for _, committed in results)
    rows = _rows(services, [rid for rid, _ in results])
    assert len(rows) == 64
    for row in rows.values():
        assert (row.route, row.method, row.status, row.outcome) == ("/api/v1/me", "GET", 200, "ok")
        assert (row.account_id, row.org_id) == (bank.account_id, bank.org_id)
        assert row.duration_ms >= 0


def test_request_ids_are_made_when_missing_and_refusals_by_the_body_limit_are_audited(
    client, services
) -> None:  # type: ignore[no-untyped-def]
    r = client.get("/api/v1/me")
    assert r.status_code == 401 and len(r.headers["X-Request-ID"]) == 32
    assert r.json()["request_id"] == r.headers["X-Request-ID"]
    row = _rows(services, [r.headers["X-Request-ID"]])[r.headers["X-Request-ID"]]
    assert (row.status, row.outcome, row.account_id) == (401, "refused", None)

    rid = f"big-{uuid.uuid4().hex[:12]}"
    big = b"x" * (services.settings.max_body_bytes + 1)
    r = client.post("/api/v1/subjects", content=big, headers={"X-Request-ID": rid})
    assert r.status_code == 413 and r.headers["X-Request-ID"] == rid
    assert _rows(services, [rid])[rid].status == 413


def test_an_unhandled_error_is_audited_and_a_failed_audit_write_fails_nothing(
    services, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:  # type: ignore[no-untyped-def]
    from fastapi import Depends
    from fastapi.testclient import TestClient

    from fincredit.platform.core.app import create_app
    from fincredit.platform.core.deps import public

    fresh = create_app(services=services)

    @fresh.get("/api/v1/test-boom", dependencies=[Depends(public)])
    def boom() -> None:
        raise ZeroDivisionError("boom")

    rid = f"boom-{uuid.uuid4().hex[:12]}"
    with TestClient(fresh, raise_server_exceptions=False) as c:
        assert c.get("/api/v1/test-boom", headers={"X-Request-ID": rid}).status_code == 500
        row = _rows(services, [rid])[rid]
        assert (row.route, row.status, row.outcome) == ("/api/v1/test-boom", 500, "error")

        def broken(self: AuditWriter, rows: list[dict[str, object]]) -> list[None]:
            raise RuntimeError("audit store unavailable")

        monkeypatch.setattr(AuditWriter, "_write_batch", broken)
        lost = f"lost-{uuid.uuid4().hex[:12]}"
        with caplog.at_level(logging.ERROR, logger="fincredit.audit"):
            r = c.get("/api/v1/me", headers={"X-Request-ID": lost})
        assert r.status_code == 401 and r.headers["X-Request-ID"] == lost  # the response stands
        assert any("could not write audit event" in rec.message and rec.exc_info for rec in caplog.records)
        assert lost not in _rows(services, [lost])


def test_group_commit_batches_what_queued_and_retries_a_failed_batch_one_by_one() -> None:
    release = threading.Event()
    batches: list[list[int]] = []

    def write(items: list[int]) -> list[int]:
        if items == [0]:
            release.wait(5)  # hold the first batch so the next items queue up behind it
        if len(items) > 1 and 13 in items:
            raise ValueError("one bad item fails the whole batch")
        if items == [13]:
            raise ValueError("bad item")
        batches.append(items)
        return [i * 10 for i in items]

    gc: GroupCommit[int, int] = GroupCommit(write, name="test-group-commit", max_batch=100)
    gc.start()
    first = gc.submit(0)
    rest = [gc.submit(i) for i in range(1, 20)]
    release.set()
    assert first.result(5) == 0
    for i, f in enumerate(rest, start=1):
        if i == 13:
            with pytest.raises(ValueError, match="bad item"):
                f.result(5)
        else:
            assert f.result(5) == i * 10
    assert batches[0] == [0]
    assert sorted(i for b in batches[1:] for i in b) == [i for i in range(1, 20) if i != 13]

    # stop writes what is queued, joins the thread, and refuses later items.
    queued = [gc.submit(i) for i in range(100, 110)]
    gc.stop()
    assert [f.result(0) for f in queued] == [i * 10 for i in range(100, 110)]
    assert not any(t.name == "test-group-commit" for t in threading.enumerate())
    with pytest.raises(GroupCommitStopped):
        gc.submit(1)
    gc.start()  # restartable, as an app's lifespan is in tests
    assert gc.submit(7).result(5) == 70
    gc.stop()


def _writer_threads() -> int:
    return sum(t.name == "fincredit-audit-writer" for t in threading.enumerate())


def test_the_writer_runs_with_the_app_lifespan_and_leaves_no_thread_behind(app) -> None:  # type: ignore[no-untyped-def]
    from fastapi.testclient import TestClient

    before = _writer_threads()
    for _ in range(3):
        with TestClient(app) as c:
            assert _writer_threads() == before + 1
            assert c.get("/api/v1/me").status_code == 401
        assert _writer_threads() == before


def _principal(inst) -> Principal:  # type: ignore[no-untyped-def]
    return Principal(
        account_id=inst.account_id,
        account_kind="institution",
        org_id=inst.org_id,
        org_kind="bank",
        domain=inst.org_id,
    )


def test_a_cached_allow_ends_when_the_role_or_rule_behind_it_is_removed(services) -> None:  # type: ignore[no-untyped-def]
    authz = services.authz
    bank = new_institution(services, "bank")
    who = _principal(bank)
    assert authz.enforce(who, "catalog", "read") and authz.enforce(who, "catalog", "read")  # now cached
    assert (bank.account_id, bank.org_id, "catalog", "read") in authz._decisions

    role = f"role-{uuid.uuid4().hex[:8]}"
    with services.tx() as session:
        authz.assign_role(session, bank.account_id, role, bank.org_id)
        authz.add_policy(session, role, "*", "audit", "read")
    assert authz.enforce(who, "audit", "read") and authz.enforce(who, "audit", "read")
    with services.tx() as session:
        authz.remove_policy(session, role, "*", "audit", "read")
    assert not authz.enforce(who, "audit", "read")

    with pytest.raises(LookupError), services.tx() as session:  # rolled back: nothing changes
        authz.remove_role(session, bank.account_id, "bank", bank.org_id)
        raise LookupError
    assert authz.enforce(who, "catalog", "read")
    with services.tx() as session:
        assert authz.remove_role(session, bank.account_id, "bank", bank.org_id)
    assert not authz.enforce(who, "catalog", "read")
