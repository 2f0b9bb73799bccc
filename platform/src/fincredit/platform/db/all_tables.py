"""Imports every table module, so that Alembic and ``Base.metadata`` see the whole schema.
A capability that adds ``db/<name>.py`` adds one import line here."""

from . import catalog, consent, free, market, metering, objections, records, sharing, tables  # noqa: F401
