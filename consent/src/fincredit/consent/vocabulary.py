"""The fixed vocabularies a consent is written in: purposes, access modes, fetch types, sensitive scopes.

Purposes (Credit Reporting Industry Regulations art. 18: a query needs consent *with an agreed purpose*)
=========================================================================================================

============================  ===============================================================================
``loan_application_assessment``  A bank assesses the subject's loan application (one decision, pre-loan).
``post_loan_monitoring``         A lender watches a borrower it already lent to (changes pushed while the
                                 loan is outstanding).
``joint_modelling``              The subject's records join a privacy-preserving joint-model training run
                                 between the platform and the grantee (PSI alignment + vertical training).
``encrypted_scoring``            The grantee scores the subject with a model over CKKS-encrypted features.
``financing_matchmaking``        The platform matches the subject with financing products on a board and
                                 tells the named institution about the match.
``credit_report``                The grantee obtains a (printable) credit report on the subject (R§9).
``government_sharing``           A government department receives the data under a sharing agreement with
                                 an agreed purpose (R§12-15).
``guarantee_assessment``         A guarantee or insurance institution assesses a guarantee for the subject.
============================  ===============================================================================

Access modes say *how* the data flows: ``query`` (one-off answer), ``report`` (a credit report document),
``push_subscription`` (changes pushed to the grantee), ``model_training`` (rows used to train a model,
never shown), ``scoring`` (features used to compute a score, never shown).

Sensitive scopes (PIPL art. 28-29)
==================================
Sensitive personal information needs a *separate* consent: a consent that names a sensitive scope may name
only sensitive scopes. Only natural persons have sensitive personal information (PIPL protects natural
persons); for a legal person the same category is ordinary public credit information. The set:

``person.health``             medical and health records (PIPL art. 28 "medical and health").
``person.financial_account``  bank and payment accounts, balances and flows (art. 28 "financial accounts").
``person.biometric``          face, fingerprint and other biometrics used to authenticate.
``person.location``           whereabouts / location tracks.
``person.minor``              anything about a person under 14 (art. 28 last sentence).
``court.dishonest_debtor``    the dishonest judgment-debtor list entry of a *natural person*: it restricts the
                              person's consumption and travel, and disclosing it is liable to harm personal
                              dignity (the art. 28 test), so it is not bundled with routine data.
``tax.individual_income``     individual income tax records (income is financial information of a person).
``social_security.contributions``  social insurance contribution records (employment and income history).

A scope is sensitive when it equals one of these or lies below one (``person.health.diagnosis``).
"""

from __future__ import annotations

from enum import StrEnum

from fincredit.consent.identifiers import SubjectKind

__all__ = [
    "PURPOSE_MODES",
    "SENSITIVE_SCOPES",
    "AccessMode",
    "DataLifeUnit",
    "FetchType",
    "PeriodUnit",
    "Purpose",
    "is_sensitive",
    "scope_covers",
]


class Purpose(StrEnum):
    """Why the grantee wants the data; the table in the module docstring says what each one means."""

    LOAN_APPLICATION_ASSESSMENT = "loan_application_assessment"
    POST_LOAN_MONITORING = "post_loan_monitoring"
    JOINT_MODELLING = "joint_modelling"
    ENCRYPTED_SCORING = "encrypted_scoring"
    FINANCING_MATCHMAKING = "financing_matchmaking"
    CREDIT_REPORT = "credit_report"
    GOVERNMENT_SHARING = "government_sharing"
    GUARANTEE_ASSESSMENT = "guarantee_assessment"


class AccessMode(StrEnum):
    QUERY = "query"
    REPORT = "report"
    PUSH_SUBSCRIPTION = "push_subscription"
    MODEL_TRAINING = "model_training"
    SCORING = "scoring"


class FetchType(StrEnum):
    """ReBIT AA: ONETIME is used up by its first use; PERIODIC allows ``frequency`` uses per period."""

    ONETIME = "ONETIME"
    PERIODIC = "PERIODIC"


class PeriodUnit(StrEnum):
    """Frequency periods; windows are calendar-aligned in UTC (ISO weeks start on Monday)."""

    HOUR = "HOUR"
    DAY = "DAY"
    WEEK = "WEEK"
    MONTH = "MONTH"
    YEAR = "YEAR"


class DataLifeUnit(StrEnum):
    DAY = "DAY"
    MONTH = "MONTH"
    YEAR = "YEAR"
    INF = "INF"


# The modes that make sense for each purpose: a consent naming any other mode is refused at creation,
# so a borrower cannot be asked for "credit report" consent that quietly includes model training.
PURPOSE_MODES: dict[Purpose, frozenset[AccessMode]] = {
    Purpose.LOAN_APPLICATION_ASSESSMENT: frozenset({AccessMode.QUERY, AccessMode.REPORT, AccessMode.SCORING}),
    Purpose.POST_LOAN_MONITORING: frozenset({AccessMode.QUERY, AccessMode.PUSH_SUBSCRIPTION}),
    Purpose.JOINT_MODELLING: frozenset({AccessMode.MODEL_TRAINING}),
    Purpose.ENCRYPTED_SCORING: frozenset({AccessMode.SCORING}),
    Purpose.FINANCING_MATCHMAKING: frozenset({AccessMode.QUERY, AccessMode.PUSH_SUBSCRIPTION}),
    Purpose.CREDIT_REPORT: frozenset({AccessMode.REPORT}),
    Purpose.GOVERNMENT_SHARING: frozenset({AccessMode.QUERY, AccessMode.REPORT}),
    Purpose.GUARANTEE_ASSESSMENT: frozenset({AccessMode.QUERY, AccessMode.REPORT, AccessMode.SCORING}),
}

SENSITIVE_SCOPES: frozenset[str] = frozenset(
    {
        "person.health",
        "person.financial_account",
        "person.biometric",
        "person.location",
        "person.minor",
        "court.dishonest_debtor",
        "tax.individual_income",
        "social_security.contributions",
    }
)

MARKET_PREFIX = "market:"


def _ancestors(scope: str) -> list[str]:
    parts = scope.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts) + 1)]


def is_sensitive(scope: str, kind: SubjectKind | str) -> bool:
    """True when ``scope`` is sensitive personal information for a subject of ``kind``."""
    if SubjectKind(kind) is not SubjectKind.NATURAL or scope.startswith(MARKET_PREFIX):
        return False
    return any(a in SENSITIVE_SCOPES for a in _ancestors(scope))


def scope_covers(granted: str, requested: str, kind: SubjectKind | str) -> bool:
    """Does a consent naming ``granted`` cover a request for ``requested``?

    Catalog categories are dotted paths and a category covers its sub-categories (``court`` covers
    ``court.judgment``), except that a broad grant never reaches down into a sensitive sub-category: the
    sensitive category must be granted by name (or below it). Market datasets (``market:<id>``) match exactly.
    """
    if granted == requested:
        return True
    if granted.startswith(MARKET_PREFIX) or requested.startswith(MARKET_PREFIX):
        return False
    if not requested.startswith(granted + "."):
        return False
    return not (is_sensitive(requested, kind) and not is_sensitive(granted, kind))
