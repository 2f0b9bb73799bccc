from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: resolved from a verified access token on every request."""

    account_id: str
    account_kind: str
    org_id: str | None
    org_kind: str | None
    domain: str  # casbin domain: the organisation id, or "borrowers"
    subject_id: int | None = None  # for borrower accounts: the subject they act for
    token_id: str = ""
    roles: tuple[str, ...] = field(default=())

    @property
    def is_credit_authority(self) -> bool:
        return self.org_kind == "credit_authority"

    @property
    def is_operator(self) -> bool:
        return self.org_kind == "platform_operator"
