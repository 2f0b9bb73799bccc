"""Programmatic Alembic: ``fincredit db upgrade`` and the test fixtures call these.

The revision tree may have several heads (each capability may branch off the foundation; a merge
revision joins them), so upgrading means "all heads"."""

from __future__ import annotations

from alembic import command
from alembic.config import Config

# Tables the platform creates but does not model: procrastinate's job queue (``core.tasks``).
FOREIGN_TABLE_PREFIXES = ("procrastinate_",)


def include_name(name: str | None, type_: str, parent_names: object) -> bool:
    """Autogenerate's filter: leaves the tables the platform does not model alone."""
    return not (type_ == "table" and name is not None and name.startswith(FOREIGN_TABLE_PREFIXES))


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", "fincredit.platform.core:migrations")
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(url: str, revision: str = "heads") -> None:
    command.upgrade(alembic_config(url), revision)


def downgrade(url: str, revision: str) -> None:
    command.downgrade(alembic_config(url), revision)


def current(url: str) -> tuple[str, ...]:
    """The revisions the database is at (one per branch head)."""
    from alembic.runtime.migration import MigrationContext
    from sqlalchemy import create_engine

    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return tuple(sorted(MigrationContext.configure(conn).get_current_heads()))
    finally:
        engine.dispose()


def heads(url: str) -> tuple[str, ...]:
    """The head revisions of the migration scripts."""
    from alembic.script import ScriptDirectory

    return tuple(sorted(ScriptDirectory.from_config(alembic_config(url)).get_heads()))
