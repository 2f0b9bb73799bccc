from __future__ import annotations

from enum import StrEnum


class OrgKind(StrEnum):
    BANK = "bank"
    DATA_PROVIDER = "data_provider"
    MARKET_VENDOR = "market_vendor"
    DISTRICT_TEAM = "district_team"
    SECTOR_TEAM = "sector_team"
    REGULATOR = "regulator"
    CREDIT_AUTHORITY = "credit_authority"
    PLATFORM_OPERATOR = "platform_operator"


class AccountKind(StrEnum):
    INSTITUTION = "institution"  # private_key_jwt client of an organisation
    BORROWER = "borrower"  # an enterprise's authorised person or a natural person; password login


# The role an account gets in its organisation's domain when it is created.
DEFAULT_ROLE_BY_KIND: dict[OrgKind, str] = {
    OrgKind.BANK: "bank",
    OrgKind.DATA_PROVIDER: "provider",
    OrgKind.MARKET_VENDOR: "vendor",
    OrgKind.DISTRICT_TEAM: "board_team",
    OrgKind.SECTOR_TEAM: "board_team",
    OrgKind.REGULATOR: "regulator",
    OrgKind.CREDIT_AUTHORITY: "credit_authority",
    OrgKind.PLATFORM_OPERATOR: "operator",
}
BORROWER_ROLE = "borrower"
BORROWER_DOMAIN = "borrowers"
