"""Tables every capability refers to: organisations, accounts and their keys, subjects, the audit trail,
casbin rules. Each capability keeps its own tables in its ``tables`` module on the same ``Base``."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from fincredit.platform.core.db._base import Base, UtcDateTime, utcnow

# SQLite only auto-increments INTEGER PRIMARY KEY; PostgreSQL gets a real bigint.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class Organisation(Base):
    __tablename__ = "organisations"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32), index=True)
    name: Mapped[str] = mapped_column(String(200))
    uscc: Mapped[str | None] = mapped_column(String(18), unique=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)


class Account(Base):
    """A real-name account (R§18-19). Institution accounts authenticate with a registered key
    (private_key_jwt); borrower accounts with a password and are tied to the subject they act for."""

    __tablename__ = "accounts"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    org_id: Mapped[str | None] = mapped_column(ForeignKey("organisations.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # institution | borrower
    username: Mapped[str] = mapped_column(String(100), unique=True)
    real_name: Mapped[str] = mapped_column(String(100))
    stated_use: Mapped[str] = mapped_column(String(500))
    password_hash: Mapped[str | None] = mapped_column(String(200))
    subject_id: Mapped[int | None] = mapped_column(ForeignKey("subjects.id"), index=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)


class AccountKey(Base):
    """A public key registered for an account: its "digital certificate" (R§18)."""

    __tablename__ = "account_keys"

    kid: Mapped[str] = mapped_column(String(64), primary_key=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"), index=True)
    public_key_pem: Mapped[str] = mapped_column(Text)
    algorithm: Mapped[str] = mapped_column(String(16))
    fingerprint: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    revoked_reason: Mapped[str | None] = mapped_column(String(200))


class UsedAssertion(Base):
    """jti of client assertions already exchanged, kept until they expire (RFC 7523 §3 replay rule)."""

    __tablename__ = "used_assertions"

    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"), primary_key=True)
    jti: Mapped[str] = mapped_column(String(200), primary_key=True)
    expires_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, index=True)


class Subject(Base):
    """A credit subject. The identifier is stored encrypted (AES-GCM) and found by its blind index."""

    __tablename__ = "subjects"
    __table_args__ = (UniqueConstraint("code_bidx"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(8), index=True)  # legal | natural
    code_enc: Mapped[bytes] = mapped_column(LargeBinary)
    code_bidx: Mapped[str] = mapped_column(String(64))
    code_masked: Mapped[str] = mapped_column(String(18))
    region: Mapped[str] = mapped_column(String(6), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)


class LegalPerson(Base):
    """The legal-person database (R§3): enterprises and other organisations, by USCC."""

    __tablename__ = "legal_persons"

    subject_id: Mapped[int] = mapped_column(ForeignKey("subjects.id"), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), index=True)
    industry: Mapped[str | None] = mapped_column(String(8))
    established_on: Mapped[dt.date | None]
    registered_capital: Mapped[float | None]
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)


class NaturalPerson(Base):
    """The natural-person database (R§3), by resident ID. The name is personal data: encrypted."""

    __tablename__ = "natural_persons"

    subject_id: Mapped[int] = mapped_column(ForeignKey("subjects.id"), primary_key=True)
    name_enc: Mapped[bytes] = mapped_column(LargeBinary)
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)


class AuditEvent(Base):
    """One API operation (R§20). Append-only: the migration installs triggers refusing UPDATE/DELETE."""

    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_events_org_at", "org_id", "at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow, index=True)
    request_id: Mapped[str] = mapped_column(String(64))
    account_id: Mapped[str | None] = mapped_column(String(64), index=True)
    org_id: Mapped[str | None] = mapped_column(String(64))
    method: Mapped[str] = mapped_column(String(8))
    route: Mapped[str] = mapped_column(String(200), index=True)
    path: Mapped[str] = mapped_column(String(500))
    subject_ref: Mapped[str | None] = mapped_column(String(64), index=True)
    status: Mapped[int] = mapped_column(Integer)
    outcome: Mapped[str] = mapped_column(String(16))  # ok | refused | error
    client: Mapped[str | None] = mapped_column(String(64))
    duration_ms: Mapped[float]


class CasbinRule(Base):
    """casbin policy storage (the casbin-sqlalchemy-adapter reads and writes this table)."""

    __tablename__ = "casbin_rule"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    ptype: Mapped[str] = mapped_column(String(255))
    v0: Mapped[str | None] = mapped_column(String(255))
    v1: Mapped[str | None] = mapped_column(String(255))
    v2: Mapped[str | None] = mapped_column(String(255))
    v3: Mapped[str | None] = mapped_column(String(255))
    v4: Mapped[str | None] = mapped_column(String(255))
    v5: Mapped[str | None] = mapped_column(String(255))

    def __str__(self) -> str:
        values = [v for v in (self.v0, self.v1, self.v2, self.v3, self.v4, self.v5) if v is not None]
        return ", ".join([self.ptype, *values])


class ChangeEpoch(Base):
    """A counter per kind of cached state (``policy``: casbin rules and roles). Every change bumps it in
    its own transaction, so every process of every instance sees that its cache is stale."""

    __tablename__ = "change_epochs"

    topic: Mapped[str] = mapped_column(String(32), primary_key=True)
    epoch: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
