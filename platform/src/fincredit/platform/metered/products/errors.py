"""Domain exceptions of the metered market products (problem+json through their FincreditError base)."""

from __future__ import annotations

from fincredit.platform.core.errors import Conflict, FincreditError, Forbidden, InvalidInput


class ScoreModelUnavailable(FincreditError):
    slug, title, status = "score-model-unavailable", "No enterprise credit score model is registered", 503


class ListingInvalid(InvalidInput):
    slug, title = "data-product-listing-invalid", "The data product listing is not valid"


class LicenceRefused(Forbidden):
    slug, title = "data-product-licence-refused", "The product's licence does not allow this"


class ListingInactive(Conflict):
    slug, title = "data-product-inactive", "The data product is no longer for sale"
