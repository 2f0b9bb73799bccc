"""Concurrent writers never leave a gap: 16 threads appending at once (each in its own transaction,
PostgreSQL row lock / SQLite write lock on the ledger head) give sequence numbers 0..n-1, and the stored
tree's root equals a fresh recomputation from the entries' bytes — also when the writers use two engines
(as two worker processes do, each remembering the tree's edge after its own appends) and some of their
appends roll back."""

from __future__ import annotations

import contextlib
import hashlib
import random
import threading
import uuid

import pytest
from sqlalchemy import select

from fincredit.consent.identifiers import generate_uscc
from fincredit.platform.consents import authorize_access, latest_checkpoint, read_size, root
from fincredit.platform.consents.tables import LedgerEntryRow
from fincredit.platform.core.services import build_services
from fincredit.platform.identity.principal import Principal
from fincredit.platform.subjects import register_subject
from fincredit.platform.testing.plugin import new_institution


class _RolledBack(Exception):
    pass


THREADS = 16
PER_THREAD = 8


def _mth(leaves: list[bytes]) -> bytes:
    """RFC 9162 §2.1.1 MTH, recursively, straight from the definition."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return leaves[0]
    k = 1 << ((len(leaves) - 1).bit_length() - 1)
    return hashlib.sha256(b"\x01" + _mth(leaves[:k]) + _mth(leaves[k:])).digest()


@pytest.mark.slow
def test_concurrent_appends_are_gapless_and_the_root_recomputes(services) -> None:  # type: ignore[no-untyped-def]
    inst = new_institution(services, "credit_authority")
    authority = Principal(
        account_id=inst.account_id,
        account_kind="institution",
        org_id=inst.org_id,
        org_kind="credit_authority",
        domain=inst.org_id,
    )
    code = generate_uscc(random.Random(uuid.uuid4().int), "330206")
    with services.tx() as session:
        subject_id = register_subject(session, services.keyring, code, "宁波并发有限公司").id
    with services.read() as session:
        before = read_size(session)
    # A second engine on the same database: another worker process's view (its own remembered edge).
    other = build_services(services.settings, migrate=False)
    start = threading.Barrier(THREADS)
    errors: list[BaseException] = []
    seqs: list[int] = []
    lock = threading.Lock()

    def append(svc, route: str) -> int:  # type: ignore[no-untyped-def]
        with svc.tx() as session:
            allowed = authorize_access(
                session,
                svc,
                principal=authority,
                subject=subject_id,
                scopes=["tax"],
                purpose="credit_report",
                mode="report",
                route=route,
            )
            if route.endswith("rolled-back"):
                raise _RolledBack
        return allowed.ledger_seq  # type: ignore[return-value]

    def writer(n: int) -> None:
        try:
            start.wait()
            svc = services if n % 2 else other
            for i in range(PER_THREAD):
                if (n + i) % 5 == 0:  # an append that rolls back must leave no trace, remembered or stored
                    with contextlib.suppress(_RolledBack):
                        append(svc, f"/concurrency/{n}/{i}/rolled-back")
                seq = append(svc, f"/concurrency/{n}/{i}")
                with lock:
                    seqs.append(seq)
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    other.close()
    assert not errors, errors[:3]
    assert len(seqs) == len(set(seqs)) == THREADS * PER_THREAD
    with services.read() as session:
        size = read_size(session)
        rows = session.execute(
            select(LedgerEntryRow.seq, LedgerEntryRow.entry).order_by(LedgerEntryRow.seq)
        ).all()
        stored_root = root(session, size)
    assert size >= before + THREADS * PER_THREAD
    assert [r.seq for r in rows] == list(range(size)), "sequence numbers 0..n-1 without gaps"
    leaves = [hashlib.sha256(b"\x00" + bytes(r.entry)).digest() for r in rows]
    assert _mth(leaves) == stored_root
    assert bytes(latest_checkpoint(services).root_hash) == _mth(
        leaves[: int(latest_checkpoint(services).size)]
    )
