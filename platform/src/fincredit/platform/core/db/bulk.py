"""Bulk inserts inside the caller's transaction."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Dialect, Table, bindparam, text
from sqlalchemy.orm import Session


def _dialect(target: Session | Connection) -> Dialect:
    return target.dialect if isinstance(target, Connection) else target.get_bind().dialect


def insert_rows(session: Session | Connection, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """Insert rows with the same keys. On PostgreSQL: one ``INSERT ... SELECT FROM unnest(arrays)``, one
    array per column, because an executemany costs SQLAlchemy a parameter pass and PostgreSQL a statement
    per row — a visible share of a batched query's CPU when each batch writes dozens of ledger entries,
    tree nodes, disclosure notes and audit rows. Elsewhere: executemany. Values go to the driver as they
    are (no column type's bind processing): pass what the column stores (e.g. aware UTC datetimes)."""
    if not rows:
        return
    dialect = _dialect(session)
    if dialect.name != "postgresql" or len(rows) == 1:
        session.execute(table.insert(), list(rows))
        return
    columns = list(rows[0])
    arrays = ", ".join(f"CAST(:{c} AS {table.c[c].type.compile(dialect=dialect)}[])" for c in columns)
    statement = f"INSERT INTO {table.name} ({', '.join(columns)}) SELECT * FROM unnest({arrays})"
    session.execute(text(statement), {c: [r[c] for r in rows] for c in columns})


def update_rows(session: Session, table: Table, key: str, rows: Sequence[dict[str, Any]]) -> None:
    """Update rows by primary key ``key``, each dict the key and the new values (same keys in every
    dict). On PostgreSQL one ``UPDATE ... FROM unnest(arrays)``; elsewhere an executemany. As with
    :func:`insert_rows`, values go to the driver as they are."""
    if not rows:
        return
    dialect = _dialect(session)
    columns = [c for c in rows[0] if c != key]
    if dialect.name != "postgresql" or len(rows) == 1:
        statement = (
            table.update()
            .where(table.c[key] == bindparam(f"k_{key}"))
            .values({c: bindparam(f"v_{c}") for c in columns})
        )
        session.execute(statement, [{f"k_{key}": r[key], **{f"v_{c}": r[c] for c in columns}} for r in rows])
        return
    names = [key, *columns]
    arrays = ", ".join(f"CAST(:{c} AS {table.c[c].type.compile(dialect=dialect)}[])" for c in names)
    assignments = ", ".join(f"{c} = v.{c}" for c in columns)
    statement_text = (
        f"UPDATE {table.name} AS t SET {assignments} FROM unnest({arrays}) AS v({', '.join(names)}) "
        f"WHERE t.{key} = v.{key}"
    )
    session.execute(text(statement_text), {c: [r[c] for r in rows] for c in names})
