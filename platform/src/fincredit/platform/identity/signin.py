"""Signing in with a password: the lockout first, then the password, then — for institution staff — the
client certificate (R§18: account plus digital certificate). The web login and the API's password login
both come here, so neither is a way around the other's checks."""

from __future__ import annotations

import datetime as dt
import math

from cryptography import x509

from fincredit.platform.core.db import Account, utcnow
from fincredit.platform.core.errors import RateLimited, Unauthenticated
from fincredit.platform.core.services import Services
from fincredit.platform.identity import lockout
from fincredit.platform.identity.certificates import certificate_holder, load_staff_ca
from fincredit.platform.identity.kinds import AccountKind
from fincredit.platform.identity.tokens import authenticate_password

FAILED = "wrong username or password (institution staff also need their digital certificate)"


class LockedOut(RateLimited):
    slug, title = "locked-out", "Too many failed sign-ins: wait before trying again"

    def __init__(self, detail: str, *, until: dt.datetime) -> None:
        super().__init__(detail, retry_after=max(1, math.ceil((until - utcnow()).total_seconds())))
        self.until = until


def sign_in(
    services: Services,
    username: str,
    password: str,
    *,
    address: str | None,
    certificate: x509.Certificate | None,
) -> Account:
    """The account, or :class:`Unauthenticated` (the same words whatever was wrong: no oracle telling a
    guessed password from a missing certificate) or :class:`LockedOut` (nothing was checked)."""
    with services.tx() as session:
        lock = lockout.locked(session, username, address)
    if lock is not None:
        raise LockedOut("too many failed sign-ins: try again later", until=lock.until)
    try:
        with services.read() as session:
            account = authenticate_password(session, username, password)
            if account.kind == AccountKind.INSTITUTION.value and services.settings.staff_certificate_required:
                if certificate is None:
                    raise Unauthenticated("institution staff sign in with their digital certificate")
                holder = certificate_holder(session, load_staff_ca(services.settings), certificate)
                if holder.account_id != account.id:
                    raise Unauthenticated("the certificate belongs to another account")
            session.expunge(account)
    except Unauthenticated:
        with services.tx() as session:
            limits = lockout.Limits(
                services.settings.login_failures_per_account, services.settings.login_failures_per_address
            )
            lock = lockout.record_failure(session, username, address, limits)
        if lock is not None:
            raise LockedOut(
                FAILED + "; too many failed sign-ins: try again later", until=lock.until
            ) from None
        raise Unauthenticated(FAILED) from None
    with services.tx() as session:
        lockout.record_success(session, username)
    return account


__all__ = ["FAILED", "LockedOut", "sign_in"]
