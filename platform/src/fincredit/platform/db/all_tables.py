"""Imports every table module, so that Alembic and ``Base.metadata`` see the whole schema.
A capability that adds ``db/<name>.py`` adds one import line here."""

from . import catalog, consent, market, metering, objections, records, tables  # noqa: F401
