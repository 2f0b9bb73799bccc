"""Domain exceptions of the free services (mapped to problem+json in ``api/problems.py`` through
their :class:`FincreditError` base)."""

from __future__ import annotations

from fincredit.platform.core.errors import Conflict, InvalidInput, NotFound


class UnknownItem(InvalidInput):
    slug, title = "unknown-catalog-item", "The catalog has no such item or field"


class WebhookUrlInvalid(InvalidInput):
    slug, title = "webhook-url-invalid", "The webhook URL is not an http(s) URL"


class RuleInvalid(InvalidInput):
    slug, title = "eligibility-rule-invalid", "The eligibility rule is not valid"


class ReportNotFound(NotFound):
    slug, title = "report-not-found", "No credit report has that id or digest"


class SubscriptionEnded(Conflict):
    slug, title = "subscription-ended", "The push subscription has ended"
