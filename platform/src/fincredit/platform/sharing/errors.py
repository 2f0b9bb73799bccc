"""Domain exceptions of government sharing."""

from __future__ import annotations

from fincredit.platform.core.errors import Conflict, Forbidden


class SharingRefused(Forbidden):
    """Outside the agreement: no active agreement, another purpose, mode or item (R§14)."""

    slug, title = "sharing-refused", "Not covered by an active sharing agreement"


class ExportGone(Conflict):
    """A batch export is downloadable once."""

    slug, title, status = "export-gone", "The export was downloaded already", 410
