"""The public credit information catalog (R§6, G§7): versioned items with their field schemas,
disclosure and sharing attributes, validity periods and the financing-credit sharing list. The first
version is seeded from the default catalog, the data file ``default_catalog.toml``."""

from fincredit.platform.catalog._default import default_catalog, default_catalog_path
from fincredit.platform.catalog._items import CatalogItemDef, add_years
from fincredit.platform.catalog._store import (
    REGISTRATION_ITEMS,
    change_catalog,
    current_version,
    ensure_catalog,
    get_item,
    get_version,
    items_of,
    list_versions,
    seed_default_catalog,
    set_sharing_list,
    version_by_id,
)

__all__ = [
    "REGISTRATION_ITEMS",
    "CatalogItemDef",
    "add_years",
    "change_catalog",
    "current_version",
    "default_catalog",
    "default_catalog_path",
    "ensure_catalog",
    "get_item",
    "get_version",
    "items_of",
    "list_versions",
    "seed_default_catalog",
    "set_sharing_list",
    "version_by_id",
]
