"""Storage: SQLAlchemy 2 models and engines. Schema changes go through Alembic (``migrations/``)."""

from fincredit.platform.core.db._base import Base, UtcDateTime, utcnow
from fincredit.platform.core.db.bulk import insert_rows, update_rows
from fincredit.platform.core.db.engine import make_engine, make_sessionmaker, transaction
from fincredit.platform.core.db.tables import (
    Account,
    AccountKey,
    AuditEvent,
    CasbinRule,
    LegalPerson,
    NaturalPerson,
    Organisation,
    Subject,
    UsedAssertion,
)

__all__ = [
    "Account",
    "AccountKey",
    "AuditEvent",
    "Base",
    "CasbinRule",
    "LegalPerson",
    "NaturalPerson",
    "Organisation",
    "Subject",
    "UsedAssertion",
    "UtcDateTime",
    "insert_rows",
    "make_engine",
    "make_sessionmaker",
    "transaction",
    "update_rows",
    "utcnow",
]
