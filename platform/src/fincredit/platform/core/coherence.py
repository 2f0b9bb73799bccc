"""Keeping per-process caches coherent across every worker of every instance.

A change to cached state (the casbin policy and roles) bumps its topic's row in ``change_epochs`` inside
the transaction that makes the change, whichever process makes it: a service worker, another instance,
or the ``fincredit`` CLI. Each service process runs one :class:`ChangeWatcher`, which notices the new
epoch and calls the topic's subscribers (the authorizer reloads its policy and drops its decisions).

On PostgreSQL the changing transaction also sends ``NOTIFY`` (delivered at commit, never for a rolled-back
change), so a watcher hears of it at once; the watcher still reads the epochs at least every
``interval`` seconds, which is all it does on SQLite (one instance, several workers) and what covers a
notification lost while its connection was being re-established.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable

from sqlalchemy import Engine, select, text, update
from sqlalchemy.orm import Session

from fincredit.platform.core.db.tables import ChangeEpoch

log = logging.getLogger(__name__)

CHANNEL = "fincredit_changes"
POLICY = "policy"


def announce(session: Session, topic: str) -> None:
    """Mark ``topic``'s cached state stale for every process, as part of the session's transaction."""
    bumped = session.execute(
        update(ChangeEpoch).where(ChangeEpoch.topic == topic).values(epoch=ChangeEpoch.epoch + 1)
    )
    if bumped.rowcount == 0:  # type: ignore[attr-defined]
        session.add(ChangeEpoch(topic=topic, epoch=1))
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_notify(:channel, :topic)"), {"channel": CHANNEL, "topic": topic})


def read_epochs(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {
            topic: int(epoch) for topic, epoch in conn.execute(select(ChangeEpoch.topic, ChangeEpoch.epoch))
        }


class ChangeWatcher:
    """One thread per service process: calls each topic's subscribers after another process changed it."""

    def __init__(self, engine: Engine, *, interval: float = 0.5) -> None:
        self._engine = engine
        self._interval = interval
        self._subscribers: dict[str, list[Callable[[], None]]] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._epochs: dict[str, int] = {}

    def subscribe(self, topic: str, callback: Callable[[], None]) -> None:
        self._subscribers.setdefault(topic, []).append(callback)

    def start(self) -> None:
        self._epochs = read_epochs(self._engine)
        self._thread = threading.Thread(target=self._run, name="fincredit-change-watcher", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def check(self) -> None:
        """Compare the epochs with the last seen; call the subscribers of every topic that moved."""
        epochs = read_epochs(self._engine)
        for topic, epoch in epochs.items():
            if self._epochs.get(topic) != epoch:
                self._epochs[topic] = epoch
                for callback in self._subscribers.get(topic, ()):
                    try:
                        callback()
                    except Exception:  # one failing subscriber must not stop the others or the watcher
                        log.exception("refreshing %s after a change failed", topic)

    def _run(self) -> None:
        if self._engine.dialect.name == "postgresql":
            self._listen()
        else:
            self._poll()

    def _poll(self) -> None:
        while not self._stop.wait(self._interval):
            self._check_logged()

    def _check_logged(self) -> None:
        try:
            self.check()
        except Exception:
            log.exception("reading change epochs failed")

    def _listen(self) -> None:
        import psycopg

        url = self._engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        while not self._stop.is_set():
            try:
                with psycopg.connect(url, autocommit=True) as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    self._check_logged()  # anything changed while no connection listened
                    while not self._stop.is_set():
                        for _ in conn.notifies(timeout=self._interval, stop_after=1):
                            break
                        self._check_logged()
            except Exception:
                log.exception("listening for changes failed; polling until the connection is back")
                with contextlib.suppress(Exception):
                    self._check_logged()
                self._stop.wait(self._interval)
