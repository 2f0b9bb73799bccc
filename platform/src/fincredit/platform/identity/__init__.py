"""Organisations, real-name accounts, their keys, passwords and access tokens (R§18-19)."""

from fincredit.platform.identity.kinds import BORROWER_ROLE, DEFAULT_ROLE_BY_KIND, AccountKind, OrgKind
from fincredit.platform.identity.principal import Principal

__all__ = ["BORROWER_ROLE", "DEFAULT_ROLE_BY_KIND", "AccountKind", "OrgKind", "Principal"]
