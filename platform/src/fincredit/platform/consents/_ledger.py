"""The ledger in the platform's database: gapless appends, the SQL tree store, checkpoints and proofs.

Appending locks the single ``ledger_head`` row first (an ``UPDATE ... RETURNING`` that moves its size on,
or ``SELECT ... FOR UPDATE``; on SQLite the transaction already holds the database write lock from
``BEGIN IMMEDIATE``), so sequence numbers are handed out one writer at a time and commit or roll back
together with the entries, the tree nodes and the action they record: no gaps, no duplicates. The Merkle
tree is the library's, over :class:`SqlTreeStore`; roots and proofs read O(log n) stored subtree hashes
and never rebuild the tree.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import hmac
import weakref
from collections.abc import Callable, Sequence
from typing import Any, cast

from sqlalchemy import Table, bindparam, select, text
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
    frontier_keys,
    leaf_hash,
)
from fincredit.platform.consents.tables import LedgerCheckpoint, LedgerEntryRow, LedgerHead, LedgerNode
from fincredit.platform.core.db import insert_rows, utcnow
from fincredit.platform.core.db.hooks import after_commit
from fincredit.platform.core.errors import NotFound
from fincredit.platform.core.keyring import Keyring
from fincredit.platform.core.services import Services

EntryMaker = Callable[[int], LedgerEntry]
_NODES = cast(Table, LedgerNode.__table__)
_HEAD = cast(Table, LedgerHead.__table__)
_LOCK_HEAD = select(_HEAD.c.size, _HEAD.c.checkpoint_size).where(_HEAD.c.id == 1).with_for_update()
_ADVANCE_HEAD = (
    _HEAD.update()
    .where(_HEAD.c.id == 1)
    .values(size=_HEAD.c.size + bindparam("n"), updated_at=bindparam("now"))
    .returning(_HEAD.c.size, _HEAD.c.checkpoint_size)
)
_SELECT_NODES = "SELECT level, idx, hash FROM ledger_nodes WHERE "
_ENTRIES = cast(Table, LedgerEntryRow.__table__)


def subject_indexer(keyring: Keyring) -> SubjectIndexer:
    """The ledger's blind subject index, under a key derived from (not equal to) the registry's index key,
    so a ledger index can never be matched against the subjects table's blind index."""
    key = hmac.new(keyring.index_key, b"fincredit ledger subject index v1", hashlib.sha256).digest()
    return SubjectIndexer(key)


def note_signer(services: Services) -> NoteSigner:
    return NoteSigner(services.settings.ledger_origin, services.keyring.signing_key)


# Plain (level, idx) tuples as keys: a NodeKey equals and hashes as its tuple; SQL rows come as tuples.
NodeHashes = dict[tuple[int, int], bytes]


class SqlTreeStore:
    """The library's ``TreeStore`` over ``ledger_nodes``, inside the caller's transaction."""

    def __init__(self, session: Session, size: int, known: NodeHashes | None = None) -> None:
        self._session = session
        self._size = size
        # Committed nodes this store may answer from without a read (see ``_frontiers``), and every node
        # it has read or written in this transaction.
        self.seen: NodeHashes = dict(known or {})

    def size(self) -> int:
        return self._size

    def get_nodes(self, keys: Sequence[NodeKey]) -> list[bytes]:
        if not keys:
            return []
        wanted = [(int(k[0]), int(k[1])) for k in keys]
        if all(k in self.seen for k in wanted):
            return [self.seen[k] for k in wanted]
        by_level: dict[int, list[int]] = {}
        for level, idx in wanted:
            by_level.setdefault(level, []).append(idx)
        # One primary-key probe per level: SQLite plans a row-value IN list as a table scan, but an OR of
        # (level = L AND idx IN (...)) terms as index lookups. Plain SQL text: the statement's shape varies
        # with the keys, and building it as an expression costs more than the query (only ints are bound).
        clauses, params = [], {}
        for n, (level, idxs) in enumerate(by_level.items()):
            params[f"l{n}"] = level
            names = []
            for m, idx in enumerate(idxs):
                params[f"i{n}_{m}"] = idx
                names.append(f":i{n}_{m}")
            clauses.append(f"(level = :l{n} AND idx IN ({', '.join(names)}))")
        rows = self._session.execute(text(_SELECT_NODES + " OR ".join(clauses)), params).all()
        got = {(level, idx): bytes(h) for level, idx, h in rows}
        self.seen.update(got)
        missing = [k for k in wanted if k not in got]
        if missing:
            raise TreeStoreError(f"the ledger's tree store lacks nodes {missing[:5]}")
        return [got[k] for k in wanted]

    def put_nodes(self, nodes: Sequence[Node], new_size: int) -> None:
        insert_rows(self._session, _NODES, [{"level": n.level, "idx": n.idx, "hash": n.hash} for n in nodes])
        self.seen.update({(n.level, n.idx): n.hash for n in nodes})
        self._size = new_size


@dataclasses.dataclass(slots=True)
class Head:
    """The ledger head as locked by a writer: its size and the size of the last signed checkpoint."""

    size: int
    checkpoint_size: int | None


def lock_head(session: Session) -> Head:
    """Lock the head row until the transaction ends: the serialisation point of all ledger writers."""
    row = session.execute(_LOCK_HEAD).first()
    if row is None:
        # Normally inserted by the migration; a concurrent creator loses on the primary key.
        session.execute(_HEAD.insert().values(id=1, size=0, checkpoint_size=None, updated_at=utcnow()))
        return Head(0, None)
    return Head(int(row[0]), None if row[1] is None else int(row[1]))


def _advance_head(session: Session, n: int) -> Head | None:
    """Lock the head row and move its size on by ``n`` in one statement (the append's usual path: the
    lock and the update were two round trips); the returned head has the new size. None: no row yet."""
    row = session.execute(_ADVANCE_HEAD, {"n": n, "now": utcnow()}).first()
    return None if row is None else Head(int(row[0]), None if row[1] is None else int(row[1]))


def _save_head(session: Session, head: Head) -> None:
    session.execute(
        _HEAD.update()
        .where(_HEAD.c.id == 1)
        .values(size=head.size, checkpoint_size=head.checkpoint_size, updated_at=utcnow())
    )


def read_size(session: Session) -> int:
    return int(session.scalar(select(_HEAD.c.size).where(_HEAD.c.id == 1)) or 0)


def entry_time(entry: LedgerEntry) -> dt.datetime:
    # The library spells times ``YYYY-MM-DDTHH:MM:SS.ffffffZ``; fromisoformat reads that in C.
    return dt.datetime.fromisoformat(entry.at)


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


# The right edge of the tree after this process's last committed append, per database: the next append
# needs exactly these nodes, and when no other writer has appended meanwhile (the head still has that
# size) it need not read them back. Only committed appends are remembered, and committed nodes never
# change, so an edge whose size matches the head is the edge.
_frontiers: weakref.WeakKeyDictionary[Any, tuple[int, NodeHashes]] = weakref.WeakKeyDictionary()


def append(session: Session, services: Services, makers: Sequence[EntryMaker]) -> list[LedgerEntry]:
    """Append one entry per maker (called with the entry's sequence number) in the caller's transaction.

    Entries, tree nodes and the new head commit with whatever else the transaction does, or not at all.
    A checkpoint is signed in the same transaction once ``ledger_checkpoint_every`` entries have
    accumulated since the last one.
    """
    if not makers:
        return []
    n = len(makers)
    head = _advance_head(session, n)
    saved = head is not None
    if head is None:  # no head row yet
        head = lock_head(session)
        head.size += n
    size = head.size - n
    entries = [make(size + i) for i, make in enumerate(makers)]
    datas = [e.canonical_bytes() for e in entries]
    leaves = [leaf_hash(d) for d in datas]
    engine = session.get_bind().engine  # the bind may be a connection (the query batcher's own)
    known = _frontiers.get(engine)
    store = SqlTreeStore(session, size, known[1] if known is not None and known[0] == size else None)
    tree = MerkleTree(store, cache_frontier=False)
    tree.append_many(leaves)
    edge = frontier_keys(head.size)
    if all(k in store.seen for k in edge):
        nodes: NodeHashes = {k: store.seen[k] for k in edge}
        frontier = (head.size, nodes)
        after_commit(session, lambda: _frontiers.__setitem__(engine, frontier))
    # Core, not the ORM bulk path (which splits rows into groups by their NULL columns).
    insert_rows(session, _ENTRIES, [_row(e, d, h) for e, d, h in zip(entries, datas, leaves, strict=True)])
    last = head.checkpoint_size
    if last is None or head.size - last >= services.settings.ledger_checkpoint_every:
        _issue(session, services, head, tree)
        saved = False
    if not saved:
        _save_head(session, head)
    return entries


def _last_checkpoint(session: Session, checkpoint_size: int | None) -> LedgerCheckpoint | None:
    if checkpoint_size is None:
        return None
    return session.get(LedgerCheckpoint, checkpoint_size)


def _issue(session: Session, services: Services, head: Head, tree: MerkleTree) -> LedgerCheckpoint:
    """Sign the head's size (in the caller's transaction, under the head lock); the caller saves ``head``."""
    previous = _last_checkpoint(session, head.checkpoint_size)
    if previous is not None and previous.size == head.size:
        return previous
    last = (
        None
        if previous is None
        else Checkpoint(services.settings.ledger_origin, int(previous.size), bytes(previous.root_hash))
    )
    # The library's issuer refuses to sign a head that does not extend the previous one.
    issuer = CheckpointIssuer(services.settings.ledger_origin, note_signer(services), tree, last)
    note = issuer.issue(head.size)
    assert issuer.last is not None
    row = LedgerCheckpoint(size=head.size, root_hash=issuer.last.root_hash, note=note, at=utcnow())
    session.add(row)
    head.checkpoint_size = head.size
    after_commit(session, lambda: _to_witnesses(services))
    return row


def _to_witnesses(services: Services) -> None:
    # Imported here: the witnesses' module reads checkpoints and proofs through this one.
    from fincredit.platform.consents._witnesses import submit_soon

    submit_soon(services)


def latest_checkpoint(services: Services, *, fresh: bool = True) -> LedgerCheckpoint:
    """The newest signed checkpoint; with ``fresh``, first sign one at the current size if it is stale."""
    with services.read() as session:
        row = session.execute(select(_HEAD.c.size, _HEAD.c.checkpoint_size).where(_HEAD.c.id == 1)).first()
        current = None if row is None else _last_checkpoint(session, row[1])
        if current is not None and (not fresh or current.size == row[0]):  # type: ignore[index]
            return current
    with services.tx() as session:
        head = lock_head(session)
        tree = MerkleTree(SqlTreeStore(session, head.size))
        issued = _issue(session, services, head, tree)
        _save_head(session, head)
        return issued


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
