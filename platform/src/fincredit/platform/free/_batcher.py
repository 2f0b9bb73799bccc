"""Group commit for information queries: concurrent queries share one transaction.

Every query takes the ledger head's lock to append its disclosure entry, so one transaction per query
makes the head a queue: one lock holder at a time, each holding it through its commit. Here the route
hands its query to the process's :class:`~fincredit.platform.core.db.group_commit.GroupCommit` thread, which
takes whatever has queued meanwhile (alone, a query runs alone) and answers the lot in one transaction
with :func:`run_queries`: one lookup each for callers, subjects (with names), consents, records and
objections, one bulk write each for use counts, disclosure notes and audit rows, and one ledger append.
A caller's answer arrives only after that transaction commits, so a response still means "disclosed and
ledgered". If the transaction itself fails (a database error, a deadlock), each query of the batch is
retried in a transaction of its own, so one bad query cannot fail the others.
"""

from __future__ import annotations

import asyncio
import contextlib

from sqlalchemy import Connection
from sqlalchemy.orm import Session

from fincredit.platform.core.db.group_commit import GroupCommit
from fincredit.platform.core.services import Services
from fincredit.platform.free._query import QueryAnswer, QueryRequest, run_queries


class QueryBatcher:
    def __init__(self, services: Services, *, max_batch: int = 64) -> None:
        self.services = services
        self._conn: Connection | None = None
        self._group: GroupCommit[QueryRequest, QueryAnswer] = GroupCommit(
            self._run, name="fincredit-query-batcher", max_batch=max_batch
        )

    def start(self) -> None:
        self._group.start()

    def stop(self) -> None:
        """Answer what is queued, then stop the worker."""
        self._group.stop()
        self._close_connection()  # the thread is gone: nobody else uses it now

    async def ask(self, request: QueryRequest) -> QueryAnswer:
        """The query's answer once its transaction committed: the payload, or the error that answers it
        (refusal, unknown subject, ...), returned, not raised. A failure to answer at all is raised."""
        if self._group.running:
            return await asyncio.shield(asyncio.wrap_future(self._group.submit(request)))
        # An app served without its lifespan (some test clients): answer in a thread, alone.
        return await asyncio.to_thread(self._answer_alone, request)

    def _run(self, requests: list[QueryRequest]) -> list[QueryAnswer]:
        # Runs in the batcher's thread only, which keeps one connection instead of checking one out of
        # the pool per batch: the pool's pre-ping is a round trip per checkout, and the batch's own
        # statements are only about a dozen. A connection that failed is dropped; the next batch opens anew.
        if self._conn is None:
            self._conn = self.services.engine.connect()
        try:
            with Session(bind=self._conn, expire_on_commit=False) as session, session.begin():
                return run_queries(session, self.services, requests)
        except Exception:
            self._close_connection()
            raise

    def _answer_alone(self, request: QueryRequest) -> QueryAnswer:
        with self.services.tx() as session:
            return run_queries(session, self.services, [request])[0]

    def _close_connection(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.close()
