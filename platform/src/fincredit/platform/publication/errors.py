"""Domain exceptions of publication (R§17)."""

from __future__ import annotations

from fincredit.platform.core.errors import Conflict, Forbidden, InvalidInput


class PrivacyRefused(InvalidInput):
    """The content carries fields marked secret or private (sensitive catalog items or fields) or a
    resident identity number; ``fields`` names them."""

    slug, title = "publication-privacy-refused", "The publication carries secret or private fields"


class SelfApproval(Forbidden):
    slug, title = "publication-self-approval", "The drafter cannot approve their own publication"


class PublicationState(Conflict):
    slug, title = "publication-state", "The publication is not at a step that allows this"
