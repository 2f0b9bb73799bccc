"""Bulk inserts inside the caller's transaction."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Table, text
from sqlalchemy.orm import Session


def insert_rows(session: Session, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """Insert rows with the same keys. On PostgreSQL: one ``INSERT ... SELECT FROM unnest(arrays)``, one
    array per column, because an executemany costs SQLAlchemy a parameter pass and PostgreSQL a statement
    per row — a visible share of a batched query's CPU when each batch writes dozens of ledger entries,
    tree nodes and disclosure notes. Elsewhere: executemany. Values go to the driver as they are (no
    column type's bind processing): pass what the column stores (e.g. aware UTC datetimes)."""
    if not rows:
        return
    dialect = session.get_bind().dialect
    if dialect.name != "postgresql" or len(rows) == 1:
        session.execute(table.insert(), list(rows))
        return
    columns = list(rows[0])
    arrays = ", ".join(f"CAST(:{c} AS {table.c[c].type.compile(dialect=dialect)}[])" for c in columns)
    statement = f"INSERT INTO {table.name} ({', '.join(columns)}) SELECT * FROM unnest({arrays})"
    session.execute(text(statement), {c: [r[c] for r in rows] for c in columns})
