"""Run callbacks after a session's transaction commits (never after a rollback): used to update
in-memory state (casbin's model, caches) only once the database change is durable."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import event
from sqlalchemy.orm import Session

_KEY = "fincredit_after_commit"


def after_commit(session: Session, fn: Callable[[], object]) -> None:
    session.info.setdefault(_KEY, []).append(fn)


@event.listens_for(Session, "after_commit")
def _run_after_commit(session: Session) -> None:
    for fn in session.info.pop(_KEY, []):
        fn()


@event.listens_for(Session, "after_rollback")
def _drop_after_rollback(session: Session) -> None:
    session.info.pop(_KEY, None)
