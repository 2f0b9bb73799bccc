"""Tables of the consent ledger: consents, ledger entries, the Merkle tree's stored subtree hashes, the
single-row ledger head and the signed checkpoints.

``ledger_entries``, ``ledger_nodes`` and ``ledger_checkpoints`` are append-only (triggers installed by the
migration). ``ledger_head`` is the one mutable ledger row: every writer locks it before taking sequence
numbers, which is what keeps them gapless under concurrent writers.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    JSON,
    BigInteger,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    SmallInteger,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from fincredit.platform.core.db import Base, UtcDateTime, utcnow


class Consent(Base):
    """One consent with its current lifecycle state. The artefact (which names the subject's full
    identifier) is kept exactly as signed, AES-GCM encrypted; the searchable terms are copied to columns."""

    __tablename__ = "consents"
    __table_args__ = (Index("ix_consents_grantee_subject", "grantee_org_id", "subject_id"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    subject_id: Mapped[int] = mapped_column(ForeignKey("subjects.id"), index=True)
    grantee_org_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"))
    requested_by_account: Mapped[str] = mapped_column(String(64))
    purpose: Mapped[str] = mapped_column(String(40))
    scopes: Mapped[list[str]] = mapped_column(JSON)
    modes: Mapped[list[str]] = mapped_column(JSON)
    valid_from: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    valid_until: Mapped[dt.datetime] = mapped_column(UtcDateTime, index=True)
    fetch_type: Mapped[str] = mapped_column(String(16))
    frequency_value: Mapped[int | None] = mapped_column(Integer)
    frequency_unit: Mapped[str | None] = mapped_column(String(8))
    data_life_value: Mapped[int] = mapped_column(Integer)
    data_life_unit: Mapped[str] = mapped_column(String(8))
    artefact_enc: Mapped[bytes] = mapped_column(LargeBinary)
    state: Mapped[str] = mapped_column(String(16), index=True)
    state_changed_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    use_count: Mapped[int] = mapped_column(Integer, default=0)
    last_used_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    period_key: Mapped[int | None] = mapped_column(Integer)
    period_uses: Mapped[int] = mapped_column(Integer, default=0)
    receipt: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)


class LedgerEntryRow(Base):
    """One ledger entry: the canonical bytes the Merkle leaf commits to, plus columns to filter on."""

    __tablename__ = "ledger_entries"

    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    entry: Mapped[bytes] = mapped_column(LargeBinary)
    leaf_hash: Mapped[bytes] = mapped_column(LargeBinary)
    type: Mapped[str] = mapped_column(String(32), index=True)
    at: Mapped[dt.datetime] = mapped_column(UtcDateTime, index=True)
    grantee_org_id: Mapped[str | None] = mapped_column(String(64), index=True)
    account_id: Mapped[str | None] = mapped_column(String(128))
    subject_index: Mapped[str | None] = mapped_column(String(64), index=True)
    purpose: Mapped[str | None] = mapped_column(String(40), index=True)
    consent_id: Mapped[str | None] = mapped_column(String(64), index=True)
    route: Mapped[str | None] = mapped_column(String(200))
    payload_sha256: Mapped[str | None] = mapped_column(String(64))


class LedgerNode(Base):
    """A perfect-subtree hash of the ledger's Merkle tree: node (level, idx) covers leaves
    [idx * 2**level, (idx + 1) * 2**level). Written once, never changed."""

    __tablename__ = "ledger_nodes"

    level: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    idx: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    hash: Mapped[bytes] = mapped_column(LargeBinary)


class LedgerHead(Base):
    """The single row (id 1) holding the ledger size: the lock writers take before appending."""

    __tablename__ = "ledger_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    size: Mapped[int] = mapped_column(BigInteger)
    checkpoint_size: Mapped[int | None] = mapped_column(BigInteger)
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)


class LedgerCheckpoint(Base):
    """A signed tree head (C2SP tlog-checkpoint in a signed note), one per size, each consistent with
    the one before."""

    __tablename__ = "ledger_checkpoints"

    size: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    root_hash: Mapped[bytes] = mapped_column(LargeBinary)
    note: Mapped[str] = mapped_column(Text)
    at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)


class LedgerWitness(Base):
    """A witness the platform submits its checkpoints to (from the settings), with what it last did: the
    size it last co-signed, and the last failure while it has not co-signed since."""

    __tablename__ = "ledger_witnesses"

    vkey: Mapped[str] = mapped_column(String(200), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    url: Mapped[str] = mapped_column(String(500))
    size: Mapped[int | None] = mapped_column(BigInteger)
    cosigned_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    attempted_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    error: Mapped[str | None] = mapped_column(Text)


class LedgerCosignature(Base):
    """One witness's cosignature line on the checkpoint of one size: the checkpoint's note followed by its
    lines is the co-signed checkpoint the platform publishes."""

    __tablename__ = "ledger_cosignatures"

    size: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    witness: Mapped[str] = mapped_column(String(200), primary_key=True)
    line: Mapped[str] = mapped_column(Text)
    at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)


class LedgerSelfCheck(Base):
    """One run of the self-check: the ledger replayed up to ``size`` entries (incrementally), its
    authorisation violations, and the differences between the consents table and the state the log implies."""

    __tablename__ = "ledger_self_checks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow, index=True)
    size: Mapped[int] = mapped_column(BigInteger)
    replayed: Mapped[int] = mapped_column(BigInteger)
    consents: Mapped[int] = mapped_column(BigInteger)
    accesses: Mapped[int] = mapped_column(BigInteger)
    violations: Mapped[int] = mapped_column(BigInteger)
    differences: Mapped[int] = mapped_column(BigInteger)
    seconds: Mapped[float] = mapped_column(Float)
    findings: Mapped[str] = mapped_column(Text)
