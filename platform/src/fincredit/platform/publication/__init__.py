"""Publication of blacklists, typical cases and joint reward/punishment results (R§17): drafted by a
department, approved by another account, privacy-checked, due monthly with a lateness report."""

from fincredit.platform.publication._publish import (
    KINDS,
    draft,
    late_report,
    privacy_violations,
    public_view,
    published,
    review,
    submit,
)
from fincredit.platform.publication.errors import PrivacyRefused, PublicationState, SelfApproval

__all__ = [
    "KINDS",
    "PrivacyRefused",
    "PublicationState",
    "SelfApproval",
    "draft",
    "late_report",
    "privacy_violations",
    "public_view",
    "published",
    "review",
    "submit",
]
