"""Tables of staff sign-in: the client certificates the platform's staff CA issued (R§18: account plus
digital certificate), and the failed sign-ins counted per account and per address for the lockout."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from fincredit.platform.core.db import Base, UtcDateTime, utcnow


class StaffCertificate(Base):
    """A client certificate issued to one institution account. The TLS layer (uvicorn or nginx) checks
    that the staff CA signed it; the sign-in checks it is this account's, in its validity and not
    revoked here."""

    __tablename__ = "staff_certificates"

    serial: Mapped[str] = mapped_column(String(40), primary_key=True)  # hex of the X.509 serial number
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"), index=True)
    fingerprint: Mapped[str] = mapped_column(String(64), unique=True)  # SHA-256 of the DER certificate
    subject: Mapped[str] = mapped_column(String(300))
    not_before: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    not_after: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    issued_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    revoked_reason: Mapped[str | None] = mapped_column(String(200))


class LoginThrottle(Base):
    """Failed sign-ins under one key (``account:<username>`` or ``address:<ip>``) since the last success
    or quiet period, and until when further attempts are refused unheard."""

    __tablename__ = "login_throttles"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    last_failure_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    locked_until: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
