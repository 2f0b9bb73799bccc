"""The audit trail's writer (R§20): every API operation's row, committed before its response is sent.

One row per request used to be one transaction per request, and the commit was most of the cost of
the cheapest routes. The writer group-commits instead (``db.group_commit``): concurrent requests'
rows go into one transaction with one bulk INSERT (``db.insert_rows``). Each request still awaits its
own row's commit, so group commit amortises the commit, not durability.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, cast

from sqlalchemy import Connection, Engine, Table
from starlette.concurrency import run_in_threadpool

from fincredit.platform.core.db import AuditEvent, insert_rows
from fincredit.platform.core.db.group_commit import GroupCommit, GroupCommitStopped

log = logging.getLogger("fincredit.audit")

_TABLE = cast(Table, AuditEvent.__table__)

AuditRow = dict[str, Any]  # the AuditEvent columns but ``id``


class AuditWriter:
    """Started and stopped by the app's lifespan; ``record`` is what a request awaits."""

    def __init__(self, engine: Engine, *, max_batch: int = 500) -> None:
        self._engine = engine
        self._conn: Connection | None = None  # the writer thread's own, see _write_batch
        self._commit: GroupCommit[AuditRow, None] = GroupCommit(
            lambda rows: self._write_batch(rows),  # looked up per batch: tests patch it
            name="fincredit-audit-writer",
            max_batch=max_batch,
        )

    def start(self) -> None:
        self._commit.start()

    def stop(self) -> None:
        """Writes what is queued, then joins the writer thread."""
        self._commit.stop()
        self._close_connection()  # the thread is gone: nobody else uses it now

    async def record(self, row: AuditRow) -> None:
        """Return once ``row`` is committed. A failed write is logged with its exception and swallowed:
        the response is already decided, and losing an audit row must be loud, not fatal to it."""
        try:
            try:
                future = self._commit.submit(row)
            except GroupCommitStopped:
                # No lifespan ran (an ASGI host that skips it) or the app is shutting down: write it
                # directly, as one transaction of its own.
                await run_in_threadpool(self._write_direct, row)
                return
            # If the request is cancelled meanwhile (client gone), the row is still written: once queued,
            # the writer writes it whether or not anyone still waits for its future.
            await asyncio.wrap_future(future)
        except Exception:
            log.exception("could not write audit event for %s %s", row.get("method"), row.get("path"))

    def _write_batch(self, rows: list[AuditRow]) -> list[None]:
        # Runs in the writer thread only. It keeps one connection rather than checking one out of the
        # pool per batch: the pool's pre-ping is a round trip to the database, as costly as the commit.
        if self._conn is None:
            self._conn = self._engine.connect()
        try:
            with self._conn.begin():
                insert_rows(self._conn, _TABLE, rows)
        except Exception:
            self._close_connection()  # a broken connection is not reused; the next batch opens anew
            raise
        return [None] * len(rows)

    def _write_direct(self, row: AuditRow) -> None:
        with self._engine.begin() as conn:
            insert_rows(conn, _TABLE, [row])

    def _close_connection(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()
            except Exception:
                log.warning("could not close the audit writer's connection", exc_info=True)
