"""Lockout with back-off after repeated failed sign-ins, per account and per address.

Counted in the database, so every instance behind the load balancer sees the same counts. After
``login_failures_per_account`` (5) failures of an account, or ``login_failures_per_address`` (20: an
office behind one NAT has many people mistyping) from an address, the next attempt waits ``BASE``
seconds, doubling with every further failure up to ``LONGEST``; while a key is locked an attempt is
refused without looking at the password, so the right password guessed during a lockout does not get in.
A success clears its account's count (not the address's: one's own account must not reset a spraying
address). Counts are forgotten after ``QUIET`` without failures.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from fincredit.platform.core.db import utcnow
from fincredit.platform.identity.tables import LoginThrottle

BASE = dt.timedelta(seconds=30)
LONGEST = dt.timedelta(hours=1)
QUIET = dt.timedelta(hours=1)


@dataclass(frozen=True, slots=True)
class Lock:
    until: dt.datetime
    by_address: bool


@dataclass(frozen=True, slots=True)
class Limits:
    per_account: int = 5
    per_address: int = 20


def _keys(username: str, address: str | None, limits: Limits = Limits()) -> list[tuple[str, int]]:
    keys = [(f"account:{username.strip().lower()[:180]}", limits.per_account)]
    if address:
        keys.append((f"address:{address[:180]}", limits.per_address))
    return keys


def _as_utc(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def locked(
    session: Session, username: str, address: str | None, now: dt.datetime | None = None
) -> Lock | None:
    """The lock in force on this account or address, if any."""
    now = now or utcnow()
    for key, _ in _keys(username, address):
        row = session.get(LoginThrottle, key)
        if row is not None and row.locked_until is not None and _as_utc(row.locked_until) > now:
            return Lock(_as_utc(row.locked_until), key.startswith("address:"))
    return None


def record_failure(
    session: Session,
    username: str,
    address: str | None,
    limits: Limits = Limits(),
    now: dt.datetime | None = None,
) -> Lock | None:
    """Count a failed sign-in under the account and the address; the lock it starts, if any."""
    now = now or utcnow()
    started: Lock | None = None
    for key, free in _keys(username, address, limits):
        row = session.get(LoginThrottle, key, with_for_update=True)
        if row is None:
            row = LoginThrottle(key=key, failures=0, last_failure_at=now)
            try:
                with session.begin_nested():
                    session.add(row)
            except IntegrityError:  # another instance counted the first failure at the same moment
                row = session.get(LoginThrottle, key, with_for_update=True, populate_existing=True)
                assert row is not None
        elif now - _as_utc(row.last_failure_at) > QUIET:
            row.failures = 0
        row.failures += 1
        row.last_failure_at = now
        if row.failures >= free:
            wait = min(BASE * 2 ** (row.failures - free), LONGEST)
            row.locked_until = now + wait
            if started is None or row.locked_until > started.until:
                started = Lock(row.locked_until, key.startswith("address:"))
    session.flush()
    return started


def record_success(session: Session, username: str) -> None:
    session.execute(delete(LoginThrottle).where(LoginThrottle.key == _keys(username, None)[0][0]))


__all__ = ["Limits", "Lock", "locked", "record_failure", "record_success"]
