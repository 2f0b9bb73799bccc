"""The ledger in the platform's database: gapless appends, the SQL tree store, checkpoints and proofs.

Appending locks the single ``ledger_head`` row first (``SELECT ... FOR UPDATE`` on PostgreSQL; on SQLite
the transaction already holds the database write lock from ``BEGIN IMMEDIATE``), so sequence numbers are
handed out one writer at a time and commit or roll back together with the entries, the tree nodes and
the action they record: no gaps, no duplicates. The Merkle tree is the library's, over
:class:`SqlTreeStore`; roots and proofs read O(log n) stored subtree hashes and never rebuild the tree.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from collections.abc import Callable, Sequence

from sqlalchemy import insert, select, tuple_
from sqlalchemy.orm import Session

from fincredit.consent import (
    Checkpoint,
    CheckpointIssuer,
    ConsistencyProof,
    InclusionProof,
    LedgerEntry,
    MerkleTree,
    Node,
    NodeKey,
    NoteSigner,
    SubjectIndexer,
    TreeStoreError,
    leaf_hash,
)

from ..db import utcnow
from ..db.consent import LedgerCheckpoint, LedgerEntryRow, LedgerHead, LedgerNode
from ..errors import NotFound
from ..keyring import Keyring
from ..services import Services

_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"
EntryMaker = Callable[[int], LedgerEntry]


def subject_indexer(keyring: Keyring) -> SubjectIndexer:
    """The ledger's blind subject index, under a key derived from (not equal to) the registry's index key,
    so a ledger index can never be matched against the subjects table's blind index."""
    key = hmac.new(keyring.index_key, b"fincredit ledger subject index v1", hashlib.sha256).digest()
    return SubjectIndexer(key)


def note_signer(services: Services) -> NoteSigner:
    return NoteSigner(services.settings.ledger_origin, services.keyring.signing_key)


class SqlTreeStore:
    """The library's ``TreeStore`` over ``ledger_nodes``, inside the caller's transaction."""

    def __init__(self, session: Session, size: int) -> None:
        self._session = session
        self._size = size

    def size(self) -> int:
        return self._size

    def get_nodes(self, keys: Sequence[NodeKey]) -> list[bytes]:
        if not keys:
            return []
        wanted = [(int(k[0]), int(k[1])) for k in keys]
        rows = self._session.execute(
            select(LedgerNode.level, LedgerNode.idx, LedgerNode.hash).where(
                tuple_(LedgerNode.level, LedgerNode.idx).in_(wanted)
            )
        ).all()
        got = {(level, idx): bytes(h) for level, idx, h in rows}
        missing = [k for k in wanted if k not in got]
        if missing:
            raise TreeStoreError(f"the ledger's tree store lacks nodes {missing[:5]}")
        return [got[k] for k in wanted]

    def put_nodes(self, nodes: Sequence[Node], new_size: int) -> None:
        if nodes:
            self._session.execute(
                insert(LedgerNode), [{"level": n.level, "idx": n.idx, "hash": n.hash} for n in nodes]
            )
        self._size = new_size


def lock_head(session: Session) -> LedgerHead:
    """The head row, locked until the transaction ends (the serialisation point of all ledger writers)."""
    head = session.execute(
        select(LedgerHead)
        .where(LedgerHead.id == 1)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).scalar_one_or_none()
    if head is None:
        # Normally inserted by the migration; a concurrent creator loses on the primary key and retries.
        head = LedgerHead(id=1, size=0, checkpoint_size=None, updated_at=utcnow())
        session.add(head)
        session.flush()
    return head


def read_size(session: Session) -> int:
    return int(session.scalar(select(LedgerHead.size).where(LedgerHead.id == 1)) or 0)


def entry_time(entry: LedgerEntry) -> dt.datetime:
    return dt.datetime.strptime(entry.at, _TIME_FORMAT).replace(tzinfo=dt.UTC)


def _row(entry: LedgerEntry, data: bytes, leaf: bytes) -> dict[str, object]:
    return {
        "seq": entry.seq,
        "entry": data,
        "leaf_hash": leaf,
        "type": entry.type.value,
        "at": entry_time(entry),
        "grantee_org_id": entry.grantee,
        "account_id": entry.actor,
        "subject_index": entry.subject_index,
        "purpose": None if entry.purpose is None else entry.purpose.value,
        "consent_id": entry.consent_id,
        "route": entry.route,
        "payload_sha256": entry.payload_sha256,
    }


def append(session: Session, services: Services, makers: Sequence[EntryMaker]) -> list[LedgerEntry]:
    """Append one entry per maker (called with the entry's sequence number) in the caller's transaction.

    Entries, tree nodes and the new head commit with whatever else the transaction does, or not at all.
    A checkpoint is signed in the same transaction once ``ledger_checkpoint_every`` entries have
    accumulated since the last one.
    """
    if not makers:
        return []
    head = lock_head(session)
    size = int(head.size)
    entries = [make(size + i) for i, make in enumerate(makers)]
    datas = [e.canonical_bytes() for e in entries]
    leaves = [leaf_hash(d) for d in datas]
    tree = MerkleTree(SqlTreeStore(session, size))
    tree.append_many(leaves)
    session.execute(
        insert(LedgerEntryRow), [_row(e, d, h) for e, d, h in zip(entries, datas, leaves, strict=True)]
    )
    head.size = size + len(entries)
    head.updated_at = utcnow()
    last = head.checkpoint_size
    if last is None or head.size - last >= services.settings.ledger_checkpoint_every:
        _issue(session, services, head, tree)
    session.flush()
    return entries


def _last_checkpoint(session: Session, head: LedgerHead) -> LedgerCheckpoint | None:
    if head.checkpoint_size is None:
        return None
    return session.get(LedgerCheckpoint, head.checkpoint_size)


def _issue(session: Session, services: Services, head: LedgerHead, tree: MerkleTree) -> LedgerCheckpoint:
    previous = _last_checkpoint(session, head)
    if previous is not None and previous.size == head.size:
        return previous
    last = (
        None
        if previous is None
        else Checkpoint(services.settings.ledger_origin, int(previous.size), bytes(previous.root_hash))
    )
    # The library's issuer refuses to sign a head that does not extend the previous one.
    issuer = CheckpointIssuer(services.settings.ledger_origin, note_signer(services), tree, last)
    note = issuer.issue(int(head.size))
    assert issuer.last is not None
    row = LedgerCheckpoint(size=int(head.size), root_hash=issuer.last.root_hash, note=note, at=utcnow())
    session.add(row)
    head.checkpoint_size = int(head.size)
    return row


def latest_checkpoint(services: Services, *, fresh: bool = True) -> LedgerCheckpoint:
    """The newest signed checkpoint; with ``fresh``, first sign one at the current size if it is stale."""
    with services.read() as session:
        head = session.get(LedgerHead, 1)
        current = None if head is None else _last_checkpoint(session, head)
        if current is not None and (not fresh or current.size == head.size):  # type: ignore[union-attr]
            return current
    with services.tx() as session:
        head = lock_head(session)
        tree = MerkleTree(SqlTreeStore(session, int(head.size)))
        return _issue(session, services, head, tree)


def checkpoint_at(session: Session, size: int) -> LedgerCheckpoint:
    row = session.get(LedgerCheckpoint, size)
    if row is None:
        raise NotFound(f"no checkpoint was signed at size {size}")
    return row


def inclusion_proof(session: Session, seq: int, size: int, *, with_entry: bool) -> InclusionProof:
    if not 0 <= seq < size:
        raise NotFound(f"entry {seq} is not in a ledger of size {size}")
    tree = MerkleTree(SqlTreeStore(session, read_size(session)))
    if size > tree.size:
        raise NotFound(f"the ledger has {tree.size} entries, not {size}")
    entry = None
    if with_entry:
        entry = bytes(session.scalar(select(LedgerEntryRow.entry).where(LedgerEntryRow.seq == seq)) or b"")
    return InclusionProof.from_tree(tree, seq, size, entry)


def consistency_proof(session: Session, first: int, second: int) -> ConsistencyProof:
    tree = MerkleTree(SqlTreeStore(session, read_size(session)))
    if not 0 <= first <= second <= tree.size:
        raise NotFound(f"no consistency proof from {first} to {second} in a ledger of size {tree.size}")
    return ConsistencyProof.from_tree(tree, first, second)


def root(session: Session, size: int | None = None) -> bytes:
    tree = MerkleTree(SqlTreeStore(session, read_size(session)))
    return tree.root(size)
