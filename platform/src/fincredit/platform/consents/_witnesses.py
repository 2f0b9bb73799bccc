"""The ledger's witnesses: every new signed checkpoint goes to each configured witness (C2SP tlog-witness)
with a consistency proof from the size that witness last co-signed, and the checkpoint the platform
publishes carries the cosignature lines it got back.

Submission never happens under the ledger head's lock: a checkpoint signed by an append is handed to a
background thread once its transaction commits, and the published checkpoint (:func:`published_checkpoint`)
first submits the latest one to any witness that has not co-signed it yet. A witness that failed is left
alone for ``_RETRY_AFTER`` on the paths that answer requests, so a dead witness costs readers nothing but
is tried again by the background submitter and the scheduled checkpoint task.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import threading
import weakref
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from fincredit.consent import (
    CheckpointError,
    CosignatureVerifier,
    LedgerError,
    ProofError,
    WitnessClient,
    WitnessError,
    cosign_checkpoint,
)
from fincredit.platform.consents import _ledger
from fincredit.platform.consents.tables import LedgerCheckpoint, LedgerCosignature, LedgerWitness
from fincredit.platform.core.db import utcnow
from fincredit.platform.core.errors import NotFound
from fincredit.platform.core.services import Services

_RETRY_AFTER = dt.timedelta(seconds=30)
log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True, slots=True)
class ConfiguredWitness:
    url: str
    verifier: CosignatureVerifier

    @property
    def vkey(self) -> str:
        return self.verifier.vkey()


def configured_witnesses(services: Services) -> list[ConfiguredWitness]:
    """The witnesses of the settings, their keys parsed (a key that does not parse fails the start)."""
    return [
        ConfiguredWitness(w.url, CosignatureVerifier.from_vkey(w.vkey))
        for w in services.settings.ledger_witnesses
    ]


def witness_quorum(services: Services) -> int:
    """How many of the configured witnesses a reader should require (default: all of them)."""
    quorum = services.settings.ledger_witness_quorum
    count = len(services.settings.ledger_witnesses)
    return count if quorum is None else min(quorum, count)


@dataclasses.dataclass(frozen=True, slots=True)
class Published:
    """A signed checkpoint with the witnesses' cosignature lines appended."""

    size: int
    note: str
    cosigned_by: int


def cosigned_note(session: Session, checkpoint: LedgerCheckpoint) -> tuple[str, int]:
    """The checkpoint's note followed by every stored cosignature of it, and how many there are."""
    lines = session.scalars(
        select(LedgerCosignature.line)
        .where(LedgerCosignature.size == checkpoint.size)
        .order_by(LedgerCosignature.witness)
    ).all()
    return checkpoint.note + "".join(lines), len(lines)


# Per database (its engine): one submission at a time from this process, so a request path waiting for
# the witnesses finds what the background submitter just stored instead of submitting again.
_locks: weakref.WeakKeyDictionary[Any, threading.Lock] = weakref.WeakKeyDictionary()
_guard = threading.Lock()


def _lock_of(services: Services) -> threading.Lock:
    with _guard:
        lock = _locks.get(services.engine)
        if lock is None:
            lock = _locks[services.engine] = threading.Lock()
        return lock


def _proof(services: Services, size: int) -> Callable[[int], Sequence[bytes]]:
    def proof_from(old: int) -> Sequence[bytes]:
        with services.read() as session:
            return list(_ledger.consistency_proof(session, old, size).hashes)

    return proof_from


def cosign(services: Services, checkpoint: LedgerCheckpoint | None = None, *, patient: bool = True) -> int:
    """Submit ``checkpoint`` (default the latest signed one) to every configured witness that has not
    co-signed it; returns how many cosignatures it has now. ``patient=False`` skips witnesses that failed
    in the last ``_RETRY_AFTER`` (the request paths)."""
    witnesses = configured_witnesses(services)
    if not witnesses:
        return 0
    with _lock_of(services):
        if checkpoint is None:
            checkpoint = _ledger.latest_checkpoint(services, fresh=False)
        with services.read() as session:
            size, note = int(checkpoint.size), checkpoint.note
            done = set(
                session.scalars(select(LedgerCosignature.witness).where(LedgerCosignature.size == size)).all()
            )
            known = {w.vkey: w for w in session.scalars(select(LedgerWitness)).all()}
            held = {vkey: (w.size, w.attempted_at, w.error) for vkey, w in known.items()}
        now = utcnow()
        for w in witnesses:
            vkey = w.vkey
            if vkey in done:
                continue
            last_size, attempted, error = held.get(vkey, (None, None, None))
            if last_size is not None and last_size > size:
                continue  # it already co-signed a larger tree: this one is history
            if not patient and error and attempted is not None and now - attempted < _RETRY_AFTER:
                continue
            line, result, reached = None, None, None
            client = WitnessClient(w.url, w.verifier, timeout=services.settings.ledger_witness_timeout)
            try:
                cosigned, reached = cosign_checkpoint(client, note, last_size or 0, _proof(services, size))
                line = cosigned[len(note) :]
            except NotFound:
                # The witness holds a larger tree than this checkpoint (another process submitted a newer
                # one meanwhile): there is no proof backwards, and its cosignature of that one will do.
                continue
            except (WitnessError, CheckpointError, ProofError, LedgerError) as exc:
                result = str(exc)[:1000]
            finally:
                client.close()
            _record(services, w, size, line, reached, result)
            if line is not None:
                done.add(vkey)
        return len(done)


def _record(
    services: Services,
    w: ConfiguredWitness,
    size: int,
    line: str | None,
    reached: int | None,
    error: str | None,
) -> None:
    at = utcnow()
    try:
        with services.tx() as session:
            row = session.get(LedgerWitness, w.vkey)
            if row is None:
                row = LedgerWitness(vkey=w.vkey, name=w.verifier.name, url=w.url)
                session.add(row)
            row.url, row.attempted_at, row.error = w.url, at, error
            if line is not None:
                row.size, row.cosigned_at = reached, at
                session.add(LedgerCosignature(size=size, witness=w.vkey, line=line, at=at))
    except IntegrityError:
        pass  # another process stored this witness's cosignature of this size first: the same statement


def published_checkpoint(services: Services, size: int | None = None) -> Published:
    """The checkpoint readers get: the latest (signed now if stale) or the one of ``size``, with the
    cosignatures of the configured witnesses (the latest is submitted to those that lack it first)."""
    if size is None:
        checkpoint = _ledger.latest_checkpoint(services, fresh=True)
        cosign(services, checkpoint, patient=False)
    else:
        with services.read() as session:
            checkpoint = _ledger.checkpoint_at(session, size)
    with services.read() as session:
        note, count = cosigned_note(session, checkpoint)
    return Published(int(checkpoint.size), note, count)


@dataclasses.dataclass(frozen=True, slots=True)
class WitnessStatus:
    name: str
    url: str
    vkey: str
    size: int | None
    cosigned_at: dt.datetime | None
    attempted_at: dt.datetime | None
    error: str | None


def witness_statuses(services: Services) -> list[WitnessStatus]:
    """Each configured witness with the size it last co-signed and its last failure, for the regulator."""
    with services.read() as session:
        rows = {w.vkey: w for w in session.scalars(select(LedgerWitness)).all()}
    out = []
    for w in configured_witnesses(services):
        row = rows.get(w.vkey)
        out.append(
            WitnessStatus(
                w.verifier.name,
                w.url,
                w.vkey,
                None if row is None else row.size,
                None if row is None else row.cosigned_at,
                None if row is None else row.attempted_at,
                None if row is None else row.error,
            )
        )
    return out


# -- after each checkpoint an append signs: one background submitter per services, coalescing requests ----

_wanted: weakref.WeakKeyDictionary[Any, threading.Event] = weakref.WeakKeyDictionary()


def submit_soon(services: Services) -> None:
    """Have the latest checkpoint co-signed in the background (called once a checkpoint has committed)."""
    if not services.settings.ledger_witnesses:
        return
    engine = services.engine
    with _guard:
        wanted = _wanted.get(engine)
        if wanted is not None:
            wanted.set()  # the running submitter goes round once more
            return
        wanted = _wanted[engine] = threading.Event()
        wanted.set()

    def run() -> None:
        while True:
            with _guard:
                if not wanted.is_set():
                    _wanted.pop(engine, None)
                    return
                wanted.clear()
            try:
                cosign(services)
            except Exception:  # the thread must not die; the next checkpoint (or the scheduled task) retries
                log.exception("submitting the ledger checkpoint to its witnesses failed")

    threading.Thread(target=run, name="ledger-witnesses", daemon=True).start()
