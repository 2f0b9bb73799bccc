"""The platform's default catalog: ``default_catalog.toml`` beside this module, the data the first
catalog version is seeded from (items, their providers, and the vendors with their market datasets).

The file is data the platform owns; ``fincredit.models.catalog_spec`` defines its shape and validates it
when it is read, so a malformed edit fails at start with the place named. Code that needs the default
shapes outside a database (the demo, benchmarks, the synthetic city generator's callers) takes them from
:func:`default_catalog`; the live catalog is the versioned one in the database.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from fincredit.models.catalog_spec import CatalogSpec, load_catalog

_FILE = Path(__file__).with_name("default_catalog.toml")


def default_catalog_path() -> Path:
    """Where the default catalog file is (for tools that take a file, e.g. the synthetic city command)."""
    return _FILE


@cache
def default_catalog() -> CatalogSpec:
    """The default catalog, read and validated once per process."""
    return load_catalog(_FILE)
