"""Imports every table module, so that Alembic and ``Base.metadata`` see the whole schema.
A capability that adds ``db/<name>.py`` adds one import line here."""

from . import (  # noqa: F401
    boards,
    catalog,
    consent,
    federation,
    free,
    market,
    metering,
    national,
    objections,
    products,
    publication,
    records,
    sharing,
    supervision,
    tables,
)
