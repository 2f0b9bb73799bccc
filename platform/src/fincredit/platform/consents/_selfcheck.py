"""The platform checks itself against its own log: the authorisation replay of the ledger (every access
covered by a grant active at its moment) and a comparison of the consents table with the state the log
implies. The gate decides from the table and writes the log in the same transaction, so the two cannot
drift unless something is wrong; this check is what would notice.

The replay is incremental: its state (``AuthorisationReplay`` pickles) is kept in
``<var_dir>/consents/authorisation-replay.pickle`` with the root of the tree it has replayed, and each run
feeds only the entries appended since. A state whose root is not this ledger's (another database, a
restored backup) is dropped and the replay starts again from the first entry. Every run is recorded in
``ledger_self_checks``: the metrics and the regulator's page read the latest.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import pickle
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from fincredit.consent import AuthorisationReplay, AuthorisationReport, StateDifference, state_differences
from fincredit.platform.consents import _ledger
from fincredit.platform.consents._records import state_of
from fincredit.platform.consents.tables import Consent, LedgerEntryRow, LedgerSelfCheck
from fincredit.platform.core.db import Organisation, utcnow
from fincredit.platform.core.services import Services

_BATCH = 50_000
_KEPT = 100  # violations and differences listed in a run's findings (all are counted)
_STATE_VERSION = 1


@dataclasses.dataclass(frozen=True, slots=True)
class SelfCheck:
    """One run: the ledger's size it covered, how many entries it replayed now, what it found."""

    at: dt.datetime
    size: int
    replayed: int
    report: AuthorisationReport
    differences: int
    difference_lines: list[str]
    seconds: float

    @property
    def ok(self) -> bool:
        return self.report.ok and self.differences == 0

    def lines(self) -> list[str]:
        out = self.report.lines()
        out += self.difference_lines
        if self.differences > len(self.difference_lines):
            out.append(f"... and {self.differences - len(self.difference_lines)} more differences")
        if self.differences:
            out.append(f"FAIL {self.differences} differences between the consents table and the log")
        else:
            out.append("ok   the consents table is the state the log implies")
        return out


def state_path(services: Services) -> Path:
    return services.settings.var_dir / "consents" / "authorisation-replay.pickle"


def _load(path: Path, session: Session) -> AuthorisationReplay:
    """The saved replay if it is a replay of this ledger (same root at its size), else a fresh one."""
    try:
        with path.open("rb") as f:
            # Our own file, written only by this function's counterpart under the platform's var_dir.
            version, root, replay = pickle.load(f)
    except (OSError, pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError):
        return AuthorisationReplay(max_reported=_KEPT)
    if (
        version == _STATE_VERSION
        and isinstance(replay, AuthorisationReplay)
        and 0 < replay.next_seq <= _ledger.read_size(session)
        and _ledger.root(session, replay.next_seq) == root
    ):
        return replay
    return AuthorisationReplay(max_reported=_KEPT)


def _save(path: Path, replay: AuthorisationReplay, root: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    with tmp.open("wb") as f:
        pickle.dump((_STATE_VERSION, root, replay), f, protocol=pickle.HIGHEST_PROTOCOL)
    os.replace(tmp, path)  # a concurrent run's file or ours, never half of one


def _batches(session: Session, start: int, stop: int) -> Iterator[tuple[Sequence[int], Sequence[bytes]]]:
    for lo in range(start, stop, _BATCH):
        rows = session.execute(
            select(LedgerEntryRow.seq, LedgerEntryRow.entry)
            .where(LedgerEntryRow.seq >= lo, LedgerEntryRow.seq < min(lo + _BATCH, stop))
            .order_by(LedgerEntryRow.seq)
        ).all()
        yield [int(r[0]) for r in rows], [bytes(r[1]) for r in rows]


def run_self_check(services: Services) -> SelfCheck:
    """Replay what was appended since the last run, compare the consents table with the log, record it."""
    started, at = time.perf_counter(), utcnow()
    path = state_path(services)
    with services.read() as session:
        if session.get_bind().dialect.name == "postgresql":
            # One snapshot for the log and the table (SQLite's read transaction already is one).
            session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
        size = _ledger.read_size(session)
        replay = _load(path, session)
        replay.credit_authorities = frozenset(
            session.scalars(select(Organisation.id).where(Organisation.kind == "credit_authority")).all()
        )
        replay.report.authority_checked = True
        start = replay.next_seq
        replay.feed_many(_batches(session, start, size))
        root = _ledger.root(session, size) if size else b""
        keyring = services.keyring
        table = (
            state_of(keyring, row)
            for row in session.scalars(select(Consent).execution_options(yield_per=2000))
        )
        count, kept = 0, list[str]()
        differences: Iterator[StateDifference] = state_differences(
            replay.states(), table, _ledger.subject_indexer(keyring)
        )
        for difference in differences:
            count += 1
            if len(kept) < _KEPT:
                kept.append(difference.line())
    report = replay.finish()
    if size:
        _save(path, replay, root)
    result = SelfCheck(at, size, size - start, report, count, kept, time.perf_counter() - started)
    with services.tx() as session:
        session.add(
            LedgerSelfCheck(
                at=at,
                size=size,
                replayed=result.replayed,
                consents=report.consents,
                accesses=report.accesses,
                violations=report.violation_count,
                differences=count,
                seconds=result.seconds,
                findings=json.dumps(result.lines(), ensure_ascii=False),
            )
        )
    return result


def last_self_check(session: Session) -> LedgerSelfCheck | None:
    return session.scalars(select(LedgerSelfCheck).order_by(LedgerSelfCheck.id.desc()).limit(1)).first()
